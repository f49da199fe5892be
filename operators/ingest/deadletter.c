/*
 * deadletter.c — the reject path: reason names, per-decoder counting and
 * the dead-letter sink.
 *
 * A rejected unit is never dropped silently: op_decoder_reject() counts it
 * in the decoder's stats (per worker, plain counters) and writes one JSON
 * line to the sink with the source name, the unit's byte offset and line
 * number, where inside the unit the problem was found, the reason, and a
 * bounded excerpt. The excerpt escapes every byte outside printable ASCII
 * as \u00XX (its byte value), so the dead-letter file is valid JSON lines
 * whatever garbage came in, and a reader can still recover the raw bytes.
 *
 * Sharing: one sink may serve every worker. A mutex protects the FILE and
 * the counters; rejects are rare, so the lock costs nothing on the hot path,
 * and each dead letter is formatted on the stack first so the critical
 * section is one fwrite.
 */
#include "operators/ingest/decode_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static const char *const reject_names[OP_REJECT__COUNT] = {
	[OP_REJECT_NONE] = "none",
	[OP_REJECT_SYNTAX] = "syntax",
	[OP_REJECT_TOO_LONG] = "too_long",
	[OP_REJECT_MISSING_TRACE_ID] = "missing_trace_id",
	[OP_REJECT_MISSING_EVENT_ID] = "missing_event_id",
	[OP_REJECT_BAD_ID] = "bad_id",
	[OP_REJECT_SELF_PARENT] = "self_parent",
	[OP_REJECT_DUPLICATE_KEY] = "duplicate_key",
	[OP_REJECT_BAD_UTF8] = "bad_utf8",
	[OP_REJECT_TRUNCATED] = "truncated",
	[OP_REJECT_BAD_VERSION] = "bad_version",
	[OP_REJECT_FIELD_TOO_LONG] = "field_too_long",
	[OP_REJECT_TOO_MANY_PARENTS] = "too_many_parents",
	[OP_REJECT_TOO_MANY_KV] = "too_many_kv",
	[OP_REJECT_RECORD_TOO_LARGE] = "record_too_large",
	[OP_REJECT_BAD_TYPE] = "bad_type",
	[OP_REJECT_BAD_NUMBER] = "bad_number",
	[OP_REJECT_TOO_DEEP] = "too_deep",
	[OP_REJECT_UNKNOWN_FORMAT] = "unknown_format",
	[OP_REJECT_BAD_WIRE_TYPE] = "bad_wire_type",
	[OP_REJECT_BAD_ID_LENGTH] = "bad_id_length",
	[OP_REJECT_MISSING_SPAN_ID] = "missing_span_id",
};

const char *
op_reject_name(enum op_reject r)
{
	if ((unsigned)r >= OP_REJECT__COUNT || !reject_names[r])
		return "unknown";
	return reject_names[r];
}

struct op_deadletter {
	pthread_mutex_t lock; /* protects f and count[] */
	FILE *f;              /* NULL: count only */
	int owns_file;
	int (*writer)(void *arg, const char *line, size_t len);
	void *writer_arg;
	/* names where a unit with pos.src != 0 came from (set before any
	 * write, then read-only: called outside the lock) */
	int (*namer)(void *arg, uint32_t src, char *buf, size_t cap);
	void *namer_arg;
	uint64_t count[OP_REJECT__COUNT]; /* [0] = total */
};

static int
dl_alloc(FILE *f, int owns, struct op_deadletter **out)
{
	struct op_deadletter *dl = calloc(1, sizeof *dl);
	if (!dl)
		return WEFT_ENOMEM;
	pthread_mutex_init(&dl->lock, NULL);
	dl->f = f;
	dl->owns_file = owns;
	*out = dl;
	return 0;
}

int
op_deadletter_open(const char *path, struct op_deadletter **out)
{
	*out = NULL;
	FILE *f = fopen(path, "a");
	if (!f)
		return WEFT_EIO;
	int rc = dl_alloc(f, 1, out);
	if (rc)
		fclose(f);
	return rc;
}

int
op_deadletter_new(FILE *f, struct op_deadletter **out)
{
	*out = NULL;
	return dl_alloc(f, 0, out);
}

void
op_deadletter_free(struct op_deadletter *dl)
{
	if (!dl)
		return;
	if (dl->f) {
		if (dl->owns_file)
			fclose(dl->f);
		else
			fflush(dl->f);
	}
	pthread_mutex_destroy(&dl->lock);
	free(dl);
}

/* Appends s to buf[*o..cap) JSON-escaped; stops (returning -1) when full. */
static int
put_escaped(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[6];
		size_t k = 0;
		if (c == '"' || c == '\\') {
			e[k++] = '\\';
			e[k++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			e[k++] = (char)c;
		} else {
			e[0] = '\\'; e[1] = 'u'; e[2] = '0'; e[3] = '0';
			e[4] = hex[c >> 4]; e[5] = hex[c & 15];
			k = 6;
		}
		if (*o + k >= cap)
			return -1;
		memcpy(buf + *o, e, k);
		*o += k;
	}
	return 0;
}

int
op_deadletter_write(struct op_deadletter *dl, const struct op_bad_input *b)
{
	unsigned r = (unsigned)b->reason < OP_REJECT__COUNT ? (unsigned)b->reason : 0;
	/* Worst case 6 bytes per quoted byte; a long excerpt goes to the heap. */
	size_t quote = b->avail < b->max_excerpt ? b->avail : b->max_excerpt;
	const char *src = b->source ? b->source : "";
	size_t srclen = strnlen(src, 256);
	char where[400] = "";
	if (b->pos.src && dl->namer &&
	    dl->namer(dl->namer_arg, b->pos.src, where, sizeof where) < 0)
		where[0] = 0;
	size_t cap = 256 + sizeof where + 6 * (quote + srclen);
	char stackbuf[2048];
	char *buf = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
	int rc = 0;
	size_t o = 0;
	if (buf) {
		o = (size_t)snprintf(buf, cap, "{\"type\":\"dead_letter\",\"schema_version\":1,"
		                     "\"source\":\"");
		put_escaped(buf, cap, &o, src, srclen);
		o += (size_t)snprintf(buf + o, cap - o, "\"%s%s", where[0] ? "," : "",
		                      where);
		o += (size_t)snprintf(buf + o, cap - o,
		                      ",\"offset\":%llu,\"line\":%llu,\"at\":%u,"
		                      "\"reason\":\"%s\",\"len\":%llu,\"excerpt\":\"",
		                      (unsigned long long)b->pos.offset,
		                      (unsigned long long)b->pos.line, b->at,
		                      op_reject_name(b->reason),
		                      (unsigned long long)b->len);
		put_escaped(buf, cap, &o, b->data ? b->data : "", quote);
		o += (size_t)snprintf(buf + o, cap - o, "\"}\n");
	} else {
		rc = WEFT_ENOMEM;
	}
	pthread_mutex_lock(&dl->lock);
	dl->count[0]++;
	if (r)
		dl->count[r]++;
	if (buf && dl->writer)
		rc = dl->writer(dl->writer_arg, buf, o);
	else if (buf && dl->f && fwrite(buf, 1, o, dl->f) != o)
		rc = WEFT_EIO;
	pthread_mutex_unlock(&dl->lock);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

uint64_t
op_deadletter_count(struct op_deadletter *dl, enum op_reject r)
{
	if ((unsigned)r >= OP_REJECT__COUNT)
		return 0;
	pthread_mutex_lock(&dl->lock);
	uint64_t v = dl->count[r];
	pthread_mutex_unlock(&dl->lock);
	return v;
}

void
op_deadletter_set_namer(struct op_deadletter *dl,
                        int (*fn)(void *arg, uint32_t src, char *buf, size_t cap),
                        void *arg)
{
	pthread_mutex_lock(&dl->lock);
	dl->namer = fn;
	dl->namer_arg = arg;
	pthread_mutex_unlock(&dl->lock);
}

void
op_deadletter_set_writer(struct op_deadletter *dl,
                         int (*fn)(void *arg, const char *line, size_t len),
                         void *arg)
{
	pthread_mutex_lock(&dl->lock);
	dl->writer = fn;
	dl->writer_arg = arg;
	pthread_mutex_unlock(&dl->lock);
}

int
op_deadletter_flush(struct op_deadletter *dl)
{
	int rc = 0;
	pthread_mutex_lock(&dl->lock);
	if (dl->f && fflush(dl->f) != 0)
		rc = WEFT_EIO;
	pthread_mutex_unlock(&dl->lock);
	return rc;
}

static int
is_limit(enum op_reject r)
{
	return r == OP_REJECT_TOO_LONG || r == OP_REJECT_FIELD_TOO_LONG ||
	       r == OP_REJECT_TOO_MANY_PARENTS || r == OP_REJECT_TOO_MANY_KV ||
	       r == OP_REJECT_RECORD_TOO_LARGE || r == OP_REJECT_TOO_DEEP;
}

int
op_decoder_reject(struct op_decoder *d, enum op_reject r, const char *unit,
                  size_t len, size_t avail, const struct op_pos *pos,
                  uint32_t at)
{
	if ((unsigned)r >= OP_REJECT__COUNT || r == OP_REJECT_NONE)
		r = OP_REJECT_SYNTAX; /* never lose a reject to a bad reason */
	d->st.rejected++;
	d->st.by_reason[r]++;
	d->last = r;
	d->err_at = at;
	if (d->dl) {
		struct op_bad_input b = {
			.source = d->source,
			.pos = *pos,
			.at = at,
			.reason = r,
			.data = unit,
			.len = len,
			.avail = avail,
			.max_excerpt = d->cfg.max_excerpt_bytes,
		};
		op_deadletter_write(d->dl, &b);
	}
	return is_limit(r) ? WEFT_ELIMIT : WEFT_EFORMAT;
}

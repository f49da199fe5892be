/*
 * fuzz_util.h — what the decoder fuzz targets share: a decoder with small
 * limits (so that every limit path is reachable) writing to a dead-letter
 * counter, and the check every produced record must pass.
 */
#ifndef WEFT_FUZZ_UTIL_H
#define WEFT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operators/ingest/decode.h"

static int
fuzz_check(void *arg, const struct op_event *ev, uint32_t len)
{
	(void)arg;
	if (op_event_validate(ev, len) != 0)
		abort();
	return 0;
}

/* A decoder of fmt and its dead-letter counter: 0, or nonzero (nothing
 * to free, *dl NULL) when out of memory. keep_kv as the decoder's option. */
static inline int
fuzz_decoder_new_kv(enum op_format fmt, uint32_t keep_kv,
                    struct op_deadletter **dl, struct op_decoder **d)
{
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	cfg.keep_kv = keep_kv;
	cfg.max_line_bytes = 4096;
	cfg.max_report_bytes = 4096;
	cfg.max_message_bytes = 8192;
	cfg.max_field_bytes = 200;
	cfg.max_record_bytes = 1024;
	cfg.max_parents = 8;
	cfg.max_kv = 8;
	cfg.max_json_depth = 8;
	cfg.max_excerpt_bytes = 32;
	if (op_deadletter_new(NULL, dl))
		return 1;
	if (op_decoder_new(fmt, &cfg, "fuzz", *dl, d)) {
		op_deadletter_free(*dl);
		*dl = NULL;
		return 1;
	}
	return 0;
}

static inline int
fuzz_decoder_new(enum op_format fmt, struct op_deadletter **dl, struct op_decoder **d)
{
	return fuzz_decoder_new_kv(fmt, 1, dl, d);
}

/* ---- a record without its pairs, against one with them ---------------- */

/* The last dead letter a sink wrote (it names the reason and the offset). */
struct fuzz_letter {
	char line[512];
	size_t n;
};

static int
fuzz_letter_keep(void *arg, const char *line, size_t len)
{
	struct fuzz_letter *l = arg;
	l->n = len < sizeof l->line ? len : sizeof l->line;
	memcpy(l->line, line, l->n);
	return 0;
}

/* 1 when a and b hold the same event but for the key/value pairs. */
static inline int
fuzz_same_but_pairs(const struct op_event *a, const struct op_event *b)
{
	if (memcmp(a, b, offsetof(struct op_event, size)) != 0 ||
	    a->n_parents != b->n_parents || a->flags != b->flags ||
	    a->src != b->src ||
	    memcmp(op_event_parents(a), op_event_parents(b),
	           8u * a->n_parents) != 0)
		return 0;
	for (int f = 0; f < OP_EV_NFIELDS; f++)
		if (a->str[f].len != b->str[f].len ||
		    memcmp(op_event_strref(a, a->str[f]), op_event_strref(b, b->str[f]),
		           a->str[f].len) != 0)
			return 0;
	return 1;
}

/*
 * Decodes each line of data[0..n) as X-Trace JSON twice: keeping the
 * key/value pairs and leaving them out (keep_kv 0, as replay and serve do,
 * which reads them in place: decode_json.c, jpair_unkept). Returns 0 when
 * every line came out the same — the same event but for its pairs, or the
 * same reject at the same place — 1 when one differs, -1 when out of
 * memory. A line the kept decoder finds too large is not compared: left
 * out, the pairs take no room.
 */
static inline int
fuzz_unkept_agrees(const unsigned char *data, size_t n)
{
	struct op_deadletter *dl[2] = {NULL, NULL};
	struct op_decoder *d[2] = {NULL, NULL};
	static struct fuzz_letter letter[2];
	static uint64_t rec[2][1024 / 8];
	int rc = 0;
	for (int k = 0; k < 2; k++) {
		if (fuzz_decoder_new_kv(OP_FORMAT_JSON_V4, (uint32_t)(1 - k), &dl[k],
		                        &d[k])) {
			rc = -1;
			break;
		}
		op_deadletter_set_writer(dl[k], fuzz_letter_keep, &letter[k]);
	}
	for (size_t at = 0; !rc && at < n;) {
		const unsigned char *nl = memchr(data + at, '\n', n - at);
		size_t len = nl ? (size_t)(nl - (data + at)) : n - at;
		int r[2];
		uint32_t size[2];
		for (int k = 0; k < 2; k++) {
			letter[k].n = 0;
			r[k] = op_decode_json(d[k], (const char *)data + at, len, NULL,
			                      rec[k], sizeof rec[k], &size[k]);
		}
		at += len + 1;
		if (r[0] && op_decoder_last_reject(d[0]) == OP_REJECT_RECORD_TOO_LARGE)
			continue;
		if ((r[0] == 0) != (r[1] == 0))
			rc = 1;
		else if (r[0] == 0)
			rc = !fuzz_same_but_pairs((const struct op_event *)(void *)rec[0],
			                          (const struct op_event *)(void *)rec[1]);
		else
			rc = op_decoder_last_reject(d[0]) != op_decoder_last_reject(d[1]) ||
			     letter[0].n != letter[1].n ||
			     memcmp(letter[0].line, letter[1].line, letter[0].n) != 0;
	}
	for (int k = 0; k < 2; k++) {
		op_decoder_free(d[k]);
		op_deadletter_free(dl[k]);
	}
	return rc;
}

/* ---- a decoder finding line ends, against one that does not ---------- */

/* What a decoder made of a stream's units, in order: each event's bytes,
 * each reject's reason, each unit's position. */
struct fuzz_log {
	unsigned char *b;
	size_t n, cap;
	struct op_decoder *d;
	int oom;
};

static inline void
fuzz_log_put(struct fuzz_log *l, const void *p, size_t n)
{
	if (l->n + n > l->cap) {
		size_t c = (l->n + n) * 2;
		unsigned char *nb = realloc(l->b, c);
		if (!nb) {
			l->oom = 1;
			return;
		}
		l->b = nb;
		l->cap = c;
	}
	memcpy(l->b + l->n, p, n);
	l->n += n;
}

static inline int
fuzz_log_event(void *arg, const struct op_event *ev, uint32_t len)
{
	fuzz_check(NULL, ev, len);
	fuzz_log_put(arg, "E", 1);
	fuzz_log_put(arg, &len, sizeof len);
	fuzz_log_put(arg, ev, len);
	return 0;
}

static inline int
fuzz_log_unit(void *arg, const struct op_unit *u)
{
	struct fuzz_log *l = arg;
	uint64_t rej = op_decoder_stats(l->d)->rejected;
	op_decoder_unit(l->d, u, fuzz_log_event, l);
	if (op_decoder_stats(l->d)->rejected != rej) {
		unsigned char r = (unsigned char)op_decoder_last_reject(l->d);
		fuzz_log_put(l, "R", 1);
		fuzz_log_put(l, &r, 1);
	}
	fuzz_log_put(l, &u->pos.offset, sizeof u->pos.offset);
	fuzz_log_put(l, &u->pos.line, sizeof u->pos.line);
	return 0;
}

/*
 * Splits data[0..n) into lines, fed in two pieces cut at `cut`, and decodes
 * every unit as fmt (X-Trace JSON, or auto: a line may be another format's
 * JSON that also parses as an X-Trace object): once with the decoder
 * telling the splitter where each line ends (op_decoder_line_ends), once
 * without; keep_kv as the decoders' option (0: lines the line template
 * fits are read by it, decode_json_line.c, in both ways). Returns 0
 * when both made the same events, rejects (reasons) and positions and
 * counted the same, 1 when they differ, -1 when out of memory.
 */
static inline int
fuzz_line_ends_agree_kv(enum op_format fmt, uint32_t keep_kv,
                        const unsigned char *data, size_t n, size_t cut)
{
	struct fuzz_log log[2] = {{0}, {0}};
	struct op_decode_stats st[2];
	int rc = 0;
	for (int k = 0; k < 2 && !rc; k++) {
		struct op_deadletter *dl;
		struct op_splitter *sp;
		if (fuzz_decoder_new_kv(fmt, keep_kv, &dl, &log[k].d))
			return -1;
		const struct op_decode_config *cfg = op_decoder_config(log[k].d);
		/* units up to twice the line limit, not flagged as too long
		 * (a file source's max_unit_bytes may be above it): the
		 * decoder must reject them itself */
		if (op_splitter_new(OP_SPLIT_LINES,
		                    2 * op_decoder_max_unit(cfg, fmt),
		                    &sp) == 0) {
			if (k)
				op_decoder_line_ends(log[k].d, sp);
			op_splitter_feed(sp, data, cut, fuzz_log_unit, &log[k]);
			op_splitter_feed(sp, data + cut, n - cut, fuzz_log_unit,
			                 &log[k]);
			op_splitter_finish(sp, fuzz_log_unit, &log[k]);
			op_splitter_free(sp);
		} else {
			rc = -1;
		}
		st[k] = *op_decoder_stats(log[k].d);
		op_decoder_free(log[k].d);
		op_deadletter_free(dl);
		if (log[k].oom)
			rc = -1;
	}
	if (!rc && (log[0].n != log[1].n ||
	            (log[0].n && memcmp(log[0].b, log[1].b, log[0].n)) ||
	            st[0].units != st[1].units || st[0].events != st[1].events ||
	            st[0].rejected != st[1].rejected))
		rc = 1;
	free(log[0].b);
	free(log[1].b);
	return rc;
}

static inline int
fuzz_line_ends_agree(enum op_format fmt, const unsigned char *data, size_t n,
                     size_t cut)
{
	return fuzz_line_ends_agree_kv(fmt, 1, data, n, cut);
}

#endif /* WEFT_FUZZ_UTIL_H */

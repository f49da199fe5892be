/*
 * decode_span.c — what the span decoders (OTLP protobuf, OTLP JSON,
 * Zipkin v2) share: ids, the builder calls mapped to reject reasons, and
 * laying out one span as an event in the middle of a unit.
 *
 * A unit of these formats holds many spans, of many traces. Each span
 * becomes one op_event record, emitted as soon as it is decoded through
 * the same reserve/callback path the one-event formats use (decoder.c),
 * so the inline decoder of a source lays each span out directly in the
 * exchange batch of its trace. A span that fails (a bad id, a limit) is
 * counted and dead-lettered with its offset in the unit and the spans
 * around it go on; a unit that fails as a whole (syntax, truncation)
 * keeps the spans decoded before the failure and rejects the rest once.
 * docs/FORMATS.md has the mapping.
 */
#include "operators/ingest/decode_priv.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/common.h"
#include "operators/ingest/json_cur.h"
#include "operators/ingest/json_scan.h"

void
op_span_begin(struct op_decoder *d)
{
	op_event_builder_reset(&d->b);
}

static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

enum op_reject
op_span_trace_id(const unsigned char *p, size_t n, uint64_t *out)
{
	static const unsigned char zero[8];
	if (n == 8) {
		*out = be64(p);
	} else if (n == 16) {
		if (memcmp(p, zero, 8) == 0)
			*out = be64(p + 8);
		else
			*out = XXH3_64bits(p, 16);
	} else {
		return OP_REJECT_BAD_ID_LENGTH;
	}
	if (n == 16 ? memcmp(p, zero, 8) == 0 && be64(p + 8) == 0 : *out == 0)
		return OP_REJECT_BAD_ID;
	return OP_REJECT_NONE;
}

enum op_reject
op_span_span_id(const unsigned char *p, size_t n, uint64_t *out)
{
	if (n != 8)
		return OP_REJECT_BAD_ID_LENGTH;
	*out = be64(p);
	return *out ? OP_REJECT_NONE : OP_REJECT_BAD_ID;
}

/* n hex digits (16 or 32) into raw bytes, eight digits at a time by
 * json_scan.h's word step: a loop of hexval per digit mispredicted on
 * every random id, a fifth of a Zipkin replay's time. */
static int
unhex(const char *p, size_t n, unsigned char *raw)
{
	for (size_t i = 0; i < n; i += 8) {
		const unsigned char *q = (const unsigned char *)p + i;
		uint64_t v = 0;
		if (scan_hex(q, q + 8, &v) != q + 8)
			return -1;
		for (int k = 0; k < 4; k++)
			raw[i / 2 + (size_t)k] = (unsigned char)(v >> (24 - 8 * k));
	}
	return 0;
}

enum op_reject
op_span_trace_hex(const char *p, size_t n, uint64_t *out)
{
	unsigned char raw[16];
	if (n != 32 && n != 16)
		return OP_REJECT_BAD_ID_LENGTH;
	if (unhex(p, n, raw))
		return OP_REJECT_BAD_ID;
	return op_span_trace_id(raw, n / 2, out);
}

enum op_reject
op_span_span_hex(const char *p, size_t n, uint64_t *out)
{
	unsigned char raw[8];
	if (n != 16)
		return OP_REJECT_BAD_ID_LENGTH;
	if (unhex(p, n, raw))
		return OP_REJECT_BAD_ID;
	return op_span_span_id(raw, 8, out);
}

enum op_reject
op_span_label(struct op_decoder *d, const char *s, size_t n)
{
	if (n > d->cfg.max_field_bytes)
		return OP_REJECT_FIELD_TOO_LONG;
	if (op_event_builder_set(&d->b, OP_EV_LABEL, s, n))
		return OP_REJECT_RECORD_TOO_LARGE;
	return OP_REJECT_NONE;
}

enum op_reject
op_span_kv(struct op_decoder *d, const char *k, size_t kn, const char *v,
           size_t vn)
{
	if (kn > d->cfg.max_field_bytes || vn > d->cfg.max_field_bytes)
		return OP_REJECT_FIELD_TOO_LONG;
	if (d->b.n_kv >= d->b.max_kv)
		return OP_REJECT_TOO_MANY_KV;
	if (op_event_builder_add_kv(&d->b, k, kn, v, vn))
		return OP_REJECT_RECORD_TOO_LARGE;
	return OP_REJECT_NONE;
}

enum op_reject
op_span_parent(struct op_decoder *d, uint64_t id)
{
	return op_event_builder_add_parent(&d->b, id) ? OP_REJECT_TOO_MANY_PARENTS
	                                              : OP_REJECT_NONE;
}

int
op_span_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	/* nearly every text is ASCII: one pass OR-ing its bytes first */
	uint64_t acc = 0, t;
	if (n >= 8) {
		for (size_t i = 0; i + 8 <= n; i += 8) {
			memcpy(&t, p + i, 8);
			acc |= t;
		}
		memcpy(&t, end - 8, 8); /* the tail, overlapping */
		acc |= t;
	} else {
		for (size_t i = 0; i < n; i++)
			acc |= p[i];
	}
	if (!(acc & 0x8080808080808080ull))
		return 1;
	while (p < end) {
		if (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			if (!(w & 0x8080808080808080ull)) {
				p += 8;
				continue;
			}
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		int k = op_utf8_seq(p, end);
		if (!k)
			return 0;
		p += k;
	}
	return 1;
}

char *
op_span_tmp(struct op_decoder *d, unsigned i)
{
	if (!d->span_tmp)
		d->span_tmp = malloc(6 * (size_t)d->cfg.max_field_bytes);
	return d->span_tmp ? d->span_tmp + i * (size_t)d->cfg.max_field_bytes
	                   : NULL;
}

void
op_span_reject(struct op_decoder *d, enum op_reject r, uint32_t at)
{
	const struct op_unit *u = d->unit;
	op_decoder_reject(d, r, u->data, u->len, u->avail, &u->pos, at);
}

int
op_span_emit(struct op_decoder *d, const struct op_span_res *res, uint32_t at)
{
	const struct op_unit *u = d->unit;
	enum op_reject r = OP_REJECT_NONE;
	const char *host = res->host_len ? res->host : res->service;
	size_t host_len = res->host_len ? res->host_len : res->service_len;
	if (op_event_builder_set(&d->b, OP_EV_AGENT, res->service,
	                         res->service_len) ||
	    op_event_builder_set(&d->b, OP_EV_HOST, host, host_len))
		r = OP_REJECT_RECORD_TOO_LARGE;
	if (r) {
		op_span_reject(d, r, at);
		return 0;
	}
	uint32_t len;
	/* a reject is counted with the whole unit as its excerpt and at */
	if (op_decoder_emit(d, u->data + at, u->len - at, &u->pos, d->rec,
	                    d->cfg.max_record_bytes, &len))
		return 0;
	((struct op_event *)d->out)->src = u->pos.src;
	return d->fn ? d->fn(d->fn_arg, d->out, len) : 0;
}

int
op_span_bufs(struct op_decoder *d, struct op_span_bufs *b)
{
	if (!op_span_tmp(d, 0)) {
		op_span_reject(d, OP_REJECT_RECORD_TOO_LARGE, 0);
		return -1;
	}
	b->key = op_span_tmp(d, 0);
	b->akey = op_span_tmp(d, 1);
	b->val = op_span_tmp(d, 2);
	b->svc = op_span_tmp(d, 3);
	b->host = op_span_tmp(d, 4);
	b->links = op_span_tmp(d, 5);
	b->cap = d->cfg.max_field_bytes;
	return 0;
}

int
op_span_json_end(struct op_decoder *d, struct op_jc *c, int r)
{
	if (r >= 0 && op_jc_peek(c) != -1)
		r = op_jc_fail(c, OP_REJECT_SYNTAX);
	if (r < 0)
		op_span_reject(d, c->err ? c->err : OP_REJECT_SYNTAX, c->at);
	return 0;
}

int
op_span_json(struct op_decoder *d, struct op_jc *c, op_span_members_fn fn,
             void *arg, const struct op_span_res *res, int *stop)
{
	struct op_jc start = *c;
	enum op_reject bad = OP_REJECT_NONE;
	int err = 0;
	op_jc_peek(&start);
	uint32_t at = op_jc_off(&start);
	op_span_begin(d);
	if (fn(arg, c, &bad, &err)) {
		/* a failure of the span's own content stopped the cursor (a
		 * wrong type, a string over the limit): if the span is
		 * well-formed JSON it is rejected alone, else the unit ends */
		if (c->err == OP_REJECT_SYNTAX || c->err == OP_REJECT_BAD_UTF8)
			return -1;
		bad = c->err;
		*c = start;
		if (op_jc_skip(c))
			return -1;
	}
	if (bad) {
		op_span_reject(d, bad, at);
		return 0;
	}
	if (err)
		d->b.hdr.flags |= OP_EV_ERROR;
	*stop = op_span_emit(d, res, at);
	return *stop < 0;
}

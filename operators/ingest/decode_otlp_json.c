/*
 * decode_otlp_json.c — OTLP trace JSON (the protobuf JSON mapping of
 * TracesData / ExportTraceServiceRequest, as the OTLP/HTTP JSON encoding
 * and the Collector's file exporter write it): lowerCamelCase keys, ids in
 * hex, 64-bit integers as strings or numbers, enums as numbers (their
 * names are accepted too). Unknown keys are skipped.
 *
 * The document is walked once with the json_cur.h cursor. Keys come in
 * any order, so a ResourceSpans object is first skimmed for where its
 * "resource" and "scopeSpans" values lie, then the resource is read
 * before the spans; a span's links are read after its traceId is known,
 * the same way. A span that fails for its own content (a bad id, a value
 * of the wrong type, a limit) is rejected alone and decoding goes on
 * after it; a syntax error ends the unit (the spans before it are kept,
 * the rest rejected once).
 */
#include "operators/ingest/decode_priv.h"

#include <string.h>

#include "common/common.h"
#include "operators/ingest/json_cur.h"

#define KEY(k, lit) \
	(k##n == sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)

/* Per unit: scratch strings (op_span_tmp slots) and the resource. */
struct ojs {
	struct op_decoder *d;
	struct op_span_bufs b;
	struct op_span_res res;
	int host_named; /* host.name seen (beats service.instance.id) */
	enum op_reject res_bad; /* the resource's failure: its spans are
	                         * rejected once */
	int stop;       /* the callback's negative code, when it stopped */
};

/* Returned up the walk when the callback stopped the feed (o->stop). */
#define STOPPED (-2)

/* An AnyValue object as text: strings as they are, numbers and literals
 * as written, nested values as their JSON text. */
static int
any_text(struct ojs *o, struct op_jc *c, const char **out, size_t *len)
{
	const char *k;
	size_t kn;
	int r;
	*out = "";
	*len = 0;
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, o->b.key, o->b.cap)) > 0) {
		if (KEY(k, "stringValue") || KEY(k, "bytesValue") ||
		    (KEY(k, "intValue") && op_jc_peek(c) == '"')) {
			if (op_jc_str(c, out, len, o->b.val, o->b.cap))
				return -1;
		} else if (op_jc_raw(c, out, len)) {
			return -1;
		}
	}
	return r;
}

typedef enum op_reject (*attr_fn)(struct ojs *o, const char *k, size_t kn,
                                  const char *v, size_t vn);

/* attributes: [{"key":..., "value":{...}}, ...]: fn per pair; the first
 * reason fn gives is kept in *bad. 0 or -1 (cursor error). */
static int
attributes(struct ojs *o, struct op_jc *c, attr_fn fn, enum op_reject *bad)
{
	int r;
	if (op_jc_arr(c))
		return -1;
	while ((r = op_jc_elem(c)) > 0) {
		const char *k = "", *v = "", *mk;
		size_t kn = 0, vn = 0, mkn;
		int m;
		if (op_jc_obj(c))
			return -1;
		while ((m = op_jc_member(c, &mk, &mkn, o->b.key, o->b.cap)) > 0) {
			if (KEY(mk, "key")) {
				if (op_jc_str(c, &k, &kn, o->b.akey, o->b.cap))
					return -1;
			} else if (KEY(mk, "value")) {
				if (any_text(o, c, &v, &vn))
					return -1;
			} else if (op_jc_skip(c)) {
				return -1;
			}
		}
		if (m < 0)
			return -1;
		enum op_reject e = fn(o, k, kn, v, vn);
		if (e && !*bad)
			*bad = e;
	}
	return r;
}

static enum op_reject
span_attr(struct ojs *o, const char *k, size_t kn, const char *v, size_t vn)
{
	return op_span_kv(o->d, k, kn, v, vn);
}

/* A resource attribute: service and host, copied into their slots. A
 * value that is not a string comes as its JSON text, which no limit has
 * bounded yet: longer than a slot (max_field_bytes), it fails the
 * resource. */
static enum op_reject
res_attr(struct ojs *o, const char *k, size_t kn, const char *v, size_t vn)
{
	int host = KEY(k, "host.name");
	char *slot;
	if (KEY(k, "service.name"))
		slot = o->b.svc;
	else if (host || (KEY(k, "service.instance.id") && !o->host_named))
		slot = o->b.host;
	else
		return OP_REJECT_NONE;
	if (vn > o->b.cap)
		return OP_REJECT_FIELD_TOO_LONG;
	memmove(slot, v, vn);
	if (slot == o->b.svc) {
		o->res.service = slot;
		o->res.service_len = vn;
	} else {
		o->res.host = slot;
		o->res.host_len = vn;
		o->host_named |= host;
	}
	return OP_REJECT_NONE;
}

/* A hex id member: 0 or -1; a bad id goes to *bad. */
static int
hex_id(struct ojs *o, struct op_jc *c, int trace, uint64_t *id, int *has,
       enum op_reject *bad)
{
	const char *s;
	size_t n;
	if (op_jc_str(c, &s, &n, o->b.val, o->b.cap))
		return -1;
	if (n == 0 && !trace) {
		*has = 0; /* "parentSpanId": "" is a root */
		return 0;
	}
	enum op_reject e = trace ? op_span_trace_hex(s, n, id)
	                         : op_span_span_hex(s, n, id);
	if (e && !*bad)
		*bad = e;
	*has = 1;
	return 0;
}

/* links: parents where they point into the span's own trace. */
static int
links(struct ojs *o, struct op_jc *c, uint64_t trace, enum op_reject *bad)
{
	int r;
	if (op_jc_arr(c))
		return -1;
	while ((r = op_jc_elem(c)) > 0) {
		const char *mk;
		size_t mkn;
		uint64_t t = 0, s = 0;
		int ht = 0, hs = 0, m;
		if (op_jc_obj(c))
			return -1;
		while ((m = op_jc_member(c, &mk, &mkn, o->b.key, o->b.cap)) > 0) {
			if (KEY(mk, "traceId")) {
				if (hex_id(o, c, 1, &t, &ht, bad))
					return -1;
			} else if (KEY(mk, "spanId")) {
				if (hex_id(o, c, 0, &s, &hs, bad))
					return -1;
			} else if (op_jc_skip(c)) {
				return -1;
			}
		}
		if (m < 0)
			return -1;
		if (ht && hs && t == trace && !*bad) {
			enum op_reject e = op_span_parent(o->d, s);
			if (e)
				*bad = e;
		}
	}
	return r;
}

/* status {"code": 2 | "STATUS_CODE_ERROR"} and events [{"name":
 * "exception"}]: the error flag. */
static int
error_marks(struct ojs *o, struct op_jc *c, int events, int *err)
{
	const char *mk, *s;
	size_t mkn, n;
	int r;
	if (events) {
		if (op_jc_arr(c))
			return -1;
		while ((r = op_jc_elem(c)) > 0) {
			if (op_jc_obj(c))
				return -1;
			while ((r = op_jc_member(c, &mk, &mkn, o->b.key, o->b.cap)) > 0) {
				if (KEY(mk, "name") && op_jc_peek(c) == '"') {
					if (op_jc_str(c, &s, &n, o->b.val, o->b.cap))
						return -1;
					if (n == 9 && memcmp(s, "exception", 9) == 0)
						*err = 1;
				} else if (op_jc_skip(c)) {
					return -1;
				}
			}
			if (r < 0)
				return -1;
		}
		return r;
	}
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &mk, &mkn, o->b.key, o->b.cap)) > 0) {
		if (!KEY(mk, "code")) {
			if (op_jc_skip(c))
				return -1;
			continue;
		}
		if (op_jc_raw(c, &s, &n))
			return -1;
		if ((n == 1 && *s == '2') ||
		    (n == 19 && memcmp(s, "\"STATUS_CODE_ERROR\"", 19) == 0))
			*err = 1;
	}
	return r;
}

/* The members of one span object into the builder. -1: cursor error;
 * else 0 with *bad the span's own first failure (NONE: good). */
static int
span_members(void *arg, struct op_jc *c, enum op_reject *bad, int *err)
{
	struct ojs *o = arg;
	struct op_event *h = &o->d->b.hdr;
	const char *k, *s;
	size_t kn, n;
	int r, ht = 0, hs = 0, hp = 0;
	uint64_t p = 0;
	struct op_jc at_links = {0};
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, o->b.key, o->b.cap)) > 0) {
		int e = 0;
		if (KEY(k, "traceId")) {
			e = hex_id(o, c, 1, &h->trace_id, &ht, bad);
		} else if (KEY(k, "spanId")) {
			e = hex_id(o, c, 0, &h->event_id, &hs, bad);
		} else if (KEY(k, "parentSpanId")) {
			e = hex_id(o, c, 0, &p, &hp, bad);
			if (!e && hp && !*bad)
				*bad = op_span_parent(o->d, p);
		} else if (KEY(k, "name")) {
			e = op_jc_str(c, &s, &n, o->b.val, o->b.cap);
			if (!e && !*bad)
				*bad = op_span_label(o->d, s, n);
		} else if (KEY(k, "startTimeUnixNano")) {
			e = op_jc_u64(c, &h->start_ns, o->b.val, o->b.cap);
			h->wall_ms = (int64_t)(h->start_ns / 1000000u);
			h->flags |= OP_EV_HAS_START | OP_EV_HAS_WALL;
		} else if (KEY(k, "endTimeUnixNano")) {
			e = op_jc_u64(c, &h->end_ns, o->b.val, o->b.cap);
			if (h->end_ns) /* 0: not set */
				h->flags |= OP_EV_HAS_END;
		} else if (KEY(k, "attributes")) {
			e = attributes(o, c, span_attr, bad);
		} else if (KEY(k, "links")) {
			at_links = *c; /* read once the trace id is known */
			e = op_jc_skip(c);
		} else if (KEY(k, "events") || KEY(k, "status")) {
			e = error_marks(o, c, KEY(k, "events"), err);
		} else {
			e = op_jc_skip(c);
		}
		if (e)
			return -1;
	}
	if (r < 0)
		return -1;
	if (at_links.s && !*bad && links(o, &at_links, h->trace_id, bad))
		return -1;
	if (!*bad && !ht)
		*bad = OP_REJECT_MISSING_TRACE_ID;
	if (!*bad && !hs)
		*bad = OP_REJECT_MISSING_SPAN_ID;
	return 0;
}

/* "scopeSpans": [{"scope": ..., "spans": [...]}, ...] */
static int
scope_spans(struct ojs *o, struct op_jc *c)
{
	const char *k;
	size_t kn;
	int r, m;
	if (op_jc_arr(c))
		return -1;
	while ((r = op_jc_elem(c)) > 0) {
		if (op_jc_obj(c))
			return -1;
		while ((m = op_jc_member(c, &k, &kn, o->b.key, o->b.cap)) > 0) {
			if (!KEY(k, "spans")) {
				if (op_jc_skip(c))
					return -1;
				continue;
			}
			if (op_jc_arr(c))
				return -1;
			int e;
			while ((e = op_jc_elem(c)) > 0) {
				int s = op_span_json(o->d, c, span_members, o, &o->res,
				                     &o->stop);
				if (s)
					return s > 0 ? STOPPED : -1;
			}
			if (e < 0)
				return -1;
		}
		if (m < 0)
			return -1;
	}
	return r;
}

/* A Resource object: service and host from its attributes. */
static int
resource(struct ojs *o, struct op_jc *c)
{
	const char *k;
	size_t kn;
	int r;
	enum op_reject bad = OP_REJECT_NONE;
	o->res = (struct op_span_res){"", 0, "", 0};
	o->host_named = 0;
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, o->b.key, o->b.cap)) > 0)
		if (KEY(k, "attributes") ? attributes(o, c, res_attr, &bad)
		                         : op_jc_skip(c))
			return -1;
	o->res_bad = bad;
	return r;
}

/* One ResourceSpans object. Its spans need its resource: where
 * "resource" comes first (as exporters write it) the spans are decoded
 * in the same pass; where it comes after them, "scopeSpans" is skimmed
 * and read again once the resource is known. 0, STOPPED or -1. */
static int
resource_spans(struct ojs *o, struct op_jc *c)
{
	const char *k;
	size_t kn;
	int r, have_res = 0;
	struct op_jc at_scopes = {0};
	uint32_t at = op_jc_off(c);
	o->res = (struct op_span_res){"", 0, "", 0};
	o->res_bad = OP_REJECT_NONE;
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, o->b.key, o->b.cap)) > 0) {
		int e;
		if (KEY(k, "resource")) {
			e = resource(o, c);
			have_res = 1;
		} else if (KEY(k, "scopeSpans") && have_res) {
			e = o->res_bad ? op_jc_skip(c) : scope_spans(o, c);
		} else {
			if (KEY(k, "scopeSpans"))
				at_scopes = *c;
			e = op_jc_skip(c);
		}
		if (e)
			return e;
	}
	if (r < 0)
		return -1;
	if (o->res_bad) { /* its spans, once, as the protobuf decoder does */
		op_span_reject(o->d, o->res_bad, at);
		return 0;
	}
	if (at_scopes.s) {
		int s = scope_spans(o, &at_scopes);
		if (s == STOPPED)
			return s;
		if (s < 0) /* its content failed: the rest of this resource */
			op_span_reject(o->d, at_scopes.err, at_scopes.at);
	}
	return 0;
}

int
op_decode_otlp_json(struct op_decoder *d)
{
	const struct op_unit *u = d->unit;
	struct ojs o = {.d = d};
	if (op_span_bufs(d, &o.b))
		return 0;
	struct op_jc c;
	op_jc_init(&c, u->data, u->len, d->cfg.max_json_depth + 16);
	const char *k;
	size_t kn;
	int r = op_jc_obj(&c);
	while (r == 0 && (r = op_jc_member(&c, &k, &kn, o.b.key, o.b.cap)) > 0) {
		if (!KEY(k, "resourceSpans")) {
			r = op_jc_skip(&c);
			continue;
		}
		if ((r = op_jc_arr(&c)))
			break;
		while ((r = op_jc_elem(&c)) > 0) {
			int s = resource_spans(&o, &c);
			if (s == STOPPED)
				return o.stop;
			if (s < 0) {
				r = -1;
				break;
			}
		}
	}
	return op_span_json_end(d, &c, r);
}

/*
 * decode_otlp_pb.c — OTLP trace protobuf (opentelemetry-proto,
 * opentelemetry/proto/trace/v1/trace.proto and collector/trace/v1): a
 * TracesData or an ExportTraceServiceRequest (both: field 1, repeated
 * ResourceSpans), read straight from the wire format without generated
 * code or allocation.
 *
 *   ResourceSpans   1 resource (Resource: 1 attributes KeyValue)
 *                   2 scope_spans (ScopeSpans: 2 spans)
 *   Span            1 trace_id, 2 span_id, 4 parent_span_id (bytes)
 *                   5 name, 7 start / 8 end_time_unix_nano (fixed64)
 *                   9 attributes, 11 events (Event: 2 name),
 *                   13 links (Link: 1 trace_id, 2 span_id),
 *                   15 status (Status: 3 code, 2 = ERROR)
 *   KeyValue        1 key, 2 value (AnyValue: 1 string, 2 bool, 3 int,
 *                   4 double, 5 array, 6 kvlist, 7 bytes)
 *   ArrayValue      1 values (AnyValue); KeyValueList: 1 values (KeyValue)
 *
 * A span attribute that is an array or a kvlist is kept as the text OTLP
 * JSON gives it ({"values":[{"stringValue":"a"},{"intValue":"1"}]}),
 * bytes as base64; nesting deeper than max_json_depth is too_deep, a text
 * over max_field_bytes field_too_long, as in OTLP JSON.
 *
 * Every other field is skipped by its wire type, as protobuf requires.
 * A resource's attributes are read before its spans wherever they sit in
 * the message (a length-delimited field can be visited twice). A span
 * that fails (a known field of the wrong wire type, an id of the wrong
 * length, a limit) is rejected alone: its length is known, so decoding
 * goes on with the next span. A message that fails outside a span (cut
 * short, a length past its end) keeps the spans before the failure and
 * rejects the rest once (truncated / bad_wire_type).
 */
#include "operators/ingest/decode_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb {
	const unsigned char *p, *end;
};

/* A varint: 0, or a reason (truncated; a varint over 10 bytes). */
static enum op_reject
varint(struct pb *b, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned sh = 0; sh < 70; sh += 7) {
		if (b->p >= b->end)
			return OP_REJECT_TRUNCATED;
		unsigned c = *b->p++;
		x |= (uint64_t)(c & 0x7F) << sh;
		if (c < 0x80) {
			*v = x;
			return OP_REJECT_NONE;
		}
	}
	return OP_REJECT_SYNTAX;
}

/* The next field: its number, wire type, and for WT_LEN its bytes, for
 * the fixed and varint types its value. 1 = a field, 0 = end, else
 * -reason. */
struct field {
	uint32_t num, wt;
	uint64_t v;
	const unsigned char *data;
	size_t len;
};

static int
next_field_any(struct pb *b, struct field *f)
{
	if (b->p >= b->end)
		return 0;
	uint64_t key;
	enum op_reject r = varint(b, &key);
	if (r)
		return -(int)r;
	f->num = (uint32_t)(key >> 3);
	f->wt = (uint32_t)(key & 7);
	if (f->num == 0 || key >> 32)
		return -(int)OP_REJECT_BAD_WIRE_TYPE;
	switch (f->wt) {
	case WT_VARINT:
		r = varint(b, &f->v);
		return r ? -(int)r : 1;
	case WT_I64:
		if (b->end - b->p < 8)
			return -(int)OP_REJECT_TRUNCATED;
		memcpy(&f->v, b->p, 8); /* little-endian on the wire */
		b->p += 8;
		return 1;
	case WT_I32: {
		uint32_t x;
		if (b->end - b->p < 4)
			return -(int)OP_REJECT_TRUNCATED;
		memcpy(&x, b->p, 4);
		f->v = x;
		b->p += 4;
		return 1;
	}
	case WT_LEN:
		r = varint(b, &f->v);
		if (r)
			return -(int)r;
		if (f->v > (uint64_t)(b->end - b->p))
			return -(int)OP_REJECT_TRUNCATED;
		f->data = b->p;
		f->len = (size_t)f->v;
		b->p += f->len;
		return 1;
	default: /* groups (3, 4) are not in OTLP; 6, 7 do not exist */
		return -(int)OP_REJECT_BAD_WIRE_TYPE;
	}
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "fixed64 fields are read as little-endian words");

/* next_field_any, inlined for what nearly every OTLP field is: a
 * one-byte key (field < 16) with a string or message under 16 KiB (a
 * length of one or two bytes), or a fixed64; anything else takes the
 * general path. */
static inline int
next_field(struct pb *b, struct field *f)
{
	const unsigned char *p = b->p;
	size_t left = (size_t)(b->end - p);
	if (!left)
		return 0;
	if (left >= 3 && p[0] < 0x80 && p[0] >= 8) {
		unsigned wt = p[0] & 7u;
		if (wt == WT_LEN && (p[1] < 0x80 || p[2] < 0x80)) {
			size_t h = p[1] < 0x80 ? 2 : 3;
			size_t n = h == 2 ? p[1] : (p[1] & 0x7fu) | (size_t)p[2] << 7;
			if (n <= left - h) {
				f->num = p[0] >> 3;
				f->wt = WT_LEN;
				f->v = f->len = n;
				f->data = p + h;
				b->p = p + h + n;
				return 1;
			}
		}
		if (wt == WT_I64 && left >= 9) {
			f->num = p[0] >> 3;
			f->wt = WT_I64;
			memcpy(&f->v, p + 1, 8);
			b->p = p + 9;
			return 1;
		}
	}
	return next_field_any(b, f);
}

static inline struct pb
sub(const struct field *f)
{
	return (struct pb){f->data, f->data + f->len};
}

/* ---- attributes ----------------------------------------------------- */

/* ---- nested values as text ---------------------------------------- */

/* Where an array, a kvlist or bytes is written as text: the decoder's
 * scratch (cap = max_field_bytes), nesting up to max_depth levels. */
struct txt {
	char *p;
	size_t n, cap;
	unsigned max_depth;
	int over; /* the text did not fit */
};

static void
put(struct txt *t, const void *s, size_t n)
{
	if (n > t->cap - t->n) {
		t->over = 1;
		return;
	}
	memcpy(t->p + t->n, s, n);
	t->n += n;
}

#define PUT(t, lit) put((t), "" lit, sizeof(lit) - 1) /* literals only */

/* A JSON string: '"' and '\' escaped, control bytes as \u00XX. */
static void
put_str(struct txt *t, const unsigned char *s, size_t n)
{
	PUT(t, "\"");
	for (size_t i = 0; i < n && !t->over; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			char e[2] = {'\\', (char)s[i]};
			put(t, e, 2);
		} else if (s[i] < 0x20) {
			char e[8];
			snprintf(e, sizeof e, "\\u%04x", s[i]);
			put(t, e, 6);
		} else {
			put(t, s + i, 1);
		}
	}
	PUT(t, "\"");
}

/* Bytes as standard base64 with padding (protobuf's JSON mapping). */
static void
put_b64(struct txt *t, const unsigned char *s, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n && !t->over; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		char q[4] = {a[v >> 18], a[(v >> 12) & 63],
		             i + 1 < n ? a[(v >> 6) & 63] : '=',
		             i + 2 < n ? a[v & 63] : '='};
		put(t, q, 4);
	}
}

/* A finite double as the shortest text that reads back the same (as
 * JSON writers give it); "NaN", "Infinity", "-Infinity" otherwise. */
static size_t
double_text(char *buf, size_t cap, double x)
{
	if (x != x)
		return (size_t)snprintf(buf, cap, "NaN");
	if (x > 1.7976931348623157e308 || x < -1.7976931348623157e308)
		return (size_t)snprintf(buf, cap, x > 0 ? "Infinity" : "-Infinity");
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, cap, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	return (size_t)n;
}

static enum op_reject any_json(struct txt *t, const struct field *av,
                               unsigned depth);

/* The "values" of an ArrayValue (AnyValue elements) or a KeyValueList
 * (KeyValue elements, kv set): {"values":[...]}, as OTLP JSON writes
 * them. */
static enum op_reject
values_json(struct txt *t, const struct field *lf, int kv, unsigned depth)
{
	if (depth > t->max_depth)
		return OP_REJECT_TOO_DEEP;
	struct pb b = sub(lf);
	struct field f;
	int rc, n = 0;
	PUT(t, "{\"values\":[");
	while ((rc = next_field(&b, &f)) > 0 && !t->over) {
		if (f.num != 1)
			continue;
		if (f.wt != WT_LEN)
			return OP_REJECT_BAD_WIRE_TYPE;
		if (n++)
			PUT(t, ",");
		enum op_reject r;
		if (!kv) {
			r = any_json(t, &f, depth + 1);
		} else { /* KeyValue: 1 key, 2 value */
			struct pb kb = sub(&f);
			static const unsigned char none[1];
			struct field g, val = {.data = none}; /* no value: {} */
			const unsigned char *k = none;
			size_t kn = 0;
			int krc;
			while ((krc = next_field(&kb, &g)) > 0) {
				if (g.num != 1 && g.num != 2)
					continue;
				if (g.wt != WT_LEN)
					return OP_REJECT_BAD_WIRE_TYPE;
				if (g.num == 1) {
					k = g.data;
					kn = g.len;
				} else {
					val = g;
				}
			}
			if (krc < 0)
				return (enum op_reject)-krc;
			PUT(t, "{\"key\":");
			put_str(t, k, kn);
			PUT(t, ",\"value\":");
			r = any_json(t, &val, depth + 1);
			PUT(t, "}");
		}
		if (r)
			return r;
	}
	if (rc < 0)
		return (enum op_reject)-rc;
	PUT(t, "]}");
	return OP_REJECT_NONE;
}

/* An AnyValue as its JSON object ({"stringValue":"a"}, {"intValue":"1"},
 * ...; {} when empty); of several values set, the last (a oneof). */
static enum op_reject
any_json(struct txt *t, const struct field *av, unsigned depth)
{
	struct pb b = sub(av);
	struct field f, last = {0};
	int rc;
	while ((rc = next_field(&b, &f)) > 0) {
		if (f.num < 1 || f.num > 7)
			continue;
		if (f.wt != (f.num == 2 || f.num == 3 ? WT_VARINT :
		             f.num == 4 ? WT_I64 : WT_LEN))
			return OP_REJECT_BAD_WIRE_TYPE;
		last = f;
	}
	if (rc < 0)
		return (enum op_reject)-rc;
	char num[48];
	double x;
	switch (last.num) {
	case 1:
		PUT(t, "{\"stringValue\":");
		put_str(t, last.data, last.len);
		break;
	case 2:
		if (last.v)
			PUT(t, "{\"boolValue\":true");
		else
			PUT(t, "{\"boolValue\":false");
		break;
	case 3:
		put(t, num, (size_t)snprintf(num, sizeof num, "{\"intValue\":\"%lld\"",
		                             (long long)(int64_t)last.v));
		break;
	case 4: { /* a number; the names of the others as strings */
		memcpy(&x, &last.v, 8);
		size_t n = double_text(num, sizeof num, x);
		int name = num[0] == 'N' || num[0] == 'I' || num[1] == 'I';
		PUT(t, "{\"doubleValue\":");
		if (name)
			PUT(t, "\"");
		put(t, num, n);
		if (name)
			PUT(t, "\"");
		break;
	}
	case 5: case 6: {
		if (last.num == 5)
			PUT(t, "{\"arrayValue\":");
		else
			PUT(t, "{\"kvlistValue\":");
		enum op_reject r = values_json(t, &last, last.num == 6, depth);
		if (r)
			return r;
		break;
	}
	case 7:
		PUT(t, "{\"bytesValue\":\"");
		put_b64(t, last.data, last.len);
		PUT(t, "\"");
		break;
	default:
		PUT(t, "{");
		break;
	}
	PUT(t, "}");
	return OP_REJECT_NONE;
}

/* A scalar AnyValue as text into buf (cap >= 32): 0 or a reason. An
 * array or a kvlist is its {"values":[...]} JSON text and bytes their
 * base64, as OTLP JSON keeps them, written into *nest (over its cap:
 * field_too_long); with no nest, they are left empty (*out = buf). */
static enum op_reject
any_text(const struct field *av, char *buf, size_t cap, struct txt *nest,
         const char **out, size_t *len)
{
	struct pb b = sub(av);
	struct field f;
	int rc;
	*out = "";
	*len = 0;
	while ((rc = next_field(&b, &f)) > 0) {
		switch (f.num) {
		case 1: /* string_value */
			if (f.wt != WT_LEN)
				return OP_REJECT_BAD_WIRE_TYPE;
			*out = (const char *)f.data;
			*len = f.len;
			break;
		case 2: /* bool_value */
			if (f.wt != WT_VARINT)
				return OP_REJECT_BAD_WIRE_TYPE;
			*out = f.v ? "true" : "false";
			*len = strlen(*out);
			break;
		case 3: /* int_value */
			if (f.wt != WT_VARINT)
				return OP_REJECT_BAD_WIRE_TYPE;
			*len = (size_t)snprintf(buf, cap, "%lld", (long long)(int64_t)f.v);
			*out = buf;
			break;
		case 4: { /* double_value */
			double x;
			if (f.wt != WT_I64)
				return OP_REJECT_BAD_WIRE_TYPE;
			memcpy(&x, &f.v, 8);
			*len = double_text(buf, cap, x);
			*out = buf;
			break;
		}
		case 5: case 6: case 7: { /* array, kvlist, bytes */
			if (f.wt != WT_LEN)
				return OP_REJECT_BAD_WIRE_TYPE;
			*out = buf;
			*len = 0;
			if (!nest)
				break;
			enum op_reject r = OP_REJECT_NONE;
			nest->n = 0;
			nest->over = 0;
			if (f.num == 7)
				put_b64(nest, f.data, f.len);
			else
				r = values_json(nest, &f, f.num == 6, 0);
			if (r)
				return r;
			if (nest->over)
				return OP_REJECT_FIELD_TOO_LONG;
			*out = nest->p;
			*len = nest->n;
			break;
		}
		default:
			break;
		}
	}
	return rc < 0 ? (enum op_reject)-rc : OP_REJECT_NONE;
}

/* One KeyValue: key and its value's text. */
static enum op_reject
key_value(const struct field *kvf, const char **k, size_t *kn, const char **v,
          size_t *vn, char *buf, size_t cap, struct txt *nest)
{
	struct pb b = sub(kvf);
	struct field f;
	int rc;
	*k = *v = "";
	*kn = *vn = 0;
	while ((rc = next_field(&b, &f)) > 0) {
		if (f.num == 1 || f.num == 2) {
			if (f.wt != WT_LEN)
				return OP_REJECT_BAD_WIRE_TYPE;
			if (f.num == 1) {
				*k = (const char *)f.data;
				*kn = f.len;
			} else {
				enum op_reject r = any_text(&f, buf, cap, nest, v, vn);
				if (r)
					return r;
			}
		}
	}
	return rc < 0 ? (enum op_reject)-rc : OP_REJECT_NONE;
}

static int
key_is(const char *k, size_t kn, const char *name)
{
	return kn == strlen(name) && memcmp(k, name, kn) == 0;
}

/* Resource (field 1 of ResourceSpans): service and host. */
static enum op_reject
resource(const struct field *rf, struct op_span_res *res)
{
	struct pb b = sub(rf);
	struct field f;
	int rc;
	const char *inst = NULL;
	size_t inst_len = 0;
	char buf[64];
	while ((rc = next_field(&b, &f)) > 0) {
		if (f.num != 1)
			continue;
		if (f.wt != WT_LEN)
			return OP_REJECT_BAD_WIRE_TYPE;
		const char *k, *v;
		size_t kn, vn;
		enum op_reject r = key_value(&f, &k, &kn, &v, &vn, buf, sizeof buf,
		                             NULL);
		if (r)
			return r;
		if (v == buf) /* only strings name services and hosts */
			continue;
		if (!op_span_utf8(v, vn))
			return OP_REJECT_BAD_UTF8;
		if (key_is(k, kn, "service.name")) {
			res->service = v;
			res->service_len = vn;
		} else if (key_is(k, kn, "host.name")) {
			res->host = v;
			res->host_len = vn;
		} else if (key_is(k, kn, "service.instance.id")) {
			inst = v;
			inst_len = vn;
		}
	}
	if (!res->host_len && inst_len) {
		res->host = inst;
		res->host_len = inst_len;
	}
	return rc < 0 ? (enum op_reject)-rc : OP_REJECT_NONE;
}

/* ---- spans ---------------------------------------------------------- */

/* A link: a parent edge when it points into the same trace. */
static enum op_reject
link(struct op_decoder *d, const struct field *lf, uint64_t trace)
{
	struct pb b = sub(lf);
	struct field f;
	int rc;
	uint64_t t = 0, s = 0;
	int has_t = 0, has_s = 0;
	while ((rc = next_field(&b, &f)) > 0) {
		if (f.num != 1 && f.num != 2)
			continue;
		if (f.wt != WT_LEN)
			return OP_REJECT_BAD_WIRE_TYPE;
		enum op_reject r = f.num == 1 ? op_span_trace_id(f.data, f.len, &t)
		                              : op_span_span_id(f.data, f.len, &s);
		if (r)
			return r;
		has_t |= f.num == 1;
		has_s |= f.num == 2;
	}
	if (rc < 0)
		return (enum op_reject)-rc;
	if (has_t && has_s && t == trace)
		return op_span_parent(d, s);
	return OP_REJECT_NONE;
}

/* Status code (field 3 of Status) == ERROR (2)? */
static enum op_reject
status_error(const struct field *sf, int *err)
{
	struct pb b = sub(sf);
	struct field f;
	int rc;
	while ((rc = next_field(&b, &f)) > 0)
		if (f.num == 3) {
			if (f.wt != WT_VARINT)
				return OP_REJECT_BAD_WIRE_TYPE;
			*err = f.v == 2;
		}
	return rc < 0 ? (enum op_reject)-rc : OP_REJECT_NONE;
}

/* Event named "exception"? */
static enum op_reject
event_exception(const struct field *ef, int *err)
{
	struct pb b = sub(ef);
	struct field f;
	int rc;
	while ((rc = next_field(&b, &f)) > 0)
		if (f.num == 2) {
			if (f.wt != WT_LEN)
				return OP_REJECT_BAD_WIRE_TYPE;
			if (key_is((const char *)f.data, f.len, "exception"))
				*err = 1;
		}
	return rc < 0 ? (enum op_reject)-rc : OP_REJECT_NONE;
}

/* The fields of one span into the builder; links wait for the trace id. */
static enum op_reject
span_fields(struct op_decoder *d, const struct field *spf, int *err,
            int *links)
{
	struct op_event *h = &d->b.hdr;
	struct pb b = sub(spf);
	struct field f;
	int rc, has_t = 0, has_s = 0;
	char buf[64];
	struct txt nest = {NULL, 0, d->cfg.max_field_bytes, d->cfg.max_json_depth, 0};
	enum op_reject r = OP_REJECT_NONE;
	while ((rc = next_field(&b, &f)) > 0 && !r) {
		uint32_t want = f.num == 7 || f.num == 8 ? WT_I64 :
		                f.num == 1 || f.num == 2 || f.num == 4 ||
		                f.num == 5 || f.num == 9 || f.num == 11 ||
		                f.num == 13 || f.num == 15 ? WT_LEN : f.wt;
		if (f.wt != want)
			return OP_REJECT_BAD_WIRE_TYPE;
		switch (f.num) {
		case 1:
			r = op_span_trace_id(f.data, f.len, &h->trace_id);
			has_t = 1;
			break;
		case 2:
			r = op_span_span_id(f.data, f.len, &h->event_id);
			has_s = 1;
			break;
		case 4: {
			uint64_t p;
			if (f.len == 0)
				break; /* a root */
			r = op_span_span_id(f.data, f.len, &p);
			if (!r)
				r = op_span_parent(d, p);
			break;
		}
		case 5:
			r = op_span_utf8((const char *)f.data, f.len)
			        ? op_span_label(d, (const char *)f.data, f.len)
			        : OP_REJECT_BAD_UTF8;
			break;
		case 7:
			h->start_ns = f.v;
			h->wall_ms = (int64_t)(f.v / 1000000u);
			h->flags |= OP_EV_HAS_START | OP_EV_HAS_WALL;
			break;
		case 8: /* 0: not set (proto3 leaves it out) */
			h->end_ns = f.v;
			if (f.v)
				h->flags |= OP_EV_HAS_END;
			break;
		case 9: {
			const char *k, *v;
			size_t kn, vn;
			if (!nest.p && !(nest.p = op_span_tmp(d, 0))) {
				r = OP_REJECT_RECORD_TOO_LARGE; /* no memory */
				break;
			}
			r = key_value(&f, &k, &kn, &v, &vn, buf, sizeof buf, &nest);
			if (!r && (!op_span_utf8(k, kn) || !op_span_utf8(v, vn)))
				r = OP_REJECT_BAD_UTF8;
			if (!r)
				r = op_span_kv(d, k, kn, v, vn);
			break;
		}
		case 11:
			r = event_exception(&f, err);
			break;
		case 13:
			*links = 1;
			break;
		case 15:
			r = status_error(&f, err);
			break;
		default:
			break;
		}
	}
	if (r)
		return r;
	if (rc < 0)
		return (enum op_reject)-rc;
	if (!has_t)
		return OP_REJECT_MISSING_TRACE_ID;
	if (!has_s)
		return OP_REJECT_MISSING_SPAN_ID;
	return OP_REJECT_NONE;
}

/* One span: decoded and emitted, or rejected alone. */
static int
span(struct op_decoder *d, const struct field *spf,
     const struct op_span_res *res)
{
	uint32_t at = (uint32_t)((const char *)spf->data - d->unit->data);
	int err = 0, links = 0;
	op_span_begin(d);
	enum op_reject r = span_fields(d, spf, &err, &links);
	if (!r && links) { /* a second pass, now that the trace id is known */
		struct pb b = sub(spf);
		struct field f;
		while (!r && next_field(&b, &f) > 0)
			if (f.num == 13)
				r = link(d, &f, d->b.hdr.trace_id);
	}
	if (r) {
		op_span_reject(d, r, at);
		return 0;
	}
	if (err)
		d->b.hdr.flags |= OP_EV_ERROR;
	return op_span_emit(d, res, at);
}

/* One ResourceSpans: its resource first, then every span of every
 * ScopeSpans. A failure of its own framing rejects the rest of it once.
 * Returns the callback's negative code (stop), else 0. */
static int
resource_spans(struct op_decoder *d, const struct field *rsf)
{
	struct op_span_res res = {"", 0, "", 0};
	struct pb b = sub(rsf);
	struct field f;
	int rc;
	enum op_reject r = OP_REJECT_NONE;
	uint32_t at = (uint32_t)((const char *)rsf->data - d->unit->data);
	while ((rc = next_field(&b, &f)) > 0 && !r)
		if (f.num == 1)
			r = f.wt != WT_LEN ? OP_REJECT_BAD_WIRE_TYPE : resource(&f, &res);
	if (rc < 0 || r) {
		op_span_reject(d, r ? r : (enum op_reject)-rc, at);
		return 0;
	}
	b = sub(rsf);
	while ((rc = next_field(&b, &f)) > 0) {
		if (f.num != 2)
			continue;
		if (f.wt != WT_LEN) {
			rc = -(int)OP_REJECT_BAD_WIRE_TYPE;
			break;
		}
		struct pb sb = sub(&f);
		struct field g;
		while ((rc = next_field(&sb, &g)) > 0) {
			if (g.num != 2)
				continue;
			if (g.wt != WT_LEN) {
				rc = -(int)OP_REJECT_BAD_WIRE_TYPE;
				break;
			}
			int s = span(d, &g, &res);
			if (s < 0)
				return s;
		}
		if (rc < 0) {
			at = (uint32_t)((const char *)sb.p - d->unit->data);
			break;
		}
	}
	if (rc < 0)
		op_span_reject(d, (enum op_reject)-rc, at);
	return 0;
}

int
op_decode_otlp_pb(struct op_decoder *d)
{
	const struct op_unit *u = d->unit;
	struct pb b = {(const unsigned char *)u->data,
	               (const unsigned char *)u->data + u->len};
	struct field f;
	int rc;
	while ((rc = next_field(&b, &f)) > 0) {
		if (f.num != 1)
			continue;
		if (f.wt != WT_LEN) {
			rc = -(int)OP_REJECT_BAD_WIRE_TYPE;
			break;
		}
		int s = resource_spans(d, &f);
		if (s < 0)
			return s;
	}
	if (rc < 0)
		op_span_reject(d, (enum op_reject)-rc,
		               (uint32_t)((const char *)b.p - u->data));
	return 0;
}

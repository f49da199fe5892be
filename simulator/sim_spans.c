/*
 * sim_spans.c — events as spans (sim_spans.h). The mapping is the inverse
 * of the decoders' (docs/FORMATS.md), so that a run imported in any
 * format decodes to the same events:
 *
 *   trace id   16 bytes: 8 zero bytes, then the 64-bit task id (Zipkin:
 *              its 16 hex digits);
 *   span id    the 64-bit event id, big-endian;
 *   parents    the first is parent_span_id (Zipkin parentId); the others
 *              are links into the same trace (Zipkin has no links: tag
 *              "weft.links", their hex ids comma-separated, which weft's
 *              Zipkin decoder reads back);
 *   name       the label; service.name the agent; host.name the host;
 *   times      start and end in ns (Zipkin: timestamp and duration in us);
 *   key/value  string attributes (Zipkin tags);
 *   exception  an event whose key/value text names an exception (the X-Trace
 *              decoders' OP_EV_EXCEPTION) is a span with status ERROR
 *              (Zipkin: tag "error"), as an SDK records a failed operation.
 *
 * Events go through weft's own X-Trace decoder first (the writers take
 * op_event records), so every field is taken the way replay takes it.
 * Protobuf is written by hand: a message's size must be known before it,
 * so each level is built in its own buffer and appended with its size.
 */
#include "simulator/sim_spans.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "simulator/sim_internal.h"

/* ---- protobuf ----------------------------------------------------------- */

static int
pb_varint(struct sim_buf *b, uint64_t v)
{
	unsigned char t[10];
	return sim_buf_append(b, t, weft_varint_put(t, v));
}

static int
pb_len(struct sim_buf *b, unsigned field, const void *p, size_t n)
{
	int rc = pb_varint(b, (uint64_t)field << 3 | 2);
	if (!rc)
		rc = pb_varint(b, n);
	return rc ? rc : sim_buf_append(b, p, n);
}

static int
pb_fixed64(struct sim_buf *b, unsigned field, uint64_t v)
{
	unsigned char t[8];
	for (int i = 0; i < 8; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	int rc = pb_varint(b, (uint64_t)field << 3 | 1);
	return rc ? rc : sim_buf_append(b, t, 8);
}

static void
be64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* A KeyValue with a string value, as field `field` of b. */
static int
pb_attr(struct sim_buf *b, struct sim_buf *t, unsigned field, const char *k,
    size_t kn, const char *v, size_t vn)
{
	struct sim_buf av = {0};
	t->len = 0;
	int rc = pb_len(&av, 1, v, vn);
	if (!rc)
		rc = pb_len(t, 1, k, kn);
	if (!rc)
		rc = pb_len(t, 2, av.p, av.len);
	if (!rc)
		rc = pb_len(b, field, t->p, t->len);
	sim_buf_free(&av);
	return rc;
}

static int
pb_span(struct sim_buf *b, struct sim_buf *t, const struct op_event *e)
{
	unsigned char id[16] = {0};
	const uint64_t *par = op_event_parents(e);
	int rc;
	be64(id + 8, e->trace_id);
	rc = pb_len(b, 1, id, 16);
	be64(id, e->event_id);
	if (!rc)
		rc = pb_len(b, 2, id, 8);
	if (!rc && e->n_parents) {
		be64(id, par[0]);
		rc = pb_len(b, 4, id, 8);
	}
	size_t n;
	const char *s = op_event_label(e, &n);
	if (!rc)
		rc = pb_len(b, 5, s, n);
	if (!rc)
		rc = pb_fixed64(b, 7, e->start_ns);
	if (!rc && (e->flags & OP_EV_HAS_END))
		rc = pb_fixed64(b, 8, e->end_ns);
	if (!rc && (e->flags & OP_EV_EXCEPTION)) {
		static const unsigned char error[] = {0x18, 2}; /* code ERROR */
		rc = pb_len(b, 15, error, sizeof error);
	}
	for (unsigned i = 0; !rc && i < e->n_kv; i++) {
		const char *k, *v;
		size_t kn, vn;
		op_event_kv(e, i, &k, &kn, &v, &vn);
		rc = pb_attr(b, t, 9, k, kn, v, vn);
	}
	for (unsigned i = 1; !rc && i < e->n_parents; i++) {
		unsigned char l[64];
		size_t ln = 0;
		memset(id, 0, 8);
		be64(id + 8, e->trace_id);
		l[ln++] = 0x0a;
		l[ln++] = 16;
		memcpy(l + ln, id, 16);
		ln += 16;
		l[ln++] = 0x12;
		l[ln++] = 8;
		be64(l + ln, par[i]);
		ln += 8;
		rc = pb_len(b, 13, l, ln);
	}
	return rc;
}

static int
same_resource(const struct op_event *a, const struct op_event *b)
{
	return a->agent_sym == b->agent_sym && a->host_sym == b->host_sym;
}

/* ExportTraceServiceRequest: a ResourceSpans per run of events with the
 * same agent and host. */
static int
encode_pb(struct sim_buf *out, const struct op_event *const *ev, size_t n,
    int framed)
{
	struct sim_buf msg = {0}, rs = {0}, ss = {0}, sp = {0}, t = {0};
	int rc = 0;
	for (size_t i = 0; !rc && i < n;) {
		size_t j = i;
		ss.len = 0;
		while (!rc && j < n && same_resource(ev[i], ev[j])) {
			sp.len = 0;
			rc = pb_span(&sp, &t, ev[j++]);
			if (!rc)
				rc = pb_len(&ss, 2, sp.p, sp.len);
		}
		size_t sn, hn;
		const char *svc = op_event_agent(ev[i], &sn);
		const char *host = op_event_host(ev[i], &hn);
		rs.len = 0;
		sp.len = 0;
		if (!rc)
			rc = pb_attr(&sp, &t, 1, "service.name", 12, svc, sn);
		if (!rc)
			rc = pb_attr(&sp, &t, 1, "host.name", 9, host, hn);
		if (!rc)
			rc = pb_len(&rs, 1, sp.p, sp.len);
		if (!rc)
			rc = pb_len(&rs, 2, ss.p, ss.len);
		if (!rc)
			rc = pb_len(&msg, 1, rs.p, rs.len);
		i = j;
	}
	if (!rc && framed) {
		unsigned char h[4] = {(unsigned char)(msg.len >> 24),
		    (unsigned char)(msg.len >> 16), (unsigned char)(msg.len >> 8),
		    (unsigned char)msg.len};
		rc = sim_buf_append(out, h, 4);
	}
	if (!rc)
		rc = sim_buf_append(out, msg.p, msg.len);
	sim_buf_free(&msg);
	sim_buf_free(&rs);
	sim_buf_free(&ss);
	sim_buf_free(&sp);
	sim_buf_free(&t);
	return rc;
}

/* ---- JSON --------------------------------------------------------------- */

/* A JSON string (the text is valid UTF-8: it went through the decoder). */
static int
js_str(struct sim_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = sim_buf_reserve(b, n * 6 + 2);
	if (rc)
		return rc;
	char *p = b->p + b->len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[c >> 4];
			p[5] = hex[c & 15];
			p += 6;
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	b->len = (size_t)(p - b->p);
	return 0;
}

static int
js_lit(struct sim_buf *b, const char *s)
{
	return sim_buf_append(b, s, strlen(s));
}

static int js_fmt(struct sim_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
js_fmt(struct sim_buf *b, const char *fmt, ...)
{
	char t[160];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	return sim_buf_append(b, t, (size_t)n);
}
#define ULL(x) ((unsigned long long)(x))

/* "key":"value" pairs of e as OTLP attributes or Zipkin tags. */
static int
js_kv(struct sim_buf *b, const struct op_event *e, int otlp)
{
	int rc = 0;
	for (unsigned i = 0; !rc && i < e->n_kv; i++) {
		const char *k, *v;
		size_t kn, vn;
		op_event_kv(e, i, &k, &kn, &v, &vn);
		if (i)
			rc = js_lit(b, ",");
		if (!rc && otlp)
			rc = js_lit(b, "{\"key\":");
		if (!rc)
			rc = js_str(b, k, kn);
		if (!rc)
			rc = js_lit(b, otlp ? ",\"value\":{\"stringValue\":" : ":");
		if (!rc)
			rc = js_str(b, v, vn);
		if (!rc && otlp)
			rc = js_lit(b, "}}");
	}
	return rc;
}

static int
otlp_json_span(struct sim_buf *b, const struct op_event *e)
{
	const uint64_t *par = op_event_parents(e);
	size_t n;
	const char *label = op_event_label(e, &n);
	int rc = js_fmt(b, "{\"traceId\":\"0000000000000000%016llx\",\"spanId\":"
	    "\"%016llx\"", ULL(e->trace_id), ULL(e->event_id));
	if (!rc && e->n_parents)
		rc = js_fmt(b, ",\"parentSpanId\":\"%016llx\"", ULL(par[0]));
	if (!rc)
		rc = js_lit(b, ",\"name\":");
	if (!rc)
		rc = js_str(b, label, n);
	if (!rc)
		rc = js_fmt(b, ",\"kind\":1,\"startTimeUnixNano\":\"%llu\"",
		    ULL(e->start_ns));
	if (!rc && (e->flags & OP_EV_HAS_END))
		rc = js_fmt(b, ",\"endTimeUnixNano\":\"%llu\"", ULL(e->end_ns));
	if (!rc && (e->flags & OP_EV_EXCEPTION))
		rc = js_lit(b, ",\"status\":{\"code\":2}");
	if (!rc && e->n_kv) {
		rc = js_lit(b, ",\"attributes\":[");
		if (!rc)
			rc = js_kv(b, e, 1);
		if (!rc)
			rc = js_lit(b, "]");
	}
	for (unsigned i = 1; !rc && i < e->n_parents; i++)
		rc = js_fmt(b, i == 1 ? ",\"links\":[{\"traceId\":\"0000000000000000"
		    "%016llx\",\"spanId\":\"%016llx\"}" : ",{\"traceId\":"
		    "\"0000000000000000%016llx\",\"spanId\":\"%016llx\"}",
		    ULL(e->trace_id), ULL(par[i]));
	if (!rc && e->n_parents > 1)
		rc = js_lit(b, "]");
	return rc ? rc : js_lit(b, "}");
}

static int
encode_otlp_json(struct sim_buf *out, const struct op_event *const *ev,
    size_t n)
{
	int rc = js_lit(out, "{\"resourceSpans\":[");
	for (size_t i = 0; !rc && i < n;) {
		size_t sn, hn;
		const char *svc = op_event_agent(ev[i], &sn);
		const char *host = op_event_host(ev[i], &hn);
		rc = js_lit(out, i ? ",{\"resource\":{\"attributes\":["
		    "{\"key\":\"service.name\",\"value\":{\"stringValue\":"
		    : "{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
		    "\"value\":{\"stringValue\":");
		if (!rc)
			rc = js_str(out, svc, sn);
		if (!rc)
			rc = js_lit(out, "}},{\"key\":\"host.name\",\"value\":"
			    "{\"stringValue\":");
		if (!rc)
			rc = js_str(out, host, hn);
		if (!rc)
			rc = js_lit(out, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
			    "\"weft-sim\"},\"spans\":[");
		size_t j = i;
		while (!rc && j < n && same_resource(ev[i], ev[j])) {
			if (j > i)
				rc = js_lit(out, ",");
			if (!rc)
				rc = otlp_json_span(out, ev[j++]);
		}
		if (!rc)
			rc = js_lit(out, "]}]}");
		i = j;
	}
	return rc ? rc : js_lit(out, "]}\n");
}

static int
zipkin_span(struct sim_buf *b, const struct op_event *e)
{
	const uint64_t *par = op_event_parents(e);
	size_t n;
	const char *s = op_event_label(e, &n);
	int rc = js_fmt(b, "{\"traceId\":\"%016llx\",\"id\":\"%016llx\"",
	    ULL(e->trace_id), ULL(e->event_id));
	if (!rc && e->n_parents)
		rc = js_fmt(b, ",\"parentId\":\"%016llx\"", ULL(par[0]));
	if (!rc)
		rc = js_lit(b, ",\"name\":");
	if (!rc)
		rc = js_str(b, s, n);
	/* microseconds: the recorded times are whole microseconds */
	if (!rc)
		rc = js_fmt(b, ",\"timestamp\":%llu", ULL(e->start_ns / 1000));
	if (!rc && (e->flags & OP_EV_HAS_END) && e->end_ns >= e->start_ns)
		rc = js_fmt(b, ",\"duration\":%llu",
		    e->end_ns / 1000 - ULL(e->start_ns / 1000));
	s = op_event_agent(e, &n);
	if (!rc)
		rc = js_lit(b, ",\"localEndpoint\":{\"serviceName\":");
	if (!rc)
		rc = js_str(b, s, n);
	if (!rc)
		rc = js_lit(b, "},\"tags\":{\"host.name\":");
	s = op_event_host(e, &n);
	if (!rc)
		rc = js_str(b, s, n);
	if (!rc && (e->flags & OP_EV_EXCEPTION) &&
	    !op_event_kv_find(e, "error", 5, NULL))
		rc = js_lit(b, ",\"error\":\"exception\"");
	if (!rc && e->n_kv)
		rc = js_lit(b, ",");
	if (!rc)
		rc = js_kv(b, e, 0);
	for (unsigned i = 1; !rc && i < e->n_parents; i++) {
		rc = js_lit(b, i == 1 ? ",\"weft.links\":\"" : ",");
		if (!rc)
			rc = js_fmt(b, "%016llx", ULL(par[i]));
	}
	if (!rc && e->n_parents > 1)
		rc = js_lit(b, "\"");
	return rc ? rc : js_lit(b, "}}");
}

static int
encode_zipkin(struct sim_buf *out, const struct op_event *const *ev, size_t n)
{
	int rc = js_lit(out, "[");
	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			rc = js_lit(out, ",");
		if (!rc)
			rc = zipkin_span(out, ev[i]);
	}
	return rc ? rc : js_lit(out, "]\n");
}

int
sim_spans_encode(struct sim_buf *out, enum op_format fmt,
    const struct op_event *const *ev, size_t n, int framed)
{
	for (size_t i = 0; i < n; i++) {
		const uint64_t *par = op_event_parents(ev[i]);
		if (!ev[i]->event_id || !ev[i]->trace_id)
			return WEFT_EINVAL; /* no span has a zero id */
		for (unsigned k = 0; k < ev[i]->n_parents; k++)
			if (!par[k])
				return WEFT_EINVAL;
	}
	switch (fmt) {
	case OP_FORMAT_OTLP_PROTO:
		return encode_pb(out, ev, n, framed);
	case OP_FORMAT_OTLP_JSON:
		return encode_otlp_json(out, ev, n);
	case OP_FORMAT_ZIPKIN:
		return encode_zipkin(out, ev, n);
	default:
		return WEFT_EINVAL;
	}
}

/* ---- a run, and a sink ---------------------------------------------------- */

/* Copies of decoded events, for one message. */
struct batch {
	struct sim_buf recs;      /* the records, 8-byte aligned */
	size_t *off;              /* where each begins in recs */
	const struct op_event **ev;
	size_t n, cap;
};

static int
batch_add(void *arg, const struct op_event *ev, uint32_t len)
{
	struct batch *b = arg;
	if (b->n == b->cap)
		return WEFT_ELIMIT;
	b->off[b->n++] = b->recs.len;
	return sim_buf_append(&b->recs, ev, len);
}

/* Encodes what is in the batch into out and empties it. */
static int
batch_flush(struct batch *b, struct sim_buf *out, enum op_format fmt,
    int framed)
{
	for (size_t i = 0; i < b->n; i++)
		b->ev[i] = (const struct op_event *)(const void *)(b->recs.p + b->off[i]);
	int rc = b->n ? sim_spans_encode(out, fmt, b->ev, b->n, framed) : 0;
	b->n = 0;
	b->recs.len = 0;
	return rc;
}

static int
batch_init(struct batch *b, size_t cap)
{
	memset(b, 0, sizeof *b);
	b->cap = cap;
	b->off = calloc(cap, sizeof *b->off);
	b->ev = calloc(cap, sizeof *b->ev);
	return b->off && b->ev ? 0 : WEFT_ENOMEM;
}

static void
batch_free(struct batch *b)
{
	sim_buf_free(&b->recs);
	free(b->off);
	free(b->ev);
}

int
sim_run_write_spans(const struct sim_run *r, const char *path,
    enum op_format fmt, size_t batch)
{
	if (fmt == OP_FORMAT_JSON_V4)
		return sim_run_write_jsonl(r, path);
	void *vbuf;
	FILE *f = sim_out_open(path, &vbuf);
	if (!f)
		return WEFT_EIO;
	struct op_decoder *d = NULL;
	struct batch b;
	struct sim_buf line = {0}, out = {0};
	int rc = batch_init(&b, batch);
	if (!rc)
		rc = sim_decoder_new(path, &d);
	for (size_t i = 0; !rc && i < r->nev; i++) {
		line.len = 0;
		rc = sim_json_event(&line, r, &r->ev[i]);
		struct op_unit u = {.data = line.p, .len = line.len - 1,
		                    .avail = line.len - 1};
		if (!rc)
			rc = op_decoder_unit(d, &u, batch_add, &b);
		if (!rc && op_decoder_stats(d)->rejected)
			rc = WEFT_EFORMAT;
		if (!rc && (b.n == b.cap || i + 1 == r->nev)) {
			out.len = 0;
			rc = batch_flush(&b, &out, fmt, 1);
			if (!rc && fwrite(out.p, 1, out.len, f) != out.len)
				rc = WEFT_EIO;
		}
	}
	op_decoder_free(d);
	batch_free(&b);
	sim_buf_free(&line);
	sim_buf_free(&out);
	return sim_out_close(f, vbuf, rc);
}

struct spans_sink {
	struct sim_sink base; /* first */
	struct sim_sink *inner;
	enum op_format fmt;
	int newline;
	struct op_decoder *d;
	struct batch b;
	struct sim_buf out;
};

/* Encodes the pending events as one message for inner. */
static int
spans_emit(struct spans_sink *x)
{
	if (!x->b.n)
		return 0;
	uint64_t task = ((const struct op_event *)(const void *)x->b.recs.p)->trace_id;
	x->out.len = 0;
	int rc = batch_flush(&x->b, &x->out, x->fmt, !x->newline);
	if (!rc && x->newline && x->fmt == OP_FORMAT_OTLP_PROTO)
		rc = sim_buf_append(&x->out, "\n", 1);
	return rc ? rc : x->inner->write(x->inner, x->out.p, x->out.len, task);
}

static int
spans_write(struct sim_sink *s, const char *line, size_t len, uint64_t task)
{
	struct spans_sink *x = (struct spans_sink *)s;
	(void)task; /* a message is keyed by its first event's trace */
	struct op_unit u = {.data = line, .len = len, .avail = len};
	if (len && line[len - 1] == '\n')
		u.len = u.avail = len - 1;
	uint64_t rej = op_decoder_stats(x->d)->rejected;
	int rc = op_decoder_unit(x->d, &u, batch_add, &x->b);
	if (!rc && op_decoder_stats(x->d)->rejected != rej)
		rc = WEFT_EFORMAT; /* a line weft itself does not read */
	return rc || x->b.n < x->b.cap ? rc : spans_emit(x);
}

static int
spans_flush(struct sim_sink *s)
{
	struct spans_sink *x = (struct spans_sink *)s;
	int rc = spans_emit(x);
	return rc ? rc : x->inner->flush(x->inner);
}

static int
spans_close(struct sim_sink *s)
{
	struct spans_sink *x = (struct spans_sink *)s;
	int rc = spans_emit(x);
	int crc = x->inner->close(x->inner);
	op_decoder_free(x->d);
	batch_free(&x->b);
	sim_buf_free(&x->out);
	free(x);
	return rc ? rc : crc;
}

struct sim_sink *
sim_sink_spans(struct sim_sink *inner, enum op_format fmt, int newline,
    size_t batch)
{
	struct spans_sink *x = calloc(1, sizeof *x);
	if (!x || batch_init(&x->b, batch ? batch : 1) || sim_decoder_new("replay", &x->d)) {
		if (x) {
			batch_free(&x->b);
			op_decoder_free(x->d);
		}
		free(x);
		inner->close(inner);
		return NULL;
	}
	x->inner = inner;
	x->fmt = fmt;
	x->newline = newline;
	x->base.write = spans_write;
	x->base.flush = spans_flush;
	x->base.close = spans_close;
	return &x->base;
}

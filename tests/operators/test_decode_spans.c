/*
 * test_decode_spans.c — the span decoders (OTLP protobuf, OTLP JSON,
 * Zipkin v2), format detection and the size-prefixed splitter: the
 * mapping of docs/FORMATS.md field by field, and bad input counted and
 * dead-lettered by reason with the good spans around it kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "common/common.h"
#include "operators/ingest/decode.h"
#include "pb_write.h"

/* ---- harness: decode one unit, keep copies of the events --------------- */

#define MAXEV 16
struct got {
	int n;
	uint64_t rec[MAXEV][512];
	uint32_t len[MAXEV];
};

static int
keep(void *arg, const struct op_event *ev, uint32_t len)
{
	struct got *g = arg;
	assert_int_equal(op_event_validate(ev, len), 0);
	assert_true(g->n < MAXEV);
	memcpy(g->rec[g->n], ev, len);
	g->len[g->n++] = len;
	return 0;
}

static const struct op_event *
ev(struct got *g, int i)
{
	return (const struct op_event *)(const void *)g->rec[i];
}

/* A decoder with max_field_bytes 64 and max_json_depth depth. */
static struct op_decoder *
decoder_depth(enum op_format fmt, struct op_deadletter **dl, FILE **f,
              uint32_t depth)
{
	struct op_decoder *d;
	*f = tmpfile();
	assert_non_null(*f);
	assert_int_equal(op_deadletter_new(*f, dl), 0);
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	cfg.max_field_bytes = 64;
	cfg.max_json_depth = depth;
	assert_int_equal(op_decoder_new(fmt, &cfg, "t", *dl, &d), 0);
	return d;
}

static struct op_decoder *
decoder(enum op_format fmt, struct op_deadletter **dl, FILE **f)
{
	return decoder_depth(fmt, dl, f, 16);
}

static void
unit(struct op_decoder *d, const void *p, size_t n, struct got *g)
{
	struct op_unit u = {.data = p, .len = n, .avail = n};
	op_decoder_unit(d, &u, keep, g);
}

/* A decoder of fmt that has decoded doc (n bytes, built by snprintf into
 * a buffer of cap) as one unit into g; done() frees it. */
static struct op_decoder *
decoded(enum op_format fmt, const char *doc, int n, size_t cap,
        struct got *g, struct op_deadletter **dl, FILE **f)
{
	assert_true(n > 0 && (size_t)n < cap);
	struct op_decoder *d = decoder(fmt, dl, f);
	unit(d, doc, (size_t)n, g);
	return d;
}

static void
done(struct op_decoder *d, struct op_deadletter *dl, FILE *f)
{
	op_decoder_free(d);
	op_deadletter_free(dl);
	fclose(f);
}

static int
has_kv(const struct op_event *e, const char *k, const char *v)
{
	size_t n;
	const char *got = op_event_kv_find(e, k, strlen(k), &n);
	return got && n == strlen(v) && memcmp(got, v, n) == 0;
}

static int
field_is(const struct op_event *e, enum op_event_field f, const char *s)
{
	size_t n;
	const char *t = op_event_field(e, f, &n);
	return n == strlen(s) && memcmp(t, s, n) == 0;
}

static const struct op_decode_stats *
st(struct op_decoder *d)
{
	return op_decoder_stats(d);
}

/* ---- OTLP protobuf ---------------------------------------------------- */

/* A span: trace id (16 bytes, value t), id s, parent p (0: none). */
static void
pb_span(struct pbw *w, uint64_t t, uint64_t s, uint64_t p, const char *name)
{
	struct pbw sp = {.n = 0};
	pbw_id(&sp, 1, t, 16);
	pbw_id(&sp, 2, s, 8);
	if (p)
		pbw_id(&sp, 4, p, 8);
	pbw_str(&sp, 5, name);
	pbw_fixed64(&sp, 7, 1000 + s);
	pbw_fixed64(&sp, 8, 5000 + s);
	pbw_attr(&sp, 9, "k", "v");
	pbw_sub(w, 2, &sp);
}

/* ResourceSpans with service svc, host host (NULL: none), and spans. */
static void
pb_resource(struct pbw *msg, const char *svc, const char *host,
            const struct pbw *spans, int resource_last)
{
	struct pbw res = {.n = 0}, ss = {.n = 0}, rs = {.n = 0};
	pbw_attr(&res, 1, "service.name", svc);
	if (host)
		pbw_attr(&res, 1, "host.name", host);
	pbw_str(&ss, 1, "\x0a\x03lib"); /* a scope (skipped) */
	memcpy(ss.b + ss.n, spans->b, spans->n);
	ss.n += spans->n;
	if (!resource_last)
		pbw_sub(&rs, 1, &res);
	pbw_sub(&rs, 2, &ss);
	if (resource_last)
		pbw_sub(&rs, 1, &res);
	pbw_sub(msg, 1, &rs);
}

static void
otlp_pb_maps_spans(void **state)
{
	(void)state;
	struct pbw spans = {.n = 0}, spans2 = {.n = 0}, msg = {.n = 0};
	pb_span(&spans, 7, 1, 0, "root");
	pb_span(&spans, 7, 2, 1, "child");
	/* a join: a link into the same trace is a second parent; a link
	 * into another trace is not an edge; status ERROR sets the flag */
	struct pbw sp = {.n = 0}, ln = {.n = 0}, ln2 = {.n = 0}, stt = {.n = 0};
	pbw_id(&sp, 1, 7, 16);
	pbw_id(&sp, 2, 3, 8);
	pbw_id(&sp, 4, 1, 8);
	pbw_str(&sp, 5, "join");
	pbw_id(&ln, 1, 7, 16);
	pbw_id(&ln, 2, 2, 8);
	pbw_sub(&sp, 13, &ln);
	pbw_id(&ln2, 1, 99, 16);
	pbw_id(&ln2, 2, 55, 8);
	pbw_sub(&sp, 13, &ln2);
	pbw_u64(&stt, 3, 2);
	pbw_sub(&sp, 15, &stt);
	pbw_sub(&spans2, 2, &sp);
	pb_resource(&msg, "api", "h1", &spans, 0);
	pb_resource(&msg, "db", NULL, &spans2, 1); /* resource after spans */

	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_OTLP_PROTO, &dl, &f);
	struct got g = {0};
	unit(d, msg.b, msg.n, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(st(d)->units, 1);
	assert_int_equal(st(d)->rejected, 0);
	const struct op_event *e = ev(&g, 1);
	assert_int_equal(e->trace_id, 7); /* 8 zero bytes + 7 */
	assert_int_equal(e->event_id, 2);
	assert_int_equal(e->n_parents, 1);
	assert_int_equal(op_event_parents(e)[0], 1);
	assert_int_equal(e->start_ns, 1002);
	assert_int_equal(e->end_ns, 5002);
	assert_true(e->flags & OP_EV_HAS_END);
	assert_false(e->flags & OP_EV_ERROR);
	assert_true(field_is(e, OP_EV_LABEL, "child"));
	assert_true(field_is(e, OP_EV_AGENT, "api"));
	assert_true(field_is(e, OP_EV_HOST, "h1"));
	assert_true(has_kv(e, "k", "v"));
	e = ev(&g, 2);
	assert_int_equal(e->n_parents, 2);
	assert_int_equal(op_event_parents(e)[0], 1);
	assert_int_equal(op_event_parents(e)[1], 2);
	assert_true(e->flags & OP_EV_ERROR);
	assert_true(field_is(e, OP_EV_AGENT, "db"));
	assert_true(field_is(e, OP_EV_HOST, "db")); /* no host.name: service */
	done(d, dl, f);
}

/* AnyValue builders for the nested-value test. */
static void
av_str(struct pbw *w, const char *s)
{
	struct pbw av = {.n = 0};
	pbw_str(&av, 1, s);
	pbw_sub(w, 1, &av);
}

/* A span (id s) with one attribute: key k, value the AnyValue av. */
static void
pb_span_attr(struct pbw *spans, uint64_t s, const char *k, const struct pbw *av)
{
	struct pbw sp = {.n = 0}, kv = {.n = 0};
	pbw_id(&sp, 1, 7, 16);
	pbw_id(&sp, 2, s, 8);
	pbw_str(&sp, 5, "n");
	pbw_str(&kv, 1, k);
	pbw_sub(&kv, 2, av);
	pbw_sub(&sp, 9, &kv);
	pbw_sub(spans, 2, &sp);
}

/* Arrays, kvlists and bytes are kept as the text OTLP JSON keeps for
 * them (their {"values":[...]} JSON, bytes as base64); a text over
 * max_field_bytes is field_too_long and nesting over max_json_depth
 * too_deep, each span rejected alone and counted. */
static void
otlp_pb_nested_values_are_their_otlp_json_text(void **state)
{
	(void)state;
	struct pbw spans = {.n = 0}, msg = {.n = 0}, arr, av, kv, inner, x;
	/* [ "x\"y<TAB>", -5 ] */
	arr = (struct pbw){.n = 0};
	av_str(&arr, "x\"y\t");
	x = (struct pbw){.n = 0};
	pbw_u64(&x, 3, (uint64_t)-5);
	pbw_sub(&arr, 1, &x);
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 5, &arr);
	pb_span_attr(&spans, 1, "a1", &av);
	/* [ true, 0.1 ] */
	arr = (struct pbw){.n = 0};
	x = (struct pbw){.n = 0};
	pbw_u64(&x, 2, 1);
	pbw_sub(&arr, 1, &x);
	x = (struct pbw){.n = 0};
	double tenth = 0.1;
	uint64_t bits;
	memcpy(&bits, &tenth, 8);
	pbw_fixed64(&x, 4, bits);
	pbw_sub(&arr, 1, &x);
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 5, &arr);
	pb_span_attr(&spans, 2, "a2", &av);
	/* [ ["z"], {} ] */
	inner = (struct pbw){.n = 0};
	av_str(&inner, "z");
	x = (struct pbw){.n = 0};
	pbw_sub(&x, 5, &inner);
	arr = (struct pbw){.n = 0};
	pbw_sub(&arr, 1, &x);
	pbw_bytes(&arr, 1, "", 0);
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 5, &arr);
	pb_span_attr(&spans, 3, "a3", &av);
	/* kvlist { k: bytes 00 ff 10 } */
	kv = (struct pbw){.n = 0};
	x = (struct pbw){.n = 0};
	pbw_bytes(&x, 7, "\x00\xff\x10", 3);
	inner = (struct pbw){.n = 0};
	pbw_str(&inner, 1, "k");
	pbw_sub(&inner, 2, &x);
	pbw_sub(&kv, 1, &inner);
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 6, &kv);
	pb_span_attr(&spans, 4, "m", &av);
	/* bytes "abc" */
	av = (struct pbw){.n = 0};
	pbw_bytes(&av, 7, "abc", 3);
	pb_span_attr(&spans, 5, "b", &av);
	/* kvlist { k: (no value) } */
	kv = (struct pbw){.n = 0};
	inner = (struct pbw){.n = 0};
	pbw_str(&inner, 1, "k");
	pbw_sub(&kv, 1, &inner);
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 6, &kv);
	pb_span_attr(&spans, 8, "e", &av);
	/* an array whose text is over 64 bytes */
	arr = (struct pbw){.n = 0};
	for (int i = 0; i < 6; i++)
		av_str(&arr, "0123456789");
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 5, &arr);
	pb_span_attr(&spans, 6, "long", &av);
	/* arrays three deep: over max_json_depth 1 */
	struct pbw l0 = {.n = 0}, l1 = {.n = 0}, l2 = {.n = 0};
	av_str(&l2, "d");
	x = (struct pbw){.n = 0};
	pbw_sub(&x, 5, &l2);
	pbw_sub(&l1, 1, &x);
	x = (struct pbw){.n = 0};
	pbw_sub(&x, 5, &l1);
	pbw_sub(&l0, 1, &x);
	av = (struct pbw){.n = 0};
	pbw_sub(&av, 5, &l0);
	pb_span_attr(&spans, 7, "deep", &av);
	pb_resource(&msg, "api", NULL, &spans, 0);

	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder_depth(OP_FORMAT_OTLP_PROTO, &dl, &f, 1);
	struct got g = {0};
	unit(d, msg.b, msg.n, &g);
	assert_int_equal(g.n, 6);
	assert_true(has_kv(ev(&g, 0), "a1", "{\"values\":[{\"stringValue\":"
	                   "\"x\\\"y\\u0009\"},{\"intValue\":\"-5\"}]}"));
	assert_true(has_kv(ev(&g, 1), "a2", "{\"values\":[{\"boolValue\":true},"
	                   "{\"doubleValue\":0.1}]}"));
	assert_true(has_kv(ev(&g, 2), "a3", "{\"values\":[{\"arrayValue\":"
	                   "{\"values\":[{\"stringValue\":\"z\"}]}},{}]}"));
	assert_true(has_kv(ev(&g, 3), "m", "{\"values\":[{\"key\":\"k\",\"value\":"
	                   "{\"bytesValue\":\"AP8Q\"}}]}"));
	assert_true(has_kv(ev(&g, 4), "b", "YWJj"));
	assert_true(has_kv(ev(&g, 5), "e", "{\"values\":[{\"key\":\"k\",\"value\":{}}]}"));
	assert_int_equal(st(d)->rejected, 2);
	assert_int_equal(st(d)->by_reason[OP_REJECT_FIELD_TOO_LONG], 1);
	assert_int_equal(st(d)->by_reason[OP_REJECT_TOO_DEEP], 1);
	done(d, dl, f);

	/* OTLP JSON keeps the same text for the same kvlist */
	static const char js[] =
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
		"\"00000000000000000000000000000007\",\"spanId\":\"0000000000000004\","
		"\"attributes\":[{\"key\":\"m\",\"value\":{\"kvlistValue\":{\"values\":"
		"[{\"key\":\"k\",\"value\":{\"bytesValue\":\"AP8Q\"}}]}}}]}]}]}]}";
	d = decoder(OP_FORMAT_OTLP_JSON, &dl, &f);
	struct got gj = {0};
	unit(d, js, strlen(js), &gj);
	assert_int_equal(gj.n, 1);
	size_t n1, n2;
	const char *v1 = op_event_kv_find(ev(&g, 3), "m", 1, &n1);
	const char *v2 = op_event_kv_find(ev(&gj, 0), "m", 1, &n2);
	assert_true(v2 && n1 == n2 && memcmp(v1, v2, n1) == 0);
	done(d, dl, f);
}

static void
otlp_pb_bad_spans_rejected_alone(void **state)
{
	(void)state;
	struct pbw spans = {.n = 0}, msg = {.n = 0}, sp;
	pb_span(&spans, 7, 1, 0, "good1");
	/* wrong wire type: name as a varint */
	sp = (struct pbw){.n = 0};
	pbw_id(&sp, 1, 7, 16);
	pbw_id(&sp, 2, 2, 8);
	pbw_u64(&sp, 5, 3);
	pbw_sub(&spans, 2, &sp);
	/* a 4-byte span id */
	sp = (struct pbw){.n = 0};
	pbw_id(&sp, 1, 7, 16);
	pbw_bytes(&sp, 2, "abcd", 4);
	pbw_sub(&spans, 2, &sp);
	/* no trace id */
	sp = (struct pbw){.n = 0};
	pbw_id(&sp, 2, 4, 8);
	pbw_sub(&spans, 2, &sp);
	/* a name over max_field_bytes (64) */
	sp = (struct pbw){.n = 0};
	pbw_id(&sp, 1, 7, 16);
	pbw_id(&sp, 2, 5, 8);
	char longname[100];
	memset(longname, 'n', 99);
	longname[99] = 0;
	pbw_str(&sp, 5, longname);
	pbw_sub(&spans, 2, &sp);
	pb_span(&spans, 7, 6, 1, "good2");
	pb_resource(&msg, "api", NULL, &spans, 0);

	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_OTLP_PROTO, &dl, &f);
	struct got g = {0};
	unit(d, msg.b, msg.n, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(ev(&g, 0)->event_id, 1);
	assert_int_equal(ev(&g, 1)->event_id, 6);
	assert_int_equal(st(d)->rejected, 4);
	assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_WIRE_TYPE], 1);
	assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_ID_LENGTH], 1);
	assert_int_equal(st(d)->by_reason[OP_REJECT_MISSING_TRACE_ID], 1);
	assert_int_equal(st(d)->by_reason[OP_REJECT_FIELD_TOO_LONG], 1);
	assert_int_equal(op_deadletter_count(dl, OP_REJECT_NONE), 4);
	done(d, dl, f);
}

static void
otlp_pb_truncated_keeps_what_came_before(void **state)
{
	(void)state;
	struct pbw a = {.n = 0}, b = {.n = 0}, msg = {.n = 0};
	pb_span(&a, 7, 1, 0, "r1");
	pb_span(&b, 8, 2, 0, "r2");
	pb_resource(&msg, "api", NULL, &a, 0);
	pb_resource(&msg, "api", NULL, &b, 0);
	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_OTLP_PROTO, &dl, &f);
	struct got g = {0};
	unit(d, msg.b, msg.n - 5, &g); /* cut inside the second resource */
	assert_int_equal(g.n, 1);
	assert_int_equal(ev(&g, 0)->trace_id, 7);
	assert_int_equal(st(d)->rejected, 1);
	assert_int_equal(st(d)->by_reason[OP_REJECT_TRUNCATED], 1);
	/* a dead letter with the unit's bytes escaped, valid JSON */
	rewind(f);
	char line[4096];
	assert_non_null(fgets(line, sizeof line, f));
	assert_non_null(strstr(line, "\"reason\":\"truncated\""));
	done(d, dl, f);
}

/* ---- OTLP JSON -------------------------------------------------------- */

static const char otlp_json[] =
	"{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":["
	"{\"traceId\":\"00000000000000000000000000000007\",\"spanId\":\"0000000000000001\","
	"\"name\":\"root\",\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":2000,"
	"\"kind\":2,\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"42\"}},"
	"{\"key\":\"l\",\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":true}]}}}]},"
	"{\"spanId\":\"0000000000000002\",\"parentSpanId\":\"0000000000000001\","
	"\"traceId\":\"00000000000000000000000000000007\",\"name\":\"esc\\u00e9\\\"q\","
	"\"events\":[{\"name\":\"exception\"}],"
	"\"links\":[{\"traceId\":\"00000000000000000000000000000007\",\"spanId\":\"0000000000000009\"}]},"
	"{\"traceId\":\"00000000000000000000000000000007\",\"spanId\":\"0000000000000003\",\"name\":5},"
	"{\"traceId\":\"00000000000000000000000000000007\",\"spanId\":\"0000000000000004\","
	"\"status\":{\"code\":\"STATUS_CODE_ERROR\"}}"
	"]}],\"resource\":{\"attributes\":[{\"key\":\"service.instance.id\",\"value\":"
	"{\"stringValue\":\"i-1\"}},{\"key\":\"service.name\",\"value\":{\"stringValue\":\"api\"}}]}}]}";

static void
otlp_json_maps_spans(void **state)
{
	(void)state;
	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_OTLP_JSON, &dl, &f);
	struct got g = {0};
	unit(d, otlp_json, strlen(otlp_json), &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(st(d)->rejected, 1); /* name: 5 is not a string */
	assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_TYPE], 1);
	const struct op_event *e = ev(&g, 0);
	assert_int_equal(e->trace_id, 7);
	assert_int_equal(e->start_ns, 1000);
	assert_int_equal(e->end_ns, 2000);
	assert_true(field_is(e, OP_EV_AGENT, "api"));
	assert_true(field_is(e, OP_EV_HOST, "i-1")); /* the instance id */
	assert_true(has_kv(e, "n", "42"));
	assert_true(has_kv(e, "l", "{\"values\":[{\"boolValue\":true}]}"));
	e = ev(&g, 1);
	assert_true(field_is(e, OP_EV_LABEL, "esc\xc3\xa9\"q"));
	assert_int_equal(e->n_parents, 2); /* parent and a same-trace link */
	assert_int_equal(op_event_parents(e)[1], 9);
	assert_true(e->flags & OP_EV_ERROR);
	assert_true(ev(&g, 2)->flags & OP_EV_ERROR);
	done(d, dl, f);
}

static void
otlp_json_syntax_error_keeps_earlier_spans(void **state)
{
	(void)state;
	/* the same spans with the resource first, as exporters write it */
	char buf[2 * sizeof otlp_json];
	const char *sc = strstr(otlp_json, "[{\"scope\"");
	const char *re = strstr(otlp_json, ",\"resource\":");
	snprintf(buf, sizeof buf, "{\"resourceSpans\":[{\"resource\":{},"
	         "\"scopeSpans\":%.*s}]}", (int)(re - sc), sc);
	for (int res_first = 1; res_first >= 0; res_first--) {
		if (!res_first)
			memcpy(buf, otlp_json, sizeof otlp_json);
		char *cut = strstr(buf, "\"spanId\":\"0000000000000003\"");
		assert_non_null(cut);
		cut[0] = '!'; /* the third span is no longer JSON */
		struct op_deadletter *dl;
		FILE *f;
		struct op_decoder *d = decoder(OP_FORMAT_OTLP_JSON, &dl, &f);
		struct got g = {0};
		unit(d, buf, strlen(buf), &g);
		/* resource first: the spans before the error are kept; after
		 * its spans: the resource's spans wait for it and are lost */
		assert_int_equal(g.n, res_first ? 2 : 0);
		assert_int_equal(st(d)->rejected, 1);
		assert_int_equal(st(d)->by_reason[OP_REJECT_SYNTAX], 1);
		done(d, dl, f);
	}
}

/* A resource attribute that names the service or the host with a value
 * that is not a string comes as that value's JSON text, which no limit
 * bounded: longer than max_field_bytes (64 here) it fails its resource,
 * whose spans are rejected once whether they come before or after it,
 * and the resources around it are decoded; at the limit it names the
 * host. (It was copied into a slot of max_field_bytes unchecked.) */
static void
otlp_json_long_resource_value_fails_its_resource(void **state)
{
	(void)state;
	/* an arrayValue's text: {"values":[{"stringValue":"x..x"}]}, 31 + k
	 * bytes */
	char v64[80], v65[80], doc[2048];
	snprintf(v64, sizeof v64, "{\"values\":[{\"stringValue\":\"%.*s\"}]}", 33,
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	snprintf(v65, sizeof v65, "{\"values\":[{\"stringValue\":\"%.*s\"}]}", 34,
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(strlen(v64), 64);
	assert_int_equal(strlen(v65), 65);
#define OJ_SPANS(id) \
	"\"scopeSpans\":[{\"spans\":[{\"traceId\":" \
	"\"00000000000000000000000000000007\",\"spanId\":\"000000000000000" id \
	"\",\"name\":\"n\"}]}]"
	int n = snprintf(doc, sizeof doc,
	    "{\"resourceSpans\":["
	    "{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":"
	    "{\"arrayValue\":%s}}]}," OJ_SPANS("1") "},"
	    "{" OJ_SPANS("2") ",\"resource\":{\"attributes\":[{\"key\":"
	    "\"service.name\",\"value\":{\"arrayValue\":%s}}]}},"
	    "{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":"
	    "{\"arrayValue\":%s}}]}," OJ_SPANS("3") "},"
	    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
	    "{\"stringValue\":\"ok\"}}]}," OJ_SPANS("4") "}]}",
	    v65, v65, v64);
#undef OJ_SPANS
	struct op_deadletter *dl;
	FILE *f;
	struct got g = {0};
	struct op_decoder *d =
	    decoded(OP_FORMAT_OTLP_JSON, doc, n, sizeof doc, &g, &dl, &f);
	assert_int_equal(g.n, 2);
	assert_int_equal(ev(&g, 0)->event_id, 3);
	assert_true(field_is(ev(&g, 0), OP_EV_HOST, v64));
	assert_int_equal(ev(&g, 1)->event_id, 4);
	assert_true(field_is(ev(&g, 1), OP_EV_AGENT, "ok"));
	assert_int_equal(st(d)->rejected, 2);
	assert_int_equal(st(d)->by_reason[OP_REJECT_FIELD_TOO_LONG], 2);
	done(d, dl, f);
}

/* 64-bit integers, as strings or numbers (startTimeUnixNano): up to 19
 * digits read a word at a time, 20 checked against overflow, more, none,
 * a sign, a fraction or any other byte a bad number (which ends the
 * unit). */
static void
otlp_json_u64_values(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int ok;
		uint64_t want;
	} cases[] = {
		{"\"0\"", 1, 0},
		{"0", 1, 0},
		{"\"1234567\"", 1, 1234567},
		{"\"12345678\"", 1, 12345678},
		{"\"9999999999999999999\"", 1, 9999999999999999999ull},
		{"9999999999999999999", 1, 9999999999999999999ull},
		{"\"18446744073709551615\"", 1, UINT64_MAX},
		{"18446744073709551615", 1, UINT64_MAX},
		{"\"00000000000000000001\"", 1, 1},
		{"\"18446744073709551616\"", 0, 0},
		{"18446744073709551616", 0, 0},
		{"\"99999999999999999999\"", 0, 0},
		{"\"123456789012345678901\"", 0, 0},
		{"\"\"", 0, 0},
		{"\"12a\"", 0, 0},
		{"\"1234567890123456a\"", 0, 0},
		{"\"1.5\"", 0, 0},
		{"1.5", 0, 0},
		{"1e3", 0, 0},
		{"-1", 0, 0},
		{"\"-1\"", 0, 0},
		{"\" 1\"", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char doc[512];
		int n = snprintf(doc, sizeof doc,
		    "{\"resourceSpans\":[{\"resource\":{},\"scopeSpans\":[{"
		    "\"spans\":[{\"traceId\":\"00000000000000000000000000000007\","
		    "\"spanId\":\"0000000000000001\",\"name\":\"n\","
		    "\"startTimeUnixNano\":%s}]}]}]}", cases[i].v);
		struct op_deadletter *dl;
		FILE *f;
		struct got g = {0};
		struct op_decoder *d =
		    decoded(OP_FORMAT_OTLP_JSON, doc, n, sizeof doc, &g, &dl, &f);
		assert_int_equal(g.n, cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(ev(&g, 0)->start_ns, cases[i].want);
		else
			assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_NUMBER], 1);
		done(d, dl, f);
	}
}

/* The JSON cursor's strings and blanks, through OTLP JSON span names: a
 * name at the field limit (64 here) is kept and one byte more is too
 * long; UTF-8 is kept as it is and checked (a stray byte is bad UTF-8),
 * a raw control byte is a syntax error, an escape is unescaped; and the
 * same document with blanks (space, tab, CR, LF) around every token
 * decodes to the same events. */
static void
otlp_json_cursor_strings_and_blanks(void **state)
{
	(void)state;
	static const char x64[] =
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	char n65[80];
	snprintf(n65, sizeof n65, "%sx", x64);
	static const struct {
		const char *name; /* as written in the document */
		enum op_reject why;   /* NONE: kept, as kept */
		const char *kept;
	} cases[] = {
		{x64, OP_REJECT_NONE, x64},
		{NULL, OP_REJECT_FIELD_TOO_LONG, NULL}, /* n65 */
		{"caf\xc3\xa9 \xe2\x82\xac", OP_REJECT_NONE, "caf\xc3\xa9 \xe2\x82\xac"},
		{"bad\xff", OP_REJECT_BAD_UTF8, NULL},
		{"\xc3", OP_REJECT_BAD_UTF8, NULL},
		{"ctl\x01", OP_REJECT_SYNTAX, NULL},
		{"a\\\"b\\u00e9", OP_REJECT_NONE, "a\"b\xc3\xa9"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char doc[512];
		int n = snprintf(doc, sizeof doc,
		    "{\"resourceSpans\":[{\"resource\":{},\"scopeSpans\":[{"
		    "\"spans\":[{\"traceId\":\"00000000000000000000000000000007\","
		    "\"spanId\":\"0000000000000001\",\"name\":\"%s\"}]}]}]}",
		    cases[i].name ? cases[i].name : n65);
		struct op_deadletter *dl;
		FILE *f;
		struct got g = {0};
		struct op_decoder *d =
		    decoded(OP_FORMAT_OTLP_JSON, doc, n, sizeof doc, &g, &dl, &f);
		if (cases[i].why == OP_REJECT_NONE) {
			assert_int_equal(g.n, 1);
			assert_true(field_is(ev(&g, 0), OP_EV_LABEL, cases[i].kept));
		} else {
			assert_int_equal(g.n, 0);
			assert_int_equal(st(d)->by_reason[cases[i].why], 1);
		}
		done(d, dl, f);
	}
	/* blanks around every token of a document (no nested values: those
	 * are kept as their JSON text, blanks and all) */
	static const char plain[] =
	    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
	    "\"service.name\",\"value\":{\"stringValue\":\"api\"}}]},"
	    "\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":[{\"traceId\":"
	    "\"00000000000000000000000000000007\",\"spanId\":\"0000000000000001\","
	    "\"name\":\"root\",\"startTimeUnixNano\":\"1000\","
	    "\"endTimeUnixNano\":2000,\"attributes\":[{\"key\":\"k\",\"value\":"
	    "{\"intValue\":\"5\"}},{\"key\":\"b\",\"value\":{\"boolValue\":true}}]},"
	    "{\"traceId\":\"00000000000000000000000000000007\",\"spanId\":"
	    "\"0000000000000002\",\"parentSpanId\":\"0000000000000001\","
	    "\"name\":\"child\",\"kind\":2}]}]}]}";
	static const char blanks[] = " \t\r\n";
	char spaced[4 * sizeof plain];
	size_t k = 0, b = 0;
	int in_str = 0;
	for (const char *p = plain; *p; p++) {
		int quote = *p == '"' && (p == plain || p[-1] != '\\');
		int tok = !in_str && strchr("{}[],:", *p);
		if (tok || (quote && !in_str)) /* before a token or a string */
			spaced[k++] = blanks[b++ % 4];
		spaced[k++] = *p;
		if (quote)
			in_str = !in_str;
		if (tok || (quote && !in_str)) /* after a token or a string */
			spaced[k++] = blanks[b++ % 4];
	}
	struct got g0 = {0}, g1 = {0};
	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_OTLP_JSON, &dl, &f);
	unit(d, plain, strlen(plain), &g0);
	unit(d, spaced, k, &g1);
	assert_int_equal(g0.n, 2);
	assert_int_equal(g0.n, g1.n);
	for (int i = 0; i < g0.n; i++) {
		assert_int_equal(g0.len[i], g1.len[i]);
		assert_memory_equal(g0.rec[i], g1.rec[i], g0.len[i]);
	}
	done(d, dl, f);
}

/* ---- Zipkin v2 -------------------------------------------------------- */

/* The example of zipkin's API documentation (a 64-bit trace id), its
 * 128-bit form, and a shared server span. */
static const char zipkin[] =
	"[{\"traceId\":\"5af7183fb1d4cf5f\",\"parentId\":\"6b221d5bc9e6496c\","
	"\"id\":\"352bff9a74ca9ad2\",\"kind\":\"CLIENT\",\"name\":\"query\","
	"\"timestamp\":1556604172355737,\"duration\":1431,\"localEndpoint\":"
	"{\"serviceName\":\"backend\",\"ipv4\":\"192.168.99.1\",\"port\":3306},"
	"\"remoteEndpoint\":{\"ipv4\":\"127.0.0.1\",\"port\":3306},"
	"\"tags\":{\"jdbc.query\":\"select\",\"error\":\"oops\"}},"
	"{\"traceId\":\"00000000000000005af7183fb1d4cf5f\",\"id\":\"6b221d5bc9e6496c\","
	"\"name\":\"get\",\"timestamp\":1556604172355000,\"localEndpoint\":"
	"{\"serviceName\":\"frontend\",\"ipv6\":\"::1\"}},"
	"{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"352bff9a74ca9ad2\",\"shared\":true,"
	"\"kind\":\"SERVER\",\"name\":\"query\",\"localEndpoint\":{\"serviceName\":\"db\"}},"
	"{\"traceId\":\"5af7183fb1d4cf5\",\"id\":\"352bff9a74ca9ad3\"}]";

static void
zipkin_maps_spans(void **state)
{
	(void)state;
	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_ZIPKIN, &dl, &f);
	struct got g = {0};
	unit(d, zipkin, strlen(zipkin), &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_ID_LENGTH], 1);
	const struct op_event *e = ev(&g, 0);
	assert_int_equal(e->trace_id, 0x5af7183fb1d4cf5full);
	assert_int_equal(e->event_id, 0x352bff9a74ca9ad2ull);
	assert_int_equal(op_event_parents(e)[0], 0x6b221d5bc9e6496cull);
	assert_int_equal(e->start_ns, 1556604172355737000ull);
	assert_int_equal(e->end_ns, (1556604172355737ull + 1431) * 1000);
	assert_true(e->flags & OP_EV_ERROR);
	assert_true(field_is(e, OP_EV_HOST, "192.168.99.1"));
	assert_true(field_is(e, OP_EV_AGENT, "backend"));
	assert_true(has_kv(e, "jdbc.query", "select"));
	e = ev(&g, 1); /* the 128-bit spelling of the same trace */
	assert_int_equal(e->trace_id, 0x5af7183fb1d4cf5full);
	assert_false(e->flags & OP_EV_HAS_END); /* no duration */
	assert_true(field_is(e, OP_EV_HOST, "::1"));
	e = ev(&g, 2); /* shared: its own id, below the client half */
	assert_true(e->event_id != 0x352bff9a74ca9ad2ull);
	assert_int_equal(op_event_parents(e)[0], 0x352bff9a74ca9ad2ull);
	done(d, dl, f);
}

/* weft's own Zipkin tags: host.name names the host (over ipv4) and
 * weft.links adds parents after parentId, in order. */
static void
zipkin_weft_tags(void **state)
{
	(void)state;
	static const char z[] =
		"[{\"tags\":{\"weft.links\":\"0000000000000003,0000000000000004\","
		"\"host.name\":\"dn7\",\"k\":\"v\"},\"traceId\":\"00000000000000aa\","
		"\"id\":\"0000000000000009\",\"parentId\":\"0000000000000002\","
		"\"localEndpoint\":{\"serviceName\":\"s\",\"ipv4\":\"10.0.0.1\"}},"
		"{\"traceId\":\"00000000000000aa\",\"id\":\"000000000000000a\","
		"\"tags\":{\"weft.links\":\"000000000000003x\"}}]";
	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_ZIPKIN, &dl, &f);
	struct got g = {0};
	unit(d, z, strlen(z), &g);
	assert_int_equal(g.n, 1);
	const struct op_event *e = ev(&g, 0);
	assert_int_equal(e->n_parents, 3);
	assert_int_equal(op_event_parents(e)[0], 2);
	assert_int_equal(op_event_parents(e)[1], 3);
	assert_int_equal(op_event_parents(e)[2], 4);
	assert_true(field_is(e, OP_EV_HOST, "dn7"));
	assert_int_equal(e->n_kv, 1); /* weft's tags are not kept as pairs */
	assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_ID], 1);
	done(d, dl, f);
}

/* Hex ids, read eight digits at a time: every digit position of a 16-digit
 * span id and a 32-digit trace id, with each kind of byte that is not a
 * hex digit there (neighbours of '0'-'9', 'a'-'f' and 'A'-'F' among
 * them), is a bad id, and a good id of mixed case reads as a digit-at-a-
 * time reference reads it (a 32-digit one with a non-zero high half is
 * the XXH3 of its 16 bytes). */
static uint64_t
ref_hex(const char *s, size_t n, unsigned char *raw)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned h = c <= '9' ? (unsigned)(c - '0')
		                      : (unsigned)((c | 0x20) - 'a' + 10);
		v = v << 4 | h;
		if (i % 2)
			raw[i / 2] = (unsigned char)(v & 0xFF);
	}
	return v;
}

static void
zipkin_hex_ids_every_digit(void **state)
{
	(void)state;
	static const char bad[] = "/:@`gGxX -";
	static const char digits[] = "0123456789abcdefABCDEF";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t len = 16; len <= 32; len += 16) {
		for (size_t pos = 0; pos < len; pos++) {
			char good[33], id[33], span[17];
			for (size_t i = 0; i < len; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				good[i] = digits[x % (sizeof digits - 1)];
			}
			good[len] = '\0';
			good[0] = '7'; /* a non-zero high half */
			memcpy(span, good + len - 16, 16);
			span[16] = '\0';
			if (span[0] == '0')
				span[0] = 'B'; /* a non-zero span id */
			char z[4096];
			int n = snprintf(z, sizeof z,
			                 "[{\"traceId\":\"%s\",\"id\":\"%s\"}", good,
			                 span);
			for (size_t b = 0; b < sizeof bad - 1; b++) {
				memcpy(id, good, len + 1);
				id[pos] = bad[b];
				/* the bad byte in the trace id; in the span id too
				 * where the position is one of its 16 */
				n += snprintf(z + n, sizeof z - (size_t)n,
				              ",{\"traceId\":\"%s\",\"id\":\"%s\"}", id,
				              span);
				if (pos < 16) {
					memcpy(id, span, 17);
					id[pos] = bad[b];
					n += snprintf(z + n, sizeof z - (size_t)n,
					              ",{\"traceId\":\"%s\",\"id\":\"%s\"}",
					              good, id);
				}
			}
			n += snprintf(z + n, sizeof z - (size_t)n, "]");
			struct op_deadletter *dl;
			FILE *f;
			struct got g = {0};
			struct op_decoder *d = decoded(OP_FORMAT_ZIPKIN, z, n,
			                               sizeof z, &g, &dl, &f);
			assert_int_equal(g.n, 1);
			unsigned char raw[16], sraw[8];
			uint64_t want = ref_hex(good, len, raw);
			if (len == 32)
				want = XXH3_64bits(raw, 16);
			assert_int_equal(ev(&g, 0)->trace_id, want);
			assert_int_equal(ev(&g, 0)->event_id, ref_hex(span, 16, sraw));
			assert_int_equal(st(d)->by_reason[OP_REJECT_BAD_ID],
			                 (sizeof bad - 1) * (pos < 16 ? 2 : 1));
			done(d, dl, f);
		}
	}
}

/* ---- detection, auto, hints, the size-prefixed splitter --------------- */

static void
sniff_recognises_each_format(void **state)
{
	(void)state;
	struct pbw spans = {.n = 0}, msg = {.n = 0};
	pb_span(&spans, 7, 1, 0, "r");
	pb_resource(&msg, "s", NULL, &spans, 0);
	assert_int_equal(op_format_sniff(msg.b, msg.n), OP_FORMAT_OTLP_PROTO);
	assert_int_equal(op_format_sniff(otlp_json, strlen(otlp_json)),
	                 OP_FORMAT_OTLP_JSON);
	assert_int_equal(op_format_sniff(zipkin, strlen(zipkin)), OP_FORMAT_ZIPKIN);
	const char *x = "{\"TaskID\":\"01\",\"EventID\":\"02\"}";
	assert_int_equal(op_format_sniff(x, strlen(x)), OP_FORMAT_JSON_V4);
	const char *t = "X-Trace Report ver 1.0\nX-Trace: 1\n";
	assert_int_equal(op_format_sniff(t, strlen(t)), OP_FORMAT_TEXT);
	assert_int_equal(op_format_sniff("hello", 5), OP_FORMAT__COUNT);
	assert_int_equal(op_format_split_mode(OP_FORMAT_AUTO, t, strlen(t)),
	                 OP_SPLIT_REPORTS);
	uint8_t framed[16] = {0, 0, 0, 12};
	memcpy(framed + 4, msg.b, 12);
	assert_int_equal(op_format_split_mode(OP_FORMAT_AUTO, framed, 16),
	                 OP_SPLIT_LEN32);
	assert_int_equal(op_format_split_mode(OP_FORMAT_AUTO, x, strlen(x)),
	                 OP_SPLIT_LINES);
}

static void
auto_decodes_mixed_lines_and_hints(void **state)
{
	(void)state;
	struct op_deadletter *dl;
	FILE *f;
	struct op_decoder *d = decoder(OP_FORMAT_AUTO, &dl, &f);
	struct got g = {0};
	char in[8192];
	snprintf(in, sizeof in, "%s\n%s\n{\"TaskID\":\"0a\",\"EventID\":\"1\"}\nnot a trace\n",
	         otlp_json, zipkin);
	assert_int_equal(op_decoder_feed(d, in, strlen(in), keep, &g), 0);
	assert_int_equal(op_decoder_finish(d, keep, &g), 0);
	assert_int_equal(g.n, 3 + 3 + 1);
	assert_int_equal(st(d)->units, 4);
	assert_int_equal(st(d)->by_reason[OP_REJECT_UNKNOWN_FORMAT], 1);
	assert_int_equal(st(d)->looks_like[OP_FORMAT__COUNT], 1);
	char hint[256];
	op_format_hint(OP_FORMAT_AUTO, st(d)->looks_like, hint, sizeof hint);
	assert_non_null(strstr(hint, "not a trace format weft reads"));
	done(d, dl, f);

	/* Zipkin read as X-Trace JSON: every unit rejected, the hint names
	 * the format to use */
	d = decoder(OP_FORMAT_JSON_V4, &dl, &f);
	g.n = 0;
	unit(d, zipkin, strlen(zipkin), &g);
	assert_int_equal(g.n, 0);
	op_format_hint(OP_FORMAT_JSON_V4, st(d)->looks_like, hint, sizeof hint);
	assert_string_equal(hint, "these look like Zipkin v2 spans; use --format zipkin");
	done(d, dl, f);
}

static void
len32_splitter_cuts_across_chunks(void **state)
{
	(void)state;
	struct pbw spans = {.n = 0}, msg = {.n = 0};
	pb_span(&spans, 7, 1, 0, "r");
	pb_span(&spans, 7, 2, 1, "c");
	pb_resource(&msg, "s", NULL, &spans, 0);
	uint8_t in[3 * 8192];
	size_t n = 0;
	for (int i = 0; i < 2; i++) {
		in[n++] = 0;
		in[n++] = 0;
		in[n++] = (uint8_t)(msg.n >> 8);
		in[n++] = (uint8_t)msg.n;
		memcpy(in + n, msg.b, msg.n);
		n += msg.n;
	}
	memset(in + n, 0, 4); /* an empty message: skipped */
	n += 4;
	in[n++] = 0; /* a cut size prefix at the end: truncated */
	for (size_t step = 1; step <= n; step += step < 8 ? 1 : 37) {
		struct op_deadletter *dl;
		FILE *f;
		struct op_decoder *d = decoder(OP_FORMAT_OTLP_PROTO, &dl, &f);
		struct got g = {0};
		for (size_t off = 0; off < n; off += step)
			op_decoder_feed(d, in + off, off + step < n ? step : n - off,
			                keep, &g);
		op_decoder_finish(d, keep, &g);
		assert_int_equal(g.n, 4);
		assert_int_equal(st(d)->units, 3);
		assert_int_equal(st(d)->by_reason[OP_REJECT_TRUNCATED], 1);
		done(d, dl, f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(otlp_pb_maps_spans),
		cmocka_unit_test(otlp_pb_bad_spans_rejected_alone),
		cmocka_unit_test(otlp_pb_nested_values_are_their_otlp_json_text),
		cmocka_unit_test(otlp_pb_truncated_keeps_what_came_before),
		cmocka_unit_test(otlp_json_maps_spans),
		cmocka_unit_test(otlp_json_syntax_error_keeps_earlier_spans),
		cmocka_unit_test(otlp_json_long_resource_value_fails_its_resource),
		cmocka_unit_test(otlp_json_u64_values),
		cmocka_unit_test(otlp_json_cursor_strings_and_blanks),
		cmocka_unit_test(zipkin_maps_spans),
		cmocka_unit_test(zipkin_weft_tags),
		cmocka_unit_test(zipkin_hex_ids_every_digit),
		cmocka_unit_test(sniff_recognises_each_format),
		cmocka_unit_test(auto_decodes_mixed_lines_and_hints),
		cmocka_unit_test(len32_splitter_cuts_across_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

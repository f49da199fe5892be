/*
 * bench_otlp.c — `weft bench otlp` (bench_otlp.h).
 *
 * Every row does the same job on the same input: decode each message (or
 * line) and lay every span out as weft's op_event record with the same
 * builder, so the comparison is "bytes to our record", not "parse". The
 * protobuf-c row unpacks each message into its generated structs (one
 * allocation per submessage, freed after), walks them, and maps the same
 * fields the way weft's decoder does; it is built when protoc-c and
 * libprotobuf-c are there (bench/otlp/otlp_trace.proto), else the row
 * says so. One thread, R runs over the whole input, median run reported.
 */
#include "bench/bench_otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bench/bench.h"
#include "common/common.h"
#include "common/opt.h"
#include "operators/ingest/decode.h"

#ifdef WEFT_HAVE_PROTOBUF_C
#include "otlp_trace.pb-c.h"
#endif

struct otlp_opts {
	const char *proto, *json, *xtrace, *markdown;
	unsigned runs;
};

#define OO(f) offsetof(struct otlp_opts, f)
static const struct weft_opt otlp_tab[] = {
	{.name = "proto", .kind = WEFT_OPT_STR, .off = OO(proto), .meta = "F",
	 .help = "size-prefixed OTLP protobuf (weft sim import-tracebench "
	 "--format otlp-proto)"},
	{.name = "otlp-json", .kind = WEFT_OPT_STR, .off = OO(json), .meta = "F",
	 .help = "OTLP JSON lines of the same events"},
	{.name = "xtrace", .kind = WEFT_OPT_STR, .off = OO(xtrace), .meta = "F",
	 .help = "X-Trace JSON lines of the same events"},
	{.name = "runs", .kind = WEFT_OPT_UINT, .off = OO(runs), .meta = "R",
	 .help = "runs per row (median reported)", .lo = 1, .hi = 1000},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = OO(markdown),
	 .meta = "FILE", .help = "also write the table here"},
	{0},
};
static const struct weft_cmd otlp_cmd = {
	.name = "weft bench otlp",
	.usage = "--proto F --otlp-json F --xtrace F [options]",
	.about = "OTLP decode throughput per core: weft vs protobuf-c on the "
	         "same protobuf bytes,\nOTLP JSON vs X-Trace JSON on the same events.",
	.opts = otlp_tab,
};

/* The input, cut into units. */
struct corpus {
	char *data;
	size_t len;
	size_t *off, *ulen;
	size_t n;
};

static int
corpus_load(const char *path, int framed, struct corpus *c)
{
	memset(c, 0, sizeof *c);
	FILE *f = fopen(path, "rb");
	if (!f)
		return WEFT_EIO;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	c->data = malloc((size_t)sz + 1);
	if (!c->data || fread(c->data, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		return WEFT_EIO;
	}
	fclose(f);
	c->len = (size_t)sz;
	size_t cap = 1024;
	c->off = malloc(cap * sizeof *c->off);
	c->ulen = malloc(cap * sizeof *c->ulen);
	for (size_t p = 0; p < c->len;) {
		size_t o, l;
		if (framed) {
			const unsigned char *h = (const unsigned char *)c->data + p;
			if (c->len - p < 4)
				break;
			l = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
			o = p + 4;
			if (l > c->len - o)
				break;
			p = o + l;
		} else {
			const char *nl = memchr(c->data + p, '\n', c->len - p);
			o = p;
			l = nl ? (size_t)(nl - (c->data + p)) : c->len - p;
			p += l + 1;
		}
		if (c->n == cap) {
			cap *= 2;
			c->off = realloc(c->off, cap * sizeof *c->off);
			c->ulen = realloc(c->ulen, cap * sizeof *c->ulen);
		}
		c->off[c->n] = o;
		c->ulen[c->n++] = l;
	}
	return 0;
}

static void
corpus_free(struct corpus *c)
{
	free(c->data);
	free(c->off);
	free(c->ulen);
}

static int
count(void *arg, const struct op_event *ev, uint32_t len)
{
	(void)ev;
	(void)len;
	++*(uint64_t *)arg;
	return 0;
}

/* One run of weft's decoder of fmt over c: events out. */
static uint64_t
run_weft(struct op_decoder *d, enum op_format fmt, const struct corpus *c)
{
	uint64_t n = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct op_unit u = {.data = c->data + c->off[i], .len = c->ulen[i],
		                    .avail = c->ulen[i], .format = 1u + fmt};
		op_decoder_unit(d, &u, count, &n);
	}
	return n;
}

#ifdef WEFT_HAVE_PROTOBUF_C
typedef Weftbench__Otlp__KeyValue pbc_kv;

static uint64_t
pbc_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The same id rules as weft's decoder (decode_span.c). */
static int
pbc_trace_id(ProtobufCBinaryData b, uint64_t *out)
{
	static const uint8_t zero[8];
	if (b.len != 16)
		return -1;
	*out = memcmp(b.data, zero, 8) ? XXH3_64bits(b.data, 16)
	                               : pbc_be64(b.data + 8);
	return 0;
}

/* A scalar attribute value as text (what weft's decoder keeps). */
static const char *
pbc_text(const Weftbench__Otlp__AnyValue *v, char *buf, size_t cap, size_t *n)
{
	switch (v ? v->value_case : 0) {
	case WEFTBENCH__OTLP__ANY_VALUE__VALUE_STRING_VALUE:
		*n = strlen(v->string_value);
		return v->string_value;
	case WEFTBENCH__OTLP__ANY_VALUE__VALUE_INT_VALUE:
		*n = (size_t)snprintf(buf, cap, "%lld", (long long)v->int_value);
		return buf;
	default:
		*n = 0;
		return "";
	}
}

static int
pbc_span(struct op_event_builder *b, const Weftbench__Otlp__Span *sp,
         const char *svc, const char *host, void *rec)
{
	char buf[64];
	op_event_builder_reset(b);
	if (pbc_trace_id(sp->trace_id, &b->hdr.trace_id) || sp->span_id.len != 8)
		return -1;
	b->hdr.event_id = pbc_be64(sp->span_id.data);
	if (sp->parent_span_id.len == 8)
		op_event_builder_add_parent(b, pbc_be64(sp->parent_span_id.data));
	for (size_t l = 0; l < sp->n_links; l++) {
		uint64_t t;
		if (!pbc_trace_id(sp->links[l]->trace_id, &t) && t == b->hdr.trace_id &&
		    sp->links[l]->span_id.len == 8)
			op_event_builder_add_parent(b, pbc_be64(sp->links[l]->span_id.data));
	}
	op_event_builder_set(b, OP_EV_LABEL, sp->name, strlen(sp->name));
	b->hdr.start_ns = sp->start_time_unix_nano;
	b->hdr.end_ns = sp->end_time_unix_nano;
	b->hdr.flags = OP_EV_HAS_START | OP_EV_HAS_WALL |
	               (sp->end_time_unix_nano ? OP_EV_HAS_END : 0);
	for (size_t a = 0; a < sp->n_attributes; a++) {
		size_t vn;
		const char *v = pbc_text(sp->attributes[a]->value, buf, sizeof buf, &vn);
		op_event_builder_add_kv(b, sp->attributes[a]->key,
		                        strlen(sp->attributes[a]->key), v, vn);
	}
	op_event_builder_set(b, OP_EV_AGENT, svc, strlen(svc));
	op_event_builder_set(b, OP_EV_HOST, host, strlen(host));
	uint32_t len;
	return op_event_builder_finish(b, rec, OP_EVENT_MAX_BYTES, &len);
}

static uint64_t
run_pbc(struct op_event_builder *b, void *rec, const struct corpus *c)
{
	uint64_t n = 0;
	for (size_t i = 0; i < c->n; i++) {
		Weftbench__Otlp__TracesData *td = weftbench__otlp__traces_data__unpack(
		    NULL, c->ulen[i], (const uint8_t *)c->data + c->off[i]);
		if (!td)
			continue;
		for (size_t r = 0; r < td->n_resource_spans; r++) {
			const Weftbench__Otlp__ResourceSpans *rs = td->resource_spans[r];
			const char *svc = "", *host = "";
			for (size_t a = 0; rs->resource && a < rs->resource->n_attributes; a++) {
				const pbc_kv *kv = rs->resource->attributes[a];
				if (!kv->value || kv->value->value_case !=
				    WEFTBENCH__OTLP__ANY_VALUE__VALUE_STRING_VALUE)
					continue;
				if (!strcmp(kv->key, "service.name"))
					svc = kv->value->string_value;
				else if (!strcmp(kv->key, "host.name"))
					host = kv->value->string_value;
			}
			for (size_t s = 0; s < rs->n_scope_spans; s++)
				for (size_t k = 0; k < rs->scope_spans[s]->n_spans; k++)
					n += pbc_span(b, rs->scope_spans[s]->spans[k], svc,
					              host, rec) == 0;
		}
		weftbench__otlp__traces_data__free_unpacked(td, NULL);
	}
	return n;
}
#endif

/* R runs of one row: median seconds; *events from the last run. */
static double
timed(int row, struct op_decoder *d, enum op_format fmt,
      const struct corpus *c, unsigned runs, uint64_t *events)
{
	double *t = calloc(runs, sizeof *t);
#ifdef WEFT_HAVE_PROTOBUF_C
	struct op_event_builder b;
	void *rec = aligned_alloc(8, OP_EVENT_MAX_BYTES);
	op_event_builder_init(&b, OP_EVENT_MAX_BYTES, 4096, 4096);
#endif
	for (unsigned r = 0; r < runs; r++) {
		uint64_t t0 = bench_now_ns();
#ifdef WEFT_HAVE_PROTOBUF_C
		*events = row ? run_pbc(&b, rec, c) : run_weft(d, fmt, c);
#else
		(void)row;
		*events = run_weft(d, fmt, c);
#endif
		t[r] = (double)(bench_now_ns() - t0) / 1e9;
	}
	double m = bench_median(t, runs);
	free(t);
#ifdef WEFT_HAVE_PROTOBUF_C
	op_event_builder_free(&b);
	free(rec);
#endif
	return m;
}

static void
row(struct bench_table *tb, const char *name, const struct corpus *c,
    uint64_t events, double secs, double base)
{
	char cells[512];
	snprintf(cells, sizeof cells, "%s | %zu | %.1f | %llu | %.2f | %.0f | %.2fx",
	         name, c->n, (double)c->len / 1e6, (unsigned long long)events,
	         (double)events / secs / 1e6, (double)c->len / secs / 1e6,
	         base > 0 ? base / secs : 1.0);
	bench_table_row(tb, cells);
}

int
bench_otlp_main(int argc, char **argv)
{
	struct otlp_opts o = {.runs = 7};
	int urc = weft_opt_run(&otlp_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	if (!o.proto || !o.json || !o.xtrace) {
		fprintf(stderr, "weft bench otlp: --proto, --otlp-json and --xtrace are needed\n");
		return 2;
	}
	struct corpus pb, js, xt;
	if (corpus_load(o.proto, 1, &pb) || corpus_load(o.json, 0, &js) ||
	    corpus_load(o.xtrace, 0, &xt)) {
		fprintf(stderr, "weft bench otlp: cannot read the inputs\n");
		return 1;
	}
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	cfg.max_line_bytes = cfg.max_message_bytes = 64u << 20;
	struct op_decoder *d;
	if (op_decoder_new(OP_FORMAT_AUTO, &cfg, "bench", NULL, &d))
		return 1;
	uint64_t ev[4] = {0};
	double s_weft = timed(0, d, OP_FORMAT_OTLP_PROTO, &pb, o.runs, &ev[0]);
	double s_pbc = 0;
#ifdef WEFT_HAVE_PROTOBUF_C
	s_pbc = timed(1, d, OP_FORMAT_OTLP_PROTO, &pb, o.runs, &ev[1]);
#endif
	double s_xt = timed(0, d, OP_FORMAT_JSON_V4, &xt, o.runs, &ev[2]);
	double s_js = timed(0, d, OP_FORMAT_OTLP_JSON, &js, o.runs, &ev[3]);
	struct bench_table *tb = bench_table_new("OTLP decode, one core (median of runs)");
	bench_table_columns(tb, "decoder | units | MB | spans | M spans/s | MB/s | "
	                    "speed vs baseline");
	row(tb, "weft OTLP protobuf", &pb, ev[0], s_weft, s_pbc);
#ifdef WEFT_HAVE_PROTOBUF_C
	row(tb, "protobuf-c (baseline)", &pb, ev[1], s_pbc, s_pbc);
#else
	bench_table_row(tb, "protobuf-c | - | - | - | - | - | not built (no protoc-c)");
#endif
	row(tb, "weft X-Trace JSON (baseline)", &xt, ev[2], s_xt, s_xt);
	row(tb, "weft OTLP JSON", &js, ev[3], s_js, s_xt);
	bench_table_print(tb, stdout);
	if (o.markdown)
		(void)bench_write_markdown(o.markdown, "weft bench otlp", argc, argv,
		                           "", (const struct bench_table *[]){tb, NULL});
	bench_table_free(tb);
	op_decoder_free(d);
	corpus_free(&pb);
	corpus_free(&js);
	corpus_free(&xt);
	return ev[0] == ev[2] && ev[3] == ev[2] ? 0 : 1;
}

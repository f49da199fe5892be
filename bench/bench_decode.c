/*
 * bench_decode.c — v4 JSON decode throughput, per core: weft's hand-written
 * decoder vs json-c vs jansson vs simdjson (On-Demand, via the C++ shim
 * bench_simdjson.cpp; the row says so when the build has no simdjson).
 *
 * All four do the same job on the same generated lines (~300-400 bytes,
 * the shape the Brown X-Trace server writes): parse one line, pull out ids,
 * parents, times and texts, and build the op_event record with the same
 * builder. So the comparison is "decode a report into our record", not
 * "parse JSON", and the libraries are charged for their tree + allocations
 * and for the walk over it. json-c reuses one tokener; jansson uses
 * json_loadb; simdjson reuses one On-Demand parser and reads each line in
 * place (the corpus buffer is padded, see corpus_fill). One thread, so rates are per core; each decoder runs R times
 * over all lines and the median run is reported.
 */
#include "bench/bench_decode.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef WEFT_SIMDJSON_HASWELL
#include <cpuid.h>
#endif

#include <json-c/json.h>

#include "bench/bench.h"
#include "common/opt.h"
#include "engine/engine.h"
#include "operators/ingest/decode.h"

/*
 * jansson and json-c both define json_object_iter, json_object_iter_next,
 * json_type, ... : one file cannot include both headers, and one process
 * cannot link both (the dynamic linker binds jansson's own calls to json-c's
 * functions of the same name). So json-c is linked, and jansson 2.14 is
 * loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), its few entry points
 * looked up by name. Layout from jansson.h: json_t is {json_type type;
 * size_t refcount}; json_error_t is 3 ints + 80 + 160 chars.
 */
struct jn_value {
	int type; /* JSON_OBJECT 0, ARRAY 1, STRING 2, INTEGER 3, ... */
	volatile size_t refcount;
};
struct jn_error {
	int line, column, position;
	char source[80];
	char text[160];
};
enum { JN_OBJECT = 0, JN_ARRAY = 1, JN_STRING = 2, JN_INTEGER = 3 };
#define JN_COMPACT 0x20
#define JN_ENCODE_ANY 0x200
static struct {
	struct jn_value *(*loadb)(const char *, size_t, size_t, struct jn_error *);
	void (*delete_)(struct jn_value *);
	void *(*object_iter)(struct jn_value *);
	void *(*object_iter_next)(struct jn_value *, void *);
	const char *(*object_iter_key)(void *);
	struct jn_value *(*object_iter_value)(void *);
	const char *(*string_value)(const struct jn_value *);
	size_t (*string_length)(const struct jn_value *);
	long long (*integer_value)(const struct jn_value *);
	size_t (*array_size)(const struct jn_value *);
	struct jn_value *(*array_get)(const struct jn_value *, size_t);
	char *(*dumps)(const struct jn_value *, size_t);
} jn;

/* Returns 0 when jansson could be loaded. */
static int
jn_load(void)
{
	void *h = dlopen("libjansson.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (!h)
		return -1;
#define SYM(f, name) if (!(*(void **)&jn.f = dlsym(h, name))) return -1
	SYM(loadb, "json_loadb");
	SYM(delete_, "json_delete");
	SYM(object_iter, "json_object_iter");
	SYM(object_iter_next, "json_object_iter_next");
	SYM(object_iter_key, "json_object_iter_key");
	SYM(object_iter_value, "json_object_iter_value");
	SYM(string_value, "json_string_value");
	SYM(string_length, "json_string_length");
	SYM(integer_value, "json_integer_value");
	SYM(array_size, "json_array_size");
	SYM(array_get, "json_array_get");
	SYM(dumps, "json_dumps");
#undef SYM
	/* Deep binding resolves jansson's malloc to libc's, while this process
	 * may run on jemalloc: hand jansson our allocator so what it allocates
	 * (json_dumps) can be freed here. */
	void (*set_alloc)(void *(*)(size_t), void (*)(void *));
	if (!(*(void **)&set_alloc = dlsym(h, "json_set_alloc_funcs")))
		return -1;
	set_alloc(malloc, free);
	return 0;
}

static void
jn_decref(struct jn_value *v)
{
	/* json_decref() of jansson.h (an inline there) */
	if (v && v->refcount != (size_t)-1 &&
	    __atomic_sub_fetch(&v->refcount, 1, __ATOMIC_RELEASE) == 0)
		jn.delete_(v);
}

static const char *const labels[] = {
	"DFSClient.create", "NameNode.addBlock", "DataNode.writeBlock",
	"DataXceiver.receiveBlock", "BlockReceiver.flush", "PacketResponder.ack",
	"FSNamesystem.completeFile", "DFSOutputStream.close",
};
static const char *const hosts[] = { "node-01.cluster", "node-02.cluster",
                                     "node-03.cluster", "master.cluster" };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t
rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

#ifdef WEFT_HAVE_SIMDJSON
/* bench_simdjson.cpp. text: lines at text + off[i], len[i] bytes, with at
 * least BENCH_CORPUS_SLACK allocated bytes after each line's end. */
unsigned bench_simdjson_run(const char *text, const uint32_t *off,
                            const uint32_t *len, unsigned n,
                            struct op_event_builder *b, uint64_t *rec,
                            uint32_t rec_cap);
const char *bench_simdjson_version(void);
#endif

/* Allocated bytes after the last line of a corpus: simdjson reads up to
 * SIMDJSON_PADDING (64) bytes past a document (bench_simdjson.cpp checks
 * that it fits). */
#define BENCH_CORPUS_SLACK 64

/* One v4 report line (without newline) into buf; returns its length. */
static int
gen_line(char *buf, size_t cap, unsigned i)
{
	int64_t task = (int64_t)rnd(), ev = (int64_t)rnd();
	int np = (int)(rnd() % 3);
	char parents[128] = "";
	int o = 0;
	for (int k = 0; k < np; k++)
		o += snprintf(parents + o, sizeof parents - (size_t)o, "%s\"%" PRId64 "\"",
		              k ? "," : "", (int64_t)rnd());
	uint64_t hrt = 1404236567000000000ull + i * 1000ull;
	return snprintf(buf, cap,
	    "{\"TaskID\":\"%016" PRIx64 "\",\"EventID\":\"%" PRId64 "\","
	    "\"ParentEventID\":[%s],\"Timestamp\":%" PRIu64 ",\"HRT\":%" PRIu64 ","
	    "\"Cycles\":%" PRIu64 ",\"Host\":\"%s\",\"ProcessID\":%u,"
	    "\"ProcessName\":\"DataNode\",\"ThreadID\":%u,"
	    "\"ThreadName\":\"DataXceiver-%u\",\"Agent\":\"HDFS\","
	    "\"Source\":\"DataXceiver.java:%u\","
	    "\"Label\":\"%s\",\"Tag\":[\"hdfs\",\"write\"],\"Title\":\"writeBlock\"}",
	    (uint64_t)task, ev, parents, hrt / 1000000, hrt, rnd() % 100000000,
	    hosts[rnd() % 4], 1000 + (unsigned)(rnd() % 30000),
	    (unsigned)(rnd() % 500), (unsigned)(rnd() % 255),
	    (unsigned)(rnd() % 900), labels[rnd() % 8]);
}

/* The same kind of event as a classic X-Trace text report (metadata
 * version 1, 8-byte task and op ids), ending with "\n". */
static int
gen_report(char *buf, size_t cap, unsigned i)
{
	uint64_t task = rnd(), op = rnd();
	int np = (int)(rnd() % 3);
	int o = snprintf(buf, cap, "X-Trace Report ver 1.0\nX-Trace: 19%016" PRIX64
	                 "%016" PRIX64 "\n", task, op);
	for (int k = 0; k < np && o < (int)cap; k++)
		o += snprintf(buf + o, cap - (size_t)o, "Edge: %016" PRIX64 "\n", rnd());
	uint64_t ms = 1404236567000ull + i;
	o += snprintf(buf + o, cap - (size_t)o,
	    "Timestamp: %" PRIu64 ".%03u\nHost: %s\nAgent: HDFS\nLabel: %s\n"
	    "ProcessID: %u\nProcessName: DataNode\nThreadID: %u\n"
	    "ThreadName: DataXceiver-%u\nSource: DataXceiver.java:%u\n"
	    "Title: writeBlock\n",
	    ms / 1000, (unsigned)(ms % 1000), hosts[rnd() % 4], labels[rnd() % 8],
	    1000 + (unsigned)(rnd() % 30000), (unsigned)(rnd() % 500),
	    (unsigned)(rnd() % 255), (unsigned)(rnd() % 900));
	return o;
}

struct corpus {
	char *text;     /* all lines, '\n' separated */
	size_t bytes;
	uint32_t *off;  /* start of line i */
	uint32_t *len;
	unsigned n;
};

/* ---- shared field extraction for the library decoders ------------------- */

static uint64_t
id_from_text(const char *s, int hex)
{
	if (s[0] == '-')
		return (uint64_t)0 - strtoull(s + 1, NULL, hex ? 16 : 10);
	return strtoull(s, NULL, hex ? 16 : 10);
}

static int
set_text(struct op_event_builder *b, const char *k, const char *v, size_t vn)
{
	struct op_event *h = &b->hdr;
	if (!strcmp(k, "Host")) return op_event_builder_set(b, OP_EV_HOST, v, vn);
	if (!strcmp(k, "Agent")) return op_event_builder_set(b, OP_EV_AGENT, v, vn);
	if (!strcmp(k, "Label")) return op_event_builder_set(b, OP_EV_LABEL, v, vn);
	if (!strcmp(k, "ProcessName")) return op_event_builder_set(b, OP_EV_PROCESS, v, vn);
	if (!strcmp(k, "ThreadName")) return op_event_builder_set(b, OP_EV_THREAD, v, vn);
	if (!strcmp(k, "TaskID")) { h->trace_id = id_from_text(v, 1); return 0; }
	if (!strcmp(k, "EventID")) { h->event_id = id_from_text(v, 0); return 0; }
	return op_event_builder_add_kv(b, k, strlen(k), v, vn);
}

static int
set_int(struct op_event_builder *b, const char *k, int64_t v)
{
	struct op_event *h = &b->hdr;
	char num[24];
	if (!strcmp(k, "HRT")) { h->start_ns = (uint64_t)v; return 0; }
	if (!strcmp(k, "Timestamp")) { h->wall_ms = v; return 0; }
	if (!strcmp(k, "ProcessID")) { h->process_id = (int32_t)v; return 0; }
	if (!strcmp(k, "ThreadID")) { h->thread_id = v; return 0; }
	int n = snprintf(num, sizeof num, "%" PRId64, v);
	return op_event_builder_add_kv(b, k, strlen(k), num, (size_t)n);
}

/* ---- the decoders ------------------------------------------------------- */

/* weft's own decoders (op_decode_json or op_decode_text) over a corpus. */
typedef int (*weft_decode_fn)(struct op_decoder *, const char *, size_t,
                              const struct op_pos *, void *, uint32_t,
                              uint32_t *);

static unsigned
run_weft(const struct corpus *c, struct op_decoder *d, uint64_t *rec,
         weft_decode_fn decode)
{
	unsigned ok = 0;
	uint32_t len;
	for (unsigned i = 0; i < c->n; i++)
		ok += decode(d, c->text + c->off[i], c->len[i], NULL, rec, 16384,
		             &len) == 0;
	return ok;
}

static unsigned
run_jsonc(const struct corpus *c, struct op_event_builder *b, uint64_t *rec)
{
	unsigned ok = 0;
	uint32_t len;
	json_tokener *tok = json_tokener_new();
	for (unsigned i = 0; i < c->n; i++) {
		json_tokener_reset(tok);
		json_object *o = json_tokener_parse_ex(tok, c->text + c->off[i],
		                                       (int)c->len[i]);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			continue;
		}
		op_event_builder_reset(b);
		int rc = 0;
		struct json_object_iterator it = json_object_iter_begin(o);
		struct json_object_iterator itend = json_object_iter_end(o);
		for (; !json_object_iter_equal(&it, &itend); json_object_iter_next(&it)) {
			const char *k = json_object_iter_peek_name(&it);
			json_object *v = json_object_iter_peek_value(&it);
			switch (json_object_get_type(v)) {
			case json_type_string:
				rc |= set_text(b, k, json_object_get_string(v),
				               (size_t)json_object_get_string_len(v));
				break;
			case json_type_int:
				rc |= set_int(b, k, json_object_get_int64(v));
				break;
			case json_type_array:
				if (!strcmp(k, "ParentEventID")) {
					size_t n = json_object_array_length(v);
					for (size_t p = 0; p < n; p++)
						rc |= op_event_builder_add_parent(b, id_from_text(
						    json_object_get_string(
						        json_object_array_get_idx(v, p)), 0));
				} else {
					const char *s = json_object_to_json_string_ext(
					    v, JSON_C_TO_STRING_PLAIN);
					rc |= op_event_builder_add_kv(b, k, strlen(k), s, strlen(s));
				}
				break;
			default:
				break;
			}
		}
		if (!rc && op_event_builder_finish(b, rec, 16384, &len) == 0)
			ok++;
		json_object_put(o);
	}
	json_tokener_free(tok);
	return ok;
}

static unsigned
run_jansson(const struct corpus *c, struct op_event_builder *b, uint64_t *rec)
{
	unsigned ok = 0;
	uint32_t len;
	for (unsigned i = 0; i < c->n; i++) {
		struct jn_error err;
		struct jn_value *o = jn.loadb(c->text + c->off[i], c->len[i], 0, &err);
		if (!o || o->type != JN_OBJECT) {
			jn_decref(o);
			continue;
		}
		op_event_builder_reset(b);
		int rc = 0;
		for (void *it = jn.object_iter(o); it; it = jn.object_iter_next(o, it)) {
			const char *k = jn.object_iter_key(it);
			struct jn_value *v = jn.object_iter_value(it);
			if (v->type == JN_STRING) {
				rc |= set_text(b, k, jn.string_value(v), jn.string_length(v));
			} else if (v->type == JN_INTEGER) {
				rc |= set_int(b, k, jn.integer_value(v));
			} else if (v->type == JN_ARRAY) {
				if (!strcmp(k, "ParentEventID")) {
					size_t n = jn.array_size(v);
					for (size_t p = 0; p < n; p++)
						rc |= op_event_builder_add_parent(b, id_from_text(
						    jn.string_value(jn.array_get(v, p)), 0));
				} else {
					char *s = jn.dumps(v, JN_COMPACT | JN_ENCODE_ANY);
					if (s) {
						rc |= op_event_builder_add_kv(b, k, strlen(k), s,
						                              strlen(s));
						free(s);
					}
				}
			}
		}
		if (!rc && op_event_builder_finish(b, rec, 16384, &len) == 0)
			ok++;
		jn_decref(o);
	}
	return ok;
}

/* Fills c with n units from gen (lines or reports, '\n'-separated). */
static int
corpus_fill(struct corpus *c, unsigned n, int (*gen)(char *, size_t, unsigned))
{
	c->n = n;
	c->bytes = 0;
	/* Lines are < 1024 bytes each, so the slack after the last line is at
	 * least BENCH_CORPUS_SLACK; earlier lines are followed by later ones. */
	c->text = malloc((size_t)n * 1024 + BENCH_CORPUS_SLACK);
	c->off = malloc(sizeof *c->off * n);
	c->len = malloc(sizeof *c->len * n);
	if (!c->text || !c->off || !c->len)
		return WEFT_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		c->off[i] = (uint32_t)c->bytes;
		int k = gen(c->text + c->bytes, 1023, i);
		c->len[i] = (uint32_t)k;
		c->bytes += (size_t)k;
		c->text[c->bytes++] = '\n';
	}
	return 0;
}

static void
corpus_free(struct corpus *c)
{
	free(c->text);
	free(c->off);
	free(c->len);
}

/* ---- the command -------------------------------------------------------- */

/* `weft bench decode` options; defaults from bd_opts_init(). */
struct bd_opts {
	unsigned lines, runs;
	const char *md;
};

#define BO(f) offsetof(struct bd_opts, f)
static const struct weft_opt bd_opts_tab[] = {
	{.name = "lines", .kind = WEFT_OPT_UINT, .off = BO(lines), .meta = "N",
	 .help = "reports per decoder and round", .lo = 1, .hi = 2000000},
	{.name = "runs", .kind = WEFT_OPT_UINT, .off = BO(runs), .meta = "R",
	 .help = "interleaved rounds (medians over them)", .lo = 1, .hi = 100},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = BO(md), .meta = "FILE",
	 .help = "also write the table to FILE, with the command and the "
	 "machine"},
	{0},
};
static const struct weft_cmd bd_cmd = {
	.name = "weft bench decode",
	.usage = "[options]",
	.about = "Decodes the same generated X-Trace v4 JSON lines with weft's "
	    "decoder, json-c,\njansson and simdjson into the same event record, "
	    "and text reports with weft's\ntext decoder; one thread, so rates "
	    "are per core.",
	.opts = bd_opts_tab,
};

static void
bd_opts_init(struct bd_opts *o)
{
	o->lines = 100000;
	o->runs = 7;
	o->md = NULL;
}

/* Rows: 0 weft JSON, 1 json-c, 2 jansson, 3 simdjson, 4 weft text. */
enum { NDEC = 4 + 1, W_SIMDJSON = 3, W_TEXT = 4 };

/* Why each row has no figures (NULL: it runs); names simdjson's row. */
static void
bd_skips(const char **skip, char *sj_name, size_t sj_cap)
{
	if (jn_load() != 0)
		skip[2] = "libjansson.so.4 not found";
#ifdef WEFT_HAVE_SIMDJSON
	snprintf(sj_name, sj_cap, "simdjson %s (On-Demand, C++ shim)",
	         bench_simdjson_version());
#ifdef WEFT_SIMDJSON_HASWELL
	__builtin_cpu_init();
	/* LZCNT by CPUID (leaf 0x80000001, ECX bit 5): clang's
	 * __builtin_cpu_supports does not know "lzcnt" */
	unsigned ca, cb, cc = 0, cd;
	int lzcnt = __get_cpuid(0x80000001u, &ca, &cb, &cc, &cd) &&
	            (cc & bit_LZCNT);
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi") ||
	    !__builtin_cpu_supports("pclmul") || !lzcnt)
		skip[W_SIMDJSON] = "shim built for AVX2/BMI/PCLMUL/LZCNT, CPU lacks them";
#endif
#else
	(void)sj_name;
	(void)sj_cap;
	skip[W_SIMDJSON] = "not built (needs a C++ compiler and libsimdjson-dev)";
#endif
}

/* The rows of t from rate[which * runs + r]; tmp has room for runs. */
static void
bd_rows(struct bench_table *t, const char *const *names,
        const char *const *skip, const struct corpus *cj,
        const struct corpus *ct, const double *rate, const unsigned *ok,
        unsigned runs, double *tmp)
{
	static const char *const fmts[NDEC] = {"v4 JSON", "v4 JSON", "v4 JSON",
	                                       "v4 JSON", "text"};
	unsigned nlines = cj->n;
	for (int which = 0; which < NDEC; which++) {
		char row[512];
		if (skip[which]) {
			snprintf(row, sizeof row, "%s|%s|%s||||", names[which],
			         fmts[which], skip[which]);
			bench_table_row(t, row);
			continue;
		}
		const struct corpus *c = which == W_TEXT ? ct : cj;
		memcpy(tmp, rate + which * runs, runs * sizeof *tmp);
		double ev_s = bench_median(tmp, runs);
		double mb_s = ev_s * ((double)c->bytes / nlines) / 1e6;
		char ratio[32] = "-";
		if (which >= 1 && which <= W_SIMDJSON) {
			for (unsigned r = 0; r < runs; r++)
				tmp[r] = rate[r] / rate[which * runs + r];
			double rm = bench_median(tmp, runs);
			if (rm < 10) /* close calls (simdjson) get two decimals */
				snprintf(ratio, sizeof ratio, "%.2fx", rm);
			else
				snprintf(ratio, sizeof ratio, "%.1fx", rm);
		}
		snprintf(row, sizeof row, "%s|%s|%.2f M|%.0f|%.0f|%u/%u|%s",
		         names[which], fmts[which], ev_s / 1e6, mb_s, 1e9 / ev_s,
		         ok[which], nlines, ratio);
		bench_table_row(t, row);
		if (ok[which] != nlines)
			fprintf(stderr, "bench decode: %s decoded only %u of %u\n",
			        names[which], ok[which], nlines);
	}
}

int
bench_decode_main(int argc, char **argv)
{
	struct bd_opts o;
	bd_opts_init(&o);
	int urc = weft_opt_run(&bd_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	unsigned nlines = o.lines, runs = o.runs;
	const char *md = o.md;
	struct corpus cj = {0}, ct = {0};
	uint64_t *rec = aligned_alloc(8, 16384);
	struct op_event_builder b;
	struct op_decoder *dj = NULL, *dt = NULL;
	struct bench_table *t = NULL;
	int rc = WEFT_ENOMEM;
	if (!rec || op_event_builder_init(&b, 16384, 64, 32) != 0)
		goto out_nob;
	if (corpus_fill(&cj, nlines, gen_line) || corpus_fill(&ct, nlines, gen_report))
		goto out;
	if ((rc = op_decoder_new(OP_FORMAT_JSON_V4, NULL, "bench", NULL, &dj)) ||
	    (rc = op_decoder_new(OP_FORMAT_TEXT, NULL, "bench", NULL, &dt)))
		goto out;
	char title[256];
	snprintf(title, sizeof title,
	         "Decoders: %u reports each, one thread, median of %u interleaved rounds "
	         "(v4 JSON lines avg %.0f bytes, text reports avg %.0f bytes)",
	         nlines, runs, (double)(cj.bytes - nlines) / nlines,
	         (double)(ct.bytes - nlines) / nlines);
	t = bench_table_new(title);
	bench_table_columns(t, "decoder|format|events/s|MB/s|ns/event|decoded|weft JSON faster by (same-round ratio)");
	char sj_name[96] = "simdjson (On-Demand, C++ shim)";
	const char *names[NDEC] = {"weft (hand-written)", "json-c 0.16",
	                           "jansson 2.14", sj_name, "weft (hand-written)"};
	/* Why a row has no figures, or NULL when it runs. */
	const char *skip[NDEC] = {NULL};
	bd_skips(skip, sj_name, sizeof sj_name);
	/* Rounds interleave the decoders so each round's ratios compare runs
	 * made under the same machine state (see bench_engine.c). */
	double *rate = calloc((size_t)runs * NDEC, sizeof *rate);
	double *tmp = calloc(runs, sizeof *tmp);
	unsigned ok[NDEC] = {0};
	if (!rate || !tmp) {
		free(rate);
		free(tmp);
		rc = WEFT_ENOMEM;
		goto out;
	}
	for (unsigned r = 0; r < runs; r++) {
		for (int which = 0; which < NDEC; which++) {
			if (skip[which])
				continue;
			const struct corpus *c = which == W_TEXT ? &ct : &cj;
			uint64_t t0 = bench_now_ns();
			switch (which) {
			case 0: ok[which] = run_weft(c, dj, rec, op_decode_json); break;
			case 1: ok[which] = run_jsonc(c, &b, rec); break;
			case 2: ok[which] = run_jansson(c, &b, rec); break;
#ifdef WEFT_HAVE_SIMDJSON
			case W_SIMDJSON:
				ok[which] = bench_simdjson_run(c->text, c->off, c->len, c->n,
				                               &b, rec, 16384);
				break;
#endif
			default: ok[which] = run_weft(c, dt, rec, op_decode_text); break;
			}
			uint64_t t1 = bench_now_ns();
			rate[which * runs + r] = (double)nlines / ((double)(t1 - t0) / 1e9);
		}
	}
	bd_rows(t, names, skip, &cj, &ct, rate, ok, runs, tmp);
	free(rate);
	free(tmp);
	bench_table_print(t, stdout);
	rc = 0;
	if (md && bench_write_markdown(md, "weft bench decode", argc, argv, "",
	                               (const struct bench_table *[]){t, NULL}))
		rc = WEFT_EIO;
out:
	bench_table_free(t);
	op_decoder_free(dj);
	op_decoder_free(dt);
	op_event_builder_free(&b);
out_nob:
	free(rec);
	corpus_free(&cj);
	corpus_free(&ct);
	if (rc && rc != WEFT_EIO)
		fprintf(stderr, "bench decode: %s\n", weft_strerror(rc));
	return rc ? 1 : 0;
}

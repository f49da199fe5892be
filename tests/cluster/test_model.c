/*
 * test_model.c — the model (cluster/model.h): llquantize buckets, pieces,
 * training on the bundled recorded HDFS traces, verdicts and their
 * explanations, and the model file (round trip, refusal of corrupt,
 * truncated and foreign files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include <xxhash.h>

#include "canon_test_util.h"
#include "cluster/cluster.h"
#include "cluster/model.h"
#include "engine/engine.h"
#include "common/common.h"

#define RUN_W "NM_CL_w_05C_1to19B_0to600INT_50RT_10WT"
#define RUN_RW "NM_CL_rw_05C_1to19B_0to120INTR_0to600INTW_50RT_10WT"
#define RUN_KILL "AN_Proc_killDN_w_01FDN_30C_1to19B_0to600INT_15RT_5WT"

static const char *
run_dir(const char *run)
{
	static char buf[4096];
	const char *root = getenv("WEFT_SOURCE_ROOT");
	snprintf(buf, sizeof(buf), "%s/data/tracebench/%s", root ? root : ".", run);
	return buf;
}

/* A trace with its canonical form, ready for the trainer / checker. */
struct in_trace {
	struct cluster_dag g;
	struct cluster_trace_in in;
	uint64_t *sym;
};

static struct ct_run g_w, g_rw, g_kill;
static struct cluster_canon_scratch *g_cs;

static void
make_in(const struct ct_trace *t, struct in_trace *o)
{
	ct_dag(t, &o->g);
	struct cluster_canon cf;
	assert_int_equal(cluster_canon_compute(g_cs, &o->g, &cf), 0);
	o->sym = malloc((size_t)cf.n_symbols * 8 + 8);
	assert_non_null(o->sym);
	memcpy(o->sym, cf.symbols, (size_t)cf.n_symbols * 8);
	o->in = (struct cluster_trace_in){
	    .dag = &o->g, .label_text = NULL, .dur_ns = NULL, .duration_ns = 0,
	    .signature = cf.signature, .exact = cf.exact, .symbols = o->sym,
	    .n_symbols = cf.n_symbols};
}

static int
setup(void **state)
{
	(void)state;
	g_cs = cluster_canon_scratch_new();
	if (!g_cs || ct_run_load(run_dir(RUN_W), &g_w) ||
	    ct_run_load(run_dir(RUN_RW), &g_rw) || ct_run_load(run_dir(RUN_KILL), &g_kill))
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	ct_run_free(&g_w);
	ct_run_free(&g_rw);
	ct_run_free(&g_kill);
	cluster_canon_scratch_free(g_cs);
	return 0;
}

static void
test_llq_buckets(void **state)
{
	(void)state;
	unsigned prev = 0;
	for (uint64_t v = 1; v < 500000000000ull; v = v * 5 / 4 + 1) {
		unsigned b = cluster_llq_bucket(v);
		assert_true(b < CLUSTER_LLQ_BUCKETS);
		assert_true(b >= prev); /* monotone */
		prev = b;
		assert_true(cluster_llq_lo(b) <= v);
		assert_true(v < cluster_llq_hi(b));
	}
	assert_int_equal(cluster_llq_bucket(999), 0);
	assert_int_equal(cluster_llq_bucket(1000), 1);
	assert_int_equal(cluster_llq_bucket(1499), 1);
	assert_int_equal(cluster_llq_bucket(1500), 2);
	assert_int_equal(cluster_llq_lo(2), 1500);
	/* quantile: 99 values of 1 ms and one of 1 s */
	struct cluster_llq h;
	memset(&h, 0, sizeof h);
	for (int i = 0; i < 99; i++)
		cluster_llq_add(&h, 1000000);
	cluster_llq_add(&h, 1000000000);
	assert_true(cluster_llq_quantile(&h, 0.5) > 1000000);
	assert_true(cluster_llq_quantile(&h, 0.5) <= 1500000);
	assert_true(cluster_llq_quantile(&h, 1.0) > 1000000000);
}

/* a -> b -> c, with the b -> c unit repeated k times as a chain */
static void
chain(uint32_t k, uint64_t *label, uint32_t *par_off, uint32_t *par, struct cluster_dag *g)
{
	uint32_t n = 1 + 2 * k;
	label[0] = 1;
	par_off[0] = 0;
	par_off[1] = 0;
	for (uint32_t i = 0; i < k; i++) {
		label[1 + 2 * i] = 2;
		label[2 + 2 * i] = 3;
		par[2 * i] = 2 * i;          /* b_i under a or c_{i-1} */
		par[2 * i + 1] = 1 + 2 * i;  /* c_i under b_i */
		par_off[2 + 2 * i] = 2 * i + 1;
		par_off[3 + 2 * i] = 2 * i + 2;
	}
	*g = (struct cluster_dag){n, label, par_off, par};
}

static size_t
piece_set(struct cluster_pieces_scratch *s, const struct cluster_dag *g, uint64_t *out)
{
	assert_int_equal(cluster_pieces(s, g, out), 0);
	qsort(out, g->n_nodes, 8, weft_cmp_u64);
	size_t m = 0;
	for (uint32_t i = 0; i < g->n_nodes; i++)
		if (!m || out[m - 1] != out[i])
			out[m++] = out[i];
	return m;
}

static void
test_pieces_repetition_blind(void **state)
{
	(void)state;
	struct cluster_pieces_scratch *s = cluster_pieces_scratch_new();
	uint64_t l2[5], l5[11], p2[5], p5[11];
	uint32_t o2[6], o5[12], e2[4], e5[10];
	struct cluster_dag g2, g5;
	chain(2, l2, o2, e2, &g2);
	chain(5, l5, o5, e5, &g5);
	size_t n2 = piece_set(s, &g2, p2), n5 = piece_set(s, &g5, p5);
	assert_int_equal(n2, n5);
	assert_memory_equal(p2, p5, n2 * 8);
	/* relabel one node of the 5-chain: a piece no 2-chain has */
	l5[6] = 9;
	uint64_t p5b[11];
	size_t n5b = piece_set(s, &g5, p5b);
	int novel = 0;
	for (size_t i = 0; i < n5b; i++)
		novel += !bsearch(&p5b[i], p2, n2, 8, weft_cmp_u64);
	assert_true(novel >= 1);
	/* a parent out of range is refused */
	e2[0] = 7;
	uint64_t tmp[5];
	assert_int_equal(cluster_pieces(s, &g2, tmp), WEFT_EINVAL);
	cluster_pieces_scratch_free(s);
}

static struct cluster_model *
train(const struct ct_run *const *runs, size_t nruns, size_t every, size_t phase)
{
	struct cluster_model_params p;
	cluster_model_params_default(&p);
	p.threads = 2;
	struct cluster_trainer *tr;
	assert_int_equal(cluster_trainer_new(&p, &tr), 0);
	for (size_t r = 0; r < nruns; r++)
		for (size_t i = 0; i < runs[r]->ntr; i++) {
			if (i % every != phase)
				continue;
			struct in_trace t;
			make_in(&runs[r]->tr[i], &t);
			assert_int_equal(cluster_trainer_add(tr, &t.in), 0);
			free(t.sym);
		}
	struct cluster_model *m;
	char err[256];
	assert_int_equal(cluster_trainer_build(tr, &m, err, sizeof err), 0);
	cluster_trainer_free(tr);
	return m;
}

static enum cluster_verdict_kind
check_one(const struct cluster_model *m, struct cluster_check_scratch *s,
          const struct ct_trace *ct, struct cluster_verdict *v)
{
	struct in_trace t;
	make_in(ct, &t);
	assert_int_equal(cluster_check(m, s, &t.in, v), 0);
	free(t.sym);
	return v->kind;
}

static void
test_train_and_check(void **state)
{
	(void)state;
	const struct ct_run *runs[] = {&g_w, &g_rw};
	struct cluster_model *m = train(runs, 2, 1, 0);
	struct cluster_model_info mi;
	cluster_model_info(m, &mi);
	assert_int_equal(mi.traces, g_w.ntr + g_rw.ntr);
	assert_true(mi.n_templates >= 1 && mi.n_templates <= mi.shapes);
	struct cluster_check_scratch *s = cluster_check_scratch_new();
	struct cluster_verdict v;
	/* every training trace: its own shape, normal, on the fast path */
	for (size_t i = 0; i < g_w.ntr; i++) {
		assert_int_equal(check_one(m, s, &g_w.tr[i], &v), CLUSTER_NORMAL);
		assert_true(v.known_shape);
		assert_int_equal(v.probes, 1);
		assert_true(v.tmpl >= 0 && (uint32_t)v.tmpl < mi.n_templates);
	}
	/* a trace of the killed-DataNode run that abandons a block has a new
	 * piece, named by the check; some traces of that run are normal */
	size_t unknown = 0, normal = 0;
	for (size_t i = 0; i < g_kill.ntr; i++) {
		if (check_one(m, s, &g_kill.tr[i], &v) == CLUSTER_UNKNOWN_STRUCTURE) {
			unknown++;
			assert_true(v.n_new >= 1);
			assert_true(v.tmpl >= 0);
			assert_true(v.distance > 0);
			assert_true(v.n_edits > 0 && v.edits);
			int abandon = 0;
			for (uint32_t k = 0; k < v.n_new && k < CLUSTER_MAX_NEW; k++) {
				const char *t = NULL;
				uint64_t sym = g_kill.tr[i].label[v.new_node[k]];
				t = cluster_model_label(m, sym);
				(void)t;
				/* a new piece is a node of this trace */
				assert_true(v.new_node[k] < g_kill.tr[i].n);
				abandon |= sym == XXH3_64bits("RPC:abandonBlock", 16) ||
				           sym == XXH3_64bits("createBlockOutputStream", 23);
			}
			assert_true(abandon);
		} else {
			normal++;
		}
	}
	assert_true(unknown >= 30);
	assert_true(normal >= 30);
	/* relabel one node of a normal trace: unknown, pointing at it */
	struct ct_trace t = g_w.tr[0];
	uint64_t *lab = malloc(t.n * 8);
	memcpy(lab, t.label, t.n * 8);
	lab[t.n / 2] = XXH3_64bits("never-seen", 10);
	t.label = lab;
	assert_int_equal(check_one(m, s, &t, &v), CLUSTER_UNKNOWN_STRUCTURE);
	int points = 0;
	for (uint32_t k = 0; k < v.n_new && k < CLUSTER_MAX_NEW; k++)
		points |= v.new_node[k] == t.n / 2;
	assert_true(points);
	assert_true(v.n_edits >= 1);
	free(lab);
	cluster_check_scratch_free(s);
	cluster_model_unref(m);
}

static void
test_held_out_half(void **state)
{
	(void)state;
	/* train on the even traces of the write run, check the odd ones: a new
	 * block count is not a new structure */
	const struct ct_run *runs[] = {&g_w};
	struct cluster_model *m = train(runs, 1, 2, 0);
	struct cluster_check_scratch *s = cluster_check_scratch_new();
	struct cluster_verdict v;
	size_t known = 0;
	for (size_t i = 1; i < g_w.ntr; i += 2) {
		assert_int_equal(check_one(m, s, &g_w.tr[i], &v), CLUSTER_NORMAL);
		known += v.known_shape;
	}
	/* and most of them were not identical shapes: the pieces did it */
	assert_true(known < g_w.ntr / 2);
	cluster_check_scratch_free(s);
	cluster_model_unref(m);
}

/* m encoded (*buf, *len: the caller frees buf) and decoded again. */
static struct cluster_model *
round_trip(const struct cluster_model *m, void **buf, size_t *len)
{
	char err[256];
	struct cluster_model *m2;
	assert_int_equal(cluster_model_encode(m, buf, len), 0);
	assert_int_equal(cluster_model_decode(*buf, *len, &m2, err, sizeof err), 0);
	return m2;
}

static void
test_file_round_trip_and_refusal(void **state)
{
	(void)state;
	const struct ct_run *runs[] = {&g_w, &g_rw};
	struct cluster_model *m = train(runs, 2, 1, 0);
	void *buf;
	size_t len;
	char err[256];
	struct cluster_model *m2 = round_trip(m, &buf, &len);
	/* same verdicts, templates and distances on a fault run */
	struct cluster_check_scratch *s = cluster_check_scratch_new();
	for (size_t i = 0; i < g_kill.ntr; i++) {
		struct cluster_verdict a, b;
		check_one(m, s, &g_kill.tr[i], &a);
		check_one(m2, s, &g_kill.tr[i], &b);
		assert_int_equal(a.kind, b.kind);
		assert_int_equal(a.tmpl, b.tmpl);
		assert_int_equal(a.distance, b.distance);
		assert_int_equal(a.n_new, b.n_new);
	}
	/* the re-encoded model is byte-identical */
	void *buf2;
	size_t len2;
	assert_int_equal(cluster_model_encode(m2, &buf2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf2);
	cluster_model_unref(m2);
	/* truncated anywhere: refused with a message */
	struct cluster_model *bad;
	for (size_t n = 0; n < len; n += (n < 128 ? 1 : 61)) {
		err[0] = 0;
		assert_int_equal(cluster_model_decode(buf, n, &bad, err, sizeof err), WEFT_EFORMAT);
		assert_null(bad);
		assert_true(err[0] != 0);
	}
	/* one flipped byte anywhere after the header: checksum */
	unsigned char *c = malloc(len);
	for (size_t at = 64; at < len; at += 37) {
		memcpy(c, buf, len);
		c[at] ^= 0x40;
		assert_int_equal(cluster_model_decode(c, len, &bad, err, sizeof err), WEFT_EFORMAT);
		assert_non_null(strstr(err, "checksum"));
	}
	/* another version, another magic */
	memcpy(c, buf, len);
	c[8] = 99;
	assert_int_equal(cluster_model_decode(c, len, &bad, err, sizeof err), WEFT_EFORMAT);
	assert_non_null(strstr(err, "version"));
	memcpy(c, buf, len);
	c[0] = 'X';
	assert_int_equal(cluster_model_decode(c, len, &bad, err, sizeof err), WEFT_EFORMAT);
	assert_non_null(strstr(err, "magic"));
	free(c);
	/* save / load through a file */
	char path[] = "/tmp/weft-test-model-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cluster_model_save(m, path, err, sizeof err), 0);
	assert_int_equal(cluster_model_load(path, &m2, err, sizeof err), 0);
	cluster_model_unref(m2);
	unlink(path);
	assert_int_equal(cluster_model_load("/nonexistent/weft.model", &m2, err, sizeof err),
	                 WEFT_EIO);
	free(buf);
	cluster_check_scratch_free(s);
	cluster_model_unref(m);
}

/* Issue 20: the file keeps when and from what the model was trained; a
 * format-1 file (without them) still loads, its origin unknown. */
static void
test_origin_kept_and_format_1_loads(void **state)
{
	(void)state;
	const struct ct_run *runs[] = {&g_w};
	struct cluster_model *m = train(runs, 1, 1, 0);
	struct cluster_model_info mi;
	cluster_model_info(m, &mi);
	assert_int_equal(mi.trained_at, 0);
	assert_string_equal(mi.trained_from, "");
	char longer[400];
	memset(longer, 'x', sizeof longer - 1);
	longer[sizeof longer - 1] = 0;
	cluster_model_set_origin(m, 1780000000, longer);
	cluster_model_info(m, &mi);
	assert_int_equal(strlen(mi.trained_from), CLUSTER_MODEL_FROM_MAX - 1);
	cluster_model_set_origin(m, 1780000000, "weft train: a.smp, b.smp");
	void *buf;
	size_t len;
	char err[256];
	struct cluster_model *m2 = round_trip(m, &buf, &len);
	struct cluster_model_info m2i;
	cluster_model_info(m2, &m2i);
	assert_int_equal(m2i.trained_at, 1780000000);
	assert_string_equal(m2i.trained_from, "weft train: a.smp, b.smp");
	cluster_model_unref(m2);
	/* the same model as format 1: the origin (after the params and the
	 * three totals) cut out, version 1, length and checksum redone */
	size_t at = 64 + 4 * 8 + 4 + 4 + 8 + 8 + 3 * 8;
	size_t cut = 8 + 4 + strlen("weft train: a.smp, b.smp");
	unsigned char *v1 = malloc(len);
	assert_non_null(v1);
	memcpy(v1, buf, at);
	memcpy(v1 + at, (unsigned char *)buf + at + cut, len - at - cut);
	uint32_t ver = 1;
	uint64_t total = len - cut, sum = XXH3_64bits(v1 + 64, total - 64);
	memcpy(v1 + 8, &ver, 4);
	memcpy(v1 + 16, &total, 8);
	memcpy(v1 + 24, &sum, 8);
	assert_int_equal(cluster_model_decode(v1, total, &m2, err, sizeof err), 0);
	cluster_model_info(m2, &m2i);
	assert_int_equal(m2i.trained_at, 0);
	assert_string_equal(m2i.trained_from, "");
	assert_int_equal(m2i.n_templates, mi.n_templates);
	assert_int_equal(m2i.traces, mi.traces);
	cluster_model_unref(m2);
	/* an origin text longer than the field allows is refused, not read */
	uint32_t huge = CLUSTER_MODEL_FROM_MAX;
	memcpy((unsigned char *)buf + at + 8, &huge, 4);
	sum = XXH3_64bits((unsigned char *)buf + 64, len - 64);
	memcpy((unsigned char *)buf + 24, &sum, 8);
	assert_int_equal(cluster_model_decode(buf, len, &m2, err, sizeof err), WEFT_EFORMAT);
	assert_non_null(strstr(err, "origin"));
	free(v1);
	free(buf);
	cluster_model_unref(m);
}

/* The same trace with its nodes in reverse order (parents renumbered). */
static struct ct_trace
reversed(const struct ct_trace *t)
{
	struct ct_trace r = *t;
	uint32_t n = t->n, ne = t->par_off[n];
	r.label = malloc(n * sizeof *r.label);
	r.par_off = malloc((n + 1) * sizeof *r.par_off);
	r.par = malloc((ne + 1) * sizeof *r.par);
	assert_true(r.label && r.par_off && r.par);
	uint32_t k = 0;
	for (uint32_t j = 0; j < n; j++) {
		uint32_t i = n - 1 - j;
		r.label[j] = t->label[i];
		r.par_off[j] = k;
		for (uint32_t e = t->par_off[i]; e < t->par_off[i + 1]; e++)
			r.par[k++] = n - 1 - t->par[e];
	}
	r.par_off[n] = k;
	return r;
}

/* Issue 22: "N more new" counted only distinct labels among the first 16
 * new nodes, and which were listed followed the nodes' arrival order. */
static void
test_new_pieces_counted_exactly_and_named_in_order(void **state)
{
	(void)state;
	const struct ct_run *runs[] = {&g_w};
	struct cluster_model *m = train(runs, 1, 1, 0);
	/* every piece the model was trained with */
	struct cluster_pieces_scratch *ps = cluster_pieces_scratch_new();
	uint64_t *known = NULL;
	size_t nk = 0, big = 0;
	for (size_t i = 0; i < g_w.ntr; i++) {
		struct cluster_dag g;
		ct_dag(&g_w.tr[i], &g);
		known = realloc(known, (nk + g.n_nodes) * sizeof *known);
		assert_non_null(known);
		assert_int_equal(cluster_pieces(ps, &g, known + nk), 0);
		nk += g.n_nodes;
		if (g_w.tr[i].n > g_w.tr[big].n)
			big = i;
	}
	qsort(known, nk, sizeof *known, weft_cmp_u64);
	/* the largest trace with 40 nodes relabelled with 20 new labels */
	struct ct_trace t = g_w.tr[big];
	assert_true(t.n > 200);
	uint64_t *lab = malloc(t.n * sizeof *lab);
	memcpy(lab, t.label, t.n * sizeof *lab);
	for (uint32_t k = 0; k < 40; k++) {
		char name[16];
		int len = snprintf(name, sizeof name, "new-%02u", k % 20);
		lab[(k * 5 + 3) % t.n] = XXH3_64bits(name, (size_t)len);
	}
	t.label = lab;
	/* expected: the nodes whose piece training never saw, their labels */
	struct cluster_dag g;
	ct_dag(&t, &g);
	uint64_t *pc = malloc(t.n * sizeof *pc), *labs = malloc(t.n * sizeof *labs);
	assert_int_equal(cluster_pieces(ps, &g, pc), 0);
	uint32_t want_nodes = 0, want_labels = 0;
	for (uint32_t i = 0; i < t.n; i++)
		if (!bsearch(&pc[i], known, nk, sizeof *known, weft_cmp_u64))
			labs[want_nodes++] = t.label[i];
	qsort(labs, want_nodes, sizeof *labs, weft_cmp_u64);
	for (uint32_t i = 0; i < want_nodes; i++)
		if (!i || labs[i] != labs[i - 1])
			labs[want_labels++] = labs[i];
	assert_true(want_labels > CLUSTER_MAX_NEW);
	struct cluster_check_scratch *s = cluster_check_scratch_new();
	struct cluster_verdict v;
	assert_int_equal(check_one(m, s, &t, &v), CLUSTER_UNKNOWN_STRUCTURE);
	assert_int_equal(v.n_new, want_nodes);
	assert_int_equal(v.n_new_labels, want_labels);
	/* named: one node per label, the smallest labels first (no texts:
	 * by symbol) */
	uint64_t listed[CLUSTER_MAX_NEW];
	for (uint32_t k = 0; k < CLUSTER_MAX_NEW; k++) {
		listed[k] = t.label[v.new_node[k]];
		assert_int_equal(listed[k], labs[k]);
	}
	/* the same trace with its nodes in another order: the same count and
	 * the same labels named, in the same order */
	struct ct_trace r = reversed(&t);
	assert_int_equal(check_one(m, s, &r, &v), CLUSTER_UNKNOWN_STRUCTURE);
	assert_int_equal(v.n_new, want_nodes);
	assert_int_equal(v.n_new_labels, want_labels);
	for (uint32_t k = 0; k < CLUSTER_MAX_NEW; k++)
		assert_int_equal(r.label[v.new_node[k]], listed[k]);
	free(r.label);
	free(r.par_off);
	free(r.par);
	free(pc);
	free(labs);
	free(lab);
	free(known);
	cluster_pieces_scratch_free(ps);
	cluster_check_scratch_free(s);
	cluster_model_unref(m);
}

static void
test_deterministic(void **state)
{
	(void)state;
	const struct ct_run *runs[] = {&g_w, &g_rw};
	struct cluster_model *a = train(runs, 2, 1, 0), *b = train(runs, 2, 1, 0);
	void *x, *y;
	size_t nx, ny;
	assert_int_equal(cluster_model_encode(a, &x, &nx), 0);
	assert_int_equal(cluster_model_encode(b, &y, &ny), 0);
	assert_int_equal(nx, ny);
	assert_memory_equal(x, y, nx);
	free(x);
	free(y);
	cluster_model_unref(a);
	cluster_model_unref(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_llq_buckets),
	    cmocka_unit_test(test_pieces_repetition_blind),
	    cmocka_unit_test(test_train_and_check),
	    cmocka_unit_test(test_held_out_half),
	    cmocka_unit_test(test_file_round_trip_and_refusal),
	    cmocka_unit_test(test_origin_kept_and_format_1_loads),
	    cmocka_unit_test(test_new_pieces_counted_exactly_and_named_in_order),
	    cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

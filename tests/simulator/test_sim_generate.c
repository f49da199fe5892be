/*
 * test_sim_generate.c — generate: determinism for a seed, unique ids,
 * parents before children, block counts, injection labels in the truth,
 * load and slowed DataNodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim_test_util.h"
#include "simulator/sim_gen.h"

static struct sim_model g_m;

static int
setup(void **state)
{
	(void)state;
	struct sim_run r;
	memset(&g_m, 0, sizeof(g_m));
	sim_run_init(&r);
	int rc = sim_tracebench_import(sim_test_run_dir(SIM_RUN_W), &r, NULL,
	    NULL, 0);
	if (!rc)
		rc = sim_model_learn(&g_m, &r);
	sim_run_free(&r);
	return rc ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	sim_model_free(&g_m);
	return 0;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc(*len + 1);
	assert_int_equal(fread(p, 1, *len, f), *len);
	p[*len] = '\0';
	fclose(f);
	return p;
}

static void
gen(const struct sim_gen_cfg *c, const char *out, const char *truth,
    struct sim_run *r)
{
	uint64_t ev;
	assert_int_equal(sim_generate(&g_m, c, out, truth, &ev), 0);
	assert_int_equal(sim_run_read_jsonl(r, out, NULL, 0), 0);
	assert_int_equal(r->nev, ev);
}

static void
test_block_unit_learned_for_copy_from_local(void **state)
{
	(void)state;
	size_t expandable = 0;
	for (size_t c = 0; c < g_m.ntc; c++)
		expandable += g_m.tc[c].nexpand;
	assert_true(expandable > 0);
}

struct idpos {
	int64_t id;
	size_t pos;
};

static int
cmp_idpos(const void *a, const void *b)
{
	int64_t x = ((const struct idpos *)a)->id, y = ((const struct idpos *)b)->id;
	return (x > y) - (x < y);
}

static void
test_same_seed_same_output_unique_ids(void **state)
{
	(void)state;
	struct sim_gen_cfg c;
	sim_gen_defaults(&c);
	c.traces = 300;
	c.concurrent = 50;
	c.seed = 11;
	struct sim_run a, b;
	sim_run_init(&a);
	sim_run_init(&b);
	gen(&c, "gen_a.jsonl", NULL, &a);
	gen(&c, "gen_b.jsonl", NULL, &b);
	size_t la, lb;
	char *pa = slurp("gen_a.jsonl", &la), *pb = slurp("gen_b.jsonl", &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	assert_int_equal(a.ntr, 300);
	/* unique event ids, parents emitted first (no injection here):
	 * sort (id, position) pairs once, then binary-search each parent */
	struct idpos *ix = malloc(a.nev * sizeof(*ix));
	for (size_t i = 0; i < a.nev; i++)
		ix[i] = (struct idpos){a.ev[i].id, i};
	qsort(ix, a.nev, sizeof(*ix), cmp_idpos);
	for (size_t i = 1; i < a.nev; i++)
		assert_true(ix[i].id != ix[i - 1].id);
	for (size_t i = 0; i < a.nev; i++)
		for (uint32_t p = 0; p < a.ev[i].npar; p++) {
			struct idpos key = {a.parents[a.ev[i].par_off + p], 0};
			const struct idpos *hit =
			    bsearch(&key, ix, a.nev, sizeof(*ix), cmp_idpos);
			assert_non_null(hit);
			assert_true(hit->pos < i);
		}
	free(ix);
	c.seed = 12;
	struct sim_run x;
	sim_run_init(&x);
	gen(&c, "gen_c.jsonl", NULL, &x);
	assert_true(x.tr[0].task != a.tr[0].task);
	free(pa);
	free(pb);
	sim_run_free(&a);
	sim_run_free(&b);
	sim_run_free(&x);
}

static void
test_forced_blocks_scale_trace_size(void **state)
{
	(void)state;
	struct sim_gen_cfg c;
	sim_gen_defaults(&c);
	c.traces = 20;
	c.concurrent = 20;
	c.blocks = 21;
	c.title = "fs -copyFromLocal";
	struct sim_run r;
	sim_run_init(&r);
	gen(&c, "gen_d.jsonl", NULL, &r);
	for (size_t t = 0; t < r.ntr; t++) {
		assert_true(r.tr[t].count > 300);
		assert_true(r.tr[t].count < 400);
	}
	sim_run_free(&r);
}

static void
test_injected_traces_labelled_with_kind(void **state)
{
	(void)state;
	struct sim_gen_cfg c;
	sim_gen_defaults(&c);
	c.traces = 500;
	c.concurrent = 40;
	c.inject_rate = 1.0;
	c.kinds = SIM_INJ_EXCEPTION | SIM_INJ_TRUNCATE;
	struct sim_run r;
	sim_run_init(&r);
	gen(&c, "gen_e.jsonl", "gen_e.tsv", &r);
	size_t len, lines = 0, exc = 0, trunc = 0;
	char *p = slurp("gen_e.tsv", &len);
	for (char *l = strtok(p, "\n"); l; l = strtok(NULL, "\n")) {
		lines++;
		assert_non_null(strstr(l, "\tfailure\t"));
		exc += strstr(l, "\texception\t") != NULL;
		trunc += strstr(l, "\ttruncate\t") != NULL;
	}
	assert_int_equal(lines, 500);
	assert_int_equal(exc + trunc, 500);
	assert_true(exc > 100 && trunc > 100);
	/* every exception trace carries a failure description */
	size_t failing = 0;
	for (size_t t = 0; t < r.ntr; t++)
		failing += r.tr[t].failure;
	assert_true(failing >= exc);
	free(p);
	sim_run_free(&r);
}

/* --slow-hosts: the events of the first learned DataNode last slow_factor
 * times as long and nothing else changes; --load stretches every event. */
static void
test_slowed_hosts_and_load_stretch_durations(void **state)
{
	(void)state;
	struct sim_gen_cfg c;
	sim_gen_defaults(&c);
	c.traces = 200;
	c.concurrent = 20;
	c.seed = 5;
	struct sim_run a, b, l;
	sim_run_init(&a);
	sim_run_init(&b);
	sim_run_init(&l);
	gen(&c, "gen_plain.jsonl", NULL, &a);
	c.slow_hosts = 1;
	c.slow_factor = 4.0;
	gen(&c, "gen_slow.jsonl", NULL, &b);
	c.slow_hosts = 0;
	c.load = 2.0;
	gen(&c, "gen_load.jsonl", NULL, &l);
	const char *slowed = g_m.strs_run.strs.p + g_m.dn_hosts[0];
	assert_int_equal(a.nev, b.nev);
	size_t on_slowed = 0;
	for (size_t i = 0; i < a.nev; i++) {
		assert_int_equal(a.ev[i].id, b.ev[i].id);
		int64_t da = a.ev[i].end_hrt - a.ev[i].hrt, db = b.ev[i].end_hrt - b.ev[i].hrt;
		if (!strcmp(sim_str(&b, b.ev[i].host), slowed)) {
			on_slowed++;
			assert_true(db >= 4 * da - 4 && db <= 4 * da + 4);
		} else {
			assert_int_equal(db, da);
		}
	}
	assert_true(on_slowed > 0 && on_slowed < a.nev / 4);
	/* load 2: the same traces, every duration doubled */
	int64_t sa = 0, sl = 0;
	for (size_t i = 0; i < a.nev; i++)
		sa += a.ev[i].end_hrt - a.ev[i].hrt;
	for (size_t i = 0; i < l.nev; i++)
		sl += l.ev[i].end_hrt - l.ev[i].hrt;
	assert_int_equal(a.nev, l.nev);
	assert_true(sl >= 2 * sa - (int64_t)a.nev && sl <= 2 * sa + (int64_t)a.nev);
	sim_run_free(&a);
	sim_run_free(&b);
	sim_run_free(&l);
	remove("gen_plain.jsonl");
	remove("gen_slow.jsonl");
	remove("gen_load.jsonl");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_unit_learned_for_copy_from_local),
		cmocka_unit_test(test_same_seed_same_output_unique_ids),
		cmocka_unit_test(test_forced_blocks_scale_trace_size),
		cmocka_unit_test(test_injected_traces_labelled_with_kind),
		cmocka_unit_test(test_slowed_hosts_and_load_stretch_durations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

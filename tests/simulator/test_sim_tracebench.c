/*
 * test_sim_tracebench.c — the TraceBench mapping on hand-checked traces and
 * the golden counts on every bundled run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim_test_util.h"

static struct sim_run g_rpc, g_disc;

static int
setup(void **state)
{
	(void)state;
	sim_run_init(&g_rpc);
	sim_run_init(&g_disc);
	if (sim_tracebench_import(sim_test_run_dir(SIM_RUN_RPC), &g_rpc, NULL,
	    NULL, 0))
		return -1;
	if (sim_tracebench_import(sim_test_run_dir(SIM_RUN_DISC), &g_disc, NULL,
	    NULL, 0))
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sim_run_free(&g_rpc);
	sim_run_free(&g_disc);
	return 0;
}

static int64_t
id_of(const char *task, const char *tid, int64_t start, const char *op)
{
	uint64_t t, d;
	assert_int_equal(sim_parse_hex64(task, strlen(task), &t), 0);
	assert_int_equal(sim_parse_hex64(tid, strlen(tid), &d), 0);
	return sim_tracebench_event_id(t, d, start, op, strlen(op));
}

/* Assert the event exists, has the given label and exactly the parents. */
static void
expect(const struct sim_run *r, int64_t id, const char *label, int npar,
    int64_t parent)
{
	long i = sim_test_find(r, id);
	assert_true(i >= 0);
	const struct sim_event *e = &r->ev[i];
	assert_string_equal(sim_str(r, e->label), label);
	assert_int_equal(e->npar, npar);
	if (npar)
		assert_true(r->parents[e->par_off] == parent);
}

/* fs -mkdir, 5 events: root -> client RPC thread (2 RPCs chained), each
 * RPC -> its namenode handler thread. */
static void
test_mkdir_trace_parents(void **state)
{
	(void)state;
	const char *T = "C47C9A2D664ACF66";
	int64_t root = id_of(T, "8AE20205B35EB316", 1736171907358894,
	    "fs -mkdir");
	int64_t rpc1 = id_of(T, "55F41C8C5A7E719F", 1736171920585501,
	    "RPC:getFileInfo");
	int64_t rpc2 = id_of(T, "55F41C8C5A7E719F", 1736171933681119,
	    "RPC:mkdirs");
	expect(&g_rpc, root, "fs -mkdir", 0, 0);
	expect(&g_rpc, rpc1, "RPC:getFileInfo", 1, root);
	expect(&g_rpc, rpc2, "RPC:mkdirs", 1, rpc1);
	expect(&g_rpc, id_of(T, "307F4F67C14028E6", 3548222746354433,
	    "getFileInfo"), "getFileInfo", 1, rpc1);
	expect(&g_rpc, id_of(T, "85EF90EE848F004F", 3548222758300676,
	    "mkdirs"), "mkdirs", 1, rpc2);
}

/* fs -touchz, 7 events: three chained RPCs, each with its handler. */
static void
test_touchz_trace_parents(void **state)
{
	(void)state;
	const char *T = "2525398BEF2D756B";
	const char *C = "42CC148F999D8F76";
	int64_t root = id_of(T, "8ED39DDE9138FFE6", 1736172809072841,
	    "fs -touchz");
	int64_t g = id_of(T, C, 1736172811860232, "RPC:getFileInfo");
	int64_t c = id_of(T, C, 1736172824402165, "RPC:create");
	int64_t k = id_of(T, C, 1736172830678421, "RPC:complete");
	expect(&g_rpc, g, "RPC:getFileInfo", 1, root);
	expect(&g_rpc, c, "RPC:create", 1, g);
	expect(&g_rpc, k, "RPC:complete", 1, c);
	expect(&g_rpc, id_of(T, "A13D3AFA9F8B20DA", 3548223656103887,
	    "complete"), "complete", 1, k);
	expect(&g_rpc, id_of(T, "3AADD43A8605EB0F", 3548223649157863,
	    "create"), "create", 1, c);
}

/* Two spans share (TID, StartTime): nextBlockOutputStream encloses
 * RPC:addBlock. The enclosing span comes first in the TID chain; the edge
 * to the namenode's addBlock thread hangs off the innermost (RPC:addBlock).
 */
static void
test_shared_start_innermost_father(void **state)
{
	(void)state;
	const char *T = "7D3FA2A48083AB81";
	const char *C = "82C519C7EAE22786";
	int64_t create = id_of(T, C, 2046581917485735, "RPC:create");
	int64_t nbos = id_of(T, C, 2046581960502652, "nextBlockOutputStream");
	int64_t add = id_of(T, C, 2046581960502652, "RPC:addBlock");
	int64_t cbos = id_of(T, C, 2046581965017280, "createBlockOutputStream");
	expect(&g_disc, nbos, "nextBlockOutputStream", 1, create);
	expect(&g_disc, add, "RPC:addBlock", 1, nbos);
	expect(&g_disc, cbos, "createBlockOutputStream", 1, add);
	/* the namenode's addBlock: the first event of TID F8F9AB38D0511E83 */
	uint64_t task;
	sim_parse_hex64(T, 16, &task);
	int found = 0;
	for (size_t i = 0; i < g_disc.nev; i++) {
		const struct sim_event *e = &g_disc.ev[i];
		if (e->task == task &&
		    !strcmp(sim_str(&g_disc, e->label), "addBlock") &&
		    e->npar == 1 && g_disc.parents[e->par_off] == add)
			found++;
	}
	assert_int_equal(found, 1);
}

/* Recorded order: every parent is emitted before its children, and the
 * truth file's failure label follows the descriptions. */
static void
check_golden(const char *run, size_t traces, size_t events,
    size_t failures)
{
	struct sim_run r;
	struct sim_import_stats st;
	char err[256];
	sim_run_init(&r);
	assert_int_equal(sim_tracebench_import(sim_test_run_dir(run), &r, &st,
	    err, sizeof(err)), 0);
	assert_int_equal(r.ntr, traces);
	assert_int_equal(st.traces, traces);
	assert_int_equal(r.nev, events);
	assert_int_equal(st.numreports_mismatch, 0);
	assert_int_equal(st.disconnected, 0);
	assert_int_equal(st.no_root, 0);
	assert_int_equal(st.failures, failures);
	/* parent-before-child over the whole run: ids of one trace are
	 * checked against the events already seen (quadratic per trace is
	 * fine at these sizes, so keep it simple: one pass with a sort). */
	int64_t *seen = malloc(r.nev * sizeof(*seen));
	assert_non_null(seen);
	size_t ns = 0;
	for (size_t i = 0; i < r.nev; i++) {
		const struct sim_event *e = &r.ev[i];
		for (uint32_t p = 0; p < e->npar; p++) {
			int64_t pid = r.parents[e->par_off + p];
			int ok = 0;
			for (size_t j = ns; j-- > 0 && !ok;)
				ok = seen[j] == pid;
			assert_true(ok);
		}
		seen[ns++] = e->id;
	}
	free(seen);
	size_t sum = 0;
	for (size_t t = 0; t < r.ntr; t++)
		sum += r.tr[t].count;
	assert_int_equal(sum, events);
	sim_run_free(&r);
}

static void
test_golden_counts_all_bundled_runs(void **state)
{
	(void)state;
	check_golden(SIM_RUN_RPC, 696, 4176, 0);
	check_golden(SIM_RUN_W, 49, 8727, 0);
	check_golden(SIM_RUN_DISC, 63, 10472, 34);
	check_golden(SIM_RUN_RO, 66, 10776, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mkdir_trace_parents),
		cmocka_unit_test(test_touchz_trace_parents),
		cmocka_unit_test(test_shared_start_innermost_father),
		cmocka_unit_test(test_golden_counts_all_bundled_runs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

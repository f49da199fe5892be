/*
 * test_check.c — the check operator in a real engine: a model hot swap
 * lands exactly at its swap epoch at W = 1..4 (by the flag of SIGHUP and
 * by a change of the model file), a corrupt model is refused and the old
 * one kept, and the HTML report of a run with anomalies.
 *
 * Two models that disagree: A knows shape X (req -> read -> reply), B knows
 * shape Y (req -> write&flush -> sync). Under A an X trace is normal and a
 * Y trace unknown_structure; under B the other way round. So every
 * verdict names the model that gave it.
 *
 * The swap, made deterministic: a source on worker 0 emits records of
 * epochs 0..E-1. Once its frontier is P it holds (returns idle) until
 * some check instance has closed P - 1 (so the newest closed epoch is
 * P - 1: nothing can close P before the source moves), asks for the
 * reload, and holds until the watcher has published the model (swap epoch
 * S = P + 1). With W >= 2, worker W - 1 is held back by a pass-through
 * operator in front of its check, which does not close P - 1 before the
 * swap is published: that worker is behind the newest closed epoch when
 * S is chosen, so adopting one epoch early would show there too. Waits
 * are bounded (20 s, then the test fails as "stuck"); nothing is timed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "operators/check/check.h"
#include "operators/output/output.h"
#include "test_util.h"
#include "test_traces.h"

/* ---- fixtures: shapes and models, made once ------------------------------- */

static const struct ev_step shape_x[] = {
	{1, 0, "req", "h1", 1000, 9000},
	{2, 1, "read", "h1", 2000, 5000},
	{3, 2, "reply", "h2", 6000, 7000},
};
static const struct ev_step shape_y[] = {
	{1, 0, "req", "h1", 1000, 9000},
	{2, 1, "write&flush", "h1", 2000, 5000},
	{3, 2, "sync", "h3", 6000, 7000},
};
/* X, but the root takes 2 s: slow against A's thresholds (floor 10 ms) */
static const struct ev_step shape_x_slow[] = {
	{1, 0, "req", "h1", 1000, 2000001000},
	{2, 1, "read", "h1", 2000, 5000},
	{3, 2, "reply", "h2", 6000, 7000},
};

static struct {
	char dir[4096];
	char model_a[4200], model_b[4200];
	struct op_trace *x, *y, *x_slow;
} G;

static int
group_setup(void **state)
{
	(void)state;
	tmp_dir_make(G.dir, sizeof G.dir);
	G.x = make_trace(shape_x, 3);
	G.y = make_trace(shape_y, 3);
	G.x_slow = make_trace(shape_x_slow, 3);
	assert_true(G.x->exact != G.y->exact);
	assert_true(G.x->exact == G.x_slow->exact);
	tmp_path(G.model_a, sizeof G.model_a, G.dir, "a.model");
	tmp_path(G.model_b, sizeof G.model_b, G.dir, "b.model");
	const struct op_trace *a[] = {G.x}, *b[] = {G.y};
	train_model(a, 1, 24, G.model_a);
	train_model(b, 1, 24, G.model_b);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(G.x);
	free(G.y);
	free(G.x_slow);
	tmp_dir_remove(G.dir);
	return 0;
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	char *p = slurp(from, &n);
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(p);
}

/* ---- the held source and the held worker -------------------------------- */

enum swap_how {
	SWAP_FLAG,    /* op_check_request_reload (what SIGHUP does) */
	SWAP_FILE,    /* a new model file renamed over the model path */
	SWAP_REFUSED, /* op_check_request_reload with a corrupt file there */
};

struct swap_ctl {
	struct op_check_config *cfg;
	enum swap_how how;
	uint64_t P;          /* the source holds at frontier P */
	unsigned lag;        /* worker held at close(P - 1); 0: none */
	const char *next;    /* SWAP_FILE: renamed over path */
	const char *path;
	int phase;           /* worker 0 only */
	uint64_t gen0;       /* generation before the swap was asked for */
	struct timespec deadline;
	_Atomic int released, stuck;
};

/* Holding longer than this is a failure (stuck), not a hang. */
static int
ctl_wait(struct swap_ctl *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < c->deadline.tv_sec)
		return 1;
	atomic_store(&c->stuck, 1);
	atomic_store(&c->released, 1);
	c->phase = 2;
	return 0;
}

static int
swap_hold(void *arg, uint64_t e)
{
	struct swap_ctl *c = arg;
	if (e != c->P || c->phase == 2)
		return 0;
	if (c->phase == 0) {
		if (atomic_load(&c->cfg->max_closed) < c->P - 1)
			return ctl_wait(c);
		c->gen0 = atomic_load(&c->cfg->generation);
		if (c->how == SWAP_FILE)
			CB_CHECK(rename(c->next, c->path) == 0);
		else
			op_check_request_reload(c->cfg);
		c->phase = 1;
	}
	int done = c->how == SWAP_REFUSED ? atomic_load(&c->cfg->reload_errors) > 0
	                                  : atomic_load(&c->cfg->generation) > c->gen0;
	if (!done)
		return ctl_wait(c);
	c->phase = 2;
	atomic_store(&c->released, 1);
	return 0;
}

/* Pass-through; on worker lag it does not close P - 1 (so the check behind
 * it does not either) until the swap is published. */
static void
gate_batch(void *state, struct engine_ctx *ctx, unsigned port,
           const struct engine_batch *b)
{
	(void)state;
	(void)port;
	struct engine_batch_cursor cur = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &cur, &len)))
		engine_emit(ctx, 0, b->epoch, r, len);
}

static void
gate_close(void *state, struct engine_ctx *ctx, uint64_t epoch)
{
	struct swap_ctl *c = state;
	if (!c->lag || engine_ctx_worker(ctx) != c->lag || epoch != c->P - 1)
		return;
	while (!atomic_load(&c->released)) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static const struct engine_op_vtable gate_vt = {
	.init = state_is_arg_init, .on_batch = gate_batch, .on_epoch_close = gate_close,
};

/* ---- the plan: one X and one Y per worker per epoch ----------------------- */

/* Next id from *next that engine_route sends to worker w of W. */
static uint64_t
id_for(uint64_t *next, unsigned w, unsigned W)
{
	while (engine_route(*next, W) != w)
		(*next)++;
	return (*next)++;
}

/* recs gets 2 W entries per epoch 0..E-1, X and Y alternating. */
static size_t
plan_xy(struct plan_rec *recs, unsigned W, uint64_t E)
{
	uint64_t next = 1;
	size_t n = 0;
	for (uint64_t e = 0; e < E; e++)
		for (unsigned w = 0; w < W; w++) {
			recs[n++] = (struct plan_rec){e, id_for(&next, w, W), G.x};
			recs[n++] = (struct plan_rec){e, id_for(&next, w, W), G.y};
		}
	return n;
}

/* source -exchange-> gate -> check -> capture on W workers. */
static void
run_check(struct op_check_config *cfg, struct swap_ctl *ctl,
          const struct rec_plan *plan, struct capture *cap, unsigned W)
{
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "records", &rec_src_vt, (void *)plan, 0, 1, var);
	int q = engine_graph_add(g, "gate", &gate_vt, ctl, 1, 1, var);
	int c = engine_graph_add(g, "check", &op_check_vtable, cfg, 1, 1, var);
	int k = engine_graph_add(g, "capture", &cap_vt, cap, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, q, 0, engine_key_first_u64, NULL), 0);
	assert_int_equal(engine_graph_connect(g, q, 0, c, 0, NULL, NULL), 0);
	assert_int_equal(engine_graph_connect(g, c, 0, k, 0, NULL, NULL), 0);
	assert_int_equal(run_graph(g, W, NULL), 0);
}

/* ---- the swap ------------------------------------------------------------- */

enum { N_EPOCHS = 8, HOLD_P = 3 };

static void
swap_at_known_epoch(unsigned W, enum swap_how how)
{
	char dir[4096], path[4200], next[4200];
	tmp_dir_make(dir, sizeof dir);
	tmp_path(path, sizeof path, dir, "model");
	tmp_path(next, sizeof next, dir, "next");
	copy_file(G.model_a, path);
	struct op_check_config cfg;
	char err[512];
	if (op_check_config_init(&cfg, path, err, sizeof err))
		fail_msg("%s", err);
	cfg.no_report = 1;
	if (how == SWAP_REFUSED) {
		FILE *f = fopen(next, "wb");
		assert_non_null(f);
		fputs("WEFTMODL but not a model\n", f);
		assert_int_equal(fclose(f), 0);
	} else {
		copy_file(G.model_b, next);
	}
	/* The other two test the request (SIGHUP) path, so the file is
	 * replaced before the run and the watcher is told not to look at it:
	 * a reload there would come at an unknown epoch. */
	if (how != SWAP_FILE) {
		assert_int_equal(rename(next, path), 0);
		cfg.watch_file = 0;
	}
	struct swap_ctl ctl = {.cfg = &cfg, .how = how, .P = HOLD_P, .lag = W - 1,
	                       .next = next, .path = path};
	clock_gettime(CLOCK_MONOTONIC, &ctl.deadline);
	ctl.deadline.tv_sec += 20;
	assert_int_equal(op_check_watch_start(&cfg), 0);

	struct plan_rec recs[2 * 4 * N_EPOCHS];
	struct rec_plan plan = {recs, plan_xy(recs, W, N_EPOCHS), N_EPOCHS, swap_hold, &ctl};
	struct capture cap;
	capture_init(&cap);
	run_check(&cfg, &ctl, &plan, &cap, W);
	op_check_watch_stop(&cfg);

	assert_false(atomic_load(&ctl.stuck));
	const uint64_t S = HOLD_P + 1; /* newest closed epoch (P - 1) + 2 */
	int swapped = how != SWAP_REFUSED;
	assert_int_equal(atomic_load(&cfg.generation), swapped);
	assert_int_equal(atomic_load(&cfg.reloads), swapped);
	assert_int_equal(atomic_load(&cfg.reload_errors), !swapped);
	assert_int_equal(cap.n, plan.n);
	size_t by_b = 0;
	for (size_t i = 0; i < cap.n; i++) {
		const struct op_trace *t = cap.t[i];
		const struct plan_rec *r = plan_find(&plan, t->trace_id);
		assert_non_null(r);
		assert_int_equal(cap.epoch[i], r->epoch);
		assert_int_equal(t->emit_epoch, r->epoch);
		int b = swapped && r->epoch >= S; /* judged by B */
		int knows = b ? r->shape == G.y : r->shape == G.x;
		if (t->verdict != (knows ? OP_VERDICT_NORMAL : OP_VERDICT_UNKNOWN_STRUCTURE))
			fail_msg("W=%u: trace %llu (%s) of epoch %llu: %s, expected model %c "
			         "(swap epoch %llu)", W, (unsigned long long)t->trace_id,
			         r->shape == G.x ? "X" : "Y", (unsigned long long)r->epoch,
			         op_verdict_name(t->verdict), b ? 'B' : 'A',
			         (unsigned long long)S);
		assert_int_equal(t->tmpl, 0); /* each model has one template */
		by_b += b;
	}
	for (size_t i = 0; i < plan.n; i++) { /* each trace exactly once */
		size_t seen = 0;
		for (size_t j = 0; j < cap.n; j++)
			seen += cap.t[j]->trace_id == recs[i].id;
		assert_int_equal(seen, 1);
	}
	assert_int_equal(by_b, swapped ? 2 * W * (N_EPOCHS - S) : 0);
	/* and the swap epoch published is the one the verdicts show */
	assert_int_equal(atomic_load(&cfg.swap_epoch), swapped ? S : 0);
	assert_int_equal(atomic_load(&cfg.by_verdict[OP_VERDICT_NORMAL]), W * N_EPOCHS);
	assert_int_equal(atomic_load(&cfg.by_verdict[OP_VERDICT_UNKNOWN_STRUCTURE]), W * N_EPOCHS);
	assert_int_equal(atomic_load(&cfg.check_errors), 0);
	capture_free(&cap);
	op_check_config_destroy(&cfg);
	tmp_dir_remove(dir);
}

static void
test_swap_w1(void **st)
{
	(void)st;
	swap_at_known_epoch(1, SWAP_FLAG);
}

static void
test_swap_w2(void **st)
{
	(void)st;
	swap_at_known_epoch(2, SWAP_FLAG);
}

static void
test_swap_w3(void **st)
{
	(void)st;
	swap_at_known_epoch(3, SWAP_FLAG);
}

static void
test_swap_w4(void **st)
{
	(void)st;
	swap_at_known_epoch(4, SWAP_FLAG);
}

static void
test_swap_on_model_file_change_w2(void **st)
{
	(void)st;
	swap_at_known_epoch(2, SWAP_FILE);
}

/* A model file replaced after it was loaded but before the watcher's
 * thread first looked (a deploy racing the start) is swapped in: the
 * watcher compares against the file as loaded, not as it first finds it. */
static void
test_file_replaced_before_watcher_started(void **st)
{
	(void)st;
	char dir[4096], path[4200], next[4200];
	tmp_dir_make(dir, sizeof dir);
	tmp_path(path, sizeof path, dir, "model");
	tmp_path(next, sizeof next, dir, "next");
	copy_file(G.model_a, path);
	copy_file(G.model_b, next);
	struct op_check_config cfg;
	char err[512];
	if (op_check_config_init(&cfg, path, err, sizeof err))
		fail_msg("%s", err);
	cfg.no_report = 1;
	assert_int_equal(rename(next, path), 0);
	assert_int_equal(op_check_watch_start(&cfg), 0);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 20;
	for (;;) { /* bounded wait, not a timing assertion */
		if (atomic_load(&cfg.generation))
			break;
		struct timespec now, ts = {0, 1000000};
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec)
			fail_msg("the replaced model file was never loaded");
		nanosleep(&ts, NULL);
	}
	op_check_watch_stop(&cfg);
	assert_int_equal(atomic_load(&cfg.reloads), 1);
	assert_int_equal(atomic_load(&cfg.reload_errors), 0);
	/* and the model in use is B's, byte for byte */
	struct cluster_model *b;
	assert_int_equal(cluster_model_load(G.model_b, &b, err, sizeof err), 0);
	void *eb, *eu;
	size_t nb, nu;
	assert_int_equal(cluster_model_encode(b, &eb, &nb), 0);
	assert_int_equal(cluster_model_encode(cfg.model, &eu, &nu), 0);
	assert_int_equal(nu, nb);
	assert_memory_equal(eu, eb, nb);
	free(eb);
	free(eu);
	cluster_model_unref(b);
	op_check_config_destroy(&cfg);
	tmp_dir_remove(dir);
}

static void
test_corrupt_model_refused_old_one_kept_w3(void **st)
{
	(void)st;
	swap_at_known_epoch(3, SWAP_REFUSED);
}

/* ---- the report ------------------------------------------------------------- */

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void
test_report_of_a_run_with_anomalies(void **st)
{
	(void)st;
	enum { W = 2, EP = 4 };
	struct plan_rec recs[3 * EP];
	size_t n = 0;
	for (uint64_t e = 0; e < EP; e++) { /* X normal, Y unknown, X slow */
		recs[n++] = (struct plan_rec){e, 0x100 + e, G.x};
		recs[n++] = (struct plan_rec){e, 0x200 + e, G.y};
		if (e == 2)
			recs[n++] = (struct plan_rec){e, 0x300 + e, G.x_slow};
	}
	struct rec_plan plan = {recs, n, EP, NULL, NULL};
	struct op_check_config cfg;
	char err[512], path[4200], *anom = NULL;
	size_t anom_len = 0;
	if (op_check_config_init(&cfg, G.model_a, err, sizeof err))
		fail_msg("%s", err);
	cfg.peer.enabled = 0; /* the learned thresholds: no peers in this plan */
	cfg.anomalies = open_memstream(&anom, &anom_len);
	struct swap_ctl ctl = {.cfg = &cfg};
	struct capture cap;
	capture_init(&cap);
	run_check(&cfg, &ctl, &plan, &cap, W);
	fclose(cfg.anomalies);
	assert_int_equal(cap.n, n);
	assert_int_equal(atomic_load(&cfg.by_verdict[OP_VERDICT_NORMAL]), EP);
	assert_int_equal(atomic_load(&cfg.by_verdict[OP_VERDICT_UNKNOWN_STRUCTURE]), EP);
	assert_int_equal(atomic_load(&cfg.by_verdict[OP_VERDICT_SLOW]), 1);
	const size_t n_anom = EP + 1;
	assert_int_equal(count_of(anom, "\n"), n_anom);
	assert_int_equal(count_of(anom, "\"verdict\":\"unknown_structure\""), EP);
	assert_int_equal(count_of(anom, "\"trace_id\":\"0000000000000302\",\"verdict\":\"slow\""), 1);

	tmp_path(path, sizeof path, G.dir, "report.html");
	assert_int_equal(op_check_write_report(&cfg, path), 0);
	size_t len;
	char *html = slurp(path, &len);
	assert_true(len > 0);
	assert_int_equal(strncmp(html, "<!DOCTYPE html>\n<html", 21), 0);
	assert_true(len > 15 && !strcmp(html + len - 15, "</body></html>\n"));
	/* one section per anomaly, each with the template and the trace drawn */
	assert_int_equal(count_of(html, "<section id=\"a"), n_anom);
	assert_int_equal(count_of(html, "</section>"), n_anom);
	assert_int_equal(count_of(html, "<figcaption>anomalous trace:"), n_anom);
	assert_int_equal(count_of(html, "<figcaption>template 0:"), n_anom);
	static const char *const tags[][2] = {
		{"<svg", "</svg>"}, {"<figure>", "</figure>"}, {"<table>", "</table>"},
		{"<g>", "</g>"}, {"<text ", "</text>"}, {"<ol>", "</ol>"},
		{"<li>", "</li>"}, {"<h3>", "</h3>"}, {"<title>", "</title>"},
	};
	for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) { /* balanced */
		assert_true(count_of(html, tags[i][0]) > 0);
		assert_int_equal(count_of(html, tags[i][0]), count_of(html, tags[i][1]));
	}
	/* legend + two drawings per anomaly + one heatmap (template 0) */
	assert_int_equal(count_of(html, "<svg"), 1 + 2 * n_anom + 1);
	assert_int_equal(count_of(html, "<h3>Template 0 "), 1);
	for (uint64_t e = 0; e < EP; e++) {
		char id[64];
		snprintf(id, sizeof id, "trace %016llx \xE2\x80\x94 unknown_structure",
		         (unsigned long long)(0x200 + e));
		assert_int_equal(count_of(html, id), 1);
		snprintf(id, sizeof id, "%016llx", (unsigned long long)(0x100 + e));
		assert_int_equal(count_of(html, id), 0); /* normal: not in the report */
	}
	assert_int_equal(count_of(html, "trace 0000000000000302 \xE2\x80\x94 slow"), 1);
	assert_int_equal(count_of(html, "slow: trace took 2000.0 ms, template 0 threshold"), 2);
	/* texts are escaped: the label with '&' never appears raw */
	assert_true(count_of(html, "write&amp;flush") > 0);
	assert_int_equal(count_of(html, "write&flush"), 0);
	assert_true(count_of(html, "new &#39;write&amp;flush&#39; under &#39;req&#39;") > 0);
	free(html);
	free(anom);
	capture_free(&cap);
	op_check_config_destroy(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swap_w1),
		cmocka_unit_test(test_swap_w2),
		cmocka_unit_test(test_swap_w3),
		cmocka_unit_test(test_swap_w4),
		cmocka_unit_test(test_swap_on_model_file_change_w2),
		cmocka_unit_test(test_file_replaced_before_watcher_started),
		cmocka_unit_test(test_corrupt_model_refused_old_one_kept_w3),
		cmocka_unit_test(test_report_of_a_run_with_anomalies),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_assemble.c — the assemble operator inside a real engine: a scripted
 * source emits events (with epochs) on worker 0, the engine exchanges them
 * by trace id, the assembler finishes traces, a capturing sink keeps copies
 * of the op_trace records for the assertions.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "operators/assemble/assemble.h"
#include "operators/assemble/assemble_int.h"
#include "operators/check/check.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"
#include "test_util.h"

/* ---- a scripted source ------------------------------------------------- */
struct step {
	uint64_t epoch;       /* advance the source to this epoch first */
	uint64_t trace, id;
	uint64_t parents[3];
	unsigned n_parents;
	const char *label;
	const char *host;
	uint32_t src;         /* op_event.src of the event */
	int revoke;           /* k > 0: no event; revoke slot k - 1 instead */
	int wait_opens;       /* first wait until this many traces opened */
	uint16_t ev_flags;    /* op_event.flags (OP_EV_ERROR, OP_EV_EXCEPTION) */
	unsigned repeat;      /* n > 1: a chain of n events, ids id.., each
	                       * the parent of the next */
	int64_t end;          /* != 0: the event ends this long after its
	                       * start (1000 x its id), negative: before it */
};

/* The revocation table the source bumps and the assembler reads, and the
 * traces opened so far (count_open, the assembler's on_open hook). */
static _Atomic uint32_t g_gens[4];
static _Atomic uint64_t g_revocations;
static _Atomic int g_opens;
/* With script.hold, the other workers' sources keep the frontier at the
 * first epoch until worker 0's script is done (g_released): everything
 * later reaches the assemblers ahead of its epoch. */
static _Atomic int g_released;

static void
count_open(void *arg, unsigned w, uint32_t src, uint64_t epoch)
{
	(void)arg;
	(void)w;
	(void)src;
	(void)epoch;
	atomic_fetch_add(&g_opens, 1);
}

struct script {
	const struct step *steps;
	size_t n;
	uint64_t final_epoch; /* advance here before finishing */
	int hold;
};

struct src_state {
	const struct script *sc;
	size_t i;
	struct op_event_builder b;
	uint64_t rec[2048];
};

static int
src_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct src_state *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->sc = arg;
	return op_event_builder_init(&s->b, 16384, 8, 4);
}

static enum engine_poll
src_poll(void *state, struct engine_ctx *ctx)
{
	struct src_state *s = state;
	if (engine_ctx_worker(ctx) != 0)
		return s->sc->hold && !atomic_load(&g_released) ? ENGINE_POLL_IDLE
		                                                 : ENGINE_POLL_DONE;
	if (s->i == s->sc->n) {
		engine_source_advance(ctx, s->sc->final_epoch);
		atomic_store(&g_released, 1);
		return ENGINE_POLL_DONE;
	}
	const struct step *st = &s->sc->steps[s->i];
	if (st->wait_opens && atomic_load(&g_opens) < st->wait_opens)
		return ENGINE_POLL_IDLE; /* the assembler runs meanwhile */
	s->i++;
	engine_source_advance(ctx, st->epoch);
	if (st->revoke) {
		atomic_fetch_add_explicit(&g_gens[st->revoke - 1], 1, memory_order_release);
		atomic_fetch_add_explicit(&g_revocations, 1, memory_order_release);
		return ENGINE_POLL_DATA;
	}
	for (uint64_t r = 0; r < (st->repeat ? st->repeat : 1); r++) {
		op_event_builder_reset(&s->b);
		s->b.hdr.trace_id = st->trace;
		s->b.hdr.event_id = st->id + r;
		s->b.hdr.start_ns = 1000 * (st->id + r);
		if (r)
			op_event_builder_add_parent(&s->b, st->id + r - 1);
		for (unsigned k = 0; !r && k < st->n_parents; k++)
			op_event_builder_add_parent(&s->b, st->parents[k]);
		const char *label = st->label ? st->label : "op";
		const char *host = st->host ? st->host : "h1";
		op_event_builder_set(&s->b, OP_EV_LABEL, label, strlen(label));
		op_event_builder_set(&s->b, OP_EV_HOST, host, strlen(host));
		s->b.hdr.flags = st->ev_flags;
		if (st->end) {
			s->b.hdr.end_ns = s->b.hdr.start_ns + (uint64_t)st->end;
			s->b.hdr.flags |= OP_EV_HAS_END;
		}
		uint32_t len;
		if (op_event_builder_finish(&s->b, s->rec, sizeof s->rec, &len) == 0) {
			((struct op_event *)(void *)s->rec)->src = st->src;
			engine_emit(ctx, 0, st->epoch, s->rec, len);
		}
	}
	return ENGINE_POLL_DATA;
}

static void
src_destroy(void *state)
{
	struct src_state *s = state;
	op_event_builder_free(&s->b);
	free(s);
}

static const struct engine_op_vtable src_vt = {
	.init = src_init, .poll = src_poll, .destroy = src_destroy,
};

/* ---- a capturing sink ---------------------------------------------------- */
struct capture {
	pthread_mutex_t mu;
	struct op_trace *t[4096];
	size_t n;
};

static void
cap_batch(void *state, struct engine_ctx *ctx, unsigned port,
          const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct capture *c = state;
	struct engine_batch_cursor cur = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &cur, &len))) {
		pthread_mutex_lock(&c->mu);
		if (c->n < 4096) {
			c->t[c->n] = malloc(len);
			memcpy(c->t[c->n], r, len);
			c->n++;
		}
		pthread_mutex_unlock(&c->mu);
	}
}

static const struct engine_op_vtable cap_vt = {
	.init = state_is_arg_init, .on_batch = cap_batch,
};

/* Each test's assembler config (defaults; a test may change them before
 * it runs) and capture, freed after the test whether it passed or not. */
struct asm_fx {
	struct op_assemble_config ac;
	struct capture cap;
};

static int
asm_fx_setup(void **state)
{
	struct asm_fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	op_assemble_config_init(&f->ac);
	pthread_mutex_init(&f->cap.mu, NULL);
	for (int i = 0; i < 4; i++)
		atomic_store(&g_gens[i], 0);
	atomic_store(&g_revocations, 0);
	atomic_store(&g_opens, 0);
	atomic_store(&g_released, 0);
	*state = f;
	return 0;
}

static int
asm_fx_teardown(void **state)
{
	struct asm_fx *f = *state;
	for (size_t i = 0; i < f->cap.n; i++)
		free(f->cap.t[i]);
	pthread_mutex_destroy(&f->cap.mu);
	op_assemble_config_destroy(&f->ac);
	free(f);
	return 0;
}

/* script -> exchange(trace) -> assemble -> capture on W workers with the
 * fixture's config; returns the fixture's capture. Once per test. */
static struct capture *
run(struct asm_fx *f, const struct script *sc, unsigned W)
{
	char err[256];
	assert_int_equal(op_assemble_config_check(&f->ac, err, sizeof err), 0);
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "script", &src_vt, (void *)sc, 0, 1, var);
	int a = engine_graph_add(g, "assemble", &op_assemble_vtable, &f->ac, 1, 1,
	                         var);
	int k = engine_graph_add(g, "capture", &cap_vt, &f->cap, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, a, 0, op_event_trace_key, NULL), 0);
	assert_int_equal(engine_graph_connect(g, a, 0, k, 0, NULL, NULL), 0);
	assert_int_equal(run_graph(g, W, NULL), 0);
	return &f->cap;
}

static const struct op_trace *
find(const struct capture *c, uint64_t trace, uint32_t flag_set)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->t[i]->trace_id == trace &&
		    (flag_set == 0 || (c->t[i]->flags & flag_set)))
			return c->t[i];
	return NULL;
}

static size_t
count(const struct capture *c, uint64_t trace)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		n += c->t[i]->trace_id == trace;
	return n;
}

/* index of the node with event id, or -1 */
static int
node(const struct op_trace *t, uint64_t id)
{
	const struct op_trace_event *ev = op_trace_events(t);
	for (uint32_t i = 0; i < t->n_events; i++)
		if (ev[i].event_id == id)
			return (int)i;
	return -1;
}

static int
has_edge(const struct op_trace *t, uint64_t p, uint64_t c)
{
	int pi = node(t, p), ci = node(t, c);
	const struct op_trace_edge *e = op_trace_edges(t);
	for (uint32_t i = 0; i < t->n_edges; i++)
		if ((int)e[i].parent == pi && (int)e[i].child == ci)
			return 1;
	return 0;
}

#define P(...) {__VA_ARGS__}, sizeof((uint64_t[]){__VA_ARGS__}) / 8

static void
test_children_before_parents_still_build_the_dag(void **st)
{
	struct asm_fx *f = *st;
	/* diamond 1 -> {2,3} -> 4, arriving leaf first */
	const struct step steps[] = {
		{0, 7, 4, P(2, 3), "join", NULL},
		{0, 7, 3, P(1), "right", NULL},
		{0, 7, 2, P(1), "left", NULL},
		{0, 7, 1, {0}, 0, "root", NULL},
	};
	struct script sc = {steps, 4, 10};
	struct capture *cap = run(f, &sc, 2);
	assert_int_equal(cap->n, 1);
	const struct op_trace *t = cap->t[0];
	assert_int_equal(t->n_events, 4);
	assert_int_equal(t->n_edges, 4);
	assert_int_equal(t->n_roots, 1);
	assert_int_equal(t->depth, 3);
	assert_true(has_edge(t, 1, 2) && has_edge(t, 1, 3) && has_edge(t, 2, 4) &&
	            has_edge(t, 3, 4));
	assert_string_equal(op_trace_str(t, op_trace_events(t)[node(t, 4)].label),
	                    "join");
	assert_int_equal(t->flags & (OP_TRACE_DANGLING | OP_TRACE_MALFORMED), 0);
}

/* The trace's "exception" flag is the OR of its events' flags: an X-Trace
 * event naming an exception (OP_EV_EXCEPTION) or a span with an error
 * (OP_EV_ERROR, which alone also marks its node). */
static void
test_exception_and_error_events_flag_their_trace(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 5, 1, {0}, 0, "a", NULL},
		{0, 5, 2, P(1), "b", NULL, .ev_flags = OP_EV_EXCEPTION},
		{0, 6, 1, {0}, 0, "a", NULL},
		{0, 6, 2, P(1), "b", NULL},
		{0, 7, 1, {0}, 0, "a", NULL, .ev_flags = OP_EV_ERROR},
	};
	struct script sc = {steps, 5, 10};
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 3);
	const struct op_trace *t5 = find(cap, 5, 0), *t6 = find(cap, 6, 0),
	                      *t7 = find(cap, 7, 0);
	assert_true(t5 && t6 && t7);
	assert_true(t5->flags & OP_TRACE_ERROR);
	assert_false(op_trace_events(t5)[node(t5, 2)].flags & OP_TEV_ERROR);
	assert_false(t6->flags & OP_TRACE_ERROR);
	assert_true(t7->flags & OP_TRACE_ERROR);
	assert_true(op_trace_events(t7)[0].flags & OP_TEV_ERROR);
}

static void
test_duplicate_event_kept_once_and_counted(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 9, 1, {0}, 0, "a", NULL},
		{0, 9, 2, P(1), "b", NULL},
		{0, 9, 2, P(1), "b", NULL},
	};
	struct script sc = {steps, 3, 10};
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->t[0]->n_events, 2);
	assert_int_equal(cap->t[0]->duplicates, 1);
	assert_int_equal(cap->t[0]->events_seen, 3);
	assert_int_equal(atomic_load(&f->ac.duplicates), 1);
}

static void
test_parent_that_never_comes_is_a_flagged_missing_node(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 5, 2, P(99), "orphan", NULL},
	};
	struct script sc = {steps, 1, 10};
	struct capture *cap = run(f, &sc, 1);
	const struct op_trace *t = cap->t[0];
	assert_int_equal(t->n_events, 2);
	assert_int_equal(t->missing, 1);
	assert_true(t->flags & OP_TRACE_DANGLING);
	int m = node(t, 99);
	assert_true(m >= 0);
	assert_true(op_trace_events(t)[m].flags & OP_TEV_MISSING);
	assert_true(has_edge(t, 99, 2));
}

static void
test_cycle_is_cut_counted_and_trace_kept(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 3, 1, P(2), "a", NULL},
		{0, 3, 2, P(1), "b", NULL},
		{0, 3, 4, P(2), "c", NULL},
	};
	struct script sc = {steps, 3, 10};
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 1);
	const struct op_trace *t = cap->t[0];
	assert_int_equal(t->n_events, 3);
	assert_true(t->flags & OP_TRACE_MALFORMED);
	assert_int_equal(t->cycle_edges, 1);
	assert_int_equal(t->n_edges, 2);
	assert_int_equal(t->n_roots, 1);
}

static void
test_trace_finishes_after_idle_gap_not_before(void **st)
{
	struct asm_fx *f = *st;
	/* trace 1 active in epochs 0 and 1 (a gap shorter than G keeps it
	 * open); trace 2 only in epoch 0 */
	const struct step steps[] = {
		{0, 1, 1, {0}, 0, "a", NULL},
		{0, 2, 1, {0}, 0, "a", NULL},
		{1, 1, 2, P(1), "b", NULL},
	};
	struct script sc = {steps, 3, 20};
	f->ac.idle_epochs = 2;
	struct capture *cap = run(f, &sc, 2);
	const struct op_trace *t1 = find(cap, 1, 0), *t2 = find(cap, 2, 0);
	assert_non_null(t1);
	assert_non_null(t2);
	assert_int_equal(t2->emit_epoch, 2);  /* last 0 + G */
	assert_int_equal(t1->emit_epoch, 3);  /* last 1 + G */
	assert_int_equal(count(cap, 1), 1); /* not split */
	assert_int_equal(t1->n_events, 2);
	assert_int_equal(t1->flags & OP_TRACE_FLUSHED, 0);
}

static void
test_events_ahead_of_their_epoch_wait_for_it(void **st)
{
	struct asm_fx *f = *st;
	/* Worker 1 holds the frontier at 0 while worker 0 sends everything:
	 * the events reach the assemblers epochs ahead and wait (stashed,
	 * big batches kept, small ones copied), and the outcome is what the
	 * epochs say. Trace 31's second event comes after its idle gap: it
	 * must be an amendment, not part of the first record. */
	const struct step steps[] = {
		{1, 30, 1, {0}, 0, "a", NULL},
		{1, 31, 1, {0}, 0, "a", NULL},
		{2, 30, 2, P(1), "b", NULL},
		{2, 32, 1, {0}, 0, "c", NULL, .repeat = 1000},
		{6, 31, 2, P(1), "late", NULL},
	};
	struct script sc = {steps, 5, 20, .hold = 1};
	f->ac.idle_epochs = 2;
	struct capture *cap = run(f, &sc, 2);
	const struct op_trace *t30 = find(cap, 30, 0), *t32 = find(cap, 32, 0);
	assert_true(t30 && t32);
	assert_int_equal(count(cap, 30), 1);
	assert_int_equal(t30->n_events, 2);
	assert_int_equal(t30->emit_epoch, 4); /* last 2 + G */
	assert_int_equal(count(cap, 32), 1);
	assert_int_equal(t32->n_events, 1000);
	assert_int_equal(t32->emit_epoch, 4);
	assert_int_equal(t32->flags & (OP_TRACE_DANGLING | OP_TRACE_FLUSHED), 0);
	assert_int_equal(count(cap, 31), 2);
	assert_non_null(find(cap, 31, OP_TRACE_LATE));
	assert_int_equal(atomic_load(&f->ac.late_events), 1);
}

static void
test_late_event_becomes_an_amendment(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 4, 1, {0}, 0, "a", NULL},
		{6, 4, 2, P(1), "late", NULL}, /* trace 4 emitted at epoch 2 */
	};
	struct script sc = {steps, 2, 20};
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(count(cap, 4), 2);
	const struct op_trace *late = find(cap, 4, OP_TRACE_LATE);
	assert_non_null(late);
	assert_int_equal(late->n_events, 2); /* the late event + its missing parent */
	assert_int_equal(atomic_load(&f->ac.late_events), 1);
	assert_int_equal(atomic_load(&f->ac.late_traces), 1);
}

static void
test_trace_over_event_limit_is_cut_and_keeps_counting(void **st)
{
	struct asm_fx *f = *st;
	struct step steps[50];
	for (unsigned i = 0; i < 50; i++)
		steps[i] = (struct step){0, 8, i + 1, {i}, i ? 1 : 0, "x", NULL};
	struct script sc = {steps, 50, 10};
	f->ac.max_trace_events = 20;
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 1);
	assert_true(cap->t[0]->flags & OP_TRACE_TRUNCATED);
	assert_int_equal(cap->t[0]->n_events, 20);
	assert_int_equal(cap->t[0]->dropped, 30);
	assert_int_equal(cap->t[0]->events_seen, 50);
}

static void
test_open_trace_limit_emits_oldest_as_incomplete(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 11, 1, {0}, 0, "a", NULL},
		{1, 12, 1, {0}, 0, "a", NULL},
		{1, 13, 1, {0}, 0, "a", NULL}, /* third open trace: 11 must go */
		{1, 11, 2, P(1), "b", NULL},
	};
	struct script sc = {steps, 4, 10};
	f->ac.max_open_traces = 2;
	struct capture *cap = run(f, &sc, 1);
	const struct op_trace *first = find(cap, 11, OP_TRACE_INCOMPLETE);
	assert_non_null(first);
	assert_int_equal(first->n_events, 1);
	/* its later event is not lost: it comes as an amendment, whose opening
	 * in turn pushes out the next oldest trace (12) */
	assert_non_null(find(cap, 11, OP_TRACE_LATE));
	assert_non_null(find(cap, 12, OP_TRACE_INCOMPLETE));
	assert_null(find(cap, 13, OP_TRACE_INCOMPLETE));
	assert_int_equal(atomic_load(&f->ac.incomplete), 2);
}

static void
test_end_label_finishes_early_once_parents_arrived(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 21, 2, P(1), "done", NULL}, /* end label, parent not there yet */
		{1, 21, 1, {0}, 0, "start", NULL},
		{2, 22, 1, {0}, 0, "other", NULL},
	};
	struct script sc = {steps, 3, 50};
	f->ac.idle_epochs = 10;
	f->ac.end_label = "done";
	struct capture *cap = run(f, &sc, 1);
	const struct op_trace *t = find(cap, 21, 0);
	assert_non_null(t);
	assert_true(t->flags & OP_TRACE_END_LABEL);
	assert_true(t->emit_epoch < 1 + 10); /* before the idle gap */
	assert_int_equal(t->n_events, 2);
	assert_int_equal(t->missing, 0);
}

static void
test_every_trace_emitted_exactly_once_across_workers(void **st)
{
	struct asm_fx *f = *st;
	enum { T = 300, E = 5 };
	struct step *steps = calloc(T * E, sizeof *steps);
	size_t n = 0;
	for (unsigned e = 0; e < E; e++) /* interleaved like a live stream */
		for (unsigned t = 0; t < T; t++)
			steps[n++] = (struct step){e / 2, 1000 + t, e + 1, {e}, e ? 1 : 0,
			                           e % 2 ? "odd" : "even", NULL};
	struct script sc = {steps, n, 30};
	struct capture *cap = run(f, &sc, 3);
	assert_int_equal(cap->n, T);
	for (unsigned t = 0; t < T; t++) {
		assert_int_equal(count(cap, 1000 + t), 1);
		const struct op_trace *x = find(cap, 1000 + t, 0);
		assert_int_equal(x->n_events, E);
		assert_int_equal(x->depth, E);
		/* same shape -> same signature */
		assert_true(x->signature == cap->t[0]->signature);
	}
	assert_int_equal(atomic_load(&f->ac.events), T * E);
	free(steps);
}

/* Issue 20: the epoch close latency hook is called once per epoch that
 * brought the worker an event (not for the empty ones), with the time
 * from that epoch's last batch to its close. */
struct close_obs {
	_Atomic uint64_t n, max_ns;
};

static void
on_closed(void *arg, uint64_t ns)
{
	struct close_obs *o = arg;
	atomic_fetch_add(&o->n, 1);
	if (ns > atomic_load(&o->max_ns))
		atomic_store(&o->max_ns, ns);
}

static void
test_epoch_close_latency_once_per_epoch_with_events(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 1, 1, {0}, 0, "a", NULL},
		{0, 2, 1, {0}, 0, "a", NULL},
		{3, 1, 2, P(1), "b", NULL},
		{7, 3, 1, {0}, 0, "a", NULL},
	};
	struct script sc = {steps, 4, 20};
	struct close_obs o = {0};
	f->ac.on_epoch_closed = on_closed;
	f->ac.on_epoch_closed_arg = &o;
	run(f, &sc, 1);
	assert_int_equal(atomic_load(&o.n), 3); /* epochs 0, 3 and 7 of 21 */
	assert_true(atomic_load(&o.max_ns) < 60ull * 1000000000u);
}

static void
test_long_label_text_is_cut_to_the_limit(void **st)
{
	struct asm_fx *f = *st;
	char label[300];
	memset(label, 'L', sizeof label - 1);
	label[sizeof label - 1] = '\0';
	const struct step steps[] = {{0, 31, 1, {0}, 0, label, NULL}};
	struct script sc = {steps, 1, 10};
	f->ac.max_text_bytes = 16;
	struct capture *cap = run(f, &sc, 1);
	const struct op_trace *t = cap->t[0];
	assert_int_equal(strlen(op_trace_str(t, op_trace_events(t)[0].label)), 16);
	assert_int_equal(atomic_load(&f->ac.text_truncated), 1);
}

/* Past max_places, an event keeps its (label, host, agent) symbols in its
 * trace's overflow array, beside extra parents: the trace comes out the
 * same, and each such event is counted. */
/* The one trace cap holds: every step of steps[0..n) (one event each,
 * label and host given) is a node of it with the step's label, host,
 * start and end, and no parent is missing. */
static const struct op_trace *
sole_trace_of(const struct capture *cap, const struct step *steps, size_t n)
{
	assert_int_equal(cap->n, 1);
	const struct op_trace *t = cap->t[0];
	assert_int_equal(t->n_events, n);
	assert_int_equal(t->missing, 0);
	const struct op_trace_event *ev = op_trace_events(t);
	for (size_t i = 0; i < n; i++) {
		int k = node(t, steps[i].id);
		assert_true(k >= 0);
		assert_int_equal(ev[k].start_ns, 1000 * steps[i].id);
		if (steps[i].end) {
			assert_true(ev[k].flags & OP_TEV_HAS_END);
			assert_int_equal(ev[k].end_ns,
			                 1000 * steps[i].id + (uint64_t)steps[i].end);
		} else {
			assert_false(ev[k].flags & OP_TEV_HAS_END);
		}
		assert_string_equal(op_trace_str(t, ev[k].label), steps[i].label);
		assert_string_equal(op_trace_str(t, ev[k].host), steps[i].host);
	}
	return t;
}

static void
test_events_past_the_places_limit_keep_their_symbols(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
	    {0, 51, 1, {0}, 0, "a", "h1", 0, 0, 0},
	    {0, 51, 2, P(1), "b", "h2", 0, 0, 0},
	    {0, 51, 3, P(1, 2), "c", "h3", 0, 0, 0},
	    {0, 51, 4, P(3), "a", "h2", 0, 0, 0},
	    {0, 51, 5, P(3, 4, 2), "b", "h1", 0, 0, 0},
	    {0, 51, 6, P(5), "a", "h1", 0, 0, 0},
	};
	struct script sc = {steps, 6, 10};
	f->ac.max_places = 2; /* (a, h1) and (b, h2) */
	const struct op_trace *t = sole_trace_of(run(f, &sc, 1), steps, 6);
	assert_true(has_edge(t, 1, 3) && has_edge(t, 2, 3));
	assert_true(has_edge(t, 3, 5) && has_edge(t, 4, 5) && has_edge(t, 2, 5));
	assert_true(has_edge(t, 5, 6));
	assert_int_equal(atomic_load(&f->ac.place_overflow), 3); /* events 3, 4, 5 */
}

/* A stored event keeps its end as a 32-bit length from its start; an end
 * further away, or before the start, goes to the trace's overflow array
 * behind the other parents and the symbols of an event past the places
 * limit. Every end comes back exact. */
static void
test_every_end_comes_back_exact_near_or_far(void **st)
{
	struct asm_fx *f = *st;
	const int64_t far = (int64_t)1 << 40;
	const struct step steps[] = {
	    {0, 61, 1, {0}, 0, "a", "h1", .end = 5},
	    {0, 61, 2, P(1), "b", "h2", .end = 0xffffffffll},
	    {0, 61, 3, P(1), "c", "h3", .end = 0x100000000ll},
	    {0, 61, 4, P(3, 2, 1), "a", "h2", .end = far},
	    {0, 61, 5, P(4), "a", "h1", .end = -1},
	    {0, 61, 6, P(5, 2), "b", "h1"},
	};
	struct script sc = {steps, 6, 10};
	f->ac.max_places = 2; /* (a, h1) and (b, h2): 3 and 4 overflow */
	const struct op_trace *t = sole_trace_of(run(f, &sc, 1), steps, 6);
	assert_true(has_edge(t, 3, 4) && has_edge(t, 2, 4) && has_edge(t, 1, 4));
	assert_true(has_edge(t, 5, 6) && has_edge(t, 2, 6));
}

/* A trace's overflow array is bounded (max_trace_extra words): an event
 * whose parents would pass it is dropped as past max_trace_events, and
 * the trace keeps the rest. Here each join takes 4 words (a count and
 * three parents): two fit in 9, the third does not, and a one-parent
 * event after it still fits (it takes none). */
static void
test_an_event_past_the_overflow_bound_is_dropped_and_counted(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
	    {0, 71, 1, {0}, 0, "a", "h1", 0, 0, 0},
	    {0, 71, 2, P(1), "b", "h1", 0, 0, 0},
	    {0, 71, 3, P(1), "c", "h1", 0, 0, 0},
	    {0, 71, 4, P(1, 2, 3), "d", "h1", 0, 0, 0},
	    {0, 71, 5, P(2, 3, 4), "d", "h1", 0, 0, 0},
	    {0, 71, 6, P(3, 4, 5), "d", "h1", 0, 0, 0},
	    {0, 71, 7, P(5), "e", "h1", 0, 0, 0},
	};
	struct script sc = {steps, 7, 10};
	f->ac.max_trace_extra = 9;
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 1);
	const struct op_trace *t = cap->t[0];
	assert_true(t->flags & OP_TRACE_TRUNCATED);
	assert_int_equal(t->n_events, 6);
	assert_int_equal(t->dropped, 1);
	assert_int_equal(t->events_seen, 7);
	assert_int_equal(node(t, 6), -1);
	assert_true(has_edge(t, 1, 4) && has_edge(t, 2, 4) && has_edge(t, 3, 4));
	assert_true(has_edge(t, 2, 5) && has_edge(t, 3, 5) && has_edge(t, 4, 5));
	assert_true(has_edge(t, 5, 7));
	assert_int_equal(atomic_load(&f->ac.dropped), 1);
}

static void
test_trace_older_than_age_limit_is_emitted_incomplete_aged(void **st)
{
	struct asm_fx *f = *st;
	/* trace 21 never goes idle: one event per epoch for 41 epochs */
	struct step steps[41];
	for (unsigned i = 0; i < 41; i++)
		steps[i] = (struct step){i, 21, i + 1, {i}, i ? 1 : 0, "tick", NULL};
	struct script sc = {steps, 41, 60};
	f->ac.max_age_epochs = 16; /* scanned every 2 epochs */
	struct capture *cap = run(f, &sc, 2);
	const struct op_trace *aged = find(cap, 21, OP_TRACE_AGED);
	assert_non_null(aged);
	assert_true(aged->flags & OP_TRACE_INCOMPLETE);
	assert_int_equal(aged->first_epoch, 0);
	assert_in_range(aged->emit_epoch, 16, 18);
	assert_int_equal(aged->events_seen, aged->emit_epoch + 1);
	/* nothing lost: the rest comes as amendments, counted */
	uint64_t seen = 0;
	for (size_t k = 0; k < cap->n; k++)
		if (cap->t[k]->trace_id == 21)
			seen += cap->t[k]->events_seen;
	assert_int_equal(seen, 41);
	assert_int_equal(atomic_load(&f->ac.aged), 2); /* the amendment aged too */
	assert_null(find(cap, 21, OP_TRACE_FLUSHED));
}

/* by_close: the assembler also watches the revocation count (it hands
 * over at an epoch close); without it, only the next event can. */
static void
revoked_partition_hands_its_traces_over(struct asm_fx *f, int by_close)
{
	const struct step steps[] = {
		{0, 31, 1, {0}, 0, "a", NULL, OP_SRC(0, 0)},
		{0, 32, 1, {0}, 0, "a", NULL, OP_SRC(1, 0)},
		{1, 31, 2, P(1), "b", NULL, OP_SRC(0, 0)},
		{1, 32, 2, P(1), "b", NULL, OP_SRC(1, 0)},
		{2, 0, 0, {0}, 0, NULL, NULL, 0, 1},         /* slot 0 revoked */
		{2, 31, 3, P(2), "c", NULL, OP_SRC(0, 0)},   /* in flight: stale */
		{2, 31, 1, {0}, 0, "a", NULL, OP_SRC(0, 1)}, /* re-read, new owner */
		{2, 31, 2, P(1), "b", NULL, OP_SRC(0, 1)},
		{2, 31, 3, P(2), "c", NULL, OP_SRC(0, 1)},
	};
	struct script sc = {steps, 9, 20};
	uint32_t n = 4;
	f->ac.src_gen = g_gens;
	f->ac.n_src = n;
	f->ac.revocations = by_close ? &g_revocations : NULL;
	struct capture *cap = run(f, &sc, 2);
	/* Where the old copy goes depends on when the assembler sees the
	 * revocation (at the next epoch close or at the re-read event): its
	 * events either leave in it or are dropped as stale, never both. */
	const struct op_trace *gone = find(cap, 31, OP_TRACE_HANDED_OVER);
	assert_non_null(gone);
	assert_true(gone->flags & OP_TRACE_FLUSHED);
	assert_int_equal(gone->src, OP_SRC(0, 0));
	assert_int_equal(gone->events_seen + atomic_load(&f->ac.stale_events), 3);
	/* the re-read copy is whole, is no amendment, and is the only other */
	assert_int_equal(count(cap, 31), 2);
	const struct op_trace *whole = NULL;
	for (size_t k = 0; k < cap->n; k++)
		if (cap->t[k]->trace_id == 31 && cap->t[k] != gone)
			whole = cap->t[k];
	assert_non_null(whole);
	assert_int_equal(whole->n_events, 3);
	assert_int_equal(whole->flags & (OP_TRACE_LATE | OP_TRACE_FLUSHED), 0);
	assert_int_equal(whole->src, OP_SRC(0, 1));
	/* the other partition's trace is untouched */
	const struct op_trace *t32 = find(cap, 32, 0);
	assert_int_equal(count(cap, 32), 1);
	assert_int_equal(t32->n_events, 2);
	assert_int_equal(t32->flags & OP_TRACE_FLUSHED, 0);
	assert_int_equal(atomic_load(&f->ac.handed_over), 1);
}

static void
test_revoked_partition_hands_its_traces_over(void **st)
{
	revoked_partition_hands_its_traces_over(*st, 1);
}

static void
test_revoked_trace_is_handed_over_at_its_next_event(void **st)
{
	revoked_partition_hands_its_traces_over(*st, 0);
}

static void
test_revocation_hands_over_at_close_without_new_events(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{0, 41, 1, {0}, 0, "a", NULL, OP_SRC(2, 0)},
		/* slot 2 revoked once trace 41 is open */
		{1, 0, 0, {0}, 0, NULL, NULL, 0, 3, 1},
	};
	struct script sc = {steps, 2, 20};
	f->ac.idle_epochs = 10;
	f->ac.on_open = count_open;
	f->ac.src_gen = g_gens;
	f->ac.n_src = 4;
	f->ac.revocations = &g_revocations;
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 1);
	const struct op_trace *t = cap->t[0];
	assert_true(t->flags & OP_TRACE_HANDED_OVER);
	assert_true(t->flags & OP_TRACE_FLUSHED);
	assert_true(t->emit_epoch < 10); /* before its idle gap ran out */
}

struct retags {
	int n;
	uint32_t from, to;
	uint64_t epoch;
	int opens;
};

static void
on_open(void *arg, unsigned w, uint32_t src, uint64_t epoch)
{
	(void)w;
	(void)src;
	(void)epoch;
	((struct retags *)arg)->opens++;
}

static void
on_retag(void *arg, unsigned w, uint32_t from, uint32_t to, uint64_t epoch)
{
	(void)w;
	struct retags *r = arg;
	r->n++;
	r->from = from;
	r->to = to;
	r->epoch = epoch;
}

static void
test_trace_from_two_partitions_is_held_by_all(void **st)
{
	struct asm_fx *f = *st;
	const struct step steps[] = {
		{3, 51, 1, {0}, 0, "a", NULL, OP_SRC(0, 0)},
		{3, 51, 2, P(1), "b", NULL, OP_SRC(1, 0)},
		{4, 51, 3, P(2), "c", NULL, OP_SRC(0, 0)},
	};
	struct script sc = {steps, 3, 20};
	struct retags r = {0};
	f->ac.on_open = on_open;
	f->ac.on_retag = on_retag;
	f->ac.on_open_arg = &r;
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, 1);
	assert_int_equal(cap->t[0]->src, OP_TRACE_SRC_MANY);
	assert_int_equal(cap->t[0]->n_events, 3);
	assert_int_equal(r.opens, 1);
	assert_int_equal(r.n, 1); /* once, however many sources follow */
	assert_int_equal(r.from, OP_SRC(0, 0));
	assert_int_equal(r.to, OP_TRACE_SRC_MANY);
	assert_int_equal(r.epoch, 3);
}

static void
test_memory_budget_emits_oldest_as_incomplete(void **st)
{
	struct asm_fx *f = *st;
	/* 2,000 one-event traces in epoch 0..9 against a budget for about
	 * 200 (a trace: one 256-byte chunk and its record) */
	enum { N = 2000 };
	static struct step steps[N];
	for (unsigned i = 0; i < N; i++)
		steps[i] = (struct step){i / 200, 1000 + i, 1, {0}, 0, "a", NULL};
	struct script sc = {steps, N, 40};
	f->ac.max_open_bytes = 200 * (256 + 512);
	struct capture *cap = run(f, &sc, 1);
	assert_int_equal(cap->n, N); /* nothing lost */
	uint64_t ev = atomic_load(&f->ac.budget_evictions);
	assert_true(ev > N / 2);
	assert_int_equal(atomic_load(&f->ac.incomplete), ev);
	/* the first trace went out early, incomplete; the last one idled out */
	assert_non_null(find(cap, 1000, OP_TRACE_INCOMPLETE));
	assert_null(find(cap, 1000 + N - 1, OP_TRACE_INCOMPLETE));
	assert_int_equal(atomic_load(&f->ac.open_bytes), 0);
}

/* The finish helper (asm_finish.c) changes who builds a record, not the
 * record: at W=1 the same records come out in the same order with it as
 * without, whether traces finish by the idle gap while the stream goes on
 * (a close) or at its end (the flush), in windows large enough to be
 * shared. Only the wall-clock fields (idle_ns, last_ns) may differ. */
static void
same_records(const struct capture *a, const struct capture *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->t[i]->size, b->t[i]->size);
		struct op_trace *x = malloc(a->t[i]->size), *y = malloc(b->t[i]->size);
		assert_non_null(x);
		assert_non_null(y);
		memcpy(x, a->t[i], a->t[i]->size);
		memcpy(y, b->t[i], b->t[i]->size);
		x->idle_ns = y->idle_ns = 0;
		x->last_ns = y->last_ns = 0;
		assert_memory_equal(x, y, x->size);
		free(x);
		free(y);
	}
}

static void
test_finish_helper_emits_the_same_records_in_the_same_order(void **st)
{
	struct asm_fx *f = *st;
	/* 600 traces, each a chain of 40 events under a root with two
	 * parents of which one never comes: 300 idle out while the stream
	 * goes on (epochs 0-9; about 12,000 events finish together at a
	 * close), 300 stay open to the end (the flush) */
	enum { N = 600, CHAIN = 40 };
	static struct step steps[N];
	for (unsigned i = 0; i < N; i++)
		steps[i] = (struct step){i < N / 2 ? i / 100 : 10 + i / 100,
		                         1000 + i, 100000u * (i + 1),
		                         {7, 100000u * (i + 1) + CHAIN + 5}, 2,
		                         i % 3 ? "write" : "read",
		                         i % 2 ? "h1" : "h2", .repeat = CHAIN};
	struct script sc = {steps, N, 20};
	f->ac.finish_helper = WEFT_HELPER_OFF;
	struct capture *alone = run(f, &sc, 1);
	assert_int_equal(alone->n, N);
	assert_int_equal(atomic_load(&f->ac.finish_helped), 0);
	assert_true(find(alone, 1000, 0)->emit_epoch < 10); /* by a close */
	assert_int_equal(find(alone, 1000, 0)->missing, 2);
	/* With the helper, as often as it takes for it to have built some
	 * (it takes part whenever the scheduler runs it during a window):
	 * every run the same records. */
	int helped = 0;
	for (int r = 0; r < 10 && !helped; r++) {
		struct asm_fx *g;
		assert_int_equal(asm_fx_setup((void **)&g), 0);
		g->ac.finish_helper = WEFT_HELPER_ON;
		struct capture *with = run(g, &sc, 1);
		same_records(alone, with);
		uint64_t h = atomic_load(&g->ac.finish_helped);
		assert_true(h <= N);
		helped = h > 0;
		assert_int_equal(asm_fx_teardown((void **)&g), 0);
	}
	assert_true(helped);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, asm_fx_setup, asm_fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_children_before_parents_still_build_the_dag),
		T(test_duplicate_event_kept_once_and_counted),
		T(test_exception_and_error_events_flag_their_trace),
		T(test_parent_that_never_comes_is_a_flagged_missing_node),
		T(test_cycle_is_cut_counted_and_trace_kept),
		T(test_trace_finishes_after_idle_gap_not_before),
		T(test_events_ahead_of_their_epoch_wait_for_it),
		T(test_late_event_becomes_an_amendment),
		T(test_trace_over_event_limit_is_cut_and_keeps_counting),
		T(test_open_trace_limit_emits_oldest_as_incomplete),
		T(test_end_label_finishes_early_once_parents_arrived),
		T(test_events_past_the_places_limit_keep_their_symbols),
		T(test_every_end_comes_back_exact_near_or_far),
		T(test_an_event_past_the_overflow_bound_is_dropped_and_counted),
		T(test_every_trace_emitted_exactly_once_across_workers),
		T(test_epoch_close_latency_once_per_epoch_with_events),
		T(test_long_label_text_is_cut_to_the_limit),
		T(test_trace_older_than_age_limit_is_emitted_incomplete_aged),
		T(test_revoked_partition_hands_its_traces_over),
		T(test_revoked_trace_is_handed_over_at_its_next_event),
		T(test_revocation_hands_over_at_close_without_new_events),
		T(test_trace_from_two_partitions_is_held_by_all),
		T(test_memory_budget_emits_oldest_as_incomplete),
		T(test_finish_helper_emits_the_same_records_in_the_same_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

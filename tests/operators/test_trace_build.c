/*
 * test_trace_build.c — the trace builder (op_trace_build.c) on its own:
 * the record of a trace does not depend on the order its events arrived
 * in. Events in an order where every parent comes first take the builder's
 * ordered path; any other order (replay at W >= 2 interleaves the readers'
 * stripes, so every trace arrives so) takes the depth-first ordering, and
 * a cycle Kahn's algorithm. The assertions compare what a record says
 * about the DAG as sets keyed by event id, since node indices follow the
 * arrival order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "operators/assemble/assemble_int.h"
#include "operators/assemble/trace.h"
#include "common/common.h"

enum { MAX_EV = 128, MAX_PAR = 4 };

/* An event as a test writes it: its parents inline. */
struct tev {
	uint64_t id, start, end, label, host;
	uint64_t par[MAX_PAR];
	uint16_t n_par;
};

struct tdag {
	struct tev ev[MAX_EV];
	uint32_t n;
};

static struct tev *
add(struct tdag *d, uint64_t id, uint64_t label, uint64_t host, uint64_t start)
{
	assert_true(d->n < MAX_EV);
	struct tev *e = &d->ev[d->n++];
	memset(e, 0, sizeof *e);
	e->id = id;
	e->label = label;
	e->host = host;
	e->start = start;
	return e;
}

static void
par(struct tev *e, uint64_t p)
{
	assert_true(e->n_par < MAX_PAR);
	e->par[e->n_par++] = p;
}

/* A write of `blocks` chained block units under one root, as HDFS writes
 * them: send -> {receive on two datanodes} -> ack (a join of both), the
 * next send under the ack; plus an event with three parents, one parent
 * that never comes, and one event reported twice. Listed so that every
 * parent comes before its children. */
static void
hdfs_like(struct tdag *d, uint32_t blocks)
{
	d->n = 0;
	uint64_t t = 1000;
	add(d, 1, 0xA0, 0xB0, t); /* the root; no end: its host's span */
	uint64_t prev = 1;
	for (uint32_t k = 0; k < blocks; k++) {
		uint64_t base = 100 + 10 * (uint64_t)k;
		struct tev *send = add(d, base, 0xA1, 0xB0, t += 10);
		par(send, prev);
		struct tev *ra = add(d, base + 1, 0xA2, 0xB1 + k % 3, t += 10);
		par(ra, base);
		struct tev *rb = add(d, base + 2, 0xA2, 0xB4 + k % 2, t += 10);
		par(rb, base);
		struct tev *ack = add(d, base + 3, 0xA3, 0xB0, t += 10);
		ack->end = t + 5;
		par(ack, base + 1);
		par(ack, base + 2);
		prev = base + 3;
	}
	struct tev *close = add(d, 900, 0xA4, 0xB0, t += 10);
	par(close, prev);
	par(close, 100);
	par(close, 1);
	struct tev *dangling = add(d, 901, 0xA5, 0xB9, t += 10);
	par(dangling, 777777); /* never comes: a missing node */
	par(dangling, 900);
	d->ev[d->n] = d->ev[3]; /* the first receive, reported again */
	d->n++;
}

/* The builder's input for d's events in the order perm[]. */
static void
to_asm(const struct tdag *d, const uint32_t *perm, struct asm_ev *ev,
       uint64_t *extra)
{
	uint32_t nx = 0;
	for (uint32_t i = 0; i < d->n; i++) {
		const struct tev *e = &d->ev[perm[i]];
		ev[i] = (struct asm_ev){
		    .event_id = e->id,
		    .start_ns = e->start,
		    .end_ns = e->end,
		    .label_sym = e->label,
		    .host_sym = e->host,
		    .agent_sym = 0xC0,
		    .parent0 = e->n_par ? e->par[0] : 0,
		    .n_parents = e->n_par,
		    .flags = e->end ? OP_TEV_HAS_END : 0,
		    .extra = nx,
		};
		for (uint16_t k = 1; k < e->n_par; k++)
			extra[nx++] = e->par[k];
	}
}

/* What a record says about its DAG, independent of node numbering. */
struct summary {
	struct op_trace hdr;
	uint64_t edge[2 * MAX_EV * MAX_PAR][2]; /* (parent id, child id), sorted */
	uint64_t node[2 * MAX_EV][3];           /* (id, label, flags), sorted */
	uint64_t sym[2 * MAX_EV];               /* symbols, sorted */
};

/* Rows of n words, compared in order (qsort needs one function each). */
static int
cmp_rows(const uint64_t *x, const uint64_t *y, int n)
{
	for (int i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

static int
cmp_node(const void *a, const void *b)
{
	return cmp_rows(a, b, 3);
}

static int
cmp_edge(const void *a, const void *b)
{
	return cmp_rows(a, b, 2);
}

static void
summarise(const void *rec, struct summary *s)
{
	const struct op_trace *t = rec;
	memset(s, 0, sizeof *s);
	s->hdr = *t;
	assert_true(t->n_events <= 2 * MAX_EV);
	assert_true(t->n_edges <= 2 * MAX_EV * MAX_PAR);
	const struct op_trace_event *ev = op_trace_events(t);
	const struct op_trace_edge *ed = op_trace_edges(t);
	const uint64_t *sym = op_trace_symbols(t);
	for (uint32_t i = 0; i < t->n_events; i++) {
		s->node[i][0] = ev[i].event_id;
		s->node[i][1] = ev[i].label_sym;
		s->node[i][2] = ev[i].flags;
		s->sym[i] = sym[i];
	}
	for (uint32_t i = 0; i < t->n_edges; i++) {
		assert_true(ed[i].parent < t->n_events && ed[i].child < t->n_events);
		s->edge[i][0] = ev[ed[i].parent].event_id;
		s->edge[i][1] = ev[ed[i].child].event_id;
	}
	qsort(s->node, t->n_events, sizeof s->node[0], cmp_node);
	qsort(s->edge, t->n_edges, sizeof s->edge[0], cmp_edge);
	qsort(s->sym, t->n_events, sizeof s->sym[0], weft_cmp_u64);
}

static void
assert_same_summary(const struct summary *a, const struct summary *b)
{
	assert_int_equal(a->hdr.signature, b->hdr.signature);
	assert_int_equal(a->hdr.exact, b->hdr.exact);
	assert_int_equal(a->hdr.n_events, b->hdr.n_events);
	assert_int_equal(a->hdr.n_edges, b->hdr.n_edges);
	assert_int_equal(a->hdr.n_roots, b->hdr.n_roots);
	assert_int_equal(a->hdr.depth, b->hdr.depth);
	assert_int_equal(a->hdr.repeat_max, b->hdr.repeat_max);
	assert_int_equal(a->hdr.repeat_groups, b->hdr.repeat_groups);
	assert_int_equal(a->hdr.start_ns, b->hdr.start_ns);
	assert_int_equal(a->hdr.end_ns, b->hdr.end_ns);
	assert_int_equal(a->hdr.duration_ns, b->hdr.duration_ns);
	assert_int_equal(a->hdr.flags, b->hdr.flags);
	assert_int_equal(a->hdr.duplicates, b->hdr.duplicates);
	assert_int_equal(a->hdr.missing, b->hdr.missing);
	assert_int_equal(a->hdr.cycle_edges, b->hdr.cycle_edges);
	assert_memory_equal(a->node, b->node, sizeof a->node);
	assert_memory_equal(a->edge, b->edge, sizeof a->edge);
	assert_memory_equal(a->sym, b->sym, sizeof a->sym);
}

static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
build(struct asm_build *b, const struct tdag *d, const uint32_t *perm,
      struct summary *out)
{
	static struct asm_ev ev[MAX_EV];
	static uint64_t extra[MAX_EV * MAX_PAR];
	struct asm_texts texts = {0};
	struct asm_trace_meta m = {.trace_id = 42, .events_seen = d->n};
	to_asm(d, perm, ev, extra);
	const void *rec;
	uint32_t len;
	assert_int_equal(asm_build_trace(b, &m, ev, d->n, extra, &texts, &rec, &len), 0);
	summarise(rec, out);
}

/* Each test's builder, DAG and summaries (on the heap: a summary is
 * 17 KB); want is the reference a test compares s against. */
struct fix {
	struct asm_build *b;
	struct tdag d;
	struct summary s, want;
};

static int
fix_setup(void **st)
{
	struct fix *f = calloc(1, sizeof *f);
	if (!f || !(f->b = asm_build_new())) {
		free(f);
		return -1;
	}
	*st = f;
	return 0;
}

static int
fix_teardown(void **st)
{
	struct fix *f = *st;
	asm_build_free(f->b);
	free(f);
	return 0;
}

/* Every arrival order gives the record of the order where parents come
 * first: the same shape, hashes, duration and counts, and the same
 * events and edges by id. The depth and roots are checked against the
 * DAG itself too (a wrong depth in both paths would otherwise agree). */
static void
test_any_arrival_order_builds_the_same_trace(void **st)
{
	struct fix *f = *st;
	struct asm_build *b = f->b;
	struct tdag *d = &f->d;
	struct summary *want = &f->want, *got = &f->s;
	uint32_t perm[MAX_EV];
	for (uint32_t blocks = 1; blocks <= 12; blocks += 11) {
		hdfs_like(d, blocks);
		for (uint32_t i = 0; i < d->n; i++)
			perm[i] = i;
		build(b, d, perm, want);
		/* root, 4 per block, the close, the dangling event, its missing
		 * parent; the repeated receive is one node */
		assert_int_equal(want->hdr.n_events, 1 + 4 * blocks + 3);
		assert_int_equal(want->hdr.duplicates, 1);
		assert_int_equal(want->hdr.missing, 1);
		assert_int_equal(want->hdr.n_roots, 2); /* the root, the missing node */
		/* root, then send, receive, ack per block, the close, the
		 * dangling event */
		assert_int_equal(want->hdr.depth, 1 + 3 * blocks + 2);
		assert_int_equal(want->hdr.cycle_edges, 0);
		/* the root has no end: its host's span, to the close after the last ack */
		assert_int_equal(want->hdr.start_ns, 1000);
		assert_int_equal(want->hdr.end_ns, 1000 + 40 * blocks + 10); /* the close */
		uint64_t seed = 0x9E3779B97F4A7C15ull + blocks;
		for (int round = 0; round < 300; round++) {
			for (uint32_t i = d->n; i > 1; i--) { /* Fisher-Yates */
				uint32_t j = (uint32_t)(next_rand(&seed) % i);
				uint32_t x = perm[i - 1];
				perm[i - 1] = perm[j];
				perm[j] = x;
			}
			build(b, d, perm, got);
			assert_same_summary(want, got);
		}
		/* children before parents: every edge goes back */
		for (uint32_t i = 0; i < d->n; i++)
			perm[i] = d->n - 1 - i;
		build(b, d, perm, got);
		assert_same_summary(want, got);
	}
}

/* A cycle, in orders where the depth-first walk meets it from inside and
 * from below: the walk gives up and Kahn's algorithm cuts edges until
 * every node is ordered. Which and how many depends on the order (its
 * rule frees the smallest node left, and a node below the cycle is left
 * too), so this asserts what holds in every order. */
static void
test_cycle_out_of_order_is_cut(void **st)
{
	struct fix *f = *st;
	add(&f->d, 1, 0xA0, 0xB0, 1000);
	par(add(&f->d, 2, 0xA1, 0xB0, 1010), 3); /* 2 <- 3 <- 2: a cycle */
	struct tev *e3 = add(&f->d, 3, 0xA2, 0xB0, 1020);
	par(e3, 2);
	par(e3, 1);
	par(add(&f->d, 4, 0xA3, 0xB0, 1030), 3);
	static const uint32_t orders[][4] = {
	    {0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 1, 3, 0}};
	for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
		build(f->b, &f->d, orders[o], &f->s);
		assert_int_equal(f->s.hdr.n_events, 4);
		assert_true(f->s.hdr.cycle_edges >= 1);
		assert_int_equal(f->s.hdr.n_edges + f->s.hdr.cycle_edges, 4);
		assert_true(f->s.hdr.flags & OP_TRACE_MALFORMED);
		assert_int_equal(f->s.hdr.missing, 0);
	}
}

/* With two real roots, the trace's span is the first one's by arrival
 * (index), whichever path orders the nodes: here the walk reaches the
 * second root first, through the event that arrived before both. */
static void
test_first_root_by_arrival_whatever_the_path(void **st)
{
	struct fix *f = *st;
	par(add(&f->d, 10, 0xA1, 0xB2, 2100), 2); /* under the second root */
	add(&f->d, 1, 0xA0, 0xB1, 1000)->end = 1500; /* the first root */
	add(&f->d, 2, 0xA0, 0xB2, 2000)->end = 2600; /* the second root */
	static const uint32_t orders[][3] = {{0, 1, 2}, {1, 2, 0}, {1, 0, 2}};
	for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
		build(f->b, &f->d, orders[o], &f->s);
		assert_int_equal(f->s.hdr.n_roots, 2);
		assert_int_equal(f->s.hdr.depth, 2);
		assert_int_equal(f->s.hdr.start_ns, 1000);
		assert_int_equal(f->s.hdr.end_ns, 1500);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_any_arrival_order_builds_the_same_trace,
	                                    fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_cycle_out_of_order_is_cut,
	                                    fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_first_root_by_arrival_whatever_the_path,
	                                    fix_setup, fix_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

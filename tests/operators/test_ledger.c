/*
 * test_ledger.c — the commit ledger of weft serve (operators/serve.h):
 * the published low is the lowest epoch with a pending trace, bounded by
 * the sink's frontier; it never goes down; the ring re-bases and grows
 * without losing counts; a randomized model check against a plain
 * multiset, and the end-to-end rule on a simulated pipeline; per source
 * slot, a partition is held back only by its own traces and by traces
 * from several partitions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "operators/serve/serve.h"

static void
test_empty(void **st)
{
	(void)st;
	struct op_ledger *l = op_ledger_new(3, 8, 5);
	assert_non_null(l);
	assert_int_equal(op_ledger_low(l), 5); /* nothing published yet */
	op_ledger_publish(l, 0, 10);
	op_ledger_publish(l, 1, 12);
	assert_int_equal(op_ledger_low(l), 5); /* worker 2 still at 5 */
	op_ledger_publish(l, 2, 11);
	assert_int_equal(op_ledger_low(l), 10);
	assert_int_equal(op_ledger_pending(l), 0);
	op_ledger_free(l);
}

static void
test_pending_holds_low(void **st)
{
	(void)st;
	struct op_ledger *l = op_ledger_new(1, 8, 0);
	op_ledger_open(l, 0, 0, 3);
	op_ledger_open(l, 0, 0, 3);
	op_ledger_open(l, 0, 0, 7);
	op_ledger_publish(l, 0, 20);
	assert_int_equal(op_ledger_low(l), 3);
	op_ledger_close(l, 0, 0, 3);
	op_ledger_publish(l, 0, 20);
	assert_int_equal(op_ledger_low(l), 3); /* one trace of epoch 3 left */
	op_ledger_close(l, 0, 0, 3);
	op_ledger_publish(l, 0, 20);
	assert_int_equal(op_ledger_low(l), 7);
	op_ledger_close(l, 0, 0, 7);
	op_ledger_publish(l, 0, 20);
	assert_int_equal(op_ledger_low(l), 20); /* the frontier bounds it */
	assert_int_equal(op_ledger_pending(l), 0);
	assert_int_equal(op_ledger_anomalies(l), 0);
	op_ledger_free(l);
}

static void
test_monotone_and_anomalies(void **st)
{
	(void)st;
	struct op_ledger *l = op_ledger_new(1, 8, 0);
	op_ledger_publish(l, 0, 10);
	assert_int_equal(op_ledger_low(l), 10);
	/* an open below the published floor is a broken invariant: counted,
	 * and the low does not go back (a commit may already have used it) */
	op_ledger_open(l, 0, 0, 4);
	assert_int_equal(op_ledger_anomalies(l), 1);
	op_ledger_publish(l, 0, 12);
	assert_int_equal(op_ledger_low(l), 10);
	op_ledger_close(l, 0, 0, 4);
	/* closing what was never opened */
	op_ledger_close(l, 0, 0, 99);
	assert_int_equal(op_ledger_anomalies(l), 2);
	op_ledger_free(l);
}

static void
test_rebase_and_growth(void **st)
{
	(void)st;
	struct op_ledger *l = op_ledger_new(1, 8, 0);
	/* far apart epochs: the ring grows; an open below base re-bases */
	op_ledger_open(l, 0, 0, 1000);
	op_ledger_open(l, 0, 0, 1000 + 5000);
	op_ledger_open(l, 0, 0, 900);
	op_ledger_publish(l, 0, 100000);
	assert_int_equal(op_ledger_low(l), 900);
	op_ledger_close(l, 0, 0, 900);
	op_ledger_publish(l, 0, 100000);
	assert_int_equal(op_ledger_low(l), 1000);
	op_ledger_close(l, 0, 0, 1000);
	op_ledger_publish(l, 0, 100000);
	assert_int_equal(op_ledger_low(l), 6000);
	op_ledger_close(l, 0, 0, 6000);
	assert_int_equal(op_ledger_pending(l), 0);
	/* empty again: a new open far above restarts the ring there */
	op_ledger_open(l, 0, 0, 1u << 30);
	op_ledger_publish(l, 0, (1u << 30) + 10);
	assert_int_equal(op_ledger_low(l), 1u << 30);
	op_ledger_close(l, 0, 0, 1u << 30);
	assert_int_equal(op_ledger_anomalies(l), 0);
	op_ledger_free(l);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t
xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random opens (at or above the frontier) and closes in any order against
 * a plain array of pending epochs. */
static void
test_random_model(void **st)
{
	(void)st;
	enum { N = 20000 };
	uint64_t *pend = malloc(N * sizeof *pend);
	size_t n = 0;
	struct op_ledger *l = op_ledger_new(1, 8, 0);
	uint64_t frontier = 0;
	for (int step = 0; step < 200000; step++) {
		unsigned r = (unsigned)(xr() % 10);
		if (r < 4 && n < N) {
			uint64_t e = frontier + xr() % 50;
			op_ledger_open(l, 0, 0, e);
			pend[n++] = e;
		} else if (r < 8 && n) {
			size_t i = (size_t)(xr() % n);
			op_ledger_close(l, 0, 0, pend[i]);
			pend[i] = pend[--n];
		} else {
			frontier += xr() % 3;
			op_ledger_publish(l, 0, frontier);
			uint64_t want = frontier;
			for (size_t i = 0; i < n; i++)
				if (pend[i] < want)
					want = pend[i];
			/* opens never go below the frontier, so the exact
			 * minimum is never below the previous floor */
			assert_int_equal(op_ledger_low(l), want);
			assert_int_equal(op_ledger_pending(l), n);
		}
	}
	assert_int_equal(op_ledger_anomalies(l), 0);
	op_ledger_free(l);
	free(pend);
}

/*
 * The rule end to end on a simulated stream: events of traces arrive with
 * epochs; a trace opens at its first event and is emitted G epochs after
 * its last; the sink handles emitted traces at the close of the emission
 * epoch. For every commit epoch L published, every event with epoch < L
 * must belong to a trace already handled.
 */
static void
test_rule_on_stream(void **st)
{
	(void)st;
	enum { T = 300, G = 3 };
	struct tr {
		uint64_t first, last;
		int open, handled, n;
	} tr[T] = {{0}};
	struct op_ledger *l = op_ledger_new(2, 8, 0);
	for (uint64_t epoch = 0; epoch < 400; epoch++) {
		/* some events this epoch */
		for (int k = 0; k < 8; k++) {
			int t = (int)(xr() % T);
			if (tr[t].handled || tr[t].n > 20)
				continue;
			unsigned w = (unsigned)t & 1;
			if (!tr[t].open) {
				op_ledger_open(l, w, 0, epoch);
				tr[t].open = 1;
				tr[t].first = epoch;
			}
			tr[t].last = epoch;
			tr[t].n++;
		}
		/* emission and handling at the close of this epoch */
		for (int t = 0; t < T; t++)
			if (tr[t].open && !tr[t].handled && tr[t].last + G <= epoch) {
				op_ledger_close(l, (unsigned)t & 1, 0, tr[t].first);
				tr[t].handled = 1;
			}
		op_ledger_publish(l, 0, epoch + 1);
		op_ledger_publish(l, 1, epoch + 1);
		uint64_t L = op_ledger_low(l);
		for (int t = 0; t < T; t++)
			if (tr[t].open && tr[t].first < L)
				assert_true(tr[t].handled); /* its events may be committed */
	}
	op_ledger_free(l);
}

/* Per slot: slot 0's trace holds slot 0 only; a trace retagged to
 * several sources holds every slot; a slot with nothing pending follows
 * the closed epoch; generation bits do not matter. */
static void
test_slots(void **st)
{
	(void)st;
	struct op_ledger *l = op_ledger_new(2, 4, 0);
	op_ledger_open(l, 0, OP_SRC(0, 0), 5);
	op_ledger_open(l, 1, OP_SRC(1, 3), 7);
	op_ledger_publish(l, 0, 20);
	op_ledger_publish(l, 1, 30);
	assert_int_equal(op_ledger_low_slot(l, 0), 5);
	assert_int_equal(op_ledger_low_slot(l, 1), 7);
	assert_int_equal(op_ledger_low_slot(l, 2), 20); /* min closed */
	assert_int_equal(op_ledger_low(l), 5);
	/* slot 1's trace gets an event from slot 2: it holds every slot */
	op_ledger_retag(l, 1, OP_SRC(1, 3), OP_TRACE_SRC_MANY, 7);
	op_ledger_publish(l, 1, 30);
	assert_int_equal(op_ledger_low_slot(l, 2), 7);
	assert_int_equal(op_ledger_low_slot(l, 3), 7);
	assert_int_equal(op_ledger_low_slot(l, 0), 5);
	op_ledger_close(l, 1, OP_TRACE_SRC_MANY, 7);
	op_ledger_publish(l, 1, 30);
	assert_int_equal(op_ledger_low_slot(l, 2), 20);
	assert_int_equal(op_ledger_low_slot(l, 1), 20);
	/* the same slot in another generation is the same partition */
	op_ledger_close(l, 0, OP_SRC(0, 9), 5);
	op_ledger_publish(l, 0, 25);
	assert_int_equal(op_ledger_low_slot(l, 0), 25);
	/* untagged (a file) and out-of-range tags hold every slot */
	op_ledger_open(l, 0, 0, 26);
	op_ledger_open(l, 1, OP_SRC(7, 0), 31);
	op_ledger_publish(l, 0, 40);
	op_ledger_publish(l, 1, 40);
	assert_int_equal(op_ledger_low_slot(l, 3), 26);
	op_ledger_close(l, 0, 0, 26);
	op_ledger_publish(l, 0, 40);
	assert_int_equal(op_ledger_low_slot(l, 3), 31);
	assert_int_equal(op_ledger_pending(l), 1);
	assert_int_equal(op_ledger_anomalies(l), 0);
	op_ledger_free(l);
}

/* Random opens, retags and closes over 3 workers and 5 slots against a
 * plain list: each slot's low is the least first epoch among pending
 * traces of that slot or of several, bounded by every worker's closed. */
static void
test_slots_random_model(void **st)
{
	(void)st;
	enum { N = 4000, W = 3, S = 5 };
	struct p {
		uint64_t e;
		uint32_t src;
		unsigned w;
	} *pend = malloc(N * sizeof *pend);
	size_t n = 0;
	struct op_ledger *l = op_ledger_new(W, S, 0);
	uint64_t frontier[W] = {0};
	for (int step = 0; step < 100000; step++) {
		unsigned r = (unsigned)(xr() % 12);
		unsigned w = (unsigned)(xr() % W);
		if (r < 4 && n < N) {
			uint64_t e = frontier[w] + xr() % 20;
			uint32_t src = xr() % 8 ? OP_SRC(xr() % S, xr() % 4) : 0;
			op_ledger_open(l, w, src, e);
			pend[n++] = (struct p){e, src, w};
		} else if (r < 5 && n) {
			struct p *x = &pend[(size_t)(xr() % n)];
			if (x->src != OP_TRACE_SRC_MANY) {
				op_ledger_retag(l, x->w, x->src, OP_TRACE_SRC_MANY, x->e);
				x->src = OP_TRACE_SRC_MANY;
			}
		} else if (r < 9 && n) {
			size_t i = (size_t)(xr() % n);
			op_ledger_close(l, pend[i].w, pend[i].src, pend[i].e);
			pend[i] = pend[--n];
		} else {
			/* a worker's closed epoch stays at or below its opens */
			uint64_t lo = frontier[w] + xr() % 3;
			for (size_t i = 0; i < n; i++)
				if (pend[i].w == w && pend[i].e < lo)
					lo = pend[i].e;
			if (lo > frontier[w])
				frontier[w] = lo;
			op_ledger_publish(l, w, frontier[w]);
			for (uint32_t s = 0; s < S; s++) {
				uint64_t want = UINT64_MAX;
				for (unsigned k = 0; k < W; k++)
					if (frontier[k] < want)
						want = frontier[k];
				for (size_t i = 0; i < n; i++) {
					int holds = !pend[i].src ||
					            pend[i].src == OP_TRACE_SRC_MANY ||
					            OP_SRC_SLOT(pend[i].src) == s;
					if (holds && pend[i].e < want)
						want = pend[i].e;
				}
				uint64_t got = op_ledger_low_slot(l, s);
				/* published lows lag by what changed on other
				 * workers since they last published: never above */
				assert_true(got <= want || got == UINT64_MAX);
			}
		}
	}
	/* everyone publishes: exact */
	for (unsigned k = 0; k < W; k++)
		op_ledger_publish(l, k, frontier[k]);
	for (uint32_t s = 0; s < S; s++) {
		uint64_t want = UINT64_MAX;
		for (unsigned k = 0; k < W; k++)
			if (frontier[k] < want)
				want = frontier[k];
		for (size_t i = 0; i < n; i++) {
			int holds = !pend[i].src || pend[i].src == OP_TRACE_SRC_MANY ||
			            OP_SRC_SLOT(pend[i].src) == s;
			if (holds && pend[i].e < want)
				want = pend[i].e;
		}
		assert_int_equal(op_ledger_low_slot(l, s), want);
	}
	assert_int_equal(op_ledger_anomalies(l), 0);
	op_ledger_free(l);
	free(pend);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_pending_holds_low),
		cmocka_unit_test(test_monotone_and_anomalies),
		cmocka_unit_test(test_rebase_and_growth),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_rule_on_stream),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_slots_random_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

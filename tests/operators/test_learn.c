/*
 * test_learn.c — the learning loop's rules (operators/check/learn_pick.c):
 * what joins the training set and when a new structure is promoted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "operators/check/check.h"
#include "operators/check/learn.h"

static struct op_trace *
trace(uint64_t sig, uint32_t flags)
{
	struct op_trace *t = calloc(1, sizeof *t);
	assert_non_null(t);
	t->signature = sig;
	t->size = sizeof *t;
	t->flags = flags;
	return t;
}

static struct op_learn_pick *
pick_new(uint32_t reservoir)
{
	struct op_learn_config c;
	op_learn_config_default(&c);
	c.reservoir = reservoir;
	c.promote_periods = 2;
	c.promote_min = 5;
	c.examples = 3;
	c.candidates = 4;
	struct op_learn_pick *p;
	assert_int_equal(op_learn_pick_new(&c, &p), 0);
	return p;
}

/* n traces of structure sig with verdict v and flags */
static void
offer(struct op_learn_pick *p, uint64_t sig, unsigned v, uint32_t flags, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		op_learn_pick_add(p, trace(sig, flags), v);
}

/* traces of structure sig in the training set */
static size_t
in_sample(struct op_learn_pick *p, uint64_t sig)
{
	size_t n, k = 0;
	const struct op_trace *const *s = op_learn_pick_sample(p, &n);
	for (size_t i = 0; i < n; i++)
		k += s[i]->signature == sig;
	return k;
}

static void
test_flagged_never_learned(void **st)
{
	(void)st;
	struct op_learn_pick *p = pick_new(100);
	offer(p, 1, OP_VERDICT_NORMAL, 0, 10);
	offer(p, 2, OP_VERDICT_SLOW, 0, 10);
	offer(p, 3, OP_VERDICT_INCOMPLETE, OP_TRACE_INCOMPLETE, 10);
	offer(p, 4, OP_VERDICT_LATE, OP_TRACE_LATE, 10);
	offer(p, 5, OP_VERDICT_NORMAL, OP_TRACE_ERROR, 10); /* exception, normal shape */
	offer(p, 6, OP_VERDICT_UNKNOWN_STRUCTURE, OP_TRACE_DANGLING, 10); /* a fragment */
	offer(p, 8, OP_VERDICT_NORMAL, OP_TRACE_MALFORMED, 10);
	struct op_learn_period per;
	op_learn_pick_period(p, &per);
	assert_int_equal(per.sample, 10);
	assert_int_equal(in_sample(p, 1), 10);
	struct op_learn_pick_stats s;
	op_learn_pick_stats(p, &s);
	assert_int_equal(s.refused, 60);
	assert_false(op_learn_usable(OP_VERDICT_UNKNOWN_STRUCTURE, OP_TRACE_ERROR));
	assert_true(op_learn_usable(OP_VERDICT_UNKNOWN_STRUCTURE, 0));
	op_learn_pick_free(p);
}

static void
test_promotion_needs_consecutive_periods(void **st)
{
	(void)st;
	struct op_learn_pick *p = pick_new(100);
	struct op_learn_period per;
	/* period 1: structure 7 recurs (8 >= 5), 9 too but with exceptions */
	offer(p, 7, OP_VERDICT_UNKNOWN_STRUCTURE, 0, 8);
	offer(p, 9, OP_VERDICT_UNKNOWN_STRUCTURE, OP_TRACE_ERROR, 50);
	offer(p, 1, OP_VERDICT_NORMAL, 0, 5);
	op_learn_pick_period(p, &per);
	assert_int_equal(per.promoted, 0); /* one period is not enough */
	assert_int_equal(in_sample(p, 7), 0);
	op_learn_pick_reset(p);
	/* period 2: too few (3 < 5): the count starts over */
	offer(p, 7, OP_VERDICT_UNKNOWN_STRUCTURE, 0, 3);
	offer(p, 9, OP_VERDICT_UNKNOWN_STRUCTURE, OP_TRACE_ERROR, 50);
	op_learn_pick_period(p, &per);
	assert_int_equal(per.promoted, 0);
	op_learn_pick_reset(p);
	/* periods 3 and 4: enough in each -> promoted at the end of 4 */
	offer(p, 7, OP_VERDICT_UNKNOWN_STRUCTURE, 0, 6);
	offer(p, 9, OP_VERDICT_UNKNOWN_STRUCTURE, OP_TRACE_ERROR, 50);
	op_learn_pick_period(p, &per);
	assert_int_equal(per.promoted, 0);
	op_learn_pick_reset(p);
	offer(p, 7, OP_VERDICT_UNKNOWN_STRUCTURE, 0, 6);
	offer(p, 9, OP_VERDICT_UNKNOWN_STRUCTURE, OP_TRACE_ERROR, 50);
	offer(p, 1, OP_VERDICT_NORMAL, 0, 5);
	op_learn_pick_period(p, &per);
	assert_int_equal(per.promoted, 1);
	assert_true(per.promoted_sig[0] == 7);
	assert_int_equal(in_sample(p, 7), 3); /* its examples, at most 3 */
	assert_int_equal(in_sample(p, 9), 0); /* exceptions never */
	assert_int_equal(in_sample(p, 1), 5);
	op_learn_pick_reset(p);
	/* still there (now judged normal): examples stay in the sample */
	offer(p, 7, OP_VERDICT_NORMAL, 0, 2);
	op_learn_pick_period(p, &per);
	assert_int_equal(per.promoted, 0);
	assert_int_equal(in_sample(p, 7), 3 + 2);
	op_learn_pick_reset(p);
	/* a period without it: it leaves the table and the sample */
	offer(p, 1, OP_VERDICT_NORMAL, 0, 1);
	op_learn_pick_period(p, &per);
	assert_int_equal(in_sample(p, 7), 0);
	assert_int_equal(per.tracked, 0);
	op_learn_pick_free(p);
}

static void
test_bounds(void **st)
{
	(void)st;
	struct op_learn_pick *p = pick_new(10);
	offer(p, 1, OP_VERDICT_NORMAL, 0, 1000);
	for (uint64_t s = 100; s < 110; s++) /* 10 structures, table of 4 */
		offer(p, s, OP_VERDICT_UNKNOWN_STRUCTURE, 0, 1);
	struct op_learn_period per;
	op_learn_pick_period(p, &per);
	assert_int_equal(per.reservoir, 10);
	assert_int_equal(per.tracked, 4);
	struct op_learn_pick_stats s;
	op_learn_pick_stats(p, &s);
	assert_int_equal(s.table_full, 6);
	assert_int_equal(s.normal, 1000);
	op_learn_pick_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flagged_never_learned),
		cmocka_unit_test(test_promotion_needs_consecutive_periods),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_sim_replay.c — replay's emission schedule: reorder bound,
 * determinism, duplicate and late counts; its slot clock from recorded
 * Timestamps. No clocks involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "simulator/sim_internal.h"
#include "simulator/sim_replay.h"

#define N 20000

static uint32_t *
schedule(const struct sim_replay_cfg *c, size_t *nout,
    struct sim_replay_stats *st)
{
	uint32_t *out = malloc(2 * N * sizeof(*out));
	assert_non_null(out);
	assert_int_equal(sim_replay_schedule(c, N, out, nout, st), 0);
	return out;
}

static void
test_default_keeps_recorded_order(void **state)
{
	(void)state;
	struct sim_replay_cfg c;
	struct sim_replay_stats st;
	size_t n;
	sim_replay_defaults(&c);
	uint32_t *o = schedule(&c, &n, &st);
	assert_int_equal(n, N);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(o[i], i);
	free(o);
}

static void
test_reorder_stays_within_window_and_is_a_permutation(void **state)
{
	(void)state;
	static const size_t windows[] = {2, 3, 16, 100};
	for (size_t w = 0; w < 4; w++) {
		struct sim_replay_cfg c;
		struct sim_replay_stats st;
		size_t n;
		sim_replay_defaults(&c);
		c.reorder_window = windows[w];
		c.seed = 42;
		uint32_t *o = schedule(&c, &n, &st);
		assert_int_equal(n, N);
		char *seen = calloc(N, 1);
		for (size_t i = 0; i < N; i++) {
			long d = (long)o[i] - (long)i;
			assert_true(labs(d) < (long)windows[w]);
			assert_false(seen[o[i]]);
			seen[o[i]] = 1;
		}
		assert_true(st.reordered > 0);
		free(seen);
		free(o);
	}
}

static void
test_same_seed_same_schedule_other_seed_differs(void **state)
{
	(void)state;
	struct sim_replay_cfg c;
	struct sim_replay_stats st;
	size_t n1, n2, n3;
	sim_replay_defaults(&c);
	c.reorder_window = 10;
	c.dup_rate = 0.05;
	c.late_rate = 0.02;
	c.late_delay = 30;
	c.seed = 7;
	uint32_t *a = schedule(&c, &n1, &st);
	uint32_t *b = schedule(&c, &n2, &st);
	c.seed = 8;
	uint32_t *x = schedule(&c, &n3, &st);
	assert_int_equal(n1, n2);
	assert_memory_equal(a, b, n1 * sizeof(*a));
	assert_true(n1 != n3 || memcmp(a, x, n1 * sizeof(*a)) != 0);
	free(a);
	free(b);
	free(x);
}

static void
test_duplicates_counted_and_adjacent(void **state)
{
	(void)state;
	struct sim_replay_cfg c;
	struct sim_replay_stats st;
	size_t n;
	sim_replay_defaults(&c);
	c.dup_rate = 0.1;
	uint32_t *o = schedule(&c, &n, &st);
	assert_int_equal(n, N + st.duplicates);
	assert_true(st.duplicates > N / 20 && st.duplicates < N / 5);
	size_t adj = 0;
	unsigned *cnt = calloc(N, sizeof(*cnt));
	for (size_t i = 0; i < n; i++) {
		cnt[o[i]]++;
		if (i && o[i] == o[i - 1])
			adj++;
	}
	assert_int_equal(adj, st.duplicates);
	for (size_t i = 0; i < N; i++)
		assert_true(cnt[i] == 1 || cnt[i] == 2);
	free(cnt);
	free(o);
}

static void
test_late_events_held_back_by_delay(void **state)
{
	(void)state;
	struct sim_replay_cfg c;
	struct sim_replay_stats st;
	size_t n;
	sim_replay_defaults(&c);
	c.late_rate = 0.01;
	c.late_delay = 50;
	uint32_t *o = schedule(&c, &n, &st);
	assert_int_equal(n, N);
	assert_true(st.late > 0);
	/* a late event leaves after 50 on-time events; count events whose
	 * position moved by at least the delay */
	size_t moved = 0;
	for (size_t i = 0; i < n; i++)
		if ((long)i - (long)o[i] >= 50)
			moved++;
	/* near the end of input a held event is flushed early: allow it */
	assert_true(moved + 2 >= st.late && moved <= st.late);
	free(o);
}

/* --speedup: each line's Timestamp, read by the ingest decoder (as a
 * number or a string, wherever the key sits; not a "Timestamp" text in
 * another field), less the first line's, over the speed-up; a line without
 * one, or not decodable, counts as the first line's; slots never go back.
 * --rate: i / rate. */
static void
test_slots_follow_recorded_timestamps(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"TaskID\":\"1\",\"EventID\":\"1\",\"Timestamp\":1000}",
	    "{\"EventID\":\"2\",\"Timestamp\":3000,\"TaskID\":\"1\"}",
	    "not json",
	    "{\"TaskID\":\"1\",\"EventID\":\"3\",\"Timestamp\":\"5000\"}",
	    "{\"TaskID\":\"1\",\"EventID\":\"4\",\"HRT\":9}",
	    "{\"TaskID\":\"1\",\"EventID\":\"5\",\"Timestamp\":2000}",
	    "{\"TaskID\":\"1\",\"Label\":\"Timestamp\",\"EventID\":\"6\",\"Timestamp\":7000}",
	};
	static const double want[] = {0, 1, 1, 2, 2, 2, 3};
	enum { NL = sizeof(lines) / sizeof(lines[0]) };
	char text[1024];
	size_t off[NL + 1], len = 0;
	for (size_t i = 0; i < NL; i++) {
		off[i] = len;
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
		    lines[i]);
	}
	off[NL] = len;
	struct sim_replay_cfg c;
	double slot[NL];
	sim_replay_defaults(&c);
	c.speedup = 2;
	assert_int_equal(sim_replay_slots(&c, text, off, NL, slot), 0);
	for (size_t i = 0; i < NL; i++)
		assert_true(slot[i] == want[i]);
	sim_replay_defaults(&c);
	c.rate = 4;
	assert_int_equal(sim_replay_slots(&c, text, off, NL, slot), 0);
	for (size_t i = 0; i < NL; i++)
		assert_true(slot[i] == (double)i / 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_keeps_recorded_order),
		cmocka_unit_test(test_reorder_stays_within_window_and_is_a_permutation),
		cmocka_unit_test(test_same_seed_same_schedule_other_seed_differs),
		cmocka_unit_test(test_duplicates_counted_and_adjacent),
		cmocka_unit_test(test_late_events_held_back_by_delay),
		cmocka_unit_test(test_slots_follow_recorded_timestamps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

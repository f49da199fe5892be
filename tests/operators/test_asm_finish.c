/*
 * test_asm_finish.c — the finish helper's window (asm_finish.c): the worker
 * takes items from the front, the helper from the back, every item is
 * built exactly once, and the helper's records come back for the items it
 * took (the policy that gives a worker a helper: tests/common).
 *
 * No test depends on how the threads are scheduled: where a test needs the
 * helper to have built something, the worker's own build of its first
 * item waits until the helper has finished one (a handshake), and every
 * other assertion holds for any split.
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

#define MAX_ITEMS 4096

/* The items' "records": item i of window w is REC_WORDS words
 * (w, i, i * 3 + 1, ...), built into the thread's own scratch word array,
 * as asm_build_trace builds into its builder. */
#define REC_WORDS(i) (1u + (i) % 7u)

struct fx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t window;
	_Atomic uint32_t built_by_helper[MAX_ITEMS]; /* per item, this window */
	int helper_done_one;
	uint64_t scratch[16]; /* the helper's record (one thread uses it) */
};

static void
fill(uint64_t *w, uint64_t window, uint32_t i)
{
	w[0] = window;
	for (uint32_t k = 1; k < REC_WORDS(i) + 2; k++)
		w[k] = (uint64_t)i * 3 + k;
}

/* The helper's build: a record of item i; then it tells the worker. */
static void
helper_fn(void *arg, struct asm_fin_scratch *sc, uint32_t i, const void **rec,
          uint32_t *len)
{
	struct fx *f = arg;
	assert_non_null(sc->build); /* its own builder, made for it */
	fill(f->scratch, f->window, i);
	*rec = f->scratch;
	*len = (REC_WORDS(i) + 2) * 8u;
	atomic_fetch_add(&f->built_by_helper[i], 1);
	pthread_mutex_lock(&f->mu);
	f->helper_done_one = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* One window of n items; with handshake, the worker's first item waits
 * for the helper to finish one. Checks the split and the records;
 * returns the first item the helper built. */
static uint32_t
window(struct fx *f, struct asm_finisher *fin, uint32_t n, int handshake)
{
	static uint32_t by_worker[MAX_ITEMS];
	memset(by_worker, 0, sizeof by_worker);
	for (uint32_t i = 0; i < n; i++)
		atomic_store(&f->built_by_helper[i], 0);
	f->window++;
	f->helper_done_one = 0;
	asm_finisher_post(fin, n);
	uint32_t i, next = 0, taken = 0;
	while (asm_finisher_take(fin, &i)) {
		assert_int_equal(i, next); /* the worker's items: 0, 1, ... */
		next++;
		by_worker[i]++;
		if (handshake && taken++ == 0) {
			pthread_mutex_lock(&f->mu);
			while (!f->helper_done_one)
				pthread_cond_wait(&f->cv, &f->mu);
			pthread_mutex_unlock(&f->mu);
		}
	}
	uint32_t first = asm_finisher_wait(fin);
	assert_int_equal(first, next); /* the two met: nothing in between */
	for (i = 0; i < n; i++) {
		uint32_t h = atomic_load(&f->built_by_helper[i]);
		/* each item once, by one of the two, the helper's at the back */
		assert_int_equal(by_worker[i] + h, 1);
		assert_int_equal(h, i >= first);
	}
	for (i = first; i < n; i++) {
		uint32_t len;
		const uint64_t *r = asm_finisher_record(fin, i, &len);
		assert_int_equal(len, (REC_WORDS(i) + 2) * 8u);
		assert_int_equal((uintptr_t)r % 8u, 0); /* read as a record */
		uint64_t want[16];
		fill(want, f->window, i);
		assert_memory_equal(r, want, len);
	}
	return first;
}

static void
test_helper_builds_from_the_back_worker_from_the_front(void **state)
{
	struct fx *f = *state;
	struct asm_finisher *fin = asm_finisher_new(helper_fn, f);
	assert_non_null(fin);
	uint32_t first = window(f, fin, 64, 1);
	assert_true(first < 64); /* the handshake: it built the last at least */
	asm_finisher_free(fin);
}

static void
test_windows_one_after_another_keep_their_own_records(void **state)
{
	struct fx *f = *state;
	struct asm_finisher *fin = asm_finisher_new(helper_fn, f);
	assert_non_null(fin);
	/* sizes from one item to more than the first buffer and item arrays
	 * hold; with and without the handshake (any split is right) */
	const uint32_t sizes[] = {1, 2, 3, 17, 256, 4096, 5, 1000};
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		window(f, fin, sizes[k], 0);
		if (sizes[k] >= 2)
			assert_true(window(f, fin, sizes[k], 1) < sizes[k]);
	}
	asm_finisher_free(fin);
}

static void
test_helper_that_never_got_a_window_stops_cleanly(void **state)
{
	struct fx *f = *state;
	struct asm_finisher *fin = asm_finisher_new(helper_fn, f);
	assert_non_null(fin);
	asm_finisher_free(fin);
	asm_finisher_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_helper_builds_from_the_back_worker_from_the_front, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_windows_one_after_another_keep_their_own_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_helper_that_never_got_a_window_stops_cleanly, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_queue.c — the unbounded SPSC queue between workers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "engine/queue.h"

static struct engine_msg
msg(uint64_t v)
{
	struct engine_msg m = {.batch = NULL, .frontier = v,
	                       .route = (uint32_t)v, .flags = 0};
	return m;
}

static void
test_pop_from_empty_queue_returns_nothing(void **st)
{
	(void)st;
	struct engine_queue q;
	assert_int_equal(engine_queue_init(&q), 0);
	struct engine_msg m;
	assert_int_equal(engine_queue_pop(&q, &m), 0);
	assert_int_equal(engine_queue_nonempty(&q), 0);
	engine_queue_push(&q, &(struct engine_msg){.frontier = 7});
	assert_int_equal(engine_queue_nonempty(&q), 1);
	assert_int_equal(engine_queue_pop(&q, &m), 1);
	assert_int_equal(m.frontier, 7);
	assert_int_equal(engine_queue_pop(&q, &m), 0);
	engine_queue_destroy(&q);
}

static void
test_full_segment_grows_without_blocking_and_keeps_fifo(void **st)
{
	(void)st;
	struct engine_queue q;
	assert_int_equal(engine_queue_init(&q), 0);
	const uint64_t n = ENGINE_QUEUE_SEG * 5 + 3; /* several full segments */
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(engine_queue_push(&q, &(struct engine_msg){
		                                          .frontier = i}), 0);
	struct engine_msg m;
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(engine_queue_pop(&q, &m), 1);
		assert_int_equal(m.frontier, i);
	}
	assert_int_equal(engine_queue_pop(&q, &m), 0);
	engine_queue_destroy(&q);
}

static void
test_wrap_around_reuses_segments_in_order(void **st)
{
	(void)st;
	struct engine_queue q;
	assert_int_equal(engine_queue_init(&q), 0);
	/* Alternate bursts so indices wrap over many segment boundaries and
	 * the consumer hands segments back to the producer (spare). */
	uint64_t next_in = 0, next_out = 0;
	for (int round = 0; round < 200; round++) {
		unsigned burst = (unsigned)(round * 37) % (ENGINE_QUEUE_SEG + 50) + 1;
		for (unsigned i = 0; i < burst; i++) {
			struct engine_msg m = msg(next_in++);
			assert_int_equal(engine_queue_push(&q, &m), 0);
		}
		unsigned take = burst - (unsigned)(round % 3);
		for (unsigned i = 0; i < take; i++) {
			struct engine_msg m;
			assert_int_equal(engine_queue_pop(&q, &m), 1);
			assert_int_equal(m.frontier, next_out);
			assert_int_equal(m.route, (uint32_t)next_out);
			next_out++;
		}
	}
	struct engine_msg m;
	while (engine_queue_pop(&q, &m))
		assert_int_equal(m.frontier, next_out++);
	assert_int_equal(next_out, next_in);
	engine_queue_destroy(&q);
}

static void
test_destroy_with_messages_inside_frees_segments(void **st)
{
	(void)st;
	struct engine_queue q;
	assert_int_equal(engine_queue_init(&q), 0);
	for (uint64_t i = 0; i < ENGINE_QUEUE_SEG * 3; i++)
		engine_queue_push(&q, &(struct engine_msg){.frontier = i});
	engine_queue_destroy(&q); /* LSan proves nothing leaks */
}

#define CONC_N 2000000ull
static void *
producer(void *p)
{
	struct engine_queue *q = p;
	for (uint64_t i = 0; i < CONC_N; i++) {
		struct engine_msg m = msg(i);
		if (engine_queue_push(q, &m) != 0)
			return (void *)1;
	}
	return NULL;
}

static void
test_concurrent_producer_consumer_deliver_all_in_order(void **st)
{
	(void)st;
	struct engine_queue q;
	assert_int_equal(engine_queue_init(&q), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, producer, &q), 0);
	uint64_t expect = 0, bad = 0;
	while (expect < CONC_N) {
		struct engine_msg m;
		if (!engine_queue_pop(&q, &m))
			continue;
		if (m.frontier != expect || m.route != (uint32_t)expect)
			bad++;
		expect++;
	}
	void *rc;
	pthread_join(t, &rc);
	assert_null(rc);
	assert_int_equal(bad, 0);
	struct engine_msg m;
	assert_int_equal(engine_queue_pop(&q, &m), 0);
	engine_queue_destroy(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pop_from_empty_queue_returns_nothing),
		cmocka_unit_test(test_full_segment_grows_without_blocking_and_keeps_fifo),
		cmocka_unit_test(test_wrap_around_reuses_segments_in_order),
		cmocka_unit_test(test_destroy_with_messages_inside_frees_segments),
		cmocka_unit_test(test_concurrent_producer_consumer_deliver_all_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

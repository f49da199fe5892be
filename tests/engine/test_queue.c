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

static void
test_put_is_invisible_until_published(void **st)
{
	(void)st;
	struct engine_queue q;
	assert_int_equal(engine_queue_init(&q), 0);
	struct engine_msg m;
	/* a group that crosses a segment boundary */
	const uint64_t first = ENGINE_QUEUE_SEG - 5, n = ENGINE_QUEUE_SEG + 10;
	for (uint64_t i = 0; i < first; i++)
		assert_int_equal(engine_queue_push(&q, &(struct engine_msg){
		                                          .frontier = i}), 0);
	for (uint64_t i = 0; i < first; i++)
		assert_int_equal(engine_queue_pop(&q, &m), 1);
	for (uint64_t i = first; i < first + n; i++) {
		assert_int_equal(engine_queue_put(&q, &(struct engine_msg){
		                                         .frontier = i}),
		                 (int)(i - first + 1));
		assert_int_equal(engine_queue_nonempty(&q), 0);
		assert_int_equal(engine_queue_pop(&q, &m), 0);
	}
	assert_int_equal(engine_queue_publish(&q), 1);
	assert_int_equal(engine_queue_publish(&q), 0); /* nothing new */
	for (uint64_t i = first; i < first + n; i++) {
		assert_int_equal(engine_queue_pop(&q, &m), 1);
		assert_int_equal(m.frontier, i);
	}
	assert_int_equal(engine_queue_pop(&q, &m), 0);
	engine_queue_destroy(&q);
}

#define CONC_N 2000000ull
/* group 0: push each message; else put them and publish every group-th
 * (and at the end) */
struct conc {
	struct engine_queue q;
	unsigned group;
};

static void *
producer(void *p)
{
	struct conc *c = p;
	for (uint64_t i = 0; i < CONC_N; i++) {
		struct engine_msg m = msg(i);
		if (!c->group) {
			if (engine_queue_push(&c->q, &m) != 0)
				return (void *)1;
			continue;
		}
		int pending = engine_queue_put(&c->q, &m);
		if (pending < 0)
			return (void *)1;
		if ((unsigned)pending >= c->group)
			engine_queue_publish(&c->q);
	}
	engine_queue_publish(&c->q);
	return NULL;
}

static void
run_concurrent(unsigned group)
{
	struct conc c = {.group = group};
	struct engine_queue *qp = &c.q;
	assert_int_equal(engine_queue_init(qp), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, producer, &c), 0);
	uint64_t expect = 0, bad = 0;
	while (expect < CONC_N) {
		struct engine_msg m;
		if (!engine_queue_pop(qp, &m))
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
	assert_int_equal(engine_queue_pop(qp, &m), 0);
	engine_queue_destroy(qp);
}

static void
test_concurrent_producer_consumer_deliver_all_in_order(void **st)
{
	(void)st;
	run_concurrent(0);
	run_concurrent(7); /* published in groups, some across segments */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pop_from_empty_queue_returns_nothing),
		cmocka_unit_test(test_full_segment_grows_without_blocking_and_keeps_fifo),
		cmocka_unit_test(test_wrap_around_reuses_segments_in_order),
		cmocka_unit_test(test_destroy_with_messages_inside_frees_segments),
		cmocka_unit_test(test_put_is_invisible_until_published),
		cmocka_unit_test(test_concurrent_producer_consumer_deliver_all_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_engine.c — engine behaviours one at a time: graph validation, init
 * failure, empty epochs, emission while an epoch closes, shutdown with data
 * in flight, engine_stop(), backpressure, and idle workers not burning CPU.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/engine.h"

/* A configurable source: per worker emits `per_worker` 16-byte records
 * (key, value) spread over `epochs` epochs, or runs until stopped. */
struct src_cfg {
	uint64_t per_worker;
	uint64_t epochs;      /* records are split evenly over these epochs */
	uint64_t first_epoch;
	int until_stop;       /* emit forever until engine_stop */
	int idle_forever;     /* never emits; returns IDLE until stopped */
	_Atomic uint64_t emitted;
};

struct src_state {
	struct src_cfg *cfg;
	uint64_t n, epoch;
	unsigned worker;
};

static int
src_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct src_state *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->cfg = arg;
	s->epoch = s->cfg->first_epoch;
	s->worker = engine_ctx_worker(ctx);
	*state = s;
	return 0;
}

static enum engine_poll
src_poll(void *state, struct engine_ctx *ctx)
{
	struct src_state *s = state;
	struct src_cfg *c = s->cfg;
	if (c->idle_forever)
		return engine_ctx_stopping(ctx) ? ENGINE_POLL_DONE : ENGINE_POLL_IDLE;
	if (c->until_stop ? engine_ctx_stopping(ctx) : s->n >= c->per_worker)
		return ENGINE_POLL_DONE;
	for (int i = 0; i < 256 && (c->until_stop || s->n < c->per_worker); i++) {
		uint64_t rec[2] = {s->n * 2654435761u + s->worker, s->n};
		if (!c->until_stop && c->epochs) {
			uint64_t e = c->first_epoch + s->n * c->epochs / c->per_worker;
			if (e > s->epoch)
				engine_source_advance(ctx, s->epoch = e);
		}
		engine_emit(ctx, 0, s->epoch, rec, sizeof rec);
		s->n++;
		atomic_fetch_add_explicit(&c->emitted, 1, memory_order_relaxed);
	}
	return ENGINE_POLL_DATA;
}

static const struct engine_op_vtable src_vt = {
	.init = src_init, .poll = src_poll, .destroy = free,
};

/* A counting sink that records the epochs it saw close. */
struct sink_cfg {
	_Atomic uint64_t records;
	_Atomic uint64_t closes;
	_Atomic uint64_t flushes;
	_Atomic uint64_t late; /* records after their epoch closed */
	_Atomic uint64_t close_mask; /* bit e set when epoch e closed (e < 64) */
	unsigned sleep_us_per_batch;
	int emit_on_close; /* pass-through: emit one record in each closing epoch */
};

struct sink_state {
	struct sink_cfg *cfg;
	uint64_t next_close;
	int have_close;
};

static int
sink_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct sink_state *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->cfg = arg;
	*state = s;
	return 0;
}

static void
sink_batch(void *state, struct engine_ctx *ctx, unsigned port,
           const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct sink_state *s = state;
	if (s->have_close && b->epoch < s->next_close)
		atomic_fetch_add(&s->cfg->late, 1);
	atomic_fetch_add(&s->cfg->records, b->count);
	if (s->cfg->sleep_us_per_batch)
		usleep(s->cfg->sleep_us_per_batch);
}

static void
sink_close(void *state, struct engine_ctx *ctx, uint64_t e)
{
	struct sink_state *s = state;
	s->have_close = 1;
	s->next_close = e + 1;
	atomic_fetch_add(&s->cfg->closes, 1);
	if (e < 64)
		atomic_fetch_or(&s->cfg->close_mask, 1ull << e);
	if (s->cfg->emit_on_close) {
		uint64_t rec[2] = {e, e};
		engine_emit(ctx, 0, e, rec, sizeof rec);
	}
}

static void
sink_flush(void *state, struct engine_ctx *ctx, uint64_t final)
{
	(void)ctx;
	(void)final;
	struct sink_state *s = state;
	atomic_fetch_add(&s->cfg->flushes, 1);
}

static const struct engine_op_vtable sink_vt = {
	.init = sink_init,
	.on_batch = sink_batch,
	.on_epoch_close = sink_close,
	.on_flush = sink_flush,
	.destroy = free,
};

static uint64_t
key0(const void *rec, uint32_t len, void *arg)
{
	(void)len;
	(void)arg;
	uint64_t k;
	memcpy(&k, rec, sizeof k);
	return k;
}

static const uint32_t rec16[] = {16};

/* source -> exchange -> sink */
static struct engine *
make_simple(struct src_cfg *sc, struct sink_cfg *kc, unsigned W,
            uint32_t inflight)
{
	struct engine_graph *g = engine_graph_new();
	assert_non_null(g);
	int s = engine_graph_add(g, "src", &src_vt, sc, 0, 1, rec16);
	int k = engine_graph_add(g, "sink", &sink_vt, kc, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, key0, NULL), 0);
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = W;
	cfg.first_epoch = sc->first_epoch;
	if (inflight)
		cfg.max_inflight_batches = inflight;
	char err[128];
	struct engine *e = engine_new(g, &cfg, err, sizeof err);
	assert_non_null(e);
	return e;
}

static void
test_graph_rejects_bad_shapes(void **st)
{
	(void)st;
	struct engine_graph *g = engine_graph_new();
	struct engine_op_vtable nopoll = {.on_batch = sink_batch};
	assert_int_equal(engine_graph_add(g, "s", &nopoll, NULL, 0, 1, rec16),
	                 WEFT_EINVAL); /* a source needs poll */
	uint32_t odd = 12;
	assert_int_equal(engine_graph_add(g, "s", &src_vt, NULL, 0, 1, &odd),
	                 WEFT_EINVAL); /* fixed sizes are multiples of 8 */
	int s = engine_graph_add(g, "s", &src_vt, NULL, 0, 1, rec16);
	int k = engine_graph_add(g, "k", &sink_vt, NULL, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, k, 0, s, 0, NULL, NULL),
	                 WEFT_EINVAL); /* backwards edge: no cycles */
	int k2 = engine_graph_add(g, "lonely", &sink_vt, NULL, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, NULL, NULL), 0);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, NULL, NULL),
	                 WEFT_EINVAL); /* an input takes one edge */
	(void)k2;
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = 2;
	char err[128] = "";
	assert_null(engine_new(g, &cfg, err, sizeof err));
	assert_non_null(strstr(err, "lonely")); /* the message names it */
}

static int
fail_on_worker1(struct engine_ctx *ctx, void *arg, void **state)
{
	if (engine_ctx_worker(ctx) == 1)
		return WEFT_EINVAL;
	return sink_init(ctx, arg, state);
}

static void
test_init_failure_stops_every_worker_and_is_reported(void **st)
{
	(void)st;
	struct src_cfg sc = {.per_worker = 1000, .epochs = 3};
	struct sink_cfg kc = {0};
	struct engine_op_vtable vt = sink_vt;
	vt.init = fail_on_worker1;
	struct engine_graph *g = engine_graph_new();
	int s = engine_graph_add(g, "src", &src_vt, &sc, 0, 1, rec16);
	int k = engine_graph_add(g, "sink", &vt, &kc, 1, 0, NULL);
	engine_graph_connect(g, s, 0, k, 0, key0, NULL);
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = 3;
	struct engine *e = engine_new(g, &cfg, NULL, 0);
	assert_non_null(e);
	assert_int_equal(engine_run(e), WEFT_EINVAL);
	assert_int_equal(atomic_load(&kc.records), 0);
	engine_free(e);
}

static void
test_empty_epochs_still_close_once_each(void **st)
{
	(void)st;
	/* 10 records per worker spread over 40 epochs: most epochs are empty. */
	struct src_cfg sc = {.per_worker = 10, .epochs = 40, .first_epoch = 5};
	struct sink_cfg kc = {0};
	struct engine *e = make_simple(&sc, &kc, 2, 0);
	assert_int_equal(engine_run(e), 0);
	engine_free(e);
	assert_int_equal(atomic_load(&kc.records), 20);
	assert_int_equal(atomic_load(&kc.late), 0);
	assert_int_equal(atomic_load(&kc.flushes), 2);
	/* each worker's sink closes every epoch from 5 on, exactly once */
	uint64_t closes = atomic_load(&kc.closes);
	assert_true(closes >= 2 * 37);
	assert_int_equal(closes % 2, 0);
	uint64_t mask = atomic_load(&kc.close_mask);
	for (int ep = 5; ep < 41; ep++)
		assert_true(mask & (1ull << ep));
	assert_false(mask & 0x1f); /* nothing below first_epoch */
}

static void
test_emit_while_closing_reaches_downstream_in_that_epoch(void **st)
{
	(void)st;
	/* src -> (exchange) closer -> (exchange) sink: the closer emits one
	 * record per closed epoch; the sink must get them all, none late. */
	struct src_cfg sc = {.per_worker = 100, .epochs = 10};
	struct sink_cfg mid = {.emit_on_close = 1};
	struct sink_cfg kc = {0};
	struct engine_graph *g = engine_graph_new();
	int s = engine_graph_add(g, "src", &src_vt, &sc, 0, 1, rec16);
	int m = engine_graph_add(g, "closer", &sink_vt, &mid, 1, 1, rec16);
	int k = engine_graph_add(g, "sink", &sink_vt, &kc, 1, 0, NULL);
	engine_graph_connect(g, s, 0, m, 0, key0, NULL);
	engine_graph_connect(g, m, 0, k, 0, key0, NULL);
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = 3;
	struct engine *e = engine_new(g, &cfg, NULL, 0);
	assert_int_equal(engine_run(e), 0);
	engine_free(e);
	assert_int_equal(atomic_load(&kc.records), atomic_load(&mid.closes));
	assert_true(atomic_load(&mid.closes) >= 3 * 10);
	assert_int_equal(atomic_load(&kc.late), 0);
}

static void
test_shutdown_with_data_in_flight_delivers_everything(void **st)
{
	(void)st;
	/* A fast source finishes while a slow sink still has queued batches. */
	struct src_cfg sc = {.per_worker = 200000, .epochs = 4};
	struct sink_cfg kc = {.sleep_us_per_batch = 50};
	struct engine *e = make_simple(&sc, &kc, 2, 64);
	assert_int_equal(engine_run(e), 0);
	engine_free(e);
	assert_int_equal(atomic_load(&kc.records), 400000);
	assert_int_equal(atomic_load(&kc.late), 0);
	assert_int_equal(atomic_load(&kc.flushes), 2);
}

struct runner {
	struct engine *e;
	int rc;
};

static void *
run_thread(void *p)
{
	struct runner *r = p;
	r->rc = engine_run(r->e);
	return NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void
test_stop_finishes_endless_sources_and_loses_nothing(void **st)
{
	(void)st;
	struct src_cfg sc = {.until_stop = 1};
	struct sink_cfg kc = {0};
	struct engine *e = make_simple(&sc, &kc, 2, 0);
	struct runner r = {e, -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
	while (atomic_load(&sc.emitted) < 100000)
		sleep_ms(1);
	engine_stop(e);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(atomic_load(&kc.records), atomic_load(&sc.emitted));
	engine_free(e);
}

static void
test_backpressure_holds_sources_not_exchange(void **st)
{
	(void)st;
	/* in-flight bound of 1 batch and a slow sink: sources must wait, and
	 * still every record arrives. */
	struct src_cfg sc = {.per_worker = 20000, .epochs = 2};
	struct sink_cfg kc = {.sleep_us_per_batch = 100};
	struct engine *e = make_simple(&sc, &kc, 2, 1);
	assert_int_equal(engine_run(e), 0);
	struct engine_stats stats;
	engine_get_stats(e, &stats);
	engine_free(e);
	assert_true(stats.backpressure_waits > 0);
	assert_int_equal(atomic_load(&kc.records), 40000);
	assert_int_equal(stats.records_sent, 40000);
}

static double
cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
test_idle_workers_park_instead_of_spinning(void **st)
{
	(void)st;
	struct src_cfg sc = {.idle_forever = 1};
	struct sink_cfg kc = {0};
	struct engine *e = make_simple(&sc, &kc, 4, 0);
	struct runner r = {e, -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
	sleep_ms(100); /* let start-up finish */
	double c0 = cpu_seconds();
	sleep_ms(1000);
	double used = cpu_seconds() - c0;
	engine_stop(e);
	pthread_join(t, NULL);
	engine_free(e);
	/* Four spinning workers would use ~4 s here (or 2 s on 2 cores); a
	 * parked engine wakes at most ~100 times a second per worker. */
	assert_true(used < 0.25);
	assert_int_equal(r.rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_graph_rejects_bad_shapes),
		cmocka_unit_test(test_init_failure_stops_every_worker_and_is_reported),
		cmocka_unit_test(test_empty_epochs_still_close_once_each),
		cmocka_unit_test(test_emit_while_closing_reaches_downstream_in_that_epoch),
		cmocka_unit_test(test_shutdown_with_data_in_flight_delivers_everything),
		cmocka_unit_test(test_stop_finishes_endless_sources_and_loses_nothing),
		cmocka_unit_test(test_backpressure_holds_sources_not_exchange),
		cmocka_unit_test(test_idle_workers_park_instead_of_spinning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

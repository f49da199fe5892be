/*
 * test_engine.c — engine behaviours one at a time: graph validation, init
 * failure, empty epochs, emission while an epoch closes, shutdown with data
 * in flight, engine_stop(), backpressure, busy workers publishing what
 * they send without going idle, small batches crossing as one message,
 * idle workers not burning CPU,
 * emitting in place (reserve/commit), the emit contract checked on the
 * fast path too, and a final epoch that does not depend on how many
 * operators lie between source and sink.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/engine.h"
#define TEST_RNG_SEED 0x243f6a8885a308d3ULL
#include "tests/test_rng.h"

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

/* The state of most operators here: their config, their worker, a
 * position and the epochs seen closed. */
struct wstate {
	void *cfg;
	unsigned worker;
	uint64_t n, epoch, closed_below;
};

static int
wstate_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct wstate *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->cfg = arg;
	s->worker = engine_ctx_worker(ctx);
	*state = s;
	return 0;
}

static int
src_init(struct engine_ctx *ctx, void *arg, void **state)
{
	int rc = wstate_init(ctx, arg, state);
	if (rc == 0)
		((struct wstate *)*state)->epoch = ((struct src_cfg *)arg)->first_epoch;
	return rc;
}

static enum engine_poll
src_poll(void *state, struct engine_ctx *ctx)
{
	struct wstate *s = state;
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
	_Atomic uint64_t batches, max_count; /* batches; the most records in one */
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
	atomic_fetch_add(&s->cfg->batches, 1);
	uint64_t m = atomic_load(&s->cfg->max_count);
	while (b->count > m && !atomic_compare_exchange_weak(&s->cfg->max_count, &m, b->count))
		;
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

/* Runs g on W workers (batch_records 0: the default) to its end and frees
 * the engine; returns engine_run's result. */
static int
run_graph(struct engine_graph *g, unsigned W, uint32_t batch_records)
{
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = W;
	if (batch_records)
		cfg.batch_records = batch_records;
	struct engine *e = engine_new(g, &cfg, NULL, 0);
	assert_non_null(e);
	int rc = engine_run(e);
	engine_free(e);
	return rc;
}

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
	assert_int_equal(run_graph(g, 3, 0), WEFT_EINVAL);
	assert_int_equal(atomic_load(&kc.records), 0);
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
	assert_int_equal(run_graph(g, 3, 0), 0);
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

/* An engine run on a thread of its own, until runner_stop. */
struct runner {
	struct engine *e;
	int rc;
	pthread_t t;
};

static void *
run_thread(void *p)
{
	struct runner *r = p;
	r->rc = engine_run(r->e);
	return NULL;
}

static void
runner_start(struct runner *r, struct engine *e)
{
	r->e = e;
	r->rc = -1;
	assert_int_equal(pthread_create(&r->t, NULL, run_thread, r), 0);
}

/* engine_stop, then waits for the run; returns engine_run's result. The
 * engine is left to the caller to free. */
static int
runner_stop(struct runner *r)
{
	engine_stop(r->e);
	pthread_join(r->t, NULL);
	return r->rc;
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
	struct runner r;
	runner_start(&r, make_simple(&sc, &kc, 2, 0));
	while (atomic_load(&sc.emitted) < 100000)
		sleep_ms(1);
	assert_int_equal(runner_stop(&r), 0);
	assert_int_equal(atomic_load(&kc.records), atomic_load(&sc.emitted));
	engine_free(r.e);
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

/* A source that stays busy: it emits one record (a whole batch with
 * batch_records 1) and keeps its epoch open, then reports data (doing
 * nothing) until the sinks have every worker's record, or gives up after
 * BUSY_GIVE_UP_S seconds. */
#define BUSY_GIVE_UP_S 20
struct busy_cfg {
	struct sink_cfg *sink;
	unsigned workers;
	time_t t0; /* when the run began */
	_Atomic int gave_up;
};

static enum engine_poll
busy_poll(void *state, struct engine_ctx *ctx)
{
	struct wstate *s = state;
	struct busy_cfg *c = s->cfg;
	if (s->n == 0) {
		uint64_t rec[2] = {s->worker, 1};
		engine_emit(ctx, 0, 0, rec, sizeof rec);
		s->n = 1;
	}
	if (atomic_load(&c->sink->records) >= c->workers)
		return ENGINE_POLL_DONE;
	if (time(NULL) > c->t0 + BUSY_GIVE_UP_S) { /* report, not hang */
		atomic_store(&c->gave_up, 1);
		return ENGINE_POLL_DONE;
	}
	return ENGINE_POLL_DATA;
}

static const struct engine_op_vtable busy_vt = {
	.init = wstate_init, .poll = busy_poll, .destroy = free,
};

static void
test_busy_workers_still_deliver_what_they_send(void **st)
{
	(void)st;
	/* Workers publish what they queued at the end of every loop turn, not
	 * only before they park: here no worker runs out of work, sends a
	 * punctuation or fills 32 batches until every record has arrived. */
	struct sink_cfg kc = {0};
	struct busy_cfg bc = {.sink = &kc, .workers = 2, .t0 = time(NULL)};
	struct engine_graph *g = engine_graph_new();
	assert_non_null(g);
	int s = engine_graph_add(g, "busy", &busy_vt, &bc, 0, 1, rec16);
	int k = engine_graph_add(g, "sink", &sink_vt, &kc, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, key0, NULL), 0);
	assert_int_equal(run_graph(g, bc.workers, 1), 0);
	assert_int_equal(atomic_load(&bc.gave_up), 0);
	assert_int_equal(atomic_load(&kc.records), 2);
	assert_int_equal(atomic_load(&kc.late), 0);
}

static void
test_small_batches_cross_as_one_message(void **st)
{
	(void)st;
	/* Batches of 4 16-byte records: up to 32 of them (128 records) go to
	 * another worker as one message, never more, and every record still
	 * arrives in its epoch. With one message per batch this run would
	 * send 10,000. */
	struct src_cfg sc = {.per_worker = 20000, .epochs = 4};
	struct sink_cfg kc = {0};
	struct engine_graph *g = engine_graph_new();
	assert_non_null(g);
	int s = engine_graph_add(g, "src", &src_vt, &sc, 0, 1, rec16);
	int k = engine_graph_add(g, "sink", &sink_vt, &kc, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, key0, NULL), 0);
	assert_int_equal(run_graph(g, 2, 4), 0);
	assert_int_equal(atomic_load(&kc.records), 40000);
	assert_int_equal(atomic_load(&kc.late), 0);
	assert_true(atomic_load(&kc.max_count) > 4);
	assert_true(atomic_load(&kc.max_count) <= 128);
	assert_true(atomic_load(&kc.batches) <= 40000 / 4 / 8);
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
	struct runner r;
	runner_start(&r, make_simple(&sc, &kc, 4, 0));
	sleep_ms(100); /* let start-up finish */
	double c0 = cpu_seconds();
	sleep_ms(1000);
	double used = cpu_seconds() - c0;
	int rc = runner_stop(&r);
	engine_free(r.e);
	/* Four spinning workers would use ~4 s here (or 2 s on 2 cores); a
	 * parked engine wakes at most ~100 times a second per worker. */
	assert_true(used < 0.25);
	assert_int_equal(rc, 0);
}

/* ---- emitting in place ------------------------------------------------- */

/* Record i of a worker: key, then (len - 8) bytes derived from the key;
 * lengths vary from 8 to 200 so batches fill at odd places. */
static uint32_t
var_len(uint64_t i)
{
	return 8u + (uint32_t)(i * 37u % 193u);
}

static void
var_fill(unsigned char *p, uint64_t key, uint32_t len)
{
	memcpy(p, &key, 8);
	for (uint32_t k = 8; k < len; k++)
		p[k] = (unsigned char)(key + k);
}

struct vsrc_cfg {
	uint64_t per_worker, epochs;
	int abandon_every; /* > 0: every n-th reservation is not committed */
	int copy;          /* engine_emit (a copy) instead of reserve/commit */
	uint32_t fixed;    /* with copy: records of this fixed size (0: varied) */
	_Atomic uint64_t emitted, reserved_null;
};

static enum engine_poll
vsrc_poll(void *state, struct engine_ctx *ctx)
{
	struct wstate *s = state;
	struct vsrc_cfg *c = s->cfg;
	if (s->n >= c->per_worker)
		return ENGINE_POLL_DONE;
	for (int i = 0; i < 300 && s->n < c->per_worker; i++, s->n++) {
		uint64_t e = s->n * c->epochs / c->per_worker;
		if (e > s->epoch)
			engine_source_advance(ctx, s->epoch = e);
		uint64_t key = (s->n << 8) | s->worker;
		uint32_t len = c->fixed ? c->fixed : var_len(s->n);
		if (c->copy) {
			unsigned char rec[256];
			var_fill(rec, key, len);
			engine_emit(ctx, 0, s->epoch, rec, len);
			atomic_fetch_add(&c->emitted, 1);
			continue;
		}
		/* reserve more than is committed, as a decoder would */
		unsigned char *p = engine_emit_reserve(ctx, 0, s->epoch, key,
		                                       len + 64);
		if (!p) {
			atomic_fetch_add(&c->reserved_null, 1);
			continue;
		}
		var_fill(p, key, len);
		if (c->abandon_every && s->n % (uint64_t)c->abandon_every == 0)
			continue; /* reserved, never committed: nothing sent */
		engine_emit_commit(ctx, 0, len);
		atomic_fetch_add(&c->emitted, 1);
	}
	return ENGINE_POLL_DATA;
}

static const struct engine_op_vtable vsrc_vt = {
	.init = wstate_init, .poll = vsrc_poll, .destroy = free,
};

struct vsink_cfg {
	uint32_t fixed; /* the source's fixed record size (0: varied) */
	_Atomic uint64_t records, bad, late, misrouted;
};

static void
vsink_batch(void *state, struct engine_ctx *ctx, unsigned port,
            const struct engine_batch *b)
{
	(void)port;
	struct wstate *s = state;
	struct vsink_cfg *kc = s->cfg;
	if (b->epoch < s->closed_below)
		atomic_fetch_add(&kc->late, 1);
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const unsigned char *r;
	uint32_t len;
	unsigned W = engine_ctx_workers(ctx);
	while ((r = engine_batch_next(b, &c, &len))) {
		uint64_t key;
		memcpy(&key, r, 8);
		unsigned char want[256];
		var_fill(want, key, len);
		uint32_t want_len = kc->fixed ? kc->fixed : var_len(key >> 8);
		if (len != want_len || memcmp(r, want, len) != 0)
			atomic_fetch_add(&kc->bad, 1);
		if (engine_route(key, W) != engine_ctx_worker(ctx))
			atomic_fetch_add(&kc->misrouted, 1);
		atomic_fetch_add(&kc->records, 1);
	}
}

static void
vsink_close(void *state, struct engine_ctx *ctx, uint64_t e)
{
	(void)ctx;
	((struct wstate *)state)->closed_below = e + 1;
}

static const struct engine_op_vtable vsink_vt = {
	.init = wstate_init,
	.on_batch = vsink_batch,
	.on_epoch_close = vsink_close,
	.destroy = free,
};

static void
run_vgraph(struct vsrc_cfg *sc, struct vsink_cfg *kc, unsigned W,
           int exchange, uint32_t batch_records)
{
	struct engine_graph *g = engine_graph_new();
	const uint32_t rec_size[] = {sc->fixed};
	int s = engine_graph_add(g, "src", &vsrc_vt, sc, 0, 1, rec_size);
	int k = engine_graph_add(g, "sink", &vsink_vt, kc, 1, 0, NULL);
	/* records begin with their key: the engine reads it in line */
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0,
	                                      exchange ? engine_key_first_u64
	                                               : NULL, NULL), 0);
	assert_int_equal(run_graph(g, W, batch_records), 0);
}

static void
test_emit_in_place_delivers_what_was_committed(void **st)
{
	(void)st;
	for (unsigned W = 1; W <= 3; W++) {
		for (int exchange = 0; exchange <= 1; exchange++) {
			/* small batches: many fill up between reserve and commit */
			uint32_t brs[] = {7, 1024};
			for (unsigned bi = 0; bi < 2; bi++) {
				struct vsrc_cfg sc = {.per_worker = 5000, .epochs = 9,
				                      .abandon_every = 11};
				struct vsink_cfg kc = {0};
				run_vgraph(&sc, &kc, W, exchange, brs[bi]);
				assert_int_equal(atomic_load(&sc.reserved_null), 0);
				/* 5000 reservations per worker, every 11th not
				 * committed (n = 0, 11, ..., 4994: 455 of them) */
				assert_int_equal(atomic_load(&sc.emitted),
				                 (uint64_t)W * (5000 - 455));
				assert_int_equal(atomic_load(&kc.records),
				                 atomic_load(&sc.emitted));
				assert_int_equal(atomic_load(&kc.bad), 0);
				assert_int_equal(atomic_load(&kc.late), 0);
				if (exchange)
					assert_int_equal(atomic_load(&kc.misrouted), 0);
			}
		}
	}
}

static void
test_first_u64_keys_route_like_any_key_function(void **st)
{
	(void)st;
	/* engine_emit reads an engine_key_first_u64 key in line: records
	 * must land on engine_route(first 8 bytes), as with a called key.
	 * Variable-size records (fixed 0) take the checked path; fixed-size
	 * ones of every size the fast path covers take it, and it routes in
	 * line too (a shift for a power-of-two W, Lemire's reduction
	 * otherwise). */
	for (unsigned W = 2; W <= 8; W++) {
		for (uint32_t fixed = 0; fixed <= 32; fixed += 8) {
			struct vsrc_cfg sc = {.per_worker = 3000, .epochs = 4,
			                      .copy = 1, .fixed = fixed};
			struct vsink_cfg kc = {.fixed = fixed};
			run_vgraph(&sc, &kc, W, 1, 64);
			assert_int_equal(atomic_load(&kc.records), (uint64_t)W * 3000);
			assert_int_equal(atomic_load(&kc.misrouted), 0);
			assert_int_equal(atomic_load(&kc.bad), 0);
		}
	}
	uint64_t rec[2] = {0x1234567890abcdefULL, 7};
	assert_true(engine_key_first_u64(rec, sizeof rec, NULL) == rec[0]);
}

static enum engine_poll
reserve_probe_poll(void *state, struct engine_ctx *ctx)
{
	(void)state;
	int *ok = engine_ctx_worker(ctx) == 0 ? (int *)state : NULL;
	if (ok) {
		/* output 0: fixed-size; output 1: two edges; output 2: one
		 * variable edge, but a record larger than any batch */
		ok[0] = engine_emit_reserve(ctx, 0, 0, 1, 16) == NULL;
		ok[1] = engine_emit_reserve(ctx, 1, 0, 1, 16) == NULL;
		ok[2] = engine_emit_reserve(ctx, 2, 0, 1, 1u << 20) == NULL;
		ok[3] = engine_emit_reserve(ctx, 2, 0, 1, 16) != NULL;
	}
	return ENGINE_POLL_DONE;
}

/* The state is the node's argument itself (probes and breach sources). */
static int
probe_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	*state = arg;
	return 0;
}

static void
test_emit_reserve_refuses_what_it_cannot_place(void **st)
{
	(void)st;
	int ok[4] = {0};
	const struct engine_op_vtable probe_vt = {
		.init = probe_init, .poll = reserve_probe_poll,
	};
	struct sink_cfg k1 = {0};
	struct vsink_cfg v1 = {0}, v2 = {0};
	struct engine_graph *g = engine_graph_new();
	const uint32_t sizes[] = {16, 0, 0};
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "probe", &probe_vt, ok, 0, 3, sizes);
	int a = engine_graph_add(g, "fixed", &sink_vt, &k1, 1, 0, NULL);
	int b = engine_graph_add(g, "two-a", &vsink_vt, &v1, 1, 0, NULL);
	int c = engine_graph_add(g, "two-b", &vsink_vt, &v2, 1, 0, NULL);
	int d = engine_graph_add(g, "one", &vsink_vt, &v2, 1, 0, var);
	(void)var;
	assert_int_equal(engine_graph_connect(g, s, 0, a, 0, NULL, NULL), 0);
	assert_int_equal(engine_graph_connect(g, s, 1, b, 0, NULL, NULL), 0);
	assert_int_equal(engine_graph_connect(g, s, 1, c, 0, key0, NULL), 0);
	assert_int_equal(engine_graph_connect(g, s, 2, d, 0, key0, NULL), 0);
	assert_int_equal(run_graph(g, 2, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_true(ok[i]);
	/* the last reservation was never committed: nothing arrived */
	assert_int_equal(atomic_load(&v2.records), 0);
}

/* ---- routing spread -------------------------------------------------------- */

/* Keys users have: sequential, strided by every power of two up to 2^48,
 * decimal ASCII packed into 8 bytes, random. Each family of N keys must
 * spread over W workers within 15 % of even (random keys alone vary by
 * about 3 % at W=16, N=20000). */
static void
test_route_spreads_structured_keys(void **st)
{
	(void)st;
	enum { N = 20000 };
	static const unsigned Ws[] = {2, 3, 4, 5, 7, 8, 12, 16};
	for (unsigned fam = 0; fam < 52; fam++) {
		for (size_t wi = 0; wi < sizeof Ws / sizeof Ws[0]; wi++) {
			unsigned W = Ws[wi], cnt[16] = {0};
			for (uint64_t i = 0; i < N; i++) {
				uint64_t key;
				if (fam < 49) { /* i << fam */
					key = (i + 1) << fam;
				} else if (fam == 49) { /* "00000123" */
					char txt[9];
					snprintf(txt, sizeof txt, "%08llu", (unsigned long long)i);
					memcpy(&key, txt, 8);
				} else if (fam == 50) { /* high 16 bits only */
					key = (i & 0xffff) << 48 | (i >> 16);
				} else {
					key = rnd();
				}
				unsigned t = engine_route(key, W);
				assert_true(t < W);
				cnt[t]++;
			}
			for (unsigned t = 0; t < W; t++)
				if (cnt[t] * (uint64_t)W > N * 115ull / 100 ||
				    cnt[t] * (uint64_t)W < N * 85ull / 100)
					fail_msg("family %u, W=%u: worker %u got %u of %u",
					         fam, W, t, cnt[t], (unsigned)N);
		}
	}
	/* one worker: everything to 0 */
	assert_int_equal(engine_route(~0ULL, 1), 0);
}

/* ---- the emit contract, with the fast path armed ------------------------ */

/* A source that emits a few records at epoch 3 (arming engine_emit's fast
 * path), then breaks the contract one way. */
enum breach { BR_BELOW_FRONTIER, BR_SIZE, BR_MAX_EPOCH, BR_NO_OUTPUT };

static enum engine_poll
breach_poll(void *state, struct engine_ctx *ctx)
{
	enum breach how = *(const enum breach *)state;
	uint64_t rec[2] = {0, 1};
	for (uint64_t i = 0; i < 8; i++) {
		rec[0] = i * 0x9e3779b97f4a7c15ULL;
		engine_emit(ctx, 0, 3, rec, sizeof rec);
	}
	switch (how) {
	case BR_BELOW_FRONTIER:
		engine_source_advance(ctx, 5);
		engine_emit(ctx, 0, 3, rec, sizeof rec);
		break;
	case BR_SIZE:
		engine_emit(ctx, 0, 3, rec, 8);
		break;
	case BR_MAX_EPOCH:
		engine_emit(ctx, 0, ENGINE_EPOCH_MAX, rec, sizeof rec);
		break;
	case BR_NO_OUTPUT:
		engine_emit(ctx, 1, 3, rec, sizeof rec);
		break;
	}
	return ENGINE_POLL_DONE;
}

/* Runs the breach in a child process and asserts that it aborted with
 * `want` in what it wrote to stderr. */
static void
expect_abort(enum breach how, unsigned W, int exchange, const char *want)
{
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		const struct engine_op_vtable src = {
			.init = probe_init, .poll = breach_poll,
		};
		struct sink_cfg kc = {0};
		struct engine_graph *g = engine_graph_new();
		const uint32_t rs[] = {16};
		int s = engine_graph_add(g, "breach", &src, &how, 0, 1, rs);
		int k = engine_graph_add(g, "sink", &sink_vt, &kc, 1, 0, NULL);
		engine_graph_connect(g, s, 0, k, 0,
		                     exchange ? engine_key_first_u64 : NULL, NULL);
		struct engine_config cfg;
		engine_config_default(&cfg);
		cfg.workers = W;
		struct engine *e = engine_new(g, &cfg, NULL, 0);
		if (e)
			engine_run(e);
		_exit(0); /* not reached when the contract is enforced */
	}
	close(fd[1]);
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 &&
	       (r = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	close(fd[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT ||
	    !strstr(buf, want))
		fail_msg("breach %d, W=%u, exchange %d: status %d, stderr: %s",
		         (int)how, W, exchange, status, buf);
}

static void
test_emit_contract_holds_with_the_fast_path_armed(void **st)
{
	(void)st;
	for (unsigned W = 1; W <= 2; W++)
		for (int x = 0; x < 2; x++) {
			expect_abort(BR_BELOW_FRONTIER, W, x,
			             "emit below the output frontier");
			expect_abort(BR_SIZE, W, x, "record size");
			expect_abort(BR_MAX_EPOCH, W, x, "epoch reserved");
			expect_abort(BR_NO_OUTPUT, W, x, "no such output");
		}
}

/* ---- the final epoch ----------------------------------------------------- */

/* A pass-through that remembers its last closed epoch and its final. */
struct pass_cfg {
	int forward; /* emit what arrives on output 0 */
	_Atomic uint64_t last_close[4], final[4];
};

static void
pass_batch(void *state, struct engine_ctx *ctx, unsigned port,
           const struct engine_batch *b)
{
	(void)port;
	struct wstate *s = state;
	const struct pass_cfg *pc = s->cfg;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while (pc->forward && (r = engine_batch_next(b, &c, &len)))
		engine_emit(ctx, 0, b->epoch, r, len);
}

static void
pass_close(void *state, struct engine_ctx *ctx, uint64_t e)
{
	(void)ctx;
	struct wstate *s = state;
	atomic_store(&((struct pass_cfg *)s->cfg)->last_close[s->worker], e);
}

static void
pass_flush(void *state, struct engine_ctx *ctx, uint64_t final)
{
	(void)ctx;
	struct wstate *s = state;
	atomic_store(&((struct pass_cfg *)s->cfg)->final[s->worker], final);
}

static const struct engine_op_vtable pass_vt = {
	.init = wstate_init,
	.on_batch = pass_batch,
	.on_epoch_close = pass_close,
	.on_flush = pass_flush,
	.destroy = free,
};

static void
test_final_epoch_does_not_depend_on_depth(void **st)
{
	(void)st;
	/* src -> p0 -> p1 -> p2 -> p3, alternating exchange and pipeline:
	 * every stage closes the same epochs and flushes with the same
	 * final, so what an operator finishes by its idle gap rather than
	 * at flush does not depend on where it sits in the graph. */
	struct src_cfg sc = {.per_worker = 3000, .epochs = 6};
	struct pass_cfg pc[4];
	memset(pc, 0, sizeof pc);
	struct engine_graph *g = engine_graph_new();
	int prev = engine_graph_add(g, "src", &src_vt, &sc, 0, 1, rec16);
	for (int i = 0; i < 4; i++) {
		pc[i].forward = i < 3;
		int n = engine_graph_add(g, "pass", &pass_vt, &pc[i], 1, i < 3,
		                         rec16);
		assert_int_equal(engine_graph_connect(g, prev, 0, n, 0,
		                                      i % 2 ? NULL : key0, NULL), 0);
		prev = n;
	}
	assert_int_equal(run_graph(g, 2, 0), 0);
	for (int i = 0; i < 4; i++) {
		for (unsigned w = 0; w < 2; w++) {
			/* epochs 0..5 carry data; the source ends at 6 */
			assert_int_equal(atomic_load(&pc[i].last_close[w]), 5);
			assert_int_equal(atomic_load(&pc[i].final[w]), 6);
		}
	}
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
		cmocka_unit_test(test_busy_workers_still_deliver_what_they_send),
		cmocka_unit_test(test_small_batches_cross_as_one_message),
		cmocka_unit_test(test_idle_workers_park_instead_of_spinning),
		cmocka_unit_test(test_emit_in_place_delivers_what_was_committed),
		cmocka_unit_test(test_emit_reserve_refuses_what_it_cannot_place),
		cmocka_unit_test(test_first_u64_keys_route_like_any_key_function),
		cmocka_unit_test(test_emit_contract_holds_with_the_fast_path_armed),
		cmocka_unit_test(test_route_spreads_structured_keys),
		cmocka_unit_test(test_final_epoch_does_not_depend_on_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * op_serve.c — the service behind `weft serve` (its command, options and
 * start-up are cmd/serve.c):
 *
 *   kafka source (one consumer per worker, one group) -> decode
 *     -> exchange(trace id) -> assemble [-> check] -> serve sink
 *
 * Outputs go through one idempotent producer: anomalies (the check
 * operator's JSON lines), finished traces (optional), dead letters; every
 * message keyed by trace id where there is one. The committer thread is
 * the only caller of rd_kafka_poll() on the producer: it counts delivery
 * reports per writer slot and, every commit interval, publishes the commit
 * epoch of serve.h's rule once everything produced before it read the
 * ledger has been delivered. A delivery failure stops the service without
 * committing past it (exit 1): the next run re-reads. Also here: the
 * structured log and the /metrics rendering.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "operators/output/console.h"
#include "operators/serve/kafka_conf.h"
#include "operators/serve/otlp_http.h"
#include "operators/serve/serve.h"

/* ---- structured log ----------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
serve_log(const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	struct weft_buf b = {0};
	weft_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":", when, ts.tv_nsec / 1000000);
	weft_buf_str(&b, level);
	weft_buf_printf(&b, ",\"msg\":");
	weft_buf_str(&b, msg);
	weft_buf_printf(&b, "}\n");
	pthread_mutex_lock(&log_lock);
	if (b.p)
		fwrite(b.p, 1, b.len, stderr);
	pthread_mutex_unlock(&log_lock);
	free(b.p);
}

/* librdkafka's own log lines, as structured lines too. While the brokers
 * are down every client repeats its connection failures; those (facility
 * FAIL, or a broker-state line) are logged at most once per 30 s, with
 * the count of those held back. The outage itself is logged once when it
 * starts and once when it ends (op_kafka.c). */
#define RDK_QUIET_MS 30000
static _Atomic int64_t rdk_quiet_until;
static _Atomic uint64_t rdk_held;

void
serve_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (!strcmp(fac, "FAIL") || !strcmp(fac, "BROKERFAIL") || !strcmp(fac, "STATE")) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		int64_t until = atomic_load(&rdk_quiet_until);
		if (now < until || !atomic_compare_exchange_strong(&rdk_quiet_until, &until,
		                                                   now + RDK_QUIET_MS)) {
			atomic_fetch_add(&rdk_held, 1);
			return;
		}
		uint64_t held = atomic_exchange(&rdk_held, 0);
		serve_log(level <= 3 ? "error" : "warn",
		          "%s: %s: %s (%" PRIu64 " such lines held back; at most one per %d s)",
		          rd_kafka_name(rk), fac, buf, held, RDK_QUIET_MS / 1000);
		return;
	}
	serve_log(level <= 3 ? "error" : level <= 4 ? "warn" : "info", "%s: %s: %s",
	          rd_kafka_name(rk), fac, buf);
}

/* ---- outputs ------------------------------------------------------------ */

#define SEQ_BITS 48
#define SEQ_MASK ((1ull << SEQ_BITS) - 1)

struct out_slot {
	_Atomic uint64_t next; /* messages produced (one writer per slot) */
	/* committer thread only */
	uint64_t below;        /* every message < below delivered */
	uint8_t *done;
	size_t cap, head;
	char pad[64];
};

struct serve_out {
	rd_kafka_t *rk;
	rd_kafka_topic_t *topic[SERVE_T__COUNT];
	const char *topic_name[SERVE_T__COUNT];
	unsigned n_slots;
	struct out_slot *slots;
	_Atomic int failed;
	_Atomic uint64_t produced[SERVE_T__COUNT], delivered, delivery_failures;
	_Atomic uint64_t queue_full_waits;
};

static void
slot_mark(struct out_slot *sl, uint64_t seq)
{
	if (seq < sl->below)
		return;
	uint64_t off = seq - sl->below;
	if (off >= sl->cap) {
		size_t nc = sl->cap ? sl->cap : 1024;
		while (nc <= off)
			nc *= 2;
		uint8_t *nd = calloc(nc, 1);
		if (!nd)
			abort();
		for (size_t i = 0; i < sl->cap; i++)
			nd[i] = sl->done[(sl->head + i) % sl->cap];
		free(sl->done);
		sl->done = nd;
		sl->cap = nc;
		sl->head = 0;
	}
	sl->done[(sl->head + off) % sl->cap] = 1;
	while (sl->done[sl->head]) {
		sl->done[sl->head] = 0;
		sl->head = (sl->head + 1) % sl->cap;
		sl->below++;
	}
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct serve_out *o = opaque;
	uint64_t tag = (uint64_t)(uintptr_t)m->_private;
	unsigned slot = (unsigned)(tag >> SEQ_BITS);
	if (m->err) {
		if (!atomic_exchange(&o->failed, 1))
			serve_log("error", "delivery to '%s' failed: %s; stopping without committing past it",
			          m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
			          rd_kafka_err2str(m->err));
		atomic_fetch_add(&o->delivery_failures, 1);
	} else {
		atomic_fetch_add_explicit(&o->delivered, 1, memory_order_relaxed);
	}
	if (slot < o->n_slots)
		slot_mark(&o->slots[slot], tag & SEQ_MASK);
}

int
serve_out_produce(struct serve_out *o, unsigned slot, enum serve_topic t,
                  int has_key, uint64_t key_id, const char *value, size_t len)
{
	if (!o || !o->topic[t])
		return 0;
	struct out_slot *sl = &o->slots[slot];
	uint64_t seq = atomic_load_explicit(&sl->next, memory_order_relaxed);
	char key[17];
	if (has_key)
		snprintf(key, sizeof key, "%016" PRIx64, key_id);
	void *tag = (void *)(uintptr_t)(((uint64_t)slot << SEQ_BITS) | (seq & SEQ_MASK));
	while (rd_kafka_produce(o->topic[t], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
	                        (void *)value, len, has_key ? key : NULL,
	                        has_key ? 16 : 0, tag) == -1) {
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			if (!atomic_exchange(&o->failed, 1))
				serve_log("error", "produce to '%s' failed: %s", o->topic_name[t],
				          rd_kafka_err2str(err));
			return WEFT_EKAFKA;
		}
		/* the committer polls the producer; wait for room, never drop */
		atomic_fetch_add_explicit(&o->queue_full_waits, 1, memory_order_relaxed);
		usleep(1000);
	}
	atomic_fetch_add_explicit(&o->produced[t], 1, memory_order_relaxed);
	atomic_store_explicit(&sl->next, seq + 1, memory_order_release);
	return 0;
}

/* ---- the serve sink ------------------------------------------------------ */

struct sink_inst {
	struct serve_sink_config *cfg;
	unsigned w;
	struct weft_buf buf;
};

static int
sink_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct sink_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->cfg = arg;
	s->w = engine_ctx_worker(ctx);
	*state = s;
	return 0;
}

static void
sink_batch(void *state, struct engine_ctx *ctx, unsigned port,
           const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct sink_inst *s = state;
	struct serve_sink_config *c = s->cfg;
	struct engine_batch_cursor cur = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	/* counted here, added to the shared atomics once per batch */
	uint64_t by_verdict[OP_VERDICT__COUNT] = {0}, traces = 0, events = 0, reread = 0;
	uint64_t handed = 0;
	while ((r = engine_batch_next(b, &cur, &len))) {
		const struct op_trace *t = r;
		if (t->flags & (OP_TRACE_HANDED_OVER | OP_TRACE_REPLAYED)) {
			/* handed over: its partition was committed below it at
			 * the revocation and its new owner re-reads it whole;
			 * replayed: read again only to complete traces reaching
			 * past the committed offset, it was emitted before */
			if (t->flags & OP_TRACE_HANDED_OVER)
				handed++;
			op_ledger_close(c->ledger, s->w, t->src, t->first_epoch);
			continue;
		}
		if (t->flags & OP_TRACE_FLUSHED) {
			reread++; /* still open at shutdown: left uncommitted, re-read next run */
			continue;
		}
		s->buf.len = 0;
		if (c->out && c->out->topic[SERVE_T_TRACES] &&
		    op_trace_json(&s->buf, t, c->full) == 0) {
			if (serve_out_produce(c->out, s->w, SERVE_T_TRACES, 1, t->trace_id,
			                      s->buf.p, s->buf.len))
				atomic_fetch_add(&c->write_errors, 1);
		}
		by_verdict[t->verdict < OP_VERDICT__COUNT ? t->verdict : 0]++;
		serve_hists_observe(c, t);
		traces++;
		events += t->events_seen;
		op_ledger_close(c->ledger, s->w, t->src, t->first_epoch);
	}
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
		if (by_verdict[v])
			atomic_fetch_add_explicit(&c->by_verdict[v], by_verdict[v], memory_order_relaxed);
	atomic_fetch_add_explicit(&c->traces, traces, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->events, events, memory_order_relaxed);
	if (reread)
		atomic_fetch_add_explicit(&c->reread, reread, memory_order_relaxed);
	if (handed)
		atomic_fetch_add_explicit(&c->handed_over, handed, memory_order_relaxed);
}

static void
sink_close(void *state, struct engine_ctx *ctx, uint64_t epoch)
{
	(void)ctx;
	struct sink_inst *s = state;
	op_ledger_publish(s->cfg->ledger, s->w, epoch + 1);
}

static void
sink_flush(void *state, struct engine_ctx *ctx, uint64_t final)
{
	(void)ctx;
	struct sink_inst *s = state;
	op_ledger_publish(s->cfg->ledger, s->w, final + 1);
}

static void
sink_destroy(void *state)
{
	struct sink_inst *s = state;
	free(s->buf.p);
	free(s);
}

const struct engine_op_vtable serve_sink_vtable = {
	.init = sink_init,
	.on_batch = sink_batch,
	.on_epoch_close = sink_close,
	.on_flush = sink_flush,
	.destroy = sink_destroy,
};

/* ---- committer ------------------------------------------------------------ */

/* One round: read L, wait for every output produced before, publish L.
 * 0 when published, -1 on delivery failure or when asked to stop first. */
static int
commit_round(struct serve_committer *c, int final)
{
	uint64_t L = op_ledger_low(c->ledger);
	op_kafka_read_lows(c->k, c->ledger); /* every partition's, before the snapshot */
	struct serve_out *o = c->out;
	for (unsigned i = 0; i < o->n_slots; i++)
		c->snap[i] = atomic_load_explicit(&o->slots[i].next, memory_order_acquire);
	int64_t waited = 0;
	for (;;) {
		unsigned i;
		for (i = 0; i < o->n_slots; i++)
			if (o->slots[i].below < c->snap[i])
				break;
		if (i == o->n_slots)
			break;
		if (atomic_load(&o->failed) || (!final && atomic_load(&c->stop)))
			return -1;
		uint32_t limit = c->final_timeout_ms ? c->final_timeout_ms : 10000;
		if (final && waited > limit) {
			serve_log("error", "outputs not delivered after %.1f s (shutdown.timeout.ms);"
			          " not committing: the next run re-reads them", limit / 1000.0);
			return -1;
		}
		rd_kafka_poll(o->rk, 50);
		waited += 50;
	}
	if (atomic_load(&o->failed))
		return -1;
	op_kafka_publish_lows(c->k, L);
	return 0;
}

static void *
committer_main(void *arg)
{
	struct serve_committer *c = arg;
	while (!atomic_load(&c->stop)) {
		for (uint32_t t = 0; t < c->interval_ms && !atomic_load(&c->stop); t += 50)
			rd_kafka_poll(c->out->rk, 50);
		if (commit_round(c, 0) && atomic_load(&c->out->failed)) {
			engine_stop(c->engine);
			break;
		}
		if (atomic_load(&c->k->fatal))
			engine_stop(c->engine);
	}
	return NULL;
}

int
serve_committer_start(struct serve_committer *c)
{
	if (!c->snap && !(c->snap = calloc(c->out->n_slots, sizeof *c->snap)))
		return WEFT_ENOMEM;
	atomic_store(&c->stop, 0);
	if (pthread_create(&c->th, NULL, committer_main, c))
		return WEFT_ENOMEM;
	c->started = 1;
	return 0;
}

void
serve_committer_stop(struct serve_committer *c)
{
	if (!c->started)
		return;
	atomic_store(&c->stop, 1);
	pthread_join(c->th, NULL);
	c->started = 0;
}

int
serve_committer_final(struct serve_committer *c)
{
	return commit_round(c, 1);
}

void
serve_committer_destroy(struct serve_committer *c)
{
	serve_committer_stop(c);
	free(c->snap);
	c->snap = NULL;
}

/* ---- metrics ---------------------------------------------------------------- */

static uint64_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

#define FAM(n, t, h) op_metrics_family(b, n, t, h)
#define VAL(n, v) op_metrics_sample(b, n, NULL, (double)(v))

/* The assembler's counters (operators/assemble). */
static int
render_assembler(const struct op_assemble_config *as, struct weft_buf *b)
{
	int rc = 0;
	rc |= FAM("weft_aged_traces_total", "counter",
	          "traces emitted incomplete at max.trace.age.ms (their own, then their amendments)");
	rc |= VAL("weft_aged_traces_total", atomic_load(&as->aged));
	rc |= FAM("weft_replayed_traces_total", "counter",
	          "traces read again below the committed offset and not emitted again");
	rc |= VAL("weft_replayed_traces_total", atomic_load(&as->replayed));
	rc |= FAM("weft_stale_events_total", "counter",
	          "events of revoked partitions dropped in flight (their new owner re-reads them)");
	rc |= VAL("weft_stale_events_total", atomic_load(&as->stale_events));
	rc |= FAM("weft_open_trace_bytes", "gauge",
	          "bytes held by open traces' events and records (at epoch closes)");
	rc |= VAL("weft_open_trace_bytes", atomic_load(&as->open_bytes));
	rc |= FAM("weft_open_trace_budget_bytes", "gauge", "max.open.bytes");
	rc |= VAL("weft_open_trace_budget_bytes", as->max_open_bytes);
	rc |= FAM("weft_budget_evictions_total", "counter",
	          "traces emitted incomplete because open traces reached max.open.bytes");
	rc |= VAL("weft_budget_evictions_total", atomic_load(&as->budget_evictions));
	rc |= FAM("weft_slabs_mapped_inline_total", "counter",
	          "2 MiB slabs for open traces a worker mapped itself because none of "
	          "ready.slabs was ready");
	rc |= VAL("weft_slabs_mapped_inline_total", atomic_load(&as->slabs_mapped_inline));
	rc |= FAM("weft_finish_helped_total", "counter",
	          "finished traces whose records a worker's finish helper built "
	          "(finish.helper)");
	rc |= VAL("weft_finish_helped_total", atomic_load(&as->finish_helped));
	rc |= FAM("weft_text_truncated_total", "counter",
	          "label, host or agent texts cut to max.text.bytes, or not kept past "
	          "max.texts");
	rc |= VAL("weft_text_truncated_total", atomic_load(&as->text_truncated));
	rc |= FAM("weft_place_overflow_total", "counter",
	          "events past max.places (label, host, agent triples per worker), "
	          "kept 24 bytes larger");
	rc |= VAL("weft_place_overflow_total", atomic_load(&as->place_overflow));
	return rc;
}

/* The learning loop (operators/check/learn.c). */
static int
learn_metrics(struct op_learn *l, struct weft_buf *b)
{
	struct op_learn_stats ls;
	op_learn_get_stats(l, &ls);
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} m[] = {
		{"weft_learn_retrains_total", "counter", "models retrained and written", ls.retrains},
		{"weft_learn_skipped_small_sample_total", "counter",
		 "periods not retrained: fewer traces than learn.min.sample", ls.skipped_small_sample},
		{"weft_learn_errors_total", "counter", "retrains that failed (the model stays)",
		 ls.errors},
		{"weft_learn_idle_ends_total", "counter",
		 "periods ended by learn.idle.ms without traffic", ls.idle_ends},
		{"weft_learn_offered_total", "counter", "checked traces handed to the learner",
		 ls.offered},
		{"weft_learn_buffer_full_total", "counter",
		 "traces dropped: the learner's buffer (learn.buffer) was full", ls.buffer_full},
		{"weft_learn_candidates_full_total", "counter",
		 "new structures not tracked: learn.candidates reached", ls.pick.table_full},
		{"weft_learn_promoted_total", "counter", "new structures promoted into training",
		 ls.promoted},
		{"weft_learn_templates_added_total", "counter", "templates added by retrains",
		 ls.templates_added},
		{"weft_learn_templates_removed_total", "counter", "templates removed by retrains",
		 ls.templates_removed},
		{"weft_learn_pieces_added_total", "counter", "pieces added by retrains",
		 ls.pieces_added},
		{"weft_learn_pieces_removed_total", "counter", "pieces removed by retrains",
		 ls.pieces_removed},
		{"weft_learn_last_sample", "gauge", "traces the last retrain learned from",
		 ls.last_sample},
		{"weft_learn_templates", "gauge", "templates of the last model learned", ls.templates},
		{"weft_learn_model_version", "gauge",
		 "version of the model last written (MODEL.vN numbering; swapped in at the next "
		 "epoch boundary, see weft_model_reloads_total); 0: none yet", ls.version},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		rc |= op_metrics_family(b, m[i].name, m[i].type, m[i].help);
		rc |= op_metrics_sample(b, m[i].name, NULL, (double)m[i].v);
	}
	return rc;
}

int
serve_metrics_render(void *arg, struct weft_buf *b)
{
	struct serve_metrics *st = arg;
	int rc = 0;
	rc |= FAM("weft_up", "gauge", "1 while the service runs");
	if (!atomic_load_explicit(&st->ready, memory_order_acquire)) {
		/* listening already, still starting: nothing else to read yet */
		rc |= VAL("weft_up", 0);
		return rc ? WEFT_ENOMEM : 0;
	}
	struct op_kafka_config *k = st->k;
	rc |= VAL("weft_up", 1);
	rc |= FAM("weft_messages_total", "counter", "Kafka messages consumed");
	rc |= VAL("weft_messages_total", atomic_load(&k->messages));
	rc |= FAM("weft_consumed_bytes_total", "counter", "bytes of message values consumed");
	rc |= VAL("weft_consumed_bytes_total", atomic_load(&k->bytes));
	rc |= FAM("weft_skipped_messages_total", "counter",
	          "messages not processed: partition revoked meanwhile, or stopping (re-read later)");
	rc |= VAL("weft_skipped_messages_total", atomic_load(&k->skipped));
	rc |= FAM("weft_reports_total", "counter", "X-Trace reports (lines or text reports) consumed");
	rc |= VAL("weft_reports_total", atomic_load(&k->units));
	rc |= FAM("weft_trace_events_total", "counter", "events in emitted traces");
	rc |= VAL("weft_trace_events_total", atomic_load(&st->sink->events));
	rc |= FAM("weft_traces_total", "counter", "finished traces emitted, by verdict");
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++) {
		struct weft_buf l = {0};
		weft_buf_printf(&l, "verdict=\"%s\"", op_verdict_name(v));
		rc |= op_metrics_sample(b, "weft_traces_total", l.p,
		                        (double)atomic_load(&st->sink->by_verdict[v]));
		free(l.p);
	}
	rc |= FAM("weft_open_traces", "gauge", "traces opened and not yet emitted (all workers)");
	rc |= VAL("weft_open_traces", op_ledger_pending(st->ledger));
	rc |= FAM("weft_epoch_frontier", "gauge", "epochs below this are closed at the source, per worker");
	for (unsigned w = 0; w < st->workers; w++) {
		char l[32];
		snprintf(l, sizeof l, "worker=\"%u\"", w);
		rc |= op_metrics_sample(b, "weft_epoch_frontier", l,
		                        (double)atomic_load(&k->frontiers[w]));
	}
	rc |= FAM("weft_commit_epoch", "gauge", "epochs below this are emitted, delivered and committable");
	rc |= VAL("weft_commit_epoch", atomic_load(&k->commit_epoch));
	rc |= FAM("weft_topic_format_hint", "gauge", "1: the topic's first format.hint.after "
	          "records were all rejected and its format hint was logged");
	for (unsigned i = 0; k->topic_stats && i < k->n_topics; i++) {
		struct weft_buf l = {0};
		weft_buf_printf(&l, "topic=\"%s\"", k->topics[i]);
		rc |= op_metrics_sample(b, "weft_topic_format_hint", l.p,
		                        atomic_load(&k->topic_stats[i].hinted) ? 1 : 0);
		free(l.p);
	}
	rc |= FAM("weft_dead_letters_total", "counter", "rejected reports (dead-lettered)");
	rc |= VAL("weft_dead_letters_total", op_deadletter_count(st->dl, OP_REJECT_NONE));
	rc |= FAM("weft_produced_total", "counter", "messages produced, by output");
	static const char *const names[SERVE_T__COUNT] = {"anomalies", "traces", "deadletters"};
	for (unsigned t = 0; t < SERVE_T__COUNT; t++) {
		char l[48];
		snprintf(l, sizeof l, "output=\"%s\"", names[t]);
		rc |= op_metrics_sample(b, "weft_produced_total", l,
		                        (double)atomic_load(&st->out->produced[t]));
	}
	rc |= FAM("weft_delivered_total", "counter", "produced messages acknowledged by the brokers");
	rc |= VAL("weft_delivered_total", atomic_load(&st->out->delivered));
	rc |= FAM("weft_delivery_failures_total", "counter", "produced messages that failed (service stops)");
	rc |= VAL("weft_delivery_failures_total", atomic_load(&st->out->delivery_failures));
	rc |= FAM("weft_commits_total", "counter", "offset commits");
	rc |= VAL("weft_commits_total", atomic_load(&k->commits));
	rc |= FAM("weft_commit_errors_total", "counter", "failed offset commits");
	rc |= VAL("weft_commit_errors_total", atomic_load(&k->commit_errors));
	rc |= FAM("weft_consumer_errors_total", "counter", "consumer errors reported by librdkafka");
	rc |= VAL("weft_consumer_errors_total", atomic_load(&k->errors));
	rc |= FAM("weft_rebalances_total", "counter", "rebalance callbacks (assign and revoke)");
	rc |= VAL("weft_rebalances_total", atomic_load(&k->rebalances));
	rc |= FAM("weft_fetch_kicks_total", "counter",
	          "watermark asks that woke a fetcher stopped at its queue threshold");
	rc |= VAL("weft_fetch_kicks_total", atomic_load(&k->fetch_kicks));
	rc |= FAM("weft_reread_traces_total", "counter",
	          "traces still open at shutdown, left uncommitted for the next run");
	rc |= VAL("weft_reread_traces_total", atomic_load(&st->sink->reread));
	rc |= FAM("weft_handed_over_traces_total", "counter",
	          "open traces of revoked partitions, left to their new owner");
	rc |= VAL("weft_handed_over_traces_total", atomic_load(&st->sink->handed_over));
	rc |= FAM("weft_broker_outage", "gauge", "1 while the brokers cannot be reached");
	rc |= VAL("weft_broker_outage", atomic_load(&k->outage));
	rc |= FAM("weft_broker_outages_total", "counter", "times the brokers became unreachable");
	rc |= VAL("weft_broker_outages_total", atomic_load(&k->outages));
	rc |= FAM("weft_process_stalls_total", "counter",
	          "times the process did not run for much longer than asked (a pause)");
	rc |= VAL("weft_process_stalls_total", atomic_load(&k->stalls));
	rc |= FAM("weft_not_idle_seconds_total", "counter",
	          "time no partition could be taken as idle: outages (plus settle.ms) and pauses");
	rc |= VAL("weft_not_idle_seconds_total", atomic_load(&k->stalled_ms_total) / 1000.0);
	rc |= FAM("weft_partition_slots_overflow_total", "counter",
	          "partitions that got no slot (max.partitions reached)");
	rc |= VAL("weft_partition_slots_overflow_total", atomic_load(&k->slots_overflow));
	if (st->as)
		rc |= render_assembler(st->as, b);
	if (st->check) {
		rc |= FAM("weft_model_reloads_total", "counter", "model swaps (refused ones apart)");
		rc |= VAL("weft_model_reloads_total", atomic_load(&st->check->reloads));
		rc |= FAM("weft_model_reload_errors_total", "counter", "model files refused");
		rc |= VAL("weft_model_reload_errors_total", atomic_load(&st->check->reload_errors));
		/* host anomalies (operators/check/op_peer.c); the first worker
		 * creates the store under the lock */
		pthread_mutex_lock(&st->check->lock);
		struct op_peer_store *peers = st->check->peers;
		pthread_mutex_unlock(&st->check->lock);
		if (peers)
			rc |= op_peer_metrics(peers, b);
	}
	if (st->http)
		rc |= op_otlp_http_render(st->http, b);
	rc |= st->learn ? learn_metrics(st->learn, b) : 0;
	rc |= FAM("weft_resident_memory_bytes", "gauge", "resident set size");
	rc |= VAL("weft_resident_memory_bytes", rss_bytes());
	pthread_mutex_lock(&k->lock);
	rc |= FAM("weft_assigned_partitions", "gauge", "partitions assigned to this process");
	rc |= VAL("weft_assigned_partitions", k->n_parts);
	rc |= FAM("weft_partition_lag", "gauge", "high watermark minus next offset to consume");
	for (size_t i = 0; i < k->n_parts; i++) {
		struct op_kafka_part_stat *p = &k->parts[i];
		if (p->high < 0)
			continue;
		struct weft_buf l = {0};
		weft_buf_printf(&l, "topic=\"");
		op_metrics_escape(&l, p->topic);
		weft_buf_printf(&l, "\",partition=\"%d\",worker=\"%u\"", p->partition, p->worker);
		/* at the end as of the last fetch: 0; nothing consumed yet since
		 * the assignment: unknown, no sample */
		if (p->eof || p->position >= 0)
			rc |= op_metrics_sample(b, "weft_partition_lag", l.p,
			                        p->eof || p->high < p->position ? 0.0
			                                                        : (double)(p->high - p->position));
		free(l.p);
	}
	rc |= FAM("weft_partition_committed_offset", "gauge", "last offset committed by this process");
	for (size_t i = 0; i < k->n_parts; i++) {
		struct op_kafka_part_stat *p = &k->parts[i];
		struct weft_buf l = {0};
		weft_buf_printf(&l, "topic=\"");
		op_metrics_escape(&l, p->topic);
		weft_buf_printf(&l, "\",partition=\"%d\",worker=\"%u\"", p->partition, p->worker);
		rc |= op_metrics_sample(b, "weft_partition_committed_offset", l.p, (double)p->committed);
		free(l.p);
	}
	pthread_mutex_unlock(&k->lock);
	rc |= serve_hists_render(st->sink, b) ? 1 : 0;
	if (st->console)
		rc |= op_console_metrics(st->console, b) ? 1 : 0;
	return rc ? WEFT_ENOMEM : 0;
}

/* ---- glue ------------------------------------------------------------------- */

int
serve_anomaly_write(void *arg, unsigned worker, uint64_t trace_id, const char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		len--;
	return serve_out_produce(arg, worker, SERVE_T_ANOMALIES, 1, trace_id, line, len);
}

int
serve_dead_write(void *arg, const char *line, size_t len)
{
	struct serve_dl_writer *d = arg;
	if (len && line[len - 1] == '\n')
		len--;
	return serve_out_produce(d->out, d->slot, SERVE_T_DEADLETTER, 0, 0, line, len);
}

struct serve_out *
serve_out_new(const char *brokers, const char *const *props, unsigned n_props,
              const char *const names[SERVE_T__COUNT], unsigned slots, char *err,
              size_t errlen)
{
	struct serve_out *o = calloc(1, sizeof *o);
	if (!o || !(o->slots = calloc(slots, sizeof *o->slots))) {
		free(o);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->n_slots = slots;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char e[200];
	const char *defaults[][2] = {
		{"bootstrap.servers", brokers},
		{"enable.idempotence", "true"},
		{"linger.ms", "5"},
		{"queue.buffering.max.messages", "1000000"},
		{"queue.buffering.max.kbytes", "1048576"},
		{"compression.type", "lz4"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (weft_kafka_set(conf, "producer", defaults[i][0], defaults[i][1], err, errlen))
			goto fail;
	for (unsigned i = 0; i < n_props; i++)
		if (weft_kafka_set_kv(conf, "producer", props[i], err, errlen))
			goto fail;
	rd_kafka_conf_set_opaque(conf, o);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_log_cb(conf, serve_rdkafka_log);
	if (!(o->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e))) {
		snprintf(err, errlen, "cannot create the producer: %s", e);
		goto fail;
	}
	conf = NULL;
	for (unsigned t = 0; t < SERVE_T__COUNT; t++) {
		if (!names[t])
			continue;
		o->topic_name[t] = names[t];
		if (!(o->topic[t] = rd_kafka_topic_new(o->rk, names[t], NULL))) {
			snprintf(err, errlen, "output topic '%s': %s", names[t],
			         rd_kafka_err2str(rd_kafka_last_error()));
			goto fail;
		}
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t me = rd_kafka_metadata(o->rk, 0, o->topic[t], &md, 10000);
		if (me || !md || md->topic_cnt != 1 || md->topics[0].err) {
			rd_kafka_resp_err_t te = me ? me : md && md->topic_cnt
			                                       ? md->topics[0].err
			                                       : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
			snprintf(err, errlen, "output topic '%s': %s%s", names[t], rd_kafka_err2str(te),
			         te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			                 te == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
			             ? " (create it first)"
			             : "");
			if (md)
				rd_kafka_metadata_destroy(md);
			goto fail;
		}
		rd_kafka_metadata_destroy(md);
	}
	return o;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	for (unsigned t = 0; t < SERVE_T__COUNT; t++)
		if (o->topic[t])
			rd_kafka_topic_destroy(o->topic[t]);
	if (o->rk)
		rd_kafka_destroy(o->rk);
	free(o->slots);
	free(o);
	return NULL;
}

void
serve_out_free(struct serve_out *o)
{
	if (!o)
		return;
	if (o->rk)
		rd_kafka_flush(o->rk, 10000);
	for (unsigned t = 0; t < SERVE_T__COUNT; t++)
		if (o->topic[t])
			rd_kafka_topic_destroy(o->topic[t]);
	if (o->rk)
		rd_kafka_destroy(o->rk);
	for (unsigned i = 0; i < o->n_slots; i++)
		free(o->slots[i].done);
	free(o->slots);
	free(o);
}

uint64_t
serve_out_delivered(const struct serve_out *o)
{
	return atomic_load(&o->delivered);
}

int
serve_out_failed(const struct serve_out *o)
{
	return atomic_load(&o->failed);
}

/* The assembler's on_open hook: a trace opened on worker w in epoch e
 * holds the ledger's low at e until it leaves the pipeline. */
void
serve_ledger_on_open(void *arg, unsigned w, uint32_t src, uint64_t e)
{
	op_ledger_open(arg, w, src, e);
}

void
serve_ledger_on_retag(void *arg, unsigned w, uint32_t from, uint32_t to, uint64_t e)
{
	op_ledger_retag(arg, w, from, to, e);
}

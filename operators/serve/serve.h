/*
 * serve.h — the serve room, private to `weft serve` (its command is
 * cmd/serve.c): the commit ledger, the Kafka source operator, the output
 * producer, the serve sink, the committer and the metrics (op_ledger.c,
 * op_kafka.c, op_serve.c).
 *
 * The commit rule. Kafka offsets may be committed, per partition, only below
 * the first event whose trace has not been emitted (and whose outputs have
 * not been delivered). Events carry the ingest epoch of their source, and a
 * trace instance opens in the epoch of its first event, so it is enough to
 * know the lowest epoch L such that every trace opened in an epoch below L
 * has left the pipeline: every event of an epoch below L then belongs to
 * such a trace (its trace opened no later than the event's epoch). Each
 * worker keeps a ledger of its pending traces counted by opening epoch:
 * the assemble operator counts a trace in when it opens it, the final sink
 * counts it out after writing its outputs, and the sink publishes, at each
 * epoch close e, low_w = min(lowest pending opening epoch, e + 1). Events of
 * epochs above the sink's frontier may still be in queues, which the second
 * term covers. L = min over workers of low_w. The committer thread then
 * waits until every output produced before it read L is delivered, and
 * publishes L; each source commits, per partition, the offset of its first
 * message of epoch >= L (or its position when there is none).
 */
#ifndef WEFT_SERVE_H
#define WEFT_SERVE_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/check/learn.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"

/* Structured log line on stderr: {"ts":..,"level":..,"msg":..} (op_serve.c). */
void serve_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* librdkafka log callback routing its lines through serve_log. */
void serve_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* ---- ledger (op_ledger.c) ---------------------------------------------- */
/*
 * Pending traces per worker, by the epoch they opened in and by the source
 * slot (Kafka partition) of their events: a partition's commit epoch is
 * the lowest first epoch among pending traces with events in it (or in
 * several partitions), and never above what every worker has closed.
 * Tags are op_event.src values (OP_SRC; 0 or OP_TRACE_SRC_MANY: every
 * slot); the generation bits are ignored.
 */
struct op_ledger;

/* A ledger for `workers` workers and n_slots source slots, every low
 * starting at first_epoch. NULL on allocation failure. */
struct op_ledger *op_ledger_new(unsigned workers, uint32_t n_slots,
                                uint64_t first_epoch);
void op_ledger_free(struct op_ledger *l);
/* Worker w's thread only. A trace with tag src opened in `epoch`. */
void op_ledger_open(struct op_ledger *l, unsigned w, uint32_t src, uint64_t epoch);
/* Worker w's thread only. The trace (tag src, opened in `epoch`) left the
 * pipeline. */
void op_ledger_close(struct op_ledger *l, unsigned w, uint32_t src, uint64_t epoch);
/* Worker w's thread only. The trace opened in `epoch` is now tagged `to`. */
void op_ledger_retag(struct op_ledger *l, unsigned w, uint32_t from, uint32_t to,
                     uint64_t epoch);
/* Worker w's thread only: every trace emitted in epochs below
 * closed_below has been handled; publishes the lows (release). */
void op_ledger_publish(struct op_ledger *l, unsigned w, uint64_t closed_below);
/* Any thread: min over workers of the published lows (acquire). */
uint64_t op_ledger_low(const struct op_ledger *l);
/* Any thread: the commit epoch of source slot `slot` (0-based): min over
 * workers of their closed epoch and the lowest pending epoch of the slot
 * and of traces from several slots. */
uint64_t op_ledger_low_slot(const struct op_ledger *l, uint32_t slot);
/* Any thread: traces pending in all workers (approximate while running). */
uint64_t op_ledger_pending(const struct op_ledger *l);
/* Opens below a worker's published floor (a broken invariant; 0 expected). */
uint64_t op_ledger_anomalies(const struct op_ledger *l);

/* ---- outputs (op_serve.c) ---------------------------------------------- */
/*
 * One idempotent producer shared by every worker for the anomalies, traces
 * and dead-letter topics. Each writer slot (one per worker, one more for
 * dead letters, taken under the dead-letter lock) numbers its messages; only
 * the committer thread polls the producer, so delivery reports are counted
 * on that thread, which knows, per slot, the lowest number not yet
 * delivered.
 */
enum serve_topic { SERVE_T_ANOMALIES = 0, SERVE_T_TRACES, SERVE_T_DEADLETTER, SERVE_T__COUNT };

struct serve_out;
/* Produces value under key (16 hex digits of the trace id; no key when
 * key_id is 0 and has_key is 0) to topic t from slot. 0, or WEFT_EKAFKA
 * (topic not configured: nothing to do returns 0). Never drops: waits
 * while the producer queue is full. */
int serve_out_produce(struct serve_out *o, unsigned slot, enum serve_topic t,
                      int has_key, uint64_t key_id, const char *value, size_t len);
/* The producer, with our defaults and then props ("key=value", in order),
 * for the output topics names[t] (NULL: that output is off), with `slots`
 * writer slots. Checks that every output topic exists: a metadata request,
 * so it needs the brokers (up to 10 s per topic). NULL with a message in
 * err. The names must outlive it. */
struct serve_out *serve_out_new(const char *brokers, const char *const *props,
                                unsigned n_props,
                                const char *const names[SERVE_T__COUNT],
                                unsigned slots, char *err, size_t errlen);
/* Waits up to 10 s for what is still queued, then frees (NULL: nothing). */
void serve_out_free(struct serve_out *o);
uint64_t serve_out_delivered(const struct serve_out *o);
/* A delivery or produce failed: the service stops without committing. */
int serve_out_failed(const struct serve_out *o);

/* The check operator's anomaly writer (op_check_config.anomaly_write;
 * arg: the serve_out): each line to the anomalies topic, keyed. */
int serve_anomaly_write(void *arg, unsigned worker, uint64_t trace_id,
                        const char *line, size_t len);
/* The dead-letter sink's writer (op_deadletter_set_writer; arg: a
 * serve_dl_writer): dead letters have their own writer slot, used under
 * the dead-letter lock. */
struct serve_dl_writer {
	struct serve_out *out;
	unsigned slot;
};
int serve_dead_write(void *arg, const char *line, size_t len);

/* ---- the serve sink (op_serve.c) --------------------------------------- */
/* The last operator: produces each finished trace to the traces topic
 * (when there is one), counts it out of the ledger and publishes the
 * ledger's lows at each epoch close. Traces still open at shutdown
 * (flushed) are counted as re-read and left uncommitted. */
struct serve_sink_config {
	struct serve_out *out;
	struct op_ledger *ledger;
	int full;
	_Atomic uint64_t by_verdict[OP_VERDICT__COUNT];
	_Atomic uint64_t traces, events, reread, write_errors;
	_Atomic uint64_t handed_over; /* traces of revoked partitions (re-read
	                               * by their new owner; not produced) */
	/* Prometheus histograms (serve_hist.c): a trace's last event -> its
	 * verdict, and trace duration by verdict */
	struct op_prom_hist verdict_latency, duration[OP_VERDICT__COUNT];
	struct op_prom_hist epoch_close; /* fed by the assembler's hook */
};
/* Sets the histograms' buckets (before the engine runs). */
void serve_hists_init(struct serve_sink_config *c);
/* One produced trace into them (on the worker's thread). */
void serve_hists_observe(struct serve_sink_config *c, const struct op_trace *t);
/* Their families and samples, then the process_* series. */
int serve_hists_render(struct serve_sink_config *c, struct weft_buf *b);
extern const struct engine_op_vtable serve_sink_vtable; /* arg: serve_sink_config */
/* The assembler's hooks (op_assemble_config.on_open / on_retag; arg: the
 * ledger): a trace opened on worker w in epoch e holds the ledger's low at
 * e until it leaves the pipeline. */
void serve_ledger_on_open(void *arg, unsigned w, uint32_t src, uint64_t e);
void serve_ledger_on_retag(void *arg, unsigned w, uint32_t from, uint32_t to,
                           uint64_t e);

/* ---- the committer (op_serve.c) ---------------------------------------- */
/* A thread that polls the producer and, every interval_ms, publishes the
 * commit epoch once everything produced before it read the ledger is
 * delivered; on a delivery failure, or a consumer's fatal error, it stops
 * the engine. The caller sets the first five fields. */
struct serve_committer {
	struct serve_out *out;
	struct op_ledger *ledger;
	struct op_kafka_config *k;
	struct engine *engine;
	uint32_t interval_ms;
	uint32_t final_timeout_ms;  /* the last round waits this long (10000) */
	/* private */
	pthread_t th;
	int started;
	_Atomic int stop;
	uint64_t *snap;
};
/* 0 or WEFT_ENOMEM (thread or memory). */
int serve_committer_start(struct serve_committer *c);
/* Stops and joins the thread (nothing when it is not running). */
void serve_committer_stop(struct serve_committer *c);
/* The last round, after the engine ran: waits (up to 60 s) until every
 * output is delivered and publishes the commit epoch. 0, or -1 when an
 * output failed or did not arrive in time. */
int serve_committer_final(struct serve_committer *c);
/* Stops it and frees what it holds. */
void serve_committer_destroy(struct serve_committer *c);

/* ---- metrics (op_serve.c) ---------------------------------------------- */
/* The /metrics exposition (op_metrics_render_fn; arg: serve_metrics). The
 * endpoint may listen before the service runs: until `ready` is set
 * (release, once every pointer is), it reports weft_up 0 and nothing
 * else. */
struct serve_metrics {
	struct op_kafka_config *k;
	struct serve_sink_config *sink;
	struct serve_out *out;
	struct op_ledger *ledger;
	struct op_check_config *check; /* NULL without a model */
	struct op_learn *learn;        /* NULL without learning */
	struct op_deadletter *dl;
	struct op_assemble_config *as;
	struct op_otlp_http_config *http; /* NULL: no OTLP/HTTP receiver */
	struct op_console *console; /* NULL: no console (its series follow) */
	unsigned workers;
	_Atomic int ready;
};
int serve_metrics_render(void *arg, struct weft_buf *b);

/* ---- Kafka source (op_kafka.c) ----------------------------------------- */
/*
 * One consumer per worker, all in one consumer group (so W workers in each
 * of N processes are N x W group members: give the topics at least that
 * many partitions). Each decodes the lines (JSON: a message may hold
 * several) or text reports of its messages in line and emits the events,
 * each tagged with its partition's source slot (op_event.src).
 *
 * Slots: every partition this process is assigned gets a slot for the
 * process's life (at most max_slots; past that a partition's events get
 * no slot and hold every partition's commit back, counted in
 * slots_overflow). A slot's generation is bumped when its partition is
 * revoked, which hands its traces over (see assemble.h).
 *
 * Epochs: the message timestamp (CreateTime or LogAppendTime; receive time
 * when absent) minus t0, the timestamp of the first message any worker saw,
 * divided by epoch_ms, clamped to at most one epoch ahead of the wall clock
 * (a skewed producer clock cannot run the frontier ahead) and to at least
 * the partition's previous epoch and the worker's frontier (so epochs never
 * go down within a partition). A worker's frontier is the minimum over its
 * partitions of their epochs.
 *
 * Idle time counts only on evidence. A partition with nothing more to read
 * moves on with the ingest clock (running on in real time from the
 * newest epoch any worker gave out, minus idle_partition_ms) only up to
 * the last moment it was confirmed at its end: a partition-EOF from a
 * fetch (stamped with the last poll that drained the queue before it, so
 * an EOF that waited out a pause in the queue vouches for nothing after
 * that poll), or the prober thread's high-watermark query (stamped when
 * it was sent) answered while the consumer's position had reached it.
 * A pause of the process therefore leaves no evidence for its duration,
 * and the partitions whose producers wrote meanwhile are behind their
 * high watermark until the backlog is read. While the brokers cannot be
 * reached there is no evidence either; when they answer again, no
 * evidence is taken for settle_ms more (producers reconnect with back-off
 * and deliver what they kept meanwhile), so time in the outage counts as
 * idle only for traces that got no event from it. Outages are logged
 * once when they start and once when they end.
 *
 * On engine_stop the source goes on consuming, with the same rule, for
 * drain_epochs more epochs and then finishes; traces still open are
 * flushed, which the serve sink leaves uncommitted for the next owner to
 * re-read whole.
 */
#define OP_KAFKA_MAX_SLOTS_DEFAULT 4096u

struct op_kafka_slot {
	char *topic;                  /* set once when registered, then read-only */
	int32_t partition;
	_Atomic int owned;            /* a worker of this process has it now */
	_Atomic uint64_t commit_epoch; /* published by the committer */
	_Atomic int64_t probe_hi;     /* the prober's high watermark ... */
	_Atomic int64_t probe_at;     /* ... asked at this wall time (0: none) */
};

struct op_kafka_config {
	const char *brokers;
	const char *group;
	const char **topics;
	unsigned n_topics;
	const char *const *props;   /* "key=value" for the consumer, in order */
	unsigned n_props;
	enum op_format format;
	/* per topics[i]: 0 (format above) or OP_FORMAT_* + 1; NULL: none */
	const unsigned *topic_format;
	uint32_t epoch_ms;          /* default 100 */
	uint32_t idle_partition_ms; /* default 1000 */
	uint32_t drain_epochs;      /* after stop (default: idle_epochs + 2) */
	uint32_t max_unit_bytes;
	uint32_t batch;             /* messages per poll (default 1024) */
	/* a poll that finds the queue empty right after one that took
	 * messages waits this long for a batch (default 1; 0: never) */
	uint32_t stream_wait_ms;
	uint32_t probe_ms;          /* prober period (default 500) */
	uint32_t settle_ms;         /* idle time not counted after an outage (10000) */
	uint32_t max_slots;         /* partitions per process life (4096) */
	uint32_t lookback_ms;       /* re-read this far below a commit (60000) */
	/* records of a topic, none accepted, before its format hint is logged
	 * (1000; 0: never) */
	uint32_t hint_after;
	/* per topics[i], for the hint (caller allocates; NULL: no hint) */
	struct op_kafka_topic_stat *topic_stats;
	/* Non-NULL: each consumer decodes its units itself and emits op_event
	 * records (op_inline_decoder) instead of unit records. */
	struct op_decode_op_config *decode;
	struct op_ledger *ledger;
	_Atomic uint64_t commit_epoch; /* min over slots (metrics) */
	_Atomic int64_t t0_ms;         /* 0 until the first message */
	_Atomic uint64_t seen_epoch;   /* newest epoch any worker gave out */
	_Atomic int64_t seen_ms;       /* wall time it was seen (0: never) */
	_Atomic int64_t evidence_floor; /* no evidence before this wall time is
	                                 * taken (an outage's settle time) */
	_Atomic int outage;            /* the brokers cannot be reached now */
	_Atomic int fatal;             /* a consumer hit a fatal error */
	/* source slots: slots[i] and its generation gens[i] (the array the
	 * assembler reads); n_slots registered, under lock */
	struct op_kafka_slot *slots;
	_Atomic uint32_t *gens;
	_Atomic uint32_t n_slots;
	_Atomic uint64_t revocations;
	uint64_t *low_scratch;          /* the committer's per-slot lows */
	/* live counters (metrics) */
	_Atomic uint64_t messages, bytes, units, errors, commits, commit_errors;
	_Atomic uint64_t skipped; /* messages of revoked partitions */
	_Atomic uint64_t rebalances, slots_overflow, outages, stalls;
	_Atomic uint64_t stalled_ms_total; /* outages and settle time, pauses */
	_Atomic uint64_t fetch_kicks;  /* op_kafka_fetch_kick requests sent */
	_Atomic uint64_t *frontiers;   /* per worker (caller allocates; may be NULL) */
	void **insts;                  /* per worker, set by the source's init
	                                * (caller allocates; may be NULL) */
	/* prober thread (started by worker 0's source, stopped in its destroy) */
	pthread_t prober;
	void *prober_arg;
	int prober_on;
	_Atomic int prober_stop;
	/* per-partition state for metrics, under lock */
	pthread_mutex_t lock;
	struct op_kafka_part_stat *parts;
	size_t n_parts, cap_parts;
};

/* A topic's records until one of them is accepted (an event decoded):
 * when hint_after of them came and none was, its format hint is logged
 * once (op_format_hint) and hinted is set (/metrics). */
struct op_kafka_topic_stat {
	_Atomic uint64_t units;     /* counted while none was accepted */
	_Atomic uint64_t looks_like[OP_FORMAT__COUNT + 1]; /* op_decode_stats' */
	_Atomic int accepted;       /* an event of it was decoded */
	_Atomic int hinted;         /* its hint was logged */
};

struct op_kafka_part_stat {
	char topic[128];
	int32_t partition;
	unsigned worker;
	int64_t position, high, committed;
	uint64_t epoch;
	int eof;
};

/* Defaults and the lock. Pair with destroy. 0 or WEFT_ENOMEM. */
int op_kafka_config_init(struct op_kafka_config *cfg);
/* The slot table, sized by max_slots (once it is final; before the
 * engine starts, so the assembler can be given cfg->gens). 0 or
 * WEFT_ENOMEM. */
int op_kafka_slots_alloc(struct op_kafka_config *cfg);
void op_kafka_config_destroy(struct op_kafka_config *cfg);
/* Builds a consumer configuration (for checks before the engine starts):
 * 0 or WEFT_EINVAL with a message naming the property. */
int op_kafka_conf_check(const struct op_kafka_config *cfg, char *errstr, size_t errlen);
extern const struct engine_op_vtable op_kafka_vtable; /* arg: op_kafka_config */
/* A consumer configuration: our defaults (group, fetch sizes, no auto
 * commit), then cfg->props; w is the worker (its client id), UINT32_MAX
 * the prober. The caller owns it (rd_kafka_new takes it, or
 * rd_kafka_conf_destroy). NULL with a message. Also what
 * `weft bench kafka` consumes with, so its bound is the same client. */
rd_kafka_conf_t *op_kafka_client_conf(const struct op_kafka_config *cfg,
                                      unsigned w, char *errstr, size_t errlen);
/* Where newly assigned partitions start, asked of the group coordinator
 * once (rd_kafka_committed): each partition of parts gets its committed
 * offset or, without one, the earliest or latest offset (as its
 * auto.offset.reset says) as a number from its leader, so librdkafka
 * neither asks again nor takes the 100 ms back-off of its own reset.
 * Returns the coordinator's answer (parts' order, with each commit's
 * metadata; the caller destroys it), or NULL with *err when that ask
 * failed and parts is left as it was. Also what `weft bench kafka`
 * starts with. */
rd_kafka_topic_partition_list_t *
op_kafka_start_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                       rd_kafka_resp_err_t *err);
/* The committer's round, in two steps around its wait for the outputs:
 * read_lows takes every slot's commit epoch from the ledger (before the
 * outputs produced so far are waited for), publish_lows makes them the
 * slots' commit epochs (never lower than before). Committer thread only. */
void op_kafka_read_lows(struct op_kafka_config *cfg, const struct op_ledger *l);
void op_kafka_publish_lows(struct op_kafka_config *cfg, uint64_t global_low);
/* After engine_run() returned and the committer's final round published
 * the commit epochs: every worker's consumer commits (synchronously),
 * before any consumer leaves the group (a member leaving starts a
 * rebalance, during which the coordinator refuses the others' commits).
 * Needs cfg->insts. */
void op_kafka_final_commit(struct op_kafka_config *cfg, unsigned workers);
/* A dead-letter namer (op_deadletter_set_namer) for tags of this source:
 * "topic":"t","partition":N. arg: the op_kafka_config. */
int op_kafka_src_name(void *arg, uint32_t src, char *buf, size_t cap);

#endif

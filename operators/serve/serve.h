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
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"

/* Structured log line on stderr: {"ts":..,"level":..,"msg":..} (op_serve.c). */
void serve_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* librdkafka log callback routing its lines through serve_log. */
void serve_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* ---- ledger (op_ledger.c) ---------------------------------------------- */
struct op_ledger;

/* A ledger for `workers` workers, every low starting at first_epoch.
 * NULL on allocation failure. */
struct op_ledger *op_ledger_new(unsigned workers, uint64_t first_epoch);
void op_ledger_free(struct op_ledger *l);
/* Worker w's thread only. A trace opened in epoch `epoch`: counted in. */
void op_ledger_open(struct op_ledger *l, unsigned w, uint64_t epoch);
/* Worker w's thread only. The trace opened in `epoch` left the pipeline. */
void op_ledger_close(struct op_ledger *l, unsigned w, uint64_t epoch);
/* Worker w's thread only: every trace emitted in epochs below
 * closed_below has been handled; publishes low_w (release). */
void op_ledger_publish(struct op_ledger *l, unsigned w, uint64_t closed_below);
/* Any thread: min over workers of the published lows (acquire). */
uint64_t op_ledger_low(const struct op_ledger *l);
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
};
extern const struct engine_op_vtable serve_sink_vtable; /* arg: serve_sink_config */
/* The assembler's hooks (op_assemble_config.on_open / on_retag; arg: the
 * ledger): a trace opened on worker w in epoch e holds the ledger's low at
 * e until it leaves the pipeline. */
void serve_ledger_on_open(void *arg, unsigned w, uint64_t e);

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
	struct op_deadletter *dl;
	unsigned workers;
	_Atomic int ready;
};
int serve_metrics_render(void *arg, struct weft_buf *b);

/* ---- Kafka source (op_kafka.c) ----------------------------------------- */
/*
 * One consumer per worker, all in one consumer group (so W workers in each
 * of N processes are N x W group members: give the topics at least that
 * many partitions). Each emits op_unit_rec records (offset = the Kafka
 * offset, line = 0) followed by the bytes of one line (JSON: a message may
 * hold several lines) or one text report (a message is a report).
 *
 * Epochs: the message timestamp (CreateTime or LogAppendTime; receive time
 * when absent) minus t0, the timestamp of the first message any worker saw,
 * divided by epoch_ms, clamped to at most one epoch ahead of the wall clock
 * (a skewed producer clock cannot run the frontier ahead) and to at least
 * the partition's previous epoch and the worker's frontier (so epochs never
 * go down within a partition). A worker's frontier is the minimum over its
 * assigned partitions of their epochs; a partition at its end (partition
 * EOF) counts instead as at the ingest clock running on in real time from
 * the newest epoch any worker gave out, minus idle_partition_ms, so one
 * quiet partition does not stall the frontier (and an old backlog does not
 * make it jump to today); with no partition at all the worker follows the
 * same clock.
 *
 * On engine_stop the source stops consuming and follows the wall clock for
 * drain_epochs more epochs before it finishes, so traces idle by then are
 * emitted; the rest are left uncommitted for the next run to re-read.
 */
struct op_kafka_config {
	const char *brokers;
	const char *group;
	const char **topics;
	unsigned n_topics;
	const char *const *props;   /* "key=value" for the consumer, in order */
	unsigned n_props;
	enum op_format format;
	uint32_t epoch_ms;          /* default 100 */
	uint32_t idle_partition_ms; /* default 1000 */
	uint32_t drain_epochs;      /* after stop (default: idle_epochs + 2) */
	uint32_t max_unit_bytes;
	uint32_t batch;             /* messages per poll (default 1024) */
	/* Non-NULL: each consumer decodes its units itself and emits op_event
	 * records (op_inline_decoder) instead of unit records. */
	struct op_decode_op_config *decode;
	struct op_ledger *ledger;
	_Atomic uint64_t commit_epoch; /* published by the committer */
	_Atomic int64_t t0_ms;         /* 0 until the first message */
	_Atomic uint64_t seen_epoch;   /* newest epoch any worker gave out */
	_Atomic int64_t seen_ms;       /* wall time it was seen */
	_Atomic int fatal;             /* a consumer hit a fatal error */
	/* live counters (metrics) */
	_Atomic uint64_t messages, bytes, units, errors, commits, commit_errors;
	_Atomic uint64_t skipped; /* messages of revoked partitions, or while draining */
	_Atomic uint64_t rebalances;
	_Atomic uint64_t *frontiers;   /* per worker (caller allocates; may be NULL) */
	void **insts;                  /* per worker, set by the source's init
	                                * (caller allocates; may be NULL) */
	/* per-partition state for metrics, under lock */
	pthread_mutex_t lock;
	struct op_kafka_part_stat *parts;
	size_t n_parts, cap_parts;
};

struct op_kafka_part_stat {
	char topic[128];
	int32_t partition;
	unsigned worker;
	int64_t position, high, committed;
	uint64_t epoch;
	int eof;
};

int op_kafka_config_init(struct op_kafka_config *cfg);
void op_kafka_config_destroy(struct op_kafka_config *cfg);
/* Builds a consumer configuration (for checks before the engine starts):
 * 0 or WEFT_EINVAL with a message naming the property. */
int op_kafka_conf_check(const struct op_kafka_config *cfg, char *errstr, size_t errlen);
extern const struct engine_op_vtable op_kafka_vtable; /* arg: op_kafka_config */
/* After engine_run() returned and the committer's final round published
 * the commit epoch: every worker's consumer commits (synchronously) at it,
 * before any consumer leaves the group (a member leaving starts a
 * rebalance, during which the coordinator refuses the others' commits).
 * Needs cfg->insts. */
void op_kafka_final_commit(struct op_kafka_config *cfg, unsigned workers);

#endif

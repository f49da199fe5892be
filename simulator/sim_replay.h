/* sim_replay.h — private: replay schedule and output sinks. */
#ifndef WEFT_SIM_REPLAY_H
#define WEFT_SIM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* Tunables of `weft sim replay`; defaults from sim_replay_defaults(). */
struct sim_replay_cfg {
	double rate;          /* events/s; 0: not rate-paced */
	double speedup;       /* x recorded timing; 0: not time-paced */
	double jitter_ms;     /* extra uniform [0, J] ms per event slot */
	size_t reorder_window; /* N <= 1: keep order; else |out - in| < N */
	double dup_rate;      /* P(an event is sent twice, back to back) */
	double late_rate;     /* P(an event is held back late_delay events) */
	size_t late_delay;
	uint64_t seed;
};
void sim_replay_defaults(struct sim_replay_cfg *c);

struct sim_replay_stats {
	size_t in, out, reordered, duplicates, late;
};

/*
 * The emission order, computed before any pacing: out[k] is the input
 * index sent k-th. out must hold 2 * n entries (every event may be
 * duplicated); *nout receives the count. Deterministic for cfg->seed.
 * Stages, in order: reorder within the window, hold back late events,
 * duplicate. Returns 0 or WEFT_ENOMEM.
 */
int sim_replay_schedule(const struct sim_replay_cfg *cfg, size_t n,
    uint32_t *out, size_t *nout, struct sim_replay_stats *st);

/*
 * The pacing clock: slot[i] is when the i-th line sent goes out, in
 * seconds from the start: i / rate (--rate), or line i's recorded
 * Timestamp less line 0's, divided by the speed-up (--speedup; read by
 * the ingest decoder; a line without one, or one it rejects, counts as
 * line 0's), plus uniform jitter; then a running maximum, so that slots
 * never go back. Line i is text[off[i] .. off[i + 1]), '\n' included.
 * Deterministic for cfg->seed. Returns 0 or WEFT_ENOMEM.
 */
int sim_replay_slots(const struct sim_replay_cfg *cfg, const char *text,
    const size_t *off, size_t n, double *slot);

/*
 * Output side: one line (with its '\n') per call; task is the trace id, for
 * sinks that partition by trace (Kafka). A sink owns whatever it opened and
 * releases it in close(), which also frees the sink.
 */
struct sim_sink {
	int (*write)(struct sim_sink *s, const char *line, size_t len,
	    uint64_t task);
	int (*flush)(struct sim_sink *s);
	int (*close)(struct sim_sink *s);
};
/* path "-" or NULL: stdout. Returns NULL on failure (errno set). */
struct sim_sink *sim_sink_file_open(const char *path);

/*
 * Kafka sink (sim_sink_kafka.c): one message per line, the line without its
 * '\n' as value. key_trace: the key is the task id as 16 lowercase hex
 * digits, so the default partitioner puts a whole trace in one partition;
 * else no key. The producer is idempotent, lingers a few ms and batches;
 * props ("key=value" librdkafka properties, applied last) may override any
 * of that. write() never drops: a full local queue is polled until it has
 * room. close() waits up to 60 s for every delivery report, fills *stats
 * (when set) and fails with WEFT_EKAFKA when any message was not delivered.
 */
struct sim_kafka_stats {
	uint64_t delivered, failed;
};
struct sim_kafka_cfg {
	const char *brokers;      /* bootstrap.servers */
	const char *topic;
	const char *const *props; /* nprops "key=value" */
	size_t nprops;
	int key_trace;
	struct sim_kafka_stats *stats; /* filled by close(); may be NULL */
	/* lines per message, joined by '\n' (0 or 1: one each); with
	 * key_trace each message holds lines of one partition (the one their
	 * keys pick) and goes there without a key */
	unsigned reports_per_message;
};
/* Returns 0, WEFT_EINVAL (a bad property: errstr names it), WEFT_ENOMEM or
 * WEFT_EKAFKA (errstr says why). */
int sim_sink_kafka_open(const struct sim_kafka_cfg *cfg, struct sim_sink **out,
    char *errstr, size_t errlen);

#endif

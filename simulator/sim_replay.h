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

#endif

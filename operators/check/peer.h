/*
 * peer.h — latency judged against peers at the same time (op_peer.c):
 * per operation label, each host's recent durations against the other
 * hosts doing the same operation now. Private to operators/ (the check
 * operator, the service's /metrics).
 *
 * Why: a fixed past p99 per label compares a trace with a past that had a
 * different load, so a busy cluster looks slow. A slowed host is slow
 * against its peers now; load slows all of them together and moves the
 * reference with it.
 *
 * What is kept: per (label, host) a ring of the last `window` durations
 * (each an event's end - start on its own host: no cross-host clock
 * difference is ever taken) and the epoch of the last one. At each epoch
 * close (once per epoch, whichever worker closes it first) and every
 * refresh_traces traces (epochs of a file can be long), a refresh:
 *   - med(L, H): the median of the ring, when it holds >= min_samples;
 *   - ref(L, H): the median of med(L, P) over the other hosts P doing L
 *     (peers, with their own samples in the last idle_epochs epochs);
 *   - a host anomaly opens when med >= ratio x ref, med - ref >=
 *     floor_ns and the host's lower quartile >= close_ratio x ref (the
 *     host is shifted as a whole: a mix of request sizes on a few hosts
 *     moves their medians but not their lower quartiles), with >=
 *     min_peers peers; it stays open while med >= close_ratio x ref and
 *     the lower quartile >= ref, and closes below that or when the host
 *     goes idle.
 * A trace is `slow` when one of its events ran on a host with an open
 * anomaly for that event's label and took >= ratio x ref itself: the
 * verdict names that host, the label and the peers' figure. One event
 * far out in the tail on a healthy host is not a slow trace (HDFS traces
 * of hundreds of events always have one; measured: 15-65 % of normal
 * traces have an event 4x its peers' median).
 * A trace is also `slow` on its own, with no host anomaly open, when its
 * work on one host was slowed throughout: >= trace_min_events of its
 * events of one label on one host, and most of those, took >=
 * trace_ratio x ref (a request stuck behind a pause or a slow disk on
 * one host, which a host median over many requests does not show).
 *
 * Labels without enough peers (one NameNode) are judged against the
 * learned profile scaled by the current load (load_fallback): the load
 * factor is the median over labels with peers of their peers' median now
 * against their learned median, at least 1; a host whose median is >=
 * ratio x (learned median x load factor) is anomalous as above. Only a
 * label that no other host does at all falls back: one whose peers have
 * too few samples yet waits for them.
 *
 * Threads: one store per check config, shared by the workers, with a
 * lane per worker (op_peer.c has the layout and the lock order). A worker
 * judges and feeds a trace under its own lane's lock only; the store's
 * lock is taken by the refresh (every refresh_traces traces, by whichever
 * worker gets there, and at each epoch close), which adds the lanes'
 * durations to the windows, and when a trace brings a new (label, host).
 * With one worker the windows see every duration in the order fed, as one
 * shared store would. With W > 1 workers, which traces a worker has added
 * when it judges one depends on thread timing (and within a refresh
 * interval the durations go in lane by lane), so single slow verdicts near
 * an anomaly's start or end may differ between runs; with one worker they
 * do not.
 */
#ifndef WEFT_OP_PEER_H
#define WEFT_OP_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/model.h"
#include "common/common.h"
#include "operators/assemble/trace.h"

struct op_peer_config {
	int enabled;            /* judge latency against peers (1); 0: the
	                         * learned thresholds per template (cluster_check) */
	uint32_t window;        /* durations kept per (label, host) (32) */
	uint32_t min_samples;   /* a host's median needs this many (8) */
	uint32_t min_peers;     /* other hosts doing the label (3) */
	double ratio;           /* anomalous at host median >= ratio x peers' (3) */
	double close_ratio;     /* closes below close_ratio x peers' (2) */
	uint64_t floor_ns;      /* and never below a difference of this (10 ms) */
	uint64_t idle_epochs;   /* a host without samples this long is no peer (600) */
	uint64_t update_epochs; /* an open anomaly is re-reported this often (100) */
	uint64_t update_traces; /* ... or after this many traces (1000) */
	uint32_t refresh_traces;/* medians refreshed every this many traces (8)
	                         * and at every epoch close */
	uint32_t max_cells;     /* (label, host) pairs tracked (65536), counted */
	uint32_t max_stride;    /* at high rates every stride-th trace feeds the
	                         * windows, stride <= this (16; 1: every trace) */
	int load_fallback;      /* no peers: learned median x load factor (1) */
	double trace_ratio;     /* a trace is slow on its own when >= trace_min_events
	                         * of its events of one label on one host, and most
	                         * of them, took >= trace_ratio x the peers' (8; 0: off) */
	uint32_t trace_min_events; /* (2) */
};
void op_peer_config_default(struct op_peer_config *c);

/* What made a trace slow. */
struct op_peer_hit {
	int32_t node;            /* event index in the trace, -1: none */
	uint64_t value_ns;       /* its duration */
	uint64_t host_median_ns; /* the host's median for the label */
	uint64_t peers_median_ns;/* the reference (peers, or load-scaled learned) */
	uint32_t n_peers;        /* 0: the load-aware fallback */
	uint32_t samples;        /* durations behind host_median_ns (at the
	                          * last refresh) */
};

struct op_peer_stats {
	uint64_t cells, cells_dropped, opened, closed, open_now, slow_traces, refreshes;
	uint64_t skipped_traces; /* judged but not fed (stride > 1) */
	uint64_t slow_whole;     /* of slow_traces: slowed on one host as a whole,
	                          * with no host anomaly open (trace_ratio) */
	uint32_t stride;
	double load_factor;      /* 0: not known */
};

struct op_peer_store;
/* NULL on allocation failure; pair with op_peer_store_free. */
/* workers: the threads that will call op_peer_observe (worker 0..n-1),
 * each with a lane of its own (peer.h's "Threads"). */
struct op_peer_store *op_peer_store_new(const struct op_peer_config *c, unsigned workers);
void op_peer_store_free(struct op_peer_store *s);

/* On worker's lane (0..workers-1: one thread's at a time): judges t (its
 * anomalous-host events) and then adds its durations;
 * every refresh_traces traces refreshes as op_peer_epoch does (records
 * into out). Returns 1 with *hit filled when t is slow, 0 when not,
 * WEFT_ENOMEM. */
int op_peer_observe(struct op_peer_store *s, unsigned worker, const struct op_trace *t,
                    uint64_t epoch, const struct cluster_model *m, struct op_peer_hit *hit,
                    struct weft_buf *out);

/* Called at every epoch close by every worker; the first call for an epoch
 * refreshes the medians and the anomalies (m: learned medians for the
 * fallback, may be NULL). Host anomaly records that opened, were updated
 * or closed are appended to out as JSON lines ({"type":"host_anomaly",
 * "schema_version":1, "state":"open"|"update"|"close", ...}). 0 or
 * WEFT_ENOMEM. */
int op_peer_epoch(struct op_peer_store *s, uint64_t epoch, const struct cluster_model *m,
                  struct weft_buf *out);
/* Prometheus text for /metrics: counters, and one gauge per open host
 * anomaly (its host median over its peers', labelled host and label). */
int op_peer_metrics(struct op_peer_store *s, struct weft_buf *b);

void op_peer_stats(struct op_peer_store *s, struct op_peer_stats *out);
/* Calls fn for each open host anomaly (under the store's lock: fn must not
 * call back into the store). */
void op_peer_each_open(struct op_peer_store *s,
                       void (*fn)(void *arg, const char *host, const char *label,
                                  uint64_t host_median_ns, uint64_t peers_median_ns,
                                  uint32_t n_peers, uint64_t since_epoch),
                       void *arg);

/* Appends ,"slow_by":{...} to a trace's anomaly line b and the peers'
 * figure to its explanation x. */
int op_peer_format(struct weft_buf *b, struct weft_buf *x, const struct op_trace *t,
                   const struct op_peer_hit *hit);

/* ---- the check operator's hooks (op_check_peer.c) ----------------------- */
struct op_check_config;
struct cluster_verdict;
/* Under cfg->lock, from each worker's init: the first creates the store
 * (a lane for each of the engine's workers) when cfg->peer.enabled. 0 or
 * WEFT_ENOMEM. */
int op_check_peer_init(struct op_check_config *cfg, unsigned workers);
/* For a trace of normal structure: observe it; when slow against peers,
 * turns cv into a slow verdict naming the event (hit). 1 slow, 0 not,
 * < 0 an error. */
int op_check_peer_judge(struct op_check_config *cfg, unsigned worker,
                        const struct op_trace *t, uint64_t epoch,
                        const struct cluster_model *m, struct cluster_verdict *cv,
                        struct op_peer_hit *hit, struct weft_buf *buf);
/* At each epoch close: refreshes the store and writes the host anomaly
 * records to the anomalies sink (buf: the worker's scratch). */
void op_check_peer_close(struct op_check_config *cfg, unsigned worker, uint64_t epoch,
                         const struct cluster_model *m, struct weft_buf *buf);
/* Host anomaly lines for the run summary. */
void op_check_peer_summary(struct op_check_config *cfg, FILE *f);

#endif

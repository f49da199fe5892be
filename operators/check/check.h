/*
 * check.h — the check room: the model check operator (verdicts,
 * explanations, model hot swap), the view of a finished trace that the
 * model reads, and the training-sample sink and file. Includes common/,
 * cluster/, engine/ and the assemble room.
 */
#ifndef WEFT_OPERATORS_CHECK_H
#define WEFT_OPERATORS_CHECK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "common/common.h"
#include "engine/engine.h"
#include "operators/assemble/trace.h"
#include "operators/check/peer.h"

/* ---- model check (op_check.c) ----------------------------------------- */
/*
 * Input 0: finished traces (op_trace). Output 0: the same records with
 * op_trace.verdict and .tmpl set. Every trace gets a verdict:
 *   late        an amendment (events after the trace was emitted): not
 *               probed, it is a fragment;
 *   incomplete  cut by a limit (open traces, events per trace): not probed;
 *   normal, unknown_structure, slow: cluster_check() against the model.
 * unknown_structure and slow traces go to the anomalies sink as JSON lines
 * (trace id, verdict, template, distance, what is new, the aligned edits,
 * what was slow, durations, and a one-line explanation).
 *
 * Model swap without stopping: op_check_request_reload() (from a SIGHUP
 * handler: async-signal-safe) or a change of the model file (the watcher
 * polls its inode, size and mtime) makes the watcher thread load the file;
 * a corrupt file is refused with a message and the old model stays. A new
 * model is published with a swap epoch S = newest closed epoch + 2; each
 * worker adopts it when it closes epoch S - 1, so traces emitted in
 * epochs >= S are checked against it (a worker already past S adopts at its
 * next epoch boundary). Adoption takes the config's lock once per worker
 * per swap; the probe path takes no lock.
 */
enum op_verdict {
	OP_VERDICT_NONE = 0,
	OP_VERDICT_NORMAL,
	OP_VERDICT_UNKNOWN_STRUCTURE,
	OP_VERDICT_SLOW,
	OP_VERDICT_INCOMPLETE,
	OP_VERDICT_LATE,
	OP_VERDICT__COUNT
};
const char *op_verdict_name(unsigned v);

struct cluster_model;
struct op_ledger;
struct op_learn;
struct op_check_report; /* what the HTML report needs, collected while checking */

struct op_check_config {
	const char *model_path;
	FILE *anomalies;          /* JSON lines; NULL: none written */
	unsigned report_max;      /* anomalous traces kept for the report (24) */
	unsigned top_max;         /* explanations ranked in the summary (10) */
	uint32_t report_heat_cells; /* heatmap cells (template x second) per
	                           * worker (20000, about 600 bytes each);
	                           * traces past it: heat_dropped, said on
	                           * the page */
	int no_report;            /* keep no report data, no summary ranking
	                           * (long-running service: bounded memory) */
	int skip_flushed;         /* traces flagged FLUSHED get no verdict and
	                           * no anomaly (weft serve: a flushed trace
	                           * was cut by a stop or a revocation and is
	                           * re-read; at the end of a file it is whole) */
	/* When set, anomaly lines go here instead of to `anomalies`: called on
	 * the worker's thread, outside the lock, with the line and its '\n'.
	 * Returns 0 or an error (counted in write_errors). */
	int (*anomaly_write)(void *arg, unsigned worker, uint64_t trace_id,
	                     const char *line, size_t len);
	void *anomaly_arg;
	/* When set, called on the worker's thread for every trace once it has
	 * its verdict (the web console's stores, operators/output/console.h):
	 * t carries verdict and tmpl; cv is the check's result, NULL when the
	 * trace was not probed (late, incomplete, no verdict); line is the
	 * anomaly JSON line (with its '\n') or NULL. Must not block. */
	void (*observe)(void *arg, unsigned worker, const struct op_trace *t,
	                const struct cluster_verdict *cv, const char *line,
	                size_t len);
	void *observe_arg;
	pthread_mutex_t lock;     /* model swap, anomaly writes, report data */
	struct cluster_model *model; /* current; the config holds a reference */
	_Atomic uint64_t generation;
	_Atomic uint64_t swap_epoch;
	_Atomic uint64_t max_closed;
	pthread_t watcher;
	int watching;
	int watch_file;           /* 1 (init): a change to model_path swaps the
	                           * model in; 0: only SIGHUP / a request does */
	/* model_path as it was when its model was last loaded (stat taken
	 * just before the load; the watcher compares against it, so a file
	 * replaced before the watcher starts is still seen) */
	struct op_check_stamp {
		uint64_t dev, ino, size, sec, nsec;
		int have;
	} stamp;
	_Atomic int stop_watch, reload_requested;
	_Atomic uint64_t reloads, reload_errors;
	/* totals */
	_Atomic uint64_t by_verdict[OP_VERDICT__COUNT];
	_Atomic uint64_t probes, known_shapes, check_errors, write_errors;
	struct weft_hist verdict_latency_ns; /* last event -> verdict (under lock,
	                                    * merged as workers finish) */
	struct op_check_report *report;
	/* latency against peers (peer.h): set peer after init, before the
	 * engine starts; the first worker creates the store */
	struct op_peer_config peer;
	struct op_peer_store *peers;
	_Atomic uint64_t host_records; /* host anomaly records written */
	struct op_learn *learn;   /* learn.h: checked traces offered to the
	                           * learning loop; NULL: none */
};
/* Loads the model (0 or WEFT_E* with a message naming the file and the
 * problem; nothing to destroy then). Pair a success with
 * op_check_config_destroy(). */
int op_check_config_init(struct op_check_config *cfg, const char *model_path,
                         char *errstr, size_t errlen);
void op_check_config_destroy(struct op_check_config *cfg);
/* Starts / stops the model watcher thread. */
int op_check_watch_start(struct op_check_config *cfg);
void op_check_watch_stop(struct op_check_config *cfg);
void op_check_request_reload(struct op_check_config *cfg);
extern const struct engine_op_vtable op_check_vtable; /* arg: op_check_config */
/* Summary (verdicts, top explanations) to f. */
void op_check_print_summary(struct op_check_config *cfg, FILE *f);

/* A finished trace as the model reads it (cluster_trace_in), built from an
 * op_trace record into reusable arrays. */
struct op_trace_view {
	struct cluster_dag dag;
	struct cluster_trace_in in;
	uint64_t *label, *dur;
	uint32_t *par_off, *par;
	const char **text;
	size_t cap_n, cap_e;
};
void op_trace_view_free(struct op_trace_view *v);
/* Fills v from t (v borrows t's bytes). 0 or WEFT_ENOMEM. */
int op_trace_view_fill(struct op_trace_view *v, const struct op_trace *t);

/* ---- training samples (op_sample.c) ------------------------------------ */
/*
 * A sink keeping a uniform sample of whole finished traces (reservoir per
 * worker) and writing them, when the workers finish, to a sample file that
 * `weft train` reads. size 0 keeps every trace.
 */
struct op_sample_config {
	uint64_t size;        /* traces to keep in all (0: all) */
	uint64_t seed;
	FILE *out;
	pthread_mutex_t lock;
	_Atomic uint64_t seen, written, errors;
};
/* Creates path and writes the header (0 or WEFT_EIO); pair with close. */
int op_sample_open(struct op_sample_config *cfg, const char *path);
int op_sample_close(struct op_sample_config *cfg);
extern const struct engine_op_vtable op_sample_vtable; /* arg: op_sample_config */
/* Calls fn for each trace of a sample file (the record is valid during the
 * call only); stops at fn's first non-zero return, which it returns.
 * WEFT_EFORMAT with a message for a foreign, corrupt or truncated file. */
int op_sample_read(const char *path,
                   int (*fn)(void *arg, const struct op_trace *t), void *arg,
                   char *errstr, size_t errlen);


#endif /* WEFT_OPERATORS_CHECK_H */

/*
 * operators.h — weft's operators: sources, decoders, sinks and the
 * pipelines that wire them into the engine (public interface).
 */
#ifndef WEFT_OPERATORS_H
#define WEFT_OPERATORS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "engine/engine.h"
#include "operators/decode.h"
#include "operators/event.h"
#include "operators/trace.h"

/* ---- byte readers (op_reader.c) --------------------------------------- */
enum op_compression {
	OP_COMP_AUTO = 0, /* detect by magic bytes */
	OP_COMP_NONE,
	OP_COMP_GZIP,     /* gzip or zlib, concatenated members allowed */
	OP_COMP_ZSTD,     /* one or more zstd frames */
};

/* op_reader_read(): nothing available now on a non-blocking input. */
#define OP_READ_AGAIN (-100)

struct op_reader;

/* Opens path ("-" = standard input). nonblock: reads never wait for a
 * live stream (OP_READ_AGAIN). Returns 0, WEFT_EIO or WEFT_ENOMEM; free
 * with op_reader_free(). */
int op_reader_open(const char *path, enum op_compression comp, int nonblock,
                   struct op_reader **out);
/* Opens the raw byte range [begin, end) of a plain regular file. */
int op_reader_open_range(const char *path, uint64_t begin, uint64_t end,
                         struct op_reader **out);
/* Size, whether path is a regular file, and its compression by magic. */
int op_reader_file_info(const char *path, uint64_t *size, int *regular,
                        enum op_compression *comp);
/* Reads up to cap decompressed bytes: > 0 bytes, 0 at end of input,
 * OP_READ_AGAIN, WEFT_EIO, or WEFT_EFORMAT (corrupt compressed data). */
ssize_t op_reader_read(struct op_reader *r, void *buf, size_t cap);
void op_reader_free(struct op_reader *r);

/* ---- file source (op_file.c) ------------------------------------------ */
/*
 * Reads X-Trace reports from a file or standard input and emits one
 * record per unit (a JSON line or a text report), struct op_unit_rec
 * followed by the unit's bytes. Epochs come from an ingest clock:
 *   - regular files: the unit's byte offset / epoch_bytes, where
 *     epoch_bytes = epoch_units x the average unit size of the file's
 *     first MiB (op_file_prepare): about epoch_units units per epoch, and
 *     a unit's epoch depends on its position only, so it is the same
 *     whichever worker or shard reads it (recorded order is preserved
 *     across shards, and output does not depend on W);
 *   - streams (stdin, pipes): epoch_units units per epoch, counted;
 *   - epoch_ms > 0: wall-clock epochs (live streams: empty epochs close
 *     while the input is quiet).
 *
 * Sharding: a plain regular JSON-lines file is cut into stripes of
 * stripe_bytes at line boundaries, worker w reading stripes w, w+W, ...
 * (op_file_sharded() says whether that applies; then connect the decoder
 * with a pipeline edge).
 * Otherwise worker 0 reads everything and the decoder's input should be an
 * exchange on op_unit_key, which spreads units over the workers.
 */
struct op_file_config {
	const char *path;          /* "-" = standard input */
	enum op_format format;
	enum op_compression compression;
	uint64_t epoch_units;      /* units per epoch (default 65536) */
	uint32_t epoch_ms;         /* > 0: wall-clock epochs instead */
	uint32_t max_unit_bytes;   /* longer units become excerpts (64 KiB) */
	int shard;                 /* split plain files across workers (1) */
	uint64_t stripe_bytes;     /* stripe size when sharding (4 MiB) */
	uint64_t first_epoch;      /* must match engine_config.first_epoch */
	uint64_t epoch_bytes;      /* set by op_file_prepare for regular files */
	uint64_t t0_ns;            /* epoch_ms clock origin (set by op_file_prepare) */
	/* Non-NULL: every instance decodes the units it reads itself, with
	 * this configuration, and emits op_event records instead of units
	 * (the decode operator fused into the source: no unit record, no
	 * batch between them). Only where each worker reads its own input,
	 * see op_file_decodes_inline(); decode totals go to *decode. */
	struct op_decode_op_config *decode;
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t units, bytes, io_errors;
};

void op_file_config_default(struct op_file_config *cfg);
/* Checks the config against the input and fixes t0. 0 or WEFT_E* with a
 * message naming the problem. */
int op_file_prepare(struct op_file_config *cfg, char *errstr, size_t errlen);
/* 1 if the input will be read in W shards. */
int op_file_sharded(const struct op_file_config *cfg, unsigned workers);
/* 1 if every worker that reads decodes what it reads, so the source can
 * decode inline (cfg->decode): one worker, or a sharded file. Otherwise
 * worker 0 reads alone and units must be spread over the workers before
 * decoding. */
int op_file_decodes_inline(const struct op_file_config *cfg, unsigned workers);

/* A unit as it travels from a source to the decoder. */
struct op_unit_rec {
	uint64_t offset; /* byte offset of the unit in the input */
	uint64_t line;   /* 1-based line, 0 when unknown (shards after the first) */
	uint64_t seq;    /* unit number on its reading worker */
	uint32_t len;    /* full length of the unit */
	uint32_t flags;  /* OP_UNIT_TOO_LONG, OP_UNIT_TRUNCATED */
	/* followed by min(len, max_unit_bytes) bytes */
};

extern const struct engine_op_vtable op_file_vtable; /* arg: op_file_config */
uint64_t op_unit_key(const void *rec, uint32_t len, void *arg);

/* ---- decode operator (op_decode_op.c) ---------------------------------- */
/*
 * Input 0: unit records. Output 0: struct op_event records (variable size).
 * One op_decoder per worker; rejects go to the shared dead-letter sink.
 */
struct op_decode_op_config {
	enum op_format format;
	struct op_decode_config decode;
	struct op_deadletter *deadletter; /* may be NULL: count only */
	const char *source_name;
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t units, events, rejected;
	_Atomic uint64_t by_reason[OP_REJECT__COUNT];
};

extern const struct engine_op_vtable op_decode_vtable; /* arg: op_decode_op_config */
/*
 * The decode operator fused into a source, for sources whose worker owns
 * what it reads (the file source on its own shard, a Kafka consumer on its
 * partitions): the source hands each unit over as it cuts it, and the
 * events are laid out directly in the batches of the source's output 0
 * (engine_emit_reserve), with no unit record and no copy of the event.
 * Counters and dead letters as with the decode operator; its totals go to
 * cfg in op_inline_decoder_free(). One per source instance.
 */
struct op_inline_decoder {
	struct op_decode_op_config *cfg;
	struct op_decoder *d;
	struct engine_ctx *ctx; /* valid during op_inline_decoder_unit */
	uint64_t epoch;
	void *room;             /* reserved for the event being decoded */
};
int op_inline_decoder_init(struct op_inline_decoder *x,
                           struct op_decode_op_config *cfg);
/* Decodes u and emits its event (if it decodes) on output 0 at epoch. */
void op_inline_decoder_unit(struct op_inline_decoder *x,
                            struct engine_ctx *ctx, uint64_t epoch,
                            const struct op_unit *u);
void op_inline_decoder_free(struct op_inline_decoder *x);
/* A unit a source read, at epoch: decoded in line by dec when dec is not
 * NULL, else emitted on output 0 as an op_unit_rec (header, then u->avail
 * bytes, built in rec: room for the header and u->avail) with number seq.
 * u->len must fit 32 bits. */
void op_source_unit(struct engine_ctx *ctx, uint64_t epoch,
                    const struct op_unit *u, uint64_t seq,
                    struct op_inline_decoder *dec, unsigned char *rec);
/* Exchange key of an event record: its trace id, the record's first 8
 * bytes, so the engine reads it in line (engine_key_first_u64). */
_Static_assert(offsetof(struct op_event, trace_id) == 0,
               "an event record begins with its trace id");
#define op_event_trace_key engine_key_first_u64

/* ---- counting sink ----------------------------------------------------- */
/*
 * A sink that counts records and their payload bytes. One op_count is
 * shared by every worker's instance (the arg of engine_graph_add); each
 * instance counts privately and adds its totals here in destroy(), so the
 * totals are complete once engine_free() returned.
 */
struct op_count {
	_Atomic uint64_t records;
	_Atomic uint64_t bytes;
};

extern const struct engine_op_vtable op_count_vtable;

/* ---- log-linear histogram (op_hist.c) ----------------------------------- */
/*
 * Values (ns, bytes, ...) in log-linear buckets: 8 per power of two, so a
 * quantile is within 12.5 % of the truth. Plain counters: one per thread,
 * merged by the owner.
 */
#define OP_HIST_BUCKETS (64 * 8)
struct op_hist {
	uint64_t n, max;
	uint64_t bucket[OP_HIST_BUCKETS];
};
void op_hist_add(struct op_hist *h, uint64_t v);
void op_hist_merge(struct op_hist *into, const struct op_hist *from);
/* Upper bound of the bucket holding the q-quantile (0 when empty). */
uint64_t op_hist_quantile(const struct op_hist *h, double q);

/* ---- assemble operator (op_assemble.c) --------------------------------- */
/*
 * Input 0: event records, exchanged by trace id (op_event_trace_key), so a
 * worker owns the traces that hash to it. Output 0: one struct op_trace
 * record per finished trace (variable size), in the epoch it finished.
 *
 * A trace finishes when it has been idle for idle_epochs epochs (checked
 * as epochs close), or earlier at the end label once every parent is
 * there, or under the open-trace limit (oldest first, INCOMPLETE), or at
 * end of stream (FLUSHED). An event for a trace finished within the last
 * late_epochs epochs starts an amendment (LATE) instead of a new trace.
 */
struct op_assemble_config {
	uint32_t idle_epochs;        /* G (default 2) */
	uint32_t max_trace_events;   /* stored per trace (default 100000) */
	uint64_t max_open_traces;    /* per worker (default 1048576) */
	uint32_t max_text_bytes;     /* label/host/agent text kept (256) */
	uint32_t late_epochs;        /* remember finished ids this long (64) */
	uint64_t max_texts;          /* distinct texts interned per worker (1 M) */
	const char *end_label;       /* NULL: no early finish */
	struct op_ledger *ledger;    /* weft serve: count each opened trace (NULL) */
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t events, traces, late_events, late_traces, duplicates;
	_Atomic uint64_t missing, cycle_edges, truncated, dropped, incomplete;
	_Atomic uint64_t end_label_finishes, text_truncated;
	_Atomic uint64_t peak_open_events; /* sum over workers of each one's peak */
	_Atomic uint64_t peak_open_traces; /* same, traces */
	pthread_mutex_t lock;            /* guards the histograms below */
	struct op_hist emit_latency_ns;  /* last event -> emission, per trace */
	struct op_hist close_ns;         /* time spent in on_epoch_close */
};

/* Defaults, and the lock. Pair with op_assemble_config_destroy(). */
void op_assemble_config_init(struct op_assemble_config *cfg);
void op_assemble_config_destroy(struct op_assemble_config *cfg);
/* 0 or WEFT_EINVAL with a message naming the key. */
int op_assemble_config_check(const struct op_assemble_config *cfg,
                             char *errstr, size_t errlen);
extern const struct engine_op_vtable op_assemble_vtable; /* arg: op_assemble_config */

/* ---- trace sink (op_trace_sink.c) ------------------------------------- */
/*
 * Writes finished traces (op_trace records) as JSON lines to out: a
 * summary object per trace, or with full = 1 also its nodes and edges.
 * dot_ids (n_dot of them) name traces to draw: each goes to
 * dot_dir/<trace id>.dot as a Graphviz digraph. Each worker formats into
 * its own buffer and writes whole lines under the config's lock.
 */
struct op_trace_sink_config {
	FILE *out;              /* may be NULL: count only */
	int full;
	const uint64_t *dot_ids;
	unsigned n_dot;
	const char *dot_dir;    /* default "." */
	pthread_mutex_t lock;
	_Atomic uint64_t traces, dots_written, write_errors;
};
void op_trace_sink_config_init(struct op_trace_sink_config *cfg);
void op_trace_sink_config_destroy(struct op_trace_sink_config *cfg);
extern const struct engine_op_vtable op_trace_sink_vtable; /* arg: op_trace_sink_config */
/* A growable text buffer (free p when done). */
struct op_buf {
	char *p;
	size_t len, cap;
};
/* Appends formatted text / a JSON string literal (quoted, escaped).
 * 0 or WEFT_ENOMEM. */
int op_buf_printf(struct op_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int op_buf_str(struct op_buf *b, const char *s);
/* Appends the JSON object of t (no newline) to buf; returns 0 or ENOMEM. */
int op_trace_json(struct op_buf *buf, const struct op_trace *t, int full);
/* Writes t as a Graphviz digraph to f. */
void op_trace_dot(FILE *f, const struct op_trace *t);

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
struct op_check_report; /* what the HTML report needs, collected while checking */

struct op_check_config {
	const char *model_path;
	FILE *anomalies;          /* JSON lines; NULL: none written */
	unsigned report_max;      /* anomalous traces kept for the report (24) */
	unsigned top_max;         /* explanations ranked in the summary (10) */
	int no_report;            /* keep no report data, no summary ranking
	                           * (long-running service: bounded memory) */
	/* When set, anomaly lines go here instead of to `anomalies`: called on
	 * the worker's thread, outside the lock, with the line and its '\n'.
	 * Returns 0 or an error (counted in write_errors). */
	int (*anomaly_write)(void *arg, unsigned worker, uint64_t trace_id,
	                     const char *line, size_t len);
	void *anomaly_arg;
	pthread_mutex_t lock;     /* model swap, anomaly writes, report data */
	struct cluster_model *model; /* current; the config holds a reference */
	_Atomic uint64_t generation;
	_Atomic uint64_t swap_epoch;
	_Atomic uint64_t max_closed;
	pthread_t watcher;
	int watching;
	_Atomic int stop_watch, reload_requested;
	_Atomic uint64_t reloads, reload_errors;
	/* totals */
	_Atomic uint64_t by_verdict[OP_VERDICT__COUNT];
	_Atomic uint64_t probes, known_shapes, check_errors, write_errors;
	struct op_hist verdict_latency_ns; /* last event -> verdict (under lock,
	                                    * merged as workers finish) */
	struct op_check_report *report;
};
/* Loads the model (0 or WEFT_E* with a message naming the file and the
 * problem). Pair with op_check_config_destroy(). */
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
/* HTML report: anomalous DAGs next to their templates, latency heatmaps. */
int op_check_write_report(struct op_check_config *cfg, const char *path);

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

/* `weft train`: sample files -> model file. */
int op_train_main(int argc, char **argv);

/* `weft replay`: file -> decode -> exchange(trace id) -> assemble -> sink. */
int op_replay_main(int argc, char **argv);

/* Signals of the long-running commands (op_signal.c): SIGINT/SIGTERM stop
 * e; with a check config, SIGHUP asks it to reload its model and the model
 * watcher is started (its result is returned: 0 or WEFT_E*; the signals
 * are installed either way). restore() puts the defaults back and stops
 * the watcher. One engine at a time per process. */
int op_signals_install(struct engine *e, struct op_check_config *check);
void op_signals_restore(void);

/* `weft serve`: the Kafka consumer service (op_serve.c). */
int op_serve_main(int argc, char **argv);

/* `weft rekey`: consume a topic, re-produce each report keyed by its trace
 * id into a repartition topic (op_rekey.c). */
int op_rekey_main(int argc, char **argv);

/* ---- Prometheus metrics over HTTP (op_metrics.c) ------------------------ */
/*
 * A small HTTP server (libmicrohttpd, its own thread) answering GET /metrics
 * with Prometheus text exposition format 0.0.4, and GET /healthz with "ok".
 * render() is called on the server thread for every scrape and appends the
 * whole exposition to out; it must be thread-safe with respect to the
 * program (read atomics, or take the owner's locks).
 */
struct op_metrics_server;
typedef int (*op_metrics_render_fn)(void *arg, struct op_buf *out);
/* addr: numeric IPv4/IPv6 address to bind ("127.0.0.1" by default when
 * NULL); port 0 picks a free port (op_metrics_port() tells which). Returns 0
 * or WEFT_E* with a message naming the problem. */
int op_metrics_start(const char *addr, uint16_t port, op_metrics_render_fn render,
                     void *arg, struct op_metrics_server **out, char *errstr,
                     size_t errlen);
uint16_t op_metrics_port(const struct op_metrics_server *s);
void op_metrics_stop(struct op_metrics_server *s);
/* Exposition helpers: "# HELP", "# TYPE" (once per family: pass help/type
 * NULL for further samples of the same family) and one sample line.
 * labels is the inside of {...} already escaped (NULL or "" for none);
 * op_metrics_escape() escapes a label value (backslash, quote, newline). */
int op_metrics_family(struct op_buf *out, const char *name, const char *type,
                      const char *help);
int op_metrics_sample(struct op_buf *out, const char *name, const char *labels,
                      double value);
int op_metrics_escape(struct op_buf *out, const char *value);

#endif

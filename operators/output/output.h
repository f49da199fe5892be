/*
 * output.h — the output room: the counting sink, the trace sink (JSON
 * lines, Graphviz), the HTML report of a model check and the HTTP
 * endpoint that serves metrics. Includes common/, engine/ and the
 * assemble and check rooms' headers.
 */
#ifndef WEFT_OPERATORS_OUTPUT_H
#define WEFT_OPERATORS_OUTPUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"
#include "engine/engine.h"
#include "operators/assemble/trace.h"
#include "operators/check/check.h"

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
	struct op_check_config *check; /* NULL: no model; else DOT files mark
	                         * new pieces and the slow node, as the
	                         * report does */
	pthread_mutex_t lock;
	_Atomic uint64_t traces, dots_written, write_errors;
};
void op_trace_sink_config_init(struct op_trace_sink_config *cfg);
void op_trace_sink_config_destroy(struct op_trace_sink_config *cfg);
extern const struct engine_op_vtable op_trace_sink_vtable; /* arg: op_trace_sink_config */
/* Appends the JSON object of t (no newline) to buf; returns 0 or ENOMEM. */
int op_trace_json(struct weft_buf *buf, const struct op_trace *t, int full);
/* Writes t as a Graphviz digraph to f. */
void op_trace_dot(FILE *f, const struct op_trace *t);
/* The same, with the DAG nodes new_node[] (n_new) outlined red as new
 * pieces and slow_node (-1: none) filled yellow as the slow one. */
void op_trace_dot_marked(FILE *f, const struct op_trace *t, const uint32_t *new_node,
                         uint32_t n_new, int32_t slow_node);


/* ---- HTML report (op_report.c) ----------------------------------------- */
/* The report of a model check: anomalous DAGs next to their templates,
 * latency heatmaps. 0 or WEFT_E* (a message on stderr). */
int op_check_write_report(struct op_check_config *cfg, const char *path);

/* ---- Prometheus metrics over HTTP (op_metrics.c) ------------------------ */
/*
 * A small HTTP server (libmicrohttpd, its own thread) answering GET /metrics
 * with Prometheus text exposition format 0.0.4, and GET /healthz with "ok".
 * render() is called on the server thread for every scrape and appends the
 * whole exposition to out; it must be thread-safe with respect to the
 * program (read atomics, or take the owner's locks).
 */
struct op_metrics_server;
typedef int (*op_metrics_render_fn)(void *arg, struct weft_buf *out);
/* addr: numeric IPv4/IPv6 address to bind ("127.0.0.1" by default when
 * NULL); port 0 picks a free port (op_metrics_port() tells which). Returns 0
 * or WEFT_E* with a message naming the problem. */
int op_metrics_start(const char *addr, uint16_t port, op_metrics_render_fn render,
                     void *arg, struct op_metrics_server **out, char *errstr,
                     size_t errlen);
uint16_t op_metrics_port(const struct op_metrics_server *s);
/* "http://HOST:PORT" as bound (the address given, or 127.0.0.1). */
const char *op_metrics_url(const struct op_metrics_server *s);
void op_metrics_stop(struct op_metrics_server *s);
/* Exposition helpers: "# HELP", "# TYPE" (once per family: pass help/type
 * NULL for further samples of the same family) and one sample line.
 * labels is the inside of {...} already escaped (NULL or "" for none);
 * op_metrics_escape() escapes a label value (backslash, quote, newline). */
int op_metrics_family(struct weft_buf *out, const char *name, const char *type,
                      const char *help);
int op_metrics_sample(struct weft_buf *out, const char *name, const char *labels,
                      double value);
int op_metrics_escape(struct weft_buf *out, const char *value);

/* ---- Prometheus conventions (op_prom.c) --------------------------------- */
/*
 * A histogram in seconds with fixed upper bounds (le), for any thread to
 * observe nanoseconds into (relaxed atomics) and a scrape to render as
 * NAME_bucket{le=...} (cumulative), NAME_sum (seconds) and NAME_count.
 */
#define OP_PROM_MAX_BUCKETS 20
struct op_prom_hist {
	unsigned n;
	uint64_t le_ns[OP_PROM_MAX_BUCKETS];
	_Atomic uint64_t bucket[OP_PROM_MAX_BUCKETS + 1]; /* last: above every le */
	_Atomic uint64_t sum_ns, count;
};
/* le_s: n increasing upper bounds in seconds (at most OP_PROM_MAX_BUCKETS). */
void op_prom_hist_init(struct op_prom_hist *h, const double *le_s, unsigned n);
void op_prom_hist_observe(struct op_prom_hist *h, uint64_t ns);
/* The samples (not the HELP/TYPE lines: op_metrics_family(..., "histogram",
 * ...) once per family); labels NULL or the inside of {...} without le. */
int op_prom_hist_render(struct weft_buf *out, const char *name, const char *labels,
                        const struct op_prom_hist *h);
/* weft_epoch_close_seconds: an epoch's close latency at the assembler
 * (op_assemble_config.on_epoch_closed: its last batch arriving -> its
 * close done, per worker). _init sets the buckets; op_prom_epoch_closed
 * is the hook (arg: the histogram; any worker's thread); _render writes
 * the family and its samples. */
void op_prom_epoch_close_init(struct op_prom_hist *h);
void op_prom_epoch_closed(void *hist, uint64_t ns);
int op_prom_epoch_close_render(struct weft_buf *out, const struct op_prom_hist *h);
/* process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds (from /proc) and weft_build_info. */
int op_prom_process(struct weft_buf *out);

#endif /* WEFT_OPERATORS_OUTPUT_H */

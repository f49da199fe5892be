/*
 * report_int.h — the insides of the HTML report of a model check
 * (op_check_write_report), shared by its three files: the page
 * (op_report.c: header, anomaly sections, text escaping), the label graph
 * drawn for each anomaly (op_report_graph.c) and the latency heatmaps
 * (op_report_heat.c). Private to operators/output/.
 */
#ifndef WEFT_OP_REPORT_INT_H
#define WEFT_OP_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "operators/check/check_int.h"

/* ---- text (op_report.c) ------------------------------------------------- */

/* Writes s escaped for HTML/XML text and attribute values. max > 0 cuts
 * after max bytes (at a character boundary) and appends an ellipsis.
 * Control bytes and malformed UTF-8 become '?'. */
void report_esc(FILE *f, const char *s, size_t max);
/* Human size into buf: "448 bytes", "12.5 KiB", "3.2 MiB"; returns buf. */
const char *report_bytes(char *buf, size_t len, uint64_t n);
/* Human duration into buf: "830 ns", "12.5 µs", "3.2 ms", "1.25 s";
 * returns buf. */
const char *report_dur(char *buf, size_t len, uint64_t ns);

/* ---- label graph (op_report_graph.c) ------------------------------------ */

/* lg_node.flags / lg_edge.flags */
#define LG_EXTRA 0x1u  /* trace: not in the template */
#define LG_NEW 0x2u    /* trace: an event with this label has a new piece */
#define LG_SLOW 0x4u   /* trace: the slow label */
#define LG_ABSENT 0x8u /* template: not in the trace */

struct lg_node {
	uint64_t sym;
	const char *text;   /* borrowed (trace record or model); NULL: none */
	uint32_t count;     /* events carrying the label */
	uint32_t layer;
	uint32_t flags;
	uint32_t sidx;      /* index in lgraph.syms */
	uint64_t slow_ns;
	int x, y;           /* box's top-left corner, after layout */
	/* lg_annotate_trace: the hosts of its events (distinct, the first two
	 * by name), the earliest start from the trace's start and the longest
	 * and total of its events' durations (n_dur of them had an end) */
	const char *host[2];
	uint32_t n_hosts, n_dur;
	int64_t at_ns;
	uint64_t dur_max, dur_sum;
	uint64_t median_ns; /* lg_annotate_template: the model's median */
};

struct lg_edge {
	uint32_t from, to;  /* drawn node indices */
	uint32_t flags;
};

/* Invariants: syms[] is sorted and distinct (every label of the DAG);
 * keys[] is sorted and distinct, (i << 32 | j) for a parent label syms[i]
 * above a child label syms[j]; node[] is the drawn subset in layout order
 * and shown[] maps a syms index to its node index (UINT32_MAX: not drawn). */
struct lgraph {
	uint64_t *syms;
	uint32_t n_syms;
	uint64_t *keys;
	uint32_t n_keys;
	struct lg_node *node;
	uint32_t n_node;
	struct lg_edge *edge;
	uint32_t n_edge;
	uint32_t *shown;
	uint32_t *of;       /* DAG node -> syms index */
	uint32_t hidden_nodes, hidden_edges;
	int width, height;
	int lane_l, lane_r;  /* x of the innermost left / right lane */
	int annotated;       /* boxes carry the hosts / times lines */
	int box_h, row_h;    /* after lg_layout */
};

/* Builds the label graph of d. text[i] is node i's label text; text NULL:
 * texts come from the model m. 0 or WEFT_ENOMEM (g is then freed). */
int lg_build(struct lgraph *g, const struct cluster_dag *d, const char *const *text,
             const struct cluster_model *m);
void lg_free(struct lgraph *g);
/* Hosts and times on the boxes of a trace's graph (built from t's view;
 * call before lg_layout): 0 or WEFT_ENOMEM (then not annotated). */
int lg_annotate_trace(struct lgraph *g, const struct op_trace *t);
/* The model's median duration per label on a template's boxes. */
void lg_annotate_template(struct lgraph *g, const struct cluster_model *m);
/* Places the boxes (rows of layers) and sizes the drawing. */
void lg_layout(struct lgraph *g);
/* Flags of a against b: in the trace (trace = 1) what b lacks is extra,
 * in the template what b lacks is absent. */
void lg_compare(struct lgraph *a, const struct lgraph *b, int trace);
/* Node index drawn for DAG node i (of n_dag), or UINT32_MAX. */
uint32_t lg_drawn(const struct lgraph *g, uint32_t n_dag, int64_t i);
/* The drawing as an SVG figure with a caption (id keeps its markers
 * apart from other figures of the page). */
void lg_figure(FILE *f, const struct lgraph *g, unsigned id, const char *caption);

/* ---- an anomaly against its template (op_report_pair.c) ---------------- */

/* What to draw: the trace, its nearest template (-1: none), the DAG nodes
 * with a new piece and the slow node (-1: none or the whole duration). */
struct report_pair {
	const struct op_trace *trace;
	int32_t tmpl;
	uint32_t n_new;
	const uint32_t *new_node;
	int32_t slow_node;
	const char *caption; /* the trace's figure; NULL: "anomalous trace" */
};
/* The template's drawing and the trace's side by side in a <div
 * class="pair">, compared and marked; id keeps markers of figures on one
 * page apart (uses 2 id and 2 id + 1). view is scratch. */
void report_draw_pair(FILE *f, const struct cluster_model *m, const struct report_pair *p,
                      unsigned id, struct op_trace_view *view);
/* Template tmpl alone as a figure. */
void report_draw_template(FILE *f, const struct cluster_model *m, uint32_t tmpl,
                          unsigned id);

/* ---- heatmaps (op_report_heat.c) ---------------------------------------- */

/* The "Latency heatmaps" section: one per template, the busiest first. */
void report_heatmaps(FILE *f, const struct op_check_config *cfg);

#endif /* WEFT_OP_REPORT_INT_H */

/*
 * op_report.c — the HTML report of a model check (op_check_write_report):
 * one self-contained file, inline CSS and inline SVG, no script, nothing
 * fetched, written after the engine stopped (single-threaded; it reads
 * op_check_config.report, see check_int.h, and the current model).
 *
 * Layout of the page: a header (model summary, verdict counts, the ranked
 * explanations), one section per kept anomaly, then latency heatmaps.
 *
 * Drawing an anomaly. A trace DAG has up to hundreds of nodes, mostly a
 * block of events repeated (HDFS writes 1 to 19 blocks), so a node-per-event
 * drawing would be unreadable and unbounded. We draw the LABEL GRAPH
 * instead: one box per distinct label, annotated with how many events carry
 * it, and one arrow per distinct (parent label -> child label) pair. That is
 * the same set view the model's pieces take (model.h), so what is new in a
 * piece shows as a new box or a new arrow. Repetition folds into the count;
 * a label that follows itself gets a loop.
 * Layout is deliberately simple and deterministic: a label's layer is the
 * smallest longest-path depth among its events (so in the first occurrence
 * every event sits below its parents); within a layer boxes are ordered by
 * text (then symbol) and wrapped LG_PER_ROW to a row, so a graph is at most
 * LG_PER_ROW boxes wide. Arrows to the next row are cubic curves; arrows
 * that skip rows run down lanes left of the boxes, and arrows that go up or
 * sideways (a repeated block starting again) run up lanes on the right, so
 * no arrow is hidden behind a box (they run in the gaps between rows). No
 * crossing minimisation: with a handful of boxes per row it is not needed.
 * At most LG_MAX_NODES boxes (the first in layout order) and LG_MAX_EDGES
 * arrows are drawn per graph; the report says how many were left out.
 * Anomalies are listed by verdict, template and trace id, not in the order
 * the workers happened to find them (which ones op_check.c kept does depend
 * on that order).
 * The template (left) and the trace (right) are compared as sets of labels
 * and label pairs: in the trace, what the template lacks is orange; in the
 * template, what the trace lacks is dashed grey. Labels carrying a new piece
 * are outlined red, the slow label is amber with its duration.
 *
 * Heatmaps: per template (the HEAT_MAX_TMPL busiest), x = epoch, binned into
 * at most HEAT_MAX_COLS columns; y = llquantize bucket of the trace's
 * same-host duration, only the range that occurs (plus the threshold's);
 * colour = count on a log scale.
 *
 * Output is bounded: items, boxes, arrows, templates and cells are capped.
 * Out of memory while drawing one figure writes a note instead of the
 * figure; only a failed write makes the call fail (WEFT_EIO).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "operators/check/check_int.h"
#include "operators/output/output.h"

#define REPORT_MAX_ITEMS 48 /* anomaly sections at most */
#define LG_MAX_NODES 80     /* boxes per label graph */
#define LG_MAX_EDGES 400    /* arrows per label graph */
#define LG_PER_ROW 4        /* boxes per row before a layer wraps */
#define LG_TEXT_MAX 26      /* label bytes shown in a box (full text in a tooltip) */
#define BOX_W 170
#define BOX_H 34
#define COL_W 190
#define ROW_H 72
#define MARGIN 24
#define LANES 5             /* side lanes for long and upward arrows */
#define LANE_W 6
#define SIDE (LANES * LANE_W + 20) /* room left and right of the boxes for them */
#define HEAT_MAX_TMPL 12
#define HEAT_MAX_COLS 60

/* lg_node.flags / lg_edge.flags */
#define LG_EXTRA 0x1u  /* trace: not in the template */
#define LG_NEW 0x2u    /* trace: an event with this label has a new piece */
#define LG_SLOW 0x4u   /* trace: the slow label */
#define LG_ABSENT 0x8u /* template: not in the trace */

/* ---- text --------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t k = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2
	         : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (!k || k > n || (k == 2 && s[0] < 0xC2))
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return k;
}

/* Writes s escaped for HTML/XML text and attribute values. max > 0 cuts
 * after max bytes (at a character boundary) and appends an ellipsis.
 * Control bytes and malformed UTF-8 become '?'. */
static void
put_esc(FILE *f, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)s), i = 0;
	while (i < n) {
		if (max && i >= max) {
			fputs("\xE2\x80\xA6", f);
			return;
		}
		size_t k = utf8_len(s + i, n - i);
		unsigned char c = s[i];
		if (!k || c < 0x20 || c == 0x7F) {
			fputc('?', f);
			i += k ? k : 1;
			continue;
		}
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fwrite(s + i, 1, k, f);
		}
		i += k;
	}
}

/* Human duration: "830 ns", "12.5 µs", "3.2 ms", "1.25 s". */
static const char *
fmt_dur(char *buf, size_t len, uint64_t ns)
{
	/* the bounds are where "%.3g" would round up to "1e+03" */
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 999500)
		snprintf(buf, len, "%.3g \xC2\xB5s", (double)ns / 1e3);
	else if (ns < 999500000)
		snprintf(buf, len, "%.3g ms", (double)ns / 1e6);
	else
		snprintf(buf, len, ns < 999500000000 ? "%.3g s" : "%.0f s", (double)ns / 1e9);
	return buf;
}

static const char *
label_text(const char *t, uint64_t sym, char *buf, size_t len)
{
	if (sym == CLUSTER_SYM_MISSING)
		return "(never arrived)";
	if (t && t[0])
		return t;
	snprintf(buf, len, "label %016" PRIx64, sym);
	return buf;
}

/* ---- label graph -------------------------------------------------------- */

struct lg_node {
	uint64_t sym;
	const char *text;   /* borrowed (trace record or model); NULL: none */
	uint32_t count;     /* events carrying the label */
	uint32_t layer;
	uint32_t flags;
	uint32_t sidx;      /* index in lgraph.syms */
	uint64_t slow_ns;
	int x, y;           /* box's top-left corner, after layout */
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
};

static void
lg_free(struct lgraph *g)
{
	free(g->syms);
	free(g->keys);
	free(g->node);
	free(g->edge);
	free(g->shown);
	free(g->of);
	memset(g, 0, sizeof *g);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int
cmp_node(const void *a, const void *b)
{
	const struct lg_node *x = a, *y = b;
	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	int c = strcmp(x->text ? x->text : "", y->text ? y->text : "");
	return c ? c : cmp_u64(&x->sym, &y->sym);
}

static uint32_t
sorted_unique(uint64_t *a, uint32_t n)
{
	if (!n)
		return 0;
	qsort(a, n, sizeof *a, cmp_u64);
	uint32_t k = 1;
	for (uint32_t i = 1; i < n; i++)
		if (a[i] != a[k - 1])
			a[k++] = a[i];
	return k;
}

/* Index of sym in g->syms, or UINT32_MAX. */
static uint32_t
lg_find(const struct lgraph *g, uint64_t sym)
{
	const uint64_t *p = g->syms ? bsearch(&sym, g->syms, g->n_syms, sizeof sym, cmp_u64) : NULL;
	return p ? (uint32_t)(p - g->syms) : UINT32_MAX;
}

static int
lg_has_pair(const struct lgraph *g, uint64_t a, uint64_t b)
{
	uint32_t i = lg_find(g, a), j = lg_find(g, b);
	if (i == UINT32_MAX || j == UINT32_MAX || !g->keys)
		return 0;
	uint64_t k = (uint64_t)i << 32 | j;
	return bsearch(&k, g->keys, g->n_keys, sizeof k, cmp_u64) != NULL;
}

/* Longest-path depth of every DAG node (Kahn's order over the parent
 * lists). Nodes on a cycle, which a DAG should not have, keep what they got
 * so far. 0 or WEFT_ENOMEM. */
static int
dag_depths(const struct cluster_dag *d, uint32_t *depth)
{
	uint32_t n = d->n_nodes, ne = d->par_off[n];
	uint32_t *indeg = calloc((size_t)n + 1, sizeof *indeg);
	uint32_t *coff = calloc((size_t)n + 2, sizeof *coff);
	uint32_t *ch = malloc(((size_t)ne + 1) * sizeof *ch);
	uint32_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
	int rc = WEFT_ENOMEM;
	if (!indeg || !coff || !ch || !queue)
		goto out;
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t e = d->par_off[c]; e < d->par_off[c + 1]; e++)
			if (d->par[e] < n) {
				coff[d->par[e] + 2]++;
				indeg[c]++;
			}
	for (uint32_t i = 0; i < n; i++)
		coff[i + 2] += coff[i + 1];
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t e = d->par_off[c]; e < d->par_off[c + 1]; e++)
			if (d->par[e] < n)
				ch[coff[d->par[e] + 1]++] = c;
	uint32_t qh = 0, qt = 0;
	for (uint32_t i = 0; i < n; i++) {
		depth[i] = 0;
		if (!indeg[i])
			queue[qt++] = i;
	}
	while (qh < qt) {
		uint32_t u = queue[qh++];
		for (uint32_t k = coff[u]; k < coff[u + 1]; k++) {
			uint32_t c = ch[k];
			if (depth[c] < depth[u] + 1)
				depth[c] = depth[u] + 1;
			if (--indeg[c] == 0)
				queue[qt++] = c;
		}
	}
	rc = 0;
out:
	free(indeg);
	free(coff);
	free(ch);
	free(queue);
	return rc;
}

/* Builds the label graph of d. text[i] is node i's label text; text NULL:
 * texts come from the model. 0 or WEFT_ENOMEM (g is then freed). */
static int
lg_build(struct lgraph *g, const struct cluster_dag *d, const char *const *text,
         const struct cluster_model *m)
{
	uint32_t n = d->n_nodes, ne = n ? d->par_off[n] : 0;
	memset(g, 0, sizeof *g);
	uint32_t *depth = malloc(((size_t)n + 1) * sizeof *depth);
	g->syms = malloc(((size_t)n + 1) * sizeof *g->syms);
	g->keys = malloc(((size_t)ne + 1) * sizeof *g->keys);
	g->of = malloc(((size_t)n + 1) * sizeof *g->of);
	if (!depth || !g->syms || !g->keys || !g->of || (n && dag_depths(d, depth)))
		goto nomem;
	if (n)
		memcpy(g->syms, d->label, (size_t)n * sizeof *g->syms);
	g->n_syms = sorted_unique(g->syms, n);
	g->node = calloc((size_t)g->n_syms + 1, sizeof *g->node);
	g->shown = malloc(((size_t)g->n_syms + 1) * sizeof *g->shown);
	if (!g->node || !g->shown)
		goto nomem;
	for (uint32_t j = 0; j < g->n_syms; j++)
		g->node[j] = (struct lg_node){.sym = g->syms[j], .sidx = j, .layer = UINT32_MAX};
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = lg_find(g, d->label[i]);
		struct lg_node *v = &g->node[j];
		g->of[i] = j;
		v->count++;
		if (depth[i] < v->layer)
			v->layer = depth[i];
		if (!v->text)
			v->text = text ? text[i] : m ? cluster_model_label(m, d->label[i]) : NULL;
	}
	uint32_t nk = 0;
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t e = d->par_off[c]; e < d->par_off[c + 1]; e++)
			if (d->par[e] < n)
				g->keys[nk++] = (uint64_t)g->of[d->par[e]] << 32 | g->of[c];
	g->n_keys = sorted_unique(g->keys, nk);
	/* layout order, then the cap */
	qsort(g->node, g->n_syms, sizeof *g->node, cmp_node);
	g->n_node = g->n_syms < LG_MAX_NODES ? g->n_syms : LG_MAX_NODES;
	g->hidden_nodes = g->n_syms - g->n_node;
	for (uint32_t j = 0; j < g->n_syms; j++)
		g->shown[g->node[j].sidx] = j < g->n_node ? j : UINT32_MAX;
	g->edge = malloc(((size_t)(g->n_keys < LG_MAX_EDGES ? g->n_keys : LG_MAX_EDGES) + 1) *
	                 sizeof *g->edge);
	if (!g->edge)
		goto nomem;
	for (uint32_t k = 0; k < g->n_keys; k++) {
		uint32_t a = g->shown[g->keys[k] >> 32], b = g->shown[(uint32_t)g->keys[k]];
		if (a == UINT32_MAX || b == UINT32_MAX || g->n_edge == LG_MAX_EDGES)
			g->hidden_edges++;
		else
			g->edge[g->n_edge++] = (struct lg_edge){a, b, 0};
	}
	free(depth);
	return 0;
nomem:
	free(depth);
	lg_free(g);
	return WEFT_ENOMEM;
}

/* Rows: each layer starts a row and wraps after LG_PER_ROW boxes; each row
 * is centred on the widest. */
static void
lg_layout(struct lgraph *g)
{
	uint32_t cols = 1, row = 0;
	for (uint32_t i = 0, k = 0; i < g->n_node; i++, k++) {
		if (i && g->node[i].layer != g->node[i - 1].layer)
			k = 0;
		if (k + 1 > cols)
			cols = k + 1 > LG_PER_ROW ? LG_PER_ROW : k + 1;
	}
	for (uint32_t i = 0; i < g->n_node;) {
		uint32_t j = i;
		while (j < g->n_node && j - i < LG_PER_ROW && g->node[j].layer == g->node[i].layer)
			j++;
		int x0 = SIDE + (int)(cols - (j - i)) * COL_W / 2;
		for (uint32_t k = i; k < j; k++) {
			g->node[k].x = x0 + (int)(k - i) * COL_W;
			g->node[k].y = MARGIN + (int)row * ROW_H;
		}
		row++;
		i = j;
	}
	int right = SIDE + (int)cols * COL_W - (COL_W - BOX_W);
	g->lane_l = SIDE - 12;
	g->lane_r = right + 34; /* past the self-loops */
	g->width = g->lane_r + SIDE - 10;
	g->height = 2 * MARGIN + (row ? (int)row * ROW_H - (ROW_H - BOX_H) : 20);
}

/* Flags of a against b: in the trace (trace = 1) what b lacks is extra,
 * in the template what b lacks is absent. */
static void
lg_compare(struct lgraph *a, const struct lgraph *b, int trace)
{
	uint32_t flag = trace ? LG_EXTRA : LG_ABSENT;
	for (uint32_t i = 0; i < a->n_node; i++)
		if (lg_find(b, a->node[i].sym) == UINT32_MAX)
			a->node[i].flags |= flag;
	for (uint32_t k = 0; k < a->n_edge; k++)
		if (!lg_has_pair(b, a->node[a->edge[k].from].sym, a->node[a->edge[k].to].sym))
			a->edge[k].flags |= flag;
}

/* Node index drawn for DAG node i, or UINT32_MAX. */
static uint32_t
lg_drawn(const struct lgraph *g, uint32_t n_dag, int64_t i)
{
	if (i < 0 || (uint64_t)i >= n_dag)
		return UINT32_MAX;
	return g->shown[g->of[i]];
}

static void
lg_svg(FILE *f, const struct lgraph *g, unsigned id)
{
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
	        g->width, g->height, g->width, g->height);
	static const struct { const char *name, *colour; } mk[] = {
		{"n", "#555"}, {"x", "#e8590c"}, {"g", "#aaa"}};
	fputs("<defs>", f);
	for (unsigned k = 0; k < 3; k++)
		fprintf(f, "<marker id=\"m%u%s\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
		           "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
		           "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"%s\"/></marker>",
		        id, mk[k].name, mk[k].colour);
	fputs("</defs>\n", f);
	if (!g->n_node)
		fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#777\">(no events)</text>\n", SIDE, MARGIN + 10);
	for (uint32_t k = 0; k < g->n_edge; k++) {
		const struct lg_edge *e = &g->edge[k];
		const struct lg_node *a = &g->node[e->from], *b = &g->node[e->to];
		const char *cls = e->flags & LG_EXTRA ? "x" : e->flags & LG_ABSENT ? "g" : "n";
		fprintf(f, "<path class=\"e%s\" marker-end=\"url(#m%u%s)\" d=\"", cls, id, cls);
		int lane = (int)(k % LANES) * LANE_W, gap = 6 + (int)(k % LANES) * 4;
		if (e->from == e->to)
			fprintf(f, "M%d,%d C%d,%d %d,%d %d,%d", a->x + BOX_W, a->y + 8,
			        a->x + BOX_W + 28, a->y - 8, a->x + BOX_W + 28, a->y + BOX_H + 8,
			        a->x + BOX_W, a->y + BOX_H - 8);
		else if (b->y == a->y + ROW_H)
			fprintf(f, "M%d,%d C%d,%d %d,%d %d,%d", a->x + BOX_W / 2, a->y + BOX_H,
			        a->x + BOX_W / 2, a->y + BOX_H + 30, b->x + BOX_W / 2, b->y - 30,
			        b->x + BOX_W / 2, b->y);
		else if (b->y > a->y) /* skips rows: down the left lanes */
			fprintf(f, "M%d,%d V%d H%d V%d H%d V%d", a->x + 24, a->y + BOX_H,
			        a->y + BOX_H + gap, g->lane_l - lane, b->y - gap, b->x + 24, b->y);
		else /* same row or upwards: up the right lanes */
			fprintf(f, "M%d,%d V%d H%d V%d H%d V%d", a->x + BOX_W - 24, a->y + BOX_H,
			        a->y + BOX_H + gap, g->lane_r + lane, b->y - gap, b->x + BOX_W - 24, b->y);
		fputs("\"/>\n", f);
	}
	for (uint32_t i = 0; i < g->n_node; i++) {
		const struct lg_node *v = &g->node[i];
		char buf[64], db[32];
		const char *t = label_text(v->text, v->sym, buf, sizeof buf);
		const char *cls = v->flags & LG_SLOW ? "slow" : v->flags & LG_EXTRA ? "extra"
		                : v->flags & LG_ABSENT ? "absent" : "norm";
		fputs("<g><title>", f);
		put_esc(f, t, 0);
		fprintf(f, " \xC3\x97%u%s%s%s</title>", v->count,
		        v->flags & LG_EXTRA ? " (not in the template)" : "",
		        v->flags & LG_ABSENT ? " (not in the trace)" : "",
		        v->flags & LG_NEW ? " (new piece)" : "");
		fprintf(f, "<rect class=\"%s%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"4\"/>",
		        cls, v->flags & LG_NEW ? " new" : "", v->x, v->y, BOX_W, BOX_H);
		fprintf(f, "<text x=\"%d\" y=\"%d\"%s>", v->x + 6, v->y + 14,
		        v->flags & LG_ABSENT ? " fill=\"#888\"" : "");
		put_esc(f, t, LG_TEXT_MAX);
		fprintf(f, "</text><text x=\"%d\" y=\"%d\" fill=\"#555\">\xC3\x97%u", v->x + 6,
		        v->y + 28, v->count);
		if (v->flags & LG_SLOW)
			fprintf(f, " \xC2\xB7 slow %s", v->slow_ns == UINT64_MAX ? "?" :
			        fmt_dur(db, sizeof db, v->slow_ns));
		else if (v->flags & LG_NEW)
			fputs(" \xC2\xB7 new piece", f);
		else if (v->flags & (LG_EXTRA | LG_ABSENT))
			fputs(v->flags & LG_EXTRA ? " \xC2\xB7 extra" : " \xC2\xB7 missing", f);
		fputs("</text></g>\n", f);
	}
	fputs("</svg>\n", f);
}

static void
lg_figure(FILE *f, const struct lgraph *g, unsigned id, const char *caption)
{
	fputs("<figure>", f);
	lg_svg(f, g, id);
	fprintf(f, "<figcaption>%s: %u labels, %u label pairs", caption, g->n_syms, g->n_keys);
	if (g->hidden_nodes || g->hidden_edges)
		fprintf(f, " (%u labels and %u arrows not drawn: at most %d and %d per drawing)",
		        g->hidden_nodes, g->hidden_edges, LG_MAX_NODES, LG_MAX_EDGES);
	fputs("</figcaption></figure>\n", f);
}

/* ---- header --------------------------------------------------------------- */

static const char css[] =
	"body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1700px}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"section{border-top:2px solid #ddd;margin-top:1.5em}"
	".pair{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
	".pair figure{margin:0;flex:1 1 45%;min-width:320px}"
	"svg{max-width:100%;height:auto;border:1px solid #eee;background:#fff}"
	"figcaption{font-size:85%;color:#555}"
	".expl{background:#fff8e6;padding:4px 8px;font-family:monospace}"
	".note{color:#666;font-size:90%}"
	"rect.norm{fill:#eef3fb;stroke:#5b7db1}"
	"rect.extra{fill:#ffe0cc;stroke:#e8590c}"
	"rect.slow{fill:#ffd966;stroke:#b8860b}"
	"rect.absent{fill:#f4f4f4;stroke:#999;stroke-dasharray:4 3}"
	"rect.new{stroke:#d00000;stroke-width:3}"
	"path.en{fill:none;stroke:#555}"
	"path.ex{fill:none;stroke:#e8590c;stroke-width:1.8}"
	"path.eg{fill:none;stroke:#aaa;stroke-dasharray:5 4}";

static int
cmp_top_ptr(const void *a, const void *b)
{
	const struct op_check_top *x = *(const struct op_check_top *const *)a;
	const struct op_check_top *y = *(const struct op_check_top *const *)b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static void
write_header(FILE *f, struct op_check_config *cfg)
{
	const struct op_check_report *r = cfg->report;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
	           "<title>weft model check report</title><style>%s</style></head><body>\n"
	           "<h1>weft model check report</h1>\n", css);
	if (cfg->model) {
		struct cluster_model_info mi;
		cluster_model_info(cfg->model, &mi);
		fputs("<h2>Model</h2><table><tr><th>file</th><td>", f);
		put_esc(f, cfg->model_path, 0);
		fprintf(f, "</td></tr><tr><th>templates</th><td class=\"n\">%u</td></tr>"
		           "<tr><th>training traces</th><td class=\"n\">%" PRIu64 "</td></tr>"
		           "<tr><th>distinct shapes</th><td class=\"n\">%" PRIu64 "</td></tr>"
		           "<tr><th>distinct pieces</th><td class=\"n\">%" PRIu64 "</td></tr>"
		           "<tr><th>filter</th><td class=\"n\">%" PRIu64 " KiB, fpr %.2g</td></tr>"
		           "<tr><th>template threshold</th><td class=\"n\">%.3g</td></tr>"
		           "<tr><th>slow when</th><td>&gt; %.3g \xC3\x97 the p%.4g latency (floor %.3g ms)"
		           "</td></tr></table>\n",
		        mi.n_templates, mi.traces, mi.shapes, mi.pieces, mi.filter_bytes / 1024,
		        mi.filter_fpr, mi.params.threshold, mi.params.slow_factor,
		        mi.params.slow_quantile * 100, (double)mi.params.slow_floor_ns / 1e6);
	}
	uint64_t total = 0;
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
		total += atomic_load(&cfg->by_verdict[v]);
	fprintf(f, "<h2>Verdicts</h2><table><tr><th>verdict</th><th>traces</th><th>%%</th></tr>\n");
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++) {
		uint64_t n = atomic_load(&cfg->by_verdict[v]);
		if (v == OP_VERDICT_NONE && !n)
			continue;
		fprintf(f, "<tr><td>%s</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.2f</td></tr>\n",
		        v == OP_VERDICT_NONE ? "none (check error)" : op_verdict_name(v), n,
		        total ? 100.0 * (double)n / (double)total : 0.0);
	}
	fprintf(f, "<tr><th>total</th><td class=\"n\">%" PRIu64 "</td><td></td></tr></table>\n", total);
	fputs("<p class=\"note\">Timestamps come from each host's own clock, and the clocks are "
	      "not synchronised: every duration here (a trace's, an event's) is taken on one "
	      "host only, never across hosts.</p>\n", f);
	if (!r || !r->n_top)
		return;
	const struct op_check_top **top = malloc(r->n_top * sizeof *top);
	if (!top) {
		fputs("<p class=\"note\">(explanations not shown: out of memory)</p>\n", f);
		return;
	}
	for (size_t i = 0; i < r->n_top; i++)
		top[i] = &r->top[i];
	qsort(top, r->n_top, sizeof *top, cmp_top_ptr);
	size_t shown = cfg->top_max ? cfg->top_max : 10;
	shown = shown < r->n_top ? shown : r->n_top;
	fputs("<h2>Top explanations</h2><table><tr><th>anomalies</th><th>verdict</th>"
	      "<th>explanation</th></tr>\n", f);
	for (size_t i = 0; i < shown; i++) {
		fprintf(f, "<tr><td class=\"n\">%" PRIu64 "</td><td>%s</td><td>", top[i]->n,
		        op_verdict_name(top[i]->verdict));
		put_esc(f, top[i]->key, 0);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	if (shown < r->n_top)
		fprintf(f, "<p class=\"note\">%zu more explanations not listed.</p>\n", r->n_top - shown);
	free(top);
}

/* ---- anomalies ------------------------------------------------------------ */

static void
write_legend(FILE *f)
{
	static const struct { const char *cls, *text; } item[] = {
		{"norm", "label in both"}, {"extra", "only in the trace"},
		{"norm new", "has a new piece"}, {"slow", "the slow label"},
		{"absent", "only in the template"}};
	fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"52\" "
	      "font-family=\"sans-serif\" font-size=\"11\">\n", f);
	for (unsigned i = 0; i < 5; i++)
		fprintf(f, "<rect class=\"%s\" x=\"%u\" y=\"6\" width=\"24\" height=\"14\" rx=\"3\"/>"
		           "<text x=\"%u\" y=\"17\">%s</text>\n",
		        item[i].cls, 8 + i * 170, 38 + i * 170, item[i].text);
	fputs("<path class=\"en\" d=\"M8,38 H32\"/><text x=\"38\" y=\"42\">pair in both</text>"
	      "<path class=\"ex\" d=\"M178,38 H202\"/><text x=\"208\" y=\"42\">pair only in the trace</text>"
	      "<path class=\"eg\" d=\"M348,38 H372\"/><text x=\"378\" y=\"42\">pair only in the template</text>"
	      "<text x=\"518\" y=\"42\">\xC3\x97N: events with the label</text>\n</svg>\n"
	      "<p class=\"note\">Arrows that skip rows run down the left side; arrows that go up or "
	      "sideways (a repeated block starting again) run up the right side.</p>\n", f);
}

static void
write_item(FILE *f, const struct op_check_config *cfg, const struct op_report_item *it,
           unsigned k, struct op_trace_view *view)
{
	const struct op_trace *t = it->trace;
	char b1[32], b2[32];
	struct cluster_template_view tv;
	int have_t = it->tmpl >= 0 && cfg->model &&
	             !cluster_model_template(cfg->model, (uint32_t)it->tmpl, &tv);
	fprintf(f, "<section id=\"a%u\"><h3>%u. trace %016" PRIx64 " \xE2\x80\x94 %s</h3>\n",
	        k, k, t->trace_id, op_verdict_name(it->verdict));
	fputs("<p class=\"expl\">", f);
	put_esc(f, it->explanation, 0);
	fputs("</p>\n<table><tr><th>template</th><td>", f);
	if (have_t)
		fprintf(f, "%d (%" PRIu64 " training traces)", (int)it->tmpl, tv.weight);
	else if (it->tmpl >= 0)
		fprintf(f, "%d (not in the current model)", (int)it->tmpl);
	else
		fputs("none", f);
	fprintf(f, "</td><th>edit distance</th><td class=\"n\">%u</td><th>new pieces</th>"
	           "<td class=\"n\">%u%s</td></tr>\n",
	        it->distance, it->n_new, it->n_new == CLUSTER_MAX_NEW ? "+" : "");
	fprintf(f, "<tr><th>events</th><td class=\"n\">%u (%u missing)</td><th>edges</th>"
	           "<td class=\"n\">%u</td><th>duration</th><td class=\"n\">%s",
	        t->n_events, t->missing, t->n_edges, fmt_dur(b1, sizeof b1, t->duration_ns));
	if (have_t && tv.duration_thr_ns)
		fprintf(f, " (threshold %s)", fmt_dur(b2, sizeof b2, tv.duration_thr_ns));
	fprintf(f, "</td></tr>\n<tr><th>epochs</th><td class=\"n\">%" PRIu64 "\xE2\x80\x93%" PRIu64
	           ", emitted in %" PRIu64 "</td><th>flags</th><td colspan=\"3\">%s%s%s%s</td></tr>"
	           "</table>\n",
	        t->first_epoch, t->last_epoch, t->emit_epoch,
	        t->flags & OP_TRACE_DANGLING ? "dangling " : "",
	        t->flags & OP_TRACE_MALFORMED ? "cycles-broken " : "",
	        t->flags & OP_TRACE_END_LABEL ? "end-label " : "",
	        t->flags & OP_TRACE_FLUSHED ? "flushed" : "");
	struct lgraph tg, pg;
	memset(&pg, 0, sizeof pg);
	if (op_trace_view_fill(view, t) ||
	    lg_build(&tg, &view->dag, view->text, cfg->model)) {
		fputs("<p class=\"note\">(not drawn: out of memory)</p></section>\n", f);
		return;
	}
	if (have_t && lg_build(&pg, &tv.dag, NULL, cfg->model)) {
		fputs("<p class=\"note\">(template not drawn: out of memory)</p>\n", f);
		have_t = 0;
	}
	uint32_t n = t->n_events;
	for (uint32_t j = 0; j < it->n_new && j < CLUSTER_MAX_NEW; j++) {
		uint32_t d = lg_drawn(&tg, n, it->new_node[j]);
		if (d != UINT32_MAX)
			tg.node[d].flags |= LG_NEW;
	}
	uint32_t d = lg_drawn(&tg, n, it->slow_node);
	if (d != UINT32_MAX) {
		const struct op_trace_event *ev = op_trace_events(t) + it->slow_node;
		tg.node[d].flags |= LG_SLOW;
		tg.node[d].slow_ns = (ev->flags & OP_TEV_HAS_END) && ev->end_ns >= ev->start_ns
		                         ? ev->end_ns - ev->start_ns : UINT64_MAX;
	}
	if (have_t) {
		lg_compare(&tg, &pg, 1);
		lg_compare(&pg, &tg, 0);
	}
	lg_layout(&tg);
	fputs("<div class=\"pair\">\n", f);
	if (have_t) {
		lg_layout(&pg);
		snprintf(b1, sizeof b1, "template %d", (int)it->tmpl);
		lg_figure(f, &pg, 2 * k, b1);
	}
	lg_figure(f, &tg, 2 * k + 1, "anomalous trace");
	fputs("</div></section>\n", f);
	lg_free(&tg);
	lg_free(&pg);
}

static int
cmp_item_ptr(const void *a, const void *b)
{
	const struct op_report_item *x = *(const struct op_report_item *const *)a;
	const struct op_report_item *y = *(const struct op_report_item *const *)b;
	if (x->verdict != y->verdict)
		return x->verdict < y->verdict ? -1 : 1;
	if (x->tmpl != y->tmpl)
		return x->tmpl < y->tmpl ? -1 : 1;
	return cmp_u64(&x->trace->trace_id, &y->trace->trace_id);
}

static void
write_items(FILE *f, const struct op_check_config *cfg)
{
	const struct op_check_report *r = cfg->report;
	size_t n = 0;
	const struct op_report_item **item = malloc(((r ? r->n_items : 0) + 1) * sizeof *item);
	fprintf(f, "<h2>Anomalies</h2>\n");
	if (!item) {
		fputs("<p class=\"note\">(not shown: out of memory)</p>\n", f);
		return;
	}
	for (size_t i = 0; r && i < r->n_items; i++)
		if (r->items[i].trace)
			item[n++] = &r->items[i];
	qsort(item, n, sizeof *item, cmp_item_ptr);
	size_t shown = n < REPORT_MAX_ITEMS ? n : REPORT_MAX_ITEMS;
	uint64_t more = (r ? r->items_dropped : 0) + (n - shown);
	if (!n)
		fputs("<p>No anomalous trace was kept.</p>\n", f);
	else
		fputs("<ol>\n", f);
	for (size_t i = 0; i < shown; i++) {
		fprintf(f, "<li><a href=\"#a%zu\">%016" PRIx64 "</a> %s: ", i + 1,
		        item[i]->trace->trace_id, op_verdict_name(item[i]->verdict));
		put_esc(f, item[i]->explanation, 160);
		fputs("</li>\n", f);
	}
	if (n)
		fputs("</ol>\n", f);
	if (more)
		fprintf(f, "<p class=\"note\">%" PRIu64 " more anomalies were not kept for the report "
		           "(see the anomalies file).</p>\n", more);
	if (!n) {
		free(item);
		return;
	}
	fputs("<p>Each anomaly is drawn as its <b>label graph</b>: one box per distinct label "
	      "(with how many events carry it), one arrow per distinct parent-label \xE2\x86\x92 "
	      "child-label pair, layered by depth. The nearest template is on the left, the "
	      "trace on the right.</p>\n", f);
	write_legend(f);
	struct op_trace_view view;
	memset(&view, 0, sizeof view);
	for (size_t i = 0; i < shown; i++)
		write_item(f, cfg, item[i], (unsigned)(i + 1), &view);
	op_trace_view_free(&view);
	free(item);
}

/* ---- heatmaps ------------------------------------------------------------- */

struct heat_group {
	uint32_t tmpl;
	size_t first, n;   /* run in the sorted cell order */
	uint64_t total;
};

static int
cmp_cell(const void *a, const void *b)
{
	const struct op_heat_cell *x = *(const struct op_heat_cell *const *)a;
	const struct op_heat_cell *y = *(const struct op_heat_cell *const *)b;
	if (x->tmpl != y->tmpl)
		return x->tmpl < y->tmpl ? -1 : 1;
	return cmp_u64(&x->epoch, &y->epoch);
}

static int
cmp_group(const void *a, const void *b)
{
	const struct heat_group *x = a, *y = b;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->tmpl < y->tmpl ? -1 : x->tmpl > y->tmpl;
}

/* White to dark blue, t in [0, 1]. */
static void
heat_colour(char *buf, size_t len, double t)
{
	unsigned r = (unsigned)(255 - t * (255 - 8)), g = (unsigned)(255 - t * (255 - 48));
	unsigned b = (unsigned)(255 - t * (255 - 107));
	snprintf(buf, len, "#%02x%02x%02x", r, g, b);
}

/* One significant digit (a bucket bound worth a tick: 30 ms, not 35 ms). */
static int
nice(uint64_t v)
{
	while (v >= 10 && v % 10 == 0)
		v /= 10;
	return v < 10;
}

/* One heatmap: epochs [emin, emin + span) binned into ncols columns, buckets
 * bmin..bmax; grid[c * nb + (b - bmin)] counts traces; geometry in px. */
struct heat {
	uint64_t emin, span, max, thr;
	unsigned ncols, bmin, bmax, nb;
	uint64_t *grid;
	int cw, ch, left, top, gw, gh;
};

/* First epoch of column c. */
static uint64_t
heat_epoch(const struct heat *h, unsigned c)
{
	return h->emin + ((uint64_t)c * h->span + h->ncols - 1) / h->ncols;
}

/* Ranges and the binned grid. 0, WEFT_ENOTFOUND (nothing counted) or
 * WEFT_ENOMEM. */
static int
heat_fill(struct heat *h, const struct op_heat_cell *const *cell, size_t n)
{
	h->emin = cell[0]->epoch;
	h->span = cell[n - 1]->epoch - h->emin + 1;
	h->ncols = h->span < HEAT_MAX_COLS ? (unsigned)h->span : HEAT_MAX_COLS;
	h->bmin = CLUSTER_LLQ_BUCKETS;
	h->bmax = 0;
	for (size_t i = 0; i < n; i++)
		for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++)
			if (cell[i]->h.bucket[b]) {
				h->bmin = b < h->bmin ? b : h->bmin;
				h->bmax = b > h->bmax ? b : h->bmax;
			}
	if (h->bmin > h->bmax)
		return WEFT_ENOTFOUND;
	if (h->thr) {
		unsigned bt = cluster_llq_bucket(h->thr);
		h->bmin = bt < h->bmin ? bt : h->bmin;
		h->bmax = bt > h->bmax ? bt : h->bmax;
	}
	h->nb = h->bmax - h->bmin + 1;
	h->grid = calloc((size_t)h->ncols * h->nb, sizeof *h->grid);
	if (!h->grid)
		return WEFT_ENOMEM;
	h->max = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned)((double)(cell[i]->epoch - h->emin) / (double)h->span * h->ncols);
		c = c < h->ncols ? c : h->ncols - 1;
		for (unsigned b = h->bmin; b <= h->bmax; b++) {
			uint64_t *g = &h->grid[(size_t)c * h->nb + (b - h->bmin)];
			*g += cell[i]->h.bucket[b];
			h->max = *g > h->max ? *g : h->max;
		}
	}
	h->cw = 720 / (int)h->ncols;
	h->ch = 400 / (int)h->nb;
	h->cw = h->cw < 6 ? 6 : h->cw > 40 ? 40 : h->cw;
	h->ch = h->ch < 4 ? 4 : h->ch > 14 ? 14 : h->ch;
	h->left = 70;
	h->top = 10;
	h->gw = h->cw * (int)h->ncols;
	h->gh = h->ch * (int)h->nb;
	return 0;
}

/* Ticks (round bucket bounds at least 12 px apart; a few epochs), the
 * threshold line and the colour scale. */
static void
heat_axes(FILE *f, const struct heat *h)
{
	char d[32], col[16];
	int bottom = h->top + h->gh, last_y = 1 << 30;
	for (unsigned b = h->bmin; b <= h->bmax + 1 && b < CLUSTER_LLQ_BUCKETS; b++) {
		int y = bottom - (int)(b - h->bmin) * h->ch;
		uint64_t lo = cluster_llq_lo(b);
		if (last_y - y < 12 || (b != h->bmin && b != h->bmax + 1 && !nice(lo)))
			continue;
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
		           "<path d=\"M%d,%d h4\" stroke=\"#999\"/>\n",
		        h->left - 6, y + 3, b ? fmt_dur(d, sizeof d, lo) : "0", h->left - 4, y);
		last_y = y;
	}
	for (unsigned c = 0; c < h->ncols; c += (h->ncols + 5) / 6)
		fprintf(f, "<text x=\"%d\" y=\"%d\">%" PRIu64 "</text>\n", h->left + (int)c * h->cw,
		        bottom + 14, heat_epoch(h, c));
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n",
	        h->left + h->gw / 2, bottom + 32);
	if (h->thr) {
		/* within its bucket, linearly; the last bucket is open (>= 100 s) */
		unsigned bt = cluster_llq_bucket(h->thr);
		uint64_t lo = cluster_llq_lo(bt), hi = cluster_llq_hi(bt);
		double frac = hi != UINT64_MAX && hi > lo ? (double)(h->thr - lo) / (double)(hi - lo) : 0;
		int y = bottom - (int)(((double)(bt - h->bmin) + frac) * h->ch);
		fprintf(f, "<path d=\"M%d,%d h%d\" stroke=\"#d00000\" stroke-dasharray=\"6 3\"/>"
		           "<text x=\"%d\" y=\"%d\" fill=\"#d00000\">threshold %s</text>\n",
		        h->left, y, h->gw, h->left + h->gw + 6, y + 3, fmt_dur(d, sizeof d, h->thr));
	}
	for (unsigned s = 0; s < 5; s++) {
		heat_colour(col, sizeof col, (s + 1) / 5.0);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\" stroke=\"#ccc\"/>",
		        h->left + (int)s * 12, bottom + 42, col);
	}
	fprintf(f, "\n<text x=\"%d\" y=\"%d\">1 \xE2\x80\xA6 %" PRIu64 " traces (log)</text>\n",
	        h->left + 66, bottom + 51, h->max);
}

static void
write_heatmap(FILE *f, const struct op_check_config *cfg, const struct heat_group *hg,
              const struct op_heat_cell *const *cell)
{
	struct cluster_template_view tv;
	struct heat h;
	memset(&h, 0, sizeof h);
	int have_t = cfg->model && !cluster_model_template(cfg->model, hg->tmpl, &tv);
	h.thr = have_t ? tv.duration_thr_ns : 0;
	int rc = heat_fill(&h, cell, hg->n);
	if (rc == WEFT_ENOTFOUND)
		return;
	fprintf(f, "<h3>Template %u", hg->tmpl);
	if (have_t)
		fprintf(f, " (%" PRIu64 " training traces)", tv.weight);
	fprintf(f, ": %" PRIu64 " traces, epochs %" PRIu64 "\xE2\x80\x93%" PRIu64 "%s</h3>\n",
	        hg->total, cell[0]->epoch, cell[hg->n - 1]->epoch, h.span > h.ncols ? ", binned" : "");
	if (rc) {
		fputs("<p class=\"note\">(not drawn: out of memory)</p>\n", f);
		return;
	}
	int w = h.left + (h.gw > 200 ? h.gw : 200) + 110, ht = h.top + h.gh + 60;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"10\">\n"
	           "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#ccc\"/>\n",
	        w, ht, w, ht, h.left, h.top, h.gw, h.gh);
	char col[16], d1[32], d2[32];
	double lmax = log1p((double)h.max);
	for (unsigned c = 0; c < h.ncols; c++)
		for (unsigned b = h.bmin; b <= h.bmax; b++) {
			uint64_t v = h.grid[(size_t)c * h.nb + (b - h.bmin)];
			if (!v)
				continue;
			heat_colour(col, sizeof col, log1p((double)v) / lmax);
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
			           "<title>epochs %" PRIu64 "\xE2\x80\x93%" PRIu64 ", %s\xE2\x80\x93%s: %"
			           PRIu64 "</title></rect>\n",
			        h.left + (int)c * h.cw, h.top + h.gh - (int)(b - h.bmin + 1) * h.ch, h.cw,
			        h.ch, col, heat_epoch(&h, c), heat_epoch(&h, c + 1) - 1,
			        fmt_dur(d1, sizeof d1, cluster_llq_lo(b)),
			        b + 1 < CLUSTER_LLQ_BUCKETS ? fmt_dur(d2, sizeof d2, cluster_llq_hi(b)) : "",
			        v);
		}
	heat_axes(f, &h);
	fputs("</svg>\n", f);
	free(h.grid);
}

static void
write_heatmaps(FILE *f, const struct op_check_config *cfg)
{
	const struct op_check_report *r = cfg->report;
	fputs("<h2>Latency heatmaps</h2>\n<p>Per template: each column is an epoch (or a bin of "
	      "epochs), each row a duration bucket; colour is the number of traces, log scale. "
	      "The dashed red line is the template's duration threshold.</p>\n", f);
	if (!r || !r->n_cells) {
		fputs("<p>No checked trace matched a template.</p>\n", f);
		return;
	}
	const struct op_heat_cell **cell = malloc(r->n_cells * sizeof *cell);
	struct heat_group *grp = malloc(r->n_cells * sizeof *grp);
	if (!cell || !grp) {
		fputs("<p class=\"note\">(not drawn: out of memory)</p>\n", f);
		goto out;
	}
	for (size_t i = 0; i < r->n_cells; i++)
		cell[i] = &r->cells[i];
	qsort(cell, r->n_cells, sizeof *cell, cmp_cell);
	size_t ng = 0;
	for (size_t i = 0; i < r->n_cells; i++) {
		if (!ng || grp[ng - 1].tmpl != cell[i]->tmpl)
			grp[ng++] = (struct heat_group){cell[i]->tmpl, i, 0, 0};
		grp[ng - 1].n++;
		grp[ng - 1].total += cell[i]->h.n;
	}
	qsort(grp, ng, sizeof *grp, cmp_group);
	for (size_t g = 0; g < ng && g < HEAT_MAX_TMPL; g++)
		write_heatmap(f, cfg, &grp[g], cell + grp[g].first);
	if (ng > HEAT_MAX_TMPL)
		fprintf(f, "<p class=\"note\">%zu less busy templates not drawn.</p>\n",
		        ng - HEAT_MAX_TMPL);
out:
	free(cell);
	free(grp);
}

int
op_check_write_report(struct op_check_config *cfg, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return WEFT_EIO;
	write_header(f, cfg);
	write_items(f, cfg);
	write_heatmaps(f, cfg);
	fputs("</body></html>\n", f);
	int bad = ferror(f);
	if (fclose(f) || bad)
		return WEFT_EIO;
	return 0;
}

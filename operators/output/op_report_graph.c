/*
 * op_report_graph.c — the drawing of an anomaly in the HTML report
 * (report_int.h): its label graph, laid out and drawn as inline SVG.
 *
 * A trace DAG has up to hundreds of nodes, mostly a block of events
 * repeated (HDFS writes 1 to 19 blocks), so a node-per-event drawing would
 * be unreadable and unbounded. We draw the LABEL GRAPH instead: one box
 * per distinct label, annotated with how many events carry it, and one
 * arrow per distinct (parent label -> child label) pair. That is the same
 * set view the model's pieces take (model.h), so what is new in a piece
 * shows as a new box or a new arrow. Repetition folds into the count; a
 * label that follows itself gets a loop.
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
 * arrows are drawn per graph; the caption says how many were left out.
 * The template (left) and the trace (right) are compared as sets of labels
 * and label pairs (lg_compare): in the trace, what the template lacks is
 * orange; in the template, what the trace lacks is dashed grey. Labels
 * carrying a new piece are outlined red, the slow label is amber with its
 * duration (the page's CSS, op_report.c, gives the colours).
 * A trace's boxes also carry their hosts (the first by name and a count)
 * and times: the first start after the trace's first event on the same
 * host (hosts' clocks differ, by weeks in the bundled runs, so no offset
 * crosses hosts) and the duration, or the longest and total of several;
 * a template's boxes carry the model's median per label.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/output/report_int.h"
#include "common/common.h"

#define LG_MAX_NODES 80     /* boxes per label graph */
#define LG_MAX_EDGES 400    /* arrows per label graph */
#define LG_PER_ROW 4        /* boxes per row before a layer wraps */
#define LG_TEXT_MAX 26      /* label bytes shown in a box (full text in a tooltip) */
#define BOX_W 180
#define BOX_H 34
#define BOX_H_ANN 60        /* with the hosts and times lines */
#define ANN_TEXT_MAX 36     /* bytes of a hosts / times line */
#define COL_W 200
#define ROW_H 72
#define MARGIN 24
#define LANES 5             /* side lanes for long and upward arrows */
#define LANE_W 6
#define SIDE (LANES * LANE_W + 20) /* room left and right of the boxes for them */

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

void
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
cmp_node(const void *a, const void *b)
{
	const struct lg_node *x = a, *y = b;
	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	int c = strcmp(x->text ? x->text : "", y->text ? y->text : "");
	return c ? c : weft_cmp_u64(&x->sym, &y->sym);
}

static uint32_t
sorted_unique(uint64_t *a, uint32_t n)
{
	if (!n)
		return 0;
	qsort(a, n, sizeof *a, weft_cmp_u64);
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
	const uint64_t *p = g->syms ? bsearch(&sym, g->syms, g->n_syms, sizeof sym, weft_cmp_u64) : NULL;
	return p ? (uint32_t)(p - g->syms) : UINT32_MAX;
}

static int
lg_has_pair(const struct lgraph *g, uint64_t a, uint64_t b)
{
	uint32_t i = lg_find(g, a), j = lg_find(g, b);
	if (i == UINT32_MAX || j == UINT32_MAX || !g->keys)
		return 0;
	uint64_t k = (uint64_t)i << 32 | j;
	return bsearch(&k, g->keys, g->n_keys, sizeof k, weft_cmp_u64) != NULL;
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
int
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
void
lg_layout(struct lgraph *g)
{
	g->box_h = g->annotated ? BOX_H_ANN : BOX_H;
	g->row_h = g->box_h + (ROW_H - BOX_H);
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
			g->node[k].y = MARGIN + (int)row * g->row_h;
		}
		row++;
		i = j;
	}
	int right = SIDE + (int)cols * COL_W - (COL_W - BOX_W);
	g->lane_l = SIDE - 12;
	g->lane_r = right + 34; /* past the self-loops */
	g->width = g->lane_r + SIDE - 10;
	g->height = 2 * MARGIN + (row ? (int)row * g->row_h - (g->row_h - g->box_h) : 20);
}

/* Flags of a against b: in the trace (trace = 1) what b lacks is extra,
 * in the template what b lacks is absent. */
void
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
uint32_t
lg_drawn(const struct lgraph *g, uint32_t n_dag, int64_t i)
{
	if (i < 0 || (uint64_t)i >= n_dag)
		return UINT32_MAX;
	return g->shown[g->of[i]];
}

/* ---- hosts and times on the boxes ---------------------------------------- */

struct hpair {
	uint32_t node;
	const char *host;
};

static int
cmp_hpair(const void *a, const void *b)
{
	const struct hpair *x = a, *y = b;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return strcmp(x->host, y->host);
}

/* Each event's start from the first start on its own host in t (hosts'
 * clocks are not compared: the bundled runs' differ by weeks); first[]
 * gets the host's first start per event. 0 or WEFT_ENOMEM. */
struct hsym {
	uint64_t sym;
	uint32_t i;
};

static int
cmp_hsym(const void *a, const void *b)
{
	const struct hsym *x = a, *y = b;
	return x->sym < y->sym ? -1 : x->sym > y->sym;
}

static int
host_firsts(const struct op_trace *t, uint64_t *first)
{
	uint32_t n = t->n_events;
	const struct op_trace_event *ev = op_trace_events(t);
	struct hsym *ix = malloc(((size_t)n + 1) * sizeof *ix);
	if (!ix)
		return WEFT_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		ix[i] = (struct hsym){ev[i].host_sym, i};
	qsort(ix, n, sizeof *ix, cmp_hsym);
	for (uint32_t a = 0, b; a < n; a = b) {
		uint64_t lo = UINT64_MAX;
		for (b = a; b < n && ix[b].sym == ix[a].sym; b++)
			if (!(ev[ix[b].i].flags & OP_TEV_MISSING) && ev[ix[b].i].start_ns < lo)
				lo = ev[ix[b].i].start_ns;
		for (uint32_t k = a; k < b; k++)
			first[ix[k].i] = lo;
	}
	free(ix);
	return 0;
}

int
lg_annotate_trace(struct lgraph *g, const struct op_trace *t)
{
	uint32_t n = t->n_events, nh = 0;
	const struct op_trace_event *ev = op_trace_events(t);
	struct hpair *hp = malloc(((size_t)n + 1) * sizeof *hp);
	uint64_t *first = malloc(((size_t)n + 1) * sizeof *first);
	if (!hp || !first || host_firsts(t, first)) {
		free(hp);
		free(first);
		return WEFT_ENOMEM;
	}
	for (uint32_t d = 0; d < g->n_node; d++)
		g->node[d].at_ns = INT64_MAX;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t d = lg_drawn(g, n, i);
		if (d == UINT32_MAX || (ev[i].flags & OP_TEV_MISSING))
			continue;
		struct lg_node *v = &g->node[d];
		const char *h = op_trace_str(t, ev[i].host);
		if (h[0])
			hp[nh++] = (struct hpair){d, h};
		if ((int64_t)(ev[i].start_ns - first[i]) < v->at_ns)
			v->at_ns = (int64_t)(ev[i].start_ns - first[i]);
		if ((ev[i].flags & OP_TEV_HAS_END) && ev[i].end_ns >= ev[i].start_ns) {
			uint64_t dur = ev[i].end_ns - ev[i].start_ns;
			v->n_dur++;
			v->dur_sum += dur;
			if (dur > v->dur_max)
				v->dur_max = dur;
		}
	}
	qsort(hp, nh, sizeof *hp, cmp_hpair);
	for (uint32_t k = 0; k < nh; k++) {
		if (k && hp[k].node == hp[k - 1].node && !strcmp(hp[k].host, hp[k - 1].host))
			continue;
		struct lg_node *v = &g->node[hp[k].node];
		if (v->n_hosts < 2)
			v->host[v->n_hosts] = hp[k].host;
		v->n_hosts++;
	}
	free(hp);
	free(first);
	g->annotated = 1;
	return 0;
}

void
lg_annotate_template(struct lgraph *g, const struct cluster_model *m)
{
	for (uint32_t d = 0; d < g->n_node; d++) {
		g->node[d].at_ns = INT64_MAX;
		g->node[d].median_ns = cluster_model_label_median(m, g->node[d].sym);
		g->annotated |= g->node[d].median_ns != 0;
	}
}

/* The box's hosts line: "dn1", "2 hosts: dn1, dn2", "5 hosts: dn1, dn2 +3"
 * (each name cut so that the line stays readable). */
static void
hosts_line(char *out, size_t cap, const struct lg_node *v)
{
	if (v->n_hosts == 1) {
		snprintf(out, cap, "%s", v->host[0]);
		return;
	}
	/* two names when they fit the box, else one and the count of the rest */
	unsigned named = 2;
	size_t len = (size_t)snprintf(out, cap, "%u hosts: %.40s, %.40s", v->n_hosts,
	                              v->host[0], v->host[1]);
	if (len + (v->n_hosts > 2 ? 4 : 0) > ANN_TEXT_MAX) {
		named = 1;
		snprintf(out, cap, "%u hosts: %.40s", v->n_hosts, v->host[0]);
	}
	if (v->n_hosts > named) {
		size_t at = strlen(out);
		snprintf(out + at, cap - at, " +%u", v->n_hosts - named);
	}
}

/* The box's times line: its start from the trace's start, then its
 * duration (one event) or the longest and the total (several). */
static void
times_line(char *out, size_t cap, const struct lg_node *v)
{
	char a[32], b[32], c[32];
	size_t at = 0;
	out[0] = 0;
	if (v->median_ns) {
		snprintf(out, cap, "median %s", report_dur(a, sizeof a, v->median_ns));
		return;
	}
	if (v->at_ns != INT64_MAX)
		at = (size_t)snprintf(out, cap, "%s%s", v->at_ns < 0 ? "\xE2\x88\x92" : "+",
		                      report_dur(a, sizeof a, v->at_ns < 0 ? (uint64_t)-v->at_ns
		                                                           : (uint64_t)v->at_ns));
	if (at >= cap || !v->n_dur)
		return;
	if (v->n_dur == 1)
		snprintf(out + at, cap - at, "%stook %s", at ? ", " : "",
		         report_dur(b, sizeof b, v->dur_max));
	else
		snprintf(out + at, cap - at, "%smax %s \xCE\xA3 %s", at ? ", " : "",
		         report_dur(b, sizeof b, v->dur_max), report_dur(c, sizeof c, v->dur_sum));
}

static void
lg_svg_annotations(FILE *f, const struct lg_node *v)
{
	char hl[128], tl[96];
	hl[0] = 0;
	if (v->n_hosts)
		hosts_line(hl, sizeof hl, v);
	times_line(tl, sizeof tl, v);
	if (hl[0]) {
		fprintf(f, "<text class=\"hosts\" x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#333\">",
		        v->x + 6, v->y + 41);
		report_esc(f, hl, ANN_TEXT_MAX);
		fputs("</text>", f);
	}
	if (tl[0]) {
		fprintf(f, "<text class=\"times\" x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#333\">",
		        v->x + 6, v->y + (hl[0] ? 54 : 41));
		report_esc(f, tl, ANN_TEXT_MAX);
		fputs("</text>", f);
	}
}

/* The full hosts and times, in the box's tooltip. */
static void
lg_title_annotations(FILE *f, const struct lg_node *v)
{
	char a[32], b[32];
	if (v->n_hosts) {
		fputs("\nhosts: ", f);
		report_esc(f, v->host[0], 0);
		if (v->n_hosts > 1) {
			fputs(", ", f);
			report_esc(f, v->host[1], 0);
		}
		if (v->n_hosts > 2)
			fprintf(f, " and %u more", v->n_hosts - 2);
	}
	if (v->at_ns != INT64_MAX)
		fprintf(f, "\nfirst start: %s%s after the trace's first event on the same host "
		           "(hosts' clocks are not compared)",
		        v->at_ns < 0 ? "-" : "",
		        report_dur(a, sizeof a, v->at_ns < 0 ? (uint64_t)-v->at_ns : (uint64_t)v->at_ns));
	if (v->n_dur)
		fprintf(f, "\nlongest %s, total %s over %u events with an end",
		        report_dur(a, sizeof a, v->dur_max), report_dur(b, sizeof b, v->dur_sum), v->n_dur);
	if (v->median_ns)
		fprintf(f, "\nmedian in training: %s", report_dur(a, sizeof a, v->median_ns));
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
			        a->x + BOX_W + 28, a->y - 8, a->x + BOX_W + 28, a->y + g->box_h + 8,
			        a->x + BOX_W, a->y + g->box_h - 8);
		else if (b->y == a->y + g->row_h)
			fprintf(f, "M%d,%d C%d,%d %d,%d %d,%d", a->x + BOX_W / 2, a->y + g->box_h,
			        a->x + BOX_W / 2, a->y + g->box_h + 30, b->x + BOX_W / 2, b->y - 30,
			        b->x + BOX_W / 2, b->y);
		else if (b->y > a->y) /* skips rows: down the left lanes */
			fprintf(f, "M%d,%d V%d H%d V%d H%d V%d", a->x + 24, a->y + g->box_h,
			        a->y + g->box_h + gap, g->lane_l - lane, b->y - gap, b->x + 24, b->y);
		else /* same row or upwards: up the right lanes */
			fprintf(f, "M%d,%d V%d H%d V%d H%d V%d", a->x + BOX_W - 24, a->y + g->box_h,
			        a->y + g->box_h + gap, g->lane_r + lane, b->y - gap, b->x + BOX_W - 24, b->y);
		fputs("\"/>\n", f);
	}
	for (uint32_t i = 0; i < g->n_node; i++) {
		const struct lg_node *v = &g->node[i];
		char buf[64], db[32];
		const char *t = label_text(v->text, v->sym, buf, sizeof buf);
		const char *cls = v->flags & LG_SLOW ? "slow" : v->flags & LG_EXTRA ? "extra"
		                : v->flags & LG_ABSENT ? "absent" : "norm";
		fputs("<g><title>", f);
		report_esc(f, t, 0);
		fprintf(f, " \xC3\x97%u%s%s%s", v->count,
		        v->flags & LG_EXTRA ? " (not in the template)" : "",
		        v->flags & LG_ABSENT ? " (not in the trace)" : "",
		        v->flags & LG_NEW ? " (new piece)" : "");
		if (g->annotated)
			lg_title_annotations(f, v);
		fputs("</title>", f);
		fprintf(f, "<rect class=\"%s%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"4\"/>",
		        cls, v->flags & LG_NEW ? " new" : "", v->x, v->y, BOX_W, g->box_h);
		fprintf(f, "<text x=\"%d\" y=\"%d\"%s>", v->x + 6, v->y + 14,
		        v->flags & LG_ABSENT ? " fill=\"#888\"" : "");
		report_esc(f, t, LG_TEXT_MAX);
		fprintf(f, "</text><text x=\"%d\" y=\"%d\" fill=\"#555\">\xC3\x97%u", v->x + 6,
		        v->y + 28, v->count);
		if (v->flags & LG_SLOW)
			fprintf(f, " \xC2\xB7 slow %s", v->slow_ns == UINT64_MAX ? "?" :
			        report_dur(db, sizeof db, v->slow_ns));
		else if (v->flags & LG_NEW)
			fputs(" \xC2\xB7 new piece", f);
		else if (v->flags & (LG_EXTRA | LG_ABSENT))
			fputs(v->flags & LG_EXTRA ? " \xC2\xB7 extra" : " \xC2\xB7 missing", f);
		fputs("</text>", f);
		if (g->annotated)
			lg_svg_annotations(f, v);
		fputs("</g>\n", f);
	}
	fputs("</svg>\n", f);
}

void
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

/*
 * op_report_heat.c — the latency heatmaps of the HTML report
 * (report_int.h), as inline SVG.
 *
 * Per template (the HEAT_MAX_TMPL busiest): x = the traces' start time on
 * their own (root host's) clock, y = llquantize bucket of the trace's
 * same-host duration, only the range that occurs (plus the threshold's);
 * colour = count on a log scale. The template's duration threshold is a
 * dashed line, placed linearly within its bucket. The cells come from the
 * check operator (op_check_config.report, check_int.h): one llquantize
 * histogram per (template, second of start).
 *
 * The time axis. Hosts' clocks differ (the bundled runs were recorded
 * weeks apart), so a linear axis would squeeze every run into one column.
 * Long stretches without a trace become breaks instead: the largest gaps
 * first, each one as long as HEAT_BREAK_COLS columns of the remaining
 * span would be, at most HEAT_MAX_SEGS runs. The remaining time is cut
 * into columns of a round width (1 s, 2 s, 5 s, ... 1 d) chosen for about
 * HEAT_TARGET_COLS columns, aligned to multiples of the width; each break
 * is drawn as a zigzag with the time it left out. Labels are UTC.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/output/report_int.h"

#define HEAT_MAX_TMPL 12
#define HEAT_TARGET_COLS 60
#define HEAT_MAX_SEGS 8     /* runs of time, separated by breaks */
#define HEAT_BREAK_COLS 20  /* a gap longer than this many columns breaks */
#define GAP_W 16            /* px of a break */

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
	return x->start_s < y->start_s ? -1 : x->start_s > y->start_s;
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

/* A run of time with traces: seconds [s0, s1], columns [col0, col0 +
 * ncols), the first starting at t0 (a multiple of the column width). */
struct heat_seg {
	uint64_t s0, s1, t0;
	unsigned col0, ncols;
};

/* One heatmap: columns of bin_s seconds in nseg runs, buckets bmin..bmax;
 * grid[c * nb + (b - bmin)] counts traces; geometry in px. */
struct heat {
	uint64_t max, thr, bin_s;
	unsigned ncols, bmin, bmax, nb, nseg;
	struct heat_seg seg[HEAT_MAX_SEGS];
	uint64_t *grid;
	int cw, ch, left, top, gw, gh;
};

/* Start second of column c (of run k). */
static uint64_t
col_start(const struct heat *h, unsigned k, unsigned c)
{
	return h->seg[k].t0 + (uint64_t)(c - h->seg[k].col0) * h->bin_s;
}

/* x of column c of run k: the breaks before it take GAP_W each. */
static int
col_x(const struct heat *h, unsigned k, unsigned c)
{
	return h->left + (int)c * h->cw + (int)k * GAP_W;
}

/* The round column width (seconds) for at most HEAT_TARGET_COLS columns
 * over `active` seconds. */
static uint64_t
bin_width(uint64_t active)
{
	static const uint64_t w[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
	                             7200, 10800, 21600, 43200, 86400, 172800, 604800};
	uint64_t want = (active + HEAT_TARGET_COLS - 1) / HEAT_TARGET_COLS;
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (w[i] >= want)
			return w[i];
	return (want + 86399) / 86400 * 86400;
}

static int
cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x > y ? -1 : x < y;
}

/* The runs of time and the column width. gap[] is scratch for n values. */
static void
heat_runs(struct heat *h, const struct op_heat_cell *const *cell, size_t n, uint64_t *gap)
{
	uint64_t first = cell[0]->start_s, last = cell[n - 1]->start_s, cut = UINT64_MAX;
	size_t ng = 0;
	for (size_t i = 1; i < n; i++)
		if (cell[i]->start_s > cell[i - 1]->start_s + 1)
			gap[ng++] = cell[i]->start_s - cell[i - 1]->start_s;
	qsort(gap, ng, sizeof *gap, cmp_u64_desc);
	/* the largest gaps break while each is longer than HEAT_BREAK_COLS
	 * columns of what would remain */
	uint64_t active = last - first + 1;
	unsigned breaks = 0;
	for (size_t i = 0; i < ng && breaks + 1 < HEAT_MAX_SEGS; i++) {
		uint64_t rest = active - (gap[i] - 1);
		if (gap[i] <= (uint64_t)HEAT_BREAK_COLS * bin_width(rest))
			break;
		active = rest;
		cut = gap[i];
		breaks++;
	}
	/* gaps of exactly the smallest breaking length beyond the count
	 * stay (ties): count them off in order below */
	h->bin_s = bin_width(active);
	h->nseg = 0;
	unsigned left = breaks;
	for (size_t i = 0; i < n; i++) { /* cells are sorted by start */
		uint64_t t = cell[i]->start_s;
		struct heat_seg *run = h->nseg ? &h->seg[h->nseg - 1] : NULL;
		if (run && !(left && t > run->s1 + 1 && t - run->s1 >= cut)) {
			run->s1 = t; /* no break here */
			continue;
		}
		if (run)
			left--;
		h->seg[h->nseg++] = (struct heat_seg){t, t, t - t % h->bin_s, 0, 0};
	}
	h->ncols = 0;
	for (unsigned k = 0; k < h->nseg; k++) {
		struct heat_seg *g = &h->seg[k];
		g->col0 = h->ncols;
		g->ncols = (unsigned)((g->s1 - g->t0) / h->bin_s + 1);
		h->ncols += g->ncols;
	}
}

/* Ranges and the binned grid. 0, WEFT_ENOTFOUND (nothing counted) or
 * WEFT_ENOMEM. */
static int
heat_fill(struct heat *h, const struct op_heat_cell *const *cell, size_t n)
{
	uint64_t *gap = malloc((n + 1) * sizeof *gap);
	if (!gap)
		return WEFT_ENOMEM;
	heat_runs(h, cell, n, gap);
	free(gap);
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
	unsigned k = 0;
	for (size_t i = 0; i < n; i++) {
		while (k + 1 < h->nseg && cell[i]->start_s > h->seg[k].s1)
			k++;
		unsigned c = h->seg[k].col0 +
		             (unsigned)((cell[i]->start_s - h->seg[k].t0) / h->bin_s);
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
	h->gw = h->cw * (int)h->ncols + (int)(h->nseg - 1) * GAP_W;
	h->gh = h->ch * (int)h->nb;
	return 0;
}

/* UTC text of second t: the date and time (full), or the time only;
 * seconds shown when the columns are narrower than a minute, the time
 * left out when they are days wide. */
static const char *
utc_text(char *buf, size_t len, uint64_t t, uint64_t bin_s, int full)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	if (bin_s >= 86400)
		strftime(buf, len, "%Y-%m-%d", &tm);
	else if (bin_s < 60 && full)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else if (bin_s < 60)
		strftime(buf, len, "%H:%M:%S", &tm);
	else if (full)
		strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
	else
		strftime(buf, len, "%H:%M", &tm);
	return buf;
}

/* A span of seconds, short: "45 s", "12 min", "5 h 20 min", "21 d 3 h". */
static const char *
span_text(char *buf, size_t len, uint64_t s)
{
	if (s < 120)
		snprintf(buf, len, "%" PRIu64 " s", s);
	else if (s < 7200)
		snprintf(buf, len, "%" PRIu64 " min", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 " d %" PRIu64 " h", s / 86400, s % 86400 / 3600);
	return buf;
}

/* The time axis: labels at least their width apart (the first of each run
 * and of each day with the date), and a zigzag for each break, with the
 * time it leaves out. */
static void
heat_time_axis(FILE *f, const struct heat *h)
{
	char t[48], g[48];
	int bottom = h->top + h->gh, next_x = 0;
	int last_day = -1;
	for (unsigned k = 0; k < h->nseg; k++) {
		const struct heat_seg *sg = &h->seg[k];
		if (k) {
			int x = col_x(h, k, sg->col0) - GAP_W;
			span_text(g, sizeof g, sg->s0 - h->seg[k - 1].s1);
			fprintf(f, "<rect class=\"gap\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			           "fill=\"#f4f4f4\"><title>no trace for %s</title></rect>"
			           "<path d=\"M%d,%d l4,6 l-4,6 l4,6\" stroke=\"#777\" fill=\"none\"/>"
			           "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#777\">"
			           "\xE2\x8B\xAF %s</text>\n",
			        x, h->top, GAP_W, h->gh, g, x + 6, h->top + h->gh / 2 - 9,
			        x + GAP_W / 2, bottom + 28, g);
		}
		for (unsigned c = sg->col0; c < sg->col0 + sg->ncols; c++) {
			int x = col_x(h, k, c);
			uint64_t s = col_start(h, k, c);
			time_t tt = (time_t)s;
			struct tm tm;
			gmtime_r(&tt, &tm);
			int full = c == sg->col0 || tm.tm_yday != last_day;
			utc_text(t, sizeof t, s, h->bin_s, full);
			int w = (int)strlen(t) * 6 + 10;
			if (x < next_x || (c != sg->col0 && s % (h->bin_s * 2) && h->cw < 20))
				continue;
			fprintf(f, "<text class=\"time\" x=\"%d\" y=\"%d\">%s</text>"
			           "<path d=\"M%d,%d v4\" stroke=\"#999\"/>\n",
			        x, bottom + 14, t, x, bottom);
			next_x = x + w;
			last_day = tm.tm_yday;
		}
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">trace start, UTC on each "
	           "trace's root host clock (a column: %s)</text>\n",
	        h->left + h->gw / 2, bottom + 44, span_text(g, sizeof g, h->bin_s));
}

/* Ticks (round bucket bounds at least 12 px apart), the time axis, the
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
		        h->left - 6, y + 3, b ? report_dur(d, sizeof d, lo) : "0", h->left - 4, y);
		last_y = y;
	}
	heat_time_axis(f, h);
	if (h->thr) {
		/* within its bucket, linearly; the last bucket is open (>= 100 s) */
		unsigned bt = cluster_llq_bucket(h->thr);
		uint64_t lo = cluster_llq_lo(bt), hi = cluster_llq_hi(bt);
		double frac = hi != UINT64_MAX && hi > lo ? (double)(h->thr - lo) / (double)(hi - lo) : 0;
		int y = bottom - (int)(((double)(bt - h->bmin) + frac) * h->ch);
		fprintf(f, "<path d=\"M%d,%d h%d\" stroke=\"#d00000\" stroke-dasharray=\"6 3\"/>"
		           "<text x=\"%d\" y=\"%d\" fill=\"#d00000\">threshold %s</text>\n",
		        h->left, y, h->gw, h->left + h->gw + 6, y + 3, report_dur(d, sizeof d, h->thr));
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
	char t0[48], t1[48];
	fprintf(f, ": %" PRIu64 " traces starting %s \xE2\x80\x93 %s UTC</h3>\n", hg->total,
	        utc_text(t0, sizeof t0, cell[0]->start_s, 1, 1),
	        utc_text(t1, sizeof t1, cell[hg->n - 1]->start_s, 1, 1));
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
	for (unsigned k = 0; k < h.nseg; k++)
		for (unsigned c = h.seg[k].col0; c < h.seg[k].col0 + h.seg[k].ncols; c++)
			for (unsigned b = h.bmin; b <= h.bmax; b++) {
				uint64_t v = h.grid[(size_t)c * h.nb + (b - h.bmin)];
				if (!v)
					continue;
				heat_colour(col, sizeof col, log1p((double)v) / lmax);
				fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
				           "fill=\"%s\"><title>from %s UTC, %s, %s\xE2\x80\x93%s: %"
				           PRIu64 "</title></rect>\n",
				        col_x(&h, k, c), h.top + h.gh - (int)(b - h.bmin + 1) * h.ch, h.cw,
				        h.ch, col, utc_text(t0, sizeof t0, col_start(&h, k, c), 1, 1),
				        span_text(t1, sizeof t1, h.bin_s),
				        report_dur(d1, sizeof d1, cluster_llq_lo(b)),
				        b + 1 < CLUSTER_LLQ_BUCKETS ? report_dur(d2, sizeof d2, cluster_llq_hi(b))
				                                    : "", v);
			}
	heat_axes(f, &h);
	fputs("</svg>\n", f);
	free(h.grid);
}

void
report_heatmaps(FILE *f, const struct op_check_config *cfg)
{
	const struct op_check_report *r = cfg->report;
	fputs("<h2>Latency heatmaps</h2>\n<p>Per template: each column is a span of the traces' "
	      "start times (UTC, on each trace's root host clock; a round width for about 60 "
	      "columns), each row a duration bucket; colour is the number of traces, log scale. "
	      "Long stretches without a trace are cut out: a grey zigzag says how long each was "
	      "(hosts' clocks and recorded runs can be weeks apart). The dashed red line is the "
	      "template's duration threshold.</p>\n", f);
	if (r && r->heat_dropped)
		fprintf(f, "<p class=\"note\">%" PRIu64 " checked traces are not in the heatmaps: "
		           "past --report-heat-cells cells per worker.</p>\n", r->heat_dropped);
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

/*
 * op_report_heat.c — the latency heatmaps of the HTML report
 * (report_int.h), as inline SVG.
 *
 * Per template (the HEAT_MAX_TMPL busiest), x = epoch, binned into at most
 * HEAT_MAX_COLS columns; y = llquantize bucket of the trace's same-host
 * duration, only the range that occurs (plus the threshold's); colour =
 * count on a log scale. The template's duration threshold is a dashed
 * line, placed linearly within its bucket. The cells come from the check
 * operator (op_check_config.report, check_int.h): one llquantize
 * histogram per (template, epoch).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/output/report_int.h"

#define HEAT_MAX_TMPL 12
#define HEAT_MAX_COLS 60

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
	return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
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
		        h->left - 6, y + 3, b ? report_dur(d, sizeof d, lo) : "0", h->left - 4, y);
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
			        report_dur(d1, sizeof d1, cluster_llq_lo(b)),
			        b + 1 < CLUSTER_LLQ_BUCKETS ? report_dur(d2, sizeof d2, cluster_llq_hi(b)) : "",
			        v);
		}
	heat_axes(f, &h);
	fputs("</svg>\n", f);
	free(h.grid);
}

void
report_heatmaps(FILE *f, const struct op_check_config *cfg)
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

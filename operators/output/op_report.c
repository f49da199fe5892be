/*
 * op_report.c — the HTML report of a model check (op_check_write_report):
 * one self-contained file, inline CSS and inline SVG, no script, nothing
 * fetched, written after the engine stopped (single-threaded; it reads
 * op_check_config.report, see check_int.h, and the current model).
 *
 * Layout of the page: a header (model summary, verdict counts, the ranked
 * explanations), one section per kept anomaly, then latency heatmaps
 * (op_report_heat.c). An anomaly's section holds its facts and two
 * drawings side by side, the nearest template's label graph and the
 * trace's (op_report_graph.c says how they are drawn and compared).
 * Anomalies are listed by verdict, template and trace id, not in the order
 * the workers happened to find them (which ones op_check.c kept does depend
 * on that order). This file also holds the text helpers the three share
 * (report_int.h): HTML escaping and human durations.
 *
 * Output is bounded: items, boxes, arrows, templates and cells are capped.
 * Out of memory while drawing one figure writes a note instead of the
 * figure; only a failed write makes the call fail (WEFT_EIO).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "operators/check/check_int.h"
#include "operators/output/output.h"
#include "operators/output/report_int.h"


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

void
report_esc(FILE *f, const char *str, size_t max)
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

const char *
report_bytes(char *buf, size_t len, uint64_t n)
{
	if (n < 10 * 1024)
		snprintf(buf, len, "%" PRIu64 " bytes", n);
	else if (n < 10 * 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", (double)n / (1024 * 1024));
	return buf;
}

const char *
report_dur(char *buf, size_t len, uint64_t ns)
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
		char fb[32];
		cluster_model_info(cfg->model, &mi);
		fputs("<h2>Model</h2><table><tr><th>file</th><td>", f);
		report_esc(f, cfg->model_path, 0);
		fprintf(f, "</td></tr><tr><th>templates</th><td class=\"n\">%u</td></tr>"
		           "<tr><th>training traces</th><td class=\"n\">%" PRIu64 "</td></tr>"
		           "<tr><th>distinct shapes</th><td class=\"n\">%" PRIu64 "</td></tr>"
		           "<tr><th>distinct pieces</th><td class=\"n\">%" PRIu64 "</td></tr>"
		           "<tr><th>filter</th><td class=\"n\">%s, fpr %.2g</td></tr>"
		           "<tr><th>template threshold</th><td class=\"n\">%.3g</td></tr>"
		           "<tr><th>slow when</th><td>&gt; %.3g \xC3\x97 the p%.4g latency (floor %.3g ms)"
		           "</td></tr></table>\n",
		        mi.n_templates, mi.traces, mi.shapes, mi.pieces,
		        report_bytes(fb, sizeof fb, mi.filter_bytes),
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
		report_esc(f, top[i]->key, 0);
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
	      "sideways (a repeated block starting again) run up the right side. Under a trace's "
	      "label: its host (or how many hosts, the first by name), then when its first event "
	      "started after the trace's first event on the same host (hosts' clocks are not "
	      "compared) and how long it took (several events: the longest and the total, "
	      "\xCE\xA3); under a template's label, the median learned in training. A box's "
	      "tooltip has the full texts.</p>\n", f);
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
	report_esc(f, it->explanation, 0);
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
	        t->n_events, t->missing, t->n_edges, report_dur(b1, sizeof b1, t->duration_ns));
	if (have_t && tv.duration_thr_ns)
		fprintf(f, " (threshold %s)", report_dur(b2, sizeof b2, tv.duration_thr_ns));
	fprintf(f, "</td></tr>\n<tr><th>epochs</th><td class=\"n\">%" PRIu64 "\xE2\x80\x93%" PRIu64
	           ", emitted in %" PRIu64 "</td><th>flags</th><td colspan=\"3\">%s%s%s%s</td></tr>"
	           "</table>\n",
	        t->first_epoch, t->last_epoch, t->emit_epoch,
	        t->flags & OP_TRACE_DANGLING ? "dangling " : "",
	        t->flags & OP_TRACE_MALFORMED ? "cycles-broken " : "",
	        t->flags & OP_TRACE_END_LABEL ? "end-label " : "",
	        t->flags & OP_TRACE_FLUSHED ? "flushed" : "");
	struct report_pair p = {
		.trace = t, .tmpl = it->tmpl, .n_new = it->n_new, .new_node = it->new_node,
		.slow_node = it->slow_node,
	};
	report_draw_pair(f, cfg->model, &p, k, view);
	fputs("</section>\n", f);
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
	uint64_t ix = x->trace->trace_id, iy = y->trace->trace_id;
	return ix < iy ? -1 : ix > iy;
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
	size_t shown = n; /* op_check keeps at most report_max (--report-max) */
	uint64_t more = r ? r->items_dropped : 0;
	if (!n)
		fputs("<p>No anomalous trace was kept.</p>\n", f);
	else
		fputs("<ol>\n", f);
	for (size_t i = 0; i < shown; i++) {
		fprintf(f, "<li><a href=\"#a%zu\">%016" PRIx64 "</a> %s: ", i + 1,
		        item[i]->trace->trace_id, op_verdict_name(item[i]->verdict));
		/* the explanation may start with the verdict already said */
		const char *ex = item[i]->explanation ? item[i]->explanation : "";
		size_t vl = strlen(op_verdict_name(item[i]->verdict));
		if (!strncmp(ex, op_verdict_name(item[i]->verdict), vl) && ex[vl] == ':')
			ex += vl + 1 + (ex[vl + 1] == ' ');
		report_esc(f, ex, 160);
		fputs("</li>\n", f);
	}
	if (n)
		fputs("</ol>\n", f);
	if (more)
		fprintf(f, "<p class=\"note\">%zu anomalies are drawn: at most %u are kept for the "
		           "report, those with the smallest trace ids (--report-max); %" PRIu64
		           " more were not kept (see the anomalies file).</p>\n",
		        shown, cfg->report_max, more);
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

int
op_check_write_report(struct op_check_config *cfg, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return WEFT_EIO;
	write_header(f, cfg);
	write_items(f, cfg);
	report_heatmaps(f, cfg);
	fputs("</body></html>\n", f);
	int bad = ferror(f);
	if (fclose(f) || bad)
		return WEFT_EIO;
	return 0;
}

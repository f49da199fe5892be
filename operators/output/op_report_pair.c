/*
 * op_report_pair.c — one anomaly drawn against its nearest template: the
 * template's label graph and the trace's side by side, compared (what only
 * one of them has), with the trace's new pieces and its slow label marked.
 * The HTML report (op_report.c) and the web console (console_api.c) both
 * draw through report_draw_pair(), so a person sees the same picture in
 * the file written at exit and in the live page.
 *
 * The caller holds a reference to the model for the call; the drawing is
 * written to f (an open_memstream for the console).
 */
#include <string.h>

#include "operators/output/report_int.h"

void
report_draw_pair(FILE *f, const struct cluster_model *m, const struct report_pair *p,
                 unsigned id, struct op_trace_view *view)
{
	const struct op_trace *t = p->trace;
	char cap[48];
	struct cluster_template_view tv;
	int have_t = p->tmpl >= 0 && m &&
	             !cluster_model_template(m, (uint32_t)p->tmpl, &tv);
	struct lgraph tg, pg;
	memset(&pg, 0, sizeof pg);
	if (op_trace_view_fill(view, t) || lg_build(&tg, &view->dag, view->text, m)) {
		fputs("<p class=\"note\">(not drawn: out of memory)</p>\n", f);
		return;
	}
	if (have_t && lg_build(&pg, &tv.dag, NULL, m)) {
		fputs("<p class=\"note\">(template not drawn: out of memory)</p>\n", f);
		have_t = 0;
	}
	/* hosts and times on the trace's boxes, the learned medians on the
	 * template's (out of memory: drawn without them) */
	(void)lg_annotate_trace(&tg, t);
	if (have_t)
		lg_annotate_template(&pg, m);
	uint32_t n = t->n_events;
	for (uint32_t j = 0; j < p->n_new && j < CLUSTER_MAX_NEW; j++) {
		uint32_t d = lg_drawn(&tg, n, p->new_node[j]);
		if (d != UINT32_MAX)
			tg.node[d].flags |= LG_NEW;
	}
	uint32_t d = lg_drawn(&tg, n, p->slow_node);
	if (d != UINT32_MAX) {
		const struct op_trace_event *ev = op_trace_events(t) + p->slow_node;
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
		snprintf(cap, sizeof cap, "template %d", (int)p->tmpl);
		lg_figure(f, &pg, 2 * id, cap);
	}
	lg_figure(f, &tg, 2 * id + 1, p->caption ? p->caption : "anomalous trace");
	fputs("</div>\n", f);
	lg_free(&tg);
	lg_free(&pg);
}

void
report_draw_template(FILE *f, const struct cluster_model *m, uint32_t tmpl, unsigned id)
{
	struct cluster_template_view tv;
	struct lgraph g;
	char cap[48];
	if (!m || cluster_model_template(m, tmpl, &tv)) {
		fputs("<p class=\"note\">(no such template in the current model)</p>\n", f);
		return;
	}
	if (lg_build(&g, &tv.dag, NULL, m)) {
		fputs("<p class=\"note\">(not drawn: out of memory)</p>\n", f);
		return;
	}
	lg_annotate_template(&g, m);
	lg_layout(&g);
	snprintf(cap, sizeof cap, "template %u", tmpl);
	lg_figure(f, &g, id, cap);
	lg_free(&g);
}

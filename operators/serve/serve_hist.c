/*
 * serve_hist.c — the service's latency histograms, in seconds, by
 * Prometheus conventions: weft_verdict_latency_seconds (a trace's last
 * event arriving -> its verdict, taken as the serve sink receives the
 * checked trace, just before it is produced) and
 * weft_trace_duration_seconds{verdict=...} (the trace's same-host
 * duration), and weft_epoch_close_seconds (op_prom.c, fed by the
 * assembler as each epoch closes). Workers observe into relaxed atomics
 * (op_prom.c); a scrape reads them without a lock.
 */
#include <time.h>

#include "operators/serve/serve.h"

static const double latency_le[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10,
                                    20, 30, 60, 120, 300};
static const double duration_le[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5,
                                     10, 30, 60, 120, 300, 600, 1800};

void
serve_hists_init(struct serve_sink_config *c)
{
	op_prom_hist_init(&c->verdict_latency, latency_le,
	                  sizeof latency_le / sizeof latency_le[0]);
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
		op_prom_hist_init(&c->duration[v], duration_le,
		                  sizeof duration_le / sizeof duration_le[0]);
	op_prom_epoch_close_init(&c->epoch_close);
}

void
serve_hists_observe(struct serve_sink_config *c, const struct op_trace *t)
{
	unsigned v = t->verdict < OP_VERDICT__COUNT ? t->verdict : OP_VERDICT_NONE;
	op_prom_hist_observe(&c->duration[v], t->duration_ns);
	if (!t->last_ns || v == OP_VERDICT_NONE)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	op_prom_hist_observe(&c->verdict_latency, now > t->last_ns ? now - t->last_ns : 0);
}

int
serve_hists_render(struct serve_sink_config *c, struct weft_buf *b)
{
	int rc = op_metrics_family(b, "weft_verdict_latency_seconds", "histogram",
	                           "from a trace's last event arriving to its verdict");
	rc = rc ? rc : op_prom_hist_render(b, "weft_verdict_latency_seconds", NULL,
	                                   &c->verdict_latency);
	rc = rc ? rc : op_metrics_family(b, "weft_trace_duration_seconds", "histogram",
	                                 "finished traces' same-host duration, by verdict "
	                                 "(none: not checked)");
	for (unsigned v = 0; !rc && v < OP_VERDICT__COUNT; v++) {
		char l[48];
		snprintf(l, sizeof l, "verdict=\"%s\"",
		         v == OP_VERDICT_NONE ? "none" : op_verdict_name(v));
		rc = op_prom_hist_render(b, "weft_trace_duration_seconds", l, &c->duration[v]);
	}
	rc = rc ? rc : op_prom_epoch_close_render(b, &c->epoch_close);
	return rc ? rc : op_prom_process(b);
}

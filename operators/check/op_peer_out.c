/*
 * op_peer_out.c — what the latency check against peers writes besides
 * host anomaly records (op_peer.c): a slow trace's "slow_by" and its
 * explanation, and the Prometheus text for /metrics. Only the store's
 * public calls (peer.h).
 */
#include <inttypes.h>
#include <stdio.h>

#include "operators/check/peer.h"

int
op_peer_format(struct weft_buf *b, struct weft_buf *x, const struct op_trace *t,
               const struct op_peer_hit *hit)
{
	if (hit->node < 0 || (uint32_t)hit->node >= t->n_events)
		return 0;
	const struct op_trace_event *ev = op_trace_events(t) + hit->node;
	const char *host = op_trace_str(t, ev->host), *label = op_trace_str(t, ev->label);
	int rc = weft_buf_printf(b, ",\"slow_by\":{\"host\":");
	rc = rc ? rc : weft_buf_str(b, host);
	rc = rc ? rc : weft_buf_printf(b, ",\"label\":");
	rc = rc ? rc : weft_buf_str(b, label);
	rc = rc ? rc : weft_buf_printf(b, ",\"value_ns\":%" PRIu64 ",\"host_median_ns\":%" PRIu64
	                                  ",\"peers_median_ns\":%" PRIu64 ",\"n_peers\":%u}",
	                               hit->value_ns, hit->host_median_ns, hit->peers_median_ns,
	                               hit->n_peers);
	if (rc)
		return rc;
	char of[32] = "learned x current load";
	if (hit->n_peers)
		snprintf(of, sizeof of, "on %u peers", hit->n_peers);
	return weft_buf_printf(x, "slow: '%s' took %.1f ms on %s, whose p50 for it is %.1f ms "
	                          "against %.1f ms %s",
	                       label, (double)hit->value_ns / 1e6, host,
	                       (double)hit->host_median_ns / 1e6,
	                       (double)hit->peers_median_ns / 1e6, of);
}

struct metrics_arg {
	struct weft_buf *b;
	int rc;
};

static void
metric_open(void *arg, const char *host, const char *label, uint64_t host_median_ns,
            uint64_t peers_median_ns, uint32_t n_peers, uint64_t since_epoch)
{
	struct metrics_arg *a = arg;
	(void)n_peers;
	(void)since_epoch;
	int rc = a->rc ? a->rc : weft_buf_printf(a->b, "weft_host_anomaly_ratio{host=");
	rc = rc ? rc : weft_buf_str(a->b, host);
	rc = rc ? rc : weft_buf_printf(a->b, ",label=");
	rc = rc ? rc : weft_buf_str(a->b, label);
	rc = rc ? rc : weft_buf_printf(a->b, "} %.3f\n",
	                               peers_median_ns ? (double)host_median_ns /
	                                                     (double)peers_median_ns
	                                               : 0.0);
	a->rc = rc;
}

int
op_peer_metrics(struct op_peer_store *s, struct weft_buf *b)
{
	struct op_peer_stats st;
	op_peer_stats(s, &st);
	int rc = weft_buf_printf(b,
	    "# HELP weft_host_anomalies_opened_total Host anomalies opened (a host slow "
	    "against its peers for one operation)\n"
	    "# TYPE weft_host_anomalies_opened_total counter\n"
	    "weft_host_anomalies_opened_total %" PRIu64 "\n"
	    "# TYPE weft_host_anomalies_closed_total counter\n"
	    "weft_host_anomalies_closed_total %" PRIu64 "\n"
	    "# TYPE weft_host_anomalies_open gauge\n"
	    "weft_host_anomalies_open %" PRIu64 "\n"
	    "# TYPE weft_peer_slow_traces_total counter\n"
	    "weft_peer_slow_traces_total %" PRIu64 "\n"
	    "# HELP weft_peer_slow_whole_traces_total Of those, slowed on one host as a "
	    "whole with no host anomaly open\n"
	    "# TYPE weft_peer_slow_whole_traces_total counter\n"
	    "weft_peer_slow_whole_traces_total %" PRIu64 "\n"
	    "# TYPE weft_peer_cells gauge\n"
	    "weft_peer_cells %" PRIu64 "\n"
	    "# TYPE weft_peer_cells_dropped_total counter\n"
	    "weft_peer_cells_dropped_total %" PRIu64 "\n"
	    "# TYPE weft_peer_load_factor gauge\n"
	    "weft_peer_load_factor %.3f\n"
	    "# HELP weft_peer_stride Every stride-th trace feeds the windows (high rates)\n"
	    "# TYPE weft_peer_stride gauge\n"
	    "weft_peer_stride %u\n"
	    "# TYPE weft_peer_skipped_traces_total counter\n"
	    "weft_peer_skipped_traces_total %" PRIu64 "\n"
	    "# HELP weft_host_anomaly_ratio Open host anomalies: host median over its peers'\n"
	    "# TYPE weft_host_anomaly_ratio gauge\n",
	    st.opened, st.closed, st.open_now, st.slow_traces, st.slow_whole, st.cells,
	    st.cells_dropped, st.load_factor, st.stride ? st.stride : 1, st.skipped_traces);
	struct metrics_arg a = {b, rc};
	if (!rc)
		op_peer_each_open(s, metric_open, &a);
	return a.rc;
}

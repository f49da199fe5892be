/*
 * op_check_peer.c — the check operator's hooks into the peer store
 * (peer.h): the slow verdict from peers, host anomaly records to the
 * anomalies sink at epoch close, and the summary lines. Kept apart from
 * op_check.c so that the operator only calls in.
 */
#include <inttypes.h>
#include <string.h>

#include "operators/check/check.h"
#include "operators/check/peer.h"

int
op_check_peer_init(struct op_check_config *cfg, unsigned workers)
{
	if (!cfg->peer.enabled || cfg->peers)
		return 0;
	cfg->peers = op_peer_store_new(&cfg->peer, workers);
	return cfg->peers ? 0 : WEFT_ENOMEM;
}

/* A record's key for the sink (Kafka partitioning): FNV-1a of its host. */
static uint64_t
host_key(const char *line, size_t len)
{
	const char *h = strstr(line, "\"host\":");
	uint64_t k = 0xcbf29ce484222325ull;
	for (const char *p = h ? h + 8 : line; p < line + len && *p != '"'; p++)
		k = (k ^ (unsigned char)*p) * 0x100000001b3ull;
	return k;
}

static void
write_records(struct op_check_config *cfg, unsigned worker, const struct weft_buf *buf)
{
	size_t off = 0;
	while (off < buf->len) {
		const char *line = buf->p + off;
		const char *nl = memchr(line, '\n', buf->len - off);
		size_t len = nl ? (size_t)(nl - line) + 1 : buf->len - off;
		off += len;
		atomic_fetch_add(&cfg->host_records, 1);
		if (cfg->anomaly_write) {
			if (cfg->anomaly_write(cfg->anomaly_arg, worker, host_key(line, len), line, len))
				atomic_fetch_add(&cfg->write_errors, 1);
			continue;
		}
		pthread_mutex_lock(&cfg->lock);
		if (cfg->anomalies && fwrite(line, 1, len, cfg->anomalies) != len)
			atomic_fetch_add(&cfg->write_errors, 1);
		pthread_mutex_unlock(&cfg->lock);
	}
}

int
op_check_peer_judge(struct op_check_config *cfg, unsigned worker, const struct op_trace *t,
                    uint64_t epoch, const struct cluster_model *m, struct cluster_verdict *cv,
                    struct op_peer_hit *hit, struct weft_buf *buf)
{
	buf->len = 0;
	int r = op_peer_observe(cfg->peers, worker, t, epoch, m, hit, buf);
	write_records(cfg, worker, buf);
	if (r <= 0)
		return r;
	cv->kind = CLUSTER_SLOW;
	cv->slow_is_duration = 0;
	cv->slow_node = hit->node;
	cv->slow_value_ns = hit->value_ns;
	cv->slow_thr_ns = (uint64_t)(cfg->peer.ratio * (double)hit->peers_median_ns);
	return 1;
}

void
op_check_peer_close(struct op_check_config *cfg, unsigned worker, uint64_t epoch,
                    const struct cluster_model *m, struct weft_buf *buf)
{
	buf->len = 0;
	if (op_peer_epoch(cfg->peers, epoch, m, buf))
		atomic_fetch_add(&cfg->check_errors, 1);
	write_records(cfg, worker, buf);
}

static void
summary_open(void *arg, const char *host, const char *label, uint64_t host_median_ns,
             uint64_t peers_median_ns, uint32_t n_peers, uint64_t since_epoch)
{
	fprintf(arg, "      open: %s slow for %s since epoch %" PRIu64
	             " (p50 %.1f ms against %.1f ms, %u peers)\n",
	        host, label, since_epoch, (double)host_median_ns / 1e6,
	        (double)peers_median_ns / 1e6, n_peers);
}

void
op_check_peer_summary(struct op_check_config *cfg, FILE *f)
{
	if (!cfg->peers)
		return;
	struct op_peer_stats st;
	op_peer_stats(cfg->peers, &st);
	fprintf(f, "  host anomalies    %" PRIu64 " opened, %" PRIu64 " closed, %" PRIu64
	           " open; %" PRIu64 " traces slow against peers (%" PRIu64
	           " slowed on one host as a whole); %" PRIu64
	           " (label, host) pairs tracked (%" PRIu64 " refused at the limit); %" PRIu64
	           " traces judged only (feeding stride %u)\n",
	        st.opened, st.closed, st.open_now, st.slow_traces, st.slow_whole, st.cells,
	        st.cells_dropped, st.skipped_traces, st.stride ? st.stride : 1);
	op_peer_each_open(cfg->peers, summary_open, f);
}

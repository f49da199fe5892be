/*
 * console_int.h — the insides of the web console (console.h), shared by
 * its files: the stores and the ticker (console_store.c), the HTTP server
 * (console_http.c) and the JSON answers (console_api.c). Private to
 * operators/output/.
 *
 * Locks, in the order they may nest (never the other way):
 *   op_console.mu  the kept traces (both rings), seq, the totals, the
 *                  columns of rates and heat, stopping; taken by a worker
 *                  only to keep an anomaly or a sampled normal trace (never
 *                  while it holds its slot's lock), by HTTP threads to read
 *                  (bounded work: at most the rings' size), by the ticker
 *                  to fold the slots in once a second.
 *   con_slot.mu    one per engine worker: its counters and the heat cells
 *                  of the current second; taken by its worker per trace,
 *                  by the ticker and by /api/summary (under op_console.mu).
 *   op_check_config.lock  only to take a model reference, never while
 *                  holding the others.
 */
#ifndef WEFT_CONSOLE_INT_H
#define WEFT_CONSOLE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "operators/output/console.h"
#include "operators/output/output.h"

/* Heat buckets: bucket i holds durations in [2^(CON_HB_LO+i), 2^(CON_HB_LO+i+1))
 * ns, the first also everything shorter, the last everything longer:
 * 1 µs to about 37 minutes. */
#define CON_HB 32
#define CON_HB_LO 10
#define CON_HOSTS 16 /* hosts listed per kept trace */
#define CON_LAG 32

/* One kept trace. */
struct con_rec {
	struct op_trace *trace; /* malloc'd copy */
	char *line;             /* the anomaly record (no '\n'); NULL: normal */
	uint64_t seq;           /* console-wide, increasing */
	uint64_t wall_ns;       /* CLOCK_REALTIME at its verdict */
	uint32_t verdict;
	int32_t tmpl;
	uint32_t distance;
	uint32_t n_new;
	uint32_t new_node[CLUSTER_MAX_NEW];
	int32_t slow_node;
	uint32_t root_op;       /* text offset in trace; 0: none */
	uint32_t n_hosts;       /* distinct hosts (all of them) */
	uint32_t host[CON_HOSTS]; /* text offsets of the first CON_HOSTS */
	size_t bytes;           /* memory it holds */
};

/* Oldest first from head; n <= cap. */
struct con_ring {
	struct con_rec *r;
	uint32_t cap, head, n;
};
/* i-th oldest (0 <= i < n). */
static inline struct con_rec *
con_ring_at(const struct con_ring *g, uint32_t i)
{
	return &g->r[(g->head + i) % g->cap];
}

struct con_slot {
	pthread_mutex_t mu;
	uint64_t traces, events, by_verdict[OP_VERDICT__COUNT];
	uint64_t heat_over;     /* traces of templates beyond heat_templates */
	uint32_t *heat;         /* [heat_templates][CON_HB], this second */
	uint32_t normal_tick;
	char pad[64];
};

/* One second of the rate panels. */
struct con_col {
	uint64_t t;             /* unix seconds at its end */
	uint64_t traces, events, by_verdict[OP_VERDICT__COUNT]; /* in it */
	uint64_t rss_bytes, store_bytes;
	struct op_console_gauges g;
};

enum con_bad {
	CON_BAD_NOT_FOUND, CON_BAD_METHOD, CON_BAD_TOO_LONG, CON_BAD_UNAUTHORIZED,
	CON_BAD_QUERY, CON_BAD_BUSY, CON_BAD__COUNT
};

struct op_console {
	struct op_console_config cfg;
	char *token, *host;
	struct op_check_config *check;
	unsigned workers;
	struct con_slot *slots;
	op_console_gauges_fn gauges;
	void *gauges_arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;      /* new anomaly with a stream open, or stopping */
	pthread_cond_t tick_cv; /* stopping (the ticker's sleep) */
	struct con_ring anom, norm;
	uint64_t seq;
	uint64_t store_bytes;
	uint64_t tot_traces, tot_events, tot_verdict[OP_VERDICT__COUNT];
	uint64_t n_cols;        /* columns written; column k at k % heat_seconds */
	struct con_col *cols;   /* [heat_seconds] */
	uint32_t *heat;         /* [heat_seconds][heat_templates][CON_HB] */
	uint64_t heat_over;
	int stopping;
	uint64_t started_ns;    /* CLOCK_REALTIME */
	struct op_prom_hist epoch_close; /* shown once asked for */
	_Atomic int epoch_close_on;

	pthread_t ticker;
	int ticking;
	struct MHD_Daemon *daemon;
	uint16_t port;
	char url[96];
	char starterr[256];
	pthread_t starter;

	_Atomic uint64_t requests, refused, evicted_anom, evicted_norm, dropped;
	_Atomic uint64_t bad[CON_BAD__COUNT];
	_Atomic int conns, streams;
};

/* The page's files, embedded at build time (web/embed.py writes
 * console_assets.c from operators/output/web/). */
struct con_asset {
	const char *path, *type;
	const unsigned char *data;
	size_t len;
};
extern const struct con_asset con_assets[];
extern const size_t con_n_assets;

/* console_store.c */
int con_store_init(struct op_console *c);
void con_store_free(struct op_console *c);
int con_ticker_start(struct op_console *c);
void con_ticker_stop(struct op_console *c);
uint64_t con_now_ns(int realtime);
/* The console's own /metrics: its series, then process_* and build info. */
int con_metrics_page(struct op_console *c, struct weft_buf *out);

/* console_api.c: each appends a JSON answer to out (0 or WEFT_ENOMEM);
 * args is the request's query, read through con_arg(). Filters that do
 * not parse give WEFT_EINVAL (a 400). */
struct con_query;
const char *con_arg(const struct con_query *q, const char *name);
int con_api_summary(struct op_console *c, struct weft_buf *out);
int con_api_list(struct op_console *c, const struct con_query *q, int anomalies_only,
                 struct weft_buf *out);
/* 0, WEFT_EINVAL (a bad id: 400) or WEFT_ENOTFOUND (not kept: 404). */
int con_api_trace(struct op_console *c, const char *hex, struct weft_buf *out);
int con_api_heatmap(struct op_console *c, const struct con_query *q, struct weft_buf *out);
int con_api_rates(struct op_console *c, const struct con_query *q, struct weft_buf *out);
int con_api_model(struct op_console *c, struct weft_buf *out);
int con_api_template(struct op_console *c, const char *num, struct weft_buf *out);
/* /api/hosts: the host anomalies open now (latency against peers). */
int con_api_hosts(struct op_console *c, struct weft_buf *out);
/* The record summary (one JSON object) of r, under c->mu. */
int con_rec_json(struct weft_buf *out, const struct con_rec *r);

#endif /* WEFT_CONSOLE_INT_H */

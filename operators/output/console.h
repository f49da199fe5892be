/*
 * console.h — the live web console of `weft replay --console` and
 * `weft serve` (console.addr): a page served by weft itself (HTML, SVG,
 * JavaScript and CSS embedded in the binary) over libmicrohttpd, with JSON
 * endpoints behind every panel (docs/CONSOLE.md lists them).
 *
 * The engine's workers only push into bounded stores, through the check
 * operator's observe hook (op_console_observe): each worker takes its own
 * slot's lock (uncontended but for one merge per second), and an anomaly
 * or a sampled normal trace takes the store's lock to be copied in. The
 * HTTP threads and the console's one-second ticker read those stores
 * under the same locks and never call into the engine, so a slow or
 * hostile client cannot stall it. Every limit (connections, query bytes,
 * traces kept, heatmap templates) is a field of op_console_config with a
 * counter when it is hit (op_console_metrics).
 */
#ifndef WEFT_OPERATORS_CONSOLE_H
#define WEFT_OPERATORS_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "operators/check/check.h"

struct op_console_config {
	const char *addr;        /* "HOST:PORT", "[V6]:PORT" or "PORT"; host
	                          * default 127.0.0.1, port 0: pick one */
	const char *token;       /* NULL/"": none; else every request needs
	                          * "Authorization: Bearer TOKEN" or ?token= */
	uint32_t max_anomalies;  /* anomalous traces kept (2000) */
	uint32_t max_normal;     /* sampled normal traces kept (500) */
	uint32_t normal_every;   /* keep 1 normal trace in N per worker (20) */
	uint32_t heat_seconds;   /* heatmap / rate columns (300) */
	uint32_t heat_templates; /* templates with a heatmap (64; others counted) */
	uint32_t max_conns;      /* open connections (32); more are refused */
	uint32_t max_query;      /* bytes of URL + query (1024); longer: 414 */
};
void op_console_config_default(struct op_console_config *c);

/* What the command can tell the rate panels each second (may leave
 * fields 0). Called on the ticker thread: read atomics only. */
struct op_console_gauges {
	uint64_t open_traces;    /* or open bytes, when that is what is known */
	uint64_t open_bytes;
	uint32_t n_lag;          /* partitions in lag[] */
	struct { int32_t partition; int64_t lag; } lag[32];
};
typedef void (*op_console_gauges_fn)(void *arg, struct op_console_gauges *out);

struct op_console;
/* Starts the server and the ticker for `workers` engine workers; check is
 * the model check's config (its model is read under its lock; the caller
 * keeps it alive until op_console_stop). Sets check->observe. 0 or
 * WEFT_E* with a message; free with op_console_stop(). */
int op_console_start(const struct op_console_config *cfg, struct op_check_config *check,
                     unsigned workers, op_console_gauges_fn gauges, void *gauges_arg,
                     struct op_console **out, char *errstr, size_t errlen);
/* The check operator's observe hook (see check.h); arg is the console. */
void op_console_observe(void *arg, unsigned worker, const struct op_trace *t,
                        const struct cluster_verdict *cv, const char *line, size_t len);
/* "http://HOST:PORT/" as bound. */
const char *op_console_url(const struct op_console *c);
/* Appends the console's own series (weft_console_*) to a Prometheus
 * exposition. */
int op_console_metrics(struct op_console *c, struct weft_buf *out);
/* The console's weft_epoch_close_seconds for a command without a
 * /metrics of its own (weft replay): feed it through the assembler's
 * on_epoch_closed hook (op_prom_epoch_closed, this as its arg); from the
 * first call on, the console's /metrics shows it. */
struct op_prom_hist *op_console_epoch_close(struct op_console *c);
/* Stops the server (open event streams end) and frees everything; NULL
 * is fine. Clears check->observe: call after the engine stopped. */
void op_console_stop(struct op_console *c);

#endif /* WEFT_OPERATORS_CONSOLE_H */

/*
 * console_http.c — the web console's HTTP server (libmicrohttpd, one
 * thread per connection, at most console.max_conns of them): the page's
 * files, the JSON endpoints of console_api.c, the anomaly stream
 * (server-sent events) and /metrics with the console's own series.
 *
 * Requests are checked before any work: GET or HEAD only (405), the URL
 * and its query at most max_query bytes (414), the bearer token when one
 * is set (401), filters that parse (400), a known path (404). Each refusal
 * is counted by reason (weft_console_bad_requests_total). Connections
 * past max_conns are closed at accept and counted; event streams may take
 * at most half of the connections (503), so a page's panels always get
 * through. A stream's thread waits on the console's condition variable
 * for the next anomaly, with a keep-alive comment every second, and ends
 * when the console stops.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>

#include "operators/output/console_int.h"
#include "operators/output/http_int.h"

#define CON_IDLE_TIMEOUT_S 30
#define CON_MEMORY_LIMIT (64 * 1024) /* per connection: headers, query */
#define STREAM_BATCH 16              /* anomalies per stream write */

struct con_query {
	struct MHD_Connection *conn;
};

const char *
con_arg(const struct con_query *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

void
op_console_config_default(struct op_console_config *c)
{
	memset(c, 0, sizeof *c);
	c->max_anomalies = 2000;
	c->max_normal = 500;
	c->normal_every = 20;
	c->heat_seconds = 300;
	c->heat_templates = 64;
	c->max_conns = 32;
	c->max_query = 1024;
}

/* ---- answers -------------------------------------------------------------- */

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
      const void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)(len ? body : ""),
	                                    len ? mode : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	enum MHD_Result r = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (r == MHD_YES)
		r = MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r == MHD_YES && status == MHD_HTTP_METHOD_NOT_ALLOWED)
		r = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (r == MHD_YES && status == MHD_HTTP_UNAUTHORIZED)
		r = MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                            "Bearer realm=\"weft\"");
	if (r == MHD_YES)
		r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* A counted refusal: {"error": why}. */
static enum MHD_Result
refuse(struct op_console *c, struct MHD_Connection *conn, unsigned status,
       enum con_bad reason, const char *why)
{
	atomic_fetch_add_explicit(&c->bad[reason], 1, memory_order_relaxed);
	char body[256];
	int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", why);
	return reply(conn, status, "application/json", body, (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result
reply_json(struct op_console *c, struct MHD_Connection *conn, int rc, struct weft_buf *b)
{
	enum MHD_Result r;
	if (rc == WEFT_EINVAL)
		r = refuse(c, conn, MHD_HTTP_BAD_REQUEST, CON_BAD_QUERY,
		           "bad query: see docs/CONSOLE.md for the parameters");
	else if (rc == WEFT_ENOTFOUND)
		r = refuse(c, conn, MHD_HTTP_NOT_FOUND, CON_BAD_NOT_FOUND, "not kept");
	else if (rc || weft_buf_printf(b, "\n"))
		r = reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
		          "{\"error\":\"out of memory\"}\n", 26, MHD_RESPMEM_PERSISTENT);
	else
		r = reply(conn, MHD_HTTP_OK, "application/json", b->p, b->len,
		          MHD_RESPMEM_MUST_COPY);
	free(b->p);
	return r;
}

/* ---- the anomaly stream ------------------------------------------------- */

struct stream {
	struct op_console *c;
	uint64_t after;
	struct weft_buf pend;
	size_t off;
};

/* Fills s->pend with the next anomalies (waiting up to a second) or a
 * keep-alive; -1 when the console stops. */
static int
stream_fill(struct stream *s)
{
	struct op_console *c = s->c;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec++;
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->stopping) {
			rc = -1;
			break;
		}
		const struct con_ring *g = &c->anom;
		if (g->n && con_ring_at(g, g->n - 1)->seq > s->after) {
			uint32_t i = g->n;
			while (i > 0 && con_ring_at(g, i - 1)->seq > s->after)
				i--;
			for (unsigned k = 0; !rc && k < STREAM_BATCH && i < g->n; k++, i++) {
				const struct con_rec *r = con_ring_at(g, i);
				rc = weft_buf_printf(&s->pend, "id: %" PRIu64 "\nevent: anomaly\ndata: ",
				                     r->seq);
				rc = rc ? rc : con_rec_json(&s->pend, r);
				rc = rc ? rc : weft_buf_printf(&s->pend, "\n\n");
				s->after = r->seq;
			}
			break;
		}
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT) {
			rc = weft_buf_printf(&s->pend, ": keep-alive\n\n");
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc ? -1 : 0;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *s = cls;
	if (s->off == s->pend.len) {
		s->off = s->pend.len = 0;
		if (stream_fill(s) || !s->pend.len)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = s->pend.len - s->off < max ? s->pend.len - s->off : max;
	memcpy(buf, s->pend.p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *s = cls;
	atomic_fetch_sub(&s->c->streams, 1);
	free(s->pend.p);
	free(s);
}

static enum MHD_Result
stream_open(struct op_console *c, struct MHD_Connection *conn, const struct con_query *q)
{
	const char *a = con_arg(q, "after");
	if (!a)
		a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	char *end = NULL;
	errno = 0;
	uint64_t after = a && *a ? strtoull(a, &end, 10) : 0;
	if (a && *a && (errno || *end || *a == '-'))
		return refuse(c, conn, MHD_HTTP_BAD_REQUEST, CON_BAD_QUERY, "bad 'after'");
	if ((unsigned)atomic_fetch_add(&c->streams, 1) >= c->cfg.max_conns / 2 + 1) {
		atomic_fetch_sub(&c->streams, 1);
		return refuse(c, conn, MHD_HTTP_SERVICE_UNAVAILABLE, CON_BAD_BUSY,
		              "too many event streams");
	}
	struct stream *s = calloc(1, sizeof *s);
	struct MHD_Response *resp = s ? MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free) : NULL;
	if (!resp) {
		free(s);
		atomic_fetch_sub(&c->streams, 1);
		return MHD_NO;
	}
	s->c = c;
	s->after = after;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

/* ---- requests ----------------------------------------------------------- */

static enum MHD_Result
sum_args(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	size_t *n = cls;
	*n += strlen(key) + (value ? strlen(value) : 0) + 2;
	return MHD_YES;
}

/* Constant-time comparison of a presented token with the configured one. */
static int
token_ok(const struct op_console *c, struct MHD_Connection *conn)
{
	if (!c->token)
		return 1;
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                            MHD_HTTP_HEADER_AUTHORIZATION);
	const char *p = h && !strncmp(h, "Bearer ", 7) ? h + 7
	              : MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	if (!p)
		return 0;
	size_t n = strlen(c->token), m = strlen(p);
	unsigned char diff = n != m;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(c->token[i] ^ (i < m ? p[i] : 0));
	return !diff;
}

static enum MHD_Result
route_api(struct op_console *c, struct MHD_Connection *conn, const char *url,
          const struct con_query *q)
{
	struct weft_buf b = {0};
	int rc;
	if (!strcmp(url, "/api/stream"))
		return stream_open(c, conn, q);
	if (!strcmp(url, "/api/summary"))
		rc = con_api_summary(c, &b);
	else if (!strcmp(url, "/api/anomalies"))
		rc = con_api_list(c, q, 1, &b);
	else if (!strcmp(url, "/api/traces"))
		rc = con_api_list(c, q, 0, &b);
	else if (!strncmp(url, "/api/trace/", 11))
		rc = con_api_trace(c, url + 11, &b);
	else if (!strcmp(url, "/api/heatmap"))
		rc = con_api_heatmap(c, q, &b);
	else if (!strcmp(url, "/api/rates"))
		rc = con_api_rates(c, q, &b);
	else if (!strcmp(url, "/api/model"))
		rc = con_api_model(c, &b);
	else if (!strncmp(url, "/api/template/", 14))
		rc = con_api_template(c, url + 14, &b);
	else if (!strcmp(url, "/api/hosts"))
		rc = con_api_hosts(c, &b);
	else
		return refuse(c, conn, MHD_HTTP_NOT_FOUND, CON_BAD_NOT_FOUND, "no such endpoint");
	return reply_json(c, conn, rc, &b);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
	struct op_console *c = cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return refuse(c, conn, MHD_HTTP_METHOD_NOT_ALLOWED, CON_BAD_METHOD,
		              "method not allowed");
	if (*upload_data_size)
		return refuse(c, conn, MHD_HTTP_BAD_REQUEST, CON_BAD_QUERY, "no body expected");
	size_t qlen = strlen(url);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, sum_args, &qlen);
	if (qlen > c->cfg.max_query)
		return refuse(c, conn, MHD_HTTP_URI_TOO_LONG, CON_BAD_TOO_LONG,
		              "URL and query too long (console.max_query)");
	if (!token_ok(c, conn))
		return refuse(c, conn, MHD_HTTP_UNAUTHORIZED, CON_BAD_UNAUTHORIZED,
		              "a bearer token is needed");
	struct con_query q = {conn};
	if (!strncmp(url, "/api/", 5))
		return route_api(c, conn, url, &q);
	if (!strcmp(url, "/healthz"))
		return reply(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/metrics")) {
		struct weft_buf b = {0};
		int rc = con_metrics_page(c, &b);
		enum MHD_Result r = rc ? MHD_NO
		    : reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
		            b.p, b.len, MHD_RESPMEM_MUST_COPY);
		free(b.p);
		return r;
	}
	for (size_t i = 0; i < con_n_assets; i++)
		if (!strcmp(url, con_assets[i].path))
			return reply(conn, MHD_HTTP_OK, con_assets[i].type, con_assets[i].data,
			             con_assets[i].len, MHD_RESPMEM_PERSISTENT);
	return refuse(c, conn, MHD_HTTP_NOT_FOUND, CON_BAD_NOT_FOUND, "not found");
}

/* ---- connections -------------------------------------------------------- */

static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)addr;
	(void)addrlen;
	struct op_console *c = cls;
	if ((unsigned)atomic_load(&c->conns) >= c->cfg.max_conns) {
		atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
		return MHD_NO;
	}
	return MHD_YES;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
	(void)conn;
	(void)socket_context;
	struct op_console *c = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&c->conns, 1);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		atomic_fetch_sub(&c->conns, 1);
}

__attribute__((format(printf, 2, 0))) static void
on_log(void *cls, const char *fmt, va_list ap)
{
	struct op_console *c = cls;
	http_log_start(c->starter, c->starterr, sizeof c->starterr, fmt, ap);
}

/* "PORT", "HOST:PORT" or "[V6]:PORT" into host (c->host) and port. */
static int
split_addr(struct op_console *c, const char *addr, uint16_t *port, char *errstr,
           size_t errlen)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	const char *p = colon ? colon + 1 : addr;
	if (addr && addr[0] == '[' && (!colon || colon[-1] != ']'))
		p = NULL; /* a bracketed address needs its port */
	if (addr && addr[0] != '[' && colon && memchr(addr, ':', (size_t)(colon - addr)))
		p = NULL; /* a bare IPv6 address: its port would be ambiguous */
	char *end = NULL;
	unsigned long v = p && *p ? strtoul(p, &end, 10) : 70000;
	if (!p || !*p || *end || v > 65535 || *p == '-' || *p == '+') {
		weft_errf(errstr, errlen, "console: '%s' is not PORT, HOST:PORT or [V6]:PORT",
		          addr ? addr : "");
		return WEFT_EINVAL;
	}
	*port = (uint16_t)v;
	size_t hl = colon ? (size_t)(colon - addr) : 0;
	c->host = strndup(colon ? addr : "127.0.0.1", colon ? hl : 9);
	return c->host ? 0 : WEFT_ENOMEM;
}

static int
start_daemon(struct op_console *c, char *errstr, size_t errlen)
{
	uint16_t port;
	struct http_addr ha;
	int rc = split_addr(c, c->cfg.addr, &port, errstr, errlen);
	rc = rc ? rc : http_addr_parse(c->host, port, &ha, "console", errstr, errlen);
	if (rc)
		return rc;
	c->starter = pthread_self();
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_ERROR_LOG | (ha.v6 ? MHD_USE_IPv6 : 0);
	errno = 0;
	c->daemon = MHD_start_daemon(flags, port, on_accept, c, on_request, c,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, c,
	    MHD_OPTION_SOCK_ADDR, ha.sa,
	    MHD_OPTION_CONNECTION_LIMIT, c->cfg.max_conns + 1,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CON_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CON_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, c,
	    MHD_OPTION_END);
	if (!c->daemon) {
		int e = errno;
		weft_errf(errstr, errlen, "console: cannot listen on %s%s%s:%u: %s",
		          ha.v6 ? "[" : "", ha.host, ha.v6 ? "]" : "", (unsigned)port,
		          c->starterr[0] ? c->starterr : e ? strerror(e) : "cannot start");
		return WEFT_EIO;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(c->daemon,
	                                                       MHD_DAEMON_INFO_BIND_PORT);
	c->port = info && info->port ? info->port : port;
	snprintf(c->url, sizeof c->url, "http://%s%s%s:%u/", ha.v6 ? "[" : "", ha.host,
	         ha.v6 ? "]" : "", (unsigned)c->port);
	return 0;
}

int
op_console_start(const struct op_console_config *cfg, struct op_check_config *check,
                 unsigned workers, op_console_gauges_fn gauges, void *gauges_arg,
                 struct op_console **out, char *errstr, size_t errlen)
{
	*out = NULL;
	if (!cfg->max_anomalies || !cfg->heat_seconds || !cfg->heat_templates ||
	    !cfg->max_conns || !cfg->normal_every || cfg->max_query < 64 || !workers) {
		weft_errf(errstr, errlen, "console: max_anomalies, heat_seconds, heat_templates, "
		          "max_conns and normal_every must be at least 1, max_query at least 64");
		return WEFT_EINVAL;
	}
	struct op_console *c = calloc(1, sizeof *c);
	if (!c) {
		weft_errf(errstr, errlen, "console: out of memory");
		return WEFT_ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->tick_cv, NULL);
	op_prom_epoch_close_init(&c->epoch_close);
	c->cfg = *cfg;
	c->check = check;
	c->workers = workers;
	c->gauges = gauges;
	c->gauges_arg = gauges_arg;
	c->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
	int rc = cfg->token && *cfg->token && !c->token ? WEFT_ENOMEM : con_store_init(c);
	if (rc)
		weft_errf(errstr, errlen, "console: out of memory");
	rc = rc ? rc : start_daemon(c, errstr, errlen);
	if (!rc && (rc = con_ticker_start(c)))
		weft_errf(errstr, errlen, "console: cannot start its ticker thread");
	if (rc) {
		op_console_stop(c);
		return rc;
	}
	check->observe_arg = c;
	check->observe = op_console_observe;
	*out = c;
	return 0;
}

const char *
op_console_url(const struct op_console *c)
{
	return c ? c->url : "";
}

void
op_console_stop(struct op_console *c)
{
	if (!c)
		return;
	if (c->check && c->check->observe_arg == c) {
		c->check->observe = NULL;
		c->check->observe_arg = NULL;
	}
	con_ticker_stop(c); /* also ends the event streams */
	if (c->daemon)
		MHD_stop_daemon(c->daemon);
	con_store_free(c);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_cond_destroy(&c->tick_cv);
	free(c->token);
	free(c->host);
	free(c);
}

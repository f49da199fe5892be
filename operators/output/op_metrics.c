/*
 * op_metrics.c — Prometheus metrics over HTTP: a small libmicrohttpd server
 * (one internal polling thread) answering GET /metrics with the text
 * exposition format 0.0.4 and GET /healthz with "ok", plus the helpers
 * that write the exposition (families, samples, label escaping).
 *
 * Every scrape renders into a fresh buffer on the server thread; MHD
 * copies it into the response, so nothing is shared between scrapes.
 * Errors met while starting (address in use, bad address) are caught
 * through MHD's logger on the starting thread and put into errstr; later
 * messages from the server thread (clients going away) are dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "operators/output/http_int.h"
#include "operators/output/output.h"

/* Enough room that idle or half-open connections cannot starve a scrape:
 * they are dropped after METRICS_CONN_TIMEOUT_S, and a scraper needs one
 * slot for well under a second. */
#define METRICS_CONN_LIMIT 256
#define METRICS_CONN_TIMEOUT_S 2

static const char CT_METRICS[] = "text/plain; version=0.0.4; charset=utf-8";
static const char CT_TEXT[] = "text/plain; charset=utf-8";

struct op_metrics_server {
	struct MHD_Daemon *daemon;
	op_metrics_render_fn render;
	void *arg;
	uint16_t port;
	char url[96];       /* http://HOST:PORT as bound */
	pthread_t starter;  /* the thread in op_metrics_start() */
	char starterr[256]; /* MHD's first message while starting */
};

/* ---- exposition helpers ---------------------------------------------- */

/* Appends s, escaping backslash and newline, and also '"' when quote. */
static int
append_escaped(struct weft_buf *out, const char *s, int quote)
{
	const char *run = s;
	int rc = 0;
	for (const char *p = s; !rc && *p; p++) {
		const char *esc = NULL;
		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p == '"' && quote)
			esc = "\\\"";
		if (!esc)
			continue;
		rc = weft_buf_printf(out, "%.*s%s", (int)(p - run), run, esc);
		run = p + 1;
	}
	if (!rc && *run)
		rc = weft_buf_printf(out, "%s", run);
	return rc;
}

int
op_metrics_escape(struct weft_buf *out, const char *value)
{
	if (!out || !value)
		return WEFT_EINVAL;
	return append_escaped(out, value, 1);
}

int
op_metrics_family(struct weft_buf *out, const char *name, const char *type,
                  const char *help)
{
	if (!out || !name || !*name)
		return WEFT_EINVAL;
	int rc = 0;
	if (help) {
		rc = weft_buf_printf(out, "# HELP %s ", name);
		if (!rc)
			rc = append_escaped(out, help, 0);
		if (!rc)
			rc = weft_buf_printf(out, "\n");
	}
	if (!rc && type)
		rc = weft_buf_printf(out, "# TYPE %s %s\n", name, type);
	return rc;
}

/* Prometheus spelling of a value: integral values exactly as integers,
 * others in the shortest of %.15g/%.17g that reads back the same. */
static void
format_value(char *s, size_t n, double v)
{
	if (isnan(v)) {
		snprintf(s, n, "NaN");
	} else if (isinf(v)) {
		snprintf(s, n, "%cInf", v > 0 ? '+' : '-');
	} else if (v > -9.2e18 && v < 9.2e18 && (double)(int64_t)v == v) {
		snprintf(s, n, "%" PRId64, (int64_t)v);
	} else {
		snprintf(s, n, "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, n, "%.17g", v);
	}
}

int
op_metrics_sample(struct weft_buf *out, const char *name, const char *labels,
                  double value)
{
	if (!out || !name || !*name)
		return WEFT_EINVAL;
	char v[40];
	format_value(v, sizeof v, value);
	if (labels && *labels)
		return weft_buf_printf(out, "%s{%s} %s\n", name, labels, v);
	return weft_buf_printf(out, "%s %s\n", name, v);
}

/* ---- HTTP ------------------------------------------------------------- */

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
      const char *body, size_t len, int allow)
{
	struct MHD_Response *resp;
	if (len)
		resp = MHD_create_response_from_buffer(len, (void *)body,
		                                       MHD_RESPMEM_MUST_COPY);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"",
		                                       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	enum MHD_Result r = MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (r == MHD_YES && allow)
		r = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (r == MHD_YES)
		r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result
reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
           int allow)
{
	return reply(conn, status, CT_TEXT, text, strlen(text), allow);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
	struct op_metrics_server *s = cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                  "method not allowed\n", 1);
	if (strcmp(url, "/healthz") == 0)
		return reply_text(conn, MHD_HTTP_OK, "ok\n", 0);
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", 0);

	struct weft_buf buf = {0};
	int rc = s->render(s->arg, &buf);
	enum MHD_Result r;
	if (rc)
		r = reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		               "metrics unavailable\n", 0);
	else
		r = reply(conn, MHD_HTTP_OK, CT_METRICS, buf.p, buf.len, 0);
	free(buf.p);
	return r;
}

void
http_log_start(pthread_t starter, char *buf, size_t len, const char *fmt, va_list ap)
{
	if (!pthread_equal(pthread_self(), starter) || buf[0])
		return;
	vsnprintf(buf, len, fmt, ap);
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
}

__attribute__((format(printf, 2, 0))) static void
on_log(void *cls, const char *fmt, va_list ap)
{
	struct op_metrics_server *s = cls;
	http_log_start(s->starter, s->starterr, sizeof s->starterr, fmt, ap);
}

int
http_addr_parse(const char *addr, uint16_t port, struct http_addr *out,
                const char *what, char *errstr, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!addr || !*addr)
		addr = "127.0.0.1";
	/* A numeric address; IPv6 may come bracketed ("[::1]"). */
	size_t alen = strlen(addr);
	if (addr[0] == '[' && alen > 2 && addr[alen - 1] == ']' &&
	    alen - 2 < sizeof out->host) {
		memcpy(out->host, addr + 1, alen - 2);
		out->host[alen - 2] = '\0';
	} else if (alen < sizeof out->host) {
		memcpy(out->host, addr, alen + 1);
	}
	if (inet_pton(AF_INET, out->host, &out->sin.sin_addr) == 1) {
		out->sin.sin_family = AF_INET;
		out->sin.sin_port = htons(port);
		out->sa = (const struct sockaddr *)&out->sin;
	} else if (inet_pton(AF_INET6, out->host, &out->sin6.sin6_addr) == 1) {
		out->sin6.sin6_family = AF_INET6;
		out->sin6.sin6_port = htons(port);
		out->sa = (const struct sockaddr *)&out->sin6;
		out->v6 = 1;
	} else {
		weft_errf(errstr, errlen,
		        "%s: '%s' is not a numeric IPv4 or IPv6 address", what, addr);
		return WEFT_EINVAL;
	}
	return 0;
}

int
op_metrics_start(const char *addr, uint16_t port, op_metrics_render_fn render,
                 void *arg, struct op_metrics_server **out, char *errstr,
                 size_t errlen)
{
	if (out)
		*out = NULL;
	if (!render || !out) {
		weft_errf(errstr, errlen, "metrics: no render function or result");
		return WEFT_EINVAL;
	}
	struct http_addr ha;
	int rc = http_addr_parse(addr, port, &ha, "metrics", errstr, errlen);
	if (rc)
		return rc;
	const char *host = ha.host;
	int v6 = ha.v6;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);

	struct op_metrics_server *s = calloc(1, sizeof *s);
	if (!s) {
		weft_errf(errstr, errlen, "metrics: out of memory");
		return WEFT_ENOMEM;
	}
	s->render = render;
	s->arg = arg;
	s->starter = pthread_self();

	errno = 0;
	s->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
	    MHD_OPTION_SOCK_ADDR, ha.sa,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_CONN_TIMEOUT_S,
	    MHD_OPTION_END);
	if (!s->daemon) {
		int e = errno;
		const char *why = s->starterr[0] ? s->starterr
		                  : e ? strerror(e) : "cannot start the HTTP server";
		weft_errf(errstr, errlen, "metrics: cannot listen on %s%s%s:%u: %s",
		        v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port, why);
		free(s);
		return WEFT_EIO;
	}

	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info && info->port ? info->port : port;
	if (!s->port) {
		weft_errf(errstr, errlen,
		        "metrics: cannot tell which port %s%s%s:0 was bound to",
		        v6 ? "[" : "", host, v6 ? "]" : "");
		MHD_stop_daemon(s->daemon);
		free(s);
		return WEFT_EIO;
	}
	snprintf(s->url, sizeof s->url, "http://%s%s%s:%u", v6 ? "[" : "", host,
	         v6 ? "]" : "", (unsigned)s->port);
	*out = s;
	return 0;
}

const char *
op_metrics_url(const struct op_metrics_server *s)
{
	return s ? s->url : "";
}

uint16_t
op_metrics_port(const struct op_metrics_server *s)
{
	return s ? s->port : 0;
}

void
op_metrics_stop(struct op_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}

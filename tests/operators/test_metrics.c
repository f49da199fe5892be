/*
 * test_metrics.c — the Prometheus metrics endpoint: exposition helpers
 * (escaping, value spelling), and the HTTP server scraped with a plain
 * socket client (status, content type, body, 404/405/500, port in use,
 * IPv6, concurrent scrapes against a counter being updated).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"

/* ---- a plain HTTP/1.0 client ------------------------------------------ */

struct http_resp {
	int status;
	char ctype[128];
	char *raw;        /* whole response, NUL-terminated */
	size_t len;
	const char *body; /* into raw */
	size_t body_len;
};

static void
http_resp_free(struct http_resp *r)
{
	free(r->raw);
	memset(r, 0, sizeof *r);
}

/* Sends req to the loopback address of family on port and reads the reply
 * to EOF. No cmocka calls: safe from any thread. Returns 0 or -1. */
static int
http_request(int family, uint16_t port, const char *req, struct http_resp *r)
{
	memset(r, 0, sizeof *r);
	struct sockaddr_in sin = {0};
	struct sockaddr_in6 sin6 = {0};
	const struct sockaddr *sa;
	socklen_t salen;
	if (family == AF_INET6) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		sin6.sin6_addr = in6addr_loopback;
		sa = (const struct sockaddr *)&sin6;
		salen = sizeof sin6;
	} else {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa = (const struct sockaddr *)&sin;
		salen = sizeof sin;
	}
	int fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, sa, salen) != 0)
		goto fail;
	size_t left = strlen(req);
	for (const char *p = req; left;) {
		ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
		if (n <= 0)
			goto fail;
		p += n;
		left -= (size_t)n;
	}
	size_t cap = 4096;
	r->raw = malloc(cap);
	if (!r->raw)
		goto fail;
	for (;;) {
		if (r->len + 1 >= cap) {
			char *np = realloc(r->raw, cap * 2);
			if (!np)
				goto fail;
			r->raw = np;
			cap *= 2;
		}
		ssize_t n = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		r->len += (size_t)n;
	}
	close(fd);
	fd = -1;
	r->raw[r->len] = '\0';

	/* "HTTP/1.x NNN reason" */
	if (strncmp(r->raw, "HTTP/1.", 7) != 0 || r->len < 12)
		goto fail;
	r->status = atoi(r->raw + 9);
	char *end = strstr(r->raw, "\r\n\r\n");
	if (!end)
		goto fail;
	r->body = end + 4;
	r->body_len = r->len - (size_t)(r->body - r->raw);
	for (char *line = strstr(r->raw, "\r\n") + 2; line < end;) {
		char *eol = strstr(line, "\r\n");
		if (strncasecmp(line, "Content-Type:", 13) == 0) {
			const char *v = line + 13;
			while (*v == ' ')
				v++;
			int n = (int)(eol - v);
			snprintf(r->ctype, sizeof r->ctype, "%.*s", n, v);
		}
		line = eol + 2;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	http_resp_free(r);
	return -1;
}

static void
get_ok(uint16_t port, const char *path, struct http_resp *r)
{
	char req[256];
	snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
	assert_int_equal(http_request(AF_INET, port, req, r), 0);
}

/* GET path and check the status; the caller checks the rest and frees r. */
static void
get_status(uint16_t port, const char *path, int status, struct http_resp *r)
{
	get_ok(port, path, r);
	if (r->status != status)
		fail_msg("GET %s: status %d, want %d", path, r->status, status);
}

/* GET path where only the status matters. */
static void
expect_status(uint16_t port, const char *path, int status)
{
	struct http_resp r;
	get_status(port, path, status, &r);
	http_resp_free(&r);
}

/* ---- render callbacks --------------------------------------------------- */

static int
render_fixed(void *arg, struct weft_buf *out)
{
	(void)arg;
	struct weft_buf lab = {0};
	int rc = op_metrics_family(out, "weft_test_events_total", "counter",
	                           "Events read, \\ and\nmore.");
	rc = rc ? rc : op_metrics_sample(out, "weft_test_events_total", NULL, 42);
	rc = rc ? rc : op_metrics_family(out, "weft_test_lag", "gauge", "Lag.");
	rc = rc ? rc : op_metrics_sample(out, "weft_test_lag",
	                                 "topic=\"t\",partition=\"0\"", 1.5);
	rc = rc ? rc : op_metrics_sample(out, "weft_test_lag",
	                                 "topic=\"t\",partition=\"1\"", -7);
	rc = rc ? rc : op_metrics_family(out, "weft_test_info", "gauge", NULL);
	rc = rc ? rc : weft_buf_printf(&lab, "path=\"");
	rc = rc ? rc : op_metrics_escape(&lab, "a\"b\\c\nd");
	rc = rc ? rc : weft_buf_printf(&lab, "\"");
	rc = rc ? rc : op_metrics_sample(out, "weft_test_info", lab.p, 1);
	free(lab.p);
	return rc;
}

static const char fixed_body[] =
    "# HELP weft_test_events_total Events read, \\\\ and\\nmore.\n"
    "# TYPE weft_test_events_total counter\n"
    "weft_test_events_total 42\n"
    "# HELP weft_test_lag Lag.\n"
    "# TYPE weft_test_lag gauge\n"
    "weft_test_lag{topic=\"t\",partition=\"0\"} 1.5\n"
    "weft_test_lag{topic=\"t\",partition=\"1\"} -7\n"
    "# TYPE weft_test_info gauge\n"
    "weft_test_info{path=\"a\\\"b\\\\c\\nd\"} 1\n";

static const char ct_metrics[] = "text/plain; version=0.0.4; charset=utf-8";

/* A scrape's answer: 200, the exposition content type, exactly body (""
 * for HEAD or an empty render). Frees r. */
static void
check_scrape(struct http_resp *r, const char *body)
{
	assert_int_equal(r->status, 200);
	assert_string_equal(r->ctype, ct_metrics);
	assert_int_equal(r->body_len, strlen(body));
	assert_string_equal(r->body, body);
	http_resp_free(r);
}

static int
render_fail(void *arg, struct weft_buf *out)
{
	(void)arg;
	weft_buf_printf(out, "partial\n");
	return WEFT_EIO;
}

static int
render_empty(void *arg, struct weft_buf *out)
{
	(void)arg;
	(void)out;
	return 0;
}

/* ---- exposition helpers -------------------------------------------------- */

static void
test_escape(void **st)
{
	(void)st;
	struct weft_buf b = {0};
	assert_int_equal(op_metrics_escape(&b, "plain"), 0);
	assert_int_equal(op_metrics_escape(&b, "|"), 0);
	assert_int_equal(op_metrics_escape(&b, "q\"b\\n\nx"), 0);
	assert_int_equal(op_metrics_escape(&b, ""), 0);
	assert_int_equal(op_metrics_escape(&b, "\\\\\"\n"), 0);
	assert_string_equal(b.p, "plain|q\\\"b\\\\n\\nx\\\\\\\\\\\"\\n");
	assert_int_equal(op_metrics_escape(&b, NULL), WEFT_EINVAL);
	free(b.p);

	/* UTF-8 passes through untouched */
	b = (struct weft_buf){0};
	assert_int_equal(op_metrics_escape(&b, "h\xc3\xa9"), 0);
	assert_string_equal(b.p, "h\xc3\xa9");
	free(b.p);
}

static void
test_family(void **st)
{
	(void)st;
	struct weft_buf b = {0};
	assert_int_equal(op_metrics_family(&b, "m", "counter", "Help."), 0);
	assert_int_equal(op_metrics_family(&b, "m", NULL, NULL), 0);
	assert_int_equal(op_metrics_family(&b, "g", "gauge", NULL), 0);
	assert_int_equal(op_metrics_family(&b, "h", NULL, "a \"q\" \\ b\nc"), 0);
	assert_string_equal(b.p, "# HELP m Help.\n# TYPE m counter\n"
	                         "# TYPE g gauge\n"
	                         "# HELP h a \"q\" \\\\ b\\nc\n");
	assert_int_equal(op_metrics_family(&b, NULL, "gauge", NULL), WEFT_EINVAL);
	assert_int_equal(op_metrics_family(&b, "", "gauge", NULL), WEFT_EINVAL);
	free(b.p);
}

static void
check_value(double v, const char *want)
{
	struct weft_buf b = {0};
	char line[64];
	assert_int_equal(op_metrics_sample(&b, "x", NULL, v), 0);
	snprintf(line, sizeof line, "x %s\n", want);
	assert_string_equal(b.p, line);
	free(b.p);
}

static void
test_sample_values(void **st)
{
	(void)st;
	check_value(0, "0");
	check_value(-0.0, "0");
	check_value(42, "42");
	check_value(-7, "-7");
	check_value(1e15, "1000000000000000");
	check_value(9007199254740993.0, "9007199254740992");
	check_value(18446744073709551615.0, "1.8446744073709552e+19");
	check_value(1.5, "1.5");
	check_value(0.1, "0.1");
	check_value(1.0 / 3, "0.33333333333333331");
	check_value(2.5e-9, "2.5e-09");
	check_value(NAN, "NaN");
	check_value(INFINITY, "+Inf");
	check_value(-INFINITY, "-Inf");

	struct weft_buf b = {0};
	assert_int_equal(op_metrics_sample(&b, "y", "", 3), 0);
	assert_int_equal(op_metrics_sample(&b, "y", "a=\"b\"", 4), 0);
	assert_string_equal(b.p, "y 3\ny{a=\"b\"} 4\n");
	assert_int_equal(op_metrics_sample(&b, NULL, NULL, 1), WEFT_EINVAL);
	free(b.p);
}

/* ---- the server ------------------------------------------------------- */

static struct op_metrics_server *
start_ok(op_metrics_render_fn fn, void *arg)
{
	struct op_metrics_server *s = NULL;
	char err[256] = "";
	int rc = op_metrics_start("127.0.0.1", 0, fn, arg, &s, err, sizeof err);
	if (rc)
		fail_msg("op_metrics_start: %d %s", rc, err);
	assert_non_null(s);
	assert_int_not_equal(op_metrics_port(s), 0);
	return s;
}

static void
test_scrape(void **st)
{
	(void)st;
	struct op_metrics_server *s = start_ok(render_fixed, NULL);
	struct http_resp r;
	get_ok(op_metrics_port(s), "/metrics", &r);
	check_scrape(&r, fixed_body);

	/* a query string does not change the path; a second scrape works */
	get_status(op_metrics_port(s), "/metrics?x=1", 200, &r);
	assert_string_equal(r.body, fixed_body);
	http_resp_free(&r);

	/* HEAD: headers only */
	assert_int_equal(http_request(AF_INET, op_metrics_port(s),
	                              "HEAD /metrics HTTP/1.0\r\n\r\n", &r), 0);
	check_scrape(&r, "");
	op_metrics_stop(s);
}

/* Slow clients (requests begun and fed a byte at a time, never finished)
 * must not keep a scraper out: with 40 of them open and kept alive, a
 * scrape still gets its answer (with room for only 16 connections it
 * waited in the listen queue until its own 10 s receive limit). The
 * server also says where it listens. */
struct scrape_job {
	uint16_t port;
	struct http_resp r;
	int rc;
	_Atomic int done;
};

static void *
scrape_thread(void *arg)
{
	struct scrape_job *j = arg;
	j->rc = http_request(AF_INET, j->port, "GET /metrics HTTP/1.0\r\n\r\n", &j->r);
	atomic_store(&j->done, 1);
	return NULL;
}

static void
test_slow_clients_do_not_starve_a_scrape(void **st)
{
	(void)st;
	struct op_metrics_server *s = start_ok(render_fixed, NULL);
	uint16_t port = op_metrics_port(s);
	char want[64];
	snprintf(want, sizeof want, "http://127.0.0.1:%u", (unsigned)port);
	assert_string_equal(op_metrics_url(s), want);
	enum { SLOW = 40 };
	int fds[SLOW];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < SLOW; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fds[i] >= 0);
		assert_int_equal(connect(fds[i], (const struct sockaddr *)&sin, sizeof sin), 0);
		assert_int_equal(send(fds[i], "GET /metrics HTTP/1.0\r\nX-Slow: ", 32,
		                      MSG_NOSIGNAL), 32);
	}
	struct scrape_job j = {.port = port};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, scrape_thread, &j), 0);
	/* keep the slow ones alive (a byte each, every 200 ms) until the
	 * scrape is answered or gives up (its receive limit is 10 s) */
	for (int k = 0; k < 100 && !atomic_load(&j.done); k++) {
		for (int i = 0; i < SLOW; i++)
			(void)send(fds[i], "x", 1, MSG_NOSIGNAL);
		usleep(200 * 1000);
	}
	pthread_join(th, NULL);
	assert_int_equal(j.rc, 0);
	check_scrape(&j.r, fixed_body);
	for (int i = 0; i < SLOW; i++)
		close(fds[i]);
	op_metrics_stop(s);
}

static void
test_empty_render(void **st)
{
	(void)st;
	struct op_metrics_server *s = start_ok(render_empty, NULL);
	struct http_resp r;
	get_ok(op_metrics_port(s), "/metrics", &r);
	check_scrape(&r, "");
	op_metrics_stop(s);
}

static void
test_healthz(void **st)
{
	(void)st;
	struct op_metrics_server *s = start_ok(render_fail, NULL);
	struct http_resp r;
	get_status(op_metrics_port(s), "/healthz", 200, &r);
	assert_string_equal(r.body, "ok\n");
	http_resp_free(&r);
	op_metrics_stop(s);
}

static void
test_not_found_and_method(void **st)
{
	(void)st;
	struct op_metrics_server *s = start_ok(render_fixed, NULL);
	uint16_t port = op_metrics_port(s);
	expect_status(port, "/", 404);
	expect_status(port, "/metrics/", 404);
	expect_status(port, "/nope", 404);

	struct http_resp r;
	assert_int_equal(http_request(AF_INET, port,
	    "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", &r), 0);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.raw, "\r\nAllow: GET, HEAD\r\n"));
	http_resp_free(&r);
	assert_int_equal(http_request(AF_INET, port,
	    "DELETE /healthz HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 405);
	http_resp_free(&r);

	/* still serving after all that */
	expect_status(port, "/metrics", 200);
	op_metrics_stop(s);
}

static void
test_render_error(void **st)
{
	(void)st;
	struct op_metrics_server *s = start_ok(render_fail, NULL);
	struct http_resp r;
	get_status(op_metrics_port(s), "/metrics", 500, &r);
	assert_null(strstr(r.body, "partial"));
	http_resp_free(&r);
	op_metrics_stop(s);
}

static void
test_port_in_use(void **st)
{
	(void)st;
	struct op_metrics_server *a = start_ok(render_fixed, NULL);
	uint16_t port = op_metrics_port(a);
	struct op_metrics_server *b = (void *)&b;
	char err[256] = "";
	int rc = op_metrics_start("127.0.0.1", port, render_fixed, NULL, &b, err,
	                          sizeof err);
	assert_int_not_equal(rc, 0);
	assert_null(b);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port);
	if (!strstr(err, want))
		fail_msg("message without the address: '%s'", err);
	print_message("expected failure: %s\n", err);

	/* a NULL / too small errstr is fine */
	b = NULL;
	rc = op_metrics_start(NULL, port, render_fixed, NULL, &b, NULL, 0);
	assert_int_not_equal(rc, 0);
	assert_null(b);

	/* the first one still answers */
	expect_status(port, "/healthz", 200);
	op_metrics_stop(a);
}

static void
test_bad_args(void **st)
{
	(void)st;
	struct op_metrics_server *s = NULL;
	char err[256] = "";
	assert_int_equal(op_metrics_start("localhost", 0, render_fixed, NULL, &s,
	                                  err, sizeof err), WEFT_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "localhost"));
	assert_int_equal(op_metrics_start("127.0.0.1", 0, NULL, NULL, &s, err,
	                                  sizeof err), WEFT_EINVAL);
	assert_int_equal(op_metrics_start("127.0.0.1", 0, render_fixed, NULL,
	                                  NULL, err, sizeof err), WEFT_EINVAL);
	assert_int_equal(op_metrics_port(NULL), 0);
}

/* Whether this host can bind the IPv6 loopback at all. */
static int
have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	sin6.sin6_addr = in6addr_loopback;
	int ok = bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0;
	close(fd);
	return ok;
}

static void
test_ipv6(void **st)
{
	(void)st;
	if (!have_ipv6()) {
		print_message("no IPv6 loopback here: skipped\n");
		skip();
	}
	const char *addrs[] = {"::1", "[::1]"};
	for (unsigned i = 0; i < 2; i++) {
		struct op_metrics_server *s = NULL;
		char err[256] = "";
		int rc = op_metrics_start(addrs[i], 0, render_fixed, NULL, &s, err,
		                          sizeof err);
		if (rc)
			fail_msg("op_metrics_start(%s): %d %s", addrs[i], rc, err);
		uint16_t port = op_metrics_port(s);
		assert_int_not_equal(port, 0);
		struct http_resp r;
		assert_int_equal(http_request(AF_INET6, port,
		                              "GET /metrics HTTP/1.0\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, fixed_body);
		http_resp_free(&r);

		/* same port again: in use, message with the bracketed address */
		struct op_metrics_server *b = NULL;
		rc = op_metrics_start("::1", port, render_fixed, NULL, &b, err,
		                      sizeof err);
		assert_int_not_equal(rc, 0);
		assert_null(b);
		char want[64];
		snprintf(want, sizeof want, "[::1]:%u", (unsigned)port);
		if (!strstr(err, want))
			fail_msg("message without the address: '%s'", err);
		op_metrics_stop(s);
	}
}

/* ---- concurrency ------------------------------------------------------- */

#define SCRAPERS 4
#define SCRAPES 50

struct conc {
	_Atomic uint64_t counter;
	_Atomic int done;
	_Atomic unsigned renders;
	uint16_t port;
};

struct scraper {
	struct conc *c;
	unsigned ok, bad;
	uint64_t last;
	int monotonic;
};

static int
render_counter(void *arg, struct weft_buf *out)
{
	struct conc *c = arg;
	atomic_fetch_add(&c->renders, 1);
	int rc = op_metrics_family(out, "weft_test_counter", "counter", "Updated.");
	if (!rc)
		rc = op_metrics_sample(out, "weft_test_counter", NULL,
		                       (double)atomic_load(&c->counter));
	return rc;
}

static void *
updater_thread(void *arg)
{
	struct conc *c = arg;
	while (!atomic_load(&c->done)) {
		atomic_fetch_add(&c->counter, 1);
		sched_yield();
	}
	return NULL;
}

static void *
scraper_thread(void *arg)
{
	struct scraper *sc = arg;
	sc->monotonic = 1;
	for (unsigned i = 0; i < SCRAPES; i++) {
		struct http_resp r;
		if (http_request(AF_INET, sc->c->port,
		                 "GET /metrics HTTP/1.0\r\n\r\n", &r) != 0) {
			sc->bad++;
			continue;
		}
		const char *v = strstr(r.body, "\nweft_test_counter ");
		if (r.status != 200 || strcmp(r.ctype, ct_metrics) != 0 || !v) {
			sc->bad++;
		} else {
			uint64_t n = strtoull(v + 19, NULL, 10);
			if (n < sc->last)
				sc->monotonic = 0;
			sc->last = n;
			sc->ok++;
		}
		http_resp_free(&r);
	}
	return NULL;
}

static void
test_concurrent(void **st)
{
	(void)st;
	struct conc c = {0};
	struct op_metrics_server *s = start_ok(render_counter, &c);
	c.port = op_metrics_port(s);
	pthread_t up, th[SCRAPERS];
	struct scraper sc[SCRAPERS];
	memset(sc, 0, sizeof sc);
	assert_int_equal(pthread_create(&up, NULL, updater_thread, &c), 0);
	for (unsigned i = 0; i < SCRAPERS; i++) {
		sc[i].c = &c;
		assert_int_equal(pthread_create(&th[i], NULL, scraper_thread, &sc[i]),
		                 0);
	}
	for (unsigned i = 0; i < SCRAPERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&c.done, 1);
	pthread_join(up, NULL);
	op_metrics_stop(s);

	for (unsigned i = 0; i < SCRAPERS; i++) {
		assert_int_equal(sc[i].bad, 0);
		assert_int_equal(sc[i].ok, SCRAPES);
		assert_true(sc[i].monotonic);
	}
	assert_int_equal(atomic_load(&c.renders), SCRAPERS * SCRAPES);
}

static void
test_stop_unused(void **st)
{
	(void)st;
	op_metrics_stop(NULL);
	struct op_metrics_server *s = start_ok(render_fixed, NULL);
	op_metrics_stop(s);
	/* start/stop in a row, no scrape in between */
	for (unsigned i = 0; i < 5; i++)
		op_metrics_stop(start_ok(render_fixed, NULL));
}

/* A histogram renders cumulative buckets in seconds, +Inf, _sum, _count. */
static void
test_prom_histogram(void **st)
{
	(void)st;
	static const double le[] = {0.001, 0.01, 1};
	struct op_prom_hist h;
	op_prom_hist_init(&h, le, 3);
	const uint64_t v[] = {500000, 1000000, 2000000, 9000000, 500000000, 3000000000ull};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		op_prom_hist_observe(&h, v[i]);
	struct weft_buf b = {0};
	assert_int_equal(op_prom_hist_render(&b, "x_seconds", "k=\"a\"", &h), 0);
	assert_string_equal(b.p,
	    "x_seconds_bucket{k=\"a\",le=\"0.001\"} 2\n"
	    "x_seconds_bucket{k=\"a\",le=\"0.01\"} 4\n"
	    "x_seconds_bucket{k=\"a\",le=\"1\"} 5\n"
	    "x_seconds_bucket{k=\"a\",le=\"+Inf\"} 6\n"
	    "x_seconds_sum{k=\"a\"} 3.5125\n"
	    "x_seconds_count{k=\"a\"} 6\n");
	free(b.p);
}

/* process_* and build info, with plausible values. */
static void
test_prom_process(void **st)
{
	(void)st;
	struct weft_buf b = {0};
	assert_int_equal(op_prom_process(&b), 0);
	const char *names[] = {"\nprocess_cpu_seconds_total ", "\nprocess_resident_memory_bytes ",
	                       "\nprocess_virtual_memory_bytes ", "\nprocess_start_time_seconds ",
	                       "\nprocess_open_fds ", "\nweft_build_info{version=\""};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_non_null(strstr(b.p, names[i]));
	const char *k1 = "\nprocess_resident_memory_bytes ", *k2 = "\nprocess_start_time_seconds ";
	double rss = strtod(strstr(b.p, k1) + strlen(k1), NULL);
	double start = strtod(strstr(b.p, k2) + strlen(k2), NULL);
	assert_true(rss > 1e5);
	assert_true(start > 1.5e9 && start <= (double)time(NULL) + 1);
	free(b.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_histogram),
		cmocka_unit_test(test_prom_process),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_sample_values),
		cmocka_unit_test(test_scrape),
		cmocka_unit_test(test_slow_clients_do_not_starve_a_scrape),
		cmocka_unit_test(test_empty_render),
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_not_found_and_method),
		cmocka_unit_test(test_render_error),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_stop_unused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

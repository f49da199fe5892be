/*
 * test_console.c — the web console's stores (operators/output/console*.c)
 * driven through the check's observe hook as the workers drive it, and
 * read back through its JSON endpoints over a real socket:
 *   - every trace is counted once, by verdict, at once in /api/summary;
 *   - anomalies are kept up to max_anomalies, one normal trace in
 *     normal_every up to max_normal, the oldest evicted and counted;
 *   - lists are newest first and filter by verdict, host, operation and
 *     trace id prefix; a bad filter is a 400;
 *   - /api/trace/ID answers a kept trace with its root operation and
 *     hosts, 404 for one not kept;
 *   - concurrent observers (threads standing for workers) lose nothing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "operators/output/console.h"
#include "test_util.h"
#include "test_traces.h"

static const struct ev_step shape[] = {
	{1, 0, "fs -put", "client7", 1000, 9000},
	{2, 1, "write", "dn1", 2000, 5000},
	{3, 2, "ack", "dn2", 6000, 0},
};

static struct {
	struct op_trace *t;
	struct op_check_config chk;
} G;

static int
setup(void **st)
{
	(void)st;
	G.t = make_trace(shape, 3);
	memset(&G.chk, 0, sizeof G.chk);
	pthread_mutex_init(&G.chk.lock, NULL);
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	free(G.t);
	pthread_mutex_destroy(&G.chk.lock);
	return 0;
}

/* GET path from the console: the status; the body into body (malloc'd). */
static int
get(const struct op_console *c, const char *path, char **body)
{
	unsigned port = 0;
	sscanf(op_console_url(c), "http://127.0.0.1:%u/", &port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = 0;
	close(fd);
	int status = 0;
	sscanf(buf, "HTTP/1.%*d %d", &status);
	char *b = strstr(buf, "\r\n\r\n");
	*body = strdup(b ? b + 4 : "");
	free(buf);
	return status;
}

static size_t
count_of(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* A copy of G.t with this id and verdict. */
static struct op_trace *
variant(uint64_t id, unsigned verdict)
{
	struct op_trace *t = malloc(G.t->size);
	memcpy(t, G.t, G.t->size);
	t->trace_id = id;
	t->verdict = verdict;
	t->tmpl = 0;
	return t;
}

static struct op_console *
start(uint32_t max_anom, uint32_t max_normal, uint32_t every, unsigned workers)
{
	struct op_console_config cfg;
	op_console_config_default(&cfg);
	cfg.addr = "127.0.0.1:0";
	cfg.max_anomalies = max_anom;
	cfg.max_normal = max_normal;
	cfg.normal_every = every;
	struct op_console *c = NULL;
	char err[256];
	assert_int_equal(op_console_start(&cfg, &G.chk, workers, NULL, NULL, &c, err,
	                                  sizeof err), 0);
	assert_ptr_equal(G.chk.observe_arg, c);
	return c;
}

static void
test_counts_keeps_and_evicts(void **st)
{
	(void)st;
	struct op_console *c = start(3, 2, 2, 1);
	struct cluster_verdict cv;
	memset(&cv, 0, sizeof cv);
	cv.tmpl = 0;
	for (uint64_t i = 1; i <= 5; i++) { /* 5 anomalies: 3 kept */
		struct op_trace *t = variant(0xa0 + i, OP_VERDICT_UNKNOWN_STRUCTURE);
		char line[64];
		int n = snprintf(line, sizeof line, "{\"trace_id\":\"%016llx\"}\n",
		                 (unsigned long long)t->trace_id);
		G.chk.observe(G.chk.observe_arg, 0, t, &cv, line, (size_t)n);
		free(t);
	}
	for (uint64_t i = 1; i <= 7; i++) { /* 7 normal: 1 in 2 -> 3, 2 kept */
		struct op_trace *t = variant(0xb0 + i, OP_VERDICT_NORMAL);
		G.chk.observe(G.chk.observe_arg, 0, t, &cv, NULL, 0);
		free(t);
	}
	char *b;
	assert_int_equal(get(c, "/api/summary", &b), 200);
	assert_non_null(strstr(b, "\"traces\":12,"));
	assert_non_null(strstr(b, "\"anomalies_kept\":3,\"normal_kept\":2,"));
	assert_non_null(strstr(b, "\"normal\":7,\"unknown_structure\":5,"));
	free(b);
	assert_int_equal(get(c, "/api/anomalies", &b), 200);
	assert_int_equal(count_of(b, "\"trace_id\":\"00000000000000a"), 6); /* record + line */
	/* newest first, the two oldest evicted */
	char *p5 = strstr(b, "00000000000000a5"), *p3 = strstr(b, "00000000000000a3");
	assert_true(p5 && p3 && p5 < p3);
	assert_null(strstr(b, "00000000000000a2"));
	assert_non_null(strstr(b, "\"root_operation\":\"fs -put\""));
	free(b);
	assert_int_equal(get(c, "/api/traces?verdict=normal", &b), 200);
	assert_int_equal(count_of(b, "\"verdict\":\"normal\""), 2);
	assert_non_null(strstr(b, "00000000000000b6"));
	assert_null(strstr(b, "00000000000000b2"));
	free(b);
	assert_int_equal(get(c, "/api/traces?host=dn2&operation=put&trace_id=00000000000000a", &b), 200);
	assert_int_equal(count_of(b, "{\"seq\":"), 3);
	free(b);
	assert_int_equal(get(c, "/api/traces?host=nowhere", &b), 200);
	assert_int_equal(count_of(b, "{\"seq\":"), 0);
	free(b);
	assert_int_equal(get(c, "/api/traces?verdict=nonsense", &b), 400);
	free(b);
	assert_int_equal(get(c, "/api/trace/00000000000000a5", &b), 200);
	assert_non_null(strstr(b, "\"hosts_total\":3,\"hosts\":[\"client7\",\"dn1\",\"dn2\"]"));
	assert_non_null(strstr(b, "\"drawing\":\""));
	free(b);
	assert_int_equal(get(c, "/api/trace/00000000000000a1", &b), 404);
	free(b);
	assert_int_equal(get(c, "/metrics", &b), 200);
	assert_non_null(strstr(b, "weft_console_store_evicted_total{kind=\"anomaly\"} 2\n"));
	assert_non_null(strstr(b, "weft_console_store_evicted_total{kind=\"normal\"} 1\n"));
	assert_non_null(strstr(b, "weft_console_bad_requests_total{reason=\"bad_query\"} 1\n"));
	assert_non_null(strstr(b, "weft_console_bad_requests_total{reason=\"not_found\"} 1\n"));
	free(b);
	op_console_stop(c);
	assert_null(G.chk.observe);
}

struct obs_arg {
	unsigned w;
	uint64_t n;
};

static void *
observer(void *arg)
{
	struct obs_arg *a = arg;
	struct cluster_verdict cv;
	memset(&cv, 0, sizeof cv);
	for (uint64_t i = 0; i < a->n; i++) {
		struct op_trace *t = variant(((uint64_t)a->w << 32) | i,
		                             i % 10 ? OP_VERDICT_NORMAL : OP_VERDICT_SLOW);
		G.chk.observe(G.chk.observe_arg, a->w, t, &cv, i % 10 ? NULL : "{}\n",
		              i % 10 ? 0 : 3);
		free(t);
	}
	return NULL;
}

/* Workers observing at once, a reader reading: every trace counted once. */
static void
test_concurrent_workers(void **st)
{
	(void)st;
	struct op_console *c = start(100000, 100000, 3, 4);
	pthread_t th[4];
	struct obs_arg a[4];
	for (unsigned w = 0; w < 4; w++) {
		a[w] = (struct obs_arg){w, 5000};
		pthread_create(&th[w], NULL, observer, &a[w]);
	}
	char *b;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(get(c, "/api/summary", &b), 200);
		free(b);
	}
	for (unsigned w = 0; w < 4; w++)
		pthread_join(th[w], NULL);
	assert_int_equal(get(c, "/api/summary", &b), 200);
	assert_non_null(strstr(b, "\"traces\":20000,"));
	assert_non_null(strstr(b, "\"anomalies_kept\":2000,"));
	assert_non_null(strstr(b, "\"normal\":18000,\"unknown_structure\":0,\"slow\":2000,"));
	free(b);
	op_console_stop(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_keeps_and_evicts),
		cmocka_unit_test(test_concurrent_workers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

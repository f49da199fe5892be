/*
 * test_serve_mock.c — fault injection for `weft serve` (op_serve_main, in a
 * thread of this process) against librdkafka's mock cluster (no real
 * broker).
 *
 * Layout: three mock brokers. Broker 1 is the group coordinator and leads
 * the output topic; brokers 2 and 3 lead the input partitions, so a fault
 * can hit the input, the output or the commits alone. The workload is
 * NTRACE X-Trace v4 traces (a root and 4-19 children each, one message per
 * report, keyed by trace id) produced in NWAVE paced waves. The service
 * runs with two workers (two group members) unless a test says otherwise;
 * the test reads the traces topic as it goes, stops the service with
 * SIGTERM once every trace is out (serve's own handler calls engine_stop),
 * and then checks the return value, every trace's copies (events and
 * edges as produced) and the group's committed offsets against the ends of
 * the input partitions.
 *
 * Faults: a broker down and up again (an input leader, then the
 * coordinator and output leader), retriable Produce errors on the output,
 * OffsetCommit errors (in the middle of the stream, and on the commit of
 * the last data), 300 ms round trips on every broker, and a permanent
 * Produce failure, which must stop the service with status 1 without
 * committing past the undelivered outputs.
 *
 * Duplicates: serve is at least once; a trace comes out twice only when
 * the group rebalanced (the new owner re-reads what was not committed).
 * The mock coordinator of librdkafka 2.0.2 sometimes answers a follower's
 * SyncGroup with INVALID_REQUEST when the leader's came first, and the
 * group then rebalances once more, so the test reads the rebalance count
 * from serve's /metrics and asks for exactly one copy per trace only when
 * there was no extra rebalance. One emission written twice (the same
 * bytes) is never allowed: the producer is idempotent.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"
#include "cmd/cmd.h"
#include "tests/kafka_mock_util.h"

#define NBROKER 3
#define B_COORD 1   /* group coordinator, output leader */
#define NIN 4       /* input partitions: even ones on broker 2, odd on 3 */
#define NOUT 2      /* output partitions, on broker 1 */
#define NTRACE 200
#define WORKERS 2   /* group members, unless a test says otherwise */
#define KEEP 4      /* value hashes kept per trace */
#define NWAVE 4
#define PER_WAVE (NTRACE / NWAVE)
#define GROUP "weft-mock"
#define IN_TOPIC "xtrace"
#define OUT_TOPIC "traces"
/* Kafka protocol ApiKeys (librdkafka's RD_KAFKAP_* are not public) */
#define API_PRODUCE 0
#define API_OFFSET_COMMIT 8
#define API_LIST_OFFSETS 2

/* ---- the workload -------------------------------------------------------- */

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Trace i: a positive 64-bit id, 5..20 events. */
static uint64_t
tid_of(size_t i)
{
	return (mix(i) & INT64_MAX) | 1;
}

static unsigned
nev_of(size_t i)
{
	return 5 + (unsigned)(mix(i + 1000) % 16);
}

/* Report j of trace i: the root first, then children whose parent is an
 * earlier report of the same trace. */
static int
report(char *buf, size_t cap, size_t i, unsigned j)
{
	uint64_t id = (uint64_t)(i + 1) * 1000 + j + 1;
	uint64_t hrt = 1000000000ULL * (i + 1) + 1000ULL * j;
	if (!j)
		return snprintf(buf, cap,
		                 "{\"TaskID\":\"%016" PRIX64 "\",\"EventID\":\"%" PRIu64
		                 "\",\"HRT\":%" PRIu64 ",\"Host\":\"h%zu\","
		                 "\"Agent\":\"svc\",\"Label\":\"root\"}",
		                 tid_of(i), id, hrt, i % 3);
	uint64_t parent = (uint64_t)(i + 1) * 1000 + mix(i * 64 + j) % j + 1;
	return snprintf(buf, cap,
	                "{\"TaskID\":\"%016" PRIX64 "\",\"EventID\":\"%" PRIu64
	                "\",\"ParentEventID\":[\"%" PRIu64 "\"],\"HRT\":%" PRIu64
	                ",\"Host\":\"h%u\",\"Agent\":\"svc\",\"Label\":\"op%u\"}",
	                tid_of(i), id, parent, hrt, j % 3, j % 5);
}

/* ---- fixture --------------------------------------------------------------- */

struct fx {
	struct kmock km;
	rd_kafka_t *prod;   /* the input */
	rd_kafka_t *reader; /* the traces topic, from the beginning */
	rd_kafka_t *view;   /* a member of GROUP that only reads commits */
	int64_t read_next[NOUT];
	/* per trace: copies out, copies with every event */
	unsigned copies[NTRACE], full[NTRACE];
	uint64_t hash[NTRACE][KEEP]; /* of the first KEEP copies */
	unsigned complete, unknown, bad, outputs;
	unsigned identical; /* one emission written twice */
	/* the service */
	pthread_t th;
	atomic_int done;
	int rc, argc;
	char *argv[64];
	unsigned workers;
	char wflag[16];
	char metrics[32];  /* 127.0.0.1:PORT */
	double rebalances; /* weft_rebalances_total before the stop */
};

/* A quiet client of the mock cluster; with group, a member of it that
 * starts at the beginning when nothing is committed. */
static rd_kafka_conf_t *
conf_for(struct fx *f, const char *group)
{
	rd_kafka_conf_t *conf = kmock_conf(f->km.bootstraps, group);
	if (group)
		kmock_set(conf, "auto.offset.reset", "earliest");
	return conf;
}

static struct fx *
fx_new(void)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	kmock_start(&f->km, NBROKER);
	rd_kafka_mock_cluster_t *mc = f->km.mc;
	kmock_topic(&f->km, IN_TOPIC, NIN, NBROKER);
	kmock_topic(&f->km, OUT_TOPIC, NOUT, NBROKER);
	for (int p = 0; p < NIN; p++)
		assert_int_equal(rd_kafka_mock_partition_set_leader(mc, IN_TOPIC, p,
		                                                    2 + p % 2),
		                 0);
	for (int p = 0; p < NOUT; p++)
		assert_int_equal(rd_kafka_mock_partition_set_leader(mc, OUT_TOPIC, p,
		                                                    B_COORD),
		                 0);
	assert_int_equal(rd_kafka_mock_coordinator_set(mc, "group", GROUP, B_COORD), 0);

	rd_kafka_conf_t *conf = conf_for(f, NULL);
	kmock_set(conf, "enable.idempotence", "true"); /* no duplicate reports */
	kmock_set(conf, "linger.ms", "5");
	f->prod = kmock_client(RD_KAFKA_PRODUCER, conf);

	f->reader = kmock_client(RD_KAFKA_CONSUMER, conf_for(f, "weft-mock-reader"));
	kmock_assign_from_start(f->reader, OUT_TOPIC, NOUT);

	f->view = kmock_client(RD_KAFKA_CONSUMER, conf_for(f, GROUP));
	f->workers = WORKERS;
	return f;
}

static void
fx_free(struct fx *f)
{
	rd_kafka_destroy(f->view);
	rd_kafka_consumer_close(f->reader);
	rd_kafka_destroy(f->reader);
	rd_kafka_destroy(f->prod);
	kmock_stop(&f->km);
	free(f);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

/* ---- input ------------------------------------------------------------------ */

static void
produce_wave(struct fx *f, unsigned w, int flush)
{
	char v[512], key[17];
	for (size_t i = (size_t)w * PER_WAVE; i < (size_t)(w + 1) * PER_WAVE; i++) {
		snprintf(key, sizeof key, "%016" PRIx64, tid_of(i));
		for (unsigned j = 0; j < nev_of(i); j++) {
			int n = report(v, sizeof v, i, j);
			assert_true(n > 0 && (size_t)n < sizeof v);
			kmock_produce(f->prod, IN_TOPIC, key, 16, v, (size_t)n, NULL,
			              NULL);
		}
	}
	if (flush)
		assert_int_equal(rd_kafka_flush(f->prod, 30000), 0);
}

static void
flush_input(struct fx *f)
{
	assert_int_equal(rd_kafka_flush(f->prod, 30000), 0);
	assert_int_equal(rd_kafka_outq_len(f->prod), 0);
}

/* ---- the service ------------------------------------------------------------ */

/* A port nobody listens on now (for the metrics endpoint). */
static unsigned
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A sample without labels from serve's /metrics; -1 when unavailable. */
static double
metric(struct fx *f, const char *name)
{
	const char *colon = strrchr(f->metrics, ':');
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons((uint16_t)atoi(colon + 1))};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	double v = -1;
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	if (!connect(fd, (struct sockaddr *)&a, sizeof a) &&
	    write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
		ssize_t r;
		while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
			n += (size_t)r;
		buf[n] = 0;
		char pat[128];
		snprintf(pat, sizeof pat, "\n%s ", name);
		const char *p = strstr(buf, pat);
		if (p)
			v = strtod(p + strlen(pat), NULL);
	}
	close(fd);
	free(buf);
	return v;
}

static void *
serve_thread(void *arg)
{
	struct fx *f = arg;
	f->rc = op_serve_main(f->argc, f->argv);
	atomic_store(&f->done, 1);
	return NULL;
}

/* Starts `weft serve` with the common flags and `extra` (NULL-ended). */
static void
serve_start(struct fx *f, char **extra)
{
	char *base[] = {
		"serve", "--brokers", (char *)f->km.bootstraps, "--topics", IN_TOPIC,
		"--group", GROUP, "--workers", f->wflag, "--traces.topic", OUT_TOPIC,
		"--anomalies.topic", "", "--deadletter.topic", "", "--metrics", f->metrics,
		"--epoch.ms", "50", "--idle.epochs", "4", "--commit.interval.ms", "200",
		"--consumer.session.timeout.ms", "6000",
		"--consumer.heartbeat.interval.ms", "500", "-X", "log_level=3",
	};
	snprintf(f->wflag, sizeof f->wflag, "%u", f->workers);
	snprintf(f->metrics, sizeof f->metrics, "127.0.0.1:%u", free_port());
	f->argc = 0;
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		f->argv[f->argc++] = base[i];
	for (size_t i = 0; extra && extra[i]; i++) {
		assert_true((size_t)f->argc < sizeof f->argv / sizeof f->argv[0] - 1);
		f->argv[f->argc++] = extra[i];
	}
	f->argv[f->argc] = NULL;
	atomic_store(&f->done, 0);
	assert_int_equal(pthread_create(&f->th, NULL, serve_thread, f), 0);
}

/* Waits for op_serve_main to return; 0, or -1 after `secs`. A service that
 * does not stop cannot be left running against a freed mock cluster, so
 * the caller gives up on the whole binary then. */
static int
serve_wait(struct fx *f, unsigned secs)
{
	int64_t end = now_ms() + secs * 1000;
	while (!atomic_load(&f->done) && now_ms() < end)
		sleep_ms(20);
	if (!atomic_load(&f->done))
		return -1;
	assert_int_equal(pthread_join(f->th, NULL), 0);
	return 0;
}

static void
serve_must_end(struct fx *f, unsigned secs)
{
	if (serve_wait(f, secs)) {
		fprintf(stderr, "weft serve did not return within %u s\n", secs);
		_exit(1);
	}
}

/* Each worker's first assignment is one rebalance callback; more mean the
 * group rebalanced, after which a trace may legitimately come out twice
 * (the new owner re-reads what was not committed yet). */
static void
note_rebalances(struct fx *f)
{
	f->rebalances = metric(f, "weft_rebalances_total");
	fprintf(stderr, "rebalance callbacks: %g\n", f->rebalances);
	assert_true(f->rebalances >= f->workers);
}

/* SIGTERM to this process: serve's handler stops the engine. */
static int
serve_stop(struct fx *f)
{
	note_rebalances(f);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	serve_must_end(f, 60);
	return f->rc;
}

/* ---- output ------------------------------------------------------------------ */

static int
trace_index(uint64_t tid)
{
	for (size_t i = 0; i < NTRACE; i++)
		if (tid_of(i) == tid)
			return (int)i;
	return -1;
}

static long
json_num(const char *s, size_t n, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = memmem(s, n, pat, strlen(pat));
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static void
take(struct fx *f, const rd_kafka_message_t *m)
{
	f->outputs++;
	if (m->partition >= 0 && m->partition < NOUT)
		f->read_next[m->partition] = m->offset + 1;
	char *v = malloc(m->len + 1);
	assert_non_null(v);
	memcpy(v, m->payload, m->len);
	v[m->len] = 0;
	const char *p = strstr(v, "\"trace_id\":\"");
	uint64_t tid = p ? strtoull(p + 12, NULL, 16) : 0;
	int i = p ? trace_index(tid) : -1;
	char key[17];
	snprintf(key, sizeof key, "%016" PRIx64, tid);
	if (i < 0 || m->key_len != 16 || memcmp(m->key, key, 16)) {
		fprintf(stderr, "unexpected output: %s\n", v);
		f->unknown++;
		free(v);
		return;
	}
	long events = json_num(v, m->len, "events"), edges = json_num(v, m->len, "edges");
	unsigned want = nev_of((size_t)i);
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (size_t k = 0; k < m->len; k++)
		h = (h ^ (unsigned char)v[k]) * 0x100000001b3ULL;
	for (unsigned k = 0; k < f->copies[i] && k < KEEP; k++)
		if (f->hash[i][k] == h) {
			fprintf(stderr, "written twice: %s\n", v);
			f->identical++;
		}
	if (f->copies[i] < KEEP)
		f->hash[i][f->copies[i]] = h;
	f->copies[i]++;
	if (events == (long)want && edges == (long)want - 1) {
		if (!f->full[i]++)
			f->complete++;
	} else if (events > (long)want || events < 1) {
		fprintf(stderr, "bad output (want %u events): %s\n", want, v);
		f->bad++;
	}
	free(v);
}

/* Reads the traces topic for about ms. */
static void
read_for(struct fx *f, unsigned ms)
{
	int64_t end = now_ms() + ms;
	do {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(f->reader, 50);
		if (!m)
			continue;
		if (!m->err)
			take(f, m);
		else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			fprintf(stderr, "reader: %s\n", rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
	} while (now_ms() < end);
}

/* Reads until the first `n` traces each have a complete copy out; fails
 * after secs (or when the service ended meanwhile). */
static void
await_traces(struct fx *f, size_t n, unsigned secs)
{
	int64_t end = now_ms() + secs * 1000;
	for (;;) {
		size_t i = 0;
		while (i < n && f->full[i])
			i++;
		if (i == n)
			return;
		if (now_ms() >= end || atomic_load(&f->done))
			break;
		read_for(f, 100);
	}
	for (size_t i = 0; i < n; i++)
		if (!f->full[i])
			fprintf(stderr,
			        "trace %zu (%016" PRIx64 ", %u events): %u copies, none complete\n",
			        i, tid_of(i), nev_of(i), f->copies[i]);
	fail_msg("the first %zu traces are not all out (%u s)", n, secs);
}

/* After the service stopped: everything in the traces topic. */
static void
read_rest(struct fx *f)
{
	int64_t hi[NOUT];
	kmock_ends(f->reader, OUT_TOPIC, NOUT, hi);
	int64_t end = now_ms() + 20000;
	for (;;) {
		int p = 0;
		while (p < NOUT && f->read_next[p] >= hi[p])
			p++;
		if (p == NOUT)
			break;
		assert_true(now_ms() < end);
		read_for(f, 100);
	}
}

/* Every trace of [from, to) out complete; never one emission written
 * twice (the producer is idempotent); each trace exactly once unless the
 * group rebalanced. */
static void
check_traces(struct fx *f, size_t from, size_t to)
{
	int once = f->rebalances == f->workers;
	unsigned missing = 0, dup = 0;
	for (size_t i = from; i < to; i++) {
		if (!f->full[i])
			missing++;
		if (f->copies[i] > 1 && dup++ < 10 && once)
			fprintf(stderr, "trace %zu: %u copies (%u complete)\n", i, f->copies[i],
			        f->full[i]);
	}
	fprintf(stderr, "outputs %u, traces %zu: %u missing, %u duplicated%s (%u written twice), "
	        "%u bad, %u unknown\n",
	        f->outputs, to - from, missing, dup, once ? "" : " after a rebalance",
	        f->identical, f->bad, f->unknown);
	assert_int_equal(missing, 0);
	assert_int_equal(f->identical, 0);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->unknown, 0);
	if (once)
		assert_int_equal(dup, 0);
}

/* ---- offsets ------------------------------------------------------------------ */

static void
print_offsets(const char *what, const int64_t *off)
{
	fprintf(stderr, "%s:", what);
	for (int p = 0; p < NIN; p++)
		fprintf(stderr, " %" PRId64, off[p]);
	fprintf(stderr, "\n");
}

static void
input_ends(struct fx *f, int64_t *hi)
{
	kmock_ends(f->reader, IN_TOPIC, NIN, hi);
}

/* The group's committed offsets (negative: none). */
static void
committed(struct fx *f, int64_t *off)
{
	kmock_committed(f->view, IN_TOPIC, NIN, off);
}

/* The ends of the input and the group's committed offsets, both printed. */
static void
offsets_now(struct fx *f, int64_t *hi, int64_t *off)
{
	input_ends(f, hi);
	committed(f, off);
	print_offsets("input ends", hi);
	print_offsets("committed ", off);
}

/* Waits until the committed offsets are the ends of the input; fails after
 * secs. */
static void
await_committed_to_end(struct fx *f, unsigned secs)
{
	int64_t hi[NIN], off[NIN];
	input_ends(f, hi);
	int64_t end = now_ms() + secs * 1000;
	for (;;) {
		committed(f, off);
		if (!memcmp(off, hi, sizeof off))
			return;
		if (now_ms() >= end)
			break;
		read_for(f, 100);
	}
	print_offsets("input ends", hi);
	print_offsets("committed ", off);
	fail_msg("the commits did not reach the input's ends (%u s)", secs);
}

static void
check_committed_to_end(struct fx *f)
{
	int64_t hi[NIN], off[NIN];
	offsets_now(f, hi, off);
	for (int p = 0; p < NIN; p++) {
		assert_true(hi[p] > 0);
		assert_int_equal(off[p], hi[p]);
	}
}

/* ---- scenario steps ---------------------------------------------------------- */

/* A fixture with `weft serve` running as `workers` group members, with the
 * common flags and `extra` (NULL-ended). */
static struct fx *
fx_serving(unsigned workers, char **extra)
{
	struct fx *f = fx_new();
	f->workers = workers;
	serve_start(f, extra);
	return f;
}

/* Paced waves [from, to). */
static void
produce_waves(struct fx *f, unsigned from, unsigned to)
{
	for (unsigned w = from; w < to; w++) {
		produce_wave(f, w, 1);
		read_for(f, 250);
	}
}

/* Paced waves [from, to), then waits up to secs until every trace of the
 * waves [0, to) is out complete. */
static void
waves_out(struct fx *f, unsigned from, unsigned to, unsigned secs)
{
	produce_waves(f, from, to);
	await_traces(f, (size_t)to * PER_WAVE, secs);
}

/* Broker b down for 2 s while wave w is produced (flushed with flush) and
 * the traces topic is read, then up again. */
static void
wave_with_broker_down(struct fx *f, int32_t b, unsigned w, int flush)
{
	assert_int_equal(rd_kafka_mock_broker_set_down(f->km.mc, b), 0);
	produce_wave(f, w, flush);
	read_for(f, 2000);
	assert_int_equal(rd_kafka_mock_broker_set_up(f->km.mc, b), 0);
}

static size_t
broker_errors_left(struct fx *f, int32_t broker, int16_t api)
{
	size_t n = 0;
	assert_int_equal(rd_kafka_mock_broker_error_stack_cnt(f->km.mc, broker, api, &n), 0);
	return n;
}

/* Reads the traces topic until broker has met every error injected for
 * api; fails after secs. */
static void
await_errors_met(struct fx *f, int32_t broker, int16_t api, unsigned secs)
{
	int64_t end = now_ms() + secs * 1000;
	while (broker_errors_left(f, broker, api) && now_ms() < end)
		read_for(f, 100);
	assert_int_equal(broker_errors_left(f, broker, api), 0);
}

/* Six OffsetCommit timeouts on the coordinator: librdkafka retries a
 * commit twice, so they fail one commit of each of two workers. */
static void
fail_next_commits(struct fx *f)
{
	assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
	                     f->km.mc, B_COORD, API_OFFSET_COMMIT, 6,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0),
	                 0);
}

/* SIGTERM; then status 0, every trace out complete (once unless the group
 * rebalanced) and the commits at the input's ends. Frees f. */
static void
stop_and_check(struct fx *f)
{
	assert_int_equal(serve_stop(f), 0);
	read_rest(f);
	check_traces(f, 0, NTRACE);
	check_committed_to_end(f);
	fx_free(f);
}

/* ---- tests ------------------------------------------------------------------- */

/* Waits up to secs for a sample of /metrics to reach v. */
static double
await_metric(struct fx *f, const char *name, double v, unsigned secs)
{
	int64_t end = now_ms() + secs * 1000;
	double got;
	while ((got = metric(f, name)) != v && now_ms() < end)
		read_for(f, 100);
	return got;
}

/* No fault: every trace out once, committed to the end, status 0. Beside
 * the X-Trace topic, a topic forced to X-Trace JSON that carries Zipkin v2
 * spans: all its records are rejected, and after format.hint.after of
 * them its hint is given, for that topic alone. */
static void
test_serve_baseline(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	kmock_topic(&f->km, "zk", 1, NBROKER);
	for (int i = 0; i < 8; i++) {
		char v[256];
		int n = snprintf(v, sizeof v, "[{\"traceId\":\"%016x\",\"id\":"
		                 "\"%016x\",\"name\":\"get\",\"timestamp\":1,"
		                 "\"localEndpoint\":{\"serviceName\":\"s\"}}]", i + 1,
		                 i + 1);
		kmock_produce(f->prod, "zk", NULL, 0, v, (size_t)n, NULL, NULL);
	}
	flush_input(f);
	/* two places and four texts per worker: most events take the
	 * overflow path, most texts are not kept, and every trace still
	 * comes out whole (the waves' checks); no ready slabs: the workers
	 * map their own, counted */
	char *extra[] = {"--topics", IN_TOPIC ",zk:json", "--format.hint.after", "5",
	                 "--max.places", "2", "--max.texts", "4", "--ready.slabs", "0",
	                 NULL};
	serve_start(f, extra);
	waves_out(f, 0, NWAVE, 60);
	await_committed_to_end(f, 20);
	assert_true(await_metric(f, "weft_topic_format_hint{topic=\"zk\"}", 1, 30) == 1);
	assert_true(metric(f, "weft_topic_format_hint{topic=\"" IN_TOPIC "\"}") == 0);
	assert_true(metric(f, "weft_place_overflow_total") > 0);
	assert_true(metric(f, "weft_text_truncated_total") > 0);
	assert_true(metric(f, "weft_slabs_mapped_inline_total") > 0);
	/* exported, and no finish helper by default in serve */
	assert_true(metric(f, "weft_finish_helped_total") == 0);
	/* every trace out: the epochs that carried them closed, live in
	 * /metrics, the +Inf bucket the count and the lowest bucket in it */
	double n = metric(f, "weft_epoch_close_seconds_count");
	fprintf(stderr, "epoch closes observed: %g\n", n);
	assert_true(n > 0);
	assert_true(metric(f, "weft_epoch_close_seconds_bucket{le=\"+Inf\"}") == n);
	double low = metric(f, "weft_epoch_close_seconds_bucket{le=\"0.001\"}");
	assert_true(low >= 0 && low <= n);
	assert_true(metric(f, "weft_epoch_close_seconds_sum") >= 0);
	stop_and_check(f);
}

/* SIGTERM as soon as the last trace is out, before any commit covers it:
 * the drain and the final commit at shutdown take the offsets to the end.
 * One worker: librdkafka 2.0.2's mock coordinator refuses commits (with
 * REBALANCE_IN_PROGRESS) once a member has left, where Kafka accepts them
 * from the current generation until the rebalance completes, and serve
 * closes its consumers one after another. */
static void
test_serve_sigterm_commits(void **state)
{
	(void)state;
	char *extra[] = {"--commit.interval.ms", "60000", NULL};
	struct fx *f = fx_serving(1, extra);
	waves_out(f, 0, NWAVE, 60);
	int64_t off[NIN];
	committed(f, off);
	print_offsets("committed before the stop", off);
	stop_and_check(f);
}

/* An input leader down for 2 s while a wave is produced and consumed, then
 * the coordinator (which also leads the output) down for 2 s while the
 * next wave is processed: nothing lost, status 0. */
static void
test_serve_broker_down(void **state)
{
	(void)state;
	struct fx *f = fx_serving(WORKERS, NULL);
	waves_out(f, 0, 2, 60);
	wave_with_broker_down(f, 2, 2, 0); /* half of it waits for broker 2 */
	flush_input(f);
	await_traces(f, 3 * PER_WAVE, 60);
	wave_with_broker_down(f, B_COORD, 3, 1);
	await_traces(f, NTRACE, 60);
	await_committed_to_end(f, 30);
	stop_and_check(f);
}

/* Retriable Produce errors on the output: the idempotent producer retries,
 * every trace is out exactly once, status 0. */
static void
test_serve_produce_errors(void **state)
{
	(void)state;
	struct fx *f = fx_serving(WORKERS, NULL);
	/* broker 1 only leads the output: the input is not affected */
	assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
	                     f->km.mc, B_COORD, API_PRODUCE, 6,
	                     RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
	                     RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
	                     RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, 0,
	                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 50,
	                     RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, 0),
	                 0);
	waves_out(f, 0, NWAVE, 60);
	assert_int_equal(broker_errors_left(f, B_COORD, API_PRODUCE), 0);
	await_committed_to_end(f, 20);
	stop_and_check(f);
}

/* OffsetCommit errors in the middle of the stream: librdkafka retries a
 * commit twice, and both workers commit when the commit epoch passes a
 * wave, so six errors fail one commit of each worker. The service keeps
 * running and later commits reach the end. */
static void
test_serve_commit_errors(void **state)
{
	(void)state;
	struct fx *f = fx_serving(WORKERS, NULL);
	waves_out(f, 0, 2, 60);
	await_committed_to_end(f, 20);
	fail_next_commits(f);
	waves_out(f, 2, 3, 60);
	await_errors_met(f, B_COORD, API_OFFSET_COMMIT, 20);
	assert_false(atomic_load(&f->done));
	waves_out(f, 3, NWAVE, 60);
	await_committed_to_end(f, 20);
	stop_and_check(f);
}

/* The commits that cover the last data fail (six errors, as above) and no
 * data comes after them: the offsets must still reach the end, by a later
 * commit or at shutdown. */
static void
test_serve_last_commit_fails(void **state)
{
	(void)state;
	struct fx *f = fx_serving(WORKERS, NULL);
	waves_out(f, 0, NWAVE - 1, 60);
	await_committed_to_end(f, 20);
	fail_next_commits(f);
	waves_out(f, NWAVE - 1, NWAVE, 60);
	await_errors_met(f, B_COORD, API_OFFSET_COMMIT, 20);
	read_for(f, 1000); /* a few more commit intervals */
	stop_and_check(f);
}

/* The first wave is in the topic before the group exists, and the
 * ListOffsets requests that would give its partitions their start take
 * 1.5 s on both input leaders: the ask gives up after 1 s and leaves the
 * partitions to librdkafka's own reset (op_kafka_start_offsets), which
 * starts them at the beginning all the same. */
static void
test_serve_start_offsets_unanswered(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	produce_wave(f, 0, 1);
	for (int32_t b = 2; b <= 3; b++)
		assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
		                     f->km.mc, b, API_LIST_OFFSETS, 2,
		                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 1500,
		                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 1500),
		                 0);
	serve_start(f, NULL);
	waves_out(f, 1, NWAVE, 60);
	await_errors_met(f, 2, API_LIST_OFFSETS, 20);
	await_errors_met(f, 3, API_LIST_OFFSETS, 20);
	await_committed_to_end(f, 20);
	stop_and_check(f);
}

/* 300 ms round trips on every broker: slower, still complete. */
static void
test_serve_slow_brokers(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	for (int b = 1; b <= NBROKER; b++)
		assert_int_equal(rd_kafka_mock_broker_set_rtt(f->km.mc, b, 300), 0);
	serve_start(f, NULL);
	waves_out(f, 0, NWAVE, 90);
	await_committed_to_end(f, 30);
	stop_and_check(f);
}

/* The output refuses every batch for good after the first half: serve
 * stops by itself with status 1, and the committed offsets stay where the
 * delivered half ended (nothing committed past an undelivered output). */
static void
test_serve_delivery_failure(void **state)
{
	(void)state;
	struct fx *f = fx_serving(WORKERS, NULL);
	waves_out(f, 0, 2, 60);
	await_committed_to_end(f, 20);
	int64_t half[NIN];
	input_ends(f, half);
	note_rebalances(f);

	/* broker 1 only leads the output: the input is not affected */
	for (int k = 0; k < 1000; k++)
		assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
		                     f->km.mc, B_COORD, API_PRODUCE, 1,
		                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
		                 0);
	produce_waves(f, 2, NWAVE);
	serve_must_end(f, 60);
	assert_int_equal(f->rc, 1);

	int64_t hi[NIN], off[NIN];
	print_offsets("first half", half);
	offsets_now(f, hi, off);
	int64_t sum_off = 0, sum_hi = 0;
	for (int p = 0; p < NIN; p++) {
		assert_true(hi[p] > half[p]);
		assert_int_equal(off[p], half[p]);
		sum_off += off[p];
		sum_hi += hi[p];
	}
	assert_true(sum_off < sum_hi);
	read_rest(f);
	check_traces(f, 0, 2 * PER_WAVE);
	for (size_t i = 2 * PER_WAVE; i < NTRACE; i++)
		assert_int_equal(f->copies[i], 0);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serve_baseline),
		cmocka_unit_test(test_serve_sigterm_commits),
		cmocka_unit_test(test_serve_broker_down),
		cmocka_unit_test(test_serve_produce_errors),
		cmocka_unit_test(test_serve_commit_errors),
		cmocka_unit_test(test_serve_last_commit_fails),
		cmocka_unit_test(test_serve_slow_brokers),
		cmocka_unit_test(test_serve_start_offsets_unanswered),
		cmocka_unit_test(test_serve_delivery_failure),
	};
	/* e.g. WEFT_TEST_FILTER='*commit*' runs only those */
	const char *only = getenv("WEFT_TEST_FILTER");
	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

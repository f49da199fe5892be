/*
 * test_sim_kafka.c — `weft sim replay --to kafka` against librdkafka's mock
 * cluster (no real broker): every line arrives once, keyed by its trace id
 * (16 lowercase hex digits), each trace in one partition; bad properties
 * are usage errors; retriable Produce errors still deliver everything
 * exactly once and in order (idempotent producer); with
 * --reports-per-message, messages of up to that many lines put every
 * line in the partition its key picks, in order.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "simulator/sim_internal.h"
#include "simulator/sim_ops.h"
#include "simulator/sim_replay.h"
#include "tests/kafka_mock_util.h"

#define NPART 4
#define NTRACE 23

/* ---- the lines --------------------------------------------------------- */

static uint64_t
task_of(size_t t)
{
	return 0x9e3779b97f4a7c15ULL * (t + 1);
}

/* Line i (no newline): event i of trace i % NTRACE, upper-case TaskID as
 * weft sim import writes it. */
static int
line(char *buf, size_t cap, size_t i)
{
	return snprintf(buf, cap, "{\"TaskID\":\"%016" PRIX64 "\",\"EventID\":"
	    "\"%zu\",\"HRT\":%zu,\"Label\":\"ev\"}", task_of(i % NTRACE), i + 1,
	    1000 * i);
}

/* EventID of a line (1-based index), or 0. */
static size_t
event_of(const char *v)
{
	const char *p = strstr(v, "\"EventID\":\"");
	return p ? (size_t)strtoul(p + 11, NULL, 10) : 0;
}

/* Each line i in [0, n) exactly once, value byte-identical, key the trace
 * id in lowercase hex, one partition per trace, and (ordered) the events
 * of a trace in the order written. */
static void
check_topic(struct kmock_rec *r, size_t nr, size_t n, int ordered)
{
	assert_int_equal(nr, n);
	char *seen = calloc(n, 1);
	int part_of[NTRACE];
	size_t last[NTRACE];
	int used[NPART] = {0};
	for (int t = 0; t < NTRACE; t++) {
		part_of[t] = -1;
		last[t] = 0;
	}
	for (size_t k = 0; k < nr; k++) {
		size_t ev = event_of(r[k].value);
		assert_true(ev >= 1 && ev <= n);
		size_t i = ev - 1, t = i % NTRACE;
		assert_false(seen[i]);
		seen[i] = 1;
		char want[256], key[17];
		line(want, sizeof(want), i);
		assert_string_equal(r[k].value, want);
		assert_int_equal(r[k].vlen, strlen(want));
		snprintf(key, sizeof(key), "%016" PRIx64, task_of(t));
		assert_int_equal(r[k].keylen, 16);
		assert_string_equal(r[k].key, key);
		if (part_of[t] < 0)
			part_of[t] = r[k].part;
		assert_int_equal(r[k].part, part_of[t]);
		used[r[k].part] = 1;
		if (ordered) {
			assert_true(ev > last[t]);
			last[t] = ev;
		}
	}
	free(seen);
	/* 23 traces over 4 partitions: the keys do spread */
	assert_true(used[0] + used[1] + used[2] + used[3] >= 2);
}

/* ---- tests ------------------------------------------------------------- */

#define N 600

/* The N lines, in order, in topic[0..NPART). */
static void
check_replayed(const struct kmock *m, const char *topic)
{
	size_t nr;
	struct kmock_rec *r = kmock_read_all(m->bootstraps, topic, NPART, 20, &nr);
	check_topic(r, nr, N, 1);
	kmock_recs_free(r, nr);
}

/* Writes the N lines to a temporary file; its path in path[]. */
static void
write_lines(char *path)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (size_t i = 0; i < N; i++) {
		char buf[256];
		line(buf, sizeof(buf), i);
		fprintf(f, "%s\n", buf);
	}
	assert_int_equal(fclose(f), 0);
}

static void
test_replay_to_kafka_keys_by_trace(void **state)
{
	(void)state;
	struct kmock m;
	kmock_start(&m, 3);
	kmock_topic(&m, "replay", NPART, 1);
	char path[] = "/tmp/weft_sim_kafka_XXXXXX";
	write_lines(path);
	char *argv[] = {"replay", path, "--to", "kafka", "--brokers",
	    (char *)m.bootstraps, "--topic", "replay", "--key", "trace",
	    "-X", "message.timeout.ms=30000"};
	assert_int_equal(sim_cmd_replay((int)(sizeof(argv) / sizeof(argv[0])),
	    argv), 0);
	unlink(path);
	check_replayed(&m, "replay");
	kmock_stop(&m);
}

/* --batch 7: messages of 1 to 7 lines joined by '\n', no
 * key; split again, they are the N lines, each once, byte-identical, each
 * trace in the partition that one keyed message per line gave it, and in
 * order within it. */
static void
test_reports_per_message_keep_partition_and_order(void **state)
{
	(void)state;
	struct kmock m;
	kmock_start(&m, 3);
	kmock_topic(&m, "one", NPART, 1);
	kmock_topic(&m, "many", NPART, 1);
	kmock_topic(&m, "spans", NPART, 1);
	char path[] = "/tmp/weft_sim_kafka_XXXXXX";
	write_lines(path);
	/* the same option (its alias) batches spans: Zipkin lists of 1-5 */
	char *spans[] = {"replay", path, "--to", "kafka", "--brokers",
	    (char *)m.bootstraps, "--topic", "spans", "--format", "zipkin",
	    "--reports-per-message", "5"};
	assert_int_equal(sim_cmd_replay(12, spans), 0);
	size_t n3, nspans = 0;
	struct kmock_rec *r3 = kmock_read_all(m.bootstraps, "spans", NPART, 20, &n3);
	assert_true(n3 >= N / 5 && n3 < N);
	for (size_t k = 0; k < n3; k++) {
		size_t in_msg = 0;
		for (const char *v = r3[k].value; (v = strstr(v, "\"traceId\"")); v++)
			in_msg++;
		assert_true(in_msg >= 1 && in_msg <= 5);
		nspans += in_msg;
	}
	assert_int_equal(nspans, N);
	kmock_recs_free(r3, n3);
	char *one[] = {"replay", path, "--to", "kafka", "--brokers",
	    (char *)m.bootstraps, "--topic", "one"};
	char *many[] = {"replay", path, "--to", "kafka", "--brokers",
	    (char *)m.bootstraps, "--topic", "many", "--batch", "7"};
	assert_int_equal(sim_cmd_replay(8, one), 0);
	assert_int_equal(sim_cmd_replay(10, many), 0);
	unlink(path);
	size_t n1, n2;
	struct kmock_rec *r1 = kmock_read_all(m.bootstraps, "one", NPART, 20, &n1);
	struct kmock_rec *r2 = kmock_read_all(m.bootstraps, "many", NPART, 20, &n2);
	assert_int_equal(n1, N);
	int part_of[NTRACE];
	for (size_t k = 0; k < n1; k++)
		part_of[(event_of(r1[k].value) - 1) % NTRACE] = r1[k].part;
	assert_true(n2 >= N / 7 && n2 < N);
	char *seen = calloc(N, 1);
	size_t last[NTRACE] = {0}, lines = 0;
	for (size_t k = 0; k < n2; k++) {
		assert_int_equal(r2[k].keylen, 0);
		size_t in_msg = 0;
		for (char *v = r2[k].value, *nl; v; v = nl ? nl + 1 : NULL) {
			nl = strchr(v, '\n');
			if (nl)
				*nl = '\0';
			size_t ev = event_of(v), i = ev - 1, t = i % NTRACE;
			assert_true(ev >= 1 && ev <= N);
			char want[256];
			line(want, sizeof(want), i);
			assert_string_equal(v, want);
			assert_false(seen[i]);
			seen[i] = 1;
			assert_int_equal(r2[k].part, part_of[t]);
			assert_true(ev > last[t]);
			last[t] = ev;
			in_msg++;
			lines++;
		}
		assert_true(in_msg >= 1 && in_msg <= 7);
	}
	assert_int_equal(lines, N);
	free(seen);
	kmock_recs_free(r1, n1);
	kmock_recs_free(r2, n2);
	kmock_stop(&m);
}

static void
test_bad_property_is_a_usage_error(void **state)
{
	(void)state;
	/* Checked before the input is read and before any connection. */
	static const char *bad[] = {"no.such.property=1", "linger.ms=soon",
	    "linger.ms", "=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"replay", "/nonexistent/in.jsonl", "--to",
		    "kafka", "--brokers", "127.0.0.1:1", "--topic", "t", "-X",
		    (char *)bad[i]};
		assert_int_equal(sim_cmd_replay(10, argv), 2);
	}
	/* Kafka options without --to kafka, -o with it, missing --topic */
	char *a1[] = {"replay", "in", "--topic", "t"};
	assert_int_equal(sim_cmd_replay(4, a1), 2);
	char *a2[] = {"replay", "in", "--to", "kafka", "--brokers", "b",
	    "--topic", "t", "-o", "x"};
	assert_int_equal(sim_cmd_replay(10, a2), 2);
	char *a3[] = {"replay", "in", "--to", "kafka", "--brokers", "b"};
	assert_int_equal(sim_cmd_replay(6, a3), 2);
	char *a4[] = {"replay", "in", "--to", "kafka", "--brokers", "b",
	    "--topic", "t", "--key", "span"};
	assert_int_equal(sim_cmd_replay(10, a4), 2);
	/* X-Trace lines in a file have no messages to batch (--batch and
	 * its alias --reports-per-message alike); spans do */
	char *a5[] = {"replay", "/nonexistent/in", "--batch", "2"};
	assert_int_equal(sim_cmd_replay(4, a5), 2);
	char *a6[] = {"replay", "/nonexistent/in", "--reports-per-message", "2"};
	assert_int_equal(sim_cmd_replay(4, a6), 2);
	char *a7[] = {"replay", "/nonexistent/in", "--reports-per-message", "2",
	    "--format", "zipkin"};
	assert_int_equal(sim_cmd_replay(6, a7), 1); /* usage fine; no input */
}

static void
test_retriable_produce_errors_deliver_exactly_once(void **state)
{
	(void)state;
	struct kmock m;
	kmock_start(&m, 3);
	kmock_topic(&m, "retry", NPART, 1);
	/* Each broker leads a partition, so each one sees Produce requests. */
	for (int32_t p = 0; p < NPART; p++)
		assert_int_equal(rd_kafka_mock_partition_set_leader(m.mc, "retry",
		    p, p % 3 + 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	/* Every broker fails its next Produce requests with retriable
	 * errors (one of them "possibly persisted"): the batches are retried
	 * with their sequence numbers, and every line must still arrive
	 * once, in order. (The mock of librdkafka 2.0.2 does not deduplicate
	 * by sequence number, so a batch written whose response is lost
	 * cannot be tested here: the mock would keep both copies.) */
	for (int32_t b = 1; b <= 3; b++)
		assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
		    m.mc, b, 0 /* Produce */, 4,
		    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
		    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
		    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
		    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, 0),
		    RD_KAFKA_RESP_ERR_NO_ERROR);
	const char *props[] = {"retry.backoff.ms=20"};
	struct sim_kafka_stats ks = {0, 0};
	struct sim_kafka_cfg kc = {m.bootstraps, "retry", props, 1, 1, &ks};
	struct sim_sink *s;
	char err[512];
	assert_int_equal(sim_sink_kafka_open(&kc, &s, err, sizeof(err)), 0);
	/* bursts, so that there are many Produce requests */
	for (size_t i = 0; i < N; i++) {
		char buf[256];
		int len = line(buf, sizeof(buf), i);
		buf[len++] = '\n';
		assert_int_equal(s->write(s, buf, (size_t)len,
		    task_of(i % NTRACE)), 0);
		if (i % 50 == 49) {
			assert_int_equal(s->flush(s), 0);
			usleep(20000);
		}
	}
	assert_int_equal(s->close(s), 0);
	assert_int_equal(ks.delivered, N);
	assert_int_equal(ks.failed, 0);
	/* every injected error was met */
	for (int32_t b = 1; b <= 3; b++) {
		size_t left = 99;
		assert_int_equal(rd_kafka_mock_broker_error_stack_cnt(m.mc, b, 0,
		    &left), RD_KAFKA_RESP_ERR_NO_ERROR);
		assert_int_equal(left, 0);
	}
	check_replayed(&m, "retry");
	kmock_stop(&m);
}

static void
test_undelivered_lines_fail_the_close(void **state)
{
	(void)state;
	/* Nothing listens there: every message times out, is counted, and
	 * close() reports the failure. */
	const char *props[] = {"message.timeout.ms=300", "log_level=0"};
	struct sim_kafka_stats ks = {0, 0};
	struct sim_kafka_cfg kc = {"127.0.0.1:1", "t", props, 2, 1, &ks};
	struct sim_sink *s;
	char err[512];
	assert_int_equal(sim_sink_kafka_open(&kc, &s, err, sizeof(err)), 0);
	for (uint64_t i = 0; i < 10; i++)
		assert_int_equal(s->write(s, "x\n", 2, i), 0);
	assert_int_equal(s->close(s), WEFT_EKAFKA);
	assert_int_equal(ks.delivered, 0);
	assert_int_equal(ks.failed, 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_to_kafka_keys_by_trace),
		cmocka_unit_test(test_reports_per_message_keep_partition_and_order),
		cmocka_unit_test(test_bad_property_is_a_usage_error),
		cmocka_unit_test(test_retriable_produce_errors_deliver_exactly_once),
		cmocka_unit_test(test_undelivered_lines_fail_the_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_rekey.c — `weft rekey` in-process against librdkafka's mock cluster
 * (no real broker): unkeyed reports, bad ones among them, come out once
 * each keyed by trace id (same trace, same partition), value and headers
 * unchanged; the bad ones are counted by reason and sit in the dead-letter
 * topic with a "weft-error" header; the committed offsets cover the whole
 * input, so a second run finds nothing to do. Also text reports.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "operators/ingest/decode.h"
#include "operators/serve/rekey.h"
#include "tests/kafka_mock_util.h"

#define NIN 3   /* input partitions */
#define NOUT 4  /* output partitions */
#define NTRACE 17
#define NGOOD 400

/* ---- producing, reading back ------------------------------------------ */

/* Unkeyed messages (spread over the partitions), header src=test. */
static void
produce_unkeyed(const char *brokers, const char *topic, char **values,
                size_t n)
{
	rd_kafka_t *p = kmock_client(RD_KAFKA_PRODUCER, kmock_conf(brokers, NULL));
	for (size_t i = 0; i < n; i++)
		kmock_produce(p, topic, NULL, 0, values[i], strlen(values[i]),
		              "src", "test");
	assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
}

/* The input's header came along. */
static int
has_src(const struct kmock_rec *r)
{
	char src[8];
	return !strcmp(kmock_rec_header(r, "src", src, sizeof src), "test");
}

/* The "weft-error" header of r, "" if none. */
static const char *
error_of(const struct kmock_rec *r, char *buf, size_t cap)
{
	return kmock_rec_header(r, "weft-error", buf, cap);
}

/* The group's committed offsets of topic[0..nparts) (negative: none). */
static void
group_committed(const char *brokers, const char *group, const char *topic,
                int nparts, int64_t *off, int64_t *hi)
{
	rd_kafka_t *c = kmock_client(RD_KAFKA_CONSUMER, kmock_conf(brokers, group));
	kmock_committed(c, topic, nparts, off);
	if (hi)
		kmock_ends(c, topic, nparts, hi);
	rd_kafka_destroy(c);
}

/* The group's committed offset of every input partition is its end. */
static void
check_committed(const char *brokers, const char *group, const char *topic,
                int nparts)
{
	int64_t off[NIN], hi[NIN], total = 0;
	assert_true(nparts <= NIN);
	group_committed(brokers, group, topic, nparts, off, hi);
	for (int p = 0; p < nparts; p++) {
		if (hi[p] > 0)
			assert_int_equal(off[p], hi[p]);
		total += hi[p];
	}
	assert_true(total > 0);
}

/* ---- the input --------------------------------------------------------- */

static uint64_t
task_of(size_t t)
{
	return 0xc2b2ae3d27d4eb4fULL * (t + 1);
}

static const struct {
	const char *value, *reason;
} bad[] = {
	{"not json at all", "syntax"},
	{"{\"EventID\":\"5\",\"HRT\":1}", "missing_trace_id"},
	{"{\"TaskID\":\"xyz\",\"EventID\":\"5\"}", "bad_id"},
	{"{\"TaskID\":\"00000000000000aa\",\"HRT\":3}", "missing_event_id"},
	{"{\"TaskID\":\"00000000000000aa\",\"EventID\":\"1\"", "syntax"},
};
#define NBAD (sizeof bad / sizeof bad[0])

/* Good report i: event i + 1 of trace i % NTRACE (upper-case TaskID, as
 * weft sim writes it); every 7th ends with a newline. */
static char *
good(size_t i)
{
	char *s = malloc(256);
	assert_non_null(s);
	snprintf(s, 256, "{\"TaskID\":\"%016" PRIX64 "\",\"EventID\":\"%zu\","
	         "\"HRT\":%zu,\"Label\":\"ev\"}%s", task_of(i % NTRACE), i + 1,
	         i * 1000, i % 7 == 3 ? "\n" : "");
	return s;
}

/* EventID of a good report (1-based index), or 0. */
static size_t
event_of(const char *v)
{
	const char *p = strstr(v, "\"EventID\":\"");
	return p ? (size_t)strtoul(p + 11, NULL, 10) : 0;
}

/* ---- tests ------------------------------------------------------------- */

/* Defaults, topic -> to_topic on brokers, until EOF, one property for both
 * clients (*prop must outlive the runs). */
static void
rekey_config(struct op_rekey_config *cfg, const char *brokers,
             const char *topic, const char *to_topic, const char *const *prop)
{
	op_rekey_config_default(cfg);
	cfg->brokers = brokers;
	cfg->topic = topic;
	cfg->to_topic = to_topic;
	cfg->exit_at_eof = 1;
	cfg->props = prop;
	cfg->n_props = 1;
}

/* A run that must succeed (its error on stderr if not). */
static void
rekey_ok(const struct op_rekey_config *cfg, struct op_rekey_stats *st)
{
	char err[512];
	int rc = op_rekey_run(cfg, st, err, sizeof err);
	if (rc)
		fprintf(stderr, "op_rekey_run: %s\n", err);
	assert_int_equal(rc, 0);
}

static void
test_rekey_json_with_dead_letters(void **state)
{
	(void)state;
	struct kmock m;
	kmock_start(&m, 3);
	kmock_topic(&m, "in", NIN, 1);
	kmock_topic(&m, "out", NOUT, 1);
	kmock_topic(&m, "dlq", 1, 1);
	/* good reports with the bad ones mixed in */
	size_t n = NGOOD + NBAD;
	char **in = calloc(n, sizeof *in);
	assert_non_null(in);
	for (size_t i = 0, b = 0; i < n; i++) {
		if (i % 70 == 5 && b < NBAD)
			in[i] = strdup(bad[b++].value);
		else
			in[i] = good(i - b);
	}
	produce_unkeyed(m.bootstraps, "in", in, n);

	struct op_rekey_config cfg;
	const char *props[] = {"log_level=3"};
	rekey_config(&cfg, m.bootstraps, "in", "out", props);
	cfg.dead_letter_topic = "dlq";
	cfg.group = "g1";
	cfg.commit_ms = 100;
	/* The mock coordinator (librdkafka 2.0.2) keeps a member that left
	 * until its session times out: short sessions for the second run. */
	const char *cprops[] = {"session.timeout.ms=3000",
	                        "heartbeat.interval.ms=500"};
	cfg.consumer_props = cprops;
	cfg.n_consumer_props = 2;
	struct op_rekey_stats st;
	rekey_ok(&cfg, &st);
	assert_int_equal(st.consumed, n);
	assert_int_equal(st.produced, NGOOD);
	assert_int_equal(st.rejected, NBAD);
	assert_int_equal(st.dead_lettered, NBAD);
	assert_int_equal(st.failed, 0);
	assert_true(st.commits >= 1);
	uint64_t by[OP_REJECT__COUNT] = {0};
	for (size_t b = 0; b < NBAD; b++)
		for (int r = 1; r < OP_REJECT__COUNT; r++)
			if (!strcmp(op_reject_name((enum op_reject)r), bad[b].reason))
				by[r]++;
	for (int r = 0; r < OP_REJECT__COUNT; r++)
		assert_int_equal(st.by_reason[r], by[r]);

	/* output: each good report once, value unchanged, keyed by trace */
	size_t nr;
	char e[32];
	struct kmock_rec *r = kmock_read_all(m.bootstraps, "out", NOUT, 20, &nr);
	assert_int_equal(nr, NGOOD);
	char *seen = calloc(NGOOD, 1);
	int part_of[NTRACE];
	for (int t = 0; t < NTRACE; t++)
		part_of[t] = -1;
	int used[NOUT] = {0};
	for (size_t k = 0; k < nr; k++) {
		size_t ev = event_of(r[k].value);
		if (ev < 1 || ev > NGOOD) {
			fail_msg("unexpected event %zu in the output", ev);
			continue; /* not reached; tells the compiler i is in range */
		}
		size_t i = ev - 1, t = i % NTRACE;
		assert_false(seen[i]);
		seen[i] = 1;
		char *want = good(i), key[17];
		assert_string_equal(r[k].value, want);
		free(want);
		snprintf(key, sizeof key, "%016" PRIx64, task_of(t));
		assert_int_equal(r[k].keylen, 16);
		assert_string_equal(r[k].key, key);
		assert_true(has_src(&r[k]));
		assert_string_equal(error_of(&r[k], e, sizeof e), "");
		if (part_of[t] < 0)
			part_of[t] = r[k].part;
		assert_int_equal(r[k].part, part_of[t]);
		used[r[k].part] = 1;
	}
	assert_true(used[0] + used[1] + used[2] + used[3] >= 2);
	free(seen);
	kmock_recs_free(r, nr);

	/* dead letters: unchanged, with the reason */
	r = kmock_read_all(m.bootstraps, "dlq", 1, 20, &nr);
	assert_int_equal(nr, NBAD);
	char dl_seen[NBAD] = {0};
	for (size_t k = 0; k < nr; k++) {
		size_t b = 0;
		while (b < NBAD && (dl_seen[b] || strcmp(bad[b].value, r[k].value)))
			b++;
		assert_true(b < NBAD);
		dl_seen[b] = 1;
		assert_string_equal(error_of(&r[k], e, sizeof e), bad[b].reason);
		assert_true(has_src(&r[k]));
		assert_int_equal(r[k].keylen, 0);
	}
	kmock_recs_free(r, nr);

	/* everything was committed: a second run has nothing to do */
	check_committed(m.bootstraps, "g1", "in", NIN);
	rekey_ok(&cfg, &st);
	assert_int_equal(st.consumed, 0);
	assert_int_equal(st.produced, 0);

	for (size_t i = 0; i < n; i++)
		free(in[i]);
	free(in);
	kmock_stop(&m);
}

static void
test_rekey_text_reports(void **state)
{
	(void)state;
	struct kmock m;
	kmock_start(&m, 3);
	kmock_topic(&m, "tin", 2, 1);
	kmock_topic(&m, "tout", NOUT, 1);
	enum { NT = 40 };
	char *in[NT + 1];
	for (size_t i = 0; i < NT; i++) {
		in[i] = malloc(512);
		assert_non_null(in[i]);
		snprintf(in[i], 512,
		         "X-Trace Report ver 1.0\n"
		         "X-Trace: 19%016" PRIX64 "%016zX\n"
		         "Host: node-%zu\n"
		         "Agent: DataNode\n"
		         "Label: ev\n"
		         "Timestamp: 1175645123.%03zu\n",
		         task_of(i % 5), i + 1, i % 3, i);
	}
	in[NT] = strdup("X-Trace Report ver 1.0\nHost: h\n");
	produce_unkeyed(m.bootstraps, "tin", in, NT + 1);

	struct op_rekey_config cfg;
	const char *props[] = {"log_level=3"};
	rekey_config(&cfg, m.bootstraps, "tin", "tout", props);
	cfg.format = OP_FORMAT_TEXT;
	struct op_rekey_stats st;
	rekey_ok(&cfg, &st);
	assert_int_equal(st.consumed, NT + 1);
	assert_int_equal(st.produced, NT);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.by_reason[OP_REJECT_MISSING_TRACE_ID], 1);
	assert_int_equal(st.dead_lettered, 0);

	size_t nr;
	struct kmock_rec *r = kmock_read_all(m.bootstraps, "tout", NOUT, 20, &nr);
	assert_int_equal(nr, NT);
	int part_of[5] = {-1, -1, -1, -1, -1};
	for (size_t k = 0; k < nr; k++) {
		size_t i = NT;
		for (size_t j = 0; j < NT; j++)
			if (!strcmp(in[j], r[k].value))
				i = j;
		assert_true(i < NT);
		char key[17];
		snprintf(key, sizeof key, "%016" PRIx64, task_of(i % 5));
		assert_string_equal(r[k].key, key);
		if (part_of[i % 5] < 0)
			part_of[i % 5] = r[k].part;
		assert_int_equal(r[k].part, part_of[i % 5]);
	}
	kmock_recs_free(r, nr);
	for (size_t i = 0; i <= NT; i++)
		free(in[i]);
	kmock_stop(&m);
}

static void
test_rekey_failed_delivery_commits_nothing(void **state)
{
	(void)state;
	struct kmock m;
	kmock_start(&m, 3);
	kmock_topic(&m, "fin", 1, 1);
	kmock_topic(&m, "fout", 1, 1);
	enum { NF = 20 };
	char *in[NF];
	for (size_t i = 0; i < NF; i++)
		in[i] = good(i);
	produce_unkeyed(m.bootstraps, "fin", in, NF);
	/* From now on the brokers refuse every batch for good. */
	rd_kafka_resp_err_t errs[64];
	for (size_t i = 0; i < 64; i++)
		errs[i] = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
	rd_kafka_mock_push_request_errors_array(m.mc, 0 /* Produce */, 64, errs);

	struct op_rekey_config cfg;
	const char *props[] = {"log_level=0"};
	rekey_config(&cfg, m.bootstraps, "fin", "fout", props);
	cfg.group = "gf";
	struct op_rekey_stats st;
	char err[512];
	assert_int_equal(op_rekey_run(&cfg, &st, err, sizeof err), WEFT_EKAFKA);
	assert_non_null(strstr(err, "not delivered"));
	assert_int_equal(st.consumed, NF);
	assert_int_equal(st.produced, 0);
	assert_true(st.failed > 0);
	assert_int_equal(st.commits, 0);

	/* nothing committed: a restart would read everything again */
	int64_t off;
	group_committed(m.bootstraps, "gf", "fin", 1, &off, NULL);
	assert_true(off < 0);
	for (size_t i = 0; i < NF; i++)
		free(in[i]);
	kmock_stop(&m);
}

static void
test_rekey_bad_configuration(void **state)
{
	(void)state;
	struct op_rekey_config cfg;
	const char *props[] = {"no.such.property=1"};
	rekey_config(&cfg, "127.0.0.1:1", "a", "b", props);
	struct op_rekey_stats st;
	char err[512];
	assert_int_equal(op_rekey_run(&cfg, &st, err, sizeof err), WEFT_EINVAL);
	assert_non_null(strstr(err, "no.such.property"));
	const char *cprops[] = {"fetch.wait.max.ms=soon"};
	cfg.n_props = 0;
	cfg.consumer_props = cprops;
	cfg.n_consumer_props = 1;
	assert_int_equal(op_rekey_run(&cfg, &st, err, sizeof err), WEFT_EINVAL);
	assert_non_null(strstr(err, "fetch.wait.max.ms"));
	cfg.n_consumer_props = 0;
	cfg.to_topic = "a";
	assert_int_equal(op_rekey_run(&cfg, &st, err, sizeof err), WEFT_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rekey_bad_configuration),
		cmocka_unit_test(test_rekey_json_with_dead_letters),
		cmocka_unit_test(test_rekey_text_reports),
		cmocka_unit_test(test_rekey_failed_delivery_commits_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * bench_kafka.c — `weft bench kafka`: the raw consume rate of a topic, the
 * upper bound for `weft serve` on the same topic and broker.
 *
 * One consumer, built from the same configuration as weft serve's
 * (op_kafka_client_conf: fetch sizes, queue depth, no auto commit), joins a
 * fresh group, and takes what is queued with rd_kafka_consume_batch_queue
 * (no timeout) in batches of up to --batch, as the Kafka source does,
 * waiting on an empty queue for the next message (rd_kafka_consumer_poll)
 * where the source parks until the queue wakes it. Until 2026-12-07 it
 * took them with a 100 ms timeout, which waits for a full batch: the
 * round's last one cost up to 100 ms more, and the bound read low. It
 * does nothing with them
 * but count: messages, bytes, and reports (the non-empty newline-separated
 * lines of each message, as the source cuts them), so the bound includes
 * exactly the work librdkafka does for weft and none of weft's. Partitions
 * start where weft serve's do (op_kafka_start_offsets). The clock
 * runs from the first partition assignment (group join excluded, as in
 * bench/serve_bench.py) to the message that brings the reports to
 * --events. Each round uses a new group, so each reads the topic from the
 * start.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_kafka.h"
#include "common/opt.h"
#include "operators/serve/serve.h"

#define BK_MAX_PROPS 32

struct bk_opts {
	const char *brokers, *topic, *md;
	uint64_t events;
	unsigned rounds, batch, timeout_s;
	const char *props[BK_MAX_PROPS];
	unsigned n_props;
};

struct bk_run {
	uint64_t t_assign; /* bench_now_ns at the first assignment (0: none) */
	uint64_t msgs, bytes, reports;
};

static void
bk_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct bk_run *r = opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (!r->t_assign)
			r->t_assign = bench_now_ns();
		/* where weft serve starts too: committed offsets, else the
		 * earliest as a number, without librdkafka's 100 ms back-off */
		rd_kafka_resp_err_t e;
		rd_kafka_topic_partition_list_t *c = op_kafka_start_offsets(rk, parts, &e);
		if (c)
			rd_kafka_topic_partition_list_destroy(c);
		rd_kafka_assign(rk, parts);
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

/* Reports in a message: its non-empty lines (a text report is one). */
static uint64_t
bk_lines(const char *d, size_t n)
{
	uint64_t k = 0;
	while (n) {
		const char *nl = memchr(d, '\n', n);
		size_t l = nl ? (size_t)(nl - d) : n;
		k += l > (l && d[l - 1] == '\r');
		if (!nl)
			break;
		d += l + 1;
		n -= l + 1;
	}
	return k;
}

/* One round: seconds from assignment to the last report, or < 0. */
static double
bk_round(const struct bk_opts *o, unsigned rnd, struct bk_run *r)
{
	struct op_kafka_config cfg;
	if (op_kafka_config_init(&cfg))
		return -1;
	char group[96], err[512];
	snprintf(group, sizeof group, "weft-bench-raw-%ld-%u", (long)getpid(), rnd);
	cfg.brokers = o->brokers;
	cfg.group = group;
	cfg.props = o->props;
	cfg.n_props = o->n_props;
	const char *topics[1] = {o->topic};
	cfg.topics = topics;
	cfg.n_topics = 1;
	memset(r, 0, sizeof *r);
	double secs = -1;
	rd_kafka_conf_t *conf = op_kafka_client_conf(&cfg, 0, err, sizeof err);
	rd_kafka_message_t **msgs = calloc(o->batch, sizeof *msgs);
	rd_kafka_t *rk = NULL;
	if (!conf || !msgs) {
		fprintf(stderr, "weft bench kafka: %s\n", conf ? "out of memory" : err);
		goto out;
	}
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_rebalance_cb(conf, bk_rebalance);
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weft bench kafka: %s\n", err);
		goto out;
	}
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tl, o->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	if (e) {
		fprintf(stderr, "weft bench kafka: subscribe: %s\n", rd_kafka_err2str(e));
		goto out;
	}
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
	uint64_t deadline = bench_now_ns() + (uint64_t)o->timeout_s * 1000000000ull;
	uint64_t t_end = 0;
	while (!t_end && bench_now_ns() < deadline) {
		/* what is queued, at once, as the source takes it: with a
		 * timeout, rd_kafka_consume_batch_queue waits for a full batch,
		 * and the round's last batch for the whole timeout */
		ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs, o->batch);
		if (n == 0) { /* the source parks here until the queue's event */
			rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
			if (m)
				msgs[n++] = m;
		}
		for (ssize_t i = 0; i < n; i++) {
			rd_kafka_message_t *m = msgs[i];
			if (!m->err) {
				r->msgs++;
				r->bytes += m->len;
				r->reports += m->payload ? bk_lines(m->payload, m->len) : 0;
			}
			rd_kafka_message_destroy(m);
		}
		if (r->reports >= o->events)
			t_end = bench_now_ns();
	}
	rd_kafka_queue_destroy(q);
	if (t_end && r->t_assign)
		secs = (double)(t_end - r->t_assign) / 1e9;
	else
		fprintf(stderr, "weft bench kafka: round %u: %" PRIu64 " of %" PRIu64
		        " reports in %u s\n", rnd + 1, r->reports, o->events, o->timeout_s);
out:
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	free(msgs);
	op_kafka_config_destroy(&cfg);
	return secs;
}

static int
bk_prop(void *target, const char *v, char *err, size_t errlen)
{
	struct bk_opts *o = target;
	if (!strchr(v, '=')) {
		weft_errf(err, errlen, "expected PROP=VALUE");
		return WEFT_EINVAL;
	}
	if (o->n_props == BK_MAX_PROPS) {
		weft_errf(err, errlen, "at most %d properties", BK_MAX_PROPS);
		return WEFT_EINVAL;
	}
	o->props[o->n_props++] = v;
	return 0;
}

#define BKO(f) offsetof(struct bk_opts, f)
static const struct weft_opt bk_opts_tab[] = {
	{.name = "brokers", .kind = WEFT_OPT_STR, .off = BKO(brokers),
	 .meta = "HOST:PORT[,..]", .help = "Kafka bootstrap servers"},
	{.name = "topic", .kind = WEFT_OPT_STR, .off = BKO(topic), .meta = "NAME",
	 .help = "the topic to read from its start"},
	{.name = "events", .kind = WEFT_OPT_U64, .off = BKO(events), .meta = "N",
	 .help = "stop the clock at N reports (newline-separated lines)", .lo = 1},
	{.name = "rounds", .kind = WEFT_OPT_UINT, .off = BKO(rounds), .meta = "R",
	 .help = "rounds, each with a new consumer group", .lo = 1, .hi = 100},
	{.name = "batch", .kind = WEFT_OPT_UINT, .off = BKO(batch), .meta = "N",
	 .help = "messages per rd_kafka_consume_batch_queue call", .lo = 1,
	 .hi = 1u << 20},
	{.name = "timeout", .kind = WEFT_OPT_UINT, .off = BKO(timeout_s), .meta = "S",
	 .help = "give a round up after S seconds", .lo = 1, .hi = 3600},
	{.name = "X", .alias = 'X', .kind = WEFT_OPT_FN, .meta = "PROP=VALUE",
	 .fn = bk_prop, .flags = WEFT_OPT_NO_DEFAULT,
	 .help = "a consumer property, after weft serve's defaults (repeatable)"},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = BKO(md), .meta = "FILE",
	 .help = "also write the table to FILE, with the command and the machine"},
	{0},
};
static const struct weft_cmd bk_cmd = {
	.name = "weft bench kafka",
	.usage = "--brokers B --topic T --events N [options]",
	.about = "The raw consume rate of a topic: weft serve's consumer "
	    "configuration and batch\nconsume, and nothing done with the "
	    "messages but counting their reports. The\nbound for weft serve "
	    "on the same topic; prints reports/s per round and the median.",
	.opts = bk_opts_tab,
};

int
bench_kafka_main(int argc, char **argv)
{
	struct bk_opts o = {.rounds = 3, .batch = 1024, .timeout_s = 300};
	int urc = weft_opt_run(&bk_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	if (!o.brokers || !o.topic || !o.events)
		return weft_opt_usage(&bk_cmd, "--brokers, --topic and --events are needed");
	struct bench_table *t = bench_table_new(
	    "Raw consume: weft serve's consumer configuration, batch consume, "
	    "count only; from the first assignment to the last report");
	bench_table_columns(t, "round|seconds|reports/s|messages/s|MB/s");
	double rates[100];
	unsigned ok = 0;
	for (unsigned i = 0; i < o.rounds; i++) {
		struct bk_run r;
		double s = bk_round(&o, i, &r);
		if (s <= 0)
			continue;
		char row[256];
		snprintf(row, sizeof row, "%u|%.3f|%.3f M|%.3f M|%.0f", i + 1, s,
		         (double)r.reports / s / 1e6, (double)r.msgs / s / 1e6,
		         (double)r.bytes / s / 1e6);
		bench_table_row(t, row);
		rates[ok++] = (double)r.reports / s;
		fprintf(stderr, "raw consume round %u: %.0f reports/s\n", i + 1,
		        (double)r.reports / s);
	}
	bench_table_print(t, stdout);
	if (ok)
		printf("\nmedian: %.0f reports/s\n", bench_median(rates, ok));
	if (o.md && ok)
		(void)bench_write_markdown(o.md, "weft bench kafka", argc, argv, "",
		                           (const struct bench_table *[]){t, NULL});
	bench_table_free(t);
	return ok == o.rounds ? 0 : 1;
}

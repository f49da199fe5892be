/*
 * op_kafka_fetch.c — how the Kafka source's consumers fetch: their
 * configuration (weft's defaults under the user's properties), the
 * wake-up of a parked worker when its consumer queue gets messages, and
 * the fetch kick that librdkafka 2.0 needs to go on fetching after its
 * pre-fetch queue was full, and where newly assigned partitions start.
 *
 * The kick. A consumer pre-fetches into its queue until the queue holds
 * queued.min.messages or queued.max.messages.kbytes; at that threshold
 * librdkafka (before 2.1, which added fetch.queue.backoff.ms) stops
 * fetching the partitions and looks at them again only when its broker
 * thread wakes up: for a network event or an operation, or after up to
 * a second. A worker slower than the fetches (any backlog: a restart, a
 * burst) so empties the queue and then waits for that second, again and
 * again: `weft serve` read a 6-partition backlog at 0.47 M events/s, with
 * the worker idle two thirds of the time (bench/serve_bench.py; the
 * fetch debug log said "queued.max.messages.kbytes exceeded"). Raising
 * the threshold only hides it behind memory (the whole backlog, when the
 * worker is the slower side). So when a poll finds the queue empty while
 * a partition is behind its high watermark as last fetched, the worker
 * asks that partition's leader for its watermarks: a request to the
 * broker thread that serves the partition, which wakes it, and it fetches
 * again. The ask is one small round trip, made only while the worker has
 * nothing to consume, at most once per KICK_MS, never during an outage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "operators/serve/kafka_conf.h"
#include "operators/serve/kafka_int.h"

/* how long an assignment waits for its partitions' reset offsets before
 * leaving them to librdkafka (an outage: see op_kafka_start_offsets) */
#define START_ASK_MS 1000

/* bytes a fetch response may carry, all partitions together */
#define FETCH_MAX_BYTES "1048576"

static int
set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr, size_t errlen)
{
	return weft_kafka_set(conf, "consumer", k, v, errstr, errlen);
}

/* The consumer configuration: our defaults, then the user's properties. */
rd_kafka_conf_t *
op_kafka_client_conf(const struct op_kafka_config *cfg, unsigned w, char *errstr, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char id[96], host[64] = "weft";
	gethostname(host, sizeof host - 1);
	if (w == UINT32_MAX) /* the prober: asks for watermarks, never joins */
		snprintf(id, sizeof id, "weft-%s-%ld-probe", host, (long)getpid());
	else
		snprintf(id, sizeof id, "weft-%s-%ld-w%u", host, (long)getpid(), w);
	if (!conf ||
	    set(conf, "bootstrap.servers", cfg->brokers ? cfg->brokers : "", errstr, errlen) ||
	    set(conf, "group.id", cfg->group, errstr, errlen) ||
	    set(conf, "client.id", id, errstr, errlen) ||
	    set(conf, "enable.auto.commit", "false", errstr, errlen) ||
	    set(conf, "enable.auto.offset.store", "false", errstr, errlen) ||
	    set(conf, "enable.partition.eof", "true", errstr, errlen) ||
	    set(conf, "auto.offset.reset", "earliest", errstr, errlen) ||
	    set(conf, "fetch.wait.max.ms", "100", errstr, errlen) ||
	    /* 1 MiB per partition (librdkafka's default), not more: a
	     * fetch response is read into one buffer of its size, which
	     * lives until the last of its messages is destroyed, and at
	     * 8 MiB per partition those buffers were fresh memory nearly
	     * every time: 75 K page faults per million one-report
	     * messages, 331 MiB peak RSS, and the fetch thread's page
	     * clearing competed with the worker. At 1 MiB: 25 K faults,
	     * 173 MiB, and 1.18-1.24x the events/s (bench/results/notes.md,
	     * "Smaller fetches"). */
	    set(conf, "max.partition.fetch.bytes", "1048576", errstr, errlen) ||
	    /* and 1 MiB per response, all partitions together (librdkafka's
	     * default is 50 MiB): at 64 MiB a response from six partitions
	     * was up to 6 MiB, fresh memory more often (3.4x the page
	     * faults) and out of the cache by the time librdkafka parsed
	     * it. At 1 MiB: 0.80x weft's CPU time, 1.08x the events/s at
	     * one report per message, 1.04x at 64 (bench/results/notes.md,
	     * "One MiB a response"). A consumer far from its brokers gets
	     * 1 MiB per round trip per broker; consumer.fetch.max.bytes
	     * raises it. */
	    set(conf, "fetch.max.bytes", FETCH_MAX_BYTES, errstr, errlen) ||
	    set(conf, "queued.min.messages", "500000", errstr, errlen))
		goto fail;
	for (unsigned i = 0; i < cfg->n_props; i++)
		if (weft_kafka_set_kv(conf, "consumer", cfg->props[i], errstr, errlen))
			goto fail;
	/* librdkafka refuses a fetch.max.bytes below message.max.bytes; a
	 * user who raised the latter (kafka.message.max.bytes, for the
	 * producer too) and left ours gets responses of that size, not an
	 * error. */
	char mmb[32], fmb[32];
	size_t ml = sizeof mmb, fl = sizeof fmb;
	if (rd_kafka_conf_get(conf, "message.max.bytes", mmb, &ml) == RD_KAFKA_CONF_OK &&
	    rd_kafka_conf_get(conf, "fetch.max.bytes", fmb, &fl) == RD_KAFKA_CONF_OK &&
	    strcmp(fmb, FETCH_MAX_BYTES) == 0 &&
	    strtoll(mmb, NULL, 10) > strtoll(fmb, NULL, 10) &&
	    set(conf, "fetch.max.bytes", mmb, errstr, errlen))
		goto fail;
	/* Static membership: each worker is its own member, so the id gets
	 * the worker's number (a restart with the same id takes over its
	 * partitions at once instead of after the session timeout). */
	char gi[256];
	size_t gl = sizeof gi;
	if (rd_kafka_conf_get(conf, "group.instance.id", gi, &gl) == RD_KAFKA_CONF_OK && gi[0]) {
		char wid[300];
		snprintf(wid, sizeof wid, "%s-w%u", gi, w);
		if (set(conf, "group.instance.id", wid, errstr, errlen))
			goto fail;
	}
	return conf;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	return NULL;
}

/* librdkafka's thread, when the consumer queue goes from empty to not
 * empty: the worker may be parked on an idle poll. */
static void
on_queue_nonempty(rd_kafka_t *rk, void *opaque)
{
	(void)rk;
	const struct op_kafka_waker *wk = opaque;
	engine_wake(wk->e, (int)wk->w);
}

void
op_kafka_wake_arm(rd_kafka_queue_t *q, struct op_kafka_waker *wk)
{
	rd_kafka_queue_cb_event_enable(q, on_queue_nonempty, wk);
}

void
op_kafka_wake_disarm(rd_kafka_queue_t *q)
{
	rd_kafka_queue_cb_event_enable(q, NULL, NULL);
}

int
op_kafka_fetch_kick(rd_kafka_t *rk, const char *topic, int32_t partition,
                    int64_t next)
{
	int64_t lo = -1, hi = -1;
	if (rd_kafka_get_watermark_offsets(rk, topic, partition, &lo, &hi) ||
	    hi < 0 || next < 0 || next >= hi)
		return 0;
	/* the answer is not needed: asking is what wakes the fetcher */
	rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi,
	                                 OP_KAFKA_KICK_TIMEOUT_MS);
	return 1;
}

/* auto.offset.reset as the ListOffsets timestamp that asks for it
 * (-2: the earliest offset, -1: the latest), or 0 for "error" or a value
 * this does not know: such partitions are left to librdkafka's reset. */
static int64_t
reset_query(rd_kafka_t *rk)
{
	char v[32];
	size_t n = sizeof v;
	if (rd_kafka_conf_get(rd_kafka_conf(rk), "auto.offset.reset", v, &n) !=
	    RD_KAFKA_CONF_OK)
		return 0;
	if (!strcmp(v, "smallest") || !strcmp(v, "earliest") || !strcmp(v, "beginning"))
		return -2;
	if (!strcmp(v, "largest") || !strcmp(v, "latest") || !strcmp(v, "end"))
		return -1;
	return 0;
}

/*
 * Why: a partition assigned without an offset makes librdkafka ask the
 * coordinator for its committed offset (again, after weft serve's own
 * ask for the look-back) and, finding none, reset it after a fixed
 * 100 ms back-off ("no previously committed offset"); a logical offset
 * (RD_KAFKA_OFFSET_BEGINNING) sent its first ListOffsets 500 ms after
 * the assignment (no back-off: presumably the partition's leader not
 * yet known to its fetcher). Both are in librdkafka 2.0's fetch
 * debug log (2026-12-07): a fresh group fetched its first message 100 ms
 * after the assignment, a fifth of a benchmark round. With a number it
 * fetches at once; the numbers come from one ListOffsets request per
 * leader (rd_kafka_offsets_for_times with the earliest / latest
 * timestamps). A partition whose answer is missing, or all of them when
 * the ask fails within START_ASK_MS, is left to librdkafka as before.
 */
rd_kafka_topic_partition_list_t *
op_kafka_start_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                       rd_kafka_resp_err_t *err)
{
	rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
	*err = c ? rd_kafka_committed(rk, c, 10000) : RD_KAFKA_RESP_ERR__FAIL;
	if (*err) {
		if (c)
			rd_kafka_topic_partition_list_destroy(c);
		return NULL;
	}
	int64_t ts = reset_query(rk);
	rd_kafka_topic_partition_list_t *q =
	    ts ? rd_kafka_topic_partition_list_new(c->cnt) : NULL;
	/* c is parts' copy, answered in place: the same partitions in the
	 * same order */
	for (int i = 0; i < c->cnt; i++) {
		const rd_kafka_topic_partition_t *x = &c->elems[i];
		if (x->err)
			continue;
		if (x->offset >= 0)
			parts->elems[i].offset = x->offset;
		else if (x->offset == RD_KAFKA_OFFSET_INVALID && q)
			rd_kafka_topic_partition_list_add(q, x->topic, x->partition)->offset = ts;
	}
	if (q && q->cnt && !rd_kafka_offsets_for_times(rk, q, START_ASK_MS)) {
		for (int j = 0; j < q->cnt; j++) {
			const rd_kafka_topic_partition_t *y = &q->elems[j];
			rd_kafka_topic_partition_t *p =
			    rd_kafka_topic_partition_list_find(parts, y->topic, y->partition);
			if (p && !y->err && y->offset >= 0)
				p->offset = y->offset;
		}
	}
	if (q)
		rd_kafka_topic_partition_list_destroy(q);
	return c;
}

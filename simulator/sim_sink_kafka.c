/*
 * sim_sink_kafka.c — `weft sim replay --to kafka`: replayed lines become
 * Kafka messages.
 *
 * One message per line, the line without its '\n' as value. With a trace
 * key (the default) the key is the task id as 16 lowercase hex digits, so
 * the default partitioner sends every event of a trace to one partition, as
 * a tracing agent keyed by trace would; without it messages are spread over
 * the partitions (input for `weft rekey`).
 *
 * The producer is idempotent (a retried batch is written once, in order),
 * lingers a few ms and batches. Lines are copied (RD_KAFKA_MSG_F_COPY): the
 * replay reuses its buffer. Nothing is dropped on our side: a full local
 * queue is polled (serving delivery reports) until the message fits.
 * Delivery reports are counted; close() waits for all of them.
 *
 * With reports_per_message N > 1 a message carries up to N lines, joined
 * by '\n' (what weft serve's source splits again), as an agent that
 * batches its reports would send them. The lines of one message must all
 * belong to its partition, so with a trace key each line goes to the
 * buffer of the partition its key would have picked (librdkafka's default
 * partitioner for keyed messages, consistent_random: CRC32 of the key
 * modulo the partition count, asked of the brokers at open) and the
 * message is produced to that partition without a key: every report lands
 * in the same partition, in the same order within it, as with one message
 * per report. A buffer goes out when it holds N lines or would pass
 * MSG_MAX_BYTES, and every buffer at flush() (before the replay sleeps)
 * and close().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "operators/serve/kafka_conf.h"
#include "simulator/sim_internal.h"
#include "simulator/sim_replay.h"

#define CLOSE_TIMEOUT_MS 60000
/* under the brokers' default message.max.bytes (1 MiB and a little) */
#define MSG_MAX_BYTES (900u * 1024u)

struct kbuf {
	char *d;
	size_t len, cap;
	unsigned n; /* lines in d */
};

struct kafka_sink {
	struct sim_sink base; /* first: the sink pointer is the kafka_sink */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int key_trace;
	struct sim_kafka_stats st;
	struct sim_kafka_stats *out;
	rd_kafka_resp_err_t first_err; /* of the first failed delivery */
	unsigned per_msg;   /* reports per message (1: no buffers) */
	int32_t n_parts;    /* buffers: one per partition with a key, else 1 */
	struct kbuf *bufs;
};

/* Delivery report: served by rd_kafka_poll()/flush() on the caller's
 * thread, so the counters need no lock. */
static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_sink *ks = opaque;
	(void)rk;
	if (!m->err) {
		ks->st.delivered++;
		return;
	}
	if (!ks->st.failed++)
		ks->first_err = m->err;
}

/* Produces one message (copied), polling while the local queue is full. */
static int
produce(struct kafka_sink *ks, int32_t part, const char *v, size_t len,
    const char *key, size_t keylen)
{
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(ks->rk,
		    RD_KAFKA_V_RKT(ks->rkt),
		    RD_KAFKA_V_PARTITION(part),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_VALUE((void *)v, len),
		    /* parenthesised: the macro casts its bare argument */
		    RD_KAFKA_V_KEY((key), (keylen)),
		    RD_KAFKA_V_END);
		if (!err)
			break;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			char why[256];
			if (err == RD_KAFKA_RESP_ERR__FATAL)
				rd_kafka_fatal_error(ks->rk, why, sizeof(why));
			else
				snprintf(why, sizeof(why), "%s",
				    rd_kafka_err2str(err));
			fprintf(stderr, "weft sim replay: kafka: produce to %s: "
			    "%s\n", rd_kafka_topic_name(ks->rkt), why);
			return WEFT_EKAFKA;
		}
		rd_kafka_poll(ks->rk, 100);
	}
	rd_kafka_poll(ks->rk, 0);
	return 0;
}

/* Sends buffer i (partition i, or any partition when unkeyed). */
static int
buf_send(struct kafka_sink *ks, int32_t i)
{
	struct kbuf *b = &ks->bufs[i];
	if (!b->n)
		return 0;
	int rc = produce(ks, ks->key_trace ? i : RD_KAFKA_PARTITION_UA, b->d,
	    b->len, NULL, 0);
	b->len = 0;
	b->n = 0;
	return rc;
}

static int
buf_add(struct kafka_sink *ks, int32_t i, const char *line, size_t len)
{
	struct kbuf *b = &ks->bufs[i];
	int rc = 0;
	if (b->n && b->len + 1 + len > MSG_MAX_BYTES && (rc = buf_send(ks, i)))
		return rc;
	size_t need = b->len + 1 + len;
	if (need > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < need)
			nc *= 2;
		char *nd = realloc(b->d, nc);
		if (!nd)
			return WEFT_ENOMEM;
		b->d = nd;
		b->cap = nc;
	}
	if (b->n)
		b->d[b->len++] = '\n';
	memcpy(b->d + b->len, line, len);
	b->len += len;
	if (++b->n >= ks->per_msg)
		rc = buf_send(ks, i);
	return rc;
}

static int
kafka_write(struct sim_sink *s, const char *line, size_t len, uint64_t task)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	char key[17];
	if (len && line[len - 1] == '\n')
		len--;
	snprintf(key, sizeof(key), "%016" PRIx64, task);
	if (ks->bufs) {
		int32_t i = ks->key_trace ? rd_kafka_msg_partitioner_consistent(
		    ks->rkt, key, 16, ks->n_parts, NULL, NULL) : 0;
		return buf_add(ks, i, line, len);
	}
	return produce(ks, RD_KAFKA_PARTITION_UA, line, len,
	    ks->key_trace ? key : NULL, ks->key_trace ? 16 : 0);
}

/* Every partly filled buffer goes out. */
static int
bufs_send(struct kafka_sink *ks)
{
	int rc = 0;
	for (int32_t i = 0; ks->bufs && i < ks->n_parts && !rc; i++)
		rc = buf_send(ks, i);
	return rc;
}

static int
kafka_flush(struct sim_sink *s)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	int rc = bufs_send(ks);
	rd_kafka_poll(ks->rk, 0);
	return rc;
}

static int
kafka_close(struct sim_sink *s)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	int rc = bufs_send(ks);
	if (rd_kafka_flush(ks->rk, CLOSE_TIMEOUT_MS)) {
		/* Whatever is still queued or in flight now fails (its
		 * delivery report says so) and is counted. */
		fprintf(stderr, "weft sim replay: kafka: %d messages still "
		    "undelivered after %d s; giving up on them\n",
		    rd_kafka_outq_len(ks->rk), CLOSE_TIMEOUT_MS / 1000);
		rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE |
		    RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_flush(ks->rk, 5000);
		rc = WEFT_EKAFKA;
	}
	if (ks->st.failed) {
		fprintf(stderr, "weft sim replay: kafka: %" PRIu64 " messages "
		    "not delivered (first error: %s)\n", ks->st.failed,
		    rd_kafka_err2str(ks->first_err));
		rc = WEFT_EKAFKA;
	}
	if (ks->out)
		*ks->out = ks->st;
	rd_kafka_topic_destroy(ks->rkt);
	rd_kafka_destroy(ks->rk);
	for (int32_t i = 0; ks->bufs && i < ks->n_parts; i++)
		free(ks->bufs[i].d);
	free(ks->bufs);
	free(ks);
	return rc;
}

/* The topic's partition count, from the brokers: > 0, or 0 with errstr. */
static int32_t
topic_partitions(struct kafka_sink *ks, char *errstr, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(ks->rk, 0, ks->rkt, &md,
	    10000);
	int32_t n = 0;
	if (!err && md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	else
		snprintf(errstr, errlen, "kafka topic '%s': no partition count: %s",
		    rd_kafka_topic_name(ks->rkt), rd_kafka_err2str(err ? err :
		    md->topic_cnt == 1 ? md->topics[0].err :
		    RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
	if (md)
		rd_kafka_metadata_destroy(md);
	return n;
}

int
sim_sink_kafka_open(const struct sim_kafka_cfg *cfg, struct sim_sink **out,
    char *errstr, size_t errlen)
{
	*out = NULL;
	if (!cfg->topic || !cfg->topic[0]) {
		snprintf(errstr, errlen, "kafka: a topic is needed");
		return WEFT_EINVAL;
	}
	struct kafka_sink *ks = calloc(1, sizeof(*ks));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!ks || !conf) {
		free(ks);
		if (conf)
			rd_kafka_conf_destroy(conf);
		snprintf(errstr, errlen, "out of memory");
		return WEFT_ENOMEM;
	}
	int rc = 0;
	if (cfg->brokers)
		rc = weft_kafka_set(conf, "kafka", "bootstrap.servers", cfg->brokers, errstr,
		    errlen);
	if (!rc)
		rc = weft_kafka_set(conf, "kafka", "enable.idempotence", "true", errstr,
		    errlen);
	if (!rc)
		rc = weft_kafka_set(conf, "kafka", "linger.ms", "5", errstr, errlen);
	if (!rc)
		rc = weft_kafka_set(conf, "kafka", "batch.num.messages", "10000", errstr,
		    errlen);
	if (!rc)
		rc = weft_kafka_set(conf, "kafka", "client.id", "weft-sim-replay", errstr,
		    errlen);
	for (size_t i = 0; !rc && i < cfg->nprops; i++)
		rc = weft_kafka_set_kv(conf, "kafka", cfg->props[i], errstr, errlen);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		free(ks);
		return rc;
	}
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	char why[512];
	ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!ks->rk) {
		/* conf is still ours when rd_kafka_new() fails */
		rd_kafka_conf_destroy(conf);
		free(ks);
		snprintf(errstr, errlen, "kafka producer: %s", why);
		return WEFT_EINVAL;
	}
	ks->rkt = rd_kafka_topic_new(ks->rk, cfg->topic, NULL);
	if (!ks->rkt) {
		snprintf(errstr, errlen, "kafka topic '%s': %s", cfg->topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(ks->rk);
		free(ks);
		return WEFT_EKAFKA;
	}
	ks->key_trace = cfg->key_trace;
	ks->per_msg = cfg->reports_per_message ? cfg->reports_per_message : 1;
	if (ks->per_msg > 1) {
		ks->n_parts = ks->key_trace ? topic_partitions(ks, errstr, errlen) : 1;
		if (ks->n_parts > 0)
			ks->bufs = calloc((size_t)ks->n_parts, sizeof(*ks->bufs));
		if (!ks->bufs) {
			if (ks->n_parts > 0)
				snprintf(errstr, errlen, "out of memory");
			rd_kafka_topic_destroy(ks->rkt);
			rd_kafka_destroy(ks->rk);
			free(ks);
			return WEFT_EKAFKA;
		}
	}
	ks->out = cfg->stats;
	ks->base.write = kafka_write;
	ks->base.flush = kafka_flush;
	ks->base.close = kafka_close;
	*out = &ks->base;
	return 0;
}

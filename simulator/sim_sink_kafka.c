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

struct kafka_sink {
	struct sim_sink base; /* first: the sink pointer is the kafka_sink */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int key_trace;
	struct sim_kafka_stats st;
	struct sim_kafka_stats *out;
	rd_kafka_resp_err_t first_err; /* of the first failed delivery */
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

static int
kafka_write(struct sim_sink *s, const char *line, size_t len, uint64_t task)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	char key[17];
	if (len && line[len - 1] == '\n')
		len--;
	snprintf(key, sizeof(key), "%016" PRIx64, task);
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(ks->rk,
		    RD_KAFKA_V_RKT(ks->rkt),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_VALUE((void *)line, len),
		    /* parenthesised: the macro casts its bare argument */
		    RD_KAFKA_V_KEY((ks->key_trace ? key : NULL),
			(ks->key_trace ? 16 : 0)),
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

static int
kafka_flush(struct sim_sink *s)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	rd_kafka_poll(ks->rk, 0);
	return 0;
}

static int
kafka_close(struct sim_sink *s)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	int rc = 0;
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
	free(ks);
	return rc;
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
	ks->out = cfg->stats;
	ks->base.write = kafka_write;
	ks->base.flush = kafka_flush;
	ks->base.close = kafka_close;
	*out = &ks->base;
	return 0;
}

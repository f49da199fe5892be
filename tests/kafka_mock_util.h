/*
 * kafka_mock_util.h — helpers shared by the tests that run against
 * librdkafka's mock cluster (no real broker): the cluster and its topics,
 * plain clients, producing one message, reading a topic back from the
 * beginning, and a group's committed offsets against a topic's ends.
 */
#ifndef WEFT_TEST_KAFKA_MOCK_UTIL_H
#define WEFT_TEST_KAFKA_MOCK_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* ---- the cluster --------------------------------------------------------- */

struct kmock {
	rd_kafka_t *rk; /* owns the cluster */
	rd_kafka_mock_cluster_t *mc;
	const char *bootstraps;
};

/* Log callback that drops everything (the mock is chatty). */
static inline void
kmock_quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/* A mock cluster of `brokers` brokers, no topics yet. */
static inline void
kmock_start(struct kmock *m, int brokers)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, kmock_quiet_log);
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!m->rk)
		fail_msg("rd_kafka_new: %s", err);
	m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
	assert_non_null(m->mc);
	m->bootstraps = rd_kafka_mock_cluster_bootstraps(m->mc);
}

static inline void
kmock_topic(struct kmock *m, const char *topic, int partitions,
            int replication)
{
	assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, partitions,
	                                            replication),
	                 RD_KAFKA_RESP_ERR_NO_ERROR);
}

static inline void
kmock_stop(struct kmock *m)
{
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
}

/* ---- clients -------------------------------------------------------------- */

static inline void
kmock_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[512];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
		fail_msg("%s: %s", k, err);
}

/* A quiet configuration for `brokers`; with `group`, a member of it that
 * never commits by itself. */
static inline rd_kafka_conf_t *
kmock_conf(const char *brokers, const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	kmock_set(conf, "bootstrap.servers", brokers);
	rd_kafka_conf_set_log_cb(conf, kmock_quiet_log);
	if (group) {
		kmock_set(conf, "group.id", group);
		kmock_set(conf, "enable.auto.commit", "false");
	}
	return conf;
}

/* A client made of conf (which it takes). */
static inline rd_kafka_t *
kmock_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk)
		fail_msg("rd_kafka_new: %s", err);
	return rk;
}

/* Queues one message (copied): unkeyed when key is NULL, with a header
 * hname=hvalue when hname is not NULL. */
static inline void
kmock_produce(rd_kafka_t *p, const char *topic, const void *key, size_t keylen,
              const void *value, size_t len, const char *hname,
              const char *hvalue)
{
	rd_kafka_headers_t *h = NULL;
	if (hname) {
		h = rd_kafka_headers_new(1);
		assert_int_equal(rd_kafka_header_add(h, hname, -1, hvalue, -1),
		                 RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	/* RD_KAFKA_V_VALUE wants a mutable pointer; F_COPY only reads it. */
	rd_kafka_resp_err_t err = rd_kafka_producev(
	        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	        RD_KAFKA_V_KEY(key, key ? keylen : 0),
	        RD_KAFKA_V_VALUE((void *)value, len),
	        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	if (err && h)
		rd_kafka_headers_destroy(h); /* still ours when producev fails */
	assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- reading a topic back -------------------------------------------------- */

struct kmock_rec {
	int32_t part;
	char key[32]; /* NUL-terminated copy; "" when none or longer */
	size_t keylen;
	char *value;  /* NUL-terminated copy */
	size_t vlen;
	rd_kafka_headers_t *headers; /* NULL when none */
};

/* Header `name` of r into out[cap]; "" when absent or too long. */
static inline const char *
kmock_rec_header(const struct kmock_rec *r, const char *name, char *out,
                 size_t cap)
{
	const void *v;
	size_t len;
	out[0] = '\0';
	if (r->headers && !rd_kafka_header_get_last(r->headers, name, &v, &len) &&
	    len < cap) {
		memcpy(out, v, len);
		out[len] = '\0';
	}
	return out;
}

/* A copy of message m in x; m's headers move to x. */
static inline void
kmock_rec_take(struct kmock_rec *x, rd_kafka_message_t *m)
{
	memset(x, 0, sizeof *x);
	x->part = m->partition;
	x->keylen = m->key_len;
	if (m->key && m->key_len < sizeof x->key)
		memcpy(x->key, m->key, m->key_len);
	x->vlen = m->len;
	x->value = malloc(m->len + 1);
	assert_non_null(x->value);
	memcpy(x->value, m->payload, m->len);
	x->value[m->len] = '\0';
	if (rd_kafka_message_detach_headers(m, &x->headers))
		x->headers = NULL;
}

/* Consumer c reads topic[0..nparts) from the beginning (no group join). */
static inline void
kmock_assign_from_start(rd_kafka_t *c, const char *topic, int nparts)
{
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++)
		rd_kafka_topic_partition_list_add(tl, topic, p)->offset =
		        RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(c, tl), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(tl);
}

/* Every message of topic[0..nparts) from the beginning, until the end of
 * each partition; fails after `secs`. Sets *n; free with kmock_recs_free. */
static inline struct kmock_rec *
kmock_read_all(const char *brokers, const char *topic, int nparts,
               unsigned secs, size_t *n)
{
	enum { MAXPART = 64 };
	assert_true(nparts > 0 && nparts <= MAXPART);
	rd_kafka_conf_t *conf = kmock_conf(brokers, "test-reader");
	kmock_set(conf, "enable.partition.eof", "true");
	rd_kafka_t *c = kmock_client(RD_KAFKA_CONSUMER, conf);
	kmock_assign_from_start(c, topic, nparts);
	size_t cap = 1024, k = 0;
	struct kmock_rec *r = calloc(cap, sizeof *r);
	assert_non_null(r);
	int eof[MAXPART] = {0}, neof = 0;
	time_t end = time(NULL) + (time_t)secs;
	while (neof < nparts && time(NULL) < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (m->partition >= 0 && m->partition < nparts &&
			    !eof[m->partition]++)
				neof++;
		} else if (!m->err) {
			if (k == cap) {
				cap *= 2;
				r = realloc(r, cap * sizeof *r);
				assert_non_null(r);
			}
			kmock_rec_take(&r[k++], m);
		}
		rd_kafka_message_destroy(m);
	}
	assert_int_equal(neof, nparts);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	*n = k;
	return r;
}

static inline void
kmock_recs_free(struct kmock_rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].value);
		if (r[i].headers)
			rd_kafka_headers_destroy(r[i].headers);
	}
	free(r);
}

/* ---- offsets ------------------------------------------------------------------ */

/* The ends (high watermarks) of topic[0..nparts), asked through c. */
static inline void
kmock_ends(rd_kafka_t *c, const char *topic, int nparts, int64_t *hi)
{
	for (int p = 0; p < nparts; p++) {
		int64_t lo;
		assert_int_equal(rd_kafka_query_watermark_offsets(c, topic, p, &lo,
		                                                  &hi[p], 10000),
		                 RD_KAFKA_RESP_ERR_NO_ERROR);
	}
}

/* The committed offsets of c's group on topic[0..nparts) (negative: none). */
static inline void
kmock_committed(rd_kafka_t *c, const char *topic, int nparts, int64_t *off)
{
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++)
		rd_kafka_topic_partition_list_add(tl, topic, p);
	assert_int_equal(rd_kafka_committed(c, tl, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	for (int p = 0; p < nparts; p++) {
		assert_int_equal(tl->elems[p].err, RD_KAFKA_RESP_ERR_NO_ERROR);
		off[p] = tl->elems[p].offset;
	}
	rd_kafka_topic_partition_list_destroy(tl);
}

#endif

/*
 * op_rekey.c — the loop of `weft rekey` (its command is cmd/rekey.c):
 * consume a topic of X-Trace reports and re-produce each one keyed by its
 * trace id into a repartition topic, so that Kafka's partitioner puts
 * every event of a trace in one partition.
 *
 *   consumer (group) -> decode (trace id) -> idempotent producer
 *                                         \-> dead-letter topic (rejects)
 *
 * A message holds one report (a JSON line, its '\n' optional, or one text
 * report). Its value and headers are produced unchanged; the key becomes the
 * trace id as 16 lowercase hex digits. Reports that do not decode are
 * counted by reason and, with --dead-letter-topic, produced there unchanged
 * (original key) with a "weft-error" header naming the reason. They never
 * stop the process.
 *
 * Commit rule. Auto commit and auto offset store are off. A message's
 * position is stored only once its output is in the producer's queue; every
 * commit_ms (and at exit, and before partitions are revoked) the producer is
 * flushed and only then are the stored positions committed. So a committed
 * offset never covers a message whose output was not delivered: a crash
 * gives duplicates, never a loss. A delivery that fails for good (the
 * idempotent producer has retried it until message.timeout.ms) stops the
 * process with an error, and nothing is committed past that point.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "operators/ingest/ingest.h"
#include "operators/output/output.h"
#include "operators/serve/kafka_conf.h"
#include "operators/serve/rekey.h"

#define FINAL_FLUSH_MS 60000
#define PERIOD_FLUSH_MS 30000

/* Delivery-report opaques: which topic a message went to. */
#define KIND_OUT ((void *)1)
#define KIND_DLQ ((void *)2)
/* Marks a partition of the assignment that is at its end. */
#define AT_EOF ((void *)1)

struct rekey {
	const struct op_rekey_config *cfg;
	struct op_rekey_stats *st;
	rd_kafka_t *cons, *prod;
	rd_kafka_topic_t *out, *dlq;
	struct op_decoder *dec;
	uint64_t *rec;          /* decoded record [cap] */
	uint32_t cap;
	/* The assignment; elem->opaque non-NULL: that partition is at EOF. */
	rd_kafka_topic_partition_list_t *assigned;
	int dirty;              /* positions stored since the last commit */
	int fatal;              /* a client reported a fatal error */
	int rc;                 /* first error from a callback */
	rd_kafka_resp_err_t first_failure;
	char *errstr;
	size_t errlen;
};

void
op_rekey_config_default(struct op_rekey_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->group = "weft-rekey";
	cfg->format = OP_FORMAT_JSON_V4;
	cfg->commit_ms = 500;
}

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Remembers the first error of the run (the message the caller prints). */
static int
fail(struct rekey *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct rekey *r, int rc, const char *fmt, ...)
{
	if (!r->rc) {
		va_list ap;
		va_start(ap, fmt);
		if (r->errstr && r->errlen)
			vsnprintf(r->errstr, r->errlen, fmt, ap);
		va_end(ap);
		r->rc = rc;
	}
	return rc;
}

/* ---- callbacks (served on this thread by poll/flush) ------------------- */

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct rekey *r = opaque;
	(void)rk;
	if (m->err) {
		if (!r->st->failed++)
			r->first_failure = m->err;
		return;
	}
	if (m->_private == KIND_OUT)
		r->st->produced++;
	else
		r->st->dead_lettered++;
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct rekey *r = opaque;
	fprintf(stderr, "weft rekey: kafka %s: %s\n", rd_kafka_name(rk), reason);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_fatal_error(rk, why, sizeof why);
		fail(r, WEFT_EKAFKA, "kafka %s: fatal: %s", rd_kafka_name(rk), why);
		r->fatal = 1;
	}
}

/*
 * Flushes the producer, then commits the stored positions. final: the last
 * chance (at exit or revocation), so a flush that times out is an error;
 * otherwise it is tried again next period. Never commits after a failed
 * delivery.
 */
static int
checkpoint(struct rekey *r, int final)
{
	if (!r->dirty)
		return 0;
	rd_kafka_resp_err_t err = rd_kafka_flush(r->prod, final ? FINAL_FLUSH_MS :
	                                         PERIOD_FLUSH_MS);
	if (r->st->failed)
		return fail(r, WEFT_EKAFKA, "%" PRIu64 " messages not delivered "
		            "(first error: %s); offsets not committed",
		            r->st->failed, rd_kafka_err2str(r->first_failure));
	if (err) {
		if (!final)
			return 0;
		return fail(r, WEFT_EKAFKA, "%d messages still undelivered after "
		            "%d s; offsets not committed",
		            rd_kafka_outq_len(r->prod), FINAL_FLUSH_MS / 1000);
	}
	if (rd_kafka_assignment_lost(r->cons))
		return 0; /* not ours any more: a commit would be refused */
	err = rd_kafka_commit(r->cons, NULL, 0);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->st->commits++;
		r->dirty = 0;
	} else if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
		r->dirty = 0;
	} else {
		/* positions stay stored: the next commit covers them */
		fprintf(stderr, "weft rekey: commit: %s\n", rd_kafka_err2str(err));
	}
	return 0;
}

static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct rekey *r = opaque;
	int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (!coop) {
			rd_kafka_topic_partition_list_destroy(r->assigned);
			r->assigned = rd_kafka_topic_partition_list_new(parts->cnt);
		}
		for (int i = 0; i < parts->cnt; i++)
			rd_kafka_topic_partition_list_add(r->assigned,
			                                  parts->elems[i].topic,
			                                  parts->elems[i].partition);
		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, parts);
	} else {
		/* Revoked (or a rebalance error): hand over clean positions. */
		checkpoint(r, 1);
		if (coop && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
			for (int i = 0; i < parts->cnt; i++)
				rd_kafka_topic_partition_list_del(r->assigned,
				                                  parts->elems[i].topic,
				                                  parts->elems[i].partition);
			e = rd_kafka_incremental_unassign(rk, parts);
		} else {
			rd_kafka_topic_partition_list_destroy(r->assigned);
			r->assigned = rd_kafka_topic_partition_list_new(16);
			aerr = rd_kafka_assign(rk, NULL);
		}
	}
	if (e) {
		fprintf(stderr, "weft rekey: rebalance: %s\n", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else if (aerr) {
		fprintf(stderr, "weft rekey: rebalance: %s\n", rd_kafka_err2str(aerr));
	}
}

/* ---- the loop ---------------------------------------------------------- */

/* Produces value (and headers) of m to rkt with key; hdr_error: add a
 * "weft-error" header. Waits while the local queue is full. Returns 0, 1
 * (stopped before it was queued) or a WEFT_E* code. */
static int
produce(struct rekey *r, rd_kafka_topic_t *rkt, const rd_kafka_message_t *m,
        const void *key, size_t keylen, const char *hdr_error, void *kind)
{
	rd_kafka_headers_t *in = NULL, *h = NULL;
	if (!rd_kafka_message_headers(m, &in) && in)
		h = rd_kafka_headers_copy(in);
	if (hdr_error) {
		if (!h)
			h = rd_kafka_headers_new(1);
		rd_kafka_header_add(h, "weft-error", -1, hdr_error, -1);
	}
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		        r->prod, RD_KAFKA_V_RKT(rkt),
		        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		        RD_KAFKA_V_VALUE(m->payload, m->len),
		        RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_OPAQUE(kind),
		        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (!err)
			return 0; /* h belongs to the message now */
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			if (h)
				rd_kafka_headers_destroy(h);
			if (err == RD_KAFKA_RESP_ERR__FATAL) {
				char why[512];
				rd_kafka_fatal_error(r->prod, why, sizeof why);
				return fail(r, WEFT_EKAFKA, "produce to %s: fatal: %s",
				            rd_kafka_topic_name(rkt), why);
			}
			return fail(r, WEFT_EKAFKA, "produce to %s: %s",
			            rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
		}
		if (r->cfg->stop && *r->cfg->stop) {
			/* Stopping while the queue is full: this message is
			 * left for the next run (its position is not stored). */
			if (h)
				rd_kafka_headers_destroy(h);
			return 1;
		}
		rd_kafka_poll(r->prod, 100);
	}
}

/* The trace id of the report in m, or a reject reason. */
static enum op_reject
decode(struct rekey *r, const rd_kafka_message_t *m, uint64_t *trace)
{
	const char *p = m->payload ? m->payload : "";
	size_t n = m->payload ? m->len : 0;
	uint32_t len;
	int rc;
	if (r->cfg->format == OP_FORMAT_JSON_V4) {
		if (n && p[n - 1] == '\n')
			n--;
		if (n && p[n - 1] == '\r')
			n--;
		rc = op_decode_json(r->dec, p, n, NULL, r->rec, r->cap, &len);
	} else {
		rc = op_decode_text(r->dec, p, n, NULL, r->rec, r->cap, &len);
	}
	if (rc) {
		enum op_reject why = op_decoder_last_reject(r->dec);
		return why != OP_REJECT_NONE ? why : OP_REJECT_SYNTAX;
	}
	*trace = ((const struct op_event *)(const void *)r->rec)->trace_id;
	return OP_REJECT_NONE;
}

static void
mark_eof(struct rekey *r, const rd_kafka_message_t *m, int eof)
{
	rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
	        r->assigned, rd_kafka_topic_name(m->rkt), m->partition);
	if (tp)
		tp->opaque = eof ? AT_EOF : NULL;
}

static int
all_eof(const struct rekey *r)
{
	if (!r->assigned->cnt)
		return 0;
	for (int i = 0; i < r->assigned->cnt; i++)
		if (!r->assigned->elems[i].opaque)
			return 0;
	return 1;
}

static int
handle(struct rekey *r, const rd_kafka_message_t *m)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		mark_eof(r, m, 1);
		return 0;
	}
	if (m->err) {
		fprintf(stderr, "weft rekey: consume %s: %s\n",
		        m->rkt ? rd_kafka_topic_name(m->rkt) : "",
		        rd_kafka_message_errstr(m));
		return 0;
	}
	r->st->consumed++;
	mark_eof(r, m, 0);
	uint64_t trace = 0;
	enum op_reject why = decode(r, m, &trace);
	int rc = 0;
	if (why == OP_REJECT_NONE) {
		char key[17];
		snprintf(key, sizeof key, "%016" PRIx64, trace);
		rc = produce(r, r->out, m, key, 16, NULL, KIND_OUT);
	} else {
		r->st->rejected++;
		r->st->by_reason[why]++;
		if (r->dlq)
			rc = produce(r, r->dlq, m, m->key, m->key_len,
			             op_reject_name(why), KIND_DLQ);
	}
	if (rc)
		return rc;
	/* In the producer's queue: the position may be committed once it is
	 * delivered (checkpoint). This (legacy) call stores offset + 1. */
	rd_kafka_resp_err_t err = rd_kafka_offset_store(m->rkt, m->partition,
	                                                m->offset);
	if (!err)
		r->dirty = 1;
	return 0;
}

/* ---- setup ------------------------------------------------------------- */


/* A client's configuration: defaults (key, value pairs, NULL-terminated),
 * then props, then more (the client's own). NULL on error (r->rc set). */
static rd_kafka_conf_t *
client_conf(struct rekey *r, rd_kafka_type_t type, const char *const *defs,
            const char *const *more, size_t n_more)
{
	const struct op_rekey_config *c = r->cfg;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		fail(r, WEFT_ENOMEM, "out of memory");
		return NULL;
	}
	int rc = 0;
	for (size_t i = 0; !rc && defs[i]; i += 2)
		rc = weft_kafka_set(conf, "kafka", defs[i], defs[i + 1], r->errstr, r->errlen);
	for (size_t i = 0; !rc && i < c->n_props; i++)
		rc = weft_kafka_set_kv(conf, "kafka", c->props[i], r->errstr, r->errlen);
	for (size_t i = 0; !rc && i < n_more; i++)
		rc = weft_kafka_set_kv(conf, "kafka", more[i], r->errstr, r->errlen);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		r->rc = rc;
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_error_cb(conf, on_error);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	else
		rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	return conf;
}

/* Makes the client; conf is consumed either way. */
static int
new_client(struct rekey *r, rd_kafka_type_t type, rd_kafka_conf_t *conf,
           rd_kafka_t **out)
{
	char why[512];
	*out = rd_kafka_new(type, conf, why, sizeof why);
	if (!*out) {
		rd_kafka_conf_destroy(conf); /* still ours on failure */
		return fail(r, WEFT_EINVAL, "kafka %s: %s",
		            type == RD_KAFKA_PRODUCER ? "producer" : "consumer", why);
	}
	return 0;
}

static int
setup(struct rekey *r)
{
	const struct op_rekey_config *c = r->cfg;
	if (!c->topic || !c->topic[0] || !c->to_topic || !c->to_topic[0])
		return fail(r, WEFT_EINVAL, "an input and an output topic are needed");
	if (!strcmp(c->topic, c->to_topic) ||
	    (c->dead_letter_topic && !strcmp(c->topic, c->dead_letter_topic)))
		return fail(r, WEFT_EINVAL, "the output topics must differ from the "
		            "input topic '%s'", c->topic);
	int rc = op_decoder_new(c->format, NULL, c->topic, NULL, &r->dec);
	if (rc)
		return fail(r, rc, "decoder: %s", weft_strerror(rc));
	r->cap = op_decoder_config(r->dec)->max_record_bytes;
	r->rec = aligned_alloc(8, (r->cap + 7u) & ~7u);
	r->assigned = rd_kafka_topic_partition_list_new(16);
	if (!r->rec || !r->assigned)
		return fail(r, WEFT_ENOMEM, "out of memory");

	const char *brokers = c->brokers ? c->brokers : "";
	const char *prod_defs[] = {
		"bootstrap.servers", brokers,
		"client.id", "weft-rekey",
		"enable.idempotence", "true",
		"linger.ms", "5",
		NULL,
	};
	const char *cons_defs[] = {
		"bootstrap.servers", brokers,
		"client.id", "weft-rekey",
		"group.id", c->group ? c->group : "weft-rekey",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"enable.partition.eof", c->exit_at_eof ? "true" : "false",
		NULL,
	};
	/* Both configurations first: a bad property fails before any
	 * client connects. */
	rd_kafka_conf_t *pconf = client_conf(r, RD_KAFKA_PRODUCER, prod_defs,
	                                     c->producer_props,
	                                     c->n_producer_props);
	rd_kafka_conf_t *cconf = pconf ? client_conf(r, RD_KAFKA_CONSUMER,
	                                             cons_defs, c->consumer_props,
	                                             c->n_consumer_props) : NULL;
	if (!cconf) {
		if (pconf)
			rd_kafka_conf_destroy(pconf);
		return r->rc;
	}
	if ((rc = new_client(r, RD_KAFKA_PRODUCER, pconf, &r->prod))) {
		rd_kafka_conf_destroy(cconf);
		return rc;
	}
	if ((rc = new_client(r, RD_KAFKA_CONSUMER, cconf, &r->cons)))
		return rc;
	rd_kafka_poll_set_consumer(r->cons);
	r->out = rd_kafka_topic_new(r->prod, c->to_topic, NULL);
	if (r->out && c->dead_letter_topic)
		r->dlq = rd_kafka_topic_new(r->prod, c->dead_letter_topic, NULL);
	if (!r->out || (c->dead_letter_topic && !r->dlq))
		return fail(r, WEFT_EKAFKA, "kafka topic: %s",
		            rd_kafka_err2str(rd_kafka_last_error()));
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	if (!sub)
		return fail(r, WEFT_ENOMEM, "out of memory");
	rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(r->cons, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err)
		return fail(r, WEFT_EKAFKA, "subscribe to %s: %s", c->topic,
		            rd_kafka_err2str(err));
	return 0;
}

int
op_rekey_run(const struct op_rekey_config *cfg, struct op_rekey_stats *st,
             char *errstr, size_t errlen)
{
	struct rekey r;
	memset(&r, 0, sizeof r);
	memset(st, 0, sizeof *st);
	r.cfg = cfg;
	r.st = st;
	r.errstr = errstr;
	r.errlen = errlen;
	if (errstr && errlen)
		errstr[0] = '\0';
	uint32_t period = cfg->commit_ms ? cfg->commit_ms : 500;
	if (!setup(&r)) {
		double next = now_ms() + period;
		while (!(cfg->stop && *cfg->stop) && !r.rc && !r.fatal) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(r.cons, 100);
			if (m) {
				handle(&r, m);
				rd_kafka_message_destroy(m);
			}
			rd_kafka_poll(r.prod, 0);
			if (cfg->exit_at_eof && all_eof(&r))
				break;
			if (now_ms() >= next) {
				checkpoint(&r, 0);
				next = now_ms() + period;
			}
		}
	}
	/* Flush and commit what was handled (refused after a failed
	 * delivery), then leave the group (revocation checkpoints again). */
	if (r.cons && r.prod) {
		checkpoint(&r, 1);
		rd_kafka_consumer_close(r.cons);
	}
	if (r.cons)
		rd_kafka_destroy(r.cons);
	if (r.out)
		rd_kafka_topic_destroy(r.out);
	if (r.dlq)
		rd_kafka_topic_destroy(r.dlq);
	if (r.prod) {
		rd_kafka_flush(r.prod, FINAL_FLUSH_MS);
		rd_kafka_destroy(r.prod);
	}
	if (r.assigned)
		rd_kafka_topic_partition_list_destroy(r.assigned);
	op_decoder_free(r.dec);
	free(r.rec);
	return r.rc;
}

void
op_rekey_print_stats(FILE *f, const struct op_rekey_stats *st)
{
	fprintf(f, "weft rekey:\n"
	        "  consumed      %" PRIu64 "\n"
	        "  produced      %" PRIu64 "\n"
	        "  rejected      %" PRIu64 "\n",
	        st->consumed, st->produced, st->rejected);
	for (int i = 1; i < OP_REJECT__COUNT; i++)
		if (st->by_reason[i])
			fprintf(f, "    %-22s %" PRIu64 "\n",
			        op_reject_name((enum op_reject)i), st->by_reason[i]);
	fprintf(f, "  dead-lettered %" PRIu64 "\n"
	        "  failed        %" PRIu64 "\n"
	        "  commits       %" PRIu64 "\n",
	        st->dead_lettered, st->failed, st->commits);
}

/*
 * op_serve.c — `weft serve`: the Kafka consumer service.
 *
 *   kafka source (one consumer per worker, one group) -> decode
 *     -> exchange(trace id) -> assemble [-> check] -> serve sink
 *
 * Outputs go through one idempotent producer: anomalies (the check
 * operator's JSON lines), finished traces (optional), dead letters; every
 * message keyed by trace id where there is one. The committer thread is
 * the only caller of rd_kafka_poll() on the producer: it counts delivery
 * reports per writer slot and, every commit interval, publishes the commit
 * epoch of serve.h's rule once everything produced before it read the
 * ledger has been delivered. A delivery failure stops the service without
 * committing past it (exit 1): the next run re-reads.
 *
 * Configuration: a file of `key = value` lines (# comments) and the same
 * keys as flags (--key value), flags last; docs/SERVE.md lists them.
 * SIGTERM/SIGINT: stop consuming, drain, emit finished traces, commit,
 * exit 0. SIGHUP: reload the model at an epoch boundary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "operators/serve/kafka_conf.h"
#include "operators/serve/serve.h"
#include "cmd/cmd.h"

/* ---- structured log ----------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
serve_log(const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	struct weft_buf b = {0};
	weft_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":", when, ts.tv_nsec / 1000000);
	weft_buf_str(&b, level);
	weft_buf_printf(&b, ",\"msg\":");
	weft_buf_str(&b, msg);
	weft_buf_printf(&b, "}\n");
	pthread_mutex_lock(&log_lock);
	if (b.p)
		fwrite(b.p, 1, b.len, stderr);
	pthread_mutex_unlock(&log_lock);
	free(b.p);
}

/* librdkafka's own log lines, as structured lines too. */
void
serve_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	serve_log(level <= 3 ? "error" : level <= 4 ? "warn" : "info", "%s: %s: %s",
	          rd_kafka_name(rk), fac, buf);
}

/* ---- outputs ------------------------------------------------------------ */

#define SEQ_BITS 48
#define SEQ_MASK ((1ull << SEQ_BITS) - 1)

struct out_slot {
	_Atomic uint64_t next; /* messages produced (one writer per slot) */
	/* committer thread only */
	uint64_t below;        /* every message < below delivered */
	uint8_t *done;
	size_t cap, head;
	char pad[64];
};

struct serve_out {
	rd_kafka_t *rk;
	rd_kafka_topic_t *topic[SERVE_T__COUNT];
	const char *topic_name[SERVE_T__COUNT];
	unsigned n_slots;
	struct out_slot *slots;
	_Atomic int failed;
	_Atomic uint64_t produced[SERVE_T__COUNT], delivered, delivery_failures;
	_Atomic uint64_t queue_full_waits;
};

static void
slot_mark(struct out_slot *sl, uint64_t seq)
{
	if (seq < sl->below)
		return;
	uint64_t off = seq - sl->below;
	if (off >= sl->cap) {
		size_t nc = sl->cap ? sl->cap : 1024;
		while (nc <= off)
			nc *= 2;
		uint8_t *nd = calloc(nc, 1);
		if (!nd)
			abort();
		for (size_t i = 0; i < sl->cap; i++)
			nd[i] = sl->done[(sl->head + i) % sl->cap];
		free(sl->done);
		sl->done = nd;
		sl->cap = nc;
		sl->head = 0;
	}
	sl->done[(sl->head + off) % sl->cap] = 1;
	while (sl->done[sl->head]) {
		sl->done[sl->head] = 0;
		sl->head = (sl->head + 1) % sl->cap;
		sl->below++;
	}
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct serve_out *o = opaque;
	uint64_t tag = (uint64_t)(uintptr_t)m->_private;
	unsigned slot = (unsigned)(tag >> SEQ_BITS);
	if (m->err) {
		if (!atomic_exchange(&o->failed, 1))
			serve_log("error", "delivery to '%s' failed: %s; stopping without committing past it",
			          m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
			          rd_kafka_err2str(m->err));
		atomic_fetch_add(&o->delivery_failures, 1);
	} else {
		atomic_fetch_add_explicit(&o->delivered, 1, memory_order_relaxed);
	}
	if (slot < o->n_slots)
		slot_mark(&o->slots[slot], tag & SEQ_MASK);
}

int
serve_out_produce(struct serve_out *o, unsigned slot, enum serve_topic t,
                  int has_key, uint64_t key_id, const char *value, size_t len)
{
	if (!o || !o->topic[t])
		return 0;
	struct out_slot *sl = &o->slots[slot];
	uint64_t seq = atomic_load_explicit(&sl->next, memory_order_relaxed);
	char key[17];
	if (has_key)
		snprintf(key, sizeof key, "%016" PRIx64, key_id);
	void *tag = (void *)(uintptr_t)(((uint64_t)slot << SEQ_BITS) | (seq & SEQ_MASK));
	while (rd_kafka_produce(o->topic[t], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
	                        (void *)value, len, has_key ? key : NULL,
	                        has_key ? 16 : 0, tag) == -1) {
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			if (!atomic_exchange(&o->failed, 1))
				serve_log("error", "produce to '%s' failed: %s", o->topic_name[t],
				          rd_kafka_err2str(err));
			return WEFT_EKAFKA;
		}
		/* the committer polls the producer; wait for room, never drop */
		atomic_fetch_add_explicit(&o->queue_full_waits, 1, memory_order_relaxed);
		usleep(1000);
	}
	atomic_fetch_add_explicit(&o->produced[t], 1, memory_order_relaxed);
	atomic_store_explicit(&sl->next, seq + 1, memory_order_release);
	return 0;
}

/* ---- configuration ------------------------------------------------------ */

#define MAX_PROPS 128
#define MAX_TOPICS 32

struct serve_cfg {
	/* kafka */
	const char *brokers, *group;
	const char *topics[MAX_TOPICS];
	unsigned n_topics;
	const char *cons_props[MAX_PROPS], *prod_props[MAX_PROPS];
	unsigned n_cons, n_prod;
	/* engine and assembly */
	unsigned workers;
	uint32_t epoch_ms, idle_partition_ms;
	uint32_t commit_ms;
	enum op_format format;
	/* outputs */
	const char *anomalies_topic, *traces_topic, *dead_topic;
	int traces_full;
	const char *model;
	const char *metrics; /* "addr:port" or "off" */
	char *owned[512];    /* strings we allocated (config file values) */
	unsigned n_owned;
};

static char *
keep(struct serve_cfg *c, const char *s, size_t n)
{
	if (c->n_owned == sizeof c->owned / sizeof c->owned[0])
		return NULL;
	char *p = strndup(s, n);
	if (p)
		c->owned[c->n_owned++] = p;
	return p;
}

static int
parse_u32(const char *key, const char *v, uint32_t min, uint32_t max, uint32_t *out,
          char *err, size_t errlen)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || end == v || v[0] == '-' || x < min || x > max) {
		snprintf(err, errlen, "%s: expected an integer in [%u, %u], got '%s'", key,
		         min, max, v);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
}

struct all_cfg {
	struct serve_cfg s;
	struct op_kafka_config k;
	struct op_decode_op_config dec;
	struct op_assemble_config as;
};

/* Applies one key. 0, or -1 with a message in err. */
static int
apply(struct all_cfg *a, const char *key, const char *v, char *err, size_t errlen)
{
	struct serve_cfg *c = &a->s;
	uint32_t x;
	if (!strcmp(key, "brokers")) {
		c->brokers = v;
	} else if (!strcmp(key, "topics") || !strcmp(key, "topic")) {
		c->n_topics = 0;
		for (const char *p = v; *p;) {
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (n) {
				if (c->n_topics == MAX_TOPICS) {
					snprintf(err, errlen, "%s: at most %d topics", key, MAX_TOPICS);
					return -1;
				}
				if (!(c->topics[c->n_topics++] = keep(c, p, n))) {
					snprintf(err, errlen, "out of memory");
					return -1;
				}
			}
			p += n + (e ? 1 : 0);
		}
	} else if (!strcmp(key, "group.id") || !strcmp(key, "group")) {
		c->group = v;
	} else if (!strcmp(key, "workers")) {
		if (parse_u32(key, v, 1, 1024, &x, err, errlen))
			return -1;
		c->workers = x;
	} else if (!strcmp(key, "epoch.ms")) {
		if (parse_u32(key, v, 1, 3600000, &c->epoch_ms, err, errlen))
			return -1;
	} else if (!strcmp(key, "idle.epochs")) {
		if (parse_u32(key, v, 1, 1000000, &a->as.idle_epochs, err, errlen))
			return -1;
	} else if (!strcmp(key, "idle.partition.ms")) {
		if (parse_u32(key, v, 0, 3600000, &c->idle_partition_ms, err, errlen))
			return -1;
	} else if (!strcmp(key, "commit.interval.ms")) {
		if (parse_u32(key, v, 10, 3600000, &c->commit_ms, err, errlen))
			return -1;
	} else if (!strcmp(key, "late.epochs")) {
		if (parse_u32(key, v, 0, UINT32_MAX, &a->as.late_epochs, err, errlen))
			return -1;
	} else if (!strcmp(key, "max.trace.events")) {
		if (parse_u32(key, v, 1, UINT32_MAX, &a->as.max_trace_events, err, errlen))
			return -1;
	} else if (!strcmp(key, "max.open.traces")) {
		if (parse_u32(key, v, 1, UINT32_MAX, &x, err, errlen))
			return -1;
		a->as.max_open_traces = x;
	} else if (!strcmp(key, "max.line")) {
		if (parse_u32(key, v, 64, OP_EVENT_MAX_BYTES * 16u, &x, err, errlen))
			return -1;
		a->k.max_unit_bytes = x;
		a->dec.decode.max_line_bytes = x;
		a->dec.decode.max_report_bytes = x;
	} else if (!strcmp(key, "end.label")) {
		a->as.end_label = v;
	} else if (!strcmp(key, "format")) {
		if (!strcmp(v, "json"))
			c->format = OP_FORMAT_JSON_V4;
		else if (!strcmp(v, "text"))
			c->format = OP_FORMAT_TEXT;
		else {
			snprintf(err, errlen, "format: json or text, not '%s'", v);
			return -1;
		}
	} else if (!strcmp(key, "model")) {
		c->model = *v ? v : NULL;
	} else if (!strcmp(key, "anomalies.topic")) {
		c->anomalies_topic = *v ? v : NULL;
	} else if (!strcmp(key, "traces.topic")) {
		c->traces_topic = *v ? v : NULL;
	} else if (!strcmp(key, "traces.full")) {
		if (strcmp(v, "true") && strcmp(v, "false")) {
			snprintf(err, errlen, "traces.full: true or false, not '%s'", v);
			return -1;
		}
		c->traces_full = !strcmp(v, "true");
	} else if (!strcmp(key, "deadletter.topic")) {
		c->dead_topic = *v ? v : NULL;
	} else if (!strcmp(key, "metrics")) {
		c->metrics = v;
	} else if (!strncmp(key, "kafka.", 6) || !strncmp(key, "consumer.", 9) ||
	           !strncmp(key, "producer.", 9)) {
		int cons = key[0] != 'p', prod = key[0] != 'c';
		const char *prop = strchr(key, '.') + 1;
		size_t n = strlen(prop) + 1 + strlen(v) + 1;
		char *kv = malloc(n);
		if (!kv || c->n_owned == sizeof c->owned / sizeof c->owned[0] ||
		    (cons && c->n_cons == MAX_PROPS) || (prod && c->n_prod == MAX_PROPS)) {
			free(kv);
			snprintf(err, errlen, "%s: too many properties", key);
			return -1;
		}
		snprintf(kv, n, "%s=%s", prop, v);
		c->owned[c->n_owned++] = kv;
		if (cons)
			c->cons_props[c->n_cons++] = kv;
		if (prod)
			c->prod_props[c->n_prod++] = kv;
	} else {
		snprintf(err, errlen, "unknown key '%s'", key);
		return -1;
	}
	return 0;
}

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = 0;
	return s;
}

static int
load_file(struct all_cfg *a, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "weft serve: cannot read config '%s': %s\n", path, strerror(errno));
		return -1;
	}
	char line[4096];
	unsigned no = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f)) {
		no++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "weft serve: %s:%u: expected 'key = value'\n", path, no);
			rc = -1;
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		char *kk = keep(&a->s, k, strlen(k)), *vv = keep(&a->s, v, strlen(v));
		char err[512];
		if (!kk || !vv) {
			fprintf(stderr, "weft serve: %s:%u: too many keys\n", path, no);
			rc = -1;
			break;
		}
		if (apply(a, kk, vv, err, sizeof err)) {
			fprintf(stderr, "weft serve: %s:%u: %s\n", path, no, err);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: weft serve [--config FILE] [--KEY VALUE ...] [-X PROP=VALUE ...]\n"
	        "  Consumes X-Trace reports from Kafka, assembles each trace, checks it\n"
	        "  against the model and produces anomalies (and finished traces) to Kafka.\n"
	        "  Every KEY works in the config file (`key = value`) and as --KEY; flags win.\n"
	        "keys (defaults in brackets):\n"
	        "  brokers HOST:PORT,..      bootstrap servers (required)\n"
	        "  topics T1,T2              input topics (required)\n"
	        "  group.id NAME             consumer group [weft]\n"
	        "  workers N                 worker shards, each a group member [cores]\n"
	        "  format json|text          X-Trace v4 JSON lines or text reports [json]\n"
	        "  epoch.ms MS               ingest clock tick, from message timestamps [100]\n"
	        "  idle.epochs G             a trace is finished after G idle epochs [30]\n"
	        "  idle.partition.ms MS      a partition at its end this long stops holding\n"
	        "                            the frontier (follows the wall clock) [1000]\n"
	        "  commit.interval.ms MS     how often offsets are committed [1000]\n"
	        "  late.epochs N, max.trace.events N, max.open.traces N, max.line BYTES,\n"
	        "  end.label LABEL           assembly limits, as for weft replay\n"
	        "  model PATH                check traces against this model (SIGHUP or a file\n"
	        "                            change reloads it at an epoch boundary)\n"
	        "  anomalies.topic T         [weft-anomalies]; '' disables\n"
	        "  traces.topic T            finished traces as JSON [none]\n"
	        "  traces.full true|false    nodes and edges in each trace [false]\n"
	        "  deadletter.topic T        rejected reports [weft-deadletters]; '' disables\n"
	        "  metrics ADDR:PORT|off     Prometheus /metrics [127.0.0.1:9464]\n"
	        "  kafka.PROP V              librdkafka property for consumer and producer\n"
	        "  consumer.PROP V, producer.PROP V   for one of them only\n"
	        "  -X PROP=V                 same as kafka.PROP V\n");
}

/* ---- the serve sink ------------------------------------------------------ */

struct sink_cfg {
	struct serve_out *out;
	struct op_ledger *ledger;
	int full;
	_Atomic uint64_t by_verdict[OP_VERDICT__COUNT];
	_Atomic uint64_t traces, events, reread, write_errors;
};

struct sink_inst {
	struct sink_cfg *cfg;
	unsigned w;
	struct weft_buf buf;
};

static int
sink_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct sink_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->cfg = arg;
	s->w = engine_ctx_worker(ctx);
	*state = s;
	return 0;
}

static void
sink_batch(void *state, struct engine_ctx *ctx, unsigned port,
           const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct sink_inst *s = state;
	struct sink_cfg *c = s->cfg;
	struct engine_batch_cursor cur = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	/* counted here, added to the shared atomics once per batch */
	uint64_t by_verdict[OP_VERDICT__COUNT] = {0}, traces = 0, events = 0, reread = 0;
	while ((r = engine_batch_next(b, &cur, &len))) {
		const struct op_trace *t = r;
		if (t->flags & OP_TRACE_FLUSHED) {
			reread++; /* still open at shutdown: left uncommitted, re-read next run */
			continue;
		}
		s->buf.len = 0;
		if (c->out && c->out->topic[SERVE_T_TRACES] &&
		    op_trace_json(&s->buf, t, c->full) == 0) {
			if (serve_out_produce(c->out, s->w, SERVE_T_TRACES, 1, t->trace_id,
			                      s->buf.p, s->buf.len))
				atomic_fetch_add(&c->write_errors, 1);
		}
		by_verdict[t->verdict < OP_VERDICT__COUNT ? t->verdict : 0]++;
		traces++;
		events += t->events_seen;
		op_ledger_close(c->ledger, s->w, t->first_epoch);
	}
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
		if (by_verdict[v])
			atomic_fetch_add_explicit(&c->by_verdict[v], by_verdict[v], memory_order_relaxed);
	atomic_fetch_add_explicit(&c->traces, traces, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->events, events, memory_order_relaxed);
	if (reread)
		atomic_fetch_add_explicit(&c->reread, reread, memory_order_relaxed);
}

static void
sink_close(void *state, struct engine_ctx *ctx, uint64_t epoch)
{
	(void)ctx;
	struct sink_inst *s = state;
	op_ledger_publish(s->cfg->ledger, s->w, epoch + 1);
}

static void
sink_flush(void *state, struct engine_ctx *ctx, uint64_t final)
{
	(void)ctx;
	struct sink_inst *s = state;
	op_ledger_publish(s->cfg->ledger, s->w, final + 1);
}

static void
sink_destroy(void *state)
{
	struct sink_inst *s = state;
	free(s->buf.p);
	free(s);
}

static const struct engine_op_vtable sink_vtable = {
	.init = sink_init,
	.on_batch = sink_batch,
	.on_epoch_close = sink_close,
	.on_flush = sink_flush,
	.destroy = sink_destroy,
};

/* ---- committer ------------------------------------------------------------ */

struct committer {
	struct serve_out *out;
	struct op_ledger *ledger;
	struct op_kafka_config *k;
	struct engine *engine;
	uint32_t interval_ms;
	pthread_t th;
	_Atomic int stop;
	uint64_t *snap;
};

/* One round: read L, wait for every output produced before, publish L.
 * 0 when published, -1 on delivery failure or when asked to stop first. */
static int
commit_round(struct committer *c, int final)
{
	uint64_t L = op_ledger_low(c->ledger);
	struct serve_out *o = c->out;
	for (unsigned i = 0; i < o->n_slots; i++)
		c->snap[i] = atomic_load_explicit(&o->slots[i].next, memory_order_acquire);
	int64_t waited = 0;
	for (;;) {
		unsigned i;
		for (i = 0; i < o->n_slots; i++)
			if (o->slots[i].below < c->snap[i])
				break;
		if (i == o->n_slots)
			break;
		if (atomic_load(&o->failed) || (!final && atomic_load(&c->stop)))
			return -1;
		if (final && waited > 60000) {
			serve_log("error", "outputs not delivered after 60 s; not committing");
			return -1;
		}
		rd_kafka_poll(o->rk, 50);
		waited += 50;
	}
	if (atomic_load(&o->failed))
		return -1;
	if (L != UINT64_MAX && L > atomic_load(&c->k->commit_epoch))
		atomic_store(&c->k->commit_epoch, L);
	return 0;
}

static void *
committer_main(void *arg)
{
	struct committer *c = arg;
	while (!atomic_load(&c->stop)) {
		for (uint32_t t = 0; t < c->interval_ms && !atomic_load(&c->stop); t += 50)
			rd_kafka_poll(c->out->rk, 50);
		if (commit_round(c, 0) && atomic_load(&c->out->failed)) {
			engine_stop(c->engine);
			break;
		}
		if (atomic_load(&c->k->fatal))
			engine_stop(c->engine);
	}
	return NULL;
}

/* ---- metrics ---------------------------------------------------------------- */

struct serve_state {
	struct all_cfg *a;
	struct sink_cfg *sink;
	struct serve_out *out;
	struct op_ledger *ledger;
	struct op_check_config *check; /* NULL without a model */
	struct op_deadletter *dl;
	unsigned workers;
};

static uint64_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

#define FAM(n, t, h) op_metrics_family(b, n, t, h)
#define VAL(n, v) op_metrics_sample(b, n, NULL, (double)(v))

static int
render(void *arg, struct weft_buf *b)
{
	struct serve_state *st = arg;
	struct op_kafka_config *k = &st->a->k;
	int rc = 0;
	rc |= FAM("weft_up", "gauge", "1 while the service runs");
	rc |= VAL("weft_up", 1);
	rc |= FAM("weft_messages_total", "counter", "Kafka messages consumed");
	rc |= VAL("weft_messages_total", atomic_load(&k->messages));
	rc |= FAM("weft_consumed_bytes_total", "counter", "bytes of message values consumed");
	rc |= VAL("weft_consumed_bytes_total", atomic_load(&k->bytes));
	rc |= FAM("weft_skipped_messages_total", "counter",
	          "messages not processed: partition revoked meanwhile, or stopping (re-read later)");
	rc |= VAL("weft_skipped_messages_total", atomic_load(&k->skipped));
	rc |= FAM("weft_reports_total", "counter", "X-Trace reports (lines or text reports) consumed");
	rc |= VAL("weft_reports_total", atomic_load(&k->units));
	rc |= FAM("weft_trace_events_total", "counter", "events in emitted traces");
	rc |= VAL("weft_trace_events_total", atomic_load(&st->sink->events));
	rc |= FAM("weft_traces_total", "counter", "finished traces emitted, by verdict");
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++) {
		struct weft_buf l = {0};
		weft_buf_printf(&l, "verdict=\"%s\"", op_verdict_name(v));
		rc |= op_metrics_sample(b, "weft_traces_total", l.p,
		                        (double)atomic_load(&st->sink->by_verdict[v]));
		free(l.p);
	}
	rc |= FAM("weft_open_traces", "gauge", "traces opened and not yet emitted (all workers)");
	rc |= VAL("weft_open_traces", op_ledger_pending(st->ledger));
	rc |= FAM("weft_epoch_frontier", "gauge", "epochs below this are closed at the source, per worker");
	for (unsigned w = 0; w < st->workers; w++) {
		char l[32];
		snprintf(l, sizeof l, "worker=\"%u\"", w);
		rc |= op_metrics_sample(b, "weft_epoch_frontier", l,
		                        (double)atomic_load(&k->frontiers[w]));
	}
	rc |= FAM("weft_commit_epoch", "gauge", "epochs below this are emitted, delivered and committable");
	rc |= VAL("weft_commit_epoch", atomic_load(&k->commit_epoch));
	rc |= FAM("weft_dead_letters_total", "counter", "rejected reports (dead-lettered)");
	rc |= VAL("weft_dead_letters_total", op_deadletter_count(st->dl, OP_REJECT_NONE));
	rc |= FAM("weft_produced_total", "counter", "messages produced, by output");
	static const char *const names[SERVE_T__COUNT] = {"anomalies", "traces", "deadletters"};
	for (unsigned t = 0; t < SERVE_T__COUNT; t++) {
		char l[48];
		snprintf(l, sizeof l, "output=\"%s\"", names[t]);
		rc |= op_metrics_sample(b, "weft_produced_total", l,
		                        (double)atomic_load(&st->out->produced[t]));
	}
	rc |= FAM("weft_delivered_total", "counter", "produced messages acknowledged by the brokers");
	rc |= VAL("weft_delivered_total", atomic_load(&st->out->delivered));
	rc |= FAM("weft_delivery_failures_total", "counter", "produced messages that failed (service stops)");
	rc |= VAL("weft_delivery_failures_total", atomic_load(&st->out->delivery_failures));
	rc |= FAM("weft_commits_total", "counter", "offset commits");
	rc |= VAL("weft_commits_total", atomic_load(&k->commits));
	rc |= FAM("weft_commit_errors_total", "counter", "failed offset commits");
	rc |= VAL("weft_commit_errors_total", atomic_load(&k->commit_errors));
	rc |= FAM("weft_consumer_errors_total", "counter", "consumer errors reported by librdkafka");
	rc |= VAL("weft_consumer_errors_total", atomic_load(&k->errors));
	rc |= FAM("weft_rebalances_total", "counter", "rebalance callbacks (assign and revoke)");
	rc |= VAL("weft_rebalances_total", atomic_load(&k->rebalances));
	rc |= FAM("weft_reread_traces_total", "counter",
	          "traces still open at shutdown, left uncommitted for the next run");
	rc |= VAL("weft_reread_traces_total", atomic_load(&st->sink->reread));
	if (st->check) {
		rc |= FAM("weft_model_reloads_total", "counter", "model swaps (refused ones apart)");
		rc |= VAL("weft_model_reloads_total", atomic_load(&st->check->reloads));
		rc |= FAM("weft_model_reload_errors_total", "counter", "model files refused");
		rc |= VAL("weft_model_reload_errors_total", atomic_load(&st->check->reload_errors));
	}
	rc |= FAM("weft_resident_memory_bytes", "gauge", "resident set size");
	rc |= VAL("weft_resident_memory_bytes", rss_bytes());
	pthread_mutex_lock(&k->lock);
	rc |= FAM("weft_assigned_partitions", "gauge", "partitions assigned to this process");
	rc |= VAL("weft_assigned_partitions", k->n_parts);
	rc |= FAM("weft_partition_lag", "gauge", "high watermark minus next offset to consume");
	for (size_t i = 0; i < k->n_parts; i++) {
		struct op_kafka_part_stat *p = &k->parts[i];
		if (p->high < 0)
			continue;
		struct weft_buf l = {0};
		weft_buf_printf(&l, "topic=\"");
		op_metrics_escape(&l, p->topic);
		weft_buf_printf(&l, "\",partition=\"%d\",worker=\"%u\"", p->partition, p->worker);
		/* at the end as of the last fetch: 0; nothing consumed yet since
		 * the assignment: unknown, no sample */
		if (p->eof || p->position >= 0)
			rc |= op_metrics_sample(b, "weft_partition_lag", l.p,
			                        p->eof || p->high < p->position ? 0.0
			                                                        : (double)(p->high - p->position));
		free(l.p);
	}
	rc |= FAM("weft_partition_committed_offset", "gauge", "last offset committed by this process");
	for (size_t i = 0; i < k->n_parts; i++) {
		struct op_kafka_part_stat *p = &k->parts[i];
		struct weft_buf l = {0};
		weft_buf_printf(&l, "topic=\"");
		op_metrics_escape(&l, p->topic);
		weft_buf_printf(&l, "\",partition=\"%d\"", p->partition);
		rc |= op_metrics_sample(b, "weft_partition_committed_offset", l.p, (double)p->committed);
		free(l.p);
	}
	pthread_mutex_unlock(&k->lock);
	return rc ? WEFT_ENOMEM : 0;
}

/* ---- glue ------------------------------------------------------------------- */

static int
anomaly_write(void *arg, unsigned worker, uint64_t trace_id, const char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		len--;
	return serve_out_produce(arg, worker, SERVE_T_ANOMALIES, 1, trace_id, line, len);
}

/* Dead letters: their own writer slot, used under the dead-letter lock. */
struct dl_writer {
	struct serve_out *out;
	unsigned slot;
};

static int
dead_write(void *arg, const char *line, size_t len)
{
	struct dl_writer *d = arg;
	if (len && line[len - 1] == '\n')
		len--;
	return serve_out_produce(d->out, d->slot, SERVE_T_DEADLETTER, 0, 0, line, len);
}

/* Producer with our defaults then the user's properties; checks that the
 * output topics exist. */
static struct serve_out *
out_new(struct serve_cfg *c, unsigned slots, char *err, size_t errlen)
{
	struct serve_out *o = calloc(1, sizeof *o);
	if (!o || !(o->slots = calloc(slots, sizeof *o->slots))) {
		free(o);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->n_slots = slots;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char e[200];
	const char *defaults[][2] = {
		{"bootstrap.servers", c->brokers},
		{"enable.idempotence", "true"},
		{"linger.ms", "5"},
		{"queue.buffering.max.messages", "1000000"},
		{"queue.buffering.max.kbytes", "1048576"},
		{"compression.type", "lz4"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (weft_kafka_set(conf, "producer", defaults[i][0], defaults[i][1], err, errlen))
			goto fail;
	for (unsigned i = 0; i < c->n_prod; i++)
		if (weft_kafka_set_kv(conf, "producer", c->prod_props[i], err, errlen))
			goto fail;
	rd_kafka_conf_set_opaque(conf, o);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_log_cb(conf, serve_rdkafka_log);
	if (!(o->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e))) {
		snprintf(err, errlen, "cannot create the producer: %s", e);
		goto fail;
	}
	conf = NULL;
	const char *names[SERVE_T__COUNT] = {c->anomalies_topic, c->traces_topic, c->dead_topic};
	for (unsigned t = 0; t < SERVE_T__COUNT; t++) {
		if (!names[t])
			continue;
		o->topic_name[t] = names[t];
		if (!(o->topic[t] = rd_kafka_topic_new(o->rk, names[t], NULL))) {
			snprintf(err, errlen, "output topic '%s': %s", names[t],
			         rd_kafka_err2str(rd_kafka_last_error()));
			goto fail;
		}
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t me = rd_kafka_metadata(o->rk, 0, o->topic[t], &md, 10000);
		if (me || !md || md->topic_cnt != 1 || md->topics[0].err) {
			rd_kafka_resp_err_t te = me ? me : md && md->topic_cnt
			                                       ? md->topics[0].err
			                                       : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
			snprintf(err, errlen, "output topic '%s': %s%s", names[t], rd_kafka_err2str(te),
			         te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			                 te == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
			             ? " (create it first)"
			             : "");
			if (md)
				rd_kafka_metadata_destroy(md);
			goto fail;
		}
		rd_kafka_metadata_destroy(md);
	}
	return o;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	for (unsigned t = 0; t < SERVE_T__COUNT; t++)
		if (o->topic[t])
			rd_kafka_topic_destroy(o->topic[t]);
	if (o->rk)
		rd_kafka_destroy(o->rk);
	free(o->slots);
	free(o);
	return NULL;
}

static void
out_free(struct serve_out *o)
{
	if (!o)
		return;
	for (unsigned t = 0; t < SERVE_T__COUNT; t++)
		if (o->topic[t])
			rd_kafka_topic_destroy(o->topic[t]);
	if (o->rk)
		rd_kafka_destroy(o->rk);
	for (unsigned i = 0; i < o->n_slots; i++)
		free(o->slots[i].done);
	free(o->slots);
	free(o);
}

static int
parse_args(struct all_cfg *a, int argc, char **argv)
{
	/* the config file first, wherever --config is, then flags in order */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "weft serve: --config needs a file\n");
				return -1;
			}
			if (load_file(a, argv[i + 1]))
				return -1;
		}
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
			usage(stdout);
			return 1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "weft serve: %s needs a value\n", f);
			return -1;
		}
		const char *v = argv[++i];
		char err[512];
		if (!strcmp(f, "--config"))
			continue;
		if (!strcmp(f, "-X")) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v) {
				fprintf(stderr, "weft serve: -X: expected PROP=VALUE, got '%s'\n", v);
				return -1;
			}
			char key[300];
			snprintf(key, sizeof key, "kafka.%.*s", (int)(eq - v), v);
			char *kk = keep(&a->s, key, strlen(key));
			if (!kk || apply(a, kk, eq + 1, err, sizeof err)) {
				fprintf(stderr, "weft serve: -X %s: %s\n", v, kk ? err : "too many");
				return -1;
			}
			continue;
		}
		if (strncmp(f, "--", 2)) {
			fprintf(stderr, "weft serve: unexpected argument '%s'\n", f);
			usage(stderr);
			return -1;
		}
		if (apply(a, f + 2, v, err, sizeof err)) {
			fprintf(stderr, "weft serve: %s\n", err);
			return -1;
		}
	}
	return 0;
}

/* The assembler's on_open hook: a trace opened on worker w in epoch e
 * holds the ledger's low at e until it leaves the pipeline. */
static void
ledger_on_open(void *arg, unsigned w, uint64_t e)
{
	op_ledger_open(arg, w, e);
}

int
op_serve_main(int argc, char **argv)
{
	struct all_cfg *a = calloc(1, sizeof *a);
	if (!a)
		return 1;
	struct serve_cfg *c = &a->s;
	int status = 1, have_k = 0;
	struct op_ledger *ledger = NULL;
	struct serve_out *out = NULL;
	struct op_deadletter *dl = NULL;
	struct op_check_config check;
	int have_check = 0;
	struct engine *e = NULL;
	struct op_metrics_server *ms = NULL;
	struct committer cm;
	int cm_started = 0;
	struct sink_cfg sink;
	struct dl_writer dlw = {NULL, 0};
	memset(&sink, 0, sizeof sink);
	memset(&cm, 0, sizeof cm);
	c->group = "weft";
	c->epoch_ms = 100;
	c->idle_partition_ms = 1000;
	c->commit_ms = 1000;
	c->format = OP_FORMAT_JSON_V4;
	c->anomalies_topic = "weft-anomalies";
	c->dead_topic = "weft-deadletters";
	c->metrics = "127.0.0.1:9464";
	op_decode_config_default(&a->dec.decode);
	op_assemble_config_init(&a->as);
	a->as.idle_epochs = 30;
	if (op_kafka_config_init(&a->k))
		goto out;
	have_k = 1;
	int rc = parse_args(a, argc, argv);
	if (rc) {
		status = rc > 0 ? 0 : 2;
		goto out;
	}
	char err[512];
	unsigned W = weft_workers_for(c->workers);
	struct op_kafka_config *k = &a->k;
	k->brokers = c->brokers;
	k->group = c->group;
	k->topics = c->topics;
	k->n_topics = c->n_topics;
	k->props = c->cons_props;
	k->n_props = c->n_cons;
	k->format = c->format;
	k->epoch_ms = c->epoch_ms;
	k->idle_partition_ms = c->idle_partition_ms;
	k->drain_epochs = a->as.idle_epochs + 2;
	a->dec.format = c->format;
	a->dec.source_name = "kafka";
	if (op_kafka_conf_check(k, err, sizeof err) ||
	    op_decode_config_check(&a->dec.decode, err, sizeof err) ||
	    op_assemble_config_check(&a->as, err, sizeof err)) {
		fprintf(stderr, "weft serve: %s\n", err);
		status = 2;
		goto out;
	}
	if (!c->model && !c->traces_topic)
		serve_log("warn", "no model and no traces.topic: traces are assembled and counted only");
	if (!(k->frontiers = calloc(W, sizeof *k->frontiers)) ||
	    !(k->insts = calloc(W, sizeof *k->insts)) ||
	    !(ledger = op_ledger_new(W, 0)) || !(cm.snap = calloc(W + 1, sizeof *cm.snap)))
		goto out;
	a->as.on_open = ledger_on_open;
	a->as.on_open_arg = ledger;
	k->ledger = ledger;
	if (!(out = out_new(c, W + 1, err, sizeof err))) {
		fprintf(stderr, "weft serve: %s\n", err);
		status = 2;
		goto out;
	}
	if (op_deadletter_new(NULL, &dl))
		goto out;
	dlw.out = out;
	dlw.slot = W;
	op_deadletter_set_writer(dl, dead_write, &dlw);
	a->dec.deadletter = dl;
	if (c->model) {
		if (op_check_config_init(&check, c->model, err, sizeof err)) {
			fprintf(stderr, "weft serve: %s\n", err);
			status = 2;
			goto out;
		}
		have_check = 1;
		check.no_report = 1;
		check.anomaly_write = anomaly_write;
		check.anomaly_arg = out;
	}
	sink.out = out;
	sink.ledger = ledger;
	sink.full = c->traces_full;

	struct engine_config ecfg;
	engine_config_default(&ecfg);
	ecfg.workers = W;
	struct engine_graph *g = engine_graph_new();
	if (!g)
		goto out;
	const uint32_t var[] = {0};
	/* each consumer decodes what it consumes (op_inline_decoder) */
	k->decode = &a->dec;
	int src = engine_graph_add(g, "kafka", &op_kafka_vtable, k, 0, 1, var);
	int dec = src;
	int as = engine_graph_add(g, "assemble", &op_assemble_vtable, &a->as, 1, 1, var);
	int chk = have_check ? engine_graph_add(g, "check", &op_check_vtable, &check, 1, 1, var) : -1;
	int snk = engine_graph_add(g, "serve-sink", &sink_vtable, &sink, 1, 0, NULL);
	if (src < 0 || dec < 0 || as < 0 || snk < 0 || (have_check && chk < 0) ||
	    engine_graph_connect(g, dec, 0, as, 0, op_event_trace_key, NULL) ||
	    (have_check && engine_graph_connect(g, as, 0, chk, 0, NULL, NULL)) ||
	    engine_graph_connect(g, have_check ? chk : as, 0, snk, 0, NULL, NULL)) {
		engine_graph_free(g);
		fprintf(stderr, "weft serve: cannot build the dataflow graph\n");
		goto out;
	}
	if (!(e = engine_new(g, &ecfg, err, sizeof err))) {
		fprintf(stderr, "weft serve: %s\n", err);
		goto out;
	}
	struct serve_state st = {a, &sink, out, ledger, have_check ? &check : NULL, dl, W};
	if (strcmp(c->metrics, "off")) {
		const char *colon = strrchr(c->metrics, ':');
		char addr[128];
		uint32_t port;
		if (!colon || (size_t)(colon - c->metrics) >= sizeof addr ||
		    parse_u32("metrics port", colon + 1, 0, 65535, &port, err, sizeof err)) {
			fprintf(stderr, "weft serve: metrics: expected ADDR:PORT or off, got '%s'\n",
			        c->metrics);
			status = 2;
			goto out;
		}
		snprintf(addr, sizeof addr, "%.*s", (int)(colon - c->metrics), c->metrics);
		if (op_metrics_start(addr, (uint16_t)port, render, &st, &ms, err, sizeof err)) {
			fprintf(stderr, "weft serve: %s\n", err);
			status = 2;
			goto out;
		}
		serve_log("info", "metrics on http://%s:%u/metrics", addr, op_metrics_port(ms));
	}
	cm.out = out;
	cm.ledger = ledger;
	cm.k = k;
	cm.engine = e;
	cm.interval_ms = c->commit_ms;
	if (pthread_create(&cm.th, NULL, committer_main, &cm))
		goto out;
	cm_started = 1;
	if (cmd_signals_install(e, have_check ? &check : NULL))
		serve_log("warn", "cannot start the model watcher; SIGHUP and file changes are ignored");
	serve_log("info", "serving: %u workers, group '%s', %u topic(s), epoch %u ms, idle %u epochs%s%s",
	          W, c->group, c->n_topics, c->epoch_ms, a->as.idle_epochs,
	          c->model ? ", model " : "", c->model ? c->model : "");
	rc = engine_run(e);
	cmd_signals_restore();
	atomic_store(&cm.stop, 1);
	pthread_join(cm.th, NULL);
	cm_started = 0;
	if (rc) {
		serve_log("error", "engine start failed: %s", weft_strerror(rc));
		goto out;
	}
	/* Final round: everything emitted is delivered, then the sources
	 * commit in their destroy (engine_free). */
	int final_ok = commit_round(&cm, 1) == 0;
	op_kafka_final_commit(k, W);
	engine_free(e);
	e = NULL;
	serve_log("info",
	          "stopped: %" PRIu64 " messages, %" PRIu64 " traces (%" PRIu64 " normal, %" PRIu64
	          " unknown_structure, %" PRIu64 " slow, %" PRIu64 " incomplete, %" PRIu64
	          " late), %" PRIu64 " left for re-read, %" PRIu64 " dead letters, %" PRIu64
	          " delivered, %" PRIu64 " commits, commit epoch %" PRIu64,
	          atomic_load(&k->messages), atomic_load(&sink.traces),
	          atomic_load(&sink.by_verdict[OP_VERDICT_NORMAL]),
	          atomic_load(&sink.by_verdict[OP_VERDICT_UNKNOWN_STRUCTURE]),
	          atomic_load(&sink.by_verdict[OP_VERDICT_SLOW]),
	          atomic_load(&sink.by_verdict[OP_VERDICT_INCOMPLETE]),
	          atomic_load(&sink.by_verdict[OP_VERDICT_LATE]), atomic_load(&sink.reread),
	          op_deadletter_count(dl, OP_REJECT_NONE), atomic_load(&out->delivered),
	          atomic_load(&k->commits), atomic_load(&k->commit_epoch));
	if (op_ledger_anomalies(ledger))
		serve_log("error", "commit ledger: %" PRIu64 " inconsistencies", op_ledger_anomalies(ledger));
	status = final_ok && !atomic_load(&out->failed) && !atomic_load(&k->fatal) ? 0 : 1;
out:
	if (cm_started) {
		atomic_store(&cm.stop, 1);
		pthread_join(cm.th, NULL);
	}
	engine_free(e);
	op_metrics_stop(ms);
	if (have_check)
		op_check_config_destroy(&check);
	op_deadletter_free(dl);
	if (out && out->rk)
		rd_kafka_flush(out->rk, 10000);
	out_free(out);
	op_ledger_free(ledger);
	free(cm.snap);
	if (have_k) {
		free((void *)a->k.frontiers);
		free(a->k.insts);
		op_kafka_config_destroy(&a->k);
	}
	op_assemble_config_destroy(&a->as);
	for (unsigned i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(a);
	return status;
}

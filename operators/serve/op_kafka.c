/*
 * op_kafka.c — the Kafka source of `weft serve`: one consumer per worker in
 * one consumer group, the ingest clock from message timestamps, idle time
 * only on evidence, and the per-partition commit of serve.h's rule.
 *
 * Per partition the source keeps the epochs it gave out as a list of
 * (epoch, first offset of that epoch): epochs never go down within a
 * partition, so the offset to commit for a commit epoch L is the first
 * offset of the first entry with epoch >= L, or the next offset to consume
 * when every consumed message is below L. Entries below L are dropped as
 * they are committed. Each partition's L is its own (its slot's commit
 * epoch): only traces with events in it hold it back.
 *
 * Evidence: a partition's idle clock moves only up to the last moment it
 * was confirmed at its end (serve.h). The prober thread asks the brokers
 * for every owned partition's high watermark each probe_ms, with its own
 * client (it never joins the group); when the brokers cannot be reached
 * it holds evidence back until settle_ms after they answer again.
 * Outages are logged once when they start and once when they end.
 *
 * Rebalance: on revocation the revoked partitions are committed (at their
 * slots' commit epochs, synchronously), their slots' generations bumped
 * (release) and the partitions forgotten: the assembler hands their open
 * traces over (flushed, not emitted) and drops their events still in
 * flight, and the new owner re-reads them whole from the committed offset.
 * Consumer callbacks (rebalance, errors) run on the worker's own thread
 * inside the poll; the error callback may also run on librdkafka's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "operators/serve/kafka_conf.h"
#include "operators/serve/kafka_int.h"

#define RECOMMIT_MS 500 /* a failed commit is sent again after this */
#define KICK_MS 5       /* fetch kicks at most this often (op_kafka_fetch.c) */
/* A gap this long between two polls of a worker means it did not run (a
 * pause: SIGSTOP, a frozen host). A fetch answered before or during the
 * pause may still be in the socket or the queue; its partition-EOF would
 * be stamped with a drain after the pause and vouch for time the fetch
 * never saw. So for EOF_SETTLE_MS after such a gap (well beyond
 * fetch.wait.max.ms and a round trip) EOFs are no evidence; the prober's
 * watermarks, asked after the pause, still are. */
#define PAUSE_GAP_MS 1000
#define EOF_SETTLE_MS 2000

struct kmark {
	uint64_t epoch;
	int64_t offset;
};

struct kpart {
	char *topic;
	const rd_kafka_topic_t *rkt; /* the handle messages carry (cached) */
	int32_t partition;
	uint32_t slot;     /* cfg->slots index; UINT32_MAX: none (overflow) */
	uint32_t src;      /* OP_SRC(slot, generation at assignment), or 0 */
	int64_t next;      /* next offset to consume; -1 until the first message */
	int64_t eof_off;   /* offset of the last partition-EOF (-1: none) */
	int64_t pre_end;   /* offsets below this are read again (OP_SRC_PRE) */
	int64_t committed; /* last offset committed by us; -1 none */
	uint64_t committed_epoch; /* the commit epoch it was committed at */
	int recommit;      /* the commit of `committed` failed: send it again */
	uint64_t epoch;    /* highest epoch given to a message */
	int eof;           /* at the partition's end as of the last fetch */
	int64_t ev_ms;     /* wall time it was last confirmed at its end */
	unsigned format;   /* op_unit.format: its topic's forced format */
	uint32_t topic_ix; /* its cfg->topics index; UINT32_MAX: none */
	struct kmark *map;
	size_t map_head, map_n, map_cap;
};

struct kinst {
	struct op_kafka_config *cfg;
	struct engine_ctx *ctx;
	unsigned w;
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	struct kpart *parts;
	size_t n_parts, cap_parts;
	size_t hit; /* last part found */
	int streaming; /* the last poll took messages */
	uint64_t frontier;
	int recommit;      /* some partition's commit failed */
	int64_t recommit_ms; /* not before then (a failing group answers at once) */
	int closing;       /* the final commit is done: none at revocation */
	rd_kafka_message_t **msgs;
	unsigned char *rec;
	struct op_inline_decoder dec; /* cfg->decode */
	struct op_kafka_tally *tally; /* per cfg->topics[i] (decoding here) */
	uint64_t seq;
	int stopping;
	int64_t stop_at_ms;
	int64_t stat_ms;
	/* wall time of the last poll that drained the consumer queue: an
	 * event in this poll's batch was fetched after it */
	int64_t drained_ms;
	int64_t last_poll_ms; /* wall time of the previous poll */
	int64_t eof_floor_ms; /* EOFs handled before then are no evidence */
	/* counters, added to the config's atomics once per poll (a shared
	 * cache line written per message would cost more than the rest) */
	uint64_t n_msgs, n_bytes, n_units;
	uint64_t max_epoch; /* highest epoch this worker gave out */
	int saw;            /* a message was given an epoch in this poll */
	struct op_kafka_waker waker; /* .e set at the first poll, then armed */
	int64_t kick_ms;    /* wall time of the last fetch kick */
	size_t kick_next;   /* the partition the next kick looks at first */
};

int64_t
op_kafka_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
op_kafka_config_init(struct op_kafka_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->group = "weft";
	cfg->format = OP_FORMAT_JSON_V4;
	cfg->epoch_ms = 100;
	cfg->idle_partition_ms = 1000;
	cfg->drain_epochs = 4;
	cfg->max_unit_bytes = 64 * 1024;
	cfg->batch = 1024;
	cfg->stream_wait_ms = 1;
	cfg->probe_ms = 500;
	cfg->settle_ms = 10000;
	cfg->max_slots = OP_KAFKA_MAX_SLOTS_DEFAULT;
	cfg->lookback_ms = 60000;
	cfg->hint_after = 1000;
	return pthread_mutex_init(&cfg->lock, NULL) ? WEFT_ENOMEM : 0;
}

void
op_kafka_config_destroy(struct op_kafka_config *cfg)
{
	pthread_mutex_destroy(&cfg->lock);
	free(cfg->parts);
	for (uint32_t i = 0; cfg->slots && i < atomic_load(&cfg->n_slots); i++)
		free(cfg->slots[i].topic);
	free(cfg->slots);
	free((void *)cfg->gens);
	free(cfg->low_scratch);
}


int
op_kafka_conf_check(const struct op_kafka_config *cfg, char *errstr, size_t errlen)
{
	if (!cfg->brokers || !*cfg->brokers) {
		snprintf(errstr, errlen, "brokers: not set");
		return WEFT_EINVAL;
	}
	if (!cfg->n_topics) {
		snprintf(errstr, errlen, "topics: not set");
		return WEFT_EINVAL;
	}
	if (cfg->epoch_ms < 1) {
		snprintf(errstr, errlen, "epoch.ms: must be at least 1");
		return WEFT_EINVAL;
	}
	if (cfg->max_unit_bytes < 64) {
		snprintf(errstr, errlen, "max.line: must be at least 64");
		return WEFT_EINVAL;
	}
	rd_kafka_conf_t *conf = op_kafka_client_conf(cfg, 0, errstr, errlen);
	if (!conf)
		return WEFT_EINVAL;
	rd_kafka_conf_destroy(conf);
	return 0;
}

/* ---- partitions --------------------------------------------------------- */

static struct kpart *
part_find(struct kinst *s, const char *topic, int32_t partition)
{
	if (s->hit < s->n_parts && s->parts[s->hit].partition == partition &&
	    !strcmp(s->parts[s->hit].topic, topic))
		return &s->parts[s->hit];
	for (size_t i = 0; i < s->n_parts; i++)
		if (s->parts[i].partition == partition && !strcmp(s->parts[i].topic, topic)) {
			s->hit = i;
			return &s->parts[i];
		}
	return NULL;
}

static void
part_add(struct kinst *s, const char *topic, int32_t partition)
{
	if (part_find(s, topic, partition))
		return;
	if (s->n_parts == s->cap_parts) {
		size_t nc = s->cap_parts ? 2 * s->cap_parts : 8;
		struct kpart *np = realloc(s->parts, nc * sizeof *np);
		if (!np)
			abort();
		s->parts = np;
		s->cap_parts = nc;
	}
	struct kpart *p = &s->parts[s->n_parts++];
	memset(p, 0, sizeof *p);
	if (!(p->topic = strdup(topic)))
		abort();
	p->partition = partition;
	p->topic_ix = UINT32_MAX;
	for (unsigned i = 0; i < s->cfg->n_topics && p->topic_ix == UINT32_MAX; i++)
		if (strcmp(s->cfg->topics[i], topic) == 0) {
			p->topic_ix = i;
			if (s->cfg->topic_format)
				p->format = s->cfg->topic_format[i];
		}
	p->next = -1;
	p->eof_off = -1;
	p->pre_end = -1;
	p->committed = -1;
	p->epoch = s->frontier;
	p->slot = op_kafka_slot_of(s->cfg, topic, partition);
	if (p->slot != UINT32_MAX) {
		struct op_kafka_slot *sl = &s->cfg->slots[p->slot];
		uint32_t g = atomic_load_explicit(&s->cfg->gens[p->slot],
		                                  memory_order_relaxed);
		p->src = OP_SRC(p->slot, g);
		p->committed_epoch = atomic_load(&sl->commit_epoch);
		atomic_store(&sl->owned, 1);
	}
}

static void
part_remove(struct kinst *s, const char *topic, int32_t partition)
{
	struct kpart *p = part_find(s, topic, partition);
	if (!p)
		return;
	if (p->slot != UINT32_MAX) {
		/* Hand its traces over: events tagged with the old generation
		 * are stale from now on (release: an assembler that sees an
		 * event read after this sees the new generation too). */
		atomic_store(&s->cfg->slots[p->slot].owned, 0);
		atomic_fetch_add_explicit(&s->cfg->gens[p->slot], 1, memory_order_release);
		atomic_fetch_add_explicit(&s->cfg->revocations, 1, memory_order_release);
	}
	free(p->topic);
	free(p->map);
	*p = s->parts[--s->n_parts];
	s->hit = 0;
}

static void
map_push(struct kpart *p, uint64_t epoch, int64_t offset)
{
	if (p->map_n) {
		struct kmark *last = &p->map[(p->map_head + p->map_n - 1) % p->map_cap];
		if (last->epoch >= epoch)
			return;
	}
	if (p->map_n == p->map_cap) {
		size_t nc = p->map_cap ? 2 * p->map_cap : 16;
		struct kmark *nm = malloc(nc * sizeof *nm);
		if (!nm)
			abort();
		for (size_t i = 0; i < p->map_n; i++)
			nm[i] = p->map[(p->map_head + i) % p->map_cap];
		free(p->map);
		p->map = nm;
		p->map_cap = nc;
		p->map_head = 0;
	}
	p->map[(p->map_head + p->map_n) % p->map_cap] = (struct kmark){epoch, offset};
	p->map_n++;
}

/* The offset below which every consumed message has an epoch < L (-1
 * when nothing was consumed), and in *from the first offset of epoch
 * L - back or later: where a new owner starts reading again so that the
 * traces reaching past the commit come out whole. Drops the marks below
 * L - back. */
static int64_t
part_commit_offset(struct kpart *p, uint64_t L, uint64_t back, int64_t *from)
{
	uint64_t lo = L > back ? L - back : 0;
	while (p->map_n && p->map[p->map_head].epoch < lo) {
		p->map_head = (p->map_head + 1) % p->map_cap;
		p->map_n--;
	}
	*from = p->map_n ? p->map[p->map_head].offset : p->next;
	for (size_t i = 0; i < p->map_n; i++) {
		const struct kmark *m = &p->map[(p->map_head + i) % p->map_cap];
		if (m->epoch >= L)
			return m->offset;
	}
	return p->next;
}

/* Commit metadata: where to start reading again (see above). */
#define REREAD_META "weft1 from="

static void
set_from(rd_kafka_topic_partition_t *e, int64_t from)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, REREAD_META "%lld", (long long)from);
	char *m = malloc((size_t)n);
	if (!m)
		return; /* no look-back: only the tails of traces risk coming twice */
	memcpy(m, buf, (size_t)n);
	e->metadata = m;     /* the list frees it */
	e->metadata_size = (size_t)n;
}

/* The look-back a committed offset carries: its from, or -1. */
static int64_t
get_from(const rd_kafka_topic_partition_t *e)
{
	size_t n = strlen(REREAD_META);
	if (!e->metadata || e->metadata_size <= n || e->metadata_size > 40 ||
	    memcmp(e->metadata, REREAD_META, n))
		return -1;
	char buf[48];
	memcpy(buf, (const char *)e->metadata + n, e->metadata_size - n);
	buf[e->metadata_size - n] = 0;
	char *end;
	long long v = strtoll(buf, &end, 10);
	return *end || v < 0 ? -1 : (int64_t)v;
}

/* A partition's commit epoch: its slot's (or, without a slot, the
 * lowest of all). */
static uint64_t
part_L(const struct kinst *s, const struct kpart *p)
{
	if (p->slot == UINT32_MAX)
		return atomic_load(&s->cfg->commit_epoch);
	return atomic_load(&s->cfg->slots[p->slot].commit_epoch);
}

/* Commits every partition (or only those in `only`) at its commit epoch:
 * those with an offset beyond the last one sent, or whose last commit
 * failed. */
static void
commit_at(struct kinst *s, const rd_kafka_topic_partition_list_t *only,
          int async)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(
	    (int)(s->n_parts ? s->n_parts : 1));
	for (size_t i = 0; i < s->n_parts; i++) {
		struct kpart *p = &s->parts[i];
		if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
			continue;
		uint64_t L = part_L(s, p);
		p->committed_epoch = L;
		int64_t from;
		int64_t off = part_commit_offset(p, L, s->cfg->lookback_ms / s->cfg->epoch_ms,
		                                 &from);
		if (off < 0 || (off <= p->committed && !p->recommit))
			continue;
		rd_kafka_topic_partition_t *e =
		    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
		e->offset = off;
		/* a look-back only when something was consumed at or past the
		 * commit: else no trace can reach past it (a clean stop) */
		if (from >= 0 && from < off && off < p->next)
			set_from(e, from);
		p->committed = off;
		p->recommit = 0;
	}
	if (l->cnt) {
		rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, async);
		if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
			atomic_fetch_add(&s->cfg->commit_errors, 1);
			serve_log("warn", "worker %u: commit failed: %s", s->w,
			          rd_kafka_err2str(err));
			/* not sent, or (synchronous) refused: send these again */
			for (int i = 0; i < l->cnt; i++) {
				struct kpart *p = part_find(s, l->elems[i].topic,
				                            l->elems[i].partition);
				if (p && p->committed == l->elems[i].offset) {
					p->recommit = 1;
					s->recommit = 1;
					s->recommit_ms = op_kafka_wall_ms() + RECOMMIT_MS;
				}
			}
		} else {
			atomic_fetch_add(&s->cfg->commits, 1);
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* ---- callbacks (worker thread, inside the poll) -------------------------- */

static void
on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
          rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)rk;
	struct kinst *s = opaque;
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		atomic_fetch_add(&s->cfg->commit_errors, 1);
		serve_log("warn", "worker %u: offset commit failed: %s", s->w,
		          rd_kafka_err2str(err));
		/* Send it again at the next poll, unless a later commit of the
		 * partition went out meanwhile (it covers this one). */
		for (int i = 0; offsets && i < offsets->cnt; i++) {
			const rd_kafka_topic_partition_t *e = &offsets->elems[i];
			struct kpart *p = part_find(s, e->topic, e->partition);
			if (p && p->committed == e->offset) {
				p->recommit = 1;
				s->recommit = 1;
				s->recommit_ms = op_kafka_wall_ms() + RECOMMIT_MS;
			}
		}
	}
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kinst *s = opaque;
	atomic_fetch_add(&s->cfg->errors, 1);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[512];
		rd_kafka_fatal_error(rk, buf, sizeof buf);
		serve_log("error", "worker %u: fatal consumer error: %s", s->w, buf);
		atomic_store(&s->cfg->fatal, 1);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	    err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
	    err == RD_KAFKA_RESP_ERR__RESOLVE) {
		/* an outage: logged once, by whoever notices first (the prober
		 * logs its end); the rest is counted */
		int zero = 0;
		if (!atomic_compare_exchange_strong(&s->cfg->outage, &zero, 1))
			return;
		atomic_fetch_add(&s->cfg->outages, 1);
		serve_log("warn", "brokers unreachable (%s: %s); idle time stops "
		          "counting until they answer again",
		          rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
		return;
	}
	serve_log("warn", "worker %u: consumer: %s: %s", s->w,
	          rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Newly assigned partitions start at their committed offset (none: where
 * auto.offset.reset says; op_kafka_start_offsets), or at its look-back
 * (its metadata) if it has one: the messages below the committed offset
 * are read again to complete the traces that reach past it, and tagged
 * OP_SRC_PRE; nothing is ever committed below the committed offset. */
static void
start_below_commits(struct kinst *s, rd_kafka_t *rk,
                    rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_resp_err_t e;
	rd_kafka_topic_partition_list_t *c = op_kafka_start_offsets(rk, parts, &e);
	for (int i = 0; c && i < c->cnt; i++) { /* parts' order */
		const rd_kafka_topic_partition_t *x = &c->elems[i];
		int64_t from = get_from(x);
		struct kpart *p = part_find(s, x->topic, x->partition);
		if (!p || x->err || x->offset < 0)
			continue;
		p->committed = x->offset; /* never below it */
		if (from < 0 || from >= x->offset)
			continue;
		p->pre_end = x->offset;
		parts->elems[i].offset = from;
	}
	if (!c)
		serve_log("warn", "worker %u: committed offsets unknown (%s): reading from "
		          "them without a look-back", s->w, rd_kafka_err2str(e));
	else
		rd_kafka_topic_partition_list_destroy(c);
}

static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kinst *s = opaque;
	atomic_fetch_add(&s->cfg->rebalances, 1);
	int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++)
			part_add(s, parts->elems[i].topic, parts->elems[i].partition);
		start_below_commits(s, rk, parts);
		if (coop)
			rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		serve_log("info", "worker %u: assigned %d partitions (%zu in all)", s->w,
		          parts->cnt, s->n_parts);
	} else {
		/* Commit what the rule allows for the revoked partitions, then
		 * forget them: the new owner re-reads from there. (When the
		 * consumer closes, k_destroy has made the final commit.) */
		if (!s->closing)
			commit_at(s, parts, 0);
		for (int i = 0; i < parts->cnt; i++)
			part_remove(s, parts->elems[i].topic, parts->elems[i].partition);
		if (coop)
			rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
		serve_log("info", "worker %u: revoked %d partitions (%zu left)", s->w,
		          parts->cnt, s->n_parts);
	}
	s->stat_ms = 0; /* refresh the metrics at the next poll */
}

/* ---- operator ------------------------------------------------------------ */


static int
k_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct op_kafka_config *cfg = arg;
	struct kinst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = cfg;
	s->w = engine_ctx_worker(ctx);
	if (cfg->insts)
		cfg->insts[s->w] = s;
	pthread_mutex_lock(&cfg->lock);
	int rc0 = op_kafka_slots_alloc(cfg);
	pthread_mutex_unlock(&cfg->lock);
	if (rc0)
		return rc0;
	if (s->w == 0 && (rc0 = op_kafka_prober_start(cfg)))
		return rc0;
	s->msgs = calloc(cfg->batch, sizeof *s->msgs);
	if (!cfg->decode) /* unit records only when not decoding here */
		s->rec = malloc(sizeof(struct op_unit_rec) + cfg->max_unit_bytes + 8);
	if (!s->msgs || (!cfg->decode && !s->rec))
		return WEFT_ENOMEM;
	if (cfg->decode) {
		int rc = op_inline_decoder_init(&s->dec, cfg->decode);
		if (rc)
			return rc;
		if (cfg->topic_stats && cfg->n_topics &&
		    !(s->tally = calloc(cfg->n_topics, sizeof *s->tally)))
			return WEFT_ENOMEM;
	}
	char err[512];
	rd_kafka_conf_t *conf = op_kafka_client_conf(cfg, s->w, err, sizeof err);
	if (!conf) {
		serve_log("error", "worker %u: %s", s->w, err);
		return WEFT_EINVAL;
	}
	rd_kafka_conf_set_opaque(conf, s);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	rd_kafka_conf_set_log_cb(conf, serve_rdkafka_log);
	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
	if (!s->rk) {
		rd_kafka_conf_destroy(conf);
		serve_log("error", "worker %u: cannot create a consumer: %s", s->w, err);
		return WEFT_EKAFKA;
	}
	rd_kafka_poll_set_consumer(s->rk);
	s->q = rd_kafka_queue_get_consumer(s->rk);
	rd_kafka_topic_partition_list_t *topics =
	    rd_kafka_topic_partition_list_new((int)cfg->n_topics);
	for (unsigned i = 0; i < cfg->n_topics; i++)
		rd_kafka_topic_partition_list_add(topics, cfg->topics[i],
		                                  RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (e) {
		serve_log("error", "worker %u: subscribe failed: %s", s->w, rd_kafka_err2str(e));
		return WEFT_EKAFKA;
	}
	return 0;
}

static void
emit_unit(struct kinst *s, const struct kpart *p, uint64_t epoch, int64_t offset,
          const char *data, size_t len)
{
	struct op_kafka_config *cfg = s->cfg;
	struct op_unit u = {
		.data = data,
		.len = len > UINT32_MAX ? UINT32_MAX : len,
		.avail = len < cfg->max_unit_bytes ? len : cfg->max_unit_bytes,
		.pos = {.offset = (uint64_t)offset, .line = 0,
		        .src = p->src | (offset < p->pre_end ? OP_SRC_PRE : 0)},
		.flags = len > cfg->max_unit_bytes ? OP_UNIT_TOO_LONG : 0,
		.format = p->format,
	};
	/* a topic with no record accepted yet is counted for its hint */
	struct op_kafka_tally *t = s->tally && p->topic_ix < cfg->n_topics &&
	                           !s->tally[p->topic_ix].accepted
	                               ? &s->tally[p->topic_ix] : NULL;
	struct op_kafka_tally_mark mark;
	if (t)
		op_kafka_tally_mark(&s->dec, &mark);
	/* seq numbers the unit records this source emits */
	op_source_unit(s->ctx, epoch, &u, cfg->decode ? 0 : s->seq++,
	               cfg->decode ? &s->dec : NULL, s->rec);
	if (t)
		op_kafka_tally_add(t, &s->dec, &mark);
	s->n_units++;
}

static void
handle(struct kinst *s, rd_kafka_message_t *m, int64_t now)
{
	struct op_kafka_config *cfg = s->cfg;
	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			struct kpart *p = m->rkt ? part_find(s, rd_kafka_topic_name(m->rkt),
			                                     m->partition) : NULL;
			if (p) {
				p->eof = 1;
				p->eof_off = m->offset;
				/* the fetch that reached the end came after the last
				 * poll that drained the queue, not necessarily just
				 * now: an EOF that waited out a pause in the queue
				 * must not vouch for the pause */
				int64_t at = s->drained_ms ? s->drained_ms : now;
				if (at > p->ev_ms && now >= s->eof_floor_ms &&
				    at >= atomic_load_explicit(&cfg->evidence_floor,
				                               memory_order_relaxed))
					p->ev_ms = at;
			}
			return;
		}
		atomic_fetch_add(&cfg->errors, 1);
		serve_log("warn", "worker %u: consume: %s", s->w, rd_kafka_message_errstr(m));
		return;
	}
	struct kpart *p = NULL;
	if (s->hit < s->n_parts && s->parts[s->hit].rkt == m->rkt &&
	    s->parts[s->hit].partition == m->partition)
		p = &s->parts[s->hit];
	else if ((p = part_find(s, rd_kafka_topic_name(m->rkt), m->partition)))
		p->rkt = m->rkt;
	if (!p) {
		/* revoked meanwhile: the next owner re-reads it */
		atomic_fetch_add_explicit(&cfg->skipped, 1, memory_order_relaxed);
		return;
	}
	p->eof = 0;
	rd_kafka_timestamp_type_t tt;
	int64_t ts = rd_kafka_message_timestamp(m, &tt);
	if (ts <= 0)
		ts = now;
	int64_t t0 = atomic_load(&cfg->t0_ms);
	if (!t0) {
		int64_t zero = 0;
		if (atomic_compare_exchange_strong(&cfg->t0_ms, &zero, ts))
			t0 = ts;
		else
			t0 = zero;
	}
	uint64_t e = ts > t0 ? (uint64_t)(ts - t0) / cfg->epoch_ms : 0;
	uint64_t wall = now > t0 ? (uint64_t)(now - t0) / cfg->epoch_ms + 1 : 1;
	if (e > wall)
		e = wall; /* a producer clock ahead of ours */
	if (e < p->epoch)
		e = p->epoch;
	if (e < s->frontier)
		e = s->frontier;
	p->epoch = e;
	s->saw = 1;
	if (e > s->max_epoch)
		s->max_epoch = e;
	map_push(p, e, m->offset);
	p->next = m->offset + 1;
	s->n_msgs++;
	s->n_bytes += m->len;
	const char *d = m->payload;
	size_t n = d ? m->len : 0;
	/* text reports, OTLP and Zipkin: a message is one unit */
	if (op_format_message_unit(p->format ? (enum op_format)(p->format - 1)
	                                     : cfg->format, d, n)) {
		if (n)
			emit_unit(s, p, e, m->offset, d, n);
		return;
	}
	while (n) { /* JSON lines: a message may carry several */
		const char *nl = memchr(d, '\n', n);
		size_t l = nl ? (size_t)(nl - d) : n;
		size_t ll = l;
		if (ll && d[ll - 1] == '\r')
			ll--;
		if (ll)
			emit_unit(s, p, e, m->offset, d, ll);
		if (!nl)
			break;
		d += l + 1;
		n -= l + 1;
	}
}

/* Publishes this worker's partitions for the metrics endpoint. */
static void
publish_stats(struct kinst *s)
{
	struct op_kafka_config *cfg = s->cfg;
	pthread_mutex_lock(&cfg->lock);
	size_t keep = 0;
	for (size_t i = 0; i < cfg->n_parts; i++)
		if (cfg->parts[i].worker != s->w)
			cfg->parts[keep++] = cfg->parts[i];
	cfg->n_parts = keep;
	if (cfg->n_parts + s->n_parts > cfg->cap_parts) {
		size_t nc = cfg->n_parts + s->n_parts + 16;
		struct op_kafka_part_stat *np = realloc(cfg->parts, nc * sizeof *np);
		if (!np) {
			pthread_mutex_unlock(&cfg->lock);
			return;
		}
		cfg->parts = np;
		cfg->cap_parts = nc;
	}
	for (size_t i = 0; i < s->n_parts; i++) {
		struct kpart *p = &s->parts[i];
		struct op_kafka_part_stat *st = &cfg->parts[cfg->n_parts++];
		memset(st, 0, sizeof *st);
		snprintf(st->topic, sizeof st->topic, "%s", p->topic);
		st->partition = p->partition;
		st->worker = s->w;
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi);
		st->position = p->next;
		st->eof = p->eof;
		st->high = hi;
		st->committed = p->committed;
		st->epoch = p->epoch;
	}
	pthread_mutex_unlock(&cfg->lock);
}

/* Publishes the newest epoch any worker gave out and when (wall time):
 * the origin of the ingest clock that quiet partitions follow. The first
 * message sets it even at epoch 0, so a burst within the first epoch is
 * finished like any other. */
static void
note_seen(struct kinst *s, int64_t now)
{
	struct op_kafka_config *cfg = s->cfg;
	uint64_t cur = atomic_load_explicit(&cfg->seen_epoch, memory_order_relaxed);
	int first = !atomic_load_explicit(&cfg->seen_ms, memory_order_relaxed);
	if (s->max_epoch <= cur && !first)
		return;
	while (s->max_epoch > cur &&
	       !atomic_compare_exchange_weak(&cfg->seen_epoch, &cur, s->max_epoch))
		;
	atomic_store_explicit(&cfg->seen_ms, now > 0 ? now : 1, memory_order_relaxed);
}

/* The ingest clock at wall time t: the newest epoch seen, running on in
 * real time from when it was seen (not the wall clock itself: an old
 * backlog's epochs are its messages' times, and producers' clocks may
 * differ from ours), less the idle allowance. 0 before anything was
 * seen. */
static uint64_t
clock_at(const struct op_kafka_config *cfg, int64_t t)
{
	int64_t seen_ms = atomic_load_explicit(&cfg->seen_ms, memory_order_relaxed);
	if (!seen_ms || !t)
		return 0;
	uint64_t seen = atomic_load_explicit(&cfg->seen_epoch, memory_order_relaxed);
	int64_t ms = (int64_t)seen * cfg->epoch_ms + (t - seen_ms) -
	             (int64_t)cfg->idle_partition_ms;
	return ms > 0 ? (uint64_t)ms / cfg->epoch_ms : 0;
}

/* Evidence from the prober: the partition's high watermark, asked at a
 * wall time, was reached by the consumer's position. */
static void
probe_evidence(struct kinst *s, struct kpart *p)
{
	if (p->slot == UINT32_MAX)
		return;
	struct op_kafka_slot *sl = &s->cfg->slots[p->slot];
	int64_t at = atomic_load_explicit(&sl->probe_at, memory_order_acquire);
	if (at <= p->ev_ms)
		return;
	int64_t hi = atomic_load_explicit(&sl->probe_hi, memory_order_relaxed);
	int64_t pos = p->next >= 0 ? p->next : p->eof_off;
	if (pos >= 0 && pos >= hi)
		p->ev_ms = at;
}

/* The worker's frontier: min over partitions of their epochs, a partition
 * at its end counting as the ingest clock at its last evidence. */
static uint64_t
frontier(struct kinst *s, int64_t now)
{
	struct op_kafka_config *cfg = s->cfg;
	if (!atomic_load(&cfg->t0_ms))
		return s->frontier;
	uint64_t f = UINT64_MAX;
	for (size_t i = 0; i < s->n_parts; i++) {
		struct kpart *p = &s->parts[i];
		probe_evidence(s, p);
		uint64_t c = p->epoch;
		uint64_t idle = clock_at(cfg, p->ev_ms);
		if (idle > c)
			c = idle;
		if (c < f)
			f = c;
	}
	/* no partition here: nothing to wait for, unless evidence is held
	 * back (an outage and its settle time) */
	if (f == UINT64_MAX)
		f = atomic_load(&cfg->outage) ||
		            now < atomic_load(&cfg->evidence_floor)
		        ? s->frontier
		        : clock_at(cfg, now);
	return f > s->frontier ? f : s->frontier;
}

/* The poll found the queue empty: a partition still behind its end may
 * be one librdkafka stopped fetching at its queue threshold. */
static void
kick(struct kinst *s, int64_t now)
{
	if (now - s->kick_ms < KICK_MS || atomic_load(&s->cfg->outage))
		return;
	for (size_t k = 0; k < s->n_parts; k++) {
		struct kpart *p = &s->parts[(s->kick_next + k) % s->n_parts];
		if (op_kafka_fetch_kick(s->rk, p->topic, p->partition, p->next)) {
			s->kick_ms = now;
			s->kick_next = (s->kick_next + k + 1) % s->n_parts;
			atomic_fetch_add_explicit(&s->cfg->fetch_kicks, 1,
			                          memory_order_relaxed);
			return;
		}
	}
}

static enum engine_poll
k_poll(void *state, struct engine_ctx *ctx)
{
	struct kinst *s = state;
	struct op_kafka_config *cfg = s->cfg;
	s->ctx = ctx;
	if (!s->waker.e) {
		s->waker.e = engine_ctx_engine(ctx);
		s->waker.w = s->w;
		op_kafka_wake_arm(s->q, &s->waker);
	}
	int64_t now = op_kafka_wall_ms();
	if (s->last_poll_ms && now - s->last_poll_ms > PAUSE_GAP_MS)
		s->eof_floor_ms = now + EOF_SETTLE_MS;
	s->last_poll_ms = now;
	if (!s->stopping && (engine_ctx_stopping(ctx) || atomic_load(&cfg->fatal))) {
		s->stopping = 1;
		s->stop_at_ms = now + (int64_t)cfg->drain_epochs * cfg->epoch_ms;
		serve_log("info", "worker %u: stopping: draining %u epochs", s->w,
		          cfg->drain_epochs);
	}
	ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->msgs, cfg->batch);
	if (n == 0 && s->streaming && cfg->stream_wait_ms && !s->stopping) {
		/* The queue ran dry while messages were coming (the worker
		 * is faster than the fetches): wait here for a batch, up to
		 * stream_wait_ms, rather than return idle and park. At one
		 * report per message this was 1.03-1.16x the events/s (three
		 * 8-round A/Bs, 19 of 24 rounds faster), about 130 such waits
		 * per million messages; why is not settled: polls per
		 * message and the worker's context switches did not change
		 * (bench/results/notes.md, "Waiting for the stream"). An idle
		 * source never waits here: only right after messages. */
		n = rd_kafka_consume_batch_queue(s->q, (int)cfg->stream_wait_ms,
		                                 s->msgs, cfg->batch);
		now = op_kafka_wall_ms();
	}
	s->streaming = n > 0;
	for (ssize_t i = 0; i < n; i++) {
		handle(s, s->msgs[i], now);
		rd_kafka_message_destroy(s->msgs[i]);
	}
	if (n < (ssize_t)cfg->batch)
		s->drained_ms = now; /* what comes next was fetched after now */
	if (n == 0)
		kick(s, now);
	if (s->saw) { /* messages only: an EOF or an error is no news of time */
		note_seen(s, now);
		s->saw = 0;
	}
	if (s->n_msgs) {
		atomic_fetch_add_explicit(&cfg->messages, s->n_msgs, memory_order_relaxed);
		atomic_fetch_add_explicit(&cfg->bytes, s->n_bytes, memory_order_relaxed);
		atomic_fetch_add_explicit(&cfg->units, s->n_units, memory_order_relaxed);
		s->n_msgs = s->n_bytes = s->n_units = 0;
		if (s->tally)
			op_kafka_tally_publish(cfg, s->tally);
	}
	uint64_t F = frontier(s, now);
	if (F > s->frontier) {
		s->frontier = F;
		engine_source_advance(ctx, F);
		if (cfg->frontiers)
			atomic_store_explicit(&cfg->frontiers[s->w], F, memory_order_relaxed);
	}
	int due = s->recommit && now >= s->recommit_ms;
	for (size_t i = 0; !due && i < s->n_parts; i++)
		due = part_L(s, &s->parts[i]) > s->parts[i].committed_epoch;
	if (due) {
		s->recommit = 0;
		commit_at(s, NULL, 1);
	}
	if (now - s->stat_ms >= 1000) {
		s->stat_ms = now;
		publish_stats(s);
	}
	if (s->stopping && now >= s->stop_at_ms)
		return ENGINE_POLL_DONE;
	if (n > 0)
		return ENGINE_POLL_DATA;
	engine_source_idle_hint(ctx, 5000);
	return ENGINE_POLL_IDLE;
}

void
op_kafka_final_commit(struct op_kafka_config *cfg, unsigned workers)
{
	for (unsigned w = 0; cfg->insts && w < workers; w++) {
		struct kinst *s = cfg->insts[w];
		if (!s || !s->rk)
			continue;
		s->recommit = 0;
		commit_at(s, NULL, 0);
	}
}

static void
k_destroy(void *state)
{
	struct kinst *s = state;
	if (s->w == 0)
		op_kafka_prober_stop(s->cfg);
	if (s->rk) {
		/* the committer's final round ran before the engine was freed */
		commit_at(s, NULL, 0);
		s->closing = 1;
		publish_stats(s);
		if (s->q) {
			if (s->waker.e)
				op_kafka_wake_disarm(s->q);
			rd_kafka_queue_destroy(s->q);
		}
		rd_kafka_consumer_close(s->rk);
		rd_kafka_destroy(s->rk);
	}
	for (size_t i = 0; i < s->n_parts; i++) {
		free(s->parts[i].topic);
		free(s->parts[i].map);
	}
	free(s->parts);
	free(s->msgs);
	free(s->tally);
	op_inline_decoder_free(&s->dec);
	free(s->rec);
	free(s);
}

const struct engine_op_vtable op_kafka_vtable = {
	.init = k_init,
	.poll = k_poll,
	.destroy = k_destroy,
};

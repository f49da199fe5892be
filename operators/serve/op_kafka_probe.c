/*
 * op_kafka_probe.c — the Kafka source's partitions as this process sees
 * them: their slots (for the life of the process, so source tags stay
 * meaningful), the prober thread that gives a quiet partition evidence of
 * being at its end (and holds evidence back after an outage), and the
 * committer's
 * per-partition commit epochs. serve.h says why each exists.
 *
 * Threads: slots are registered under the config's lock by workers and
 * read without it by everyone once n_slots (release) covers them; the
 * prober thread writes each slot's probe_hi/probe_at (release); the
 * committer thread reads the ledger's lows and writes each slot's
 * commit_epoch, which the workers read.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "operators/serve/kafka_int.h"

/* ---- slots ------------------------------------------------------------------ */

int
op_kafka_slots_alloc(struct op_kafka_config *cfg)
{
	if (cfg->slots)
		return 0;
	uint32_t n = cfg->max_slots ? cfg->max_slots : 1;
	if (n > OP_SRC_SLOTS)
		n = cfg->max_slots = OP_SRC_SLOTS;
	cfg->slots = calloc(n, sizeof *cfg->slots);
	cfg->gens = calloc(n, sizeof *cfg->gens);
	cfg->low_scratch = calloc(n, sizeof *cfg->low_scratch);
	return cfg->slots && cfg->gens && cfg->low_scratch ? 0 : WEFT_ENOMEM;
}

uint32_t
op_kafka_slot_of(struct op_kafka_config *cfg, const char *topic, int32_t partition)
{
	pthread_mutex_lock(&cfg->lock);
	uint32_t n = atomic_load_explicit(&cfg->n_slots, memory_order_relaxed);
	uint32_t i;
	for (i = 0; i < n; i++)
		if (cfg->slots[i].partition == partition &&
		    !strcmp(cfg->slots[i].topic, topic))
			break;
	if (i == n) {
		char *t = n < cfg->max_slots ? strdup(topic) : NULL;
		if (!t) {
			pthread_mutex_unlock(&cfg->lock);
			atomic_fetch_add(&cfg->slots_overflow, 1);
			serve_log("error", "partition %s/%d gets no slot (max.partitions %u "
			          "reached): it holds every partition's commits back",
			          topic, partition, cfg->max_slots);
			return UINT32_MAX;
		}
		cfg->slots[i].topic = t;
		cfg->slots[i].partition = partition;
		/* release: the prober and the committer read n_slots first */
		atomic_store_explicit(&cfg->n_slots, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&cfg->lock);
	return i;
}

int
op_kafka_src_name(void *arg, uint32_t src, char *buf, size_t cap)
{
	struct op_kafka_config *cfg = arg;
	uint32_t i = OP_SRC_SLOT(src);
	if (!src || i >= atomic_load_explicit(&cfg->n_slots, memory_order_acquire))
		return -1;
	return snprintf(buf, cap, "\"topic\":\"%s\",\"partition\":%d",
	                cfg->slots[i].topic, (int)cfg->slots[i].partition);
}

/* ---- the committer's per-slot lows ----------------------------------------- */

void
op_kafka_read_lows(struct op_kafka_config *cfg, const struct op_ledger *l)
{
	uint32_t n = cfg->slots ? atomic_load_explicit(&cfg->n_slots, memory_order_acquire) : 0;
	for (uint32_t i = 0; i < n; i++)
		cfg->low_scratch[i] = op_ledger_low_slot(l, i);
}

void
op_kafka_publish_lows(struct op_kafka_config *cfg, uint64_t global_low)
{
	uint32_t n = cfg->slots ? atomic_load_explicit(&cfg->n_slots, memory_order_acquire) : 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t L = cfg->low_scratch[i];
		if (L != UINT64_MAX && L > atomic_load(&cfg->slots[i].commit_epoch))
			atomic_store(&cfg->slots[i].commit_epoch, L);
	}
	if (global_low != UINT64_MAX && global_low > atomic_load(&cfg->commit_epoch))
		atomic_store(&cfg->commit_epoch, global_low);
}

/* ---- the prober ---------------------------------------------------------------- */

/* A round later than this (beyond its period) means the process did not
 * run (a pause): counted and logged. Nothing else is needed: a pause
 * leaves no evidence for its own duration (serve.h). */
#define PROBE_LATE_MS 1000

struct prober {
	struct op_kafka_config *cfg;
	rd_kafka_t *rk;
	int64_t last_ok;     /* wall time of the last round with an answer */
	int64_t down_since;  /* wall time the last answer-less round began (0: up) */
	uint64_t failed;     /* queries that got no answer in this outage */
};

/* One round, its questions sent at wall time `at`: every owned
 * partition's high watermark. 1 if any answered, 0 if none did, -1 if
 * there was nothing to ask. */
static int
probe_round(struct prober *pr, int64_t at)
{
	struct op_kafka_config *cfg = pr->cfg;
	uint32_t n = atomic_load_explicit(&cfg->n_slots, memory_order_acquire);
	int asked = 0, answered = 0;
	int timeout = (int)(cfg->probe_ms > 200 ? cfg->probe_ms : 200) * 2;
	for (uint32_t i = 0; i < n && !atomic_load(&cfg->prober_stop); i++) {
		struct op_kafka_slot *sl = &cfg->slots[i];
		if (!atomic_load(&sl->owned))
			continue;
		asked++;
		int64_t lo, hi;
		if (rd_kafka_query_watermark_offsets(pr->rk, sl->topic, sl->partition,
		                                     &lo, &hi, timeout)) {
			pr->failed++;
			continue;
		}
		answered++;
		atomic_store_explicit(&sl->probe_hi, hi, memory_order_relaxed);
		/* no evidence in an outage's settle time */
		if (at >= atomic_load_explicit(&cfg->evidence_floor, memory_order_relaxed))
			atomic_store_explicit(&sl->probe_at, at, memory_order_release);
	}
	return asked ? answered > 0 : -1;
}

static void *
prober_main(void *arg)
{
	struct prober *pr = arg;
	struct op_kafka_config *cfg = pr->cfg;
	int64_t period = cfg->probe_ms ? cfg->probe_ms : 500;
	int64_t prev = op_kafka_wall_ms();
	while (!atomic_load(&cfg->prober_stop)) {
		/* sleep by the clock, not by counted naps */
		while (op_kafka_wall_ms() - prev < period && !atomic_load(&cfg->prober_stop))
			usleep(20 * 1000);
		int64_t t0 = op_kafka_wall_ms();
		/* a round far later than asked: the process (or its host) did
		 * not run */
		int64_t late = t0 - prev - period;
		if (late > PROBE_LATE_MS) {
			atomic_fetch_add(&cfg->stalls, 1);
			atomic_fetch_add(&cfg->stalled_ms_total, (uint64_t)late);
			serve_log("warn", "the process did not run for %.1f s; no "
			          "partition is taken as idle for that time", (double)late / 1000);
		}
		prev = t0;
		int r = probe_round(pr, t0);
		int64_t t1 = op_kafka_wall_ms();
		if (r == 0 && !pr->down_since) {
			pr->down_since = t0;
			int zero = 0;
			if (atomic_compare_exchange_strong(&cfg->outage, &zero, 1)) {
				atomic_fetch_add(&cfg->outages, 1);
				serve_log("warn", "brokers unreachable: no partition's end "
				          "offsets could be read; idle time stops counting");
			}
		} else if (r != 0 && (pr->down_since || atomic_load(&cfg->outage))) {
			int64_t since = pr->down_since ? pr->down_since : pr->last_ok;
			int64_t down = since ? t0 - since : 0;
			/* producers and consumers reconnect with back-off and then
			 * deliver what they kept: no evidence until they have */
			atomic_store(&cfg->evidence_floor, t1 + (int64_t)cfg->settle_ms);
			atomic_fetch_add(&cfg->stalled_ms_total,
			                 (uint64_t)(down + (int64_t)cfg->settle_ms));
			atomic_store(&cfg->outage, 0);
			serve_log("info", "brokers answer again after %.1f s (%" PRIu64
			          " queries unanswered); idle time counts again in %.1f s",
			          (double)down / 1000, pr->failed,
			          (double)cfg->settle_ms / 1000);
			pr->down_since = 0;
			pr->failed = 0;
		}
		if (r != 0)
			pr->last_ok = t0;
		prev += t1 - t0; /* the round's own time is not lateness */
	}
	return NULL;
}

int
op_kafka_prober_start(struct op_kafka_config *cfg)
{
	char err[512];
	struct prober *pr = calloc(1, sizeof *pr);
	if (!pr)
		return WEFT_ENOMEM;
	pr->cfg = cfg;
	rd_kafka_conf_t *conf = op_kafka_client_conf(cfg, UINT32_MAX, err, sizeof err);
	if (!conf) {
		free(pr);
		serve_log("error", "prober: %s", err);
		return WEFT_EINVAL;
	}
	rd_kafka_conf_set_log_cb(conf, serve_rdkafka_log);
	if (!(pr->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
		rd_kafka_conf_destroy(conf);
		free(pr);
		serve_log("error", "prober: cannot create a client: %s", err);
		return WEFT_EKAFKA;
	}
	atomic_store(&cfg->prober_stop, 0);
	if (pthread_create(&cfg->prober, NULL, prober_main, pr)) {
		rd_kafka_destroy(pr->rk);
		free(pr);
		return WEFT_ETHREAD;
	}
	cfg->prober_arg = pr;
	cfg->prober_on = 1;
	return 0;
}

void
op_kafka_prober_stop(struct op_kafka_config *cfg)
{
	if (!cfg->prober_on)
		return;
	atomic_store(&cfg->prober_stop, 1);
	pthread_join(cfg->prober, NULL);
	struct prober *pr = cfg->prober_arg;
	rd_kafka_destroy(pr->rk);
	free(pr);
	cfg->prober_on = 0;
}

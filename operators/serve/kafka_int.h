/*
 * kafka_int.h — what the Kafka source's two files share (op_kafka.c: the
 * consumers; op_kafka_probe.c: the partitions' slots, the prober thread
 * and the committer's per-partition lows). Private to operators/serve/.
 */
#ifndef WEFT_KAFKA_INT_H
#define WEFT_KAFKA_INT_H

#include <stdint.h>

#include "engine/engine.h"

#include "operators/serve/serve.h"

/* Wall clock, ms. */
int64_t op_kafka_wall_ms(void);
/* The slot of (topic, partition), registered on first use: an index, or
 * UINT32_MAX when the table is full (counted). Any worker thread. */
uint32_t op_kafka_slot_of(struct op_kafka_config *cfg, const char *topic,
                          int32_t partition);
/* The prober thread (worker 0's source starts and stops it). 0 or WEFT_E*. */
int op_kafka_prober_start(struct op_kafka_config *cfg);
void op_kafka_prober_stop(struct op_kafka_config *cfg);

/* ---- op_kafka_fetch.c ---------------------------------------------------- */

/* What the queue's wake-up needs: set before op_kafka_wake_arm, and kept
 * (read by librdkafka's threads) until op_kafka_wake_disarm. */
struct op_kafka_waker {
	struct engine *e;
	unsigned w;
};
/* From now on a message in q, empty before, wakes worker wk->w. */
void op_kafka_wake_arm(rd_kafka_queue_t *q, struct op_kafka_waker *wk);
void op_kafka_wake_disarm(rd_kafka_queue_t *q);

/* Longest a fetch kick waits for its answer (an outage stops the kicks;
 * this bounds the one that meets its start). */
#define OP_KAFKA_KICK_TIMEOUT_MS 200
/* When the partition is behind its high watermark as last fetched (next:
 * the next offset to consume), asks its leader for its watermarks, which
 * wakes the broker thread that fetches it (op_kafka_fetch.c says why):
 * 1; else 0. Blocks for one round trip. Worker thread. */
int op_kafka_fetch_kick(rd_kafka_t *rk, const char *topic, int32_t partition,
                        int64_t next);

/* ---- op_kafka_hint.c ----------------------------------------------------- */

/* One worker's count of a topic's records while none was accepted, added
 * to cfg->topic_stats once per poll. */
struct op_kafka_tally {
	uint64_t units;
	uint64_t looks_like[OP_FORMAT__COUNT + 1];
	int accepted; /* here or (once published) anywhere: counting stops */
	int dirty;    /* something to publish */
};
/* The decoder's counters before a unit. */
struct op_kafka_tally_mark {
	uint64_t units, events;
	uint64_t looks_like[OP_FORMAT__COUNT + 1];
};
void op_kafka_tally_mark(const struct op_inline_decoder *dec,
                         struct op_kafka_tally_mark *m);
/* After the unit: what it added, into t. */
void op_kafka_tally_add(struct op_kafka_tally *t,
                        const struct op_inline_decoder *dec,
                        const struct op_kafka_tally_mark *m);
/* Once per poll: a worker's tallies (n_topics of them) into the topics'
 * stats; logs the hint of a topic that reached hint_after records with
 * none accepted, once. */
void op_kafka_tally_publish(struct op_kafka_config *cfg,
                            struct op_kafka_tally *t);

#endif

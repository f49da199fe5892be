/*
 * queue.h — unbounded single-producer single-consumer message queue
 * (engine-private).
 *
 * One queue per (sender worker, receiver worker) pair carries exchange
 * traffic: data batches and punctuation, in FIFO order. FIFO is what makes
 * progress tracking simple: a punctuation "closed below f" from sender s
 * arrives after every batch s sent before it.
 *
 * The queue is a linked list of fixed-size segments. The producer never
 * blocks and never waits for the consumer: when a segment is full it links
 * a fresh one (taken from a one-slot spare the consumer refills, or from
 * malloc). Only one shared word is written per push — the published count
 * `tail` — so there is no shared head index and no false sharing between the
 * two sides in steady state.
 *
 * Invariants:
 *   - item k (k counted from 0 since creation) lives in segment k / SEG at
 *     slot k % SEG;
 *   - the producer writes slot k, links segment (k+1)/SEG if k+1 is a
 *     boundary, then stores tail = k + 1 with release order; the consumer
 *     loads tail with acquire order, so every slot and link below tail is
 *     visible to it;
 *   - a segment is handed back (spare or free) only by the consumer, after
 *     it consumed the segment's last slot; the producer no longer touches
 *     a segment once it linked the next one.
 */
#ifndef WEFT_ENGINE_QUEUE_H
#define WEFT_ENGINE_QUEUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

struct engine_batch;

/* A message between workers: a data batch or a punctuation. */
struct engine_msg {
	struct engine_batch *batch; /* NULL: punctuation */
	uint64_t frontier;          /* punctuation: epochs < frontier closed */
	uint32_t route;             /* destination (node << 8 | input port) */
	uint32_t flags;             /* ENGINE_MSG_DONE: sender finished */
};
#define ENGINE_MSG_DONE 1u

#define ENGINE_QUEUE_SEG 256u /* slots per segment (power of two) */

struct engine_queue_seg {
	struct engine_queue_seg *next; /* written before tail publishes it */
	struct engine_msg slot[ENGINE_QUEUE_SEG];
};

struct engine_queue {
	/* producer side */
	alignas(64) struct engine_queue_seg *p_seg;
	uint64_t p_count; /* items pushed (producer's private copy of tail) */
	/* shared */
	alignas(64) _Atomic uint64_t tail;
	_Atomic(struct engine_queue_seg *) spare;
	/* consumer side */
	alignas(64) struct engine_queue_seg *c_seg;
	uint64_t c_count;  /* items popped */
	uint64_t c_limit;  /* cached tail */
};

/* Returns 0 or WEFT_ENOMEM. */
int engine_queue_init(struct engine_queue *q);
/* Frees the segments. Messages still inside are dropped (their batches are
 * the caller's to free before, see engine_queue_pop). */
void engine_queue_destroy(struct engine_queue *q);
/* Producer: append m. Returns 0 or WEFT_ENOMEM (the queue is unchanged). */
int engine_queue_push(struct engine_queue *q, const struct engine_msg *m);
/* Consumer: pop into *m; returns 1, or 0 when empty. */
int engine_queue_pop(struct engine_queue *q, struct engine_msg *m);
/* Consumer: 1 if a pop would succeed (acquire-loads tail). */
int engine_queue_nonempty(struct engine_queue *q);

#endif

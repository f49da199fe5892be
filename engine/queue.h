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
 * malloc). Only one shared word is written to publish — the published
 * count `tail` — so there is no shared head index and no false sharing
 * between the two sides in steady state. The producer may put several
 * items and publish them with one store (engine_queue_put, then
 * engine_queue_publish); engine_queue_push does both for one item.
 *
 * Invariants:
 *   - item k (k counted from 0 since creation) lives in segment k / SEG at
 *     slot k % SEG;
 *   - the producer writes slot k and links segment (k+1)/SEG if k+1 is a
 *     boundary (put); publishing stores tail = the count put so far, with
 *     release (in fact seq_cst) order; the consumer loads tail with
 *     acquire order, so every slot and link below tail is visible to it;
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
	uint64_t p_count; /* items put */
	uint64_t p_pub;   /* items published (the producer's copy of tail) */
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
/* Producer: append m, not yet visible to the consumer. Returns how many
 * items are put and not published (m included), or WEFT_ENOMEM (< 0; the
 * queue is unchanged). */
int engine_queue_put(struct engine_queue *q, const struct engine_msg *m);
/* Producer: make every item put so far visible to the consumer (one
 * seq_cst store of tail). Returns 1 when there was any, else 0. */
int engine_queue_publish(struct engine_queue *q);
/* Producer: put and publish m. Returns 0 or WEFT_ENOMEM (the queue is
 * unchanged). */
int engine_queue_push(struct engine_queue *q, const struct engine_msg *m);
/* Consumer: pop into *m; returns 1, or 0 when empty. */
int engine_queue_pop(struct engine_queue *q, struct engine_msg *m);
/* Consumer: 1 if a pop would succeed (acquire-loads tail). */
int engine_queue_nonempty(struct engine_queue *q);

#endif

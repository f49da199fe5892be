/*
 * queue.c — unbounded SPSC segmented queue; see queue.h for the design and
 * its invariants.
 */
#include "engine/queue.h"

#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

static struct engine_queue_seg *
seg_new(void)
{
	struct engine_queue_seg *s = malloc(sizeof *s);
	if (s)
		s->next = NULL;
	return s;
}

int
engine_queue_init(struct engine_queue *q)
{
	memset(q, 0, sizeof *q);
	struct engine_queue_seg *s = seg_new();
	if (!s)
		return WEFT_ENOMEM;
	q->p_seg = s;
	q->c_seg = s;
	atomic_init(&q->tail, 0);
	atomic_init(&q->spare, NULL);
	return 0;
}

void
engine_queue_destroy(struct engine_queue *q)
{
	struct engine_queue_seg *s = q->c_seg;
	while (s) {
		struct engine_queue_seg *n = s->next;
		free(s);
		s = n;
	}
	free(atomic_load_explicit(&q->spare, memory_order_relaxed));
	memset(q, 0, sizeof *q);
}

int
engine_queue_put(struct engine_queue *q, const struct engine_msg *m)
{
	uint64_t k = q->p_count;
	uint32_t i = (uint32_t)(k & (ENGINE_QUEUE_SEG - 1));
	if (i == ENGINE_QUEUE_SEG - 1) {
		/* Last slot of this segment: link the next one before item k
		 * is published, so the consumer can always follow the link it
		 * reaches. */
		struct engine_queue_seg *n = atomic_exchange_explicit(
		    &q->spare, NULL, memory_order_acquire);
		if (n)
			n->next = NULL;
		else if (!(n = seg_new()))
			return WEFT_ENOMEM;
		q->p_seg->slot[i] = *m;
		q->p_seg->next = n;
		q->p_seg = n;
	} else {
		q->p_seg->slot[i] = *m;
	}
	q->p_count = k + 1;
	return (int)(q->p_count - q->p_pub);
}

int
engine_queue_publish(struct engine_queue *q)
{
	if (q->p_pub == q->p_count)
		return 0;
	q->p_pub = q->p_count;
	/* seq_cst, not just release: the parking handshake (engine.c) needs
	 * this store ordered before the sender's later load of `parked`. */
	atomic_store_explicit(&q->tail, q->p_pub, memory_order_seq_cst);
	return 1;
}

int
engine_queue_push(struct engine_queue *q, const struct engine_msg *m)
{
	int r = engine_queue_put(q, m);
	if (r < 0)
		return r;
	engine_queue_publish(q);
	return 0;
}

int
engine_queue_pop(struct engine_queue *q, struct engine_msg *m)
{
	uint64_t k = q->c_count;
	if (k == q->c_limit) {
		q->c_limit = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (k == q->c_limit)
			return 0;
	}
	uint32_t i = (uint32_t)(k & (ENGINE_QUEUE_SEG - 1));
	*m = q->c_seg->slot[i];
	q->c_count = k + 1;
	if (i == ENGINE_QUEUE_SEG - 1) {
		struct engine_queue_seg *old = q->c_seg;
		q->c_seg = old->next;
		/* Keep one segment for the producer to reuse: a steady stream
		 * then cycles two segments without touching the allocator. */
		struct engine_queue_seg *expect = NULL;
		if (!atomic_compare_exchange_strong_explicit(
		        &q->spare, &expect, old, memory_order_release,
		        memory_order_relaxed))
			free(old);
	}
	return 1;
}

int
engine_queue_nonempty(struct engine_queue *q)
{
	if (q->c_count != q->c_limit)
		return 1;
	q->c_limit = atomic_load_explicit(&q->tail, memory_order_seq_cst);
	return q->c_count != q->c_limit;
}

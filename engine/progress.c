/*
 * progress.c — emission, channels and progress tracking.
 *
 * Records an operator emits are appended to an open batch per output
 * (pipeline) or per output x exchange edge x destination worker (exchange).
 * A pipeline batch is handed to the downstream operators synchronously when
 * it fills or when the producing callback returns. An exchange batch is
 * pushed to the destination's SPSC queue when it fills, when its epoch
 * changes, before any punctuation, or when the worker is about to park.
 *
 * Frontiers. Every operator instance keeps
 *   in_frontier  — epochs below it are closed on all its inputs and their
 *                  records were delivered; on_epoch_close was called for each;
 *   out_frontier — epochs below it were announced closed downstream.
 * An input remembers, per sender (W senders for an exchange input, one for
 * a pipeline input), the last frontier that sender announced and whether it
 * finished. Because a queue is FIFO and a sender flushes its open batches
 * before it announces, "sender s announced f" implies every record s sent
 * below f was already delivered. So min over live senders is a safe input
 * frontier, and on_epoch_close(e) for e below it can run.
 *
 * Invariant kept by engine_emit(): nothing is emitted below out_frontier.
 * out_frontier only rises after the operator's on_epoch_close calls for the
 * epochs it passes have returned, so an operator may emit into the epoch it
 * is closing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

static void __attribute__((noreturn))
contract_violation(const struct engine_ctx *c, const char *what,
                   unsigned long long a, unsigned long long b)
{
	fprintf(stderr,
	        "weft engine: operator '%s' (worker %u) broke the emit "
	        "contract: %s (%llu vs %llu)\n",
	        c->gn->name, c->w->id, what, a, b);
	abort();
}

static void __attribute__((noreturn, cold))
emit_refused(const struct engine_ctx *c, const struct g_out *go,
             uint64_t epoch, uint32_t len)
{
	if (epoch < c->out_frontier)
		contract_violation(c, "emit below the output frontier", epoch,
		                   c->out_frontier);
	if (epoch == ENGINE_EPOCH_MAX)
		contract_violation(c, "epoch reserved", epoch, epoch);
	if (go->rec_size && len != go->rec_size)
		contract_violation(c, "record size", len, go->rec_size);
	contract_violation(c, "record too large", len, 1u << 30);
}

static inline uint32_t
rec_bytes(uint32_t rec_size, uint32_t len)
{
	return rec_size ? rec_size : 8u + ((len + 7u) & ~7u);
}

static inline int
batch_has_room(const struct engine_batch *b, uint32_t need, uint32_t max_recs)
{
	return b->count < max_recs && need <= b->cap - b->used;
}

static inline void
batch_append(struct engine_batch *b, const void *rec, uint32_t len,
             uint32_t need)
{
	unsigned char *p = b->data + b->used;
	if (b->rec_size) {
		/* Constant-size copies inline to a few moves; the common small
		 * fixed records never call memcpy. */
		switch (len) {
		case 8: memcpy(p, rec, 8); break;
		case 16: memcpy(p, rec, 16); break;
		case 24: memcpy(p, rec, 24); break;
		case 32: memcpy(p, rec, 32); break;
		default: memcpy(p, rec, len); break;
		}
	} else {
		memcpy(p, &len, sizeof len);
		memcpy(p + 8, rec, len);
	}
	b->used += need;
	b->count++;
}

/* Hands the open pipeline batch of output `out` to the pipeline children. */
static void
deliver_pipe(struct engine_ctx *c, unsigned out)
{
	struct eng_outport *op = &c->out[out];
	struct engine_batch *b = op->pipe;
	if (!b || b->count == 0)
		return;
	op->pipe = NULL; /* children never emit into our buffers, but be safe */
	const struct g_out *go = &c->gn->out[out];
	for (unsigned i = 0; i < go->n_edges; i++) {
		const struct g_edge *ed = &go->edges[i];
		if (ed->key)
			continue;
		struct engine_ctx *child = &c->w->ctx[ed->to];
		child->gn->vt->on_batch(child->state, child, ed->in, b);
		eng_flush_pipes(child);
	}
	if (op->pipe == NULL) {
		b->count = 0;
		b->used = 0;
		op->pipe = b;
	} else {
		eng_batch_put(c->w, b);
	}
}

void
eng_flush_pipes(struct engine_ctx *c)
{
	for (unsigned o = 0; o < c->gn->n_out; o++)
		if (c->out[o].pipe && c->out[o].pipe->count)
			deliver_pipe(c, o);
}

/* Queues m for worker `to`. It becomes visible (the queue's tail is
 * stored, and `to` woken if parked) at once when it is a punctuation (an
 * epoch closes no later than it would have), carries at least
 * ENG_PUBLISH_BYTES of records, holds ENG_PUBLISH_MSGS batches of records
 * (`full`: a message of small batches, xmax_recs) or ENG_PUBLISH_MSGS
 * messages wait unpublished; else at the end of this worker's loop turn
 * (eng_publish). */
static void
push_msg(struct eng_worker *w, unsigned to, const struct engine_msg *m,
         int full)
{
	struct engine *e = w->e;
	struct engine_queue *q = &e->queues[w->id * e->W + to];
	int pending = engine_queue_put(q, m);
	if (pending < 0) {
		fprintf(stderr, "weft engine: out of memory in exchange queue\n");
		abort();
	}
	if (!m->batch || full || (uint32_t)pending >= ENG_PUBLISH_MSGS ||
	    m->batch->used >= ENG_PUBLISH_BYTES) {
		engine_queue_publish(q);
		if (to != w->id)
			eng_wake_worker(&e->workers[to]);
	}
}

void
eng_publish(struct eng_worker *w)
{
	struct engine *e = w->e;
	for (unsigned to = 0; to < e->W; to++)
		if (engine_queue_publish(&e->queues[w->id * e->W + to]) &&
		    to != w->id)
			eng_wake_worker(&e->workers[to]);
}

static void
send_batch(struct engine_ctx *c, const struct g_out *go,
           const struct g_edge *ed, unsigned to, struct engine_batch *b)
{
	struct eng_worker *w = c->w;
	struct engine_msg m = {
		.batch = b, .route = eng_route_pack(ed->to, ed->in),
	};
	/* Count before publishing: the receiver may consume and decrement
	 * as soon as the push is visible. */
	atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed);
	w->st.batches_sent++;
	w->st.records_sent += b->count;
	push_msg(w, to, &m, b->count >= ENG_PUBLISH_MSGS * go->max_recs);
}

/* Sends every open exchange batch of c that holds a record, or with
 * ripe_only, only those of outputs of small batches (xmax_recs) that hold
 * at least one full batch. */
static void
send_open(struct engine_ctx *c, int ripe_only)
{
	unsigned W = c->w->e->W;
	for (unsigned o = 0; o < c->gn->n_out; o++) {
		const struct g_out *go = &c->gn->out[o];
		if (!go->n_xchg || (ripe_only && go->xmax_recs == go->max_recs))
			continue;
		uint32_t min = ripe_only ? go->max_recs : 1;
		unsigned k = 0;
		for (unsigned i = 0; i < go->n_edges; i++) {
			const struct g_edge *ed = &go->edges[i];
			if (!ed->key)
				continue;
			struct engine_batch **slot = &c->out[o].xbuf[k * W];
			for (unsigned t = 0; t < W; t++) {
				if (slot[t] && slot[t]->count >= min) {
					send_batch(c, go, ed, t, slot[t]);
					slot[t] = NULL;
				}
			}
			k++;
		}
	}
}

void
eng_flush_exchange(struct engine_ctx *c)
{
	send_open(c, 0);
}

/*
 * Messages of small batches. An output of fixed-size records whose batches
 * are under ENG_PUBLISH_BYTES sends up to ENG_PUBLISH_MSGS of its batches
 * to a worker as one message (xmax_recs records), not as that many
 * messages: the receiver could not have seen them sooner, as the queue
 * published them together anyway, and one message moves one header, one
 * queue slot and one in-flight count between the cores where there were
 * up to 32. What the old batches would have sent at the end of a loop turn
 * goes then: every open message holding at least one full batch (and the
 * few records past it, a little early). A partly filled batch waits as it
 * did, until it fills, its epoch ends, or the worker is about to park.
 */
void
eng_send_ripe(struct eng_worker *w)
{
	for (unsigned n = 0; n < w->e->g->n_nodes; n++)
		if (!w->ctx[n].done)
			send_open(&w->ctx[n], 1);
}

/* Marks sender `s` of input `in` as at frontier f (or finished). */
static void
input_note(struct eng_inport *in, unsigned s, uint64_t f, int done)
{
	if (done) {
		if (!in->sender_done[s]) {
			in->sender_done[s] = 1;
			in->n_live--;
			if (f > in->final_max)
				in->final_max = f;
		}
	} else if (f > in->sender_f[s]) {
		in->sender_f[s] = f;
	}
}

/* Announces frontier f (and whether this output is finished) on every
 * outgoing edge, after sending every open batch. */
static void
announce(struct engine_ctx *c, uint64_t f, int done)
{
	struct eng_worker *w = c->w;
	unsigned W = w->e->W;
	eng_flush_pipes(c);
	eng_flush_exchange(c);
	c->out_frontier = f;
	eng_emit_disarm(c);
	for (unsigned o = 0; o < c->gn->n_out; o++) {
		const struct g_out *go = &c->gn->out[o];
		for (unsigned i = 0; i < go->n_edges; i++) {
			const struct g_edge *ed = &go->edges[i];
			if (ed->key) {
				struct engine_msg m = {
					.batch = NULL,
					.frontier = f,
					.route = eng_route_pack(ed->to, ed->in),
					.flags = done ? ENGINE_MSG_DONE : 0,
				};
				for (unsigned t = 0; t < W; t++)
					push_msg(w, t, &m, 0);
				w->st.punctuations_sent += W;
			} else {
				struct engine_ctx *child = &w->ctx[ed->to];
				input_note(&child->in[ed->in], 0, f, done);
				eng_node_update(child);
			}
		}
	}
}

static void
close_epochs(struct engine_ctx *c, uint64_t from, uint64_t to)
{
	if (to <= from)
		return;
	struct eng_stats *st = &c->w->st;
	if (to - 1 > st->max_epoch_closed)
		st->max_epoch_closed = to - 1;
	if (!c->gn->vt->on_epoch_close) {
		st->epochs_closed += to - from;
		c->in_frontier = to;
		return;
	}
	for (uint64_t e = from; e < to; e++) {
		c->in_frontier = e + 1; /* epoch e is closed at our input now */
		c->gn->vt->on_epoch_close(c->state, c, e);
		eng_flush_pipes(c);
		st->epochs_closed++;
	}
}

void
eng_node_update(struct engine_ctx *c)
{
	if (c->done || c->gn->n_in == 0)
		return;
	uint64_t f = ENGINE_EPOCH_MAX;
	uint64_t final = c->in_frontier;
	int all_done = 1;
	for (unsigned p = 0; p < c->gn->n_in; p++) {
		const struct eng_inport *in = &c->in[p];
		if (in->final_max > final)
			final = in->final_max;
		if (!in->n_live)
			continue;
		all_done = 0;
		for (unsigned s = 0; s < in->n_senders; s++)
			if (!in->sender_done[s] && in->sender_f[s] < f)
				f = in->sender_f[s];
	}
	if (!all_done) {
		if (f > c->in_frontier) {
			close_epochs(c, c->in_frontier, f);
			c->in_frontier = f;
			announce(c, f, 0);
		}
		return;
	}
	/* Every upstream finished: close what is left, flush, finish. */
	close_epochs(c, c->in_frontier, final);
	c->in_frontier = final;
	c->out_frontier = final;
	eng_emit_disarm(c);
	if (c->gn->vt->on_flush) {
		c->gn->vt->on_flush(c->state, c, final);
		eng_flush_pipes(c);
	}
	/* Downstream closes every epoch below what we announce, then
	 * flushes. Epochs below `final` are closed here too; an epoch at or
	 * above it is closed downstream only if we emitted into it (in
	 * on_flush). Announcing final + 1 regardless would let every hop
	 * close one more epoch than the one before it, so a trace finished
	 * by the idle gap or flushed at the end would depend on how many
	 * operators lie between source and sink. */
	uint64_t fin = final > c->emit_max ? final : c->emit_max;
	c->done = 1;
	c->w->nodes_done++;
	announce(c, fin, 1);
}

void
eng_source_finish(struct engine_ctx *c)
{
	if (c->done)
		return;
	uint64_t fin = c->out_frontier > c->emit_max ? c->out_frontier
	                                             : c->emit_max;
	c->done = 1;
	c->w->nodes_done++;
	announce(c, fin, 1);
}

int
eng_deliver(struct eng_worker *w, unsigned sender, const struct engine_msg *m)
{
	struct engine_ctx *c = &w->ctx[m->route >> 8];
	unsigned port = m->route & 0xffu;
	if (m->batch) {
		w->delivering = m->batch;
		w->kept = 0;
		c->gn->vt->on_batch(c->state, c, port, m->batch);
		w->delivering = NULL;
		eng_flush_pipes(c);
		if (!w->kept)
			eng_batch_put(w, m->batch);
		return 1;
	}
	input_note(&c->in[port], sender, m->frontier,
	           (m->flags & ENGINE_MSG_DONE) != 0);
	eng_node_update(c);
	return 0;
}

void
eng_consumed(struct eng_worker *w, unsigned sender, uint32_t n)
{
	struct eng_worker *sw = &w->e->workers[sender];
	uint32_t max = w->e->cfg.max_inflight_batches;
	uint32_t prev =
	    atomic_fetch_sub_explicit(&sw->inflight, n, memory_order_seq_cst);
	/* The sender stops polling its sources at the bound: wake it when
	 * this decrement took it back below. */
	if (prev >= max && prev - n < max && sw != w)
		eng_wake_worker(sw);
}

/* ---- public: inside callbacks ------------------------------------------ */

/* The open pipeline batch of output `out`, ready for a record of need
 * bytes at epoch: the one open if it fits, else a fresh one (the full or
 * other-epoch one delivered first). */
static struct engine_batch *
pipe_batch(struct engine_ctx *c, unsigned out, uint64_t epoch, uint32_t need)
{
	struct eng_worker *w = c->w;
	const struct g_out *go = &c->gn->out[out];
	struct eng_outport *op = &c->out[out];
	struct engine_batch *b = op->pipe;
	if (b && b->count &&
	    (b->epoch != epoch || !batch_has_room(b, need, go->max_recs))) {
		deliver_pipe(c, out);
		b = op->pipe;
	}
	if (b && b->count == 0 && need > b->cap) {
		op->pipe = NULL;
		eng_batch_put(w, b);
		b = NULL;
	}
	if (!b)
		b = op->pipe = eng_batch_get(w, epoch, go, need);
	b->epoch = epoch;
	return b;
}

/* The same for the exchange batch in *slot, bound for worker t of edge
 * ed. An empty open batch (left by a reservation that was not committed,
 * engine_emit_reserve) is reused whatever its epoch. */
static struct engine_batch *
xchg_batch(struct engine_ctx *c, const struct g_out *go,
           const struct g_edge *ed, struct engine_batch **slot, unsigned t,
           uint64_t epoch, uint32_t need)
{
	struct eng_worker *w = c->w;
	struct engine_batch *b = *slot;
	if (b && b->count == 0 && need > b->cap) {
		eng_batch_put(w, b);
		b = NULL;
	} else if (b && b->count &&
	           (b->epoch != epoch ||
	            !batch_has_room(b, need, go->xmax_recs))) {
		send_batch(c, go, ed, t, b);
		b = NULL;
	}
	if (!b)
		b = *slot = eng_batch_get(w, epoch, go, need);
	b->epoch = epoch;
	return b;
}

void
eng_emit_disarm(struct engine_ctx *c)
{
	for (unsigned o = 0; o < c->gn->n_out; o++)
		c->out[o].fast_len = 0;
}

/* Arms engine_emit()'s fast path for output `out` at `epoch`, which the
 * slow path has just accepted, if the output qualifies (fixed-size
 * records, one edge) and no open batch holds another epoch. */
static void
emit_arm(struct engine_ctx *c, unsigned out, uint64_t epoch)
{
	const struct g_out *go = &c->gn->out[out];
	struct eng_outport *op = &c->out[out];
	unsigned W = c->w->e->W;
	op->fast_len = 0;
	/* copied in line: 8 to 32 bytes, whole words (batch_append) */
	if (!go->rec_size || go->rec_size % 8u || go->rec_size > 32u ||
	    go->n_edges != 1)
		return;
	if (go->n_xchg) {
		/* routing in line: the first-u64 key only */
		if (W > 1 && go->edges[0].key != engine_key_first_u64)
			return;
		for (unsigned t = 0; t < W; t++) {
			const struct engine_batch *b = op->xbuf[t];
			if (b && b->count && b->epoch != epoch)
				return;
		}
		op->fast_slot = op->xbuf;
		op->fast_W = W > 1 ? W : 0;
		/* engine_route for a power-of-two W: Lemire's reduction of
		 * the high half by 2^k is the top k bits of the product */
		op->fast_shift = W > 1 && (W & (W - 1)) == 0
		                     ? 64u - (unsigned)__builtin_ctz(W) : 0;
	} else {
		if (op->pipe && op->pipe->count && op->pipe->epoch != epoch)
			return;
		op->fast_slot = &op->pipe;
		op->fast_W = 0;
		op->fast_shift = 0;
	}
	op->fast_max = go->n_xchg ? go->xmax_recs : go->max_recs;
	op->fast_epoch = epoch;
	op->fast_len = go->rec_size;
}

/* The fast path's batch of destination t filled: it leaves. */
static void __attribute__((noinline))
emit_full(struct engine_ctx *c, unsigned out, unsigned t)
{
	const struct g_out *go = &c->gn->out[out];
	struct eng_outport *op = &c->out[out];
	if (go->n_xchg) {
		send_batch(c, go, &go->edges[0], t, op->xbuf[t]);
		op->xbuf[t] = NULL;
	} else {
		deliver_pipe(c, out);
	}
}

static void emit_slow(struct engine_ctx *c, unsigned out, uint64_t epoch,
                      const void *rec, uint32_t len);

/* The fast path found no open batch for destination t (the last one
 * left full, or was flushed): a fresh one, with the record in it. The
 * path stays armed: the new batch is of fast_epoch. */
static void __attribute__((noinline))
emit_fresh(struct engine_ctx *c, unsigned out, unsigned t, const void *rec,
           uint32_t len)
{
	struct eng_outport *op = &c->out[out];
	const struct g_out *go = &c->gn->out[out];
	struct engine_batch *b = op->fast_slot[t] =
	    eng_batch_get(c->w, op->fast_epoch, go, len);
	batch_append(b, rec, len, len);
	if (b->count >= op->fast_max)
		emit_full(c, out, t);
}

/* The fast path (see eng_outport) is kept small, with no call on its
 * common path and only tail or out-of-line calls on the rare ones
 * (emit_fresh, emit_full), so that it needs no stack frame. A record it
 * cannot take (another epoch or size, an output it does not cover) goes
 * to emit_slow, which checks the contract and may arm it. */
void
engine_emit(struct engine_ctx *c, unsigned out, uint64_t epoch,
            const void *rec, uint32_t len)
{
	if (__builtin_expect(out < c->gn->n_out, 1)) {
		struct eng_outport *op = &c->out[out];
		if (__builtin_expect(len == op->fast_len &&
		                         epoch == op->fast_epoch && len != 0, 1)) {
			unsigned t = 0;
			if (op->fast_W) {
				uint64_t key;
				memcpy(&key, rec, sizeof key);
				uint64_t h = key * ENGINE_ROUTE_MIX;
				t = op->fast_shift
				        ? (unsigned)(h >> op->fast_shift)
				        : (unsigned)(((h >> 32) * op->fast_W) >> 32);
			}
			struct engine_batch *b = op->fast_slot[t];
			if (__builtin_expect(b == NULL, 0)) {
				emit_fresh(c, out, t, rec, len);
				return;
			}
			/* a kept empty pipeline batch may carry a stale epoch */
			b->epoch = epoch;
			unsigned char *p = b->data + b->used;
			switch (len) {
			case 8: memcpy(p, rec, 8); break;
			case 16: memcpy(p, rec, 16); break;
			case 24: memcpy(p, rec, 24); break;
			default: memcpy(p, rec, 32); break;
			}
			uint32_t n = b->count + 1, u = b->used + len;
			/* two scalar stores: GCC would otherwise pair them into a
			 * vector add, which costs more than it saves */
			__asm__("" : "+r"(n));
			b->count = n;
			b->used = u;
			if (__builtin_expect(n >= op->fast_max, 0))
				emit_full(c, out, t);
			return;
		}
	}
	emit_slow(c, out, epoch, rec, len);
}

static void __attribute__((noinline))
emit_slow(struct engine_ctx *c, unsigned out, uint64_t epoch,
          const void *rec, uint32_t len)
{
	if (__builtin_expect(out >= c->gn->n_out, 0))
		contract_violation(c, "no such output", out, c->gn->n_out);
	const struct g_out *go = &c->gn->out[out];
	struct eng_outport *op = &c->out[out];
	if (__builtin_expect(epoch < c->out_frontier ||
	                         epoch == ENGINE_EPOCH_MAX ||
	                         (go->rec_size && len != go->rec_size) ||
	                         len > (1u << 30), 0))
		emit_refused(c, go, epoch, len);
	if (epoch >= c->emit_max)
		c->emit_max = epoch + 1;

	struct eng_worker *w = c->w;
	uint32_t need = rec_bytes(go->rec_size, len);
	uint32_t max_recs = go->max_recs;

	if (go->n_pipe) {
		struct engine_batch *b = pipe_batch(c, out, epoch, need);
		batch_append(b, rec, len, need);
		if (b->count >= max_recs)
			deliver_pipe(c, out);
	}
	if (go->n_xchg) {
		unsigned W = w->e->W, k = 0;
		for (unsigned i = 0; i < go->n_edges; i++) {
			const struct g_edge *ed = &go->edges[i];
			if (!ed->key)
				continue;
			unsigned t = 0;
			if (W > 1) {
				uint64_t key;
				if (ed->key == engine_key_first_u64)
					memcpy(&key, rec, sizeof key);
				else
					key = ed->key(rec, len, ed->key_arg);
				t = engine_route(key, W);
			}
			struct engine_batch **slot = &op->xbuf[k * W + t];
			struct engine_batch *b = xchg_batch(c, go, ed, slot, t, epoch,
			                                    need);
			batch_append(b, rec, len, need);
			if (b->count >= go->xmax_recs) {
				send_batch(c, go, ed, t, b);
				*slot = NULL;
			}
			k++;
		}
	}
	emit_arm(c, out, epoch);
}

struct engine_batch *
engine_batch_keep(struct engine_ctx *c, const struct engine_batch *b)
{
	struct eng_worker *w = c->w;
	if (!b || b != w->delivering || w->kept)
		return NULL;
	w->kept = 1;
	return (struct engine_batch *)(uintptr_t)b;
}

void
engine_batch_release(struct engine_ctx *c, struct engine_batch *b)
{
	/* kept batches can be many (an operator's backlog): the pool keeps
	 * no more of them than the in-flight bound could need */
	if (b)
		eng_batch_put_upto(c->w, b, c->w->e->cfg.max_inflight_batches);
}

void
engine_batch_free(struct engine_batch *b)
{
	free(b);
}

uint64_t
engine_key_first_u64(const void *rec, uint32_t len, void *arg)
{
	(void)len;
	(void)arg;
	uint64_t key;
	memcpy(&key, rec, sizeof key);
	return key;
}

void *
engine_emit_reserve(struct engine_ctx *c, unsigned out, uint64_t epoch,
                    uint64_t key, uint32_t cap)
{
	if (__builtin_expect(out >= c->gn->n_out, 0))
		contract_violation(c, "no such output", out, c->gn->n_out);
	const struct g_out *go = &c->gn->out[out];
	if (__builtin_expect(epoch < c->out_frontier ||
	                         epoch == ENGINE_EPOCH_MAX, 0))
		emit_refused(c, go, epoch, cap);
	struct eng_worker *w = c->w;
	uint32_t need = rec_bytes(0, cap);
	if (go->rec_size || go->n_edges != 1 || need > go->cap)
		return NULL;
	struct eng_outport *op = &c->out[out];
	struct engine_batch *b;
	if (go->n_pipe) {
		b = pipe_batch(c, out, epoch, need);
		op->res_to = 0;
	} else {
		unsigned W = w->e->W, t = W > 1 ? engine_route(key, W) : 0;
		b = xchg_batch(c, go, &go->edges[0], &op->xbuf[t], t, epoch, need);
		op->res_to = t;
	}
	op->res = b;
	op->res_cap = cap;
	op->res_key = key;
	return b->data + b->used + 8;
}

void
engine_emit_commit(struct engine_ctx *c, unsigned out, uint32_t len)
{
	struct eng_outport *op = &c->out[out];
	struct engine_batch *b = op->res;
	if (__builtin_expect(!b || len > op->res_cap, 0))
		contract_violation(c, "commit without room", len,
		                   b ? op->res_cap : 0);
	const struct g_out *go = &c->gn->out[out];
#ifndef NDEBUG
	const struct g_edge *ed = &go->edges[0];
	if (ed->key && ed->key(b->data + b->used + 8, len, ed->key_arg) !=
	                   op->res_key)
		contract_violation(c, "reserved key differs from the record's", 0,
		                   0);
#endif
	op->res = NULL;
	if (b->epoch >= c->emit_max)
		c->emit_max = b->epoch + 1;
	memcpy(b->data + b->used, &len, sizeof len);
	b->used += rec_bytes(0, len);
	b->count++;
	if (b->count < (go->n_pipe ? go->max_recs : go->xmax_recs))
		return;
	if (go->n_pipe) {
		deliver_pipe(c, out);
	} else {
		send_batch(c, go, &go->edges[0], op->res_to, b);
		op->xbuf[op->res_to] = NULL;
	}
}

void
engine_source_advance(struct engine_ctx *c, uint64_t frontier)
{
	if (c->gn->n_in != 0 || c->done || frontier <= c->out_frontier)
		return;
	if (frontier == ENGINE_EPOCH_MAX)
		frontier = ENGINE_EPOCH_MAX - 1;
	announce(c, frontier, 0);
}

void
engine_source_idle_hint(struct engine_ctx *c, uint32_t us)
{
	c->idle_hint_us = us;
}

unsigned
engine_ctx_worker(const struct engine_ctx *c)
{
	return c->w->id;
}

unsigned
engine_ctx_workers(const struct engine_ctx *c)
{
	return c->w->e->W;
}

struct engine *
engine_ctx_engine(const struct engine_ctx *c)
{
	return c->w->e;
}

int
engine_ctx_node(const struct engine_ctx *c)
{
	return c->node;
}

int
engine_ctx_stopping(const struct engine_ctx *c)
{
	return atomic_load_explicit(&c->w->e->stopping, memory_order_relaxed);
}

uint64_t
engine_ctx_frontier(const struct engine_ctx *c)
{
	return c->in_frontier;
}

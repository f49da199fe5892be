/*
 * engine_int.h — the engine's private structures.
 *
 * Ownership and threads:
 *   - struct engine and its graph (g_node, g_edge) are built on the caller's
 *     thread before engine_run() and read-only afterwards.
 *   - struct eng_worker and everything it points to (operator instances,
 *     output buffers, batch pool, its inbound queues' consumer side) are
 *     owned by that worker's thread while the engine runs.
 *   - Shared between threads: the queues (SPSC: producer = sending worker,
 *     consumer = receiving worker), eng_worker.inflight (atomic, see
 *     below), eng_worker.seq/parked (the parking protocol) and
 *     engine.stopping.
 */
#ifndef WEFT_ENGINE_INT_H
#define WEFT_ENGINE_INT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/queue.h"

#define ENG_MAX_NODES 255u  /* route packs node in 24 bits, port in 8 */
#define ENG_MAX_PORTS 255u

/* ---- graph (shared, read-only while running) ------------------------- */
struct g_edge {
	int to;
	unsigned in;
	engine_key_fn key; /* NULL: pipeline */
	void *key_arg;
};

struct g_out {
	uint32_t rec_size;
	uint32_t cap;        /* data bytes of this output's batches */
	uint32_t max_recs;   /* records per batch (fixed size: what cap holds,
	                      * at most batch_records) */
	uint32_t xmax_recs;  /* records per exchange message: max_recs, or
	                      * for small fixed-size batches up to
	                      * ENG_PUBLISH_MSGS of them (see eng_send_ripe) */
	unsigned n_edges;
	struct g_edge *edges;
	unsigned n_pipe;     /* edges with key == NULL */
	unsigned n_xchg;     /* exchange edges */
};

struct g_in {
	int from;            /* -1: not connected */
	unsigned out;
	int exchange;
};

struct g_node {
	char *name;
	const struct engine_op_vtable *vt;
	void *arg;
	unsigned n_in, n_out;
	struct g_in *in;
	struct g_out *out;
};

struct engine_graph {
	unsigned n_nodes, cap_nodes;
	struct g_node *nodes;
};

/* ---- per worker ------------------------------------------------------- */
struct eng_inport {
	uint64_t *sender_f;  /* per sender (W for exchange, 1 for pipeline) */
	uint8_t *sender_done;
	uint64_t final_max;  /* max final frontier of finished senders */
	unsigned n_senders, n_live;
};

struct eng_outport {
	/* engine_emit()'s fast path, for an output of fixed-size records of
	 * 8, 16, 24 or 32 bytes with one edge (an exchange edge only with
	 * the engine_key_first_u64 key): a record of fast_len bytes at epoch
	 * fast_epoch goes straight into fast_slot[t], the open batch of its
	 * destination t (engine_route over fast_W workers; fast_W == 0: t =
	 * 0, a pipeline edge or one worker), with no other check. Armed
	 * (fast_len != 0) only while fast_epoch is at or above out_frontier
	 * and every open batch of the output is empty or of fast_epoch: the
	 * slow path arms it, whatever moves the frontier disarms it
	 * (eng_emit_disarm). First in the struct: one cache line holds all
	 * the fast path reads. */
	uint32_t fast_len;
	uint32_t fast_max;  /* records per batch of this output */
	uint64_t fast_epoch;
	struct engine_batch **fast_slot;
	unsigned fast_W;
	/* fast_W a power of two: 64 - log2(fast_W), and engine_route is the
	 * top bits of the mixed key alone (the same worker, one multiply
	 * less); else 0 */
	unsigned fast_shift;

	struct engine_batch *pipe;   /* open pipeline batch, or NULL */
	struct engine_batch **xbuf;  /* [n_xchg * W] open exchange batches */
	/* engine_emit_reserve(): the batch holding the reserved room (NULL:
	 * none), its exchange destination, the room's size and the key. */
	struct engine_batch *res;
	unsigned res_to;
	uint32_t res_cap;
	uint64_t res_key;
};

/* One operator instance on one worker. */
struct engine_ctx {
	struct eng_worker *w;
	const struct g_node *gn;
	int node;
	void *state;
	int initialised;
	uint64_t in_frontier;  /* epochs below are closed and delivered */
	uint64_t out_frontier; /* epochs below are announced closed downstream */
	uint64_t emit_max;     /* highest epoch emitted + 1 (0: none) */
	int done;              /* flushed and announced done downstream */
	struct eng_inport *in;
	struct eng_outport *out;
	/* sources */
	uint32_t idle_hint_us;
};

struct eng_stats {
	uint64_t batches_sent, records_sent, punctuations_sent;
	uint64_t epochs_closed, parks, backpressure_waits, max_epoch_closed;
};

/* Free batches of one capacity. Batches migrate: a receiver keeps the
 * batches it consumed for its own sends, so pools stay balanced. */
struct eng_pool {
	uint32_t cap; /* 0: class unused */
	unsigned len;
	struct engine_batch *head;
};
#define ENG_POOL_CLASSES 4

struct eng_worker {
	struct engine *e;
	unsigned id;
	struct engine_ctx *ctx;      /* [n_nodes] */
	struct engine_queue **inq;   /* [W]: queue from sender s to me */
	struct eng_pool pool[ENG_POOL_CLASSES];
	unsigned nodes_done;
	uint32_t idle_backoff_us;
	/* the exchange batch on_batch has now, and whether it was kept
	 * (engine_batch_keep) */
	const struct engine_batch *delivering;
	int kept;
	struct eng_stats st;
	/* Batches this worker sent through exchange and no receiver has
	 * consumed yet. Incremented by this worker (sender), decremented by
	 * receivers once per loop turn (eng_consumed); the bound on it is the
	 * only backpressure. */
	alignas(64) _Atomic uint32_t inflight;
	/* Parking (an event count): a sleeper reads seq, sets parked, re-checks
	 * for work, then futex-waits on seq; a waker publishes its work, then
	 * (seq_cst order, see eng_wake_worker) bumps seq and wakes if parked
	 * was set. */
	alignas(64) _Atomic uint32_t seq;
	_Atomic uint32_t parked;
};

struct engine {
	struct engine_graph *g;
	struct engine_config cfg;
	unsigned W;
	struct eng_worker *workers;  /* [W] */
	struct engine_queue *queues; /* [W * W]: index sender * W + receiver */
	_Atomic int stopping;
	_Atomic int init_error;
	int ran;
};

/* A worker publishes what it queued for another at once when the message
 * is a punctuation, carries this many bytes of records or this many
 * messages wait, else at the end of its loop turn: small batches then cost
 * one store of the queue's tail (and one wake check) per ENG_PUBLISH_MSGS,
 * not one per batch. */
#define ENG_PUBLISH_BYTES 4096u
#define ENG_PUBLISH_MSGS 32u

/* engine.c */
void eng_wake_worker(struct eng_worker *w);
/* A batch with room for at least `need` bytes, cap bytes normally. */
struct engine_batch *eng_batch_get(struct eng_worker *w, uint64_t epoch,
                                   const struct g_out *go, uint32_t need);
void eng_batch_put(struct eng_worker *w, struct engine_batch *b);
/* The same, freeing it when its pool already holds max batches. */
void eng_batch_put_upto(struct eng_worker *w, struct engine_batch *b,
                        unsigned max);

/* progress.c */
/* Hands m from sender to its operator; 1 when it was a data batch, which
 * the caller then counts consumed with eng_consumed. */
int eng_deliver(struct eng_worker *w, unsigned sender,
                const struct engine_msg *m);
/* n batches from sender were consumed: lowers its in-flight count (one
 * atomic per loop turn and sender, not one per batch) and wakes it when
 * that takes it below the bound. */
void eng_consumed(struct eng_worker *w, unsigned sender, uint32_t n);
/* Publishes every message this worker queued and has not published, and
 * wakes their receivers if parked. */
void eng_publish(struct eng_worker *w);
void eng_flush_pipes(struct engine_ctx *c);
void eng_flush_exchange(struct engine_ctx *c);
/* End of a loop turn: sends every open exchange message that holds at
 * least one full batch (a message of small batches, see xmax_recs). */
void eng_send_ripe(struct eng_worker *w);
void eng_source_finish(struct engine_ctx *c);
void eng_node_update(struct engine_ctx *c);
void eng_emit_disarm(struct engine_ctx *c);

static inline uint32_t
eng_route_pack(int node, unsigned port)
{
	return ((uint32_t)node << 8) | (uint32_t)port;
}

#endif

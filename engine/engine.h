/*
 * engine.h — weft's epoch-timestamped dataflow runtime (public interface).
 *
 * A timely-dataflow-style runtime specialised to acyclic graphs. The caller
 * describes an operator graph once (engine_graph); the engine runs W worker
 * threads (shards), each with its own instance of every operator. Records
 * move in batches tagged with an epoch (a 64-bit logical time from an ingest
 * clock). An edge is either
 *
 *   - pipeline: records stay on the worker that produced them, or
 *   - exchange: each record goes to worker route(key(record)) through one
 *     single-producer single-consumer queue per (sender, receiver) pair.
 *
 * Progress tracking. A source closes epochs with engine_source_advance(): it
 * promises to emit nothing below the new frontier. Channels carry that
 * punctuation behind the data (queues are FIFO), an operator's input
 * frontier is the minimum over its inputs (over all W senders for an exchange
 * input), and when it rises from a to b the operator's on_epoch_close(e) is
 * called for every e in [a, b), in order, exactly once per operator instance,
 * after every record of epoch <= e from every worker has been delivered. An
 * epoch with no data still closes. Epochs are therefore expected to be dense
 * ingest-clock ticks starting at engine_config.first_epoch.
 *
 * End of stream: when every upstream of an operator has finished, the engine
 * closes the remaining epochs up to the highest final frontier, then calls
 * on_flush(final_epoch); whatever the operator emits there lands in that
 * final epoch, which then closes downstream as well.
 *
 * Backpressure is applied only at sources: a worker stops polling its
 * sources while more than max_inflight_batches of the batches it sent
 * through exchange edges are still unconsumed. Exchange never blocks a
 * sender (queues are unbounded), so there is no send-send deadlock.
 *
 * Threads. Every operator callback runs on the worker thread that owns the
 * instance; operator state needs no locks. The only cross-thread operations
 * are engine_stop() and engine_wake(), which may be called from any thread.
 *
 * Errors: functions return 0 or a negative WEFT_E* code (weft_strerror()).
 */
#ifndef WEFT_ENGINE_H
#define WEFT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- epochs ----------------------------------------------------------- */
/* Frontier value of a finished stream: nothing more will ever arrive. */
#define ENGINE_EPOCH_MAX UINT64_MAX

/* ---- records and batches ---------------------------------------------- */
/*
 * A batch is a run of records of one epoch, owned by the engine. Operators
 * see batches as const and must not keep pointers into them after their
 * callback returns (copy what they need).
 *
 * Records are either fixed-size (the producing output port declared
 * rec_size > 0) or variable-size (rec_size == 0): then each record is
 * stored as a 32-bit length followed by its bytes, padded to 8 bytes, and
 * every record starts 8-byte aligned. Use engine_batch_next() to iterate
 * either kind.
 */
struct engine_batch {
	uint64_t epoch;
	uint32_t count;    /* number of records */
	uint32_t used;     /* bytes of data[] in use */
	uint32_t cap;      /* bytes of data[] allocated */
	uint32_t rec_size; /* fixed record size, 0 = variable */
	struct engine_batch *next_free; /* engine-private: pool link */
	_Alignas(8) unsigned char data[];
};

/* Cursor over a batch; initialise with ENGINE_BATCH_CURSOR_INIT. */
struct engine_batch_cursor {
	uint32_t off;
	uint32_t pf; /* variable-size records: prefetched up to here */
};
#define ENGINE_BATCH_CURSOR_INIT {0, 0}

/* How far ahead of the cursor a batch of variable-size records is
 * prefetched. Each such record is found from the length of the one
 * before, so walking a batch is a chain of loads; when the batch was
 * written by another core, or long ago, each is a miss, and the
 * prefetcher does not see the chain coming. (perf annotate put 43 % of
 * the assembler's add_events at W=2 on that load.) Fixed-size records
 * are a plain stride, which the hardware follows. */
#define ENGINE_BATCH_PREFETCH 4096u

/* Returns the next record of b and stores its length in *len, or NULL at
 * the end. The pointer is 8-byte aligned and valid while the batch is. */
static inline const void *
engine_batch_next(const struct engine_batch *b, struct engine_batch_cursor *c,
                  uint32_t *len)
{
	if (c->off >= b->used)
		return NULL;
	if (b->rec_size) {
		const void *r = b->data + c->off;
		*len = b->rec_size;
		c->off += b->rec_size;
		return r;
	}
	uint32_t lim = b->used - c->off > ENGINE_BATCH_PREFETCH
	                   ? c->off + ENGINE_BATCH_PREFETCH : b->used;
	for (; c->pf < lim; c->pf += 64)
		__builtin_prefetch(b->data + c->pf);
	uint32_t l;
	__builtin_memcpy(&l, b->data + c->off, sizeof l);
	const void *r = b->data + c->off + 8;
	*len = l;
	c->off += 8 + ((l + 7u) & ~7u);
	return r;
}

/* ---- operators -------------------------------------------------------- */
struct engine_ctx; /* per (worker, operator) handle, owned by the engine */

enum engine_poll {
	ENGINE_POLL_DATA = 0, /* emitted or advanced something; poll again soon */
	ENGINE_POLL_IDLE = 1, /* nothing available now; engine may park a bit */
	ENGINE_POLL_DONE = 2, /* finished: all epochs it will ever use are closed */
};

/*
 * The operator interface. Every callback is optional except where noted.
 * `state` is what init() stored; it is private to one worker.
 */
struct engine_op_vtable {
	/* Create the instance for one worker. arg is the pointer given to
	 * engine_graph_add(); it is shared by all workers (read-only, or
	 * synchronised by its owner). Return 0 or a WEFT_E* code. An init
	 * that fails after storing *state still gets destroy(*state). */
	int (*init)(struct engine_ctx *ctx, void *arg, void **state);
	/* A batch arrived on input `port`. */
	void (*on_batch)(void *state, struct engine_ctx *ctx, unsigned port,
	                 const struct engine_batch *b);
	/* Every record of epoch <= epoch has been delivered on all inputs. */
	void (*on_epoch_close)(void *state, struct engine_ctx *ctx,
	                       uint64_t epoch);
	/* End of stream: emit what is left. Output lands in final_epoch. */
	void (*on_flush)(void *state, struct engine_ctx *ctx,
	                 uint64_t final_epoch);
	/* Sources only (operators with no inputs): produce some records.
	 * Should return within a few milliseconds. Required for sources. */
	enum engine_poll (*poll)(void *state, struct engine_ctx *ctx);
	/* Release the instance. Called once, after all threads stopped, for
	 * every instance whose init succeeded or stored a state. */
	void (*destroy)(void *state);
};

/* ---- graph construction (single-threaded, before engine_new) ---------- */
struct engine_graph;

/* Key of a record for exchange routing; arg is the pact's key_arg. */
typedef uint64_t (*engine_key_fn)(const void *rec, uint32_t len, void *arg);

/* The key function for records that begin with their 64-bit key (an
 * event's trace id, say). The engine recognises it and reads the key in
 * line instead of calling it, once per record. */
uint64_t engine_key_first_u64(const void *rec, uint32_t len, void *arg);

/* Returns a new empty graph, or NULL on allocation failure. Freed by
 * engine_graph_free() or handed over to engine_new(). */
struct engine_graph *engine_graph_new(void);
void engine_graph_free(struct engine_graph *g);

/*
 * Adds an operator with n_in inputs and n_out outputs; returns its node id
 * (>= 0) or a negative WEFT_E* code. rec_size[i] is the fixed record size of
 * output i, a multiple of 8 up to 1 MiB (so every record stays 8-byte
 * aligned), or 0 for variable-size records; rec_size may be NULL when
 * n_out == 0. An
 * operator with n_in == 0 is a source and must have vt->poll. name is copied.
 */
int engine_graph_add(struct engine_graph *g, const char *name,
                     const struct engine_op_vtable *vt, void *arg,
                     unsigned n_in, unsigned n_out, const uint32_t *rec_size);

/* Connects output `out` of node `from` to input `in` of node `to` (from <
 * to: nodes are added in topological order; an input takes one edge, an
 * output may feed several). key == NULL makes a pipeline edge; otherwise an
 * exchange edge routing each record to worker engine_route(key(rec), W). */
int engine_graph_connect(struct engine_graph *g, int from, unsigned out,
                         int to, unsigned in, engine_key_fn key,
                         void *key_arg);

/* ---- running ---------------------------------------------------------- */
struct engine_config {
	unsigned workers;              /* W; 0 = number of online cores */
	uint32_t batch_records;        /* max records per batch (default 1024;
	                                * small fixed-size batches cross to
	                                * another worker up to 32 in one) */
	uint32_t batch_bytes;          /* max data bytes per batch (default 64 KiB) */
	uint32_t max_inflight_batches; /* per worker, across exchange (default 256) */
	uint64_t first_epoch;          /* lowest epoch any record may carry (0) */
	uint32_t idle_park_max_us;     /* longest park while a source is idle (10 ms) */
};

void engine_config_default(struct engine_config *cfg);

struct engine;

/* Builds an engine from g (ownership of g passes to the engine, even on
 * failure) and cfg. On error returns NULL and writes a message naming the
 * problem into errstr. Free with engine_free(). */
struct engine *engine_new(struct engine_graph *g,
                          const struct engine_config *cfg,
                          char *errstr, size_t errlen);

/* Starts the worker threads, runs until every operator on every worker has
 * flushed, joins them. Returns 0 or a WEFT_E* code (an init failure). */
int engine_run(struct engine *e);

/* Asks every source to finish (engine_ctx_stopping() becomes true). Safe
 * from any thread and from a signal handler. */
void engine_stop(struct engine *e);

/* Wakes worker w (or all when w < 0) if it is parked: for sources fed from
 * other threads. Safe from any thread. */
void engine_wake(struct engine *e, int w);

/* Frees the engine and every operator instance (destroy()). */
void engine_free(struct engine *e);

unsigned engine_workers(const struct engine *e);

/* Counters, summed over workers; valid after engine_run() returned. */
struct engine_stats {
	uint64_t batches_sent;      /* through exchange queues */
	uint64_t records_sent;      /* through exchange queues */
	uint64_t punctuations_sent;
	uint64_t epochs_closed;     /* on_epoch_close calls, all operators */
	uint64_t parks;             /* times a worker parked */
	uint64_t backpressure_waits;/* source polls skipped by the in-flight bound */
	uint64_t max_epoch_closed;
};
void engine_get_stats(const struct engine *e, struct engine_stats *out);

/* ---- inside callbacks ------------------------------------------------- */
unsigned engine_ctx_worker(const struct engine_ctx *ctx);
unsigned engine_ctx_workers(const struct engine_ctx *ctx);
/* The engine the context's worker belongs to: for a source that lets
 * another thread wake its worker (engine_wake(e, engine_ctx_worker(ctx))). */
struct engine *engine_ctx_engine(const struct engine_ctx *ctx);
int engine_ctx_node(const struct engine_ctx *ctx);
/* True once engine_stop() was called: sources should finish. */
int engine_ctx_stopping(const struct engine_ctx *ctx);
/* The operator's current input frontier: epochs below it are closed. */
uint64_t engine_ctx_frontier(const struct engine_ctx *ctx);

/*
 * Emits one record of len bytes on output `out` at `epoch`. The epoch must
 * not be closed at this operator's output: it must be >= the epoch of the
 * batch being processed, or >= e inside on_epoch_close(e), or the final
 * epoch inside on_flush(); a source must not emit below its frontier.
 * Violations abort (they are programming errors that would break progress).
 * For fixed-size outputs len must equal the declared rec_size. Records are
 * copied; the caller keeps ownership of rec.
 */
void engine_emit(struct engine_ctx *ctx, unsigned out, uint64_t epoch,
                 const void *rec, uint32_t len);

/*
 * Emitting in place, for records built piece by piece (a decoder's output):
 * engine_emit_reserve() returns room for one record of up to cap bytes
 * (8-byte aligned) inside the batch the record will travel in; the caller
 * builds the record there and engine_emit_commit() publishes its first len
 * (<= cap) bytes. This saves the copy engine_emit() makes. The same rules
 * as engine_emit() hold for epoch. key must be the value the edge's key
 * function returns for the record to be written (checked in debug
 * builds); it is ignored on a pipeline edge. Not committing is allowed:
 * the room is simply reused. Nothing may come between the two calls
 * that emits on `out` or moves a source's frontier
 * (engine_source_advance): the record must still be open when committed. Returns NULL, and the caller uses engine_emit(), when the
 * output is fixed-size, has more than one edge, or cap exceeds a batch.
 */
void *engine_emit_reserve(struct engine_ctx *ctx, unsigned out,
                          uint64_t epoch, uint64_t key, uint32_t cap);
void engine_emit_commit(struct engine_ctx *ctx, unsigned out, uint32_t len);

/*
 * Keeping a batch instead of copying it: inside on_batch, for a batch that
 * came through an exchange edge, engine_batch_keep() hands b over to the
 * operator (the engine neither reuses nor frees it) and returns it; NULL
 * when it cannot (a pipeline batch, which the engine reuses at once: copy
 * what is needed). The operator gives it back on the same worker with
 * engine_batch_release() (any callback), or, outside the engine (destroy),
 * frees it with engine_batch_free().
 */
struct engine_batch *engine_batch_keep(struct engine_ctx *ctx,
                                       const struct engine_batch *b);
void engine_batch_release(struct engine_ctx *ctx, struct engine_batch *b);
/* An empty batch of the operator's own (cap data bytes; records of
 * rec_size bytes, 0: variable) that it fills by the layout above, or
 * NULL when out of memory; freed with engine_batch_free(). */
struct engine_batch *engine_batch_new(uint32_t cap, uint32_t rec_size,
                                      uint64_t epoch);
void engine_batch_free(struct engine_batch *b);

/* Sources: close every epoch below `frontier` (monotone; lower values are
 * ignored). Buffered records are sent before the punctuation. */
void engine_source_advance(struct engine_ctx *ctx, uint64_t frontier);

/* Source hint: when it returns ENGINE_POLL_IDLE, poll again after at most
 * us microseconds (default: the engine's own back-off). */
void engine_source_idle_hint(struct engine_ctx *ctx, uint32_t us);

/* engine_route's mixing multiplier (odd; engine_emit's in-line routing
 * uses it too, and must agree). */
#define ENGINE_ROUTE_MIX 0xd6e8feb86659fd93ULL

/* Worker a key is routed to: a 64-bit hash of key reduced to [0, workers). */
static inline unsigned
engine_route(uint64_t key, unsigned workers)
{
	/* One multiply by an odd constant, then Lemire's multiply-shift range
	 * reduction on the high half: every key bit reaches the high bits, so
	 * sequential, strided, ASCII-packed and random keys all spread evenly
	 * (test_route_spreads_structured_keys). The splitmix64 finaliser used
	 * before took twice the instructions on every exchanged record and
	 * spread these no better. */
	return (unsigned)((((key * ENGINE_ROUTE_MIX) >> 32) *
	                   (uint64_t)workers) >> 32);
}

#ifdef __cplusplus
}
#endif
#endif /* WEFT_ENGINE_H */

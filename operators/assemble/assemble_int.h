/*
 * assemble_int.h — internals shared by op_assemble.c (open traces, finish
 * rules) and op_trace_build.c (DAG resolution, canonical form, the output
 * record). Everything here belongs to one worker thread.
 */
#ifndef WEFT_OP_ASSEMBLE_INT_H
#define WEFT_OP_ASSEMBLE_INT_H

#include <stdint.h>

#include "cluster/cluster.h"
#include "operators/assemble/assemble.h"

/* An event as the builder reads it (op_trace_build.c): no text (texts
 * are interned per worker by symbol, see asm_texts). The first parent is
 * inline; more go to the trace's overflow array. */
struct asm_ev {
	uint64_t event_id;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t label_sym;
	uint64_t host_sym;
	uint64_t agent_sym;
	uint64_t parent0;    /* valid iff n_parents >= 1 */
	uint16_t n_parents;
	uint16_t flags;      /* OP_TEV_HAS_END, OP_TEV_ERROR */
	uint32_t extra;      /* index of parents 2.. in the trace's overflow */
};
_Static_assert(sizeof(struct asm_ev) == 64, "asm_ev is one cache line");

/* An event as an open trace stores it: 32 bytes, two to a cache line.
 * The (label, host, agent) symbols are one place, interned per worker
 * (asm_places), in place's low 27 bits; past the places limit the three
 * symbols go to the trace's overflow array instead (ASM_PLACE_EXTRA, and
 * the low bits are their index there). The event's flags share place's
 * other bits. The end is kept as the span's length from its start when
 * that fits 32 bits (4.29 s in ns; an end before the start does not fit).
 * The usual event, with at most one parent and such an end, is all here
 * (ASM_SEV_PARENT: parent0 is its parent). Any other (two parents or
 * more, or an end that does not fit) is ASM_SEV_OVF: parent0 is the index
 * of its words in the overflow array: a word with the parent count (and
 * ASM_OVF_END), the parents, then the end itself when ASM_OVF_END.
 * asm_finish.c (asm_flatten) expands stored events into struct asm_ev for
 * the builder. */
struct asm_sev {
	uint64_t event_id;
	uint64_t start_ns;
	uint64_t parent0;    /* the parent, or (ASM_SEV_OVF) an overflow index */
	uint32_t dur;        /* end_ns - start_ns, iff ASM_SEV_END */
	uint32_t place;      /* ASM_SEV_* | the place or an overflow index */
};
_Static_assert(sizeof(struct asm_sev) == 32, "a stored event is 32 bytes");
#define ASM_PLACE_EXTRA 0x80000000u /* the symbols are in the overflow */
#define ASM_SEV_OVF     0x40000000u /* parents (and end) in the overflow */
#define ASM_SEV_PARENT  0x20000000u /* one parent, in parent0 */
#define ASM_SEV_END     0x10000000u /* has an end (OP_TEV_HAS_END) */
#define ASM_SEV_ERROR   0x08000000u /* OP_TEV_ERROR */
#define ASM_SEV_INDEX   0x07ffffffu /* the place, or the symbols' index */
/* Places, and overflow words a trace may have (max_trace_extra at
 * most): their indexes fit ASM_SEV_INDEX. */
#define ASM_PLACES_MAX  ASM_SEV_INDEX
#define ASM_EXTRA_MAX   (ASM_SEV_INDEX + 1u)
/* In an ASM_SEV_OVF event's first overflow word, above the parent count:
 * its end follows the parents. */
#define ASM_OVF_END     0x10000u

/* Events of an open trace, in chunks of 6, 30, then 62 events (a 64-byte
 * header, then the events); see asm_mem.c. */
struct asm_chunk {
	struct asm_chunk *next;
	uint32_t cap;       /* room; a trace's chunks are full but its last */
	uint32_t pad[13];   /* a 64-byte header: ev[] starts a line */
	struct asm_sev ev[];
};
_Static_assert(sizeof(struct asm_chunk) == 64, "the chunk header is one line");

#define ASM_SLAB_BYTES (2u << 20) /* one huge page on x86-64 */
#define ASM_CLASSES 3           /* chunk sizes */
#define ASM_CHUNK_MAX_BYTES 2048u /* the largest: a trace's later chunks */
#define ASM_MEM_RECORD 3        /* the class of open-trace records (128 B) */
#define ASM_MEM_CLASSES 4

struct asm_slab;
struct asm_reserve;
/* Per worker: slabs with free units per size, and what is in use. */
struct asm_mem {
	struct asm_slab *partial[ASM_MEM_CLASSES];
	struct asm_reserve *reserve; /* NULL: every slab is mapped here */
	uint64_t mapped_inline;   /* slabs mapped here, the reserve empty */
	uint64_t chunk_bytes;     /* bytes of chunks and records handed out */
	uint64_t slab_bytes;      /* bytes of slabs mapped now */
	uint64_t peak_slab_bytes;
	uint32_t n_slabs[ASM_MEM_CLASSES]; /* mapped, per size */
	uint32_t n_empty[ASM_MEM_CLASSES]; /* of those, with no unit in use */
};
/* The size class of a trace's k-th chunk (0-based). */
uint32_t asm_chunk_class(uint32_t k);
/* A chunk of class cls (next NULL, cap set); NULL when out of memory. */
struct asm_chunk *asm_chunk_get(struct asm_mem *m, uint32_t cls);
void asm_chunk_put(struct asm_mem *m, struct asm_chunk *c);
/* A unit of class cls (uninitialised; ASM_MEM_RECORD: 128 bytes, 64-byte
 * aligned), and back. NULL when out of memory. */
void *asm_mem_get(struct asm_mem *m, uint32_t cls);
void asm_mem_put(struct asm_mem *m, void *p);
/* Unmaps what is left; every chunk must have been put back. */
void asm_mem_free(struct asm_mem *m);

/* Slabs faulted in ahead of need by a helper thread (asm_reserve.c).
 * asm_slab_map: a fresh 2 MiB-aligned slab advised for huge pages, or
 * NULL. */
void *asm_slab_map(void);
/* The config's reserve, started by the first caller; NULL when
 * cfg->ready_slabs is 0, cfg->slab_helper says no helper for `workers`
 * workers on this machine's cores, or it could not start. Pair with
 * detach. */
struct asm_reserve *asm_reserve_attach(struct op_assemble_config *cfg,
                                       unsigned workers);
void asm_reserve_detach(struct op_assemble_config *cfg, struct asm_reserve *r);
/* A ready slab (dirty: any content), or NULL when none is (or r is NULL). */
void *asm_reserve_take(struct asm_reserve *r);
/* 1 when the reserve keeps slab (it had room), else 0: unmap it. */
int asm_reserve_give(struct asm_reserve *r, void *slab);
/* Slabs ready now (0 for NULL). */
uint32_t asm_reserve_ready(struct asm_reserve *r);

/*
 * Events of future epochs (asm_stash.c): per epoch, its batches in
 * arrival order, kept from the engine (own == 0) or copied into the
 * stash's own batches (small ones). Everything here belongs to one worker.
 */
struct asm_stash_piece {
	struct engine_batch *b;
	int own;
};
struct asm_stash {
	uint64_t epoch;
	struct asm_stash_piece *piece;
	uint32_t n, cap;
	int used;
	uint64_t last_ns; /* when its last batch arrived */
};
#define ASM_STASH_SPARE 4 /* own batches kept for reuse */
struct asm_stashes {
	struct asm_stash *slot; /* grows with the epochs in flight */
	unsigned n_slot;
	uint64_t events;        /* events waiting */
	struct engine_batch *spare[ASM_STASH_SPARE];
	unsigned n_spare;
};
/* Adds b (on_batch, a future epoch's batch) to its epoch's stash. */
void asm_stash_add(struct asm_stashes *ss, struct engine_ctx *ctx,
                   const struct engine_batch *b, uint64_t now_ns);
/* The stash of epoch, or NULL; its lowest epoch (UINT64_MAX: none). */
struct asm_stash *asm_stash_get(struct asm_stashes *ss, uint64_t epoch);
uint64_t asm_stash_lowest(const struct asm_stashes *ss);
/* After its batches were applied: gives them back, frees the slot. */
void asm_stash_done(struct asm_stashes *ss, struct engine_ctx *ctx,
                    struct asm_stash *st);
/* Frees everything (destroy; kept batches too). */
void asm_stash_free(struct asm_stashes *ss);

/*
 * The finished-id set (asm_done.c): ids of traces emitted within the last
 * late_epochs epochs, so an event for one opens an amendment (LATE)
 * instead of a new, partial trace. A hash table over a FIFO ring of
 * (id, epoch) in emission order; expiry pops the ring.
 */
struct asm_done {
	uint64_t trace_id;
	uint64_t epoch;  /* emission epoch + 1 (0 marks an empty slot) */
};
struct asm_doneset {
	struct asm_done *tab, *ring;
	uint64_t cap, n, ring_cap, ring_max, ring_head, ring_len;
	uint32_t late_epochs;
};
/* 0 or WEFT_ENOMEM; ring_cap ids at most (the oldest go first). */
int asm_done_init(struct asm_doneset *d, uint64_t ring_cap, uint32_t late_epochs);
void asm_done_free(struct asm_doneset *d);
/* Remembers id, emitted in epoch (nothing when late_epochs is 0). */
void asm_done_add(struct asm_doneset *d, uint64_t id, uint64_t epoch);
/* 1 if id is remembered, which it then forgets (its amendment opens). */
int asm_done_take(struct asm_doneset *d, uint64_t id);
/* Forgets ids emitted late_epochs or more before epoch. */
void asm_done_expire(struct asm_doneset *d, uint64_t epoch);
/* Halves the table while it is at most 1/8 full (not below 4,096). */
void asm_done_shrink(struct asm_doneset *d);

/* Interned texts: symbol -> text, per worker. Texts longer than
 * max_text_bytes are cut; past max_texts entries new symbols get no text
 * (both counted by the caller through the return value). */
struct asm_texts {
	struct asm_text_slot { uint64_t sym; uint32_t off, len; } *tab;
	uint64_t cap, n, max_n;
	char *buf;
	uint64_t buf_len, buf_cap;
};
/* 0 stored/known, 1 stored but cut, 2 not stored (table full), <0 ENOMEM. */
int asm_texts_put(struct asm_texts *t, uint64_t sym, const char *s,
                  size_t len, uint32_t max_len);
/* Text of sym ("" when unknown); *len gets its length. */
const char *asm_texts_get(const struct asm_texts *t, uint64_t sym,
                          uint32_t *len);
void asm_texts_free(struct asm_texts *t);

/* Interned places: (label, host, agent) symbol triples -> dense 32-bit
 * ids, per worker, never forgotten; at most max_n of them. */
struct asm_places {
	struct asm_place_slot { uint64_t key; uint32_t id, used; } *tab;
	uint64_t cap;
	struct asm_place { uint64_t label, host, agent; } *v;
	uint32_t n, cap_v, max_n;
};
/* The id of the triple (interned now if new), or ASM_PLACE_EXTRA when the
 * table is full or out of memory (the caller then stores the symbols). */
uint32_t asm_places_put(struct asm_places *p, uint64_t label, uint64_t host,
                        uint64_t agent);
void asm_places_free(struct asm_places *p);

/* An open trace (op_assemble.c; the finish helper reads it too). */
struct asm_trace { /* from asm_mem.c's 128-byte units */
	uint64_t trace_id;
	uint64_t first_epoch, last_epoch;
	uint64_t last_ns;           /* wall time of the last event's batch */
	struct asm_chunk *head, *tail;
	struct asm_trace *prev, *next; /* LRU: head = least recently active */
	uint64_t *extra;            /* overflow parents */
	uint32_t n_extra, cap_extra;
	uint32_t n_events, events_seen, dropped;
	uint32_t flags;             /* OP_TRACE_LATE, TRUNCATED; ASM_END_SEEN */
	uint32_t src;               /* first event's tag; OP_TRACE_SRC_MANY */
	uint32_t n_chunks;
	/* The tail chunk's next free slot and its end (both NULL before the
	 * first chunk): every chunk before the tail is full, so a chunk keeps
	 * no count, and adding an event touches the record and the slot, not
	 * the chunk's header line as well. */
	struct asm_sev *slot, *slot_end;
};
_Static_assert(sizeof(struct asm_trace) <= 128, "a record fits its slab unit");
#define ASM_END_SEEN 0x10000u
#define ASM_PRE_ONLY 0x20000u /* every event so far was read again below the
                               * committed offset (OP_SRC_PRE) */

/* What the builder needs to know about a trace besides its events. */
struct asm_trace_meta {
	uint64_t trace_id;
	uint64_t first_epoch, last_epoch, emit_epoch;
	uint64_t idle_ns;
	uint64_t last_ns;
	uint32_t flags;       /* OP_TRACE_* decided by the assembler */
	uint32_t events_seen;
	uint32_t dropped;
	uint32_t src;         /* op_trace.src */
};

struct asm_build;

struct asm_build *asm_build_new(void);
void asm_build_free(struct asm_build *b);

/*
 * Builds the op_trace record of n events (ev[], with overflow parents in
 * extra[]): resolves parents by event id (duplicates kept once, unknown
 * parents become missing nodes), breaks cycles, finds roots, depth and
 * duration, computes the canonical form. *rec points into the builder
 * (valid until the next build). Returns 0 or WEFT_ENOMEM.
 */
int asm_build_trace(struct asm_build *b, const struct asm_trace_meta *m,
                    const struct asm_ev *ev, uint32_t n,
                    const uint64_t *extra, const struct asm_texts *texts,
                    const void **rec, uint32_t *len);

/* ---- finish helper (asm_finish.c) ----------------------------------------- */

/* What a thread needs to build finished traces: its builder and the
 * contiguous copy of a trace's events the builder reads. */
struct asm_fin_scratch {
	struct asm_build *build;
	struct asm_ev *flat;
	uint32_t flat_cap;
};

/* Builds item i of the posted window with sc; *rec points into sc->build. */
typedef void (*asm_fin_fn)(void *arg, struct asm_fin_scratch *sc, uint32_t i,
                           const void **rec, uint32_t *len);

/* Expands t's events into sc->flat, contiguous for the builder (each
 * stored event's place back into its three symbols); returns how many. */
uint32_t asm_flatten(const struct asm_places *p, struct asm_fin_scratch *sc,
                     const struct asm_trace *t);
/* Builds t's record with sc (m: the rest the builder needs): *rec points
 * into sc->build. Reads only t, the places and the texts. Aborts when
 * memory is out, as every per-event allocation of the assembler does. */
void asm_fin_build(const struct asm_places *p, const struct asm_texts *texts,
                   struct asm_fin_scratch *sc, const struct asm_trace *t,
                   const struct asm_trace_meta *m, const void **rec,
                   uint32_t *len);

struct asm_finisher;

/* Starts the helper thread (fn(arg, ...) builds an item); NULL when it
 * cannot (no memory, no thread): the worker then builds every trace. */
struct asm_finisher *asm_finisher_new(asm_fin_fn fn, void *arg);
void asm_finisher_free(struct asm_finisher *f); /* stops and joins it */
/* Puts out a window of n items (0 .. n-1, in emission order); the helper
 * takes them from the back. The previous window must have been waited
 * for. */
void asm_finisher_post(struct asm_finisher *f, uint32_t n);
/* The worker's next item, from the front: 1 and *i, or 0 when every item
 * is taken. */
int asm_finisher_take(struct asm_finisher *f, uint32_t *i);
/* Waits for the helper's last item; returns the first item it built (it
 * built every one from there to n - 1; n when none). */
uint32_t asm_finisher_wait(struct asm_finisher *f);
/* The helper's record of item i (valid until the next post). */
const void *asm_finisher_record(const struct asm_finisher *f, uint32_t i,
                                uint32_t *len);

#endif

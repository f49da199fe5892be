/*
 * assemble.h — the assemble room: the operator that gathers a trace's
 * events (exchanged by trace id) into its DAG and emits it, finished, as an
 * op_trace record (trace.h). Includes common/, cluster/, engine/ and the
 * ingest room.
 */
#ifndef WEFT_OPERATORS_ASSEMBLE_H
#define WEFT_OPERATORS_ASSEMBLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/common.h"
#include "engine/engine.h"
#include "operators/assemble/trace.h"
#include "operators/ingest/event.h"

/* ---- assemble operator (op_assemble.c) --------------------------------- */
/*
 * Input 0: event records, exchanged by trace id (op_event_trace_key), so a
 * worker owns the traces that hash to it. Output 0: one struct op_trace
 * record per finished trace (variable size), in the epoch it finished.
 *
 * A trace finishes when it has been idle for idle_epochs epochs (checked
 * as epochs close), or earlier at the end label once every parent is
 * there, or under the open-trace limit (oldest first, INCOMPLETE), or at
 * end of stream (FLUSHED). An event for a trace finished within the last
 * late_epochs epochs starts an amendment (LATE) instead of a new trace.
 * With max_age_epochs, a trace open that long is emitted INCOMPLETE|AGED
 * (checked every max(1, max_age_epochs / 8) epochs, so it goes out at
 * most 1/8 of the limit late).
 *
 * Sources that can lose a partition (weft serve) tag each event with
 * op_event.src = OP_SRC(slot, gen) and keep src_gen[slot], bumped (release)
 * when the slot is revoked, then bump *revocations. A trace remembers the
 * tag of its first event; once its slot's generation moved on it is
 * handed over: emitted FLUSHED|HANDED_OVER (not as finished: the new owner
 * re-reads it whole), at its next event or at the next epoch close. An
 * event whose tag's generation is not current is dropped and counted
 * (stale: read before the revocation, re-read by the new owner).
 *
 * Re-reading after a restart or a rebalance starts some way below the
 * committed offset, so that traces reaching past it are assembled whole
 * again; those events carry OP_SRC_PRE. A trace made only of them was
 * emitted before: it goes out FLUSHED|REPLAYED (not as finished).
 */
struct op_assemble_config {
	uint32_t idle_epochs;        /* G (default 2) */
	uint32_t max_trace_events;   /* stored per trace (default 100000) */
	uint64_t max_open_traces;    /* per worker (default 1048576) */
	uint32_t max_text_bytes;     /* label/host/agent text kept (256) */
	uint32_t late_epochs;        /* remember finished ids this long (64) */
	uint64_t max_texts;          /* distinct texts interned per worker (1 M) */
	uint64_t max_places;         /* distinct (label, host, agent) triples
	                              * interned per worker (256 K); events
	                              * past it keep their symbols in their
	                              * trace, 24 bytes more (place_overflow) */
	uint32_t max_trace_extra;    /* words of a trace's overflow array:
	                              * parents past the first, far ends,
	                              * symbols past max_places (default and
	                              * most 2^27, the stored index's width);
	                              * an event past it is dropped as past
	                              * max_trace_events */
	const char *end_label;       /* NULL: no early finish */
	uint64_t max_age_epochs;     /* 0: no age limit (default) */
	/* Bytes the open traces' events and records may hold in the whole
	 * process (each worker gets its share); past it the least recently
	 * active traces go out INCOMPLETE, as under max_open_traces, counted
	 * in budget_evictions. 0: none. Default 768 MiB. */
	uint64_t max_open_bytes;
	/* 2 MiB slabs for open traces' events that a helper thread keeps
	 * mapped and faulted in ahead of need, for all workers (asm_reserve.c):
	 * the page fault that clears a fresh huge page then happens off the
	 * workers' threads. 0: no helper; each worker faults its own slabs.
	 * Default 2 (4 MiB). Only under slab_helper (enum weft_helper), by
	 * default auto: where the workers have no spare core, the helper's
	 * faults only move to one of theirs: weft replay at W=2 on 2 cores
	 * took 2-8 % longer with it (bench/results/notes.md). */
	uint32_t ready_slabs;
	int slab_helper; /* enum weft_helper */
	struct asm_reserve *reserve; /* internal: the helper, while in use */
	/* A finish helper per worker (asm_finish.c): a thread that builds
	 * finished traces' records beside its worker when a close or the end
	 * of the input finishes many at once. Auto (the default), as for
	 * slab_helper (weft replay's default; weft serve's is off). The output
	 * is the same either way. */
	int finish_helper; /* enum weft_helper */
	/* Called on the worker's thread when a trace opens, with the worker's
	 * index, its first event's source tag and its first epoch; on_retag
	 * when a second source shows up in it (from src to OP_TRACE_SRC_MANY).
	 * The emitted record carries the last tag (op_trace.src). weft serve
	 * counts open traces per source in its commit ledger this way. NULL:
	 * nothing is called. */
	void (*on_open)(void *arg, unsigned worker, uint32_t src, uint64_t epoch);
	void (*on_retag)(void *arg, unsigned worker, uint32_t from, uint32_t to,
	                 uint64_t epoch);
	void *on_open_arg;
	/* Epoch close latency, called on the worker's thread as each epoch
	 * closes at this worker's assembler: the nanoseconds from the last
	 * batch of that epoch reaching the assembler (applied or stashed) to
	 * the end of its on_epoch_close, i.e. the wait for every worker's
	 * punctuation (the frontier passing the epoch) plus the close itself.
	 * An epoch that brought this worker no event is not measured. NULL:
	 * nothing is called (the default). */
	void (*on_epoch_closed)(void *arg, uint64_t ns);
	void *on_epoch_closed_arg;
	/* Revocations (see above; NULL: none): n_src slots. */
	const _Atomic uint32_t *src_gen;
	uint32_t n_src;
	const _Atomic uint64_t *revocations;
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t events, traces, late_events, late_traces, duplicates;
	_Atomic uint64_t missing, cycle_edges, truncated, dropped, incomplete;
	_Atomic uint64_t end_label_finishes;
	/* counted as they happen (rare; weft serve shows them live) */
	_Atomic uint64_t text_truncated, place_overflow; /* at epoch closes */
	_Atomic uint64_t aged, handed_over, stale_events, budget_evictions;
	_Atomic uint64_t replayed;         /* traces only of OP_SRC_PRE events */
	_Atomic uint64_t open_bytes;       /* now, over the workers (at closes) */
	_Atomic uint64_t peak_mapped_bytes; /* sum of each worker's peak slabs */
	_Atomic uint64_t slabs_mapped_inline; /* slabs a worker mapped itself,
	                                       * none ready (ready_slabs; at
	                                       * epoch closes) */
	_Atomic uint64_t finish_helped;    /* traces the finish helpers built
	                                    * (after each window) */
	_Atomic uint64_t peak_open_events; /* sum over workers of each one's peak */
	_Atomic uint64_t peak_open_traces; /* same, traces */
	pthread_mutex_t lock;            /* guards the histograms below */
	struct weft_hist emit_latency_ns;  /* last event -> emission, per trace */
	struct weft_hist close_ns;         /* time spent in on_epoch_close */
};

/* Defaults, and the lock. Pair with op_assemble_config_destroy(). */
void op_assemble_config_init(struct op_assemble_config *cfg);
void op_assemble_config_destroy(struct op_assemble_config *cfg);
/* Whether cfg's slab helper runs for `workers` workers on this machine:
 * ready_slabs and slab_helper (the reserve may still fail to start). */
int op_assemble_slab_helper_runs(const struct op_assemble_config *cfg,
                                 unsigned workers);
/* 0 or WEFT_EINVAL with a message naming the key. */
int op_assemble_config_check(const struct op_assemble_config *cfg,
                             char *errstr, size_t errlen);
extern const struct engine_op_vtable op_assemble_vtable; /* arg: op_assemble_config */


#endif /* WEFT_OPERATORS_ASSEMBLE_H */

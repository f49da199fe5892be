/*
 * learn.h — the learning loop (issue 22, item 4): the model keeps
 * learning from the traffic it checks, without learning the faults.
 *
 * What is learned from (learn_pick.c, the rules, no threads):
 *   - a reservoir (Vitter's algorithm R, uniform over one period) of
 *     traces judged normal;
 *   - traces judged unknown_structure are candidates, counted per
 *     structure (op_trace.signature: the repetition-insensitive canonical
 *     shape) in a bounded table, a few example traces kept per structure
 *     (reservoir again). A structure is promoted — its examples join the
 *     training set — once it recurred in `promote_periods` consecutive
 *     periods with at least `promote_min` traces in each: a new command
 *     that appears and stays. A structure with no trace in a period leaves
 *     the table (a promoted one too: its traces are normal by then and
 *     feed the reservoir);
 *   - never: slow, incomplete, late traces, and any trace carrying an
 *     exception marker (OP_TRACE_ERROR), whatever its verdict — injected
 *     or real faults recur too, and must stay flagged.
 * A period ends at each retrain tick (every `every_epochs` closed epochs
 * or `every_ms`); then the reservoir starts over.
 *
 * The loop (learn.c): the check operator's workers offer traces through a
 * bounded, lock-protected buffer (a trace that finds it full is dropped
 * and counted); a thread of its own drains it, and at each tick ends the
 * period and, when the training set holds at least `min_sample` traces,
 * trains a model with the trainer `weft train` uses (the current model's
 * parameters, one clustering thread), keeps the current file as a version
 * (MODEL.vN, the last `keep`) and writes the new one, then asks the check
 * operator to reload: the swap is the SIGHUP / file-change swap, at an
 * epoch boundary. Each retrain logs one change report (sample, templates
 * and pieces added and removed against the model replaced, structures
 * promoted) and updates the counters below.
 */
#ifndef WEFT_OPERATORS_CHECK_LEARN_H
#define WEFT_OPERATORS_CHECK_LEARN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "operators/assemble/trace.h"

struct op_check_config;

struct op_learn_config {
	int enabled;               /* 0: no learning (the default) */
	uint64_t every_epochs;     /* retrain every N closed epochs (0: off) */
	uint64_t every_ms;         /* and/or every T ms of wall time (0: off) */
	uint32_t reservoir;        /* normal traces sampled per period (2000) */
	uint32_t candidates;       /* unknown structures tracked (1024) */
	uint32_t examples;         /* example traces kept per structure (8) */
	uint32_t promote_periods;  /* consecutive periods a structure recurs (2) */
	uint32_t promote_min;      /* ... with at least this many traces each (20) */
	uint32_t min_sample;       /* fewer training traces: no retrain (200) */
	uint32_t keep;             /* model versions kept (5) */
	uint32_t buffer;           /* traces waiting for the learner thread (4096) */
	uint64_t idle_ms;          /* with every_epochs: no trace for this long
	                            * ends the open period once its epochs
	                            * closed (1000; 0: only a later trace does) */
	uint64_t seed;             /* sampling (1) */
	/* log lines (change reports); NULL: "weft learn: ..." on stderr */
	void (*log)(const char *level, const char *fmt, ...);
};
void op_learn_config_default(struct op_learn_config *c);

/* ---- the rules (learn_pick.c) ------------------------------------------ */
struct op_learn_pick;
struct op_learn_period {
	uint64_t sample;           /* training traces: reservoir + promoted */
	uint64_t reservoir;        /* of which from the reservoir */
	uint32_t promoted;         /* structures promoted at this period's end */
	uint64_t promoted_sig[4];  /* the first of them */
	uint32_t tracked;          /* structures in the table */
};
int op_learn_pick_new(const struct op_learn_config *c, struct op_learn_pick **out);
void op_learn_pick_free(struct op_learn_pick *p);
/* Offers one trace with its verdict (enum op_verdict). p takes t (a
 * malloc'd copy) and frees it when it is not kept. Returns 1 when kept
 * (reservoir or examples), 0 otherwise. */
int op_learn_pick_add(struct op_learn_pick *p, struct op_trace *t, unsigned verdict);
/* 1 when the rules may use a trace of this verdict and flags at all. */
int op_learn_usable(unsigned verdict, uint32_t flags);
/* Ends a period: promotions, table upkeep. The training set of the period
 * that ended is valid until op_learn_pick_reset(). */
void op_learn_pick_period(struct op_learn_pick *p, struct op_learn_period *out);
/* The training set: n traces (borrowed). */
const struct op_trace *const *op_learn_pick_sample(struct op_learn_pick *p, size_t *n);
/* Empties the reservoir: a new period samples anew. */
void op_learn_pick_reset(struct op_learn_pick *p);
/* Counters of the rules. */
struct op_learn_pick_stats {
	uint64_t normal, candidates, refused, table_full, promoted;
};
void op_learn_pick_stats(const struct op_learn_pick *p, struct op_learn_pick_stats *out);

/* ---- the loop (learn.c) ------------------------------------------------- */
struct op_learn;
struct op_learn_stats {
	uint64_t retrains, skipped_small_sample, errors, offered, buffer_full;
	uint64_t idle_ends;        /* periods ended by idle_ms */
	uint64_t last_sample, templates, pieces, promoted;
	uint64_t templates_added, templates_removed, pieces_added, pieces_removed;
	uint64_t version;          /* version number of the model in use: the
	                            * versions kept before it + 1 (0: none yet) */
	struct op_learn_pick_stats pick;
};
/* Starts the learner thread for check (its model_path is written). 0 or
 * WEFT_E* with a message. */
int op_learn_start(struct op_check_config *check, const struct op_learn_config *c,
                   struct op_learn **out, char *errstr, size_t errlen);
/* Stops and joins the thread (again: nothing). finish 1 (a file run
 * that ended): the traces still waiting are handed to the rules first, so
 * every period they close is retrained (what is learned from a file does
 * not depend on thread timing); 0 (a service stopping): they are dropped.
 * The period still open is never retrained at stop. NULL is fine. */
void op_learn_stop(struct op_learn *l, int finish);
/* Stops (finish 0) and frees everything. NULL is fine. */
void op_learn_free(struct op_learn *l);
/* One summary line (for weft replay); NULL prints nothing. */
void op_learn_print_summary(struct op_learn *l, FILE *f);
/* From a check worker: offers a checked trace (copied when usable). */
void op_learn_offer(struct op_learn *l, const struct op_trace *t, unsigned verdict);
void op_learn_get_stats(struct op_learn *l, struct op_learn_stats *out);

#endif /* WEFT_OPERATORS_CHECK_LEARN_H */

/*
 * asm_stash.c — the events of future epochs, waiting for their epoch.
 *
 * Workers (and a serve worker's partitions) run a few epochs apart, so a
 * batch of a later epoch can reach the assembler before the present one
 * closes; op_assemble.c applies it only when its epoch becomes present.
 * Such a batch used to be copied record by record into a growing buffer,
 * and at one serve worker that was nearly every event (its partitions
 * run ahead of the slowest one): a copy, the buffer's regrowth and page
 * faults, and a second pass without add_events' prefetching.
 *
 * A stash is now a list of batches in arrival order. A batch at least
 * half full is kept as it is (engine_batch_keep: no copy). A smaller one
 * is copied whole (its records are laid out as in any batch) to the end
 * of a batch of the stash's own, so a trickle of small batches does not
 * pin a 64 KiB engine batch per few events. Applying an epoch hands each
 * batch to add_events, then gives the kept ones back to the engine;
 * a few own batches are kept for reuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "operators/assemble/assemble_int.h"

#define OWN_BYTES (64u * 1024u)

static void
oom(void)
{
	fprintf(stderr, "weft assemble: out of memory\n");
	abort();
}

/* The stash of a future epoch (found, or claimed: slots are reused, the
 * array grows with the number of future epochs in flight). */
static struct asm_stash *
stash_for(struct asm_stashes *ss, uint64_t epoch)
{
	struct asm_stash *free_one = NULL;
	for (unsigned i = 0; i < ss->n_slot; i++) {
		if (ss->slot[i].used && ss->slot[i].epoch == epoch)
			return &ss->slot[i];
		if (!ss->slot[i].used && !free_one)
			free_one = &ss->slot[i];
	}
	if (!free_one) {
		unsigned was = ss->n_slot;
		if (WEFT_GROW(ss->slot, ss->n_slot, was + 1, 8))
			oom();
		memset(ss->slot + was, 0, (ss->n_slot - was) * sizeof *ss->slot);
		free_one = ss->slot + was;
	}
	free_one->used = 1;
	free_one->epoch = epoch;
	free_one->n = 0;
	return free_one;
}

static void
piece_add(struct asm_stash *st, struct engine_batch *b, int own)
{
	if (st->n == st->cap && WEFT_GROW(st->piece, st->cap, st->n + 1, 16))
		oom();
	st->piece[st->n].b = b;
	st->piece[st->n].own = own;
	st->n++;
}

/* An own batch with room for `need` bytes of records like b's. */
static struct engine_batch *
own_get(struct asm_stashes *ss, const struct engine_batch *b, uint32_t need)
{
	if (need <= OWN_BYTES && ss->n_spare) {
		struct engine_batch *o = ss->spare[--ss->n_spare];
		o->epoch = b->epoch;
		o->count = o->used = 0;
		o->rec_size = b->rec_size;
		return o;
	}
	struct engine_batch *o = engine_batch_new(need > OWN_BYTES ? need : OWN_BYTES,
	                                          b->rec_size, b->epoch);
	if (!o)
		oom();
	return o;
}

void
asm_stash_add(struct asm_stashes *ss, struct engine_ctx *ctx,
              const struct engine_batch *b, uint64_t now_ns)
{
	struct asm_stash *st = stash_for(ss, b->epoch);
	st->last_ns = now_ns;
	ss->events += b->count;
	struct engine_batch *kb;
	if (b->used >= b->cap / 2 && (kb = engine_batch_keep(ctx, b))) {
		piece_add(st, kb, 0);
		return;
	}
	struct engine_batch *o = st->n && st->piece[st->n - 1].own
	                             ? st->piece[st->n - 1].b : NULL;
	if (!o || o->rec_size != b->rec_size || o->cap - o->used < b->used) {
		o = own_get(ss, b, b->used);
		piece_add(st, o, 1);
	}
	memcpy(o->data + o->used, b->data, b->used);
	o->used += b->used;
	o->count += b->count;
}

struct asm_stash *
asm_stash_get(struct asm_stashes *ss, uint64_t epoch)
{
	for (unsigned i = 0; i < ss->n_slot; i++)
		if (ss->slot[i].used && ss->slot[i].epoch == epoch)
			return &ss->slot[i];
	return NULL;
}

uint64_t
asm_stash_lowest(const struct asm_stashes *ss)
{
	uint64_t lo = UINT64_MAX;
	for (unsigned i = 0; i < ss->n_slot; i++)
		if (ss->slot[i].used && ss->slot[i].epoch < lo)
			lo = ss->slot[i].epoch;
	return lo;
}

void
asm_stash_done(struct asm_stashes *ss, struct engine_ctx *ctx,
               struct asm_stash *st)
{
	for (uint32_t i = 0; i < st->n; i++) {
		struct engine_batch *b = st->piece[i].b;
		ss->events -= b->count;
		if (!st->piece[i].own)
			engine_batch_release(ctx, b);
		else if (b->cap == OWN_BYTES && ss->n_spare < ASM_STASH_SPARE)
			ss->spare[ss->n_spare++] = b;
		else
			engine_batch_free(b);
	}
	st->n = 0;
	st->used = 0;
}

void
asm_stash_free(struct asm_stashes *ss)
{
	for (unsigned i = 0; i < ss->n_slot; i++) {
		struct asm_stash *st = &ss->slot[i];
		for (uint32_t k = 0; k < (st->used ? st->n : 0); k++)
			engine_batch_free(st->piece[k].b);
		free(st->piece);
	}
	free(ss->slot);
	for (unsigned i = 0; i < ss->n_spare; i++)
		engine_batch_free(ss->spare[i]);
	memset(ss, 0, sizeof *ss);
}

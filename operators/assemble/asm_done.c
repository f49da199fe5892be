/*
 * asm_done.c — the assembler's finished-id set (assemble_int.h): which
 * traces were emitted within the last late_epochs epochs.
 *
 * An operators/assemble/hash_tab.h table (id -> emission epoch + 1) over
 * a FIFO ring of the same pairs in emission order. Expiry pops the ring
 * from the oldest and removes its id unless the id was emitted again
 * since (its table entry then holds a newer epoch). The ring is bounded
 * (the oldest ids go first when it is full at its limit). Both follow
 * the ids actually remembered: the table starts at 4,096 slots, doubles
 * at load 1/2 and halves below 1/8; the ring starts at 4,096 entries,
 * doubles when full (up to its limit) and halves below 1/8 full. Sized
 * for the worst case from the start they were 48 MiB per worker, and
 * after a burst of finished traces the memory would stay.
 *
 * Everything here belongs to one worker thread.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "operators/assemble/assemble_int.h"
#include "operators/assemble/hash_tab.h"

_Static_assert(offsetof(struct asm_done, trace_id) == 0, "key first");

#define DONE_MIN_CAP 4096u

static int
done_slot_used(const void *slot)
{
	return ((const struct asm_done *)slot)->epoch != 0;
}

int
asm_done_init(struct asm_doneset *d, uint64_t ring_cap, uint32_t late_epochs)
{
	d->late_epochs = late_epochs;
	d->ring_max = ring_cap ? ring_cap : 1;
	d->ring_cap = d->ring_max < DONE_MIN_CAP ? d->ring_max : DONE_MIN_CAP;
	d->cap = DONE_MIN_CAP;
	d->tab = calloc(d->cap, sizeof *d->tab);
	d->ring = calloc(d->ring_cap, sizeof *d->ring);
	return d->tab && d->ring ? 0 : WEFT_ENOMEM;
}

/* Lays the ring's entries out from 0 in a ring of ncap (>= ring_len). */
static int
ring_resize(struct asm_doneset *d, uint64_t ncap)
{
	struct asm_done *nr = malloc(ncap * sizeof *nr);
	if (!nr)
		return WEFT_ENOMEM;
	for (uint64_t i = 0; i < d->ring_len; i++)
		nr[i] = d->ring[(d->ring_head + i) % d->ring_cap];
	free(d->ring);
	d->ring = nr;
	d->ring_cap = ncap;
	d->ring_head = 0;
	return 0;
}

void
asm_done_free(struct asm_doneset *d)
{
	free(d->tab);
	free(d->ring);
	d->tab = d->ring = NULL;
}

static struct asm_done *
find(struct asm_doneset *d, uint64_t id)
{
	return &d->tab[hash_tab_probe(d->tab, d->cap, sizeof *d->tab, id,
	                              done_slot_used)];
}

static void
remove_id(struct asm_doneset *d, uint64_t id)
{
	struct asm_done *e = find(d, id);
	if (!e->epoch)
		return;
	hash_tab_delete(d->tab, d->cap, sizeof *d->tab, (uint64_t)(e - d->tab),
	                done_slot_used);
	d->n--;
}

/* Pops the ring while its oldest entry expired (or once, to make room). */
static void
expire(struct asm_doneset *d, uint64_t epoch, int make_room)
{
	while (d->ring_len) {
		struct asm_done *r = &d->ring[d->ring_head];
		if (!make_room && r->epoch + d->late_epochs > epoch)
			return;
		if (find(d, r->trace_id)->epoch == r->epoch) /* not re-finished */
			remove_id(d, r->trace_id);
		d->ring_head = (d->ring_head + 1) % d->ring_cap;
		d->ring_len--;
		make_room = 0;
	}
}

void
asm_done_expire(struct asm_doneset *d, uint64_t epoch)
{
	expire(d, epoch, 0);
}

static int
rehash(struct asm_doneset *d, uint64_t ncap)
{
	struct asm_done *nt = hash_tab_rehash(d->tab, d->cap, ncap, sizeof *nt,
	                                      done_slot_used);
	if (!nt)
		return WEFT_ENOMEM;
	d->tab = nt;
	d->cap = ncap;
	return 0;
}

void
asm_done_add(struct asm_doneset *d, uint64_t id, uint64_t epoch)
{
	if (!d->late_epochs)
		return;
	if (d->ring_len == d->ring_cap &&
	    (d->ring_cap == d->ring_max ||
	     ring_resize(d, d->ring_cap * 2 < d->ring_max ? d->ring_cap * 2
	                                                  : d->ring_max)))
		expire(d, epoch, 1); /* at its limit (or out of memory) */
	if (2 * (d->n + 1) > d->cap && rehash(d, d->cap * 2)) {
		fprintf(stderr, "weft assemble: out of memory\n");
		abort();
	}
	struct asm_done *e = find(d, id);
	if (!e->epoch)
		d->n++;
	e->trace_id = id;
	e->epoch = epoch + 1;
	d->ring[(d->ring_head + d->ring_len) % d->ring_cap] =
	    (struct asm_done){id, epoch + 1};
	d->ring_len++;
}

int
asm_done_take(struct asm_doneset *d, uint64_t id)
{
	if (!d->n || !find(d, id)->epoch)
		return 0;
	remove_id(d, id);
	return 1;
}

void
asm_done_shrink(struct asm_doneset *d)
{
	uint64_t c = d->cap;
	while (c > DONE_MIN_CAP && 8 * d->n < c)
		c /= 2;
	if (c != d->cap)
		(void)rehash(d, c); /* out of memory: stays as it is */
	c = d->ring_cap;
	while (c > DONE_MIN_CAP && 8 * d->ring_len < c)
		c /= 2;
	if (c != d->ring_cap)
		(void)ring_resize(d, c);
}

/*
 * asm_mem.c — the memory of open traces' events: chunks in three sizes,
 * carved from 2 MiB slabs, and slabs given back when they empty.
 *
 * A trace's first chunk holds 6 events (256 bytes), its second 30
 * (1 KiB), every later one 62 (2 KiB), so a one-event trace costs 256
 * bytes, not a page. Each chunk starts with a 64-byte header. A trace's
 * last chunk is on average half empty: later chunks of 2 KiB instead of
 * 4 KiB halve that, for a header more per 62 events; with 40-byte events
 * (49 to a chunk) that took the slabs of 3,000 open 343-event traces
 * from 56 to 50 MiB at no cost in instructions (callgrind, within
 * 0.02 %); the 32-byte events then took them to 38 MiB. The open traces'
 * records (struct asm_trace, up to 128 bytes) come from slabs of their
 * own size, so they go back with the chunks after a burst (from malloc,
 * the few still in use pinned many of the allocator's pages).
 *
 * Slabs: 2 MiB, aligned to 2 MiB and advised for transparent huge pages
 * (touching buffered events page by page cost a page fault per chunk,
 * 7-8 % of a replay; a huge page costs one per slab). A slab serves one
 * size; its first unit is its header (free list, counts, links), found
 * from any chunk by masking the address. A new slab comes from the
 * reserve that a helper thread keeps faulted in (asm_reserve.c), else it
 * is mapped here; its units are carved in address order as first needed.
 * Slabs with free chunks are on their size's list; a chunk is taken from
 * the first (a returned one before a never-used one). When a slab's last
 * chunk comes back, the slab is empty. A size keeps empty slabs up to an
 * eighth of its slabs in use (at least one): under steady traffic, where
 * slabs empty and fill all the time, that spares mapping and zeroing a
 * fresh 2 MiB slab each time (a page fault that clears a huge page);
 * past it the empty slab goes back to the reserve if it has room, else
 * it is unmapped at once, so after a burst of open traces the memory goes
 * back to the system as the traces finish, instead of staying with the
 * worker.
 *
 * Everything here belongs to one worker thread (the reserve has its own
 * lock).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "operators/assemble/assemble_int.h"

struct asm_slab {
	struct asm_slab *prev, *next; /* on its class's list while it has room */
	struct asm_chunk *free;       /* free chunks of this slab */
	uint32_t n_free, n_total;
	uint32_t carved; /* units [carved, n_total] were never handed out */
	uint32_t cls;
	int listed;
};
_Static_assert(sizeof(struct asm_slab) <= 128, "the header fits the smallest unit");

static const uint32_t class_bytes[ASM_MEM_CLASSES] = {256, 1024, ASM_CHUNK_MAX_BYTES, 128};

uint32_t
asm_chunk_class(uint32_t k)
{
	return k < ASM_CLASSES ? k : ASM_CLASSES - 1;
}

static struct asm_slab *
slab_of(const struct asm_chunk *c)
{
	return (struct asm_slab *)((uintptr_t)c & ~(uintptr_t)(ASM_SLAB_BYTES - 1));
}

static void
list_add(struct asm_mem *m, struct asm_slab *sl)
{
	struct asm_slab **head = &m->partial[sl->cls];
	sl->prev = NULL;
	sl->next = *head;
	if (*head)
		(*head)->prev = sl;
	*head = sl;
	sl->listed = 1;
}

static void
list_del(struct asm_mem *m, struct asm_slab *sl)
{
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		m->partial[sl->cls] = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	sl->prev = sl->next = NULL;
	sl->listed = 0;
}

static struct asm_slab *
slab_new(struct asm_mem *m, uint32_t cls)
{
	unsigned char *base = asm_reserve_take(m->reserve);
	if (!base) {
		if (!(base = asm_slab_map()))
			return NULL;
		m->mapped_inline++;
	}
	struct asm_slab *sl = (struct asm_slab *)(void *)base;
	memset(sl, 0, sizeof *sl);
	sl->cls = cls;
	/* the first unit is the header; the others are carved in address
	 * order as they are first needed, so a new slab is not written
	 * through at once */
	sl->n_total = ASM_SLAB_BYTES / class_bytes[cls] - 1;
	sl->n_free = sl->n_total;
	sl->carved = 1;
	list_add(m, sl);
	m->n_slabs[cls]++;
	m->n_empty[cls]++;
	m->slab_bytes += ASM_SLAB_BYTES;
	if (m->slab_bytes > m->peak_slab_bytes)
		m->peak_slab_bytes = m->slab_bytes;
	return sl;
}

void *
asm_mem_get(struct asm_mem *m, uint32_t cls)
{
	struct asm_slab *sl = m->partial[cls];
	if (!sl && !(sl = slab_new(m, cls)))
		return NULL;
	if (sl->n_free == sl->n_total)
		m->n_empty[cls]--;
	struct asm_chunk *c = sl->free; /* a free unit's first word links it */
	if (c)
		sl->free = c->next;
	else /* never used yet */
		c = (struct asm_chunk *)(void *)((unsigned char *)sl +
		                                 (size_t)sl->carved++ * class_bytes[cls]);
	if (--sl->n_free == 0)
		list_del(m, sl);
	m->chunk_bytes += class_bytes[cls];
	return c;
}

struct asm_chunk *
asm_chunk_get(struct asm_mem *m, uint32_t cls)
{
	struct asm_chunk *c = asm_mem_get(m, cls);
	if (!c)
		return NULL;
	c->next = NULL;
	c->cap = (class_bytes[cls] - (uint32_t)sizeof *c) / (uint32_t)sizeof(struct asm_sev);
	return c;
}

void
asm_chunk_put(struct asm_mem *m, struct asm_chunk *c)
{
	asm_mem_put(m, c);
}

static void
slab_unmap(struct asm_mem *m, struct asm_slab *sl)
{
	uint32_t cls = sl->cls;
	list_del(m, sl);
	if (!asm_reserve_give(m->reserve, sl))
		munmap(sl, ASM_SLAB_BYTES);
	m->slab_bytes -= ASM_SLAB_BYTES;
	m->n_slabs[cls]--;
	m->n_empty[cls]--;
}

/* Empty slabs a size keeps: an eighth of those in use, at least one. */
static uint32_t
keep_empty(const struct asm_mem *m, uint32_t cls)
{
	uint32_t used = m->n_slabs[cls] - m->n_empty[cls];
	return used / 8 > 1 ? used / 8 : 1;
}

void
asm_mem_put(struct asm_mem *m, void *p)
{
	struct asm_chunk *c = p;
	struct asm_slab *sl = slab_of(c);
	uint32_t cls = sl->cls;
	m->chunk_bytes -= class_bytes[cls];
	c->next = sl->free;
	sl->free = c;
	sl->n_free++;
	if (!sl->listed)
		list_add(m, sl);
	if (sl->n_free != sl->n_total)
		return;
	m->n_empty[cls]++;
	if (m->n_empty[cls] <= keep_empty(m, cls))
		return;
	/* past the allowance: this one goes back, then any kept while more
	 * slabs were in use (unmapping an empty slab leaves the allowance) */
	slab_unmap(m, sl);
	for (struct asm_slab *x = m->partial[cls], *nx;
	     x && m->n_empty[cls] > keep_empty(m, cls); x = nx) {
		nx = x->next;
		if (x->n_free == x->n_total)
			slab_unmap(m, x);
	}
}

void
asm_mem_free(struct asm_mem *m)
{
	for (uint32_t k = 0; k < ASM_MEM_CLASSES; k++)
		while (m->partial[k]) {
			struct asm_slab *sl = m->partial[k];
			list_del(m, sl);
			munmap(sl, ASM_SLAB_BYTES);
		}
	/* slabs with no free chunk are off the lists: a caller frees all
	 * chunks (every open trace) before this, so none is left */
	memset(m, 0, sizeof *m);
}

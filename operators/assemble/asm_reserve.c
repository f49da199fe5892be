/*
 * asm_reserve.c — 2 MiB slabs mapped and faulted in ahead of need, by a
 * helper thread, for every worker's assembler in the process.
 *
 * The first write to a fresh slab costs a page fault that clears a huge
 * page (clear_page_erms). While open traces grow, that fault lands on the
 * worker's thread once per 2 MiB of buffered events: 10-14 % of a replay
 * or a serve run on one worker, when every trace is open at once. Here a
 * helper thread keeps up to op_assemble_config.ready_slabs slabs mapped,
 * advised for huge pages and touched, and a worker takes one instead of
 * mapping its own; an emptied slab that its worker gives up comes back
 * here while there is room, so it is not unmapped and faulted in again.
 * When the reserve is empty the worker maps a slab itself, as before, and
 * the miss is counted (slabs_mapped_inline).
 *
 * Slabs here are dirty (a given-back one holds old chunks): asm_mem.c
 * initialises everything it reads.
 *
 * Threads: the reserve is shared by the workers of one op_assemble_config
 * (attach/detach under cfg->lock; the last detach stops the helper). Take
 * and give hold the reserve's mutex, once per 2 MiB slab.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "operators/assemble/assemble_int.h"

struct asm_reserve {
	pthread_mutex_t lock;
	pthread_cond_t low; /* signalled when a slab is taken or on stop */
	void **ready;
	uint32_t n, cap;
	uint32_t users; /* under the config's lock, not this one */
	int stop;
	pthread_t helper;
};

void *
asm_slab_map(void)
{
	/* 2 MiB-aligned: map twice the size, trim both ends */
	size_t len = 2 * (size_t)ASM_SLAB_BYTES;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)p + ASM_SLAB_BYTES - 1) & ~(uintptr_t)(ASM_SLAB_BYTES - 1);
	size_t head = a - (uintptr_t)p;
	if (head)
		munmap(p, head);
	size_t tail = len - head - ASM_SLAB_BYTES;
	if (tail)
		munmap((unsigned char *)a + ASM_SLAB_BYTES, tail);
#ifdef MADV_HUGEPAGE
	/* advice only: without huge pages it is 4 KiB pages */
	(void)madvise((void *)a, ASM_SLAB_BYTES, MADV_HUGEPAGE);
#endif
	return (void *)a;
}

static void *
helper_main(void *arg)
{
	struct asm_reserve *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stop && r->n >= r->cap)
			pthread_cond_wait(&r->low, &r->lock);
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->lock);
		volatile unsigned char *p = asm_slab_map();
		if (p) /* one write per small page: a huge page faults at the first */
			for (size_t off = 0; off < ASM_SLAB_BYTES; off += 4096)
				p[off] = 0;
		pthread_mutex_lock(&r->lock);
		if (!p) /* out of memory: the workers map (and fail) themselves */
			break;
		if (r->stop || r->n >= r->cap) {
			munmap((void *)p, ASM_SLAB_BYTES);
			continue;
		}
		r->ready[r->n++] = (void *)p;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void
reserve_free(struct asm_reserve *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		munmap(r->ready[i], ASM_SLAB_BYTES);
	pthread_cond_destroy(&r->low);
	pthread_mutex_destroy(&r->lock);
	free(r->ready);
	free(r);
}

static struct asm_reserve *
reserve_new(uint32_t cap)
{
	struct asm_reserve *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->ready = calloc(cap, sizeof *r->ready);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->low, NULL);
	r->cap = cap;
	if (!r->ready || pthread_create(&r->helper, NULL, helper_main, r)) {
		reserve_free(r);
		return NULL;
	}
	return r;
}

int
op_assemble_slab_helper_runs(const struct op_assemble_config *cfg,
                             unsigned workers)
{
	return cfg->ready_slabs &&
	       weft_helper_wanted(cfg->slab_helper, workers, weft_cores());
}

struct asm_reserve *
asm_reserve_attach(struct op_assemble_config *cfg, unsigned workers)
{
	if (!op_assemble_slab_helper_runs(cfg, workers))
		return NULL;
	pthread_mutex_lock(&cfg->lock);
	if (!cfg->reserve)
		cfg->reserve = reserve_new(cfg->ready_slabs);
	struct asm_reserve *r = cfg->reserve;
	if (r)
		r->users++;
	pthread_mutex_unlock(&cfg->lock);
	return r; /* NULL: each worker maps its own slabs */
}

void
asm_reserve_detach(struct op_assemble_config *cfg, struct asm_reserve *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&cfg->lock);
	if (--r->users == 0) {
		pthread_mutex_lock(&r->lock);
		r->stop = 1;
		pthread_cond_signal(&r->low);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->helper, NULL);
		reserve_free(r);
		cfg->reserve = NULL;
	}
	pthread_mutex_unlock(&cfg->lock);
}

void *
asm_reserve_take(struct asm_reserve *r)
{
	if (!r)
		return NULL;
	void *p = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->n)
		p = r->ready[--r->n];
	pthread_cond_signal(&r->low);
	pthread_mutex_unlock(&r->lock);
	return p;
}

int
asm_reserve_give(struct asm_reserve *r, void *slab)
{
	if (!r)
		return 0;
	int kept = 0;
	pthread_mutex_lock(&r->lock);
	if (r->n < r->cap) {
		r->ready[r->n++] = slab;
		kept = 1;
	}
	pthread_mutex_unlock(&r->lock);
	return kept;
}

uint32_t
asm_reserve_ready(struct asm_reserve *r)
{
	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	uint32_t n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

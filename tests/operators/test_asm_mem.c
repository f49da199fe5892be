/*
 * test_asm_mem.c — the assembler's slab memory (asm_mem.c): chunk sizes,
 * slabs given back after a burst and kept under steady traffic, units
 * carved as first needed; and the reserve of slabs faulted in ahead of
 * need by a helper thread (asm_reserve.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <cmocka.h>
#include "operators/assemble/assemble.h"
#include "operators/assemble/assemble_int.h"

/* A burst of open traces gives its memory back: chunks of each size come
 * from slabs that are unmapped as they empty, all but one per size. */
static void
test_chunk_memory_is_returned_after_a_burst(void **st)
{
	(void)st;
	enum { N = 20000 };
	static struct asm_chunk *c[N];
	struct asm_mem m = {0};
	for (uint32_t k = 0; k < 3; k++)
		assert_int_equal(asm_chunk_class(k), k);
	assert_int_equal(asm_chunk_class(9), ASM_CLASSES - 1);
	for (int i = 0; i < N; i++) {
		c[i] = asm_chunk_get(&m, (uint32_t)i % ASM_CLASSES);
		assert_non_null(c[i]);
		assert_null(c[i]->next);
		/* 32-byte events: 256 B: 6, 1 KiB: 30, 2 KiB: 62 */
		static const uint32_t cap[3] = {6, 30, 62};
		assert_int_equal(c[i]->cap, cap[i % ASM_CLASSES]);
		c[i]->ev[c[i]->cap - 1].event_id = (uint64_t)i; /* writable to the end */
	}
	uint64_t want = 0;
	for (int i = 0; i < N; i++)
		want += i % 3 == 0 ? 256 : i % 3 == 1 ? 1024 : 2048;
	assert_int_equal(m.chunk_bytes, want);
	assert_true(m.slab_bytes >= want);
	uint64_t peak = m.slab_bytes;
	assert_true(peak >= 10 * (uint64_t)ASM_SLAB_BYTES); /* 22.2 MB of chunks */
	for (int i = 0; i < N; i++)
		asm_chunk_put(&m, c[i]);
	assert_int_equal(m.chunk_bytes, 0);
	assert_true(m.slab_bytes <= ASM_CLASSES * (uint64_t)ASM_SLAB_BYTES);
	assert_int_equal(m.peak_slab_bytes, peak);
	asm_mem_free(&m);
}

/* Under steady traffic a slab that empties is kept (up to an eighth of
 * the slabs in use), not unmapped and mapped again; once traffic stops
 * only one stays. */
static void
test_emptied_slab_is_kept_while_others_are_in_use(void **st)
{
	(void)st;
	enum { PER = ASM_SLAB_BYTES / ASM_CHUNK_MAX_BYTES - 1, SLABS = 16 };
	static struct asm_chunk *c[PER * SLABS];
	struct asm_mem m = {0};
	for (int i = 0; i < PER * SLABS; i++)
		assert_non_null(c[i] = asm_chunk_get(&m, 2));
	assert_int_equal(m.slab_bytes, SLABS * (uint64_t)ASM_SLAB_BYTES);
	/* one chunk of the second slab comes back (it has room), then all of
	 * the first slab's: 15 in use, the empty one kept */
	asm_chunk_put(&m, c[PER]);
	for (int i = 0; i < PER; i++)
		asm_chunk_put(&m, c[i]);
	assert_int_equal(m.slab_bytes, SLABS * (uint64_t)ASM_SLAB_BYTES);
	/* and reused: no new slab for them */
	for (int i = 0; i <= PER; i++)
		assert_non_null(c[i] = asm_chunk_get(&m, 2));
	assert_int_equal(m.slab_bytes, SLABS * (uint64_t)ASM_SLAB_BYTES);
	for (int i = 0; i < PER * SLABS; i++)
		asm_chunk_put(&m, c[i]);
	assert_int_equal(m.slab_bytes, (uint64_t)ASM_SLAB_BYTES);
	asm_mem_free(&m);
}

/* A new slab's units are handed out in address order, each once, without
 * the slab being written through first (it may be dirty: reserve slabs
 * are). */
static void
test_units_are_carved_in_order_from_a_dirty_slab(void **st)
{
	(void)st;
	enum { PER = ASM_SLAB_BYTES / 1024 - 1 };
	struct asm_mem m = {0};
	struct asm_chunk *first = asm_chunk_get(&m, 1);
	assert_non_null(first);
	unsigned char *slab = (unsigned char *)((uintptr_t)first &
	                                        ~(uintptr_t)(ASM_SLAB_BYTES - 1));
	assert_ptr_equal((unsigned char *)first, slab + 1024); /* unit 0: header */
	/* poison the untouched units as a reused slab would be */
	memset(slab + 2048, 0xa5, ASM_SLAB_BYTES - 2048);
	struct asm_chunk *prev = first;
	for (int i = 1; i < PER; i++) {
		struct asm_chunk *c = asm_chunk_get(&m, 1);
		assert_ptr_equal((unsigned char *)c, (unsigned char *)prev + 1024);
		assert_int_equal(c->cap, 30);
		assert_null(c->next);
		prev = c;
	}
	assert_int_equal(m.slab_bytes, (uint64_t)ASM_SLAB_BYTES);
	/* a returned unit is taken before a new slab, then the next slab */
	asm_chunk_put(&m, first);
	assert_ptr_equal(asm_chunk_get(&m, 1), first);
	struct asm_chunk *c = asm_chunk_get(&m, 1);
	assert_non_null(c);
	assert_int_equal(m.slab_bytes, 2 * (uint64_t)ASM_SLAB_BYTES);
	assert_int_equal(m.mapped_inline, 2); /* no reserve: both mapped here */
	asm_chunk_put(&m, c);
	asm_chunk_put(&m, first);
	for (unsigned char *u = slab + 2048; u < slab + ASM_SLAB_BYTES; u += 1024)
		asm_chunk_put(&m, (struct asm_chunk *)(void *)u);
	assert_int_equal(m.chunk_bytes, 0);
	asm_mem_free(&m);
}

/* Waits (up to 30 s) until the helper has filled the reserve. */
static void
wait_full(struct asm_reserve *r, uint32_t cap)
{
	for (int i = 0; i < 3000 && asm_reserve_ready(r) < cap; i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	assert_int_equal(asm_reserve_ready(r), cap);
}

/* The helper keeps ready_slabs slabs mapped: aligned, writable, refilled
 * after a take; a full reserve takes no slab back; the last detach stops
 * the helper and unmaps what is left. No helper under slab_helper off, nor
 * under auto without two cores per worker. */
static void
test_reserve_keeps_slabs_ready_for_the_workers(void **st)
{
	(void)st;
	struct op_assemble_config cfg;
	op_assemble_config_init(&cfg);
	assert_int_equal(cfg.ready_slabs, 2);
	assert_int_equal(cfg.slab_helper, WEFT_HELPER_AUTO);
	cfg.slab_helper = WEFT_HELPER_OFF;
	assert_null(asm_reserve_attach(&cfg, 1));
	cfg.slab_helper = WEFT_HELPER_AUTO; /* more workers than any machine's cores */
	assert_null(asm_reserve_attach(&cfg, 1u << 30));
	assert_null(cfg.reserve);
	cfg.slab_helper = WEFT_HELPER_ON;
	cfg.ready_slabs = 2;
	struct asm_reserve *a = asm_reserve_attach(&cfg, 1u << 30);
	struct asm_reserve *b = asm_reserve_attach(&cfg, 1u << 30);
	assert_non_null(a);
	assert_ptr_equal(a, b); /* one helper for the config's workers */
	void *s[4];
	for (int i = 0; i < 4; i += 2) { /* twice ready_slabs: refilled */
		wait_full(a, 2);
		for (int j = i; j < i + 2; j++) {
			assert_non_null(s[j] = asm_reserve_take(a));
			assert_int_equal((uintptr_t)s[j] % ASM_SLAB_BYTES, 0);
			memset(s[j], j, ASM_SLAB_BYTES); /* faulted in or not, writable */
		}
	}
	assert_ptr_not_equal(s[0], s[2]);
	wait_full(a, 2);
	assert_int_equal(asm_reserve_give(a, s[0]), 0); /* full: the caller's */
	for (int i = 0; i < 4; i++)
		munmap(s[i], ASM_SLAB_BYTES);
	asm_reserve_detach(&cfg, b);
	assert_ptr_equal(cfg.reserve, a); /* a worker still uses it */
	asm_reserve_detach(&cfg, a);
	assert_null(cfg.reserve);
	/* none configured: no helper, no reserve */
	cfg.ready_slabs = 0;
	assert_null(asm_reserve_attach(&cfg, 1));
	asm_reserve_detach(&cfg, NULL);
	assert_null(asm_reserve_take(NULL));
	assert_int_equal(asm_reserve_give(NULL, s[0]), 0);
	op_assemble_config_destroy(&cfg);
}

/* A worker's memory takes its slabs from the reserve when one is ready,
 * counts the ones it had to map itself, and an emptied slab past the
 * allowance is given back to a reserve with room. */
static void
test_worker_memory_takes_and_gives_reserve_slabs(void **st)
{
	(void)st;
	enum { PER = ASM_SLAB_BYTES / ASM_CHUNK_MAX_BYTES - 1 };
	static struct asm_chunk *c[3 * PER];
	struct op_assemble_config cfg;
	op_assemble_config_init(&cfg);
	cfg.ready_slabs = 1;
	cfg.slab_helper = WEFT_HELPER_ON;
	struct asm_mem m = {0};
	m.reserve = asm_reserve_attach(&cfg, 1);
	assert_non_null(m.reserve);
	for (int i = 0; i < 3 * PER; i++) {
		if (i % PER == 0)
			wait_full(m.reserve, 1);
		assert_non_null(c[i] = asm_chunk_get(&m, 2));
	}
	assert_int_equal(m.slab_bytes, 3 * (uint64_t)ASM_SLAB_BYTES);
	assert_int_equal(m.mapped_inline, 0);
	/* the reserve is empty until the helper refills it: take that */
	wait_full(m.reserve, 1);
	void *spare = asm_reserve_take(m.reserve);
	assert_non_null(spare);
	/* the first slab empties: kept (the allowance); the second too: past
	 * it, so it goes back to the reserve, or is unmapped if the helper
	 * refilled the reserve first; it holds one slab either way */
	for (int i = 0; i < 2 * PER; i++)
		asm_chunk_put(&m, c[i]);
	assert_int_equal(m.slab_bytes, 2 * (uint64_t)ASM_SLAB_BYTES);
	assert_int_equal(asm_reserve_ready(m.reserve), 1);
	for (int i = 2 * PER; i < 3 * PER; i++)
		asm_chunk_put(&m, c[i]);
	assert_int_equal(m.chunk_bytes, 0);
	munmap(spare, ASM_SLAB_BYTES);
	struct asm_reserve *r = m.reserve;
	asm_mem_free(&m);
	asm_reserve_detach(&cfg, r);
	assert_null(cfg.reserve);
	/* without a reserve every slab is mapped by the worker, and counted */
	struct asm_mem own = {0};
	assert_non_null(c[0] = asm_chunk_get(&own, 0));
	assert_non_null(c[1] = asm_chunk_get(&own, 2));
	assert_int_equal(own.mapped_inline, 2);
	asm_chunk_put(&own, c[0]);
	asm_chunk_put(&own, c[1]);
	asm_mem_free(&own);
	op_assemble_config_destroy(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_memory_is_returned_after_a_burst),
		cmocka_unit_test(test_emptied_slab_is_kept_while_others_are_in_use),
		cmocka_unit_test(test_units_are_carved_in_order_from_a_dirty_slab),
		cmocka_unit_test(test_reserve_keeps_slabs_ready_for_the_workers),
		cmocka_unit_test(test_worker_memory_takes_and_gives_reserve_slabs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

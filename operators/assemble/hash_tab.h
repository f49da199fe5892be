/*
 * hash_tab.h — the open-addressing hash table shape shared by op_assemble's
 * tables (interned texts, open traces, finished ids); operators-private.
 *
 * A table is tab[0..cap), cap a power of two, of slots `size` bytes long
 * whose first field is the uint64_t key. A key's home slot is
 * hash_tab_mix(key) & (cap - 1); collisions probe linearly; an all-zero
 * slot is empty. Each table marks a slot taken its own way (a non-NULL
 * pointer, a non-zero epoch, ...), which its used() reads. The caller keeps
 * the load at most 1/2, so a probe always reaches an empty slot.
 *
 * Everything is static inline: used() is then a constant the compiler folds
 * in, and a lookup on the per-event path is as tight as a loop written for
 * one table.
 */
#ifndef WEFT_OP_HASH_TAB_H
#define WEFT_OP_HASH_TAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*hash_tab_used_fn)(const void *slot);

/* The first half of murmur3's fmix64 (xor-shift, multiply, xor-shift):
 * high key bits reach the low bits the mask keeps, so ids that differ
 * only in their high bits still spread. */
static inline uint64_t
hash_tab_mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static inline uint64_t
hash_tab_key(const unsigned char *slot)
{
	uint64_t k;
	memcpy(&k, slot, sizeof k);
	return k;
}

/* The index of key's slot, or of the empty slot where key would go. */
static inline __attribute__((always_inline)) uint64_t
hash_tab_probe(const void *tab, uint64_t cap, size_t size, uint64_t key,
               hash_tab_used_fn used)
{
	const unsigned char *t = tab;
	uint64_t m = cap - 1, j = hash_tab_mix(key) & m;
	while (used(t + j * size) && hash_tab_key(t + j * size) != key)
		j = (j + 1) & m;
	return j;
}

/* Empties taken slot i by backward-shift deletion: every later entry of
 * the probe run whose home is not cyclically in (i, j] moves back into the
 * hole, so chains stay intact without tombstones. */
static inline __attribute__((always_inline)) void
hash_tab_delete(void *tab, uint64_t cap, size_t size, uint64_t i,
                hash_tab_used_fn used)
{
	unsigned char *t = tab;
	uint64_t m = cap - 1, j = i;
	memset(t + i * size, 0, size);
	for (;;) {
		j = (j + 1) & m;
		if (!used(t + j * size))
			return;
		uint64_t home = hash_tab_mix(hash_tab_key(t + j * size)) & m;
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			memcpy(t + i * size, t + j * size, size);
			memset(t + j * size, 0, size);
			i = j;
		}
	}
}

/* A table of ncap slots (a power of two, at least twice the slots taken)
 * holding the entries of old[0..cap), which is freed; or NULL, old
 * untouched, when out of memory. */
static inline void *
hash_tab_rehash(void *old, uint64_t cap, uint64_t ncap, size_t size,
                hash_tab_used_fn used)
{
	unsigned char *ot = old, *nt = calloc(ncap, size);
	if (!nt)
		return NULL;
	for (uint64_t i = 0; i < cap; i++) {
		const unsigned char *e = ot + i * size;
		if (!used(e))
			continue;
		uint64_t j = hash_tab_mix(hash_tab_key(e)) & (ncap - 1);
		while (used(nt + j * size))
			j = (j + 1) & (ncap - 1);
		memcpy(nt + j * size, e, size);
	}
	free(old);
	return nt;
}

#endif

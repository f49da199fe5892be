/*
 * test_rng.h — the tests' deterministic generator (splitmix64), one
 * stream per test program. Define TEST_RNG_SEED before including.
 */
#ifndef WEFT_TEST_RNG_H
#define WEFT_TEST_RNG_H

#include <stdint.h>

#ifndef TEST_RNG_SEED
#error "define TEST_RNG_SEED before including tests/test_rng.h"
#endif

static uint64_t g_rng = TEST_RNG_SEED;

static inline uint64_t
rnd(void)
{
	g_rng += 0x9e3779b97f4a7c15ULL;
	uint64_t z = g_rng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform-ish in [0, n); 0 when n is 0. */
static inline uint32_t
rndn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

#endif

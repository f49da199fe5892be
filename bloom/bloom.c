/*
 * bloom.c — split-block Bloom filter (bloom.h).
 *
 * Geometry. The bit array is a sequence of 512-bit blocks, one 64-byte
 * cache line each, every block 8 words of 64 bits. A key sets exactly one
 * bit in each of the 8 words of ONE block: k = 8 bits per key. So an add
 * or a probe touches one cache line, computes its 8 bit positions from one
 * 32-bit hash with 8 multiplies, and a probe is 8 independent loads from
 * that line, no branch until the answer. This is Parquet's SBBF idea
 * (split block Bloom filter: one bit per word, positions by odd salt
 * multipliers) with the block widened from 256 bits (8 x 32) to a whole
 * line (8 x 64).
 *
 * Why 512 bits. A probe costs one cache line either way: the cost is the
 * miss, not the width. But a blocked filter loses to a classic one because
 * keys land unevenly on blocks (Poisson load), and a bigger block averages
 * more keys, so the unevenness costs less. Bits per key needed (theory
 * below), against a classic Bloom filter's 1.44 log2(1/p):
 *
 *      target p    classic   256 (8 x 32)   512 (8 x 64)   512 (16 x 32)
 *      1 %           9.6        10.5           10.1           12.5
 *      0.1 %        14.4        16.9           15.7           17.2
 *      0.01 %       19.1        26.3           23.6           23.0
 *
 * 8 x 64 wins at 1 % and 0.1 % and is within 3 % of 16 x 32 at the
 * model's 0.01 %, with half the hashing work. Trade-off: the 8 words are
 * two AVX2 registers, not one, so a SIMD probe would be less neat than
 * Parquet's; the scalar probe is short enough that this does not matter,
 * and weft is built for baseline x86-64.
 *
 * Hashing. Every key goes through XXH3 with the filter's seed (a 64-bit
 * key is hashed as its 8 little-endian bytes, so bloom_add(k) and
 * bloom_add_bytes(le(k), 8) are the same key). The upper 32 bits pick the
 * block by Lemire's multiply-shift range reduction (no division, any block
 * count up to 2^32, not just powers of two, so the filter is exactly as big
 * as the target needs); the lower 32 bits x give bit i of word i as the top
 * 6 bits of x * salt[i] mod 2^32. The two halves are independent, so the
 * block choice and the bits within it are too.
 *
 * Sizing. For n keys over B blocks the load of a block is Poisson with
 * lambda = n / B, and a block holding j keys answers a random non-member
 * "maybe" when all 8 probed bits are set, (1 - (1 - 1/64)^j)^8. So
 *      FPR(lambda) = sum_j Poisson(j; lambda) (1 - (1 - 1/64)^j)^8,
 * summed outward from the mode until the terms vanish. It grows with
 * lambda, so the smallest B meeting the target is found by bisection over
 * [1, max_bytes / 64]. The tests check measured rates against this.
 *
 * Memory. Blocks below 2 MiB in total come from aligned_alloc(64): one
 * block, one line. Bigger arrays are mmap()ed at a 2 MiB boundary with
 * MADV_HUGEPAGE: a probe of a filter far larger than the cache is a random
 * access, and with 4 KiB pages nearly every one is also a TLB miss and a
 * page walk (distributions commonly set THP to "madvise", so it has to be
 * asked; batch probes of a 60 MiB filter: 56 M/s with, 44 M/s without).
 * Costs up to 2 MiB of rounding, invisible next to the array.
 *
 * Threads: see bloom.h. Probes only read; nothing is cached or counted on
 * the read path, so concurrent readers share the lines without writes.
 */
#include "bloom/bloom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Inlined: keys are 8 bytes, a call would cost as much as the hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/common.h"

#define BLOOM_WORDS 8
#define BLOOM_BLOCK_BYTES 64
#define BLOOM_VERSION 1u
#define BLOOM_HDR_BYTES 32
#define BLOOM_MAX_BLOCKS (1ULL << 32) /* fastrange of a 32-bit half */
#define BLOOM_HUGE_BYTES ((size_t)2 << 20)
/* Keys hashed and prefetched ahead by bloom_probe_batch (a power of two).
 * 32 lines in flight measured ~10 % faster than 16 (and 40 % faster than
 * 8) on a 60 MiB filter on Zen 3, and the same in cache. */
#define BLOOM_AHEAD 32

/* One cache line. Invariant: every key added to this block set one bit in
 * each word, so popcount(block) <= 8 * (keys in it). */
struct bloom_block {
	_Alignas(BLOOM_BLOCK_BYTES) uint64_t w[BLOOM_WORDS];
};

struct bloom {
	struct bloom_block *blk; /* [n_blocks]; 64-byte aligned, 2 MiB if mapped */
	uint64_t n_blocks;       /* 1 .. BLOOM_MAX_BLOCKS */
	uint64_t keys;           /* bloom_add*() calls */
	uint64_t seed;
	size_t map_len;          /* bytes mmap()ed at blk; 0: aligned_alloc() */
};

/* Parquet SBBF's salts: odd, and pairwise far apart as multipliers. */
static const uint32_t bloom_salt[BLOOM_WORDS] = {
	0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
	0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U,
};

/* ---- little-endian access ---------------------------------------------- */
static inline uint64_t
bloom_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

static inline void
bloom_put64(unsigned char *p, uint64_t v)
{
	v = bloom_le64(v);
	memcpy(p, &v, sizeof v);
}

static inline uint64_t
bloom_get64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return bloom_le64(v);
}

static inline uint32_t
bloom_get32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

/* ---- hashing and the block operations --------------------------------- */
static inline uint64_t
bloom_hash(const struct bloom *b, uint64_t key)
{
	unsigned char le[8];
	bloom_put64(le, key);
	return XXH3_64bits_withSeed(le, sizeof le, b->seed);
}

/* Block of hash h: the upper half scaled to [0, n_blocks), n_blocks <= 2^32. */
static inline uint64_t
bloom_index(const struct bloom *b, uint64_t h)
{
	return ((h >> 32) * b->n_blocks) >> 32;
}

static inline uint64_t
bloom_bit(uint32_t x, int i)
{
	return 1ULL << ((x * bloom_salt[i]) >> 26);
}

static inline void
bloom_set(struct bloom_block *blk, uint32_t x)
{
	for (int i = 0; i < BLOOM_WORDS; i++)
		blk->w[i] |= bloom_bit(x, i);
}

static inline int
bloom_test(const struct bloom_block *blk, uint32_t x)
{
	uint64_t miss = 0;
	for (int i = 0; i < BLOOM_WORDS; i++)
		miss |= ~blk->w[i] & bloom_bit(x, i);
	return miss == 0;
}

static void
bloom_add_hash(struct bloom *b, uint64_t h)
{
	bloom_set(&b->blk[bloom_index(b, h)], (uint32_t)h);
	b->keys++;
}

void
bloom_add(struct bloom *b, uint64_t key)
{
	bloom_add_hash(b, bloom_hash(b, key));
}

int
bloom_probe(const struct bloom *b, uint64_t key)
{
	uint64_t h = bloom_hash(b, key);
	return bloom_test(&b->blk[bloom_index(b, h)], (uint32_t)h);
}

void
bloom_add_bytes(struct bloom *b, const void *p, size_t n)
{
	bloom_add_hash(b, XXH3_64bits_withSeed(p, n, b->seed));
}

int
bloom_probe_bytes(const struct bloom *b, const void *p, size_t n)
{
	uint64_t h = XXH3_64bits_withSeed(p, n, b->seed);
	return bloom_test(&b->blk[bloom_index(b, h)], (uint32_t)h);
}

/* A ring of BLOOM_AHEAD hashed keys whose blocks are being prefetched:
 * key i is tested while key i + BLOOM_AHEAD's line is on its way, so up to
 * BLOOM_AHEAD cache misses overlap instead of the few the out-of-order
 * window finds in a plain loop. */
void
bloom_probe_batch(const struct bloom *b, const uint64_t *keys, size_t n,
                  uint8_t *out)
{
	uint32_t x[BLOOM_AHEAD];
	const struct bloom_block *p[BLOOM_AHEAD];
	size_t pre = n < BLOOM_AHEAD ? n : BLOOM_AHEAD;
	for (size_t i = 0; i < pre; i++) {
		uint64_t h = bloom_hash(b, keys[i]);
		x[i] = (uint32_t)h;
		p[i] = &b->blk[bloom_index(b, h)];
		__builtin_prefetch(p[i]);
	}
	for (size_t i = 0; i < n; i++) {
		size_t s = i & (BLOOM_AHEAD - 1);
		out[i] = (uint8_t)bloom_test(p[s], x[s]);
		if (i + BLOOM_AHEAD < n) {
			uint64_t h = bloom_hash(b, keys[i + BLOOM_AHEAD]);
			x[s] = (uint32_t)h;
			p[s] = &b->blk[bloom_index(b, h)];
			__builtin_prefetch(p[s]);
		}
	}
}

/* ---- theory and sizing ------------------------------------------------- */
/* A block holding j keys: all 8 probed bits set, one per 64-bit word. */
static double
bloom_fpr_inner(double j)
{
	double q = -expm1(j * log1p(-1.0 / 64)); /* 1 - (1 - 1/64)^j */
	q *= q;
	q *= q;
	return q * q;
}

/* FPR at lambda keys per block: the Poisson mixture, summed from the mode
 * outwards until the probabilities drop below 1e-30 (the inner rate is at
 * most 1, so the rest of a tail adds less than that). Past lambda = 8192
 * even the lower tail's blocks are full to double precision: 1. */
static double
bloom_fpr_lambda(double lam)
{
	if (!(lam > 0))
		return 0.0;
	if (lam > 8192)
		return 1.0;
	double m = floor(lam);
	int sign; /* lgamma_r: lgamma writes the global signgam (a data race
	           * when two threads read model infos, e.g. the learner) */
	double p0 = exp(-lam + m * log(lam) - lgamma_r(m + 1, &sign));
	double sum = p0 * bloom_fpr_inner(m);
	double p = p0;
	for (double j = m + 1; p >= 1e-30 || j <= lam; j += 1) {
		p *= lam / j;
		sum += p * bloom_fpr_inner(j);
	}
	p = p0;
	for (double j = m; j > 0 && p >= 1e-30; j -= 1) {
		p *= j / lam;
		sum += p * bloom_fpr_inner(j - 1);
	}
	return sum < 1.0 ? sum : 1.0;
}

static double
bloom_fpr_geom(uint64_t keys, uint64_t n_blocks)
{
	return bloom_fpr_lambda((double)keys / (double)n_blocks);
}

double
bloom_fpr_at(const struct bloom *b, uint64_t keys)
{
	return bloom_fpr_geom(keys, b->n_blocks);
}

double
bloom_fpr_theory(const struct bloom *b)
{
	return bloom_fpr_geom(b->keys, b->n_blocks);
}

uint64_t
bloom_keys(const struct bloom *b)
{
	return b->keys;
}

uint64_t
bloom_size_bytes(const struct bloom *b)
{
	return b->n_blocks * BLOOM_BLOCK_BYTES;
}

uint64_t
bloom_seed(const struct bloom *b)
{
	return b->seed;
}

/* ---- construction ------------------------------------------------------ */
/* An empty filter of n_blocks zeroed blocks (1 <= n_blocks <= max). */
static struct bloom *
bloom_alloc(uint64_t n_blocks, uint64_t seed)
{
	if (n_blocks > (SIZE_MAX - 2 * BLOOM_HUGE_BYTES) / BLOOM_BLOCK_BYTES)
		return NULL;
	struct bloom *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	size_t bytes = (size_t)n_blocks * BLOOM_BLOCK_BYTES;
	b->n_blocks = n_blocks;
	b->seed = seed;
	if (bytes < BLOOM_HUGE_BYTES) {
		b->blk = aligned_alloc(BLOOM_BLOCK_BYTES, bytes);
		if (!b->blk) {
			free(b);
			return NULL;
		}
		memset(b->blk, 0, bytes);
		return b;
	}
	/* Map one huge page more than needed and trim to a 2 MiB boundary;
	 * anonymous pages arrive zeroed. */
	size_t len = (bytes + BLOOM_HUGE_BYTES - 1) & ~(BLOOM_HUGE_BYTES - 1);
	size_t span = len + BLOOM_HUGE_BYTES;
	unsigned char *m = mmap(NULL, span, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(b);
		return NULL;
	}
	uintptr_t a = ((uintptr_t)m + BLOOM_HUGE_BYTES - 1) &
	              ~(uintptr_t)(BLOOM_HUGE_BYTES - 1);
	unsigned char *start = (unsigned char *)a;
	if (start > m)
		munmap(m, (size_t)(start - m));
	if (m + span > start + len)
		munmap(start + len, (size_t)(m + span - (start + len)));
#ifdef MADV_HUGEPAGE
	(void)madvise(start, len, MADV_HUGEPAGE); /* a hint; 4 KiB pages work */
#endif
	b->blk = (struct bloom_block *)start;
	b->map_len = len;
	return b;
}

void
bloom_free(struct bloom *b)
{
	if (!b)
		return;
	if (b->map_len)
		munmap(b->blk, b->map_len);
	else
		free(b->blk);
	free(b);
}

void
bloom_config_default(struct bloom_config *cfg)
{
	cfg->expected_keys = 1;
	cfg->target_fpr = 0.01;
	cfg->max_bytes = BLOOM_MAX_BYTES_DEFAULT;
	cfg->seed = BLOOM_SEED_DEFAULT;
}

int
bloom_new_config(const struct bloom_config *cfg, struct bloom **out,
                 char *errstr, size_t errlen)
{
	*out = NULL;
	uint64_t n = cfg->expected_keys ? cfg->expected_keys : 1;
	double p = cfg->target_fpr;
	if (!(p > 0.0 && p < 1.0)) {
		weft_errf(errstr, errlen, "bloom: target_fpr must be in (0, 1), "
		          "got %g", p);
		return WEFT_EINVAL;
	}
	uint64_t max_blocks = cfg->max_bytes / BLOOM_BLOCK_BYTES;
	if (max_blocks > BLOOM_MAX_BLOCKS)
		max_blocks = BLOOM_MAX_BLOCKS;
	if (max_blocks == 0) {
		weft_errf(errstr, errlen, "bloom: max_bytes must be at least %d, "
		          "got %llu", BLOOM_BLOCK_BYTES,
		          (unsigned long long)cfg->max_bytes);
		return WEFT_EINVAL;
	}
	if (bloom_fpr_geom(n, max_blocks) > p) {
		weft_errf(errstr, errlen, "bloom: expected_keys=%llu at "
		          "target_fpr=%g needs more than max_bytes=%llu",
		          (unsigned long long)n, p,
		          (unsigned long long)cfg->max_bytes);
		return WEFT_ELIMIT;
	}
	/* Smallest block count meeting the target; fpr falls as blocks grow.
	 * Invariant: fpr(hi) <= p; every count below lo misses it. */
	uint64_t lo = 1, hi = max_blocks;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (bloom_fpr_geom(n, mid) <= p)
			hi = mid;
		else
			lo = mid + 1;
	}
	struct bloom *b = bloom_alloc(hi, cfg->seed);
	if (!b) {
		weft_errf(errstr, errlen, "bloom: out of memory for %llu bytes",
		          (unsigned long long)(hi * BLOOM_BLOCK_BYTES));
		return WEFT_ENOMEM;
	}
	*out = b;
	return 0;
}

int
bloom_new(uint64_t expected_keys, double target_fpr, struct bloom **out)
{
	struct bloom_config cfg;
	bloom_config_default(&cfg);
	cfg.expected_keys = expected_keys;
	cfg.target_fpr = target_fpr;
	return bloom_new_config(&cfg, out, NULL, 0);
}

/* ---- serialization ----------------------------------------------------- */
size_t
bloom_serialized_size(const struct bloom *b)
{
	return BLOOM_HDR_BYTES + (size_t)b->n_blocks * BLOOM_BLOCK_BYTES;
}

int
bloom_serialize(const struct bloom *b, void *buf, size_t cap)
{
	if (!buf || cap < bloom_serialized_size(b))
		return WEFT_EINVAL;
	unsigned char *o = buf;
	memcpy(o, "WBLM", 4);
	uint32_t v = BLOOM_VERSION;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(o + 4, &v, 4);
	bloom_put64(o + 8, b->seed);
	bloom_put64(o + 16, b->n_blocks);
	bloom_put64(o + 24, b->keys);
	o += BLOOM_HDR_BYTES;
	for (uint64_t i = 0; i < b->n_blocks; i++)
		for (int j = 0; j < BLOOM_WORDS; j++, o += 8)
			bloom_put64(o, b->blk[i].w[j]);
	return 0;
}

int
bloom_deserialize(const void *buf, size_t len, struct bloom **out,
                  char *errstr, size_t errlen)
{
	*out = NULL;
	const unsigned char *in = buf;
	if (!in || len < BLOOM_HDR_BYTES) {
		weft_errf(errstr, errlen, "bloom: section truncated: %zu bytes, "
		          "the header alone is %d", in ? len : 0, BLOOM_HDR_BYTES);
		return WEFT_EFORMAT;
	}
	if (memcmp(in, "WBLM", 4)) {
		weft_errf(errstr, errlen, "bloom: bad magic (not a WBLM section)");
		return WEFT_EFORMAT;
	}
	uint32_t version = bloom_get32(in + 4);
	if (version != BLOOM_VERSION) {
		weft_errf(errstr, errlen, "bloom: unsupported version %u (this "
		          "build reads %u)", version, BLOOM_VERSION);
		return WEFT_EFORMAT;
	}
	uint64_t seed = bloom_get64(in + 8);
	uint64_t n_blocks = bloom_get64(in + 16);
	uint64_t keys = bloom_get64(in + 24);
	if (n_blocks == 0) {
		weft_errf(errstr, errlen, "bloom: n_blocks=0: a filter has at "
		          "least one block");
		return WEFT_EFORMAT;
	}
	if (n_blocks > BLOOM_MAX_BLOCKS) {
		weft_errf(errstr, errlen, "bloom: n_blocks=%llu above the limit "
		          "2^32", (unsigned long long)n_blocks);
		return WEFT_EFORMAT;
	}
	size_t body = len - BLOOM_HDR_BYTES;
	if (body % BLOOM_BLOCK_BYTES || body / BLOOM_BLOCK_BYTES != n_blocks) {
		weft_errf(errstr, errlen, "bloom: length mismatch: the header "
		          "says n_blocks=%llu, the section holds %zu bytes after "
		          "it (%zu blocks%s)", (unsigned long long)n_blocks,
		          body, body / BLOOM_BLOCK_BYTES,
		          body % BLOOM_BLOCK_BYTES ? " and a partial one" : "");
		return WEFT_EFORMAT;
	}
	struct bloom *b = bloom_alloc(n_blocks, seed);
	if (!b) {
		weft_errf(errstr, errlen, "bloom: out of memory for %zu bytes",
		          body);
		return WEFT_ENOMEM;
	}
	b->keys = keys;
	uint64_t bits = 0;
	in += BLOOM_HDR_BYTES;
	for (uint64_t i = 0; i < n_blocks; i++)
		for (int j = 0; j < BLOOM_WORDS; j++, in += 8) {
			b->blk[i].w[j] = bloom_get64(in);
			bits += (uint64_t)__builtin_popcountll(b->blk[i].w[j]);
		}
	/* Each add sets at most 8 bits: more means the keys field or the
	 * blocks are damaged (bits <= 2^41, no overflow). */
	if (keys < (bits + 7) / 8) {
		weft_errf(errstr, errlen, "bloom: corrupt: %llu bits set, more "
		          "than 8 per key for keys=%llu",
		          (unsigned long long)bits, (unsigned long long)keys);
		bloom_free(b);
		return WEFT_EFORMAT;
	}
	*out = b;
	return 0;
}

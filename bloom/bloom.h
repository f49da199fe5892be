/*
 * bloom.h — weft's split-block Bloom filter (public interface).
 *
 * Holds the structural hashes of the model (trace shapes, pieces) so the
 * check operator can tell, with one cache line per probe, "definitely never
 * seen in training" from "probably seen". Keys are 64-bit values; each is
 * hashed again with XXH3 and the filter's seed, so weak or structured keys
 * are fine. bloom_add_bytes()/bloom_probe_bytes() hash arbitrary bytes.
 *
 * The filter is sized from the expected number of keys and a target
 * false-positive rate (bloom_config). No false negatives, ever; the false-
 * positive rate for the keys actually added is bloom_fpr_theory().
 *
 * Threads: built by one thread (bloom_new, bloom_add*), then read-only.
 * Every function taking a const struct bloom * only reads, takes no lock
 * and may run on any number of threads at once. bloom_add*() must not run
 * concurrently with anything else on the same filter. Whoever hands a
 * built filter to readers publishes it with release/acquire ordering (an
 * engine graph built before engine_run(), or an atomic pointer swap).
 *
 * Errors: functions return 0 or a negative WEFT_E* code (engine/engine.h).
 */
#ifndef WEFT_BLOOM_H
#define WEFT_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XXH3 seed of a filter built with the default configuration. Fixed, so a
 * model built twice from the same traces gives the same file. */
#define BLOOM_SEED_DEFAULT 0x77656674626c6d31ULL /* "weftblm1" */
/* Largest filter bloom_new() builds by default (bloom_config.max_bytes). */
#define BLOOM_MAX_BYTES_DEFAULT (1ULL << 30)

struct bloom_config {
	uint64_t expected_keys; /* keys the filter is sized for; 0 counts as 1 */
	double target_fpr;      /* false-positive rate at expected_keys, in (0, 1) */
	uint64_t max_bytes;     /* refuse (WEFT_ELIMIT) a bigger bit array (1 GiB) */
	uint64_t seed;          /* XXH3 seed (BLOOM_SEED_DEFAULT) */
};

/* Defaults: 1 key, 1 % false positives, 1 GiB at most, the default seed. */
void bloom_config_default(struct bloom_config *cfg);

struct bloom;

/*
 * Builds an empty filter: the smallest number of 64-byte blocks whose
 * theoretical false-positive rate with cfg->expected_keys keys is at most
 * cfg->target_fpr. Returns 0 and stores the filter in *out (the caller
 * frees it with bloom_free()); WEFT_EINVAL (target_fpr not in (0, 1),
 * max_bytes below one block) or WEFT_ELIMIT (the target needs more than
 * max_bytes) with a message in errstr (may be NULL); WEFT_ENOMEM.
 */
int bloom_new_config(const struct bloom_config *cfg, struct bloom **out,
                     char *errstr, size_t errlen);

/* bloom_new_config() with the defaults and these two settings. */
int bloom_new(uint64_t expected_keys, double target_fpr, struct bloom **out);

/* Frees a filter from bloom_new*() or bloom_deserialize(); NULL is fine. */
void bloom_free(struct bloom *b);

/* Adds a key. Adding more keys than the filter was sized for is allowed;
 * the false-positive rate then rises (bloom_fpr_theory()). */
void bloom_add(struct bloom *b, uint64_t key);

/* 1 if key may have been added, 0 if it certainly was not. */
int bloom_probe(const struct bloom *b, uint64_t key);

/*
 * out[i] = bloom_probe(b, keys[i]) for i < n. Hashes ahead and prefetches
 * the blocks of the next keys, so filters larger than the cache answer
 * several times faster than a loop of bloom_probe().
 */
void bloom_probe_batch(const struct bloom *b, const uint64_t *keys, size_t n,
                       uint8_t *out);

/* The same over n bytes at p (hashed with XXH3 and the seed). A key added
 * with bloom_add(b, k) is the 8 bytes of k in little-endian order:
 * bloom_probe_bytes() of those bytes finds it, and the other way round. */
void bloom_add_bytes(struct bloom *b, const void *p, size_t n);
int bloom_probe_bytes(const struct bloom *b, const void *p, size_t n);

/* Number of bloom_add*() calls so far (duplicates counted). */
uint64_t bloom_keys(const struct bloom *b);
/* Size of the bit array in bytes (a multiple of 64). */
uint64_t bloom_size_bytes(const struct bloom *b);
uint64_t bloom_seed(const struct bloom *b);

/* Theoretical false-positive rate of this geometry holding `keys` random
 * keys; bloom_fpr_theory(b) is bloom_fpr_at(b, bloom_keys(b)). */
double bloom_fpr_at(const struct bloom *b, uint64_t keys);
double bloom_fpr_theory(const struct bloom *b);

/*
 * Serialized form, a self-validating section of the model file, all
 * integers little-endian:
 *   "WBLM", version u32 (1), seed u64, n_blocks u64, keys u64,
 *   then n_blocks blocks of 8 u64 words.
 * Version 1 fixes the geometry and the hashing (bloom.c).
 */
size_t bloom_serialized_size(const struct bloom *b);

/* Writes the section into buf (cap bytes, not necessarily aligned). 0, or
 * WEFT_EINVAL when cap < bloom_serialized_size(b). */
int bloom_serialize(const struct bloom *b, void *buf, size_t cap);

/*
 * Rebuilds a filter from exactly len bytes at buf (the section, nothing
 * after it). Returns 0 and a new filter in *out (the caller frees it with
 * bloom_free(); buf is not referenced afterwards); WEFT_EFORMAT for
 * anything but a well-formed section (truncated, wrong magic, unsupported
 * version, zero blocks, length not matching n_blocks, more bits set than
 * 8 per key) with a message in errstr (may be NULL); WEFT_ENOMEM. Never
 * reads outside [buf, buf + len).
 */
int bloom_deserialize(const void *buf, size_t len, struct bloom **out,
                      char *errstr, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_BLOOM_H */

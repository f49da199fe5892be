/*
 * test_bloom.c — the split-block Bloom filter (bloom/bloom.h): no false
 * negatives, false-positive rates measured against the theory the filter is
 * sized by, sizing (meets the target, and no block more than it needs),
 * the bytes API, the batch API, concurrent readers, and serialization:
 * round trip, and refusal of every truncation and of damaged headers
 * (run it under ASan: buffers are allocated to their exact length).
 *
 * Keys are plain consecutive integers on purpose: the filter rehashes every
 * key, and the tests prove that weak keys behave like random ones. Seeds
 * are fixed, so every figure is deterministic and every bound can fail.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bloom/bloom.h"
#include "engine/engine.h"

/* Non-members: far from every member range used here. */
#define NONMEMBER_BASE (1ULL << 62)

#define TEST_RNG_SEED 0x5eed
#include "tests/test_rng.h"

static struct bloom *
filled(uint64_t n, double p)
{
	struct bloom *b = NULL;
	assert_int_equal(bloom_new(n, p, &b), 0);
	assert_non_null(b);
	for (uint64_t k = 0; k < n; k++)
		bloom_add(b, k);
	assert_int_equal(bloom_keys(b), n);
	return b;
}

static unsigned char *
serialized(const struct bloom *b, size_t *len)
{
	*len = bloom_serialized_size(b);
	unsigned char *buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(bloom_serialize(b, buf, *len), 0);
	return buf;
}

/* bloom_deserialize on an exact-size heap copy of buf[0..len). */
static int
load_copy(const unsigned char *buf, size_t len, struct bloom **out,
          char *err, size_t errlen)
{
	unsigned char *c = malloc(len ? len : 1);
	assert_non_null(c);
	if (len)
		memcpy(c, buf, len);
	err[0] = 0;
	int rc = bloom_deserialize(c, len, out, err, errlen);
	free(c);
	return rc;
}

static void
assert_refused(const unsigned char *buf, size_t len, const char *word)
{
	char err[256];
	struct bloom *b = (struct bloom *)&g_rng; /* must be reset to NULL */
	assert_int_equal(load_copy(buf, len, &b, err, sizeof err),
	                 WEFT_EFORMAT);
	assert_null(b);
	assert_true(err[0] != 0);
	if (word && !strstr(err, word))
		fail_msg("message \"%s\" does not mention \"%s\"", err, word);
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* ---- membership -------------------------------------------------------- */
static void
test_no_false_negatives_1m_keys(void **state)
{
	(void)state;
	const uint64_t n = 1000000;
	struct bloom *b = filled(n, 0.01);
	uint64_t missed = 0;
	for (uint64_t k = 0; k < n; k++)
		missed += !bloom_probe(b, k);
	assert_int_equal(missed, 0);
	uint8_t *out = malloc(n);
	uint64_t *keys = malloc(n * sizeof *keys);
	assert_non_null(out);
	assert_non_null(keys);
	for (uint64_t k = 0; k < n; k++)
		keys[k] = n - 1 - k;
	bloom_probe_batch(b, keys, n, out);
	for (uint64_t k = 0; k < n; k++)
		missed += !out[k];
	assert_int_equal(missed, 0);
	free(keys);
	free(out);
	bloom_free(b);
}

/* Measured rate on `probes` non-members within [0.5, 1.2] x the theory. */
static void
check_fpr(uint64_t n, double p, uint64_t probes)
{
	struct bloom *b = filled(n, p);
	double theory = bloom_fpr_theory(b);
	assert_true(theory <= p);
	uint64_t hits = 0;
	for (uint64_t i = 0; i < probes; i++)
		hits += (uint64_t)bloom_probe(b, NONMEMBER_BASE + i);
	double measured = (double)hits / (double)probes;
	print_message("n=%llu target=%g: theory %.5g, measured %.5g "
	              "(%llu of %llu), ratio %.3f, %.2f bits/key\n",
	              (unsigned long long)n, p, theory, measured,
	              (unsigned long long)hits, (unsigned long long)probes,
	              measured / theory,
	              8.0 * (double)bloom_size_bytes(b) / (double)n);
	assert_true(measured <= 1.2 * theory);
	assert_true(measured >= 0.5 * theory);
	bloom_free(b);
}

static void
test_fpr_matches_theory_at_1_percent(void **state)
{
	(void)state;
	check_fpr(1000000, 0.01, 2000000); /* ~20000 false positives */
}

static void
test_fpr_matches_theory_at_0_1_percent(void **state)
{
	(void)state;
	check_fpr(1000000, 0.001, 4000000); /* ~4000 */
}

static void
test_fpr_matches_theory_at_0_01_percent(void **state)
{
	(void)state;
	check_fpr(200000, 0.0001, 8000000); /* ~800 */
}

/* Over-filling is allowed; the theory follows the keys actually added. */
static void
test_fpr_theory_tracks_keys_added(void **state)
{
	(void)state;
	struct bloom *b = NULL;
	assert_int_equal(bloom_new(10000, 0.01, &b), 0);
	assert_true(bloom_fpr_theory(b) == 0.0);
	double last = 0.0;
	for (uint64_t k = 0; k < 40000; k++) {
		bloom_add(b, k);
		if ((k + 1) % 5000 == 0) {
			double f = bloom_fpr_theory(b);
			assert_true(f > last);
			assert_true(f == bloom_fpr_at(b, k + 1));
			last = f;
		}
	}
	assert_true(last > 0.01); /* 4x over: well above the target */
	uint64_t hits = 0, probes = 1000000;
	for (uint64_t i = 0; i < probes; i++)
		hits += (uint64_t)bloom_probe(b, NONMEMBER_BASE + i);
	double measured = (double)hits / (double)probes;
	assert_true(measured <= 1.2 * last && measured >= 0.5 * last);
	bloom_free(b);
}

/* ---- sizing ------------------------------------------------------------ */
static void
test_sizing_meets_target_with_no_block_to_spare(void **state)
{
	(void)state;
	static const uint64_t ns[] = {0, 1, 7, 1000, 123457, 1000000};
	static const double ps[] = {0.5, 0.1, 0.01, 1e-3, 1e-4, 1e-6};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++) {
			struct bloom *b = NULL;
			assert_int_equal(bloom_new(ns[i], ps[j], &b), 0);
			uint64_t n = ns[i] ? ns[i] : 1;
			uint64_t bytes = bloom_size_bytes(b);
			assert_true(bytes >= 64 && bytes % 64 == 0);
			assert_true(bloom_fpr_at(b, n) <= ps[j]);
			uint64_t blocks = bytes / 64;
			if (blocks > 1) {
				/* the same keys over one block fewer miss the
				 * target: this many keys over `blocks` load
				 * each block at least as much */
				double more = ceil((double)n * (double)blocks /
				                   (double)(blocks - 1));
				assert_true(bloom_fpr_at(b, (uint64_t)more) > ps[j]);
			}
			bloom_free(b);
		}
}

static void
test_sizing_bits_per_key_near_theory_table(void **state)
{
	(void)state;
	/* bloom.c's table: 10.1 bits/key at 1 %, 15.7 at 0.1 % */
	struct bloom *b = NULL;
	assert_int_equal(bloom_new(1000000, 0.01, &b), 0);
	double bpk = 8.0 * (double)bloom_size_bytes(b) / 1e6;
	assert_true(bpk > 10.0 && bpk < 10.2);
	bloom_free(b);
	assert_int_equal(bloom_new(1000000, 0.001, &b), 0);
	bpk = 8.0 * (double)bloom_size_bytes(b) / 1e6;
	assert_true(bpk > 15.6 && bpk < 15.8);
	bloom_free(b);
}

static void
test_bad_configuration_refused(void **state)
{
	(void)state;
	static const double bad[] = {0.0, 1.0, -0.1, 1.5, NAN, INFINITY};
	struct bloom *b;
	char err[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = (struct bloom *)&g_rng;
		assert_int_equal(bloom_new(1000, bad[i], &b), WEFT_EINVAL);
		assert_null(b);
	}
	struct bloom_config cfg;
	bloom_config_default(&cfg);
	cfg.target_fpr = 2.0;
	err[0] = 0;
	assert_int_equal(bloom_new_config(&cfg, &b, err, sizeof err),
	                 WEFT_EINVAL);
	assert_non_null(strstr(err, "target_fpr"));
	bloom_config_default(&cfg);
	cfg.max_bytes = 63;
	assert_int_equal(bloom_new_config(&cfg, &b, err, sizeof err),
	                 WEFT_EINVAL);
	assert_non_null(strstr(err, "max_bytes"));
	/* 1e9 keys at 0.1 % need ~2 GB, over the 1 GiB default */
	bloom_config_default(&cfg);
	cfg.expected_keys = 1000000000;
	cfg.target_fpr = 0.001;
	err[0] = 0;
	assert_int_equal(bloom_new_config(&cfg, &b, err, sizeof err),
	                 WEFT_ELIMIT);
	assert_null(b);
	assert_non_null(strstr(err, "max_bytes"));
	cfg.expected_keys = UINT64_MAX;
	assert_int_equal(bloom_new_config(&cfg, &b, NULL, 0), WEFT_ELIMIT);
	bloom_config_default(&cfg);
	cfg.expected_keys = 1000;
	cfg.max_bytes = 64;
	assert_int_equal(bloom_new_config(&cfg, &b, err, sizeof err),
	                 WEFT_ELIMIT);
	/* zero keys count as one: the smallest filter */
	assert_int_equal(bloom_new(0, 0.01, &b), 0);
	assert_int_equal(bloom_size_bytes(b), 64);
	assert_int_equal(bloom_keys(b), 0);
	assert_int_equal(bloom_seed(b), BLOOM_SEED_DEFAULT);
	bloom_free(b);
	bloom_free(NULL);
}

/* ---- APIs agree -------------------------------------------------------- */
static void
test_bytes_api_consistent_with_u64_keys(void **state)
{
	(void)state;
	struct bloom *a = NULL, *c = NULL;
	assert_int_equal(bloom_new(5000, 0.01, &a), 0);
	assert_int_equal(bloom_new(5000, 0.01, &c), 0);
	for (uint64_t k = 0; k < 5000; k++) {
		unsigned char le[8];
		put64(le, k * 0x10001);
		bloom_add(a, k * 0x10001);
		bloom_add_bytes(c, le, sizeof le);
	}
	size_t la, lc;
	unsigned char *sa = serialized(a, &la), *sc = serialized(c, &lc);
	assert_int_equal(la, lc);
	assert_memory_equal(sa, sc, la);
	for (uint64_t k = 0; k < 5000; k++) {
		unsigned char le[8];
		put64(le, k * 0x10001);
		assert_true(bloom_probe_bytes(a, le, sizeof le));
		assert_true(bloom_probe(c, k * 0x10001));
	}
	static const char *const words[] = {"", "a", "GET /foo",
		"a label longer than sixteen bytes, to take XXH3's other path"};
	for (size_t i = 0; i < 4; i++)
		bloom_add_bytes(a, words[i], strlen(words[i]));
	for (size_t i = 0; i < 4; i++)
		assert_true(bloom_probe_bytes(a, words[i], strlen(words[i])));
	free(sa);
	free(sc);
	bloom_free(a);
	bloom_free(c);
}

static void
test_batch_probe_matches_scalar(void **state)
{
	(void)state;
	struct bloom *b = filled(50000, 0.05);
	static const size_t ns[] = {0, 1, 15, 16, 17, 100003};
	uint64_t *keys = malloc(100003 * sizeof *keys);
	uint8_t *out = malloc(100003 + 1);
	assert_non_null(keys);
	assert_non_null(out);
	for (size_t i = 0; i < 100003; i++)
		keys[i] = rnd() % 2 ? i : NONMEMBER_BASE + rnd() % 1000000;
	for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
		memset(out, 0xee, 100003 + 1);
		bloom_probe_batch(b, keys, ns[t], out);
		for (size_t i = 0; i < ns[t]; i++)
			assert_int_equal(out[i], bloom_probe(b, keys[i]));
		assert_int_equal(out[ns[t]], 0xee); /* nothing past n */
	}
	free(keys);
	free(out);
	bloom_free(b);
}

static void
test_seed_changes_bits_not_answers_for_members(void **state)
{
	(void)state;
	struct bloom_config cfg;
	bloom_config_default(&cfg);
	cfg.expected_keys = 2000;
	struct bloom *a = NULL, *c = NULL;
	assert_int_equal(bloom_new_config(&cfg, &a, NULL, 0), 0);
	cfg.seed = 12345;
	assert_int_equal(bloom_new_config(&cfg, &c, NULL, 0), 0);
	assert_int_equal(bloom_seed(c), 12345);
	for (uint64_t k = 0; k < 2000; k++) {
		bloom_add(a, k);
		bloom_add(c, k);
	}
	size_t la, lc;
	unsigned char *sa = serialized(a, &la), *sc = serialized(c, &lc);
	assert_int_equal(la, lc);
	assert_true(memcmp(sa + 32, sc + 32, la - 32) != 0);
	for (uint64_t k = 0; k < 2000; k++)
		assert_true(bloom_probe(a, k) && bloom_probe(c, k));
	free(sa);
	free(sc);
	bloom_free(a);
	bloom_free(c);
}

/* ---- concurrent readers ------------------------------------------------- */
struct reader {
	const struct bloom *b;
	uint64_t n;
	const uint8_t *expect; /* answers for the non-members, from one thread */
	uint64_t wrong;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	for (int round = 0; round < 4; round++)
		for (uint64_t k = 0; k < r->n; k++) {
			r->wrong += !bloom_probe(r->b, k);
			r->wrong += (uint64_t)bloom_probe(r->b, NONMEMBER_BASE + k) !=
			            r->expect[k];
		}
	return NULL;
}

static void
test_concurrent_readers_agree(void **state)
{
	(void)state;
	const uint64_t n = 100000;
	struct bloom *b = filled(n, 0.01);
	uint8_t *expect = malloc(n);
	assert_non_null(expect);
	for (uint64_t k = 0; k < n; k++)
		expect[k] = (uint8_t)bloom_probe(b, NONMEMBER_BASE + k);
	struct reader r[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct reader){b, n, expect, 0};
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].wrong, 0);
	}
	free(expect);
	bloom_free(b);
}

/* ---- serialization ------------------------------------------------------ */
static void
test_serialize_round_trip_same_answers(void **state)
{
	(void)state;
	/* 2M keys at 1 % is ~2.5 MB: the mmap()ed path; 300 keys the other */
	static const uint64_t ns[] = {300, 2000000};
	for (int t = 0; t < 2; t++) {
		struct bloom *b = filled(ns[t], 0.01);
		size_t len;
		unsigned char *buf = serialized(b, &len);
		assert_int_equal(len, 32 + bloom_size_bytes(b));
		assert_memory_equal(buf, "WBLM\x01\0\0\0", 8);
		struct bloom *c = NULL;
		char err[256];
		assert_int_equal(load_copy(buf, len, &c, err, sizeof err), 0);
		assert_non_null(c);
		assert_int_equal(bloom_keys(c), bloom_keys(b));
		assert_int_equal(bloom_size_bytes(c), bloom_size_bytes(b));
		assert_int_equal(bloom_seed(c), bloom_seed(b));
		assert_true(bloom_fpr_theory(c) == bloom_fpr_theory(b));
		for (uint64_t i = 0; i < 1000000; i++) {
			uint64_t k = i % 2 ? i / 2 % ns[t] : NONMEMBER_BASE + i;
			assert_int_equal(bloom_probe(c, k), bloom_probe(b, k));
		}
		size_t len2;
		unsigned char *buf2 = serialized(c, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(buf2, buf, len);
		/* a loaded filter can take more keys */
		bloom_add(c, NONMEMBER_BASE - 1);
		assert_true(bloom_probe(c, NONMEMBER_BASE - 1));
		assert_int_equal(bloom_serialize(c, buf2, len2 - 1), WEFT_EINVAL);
		free(buf2);
		free(buf);
		bloom_free(c);
		bloom_free(b);
	}
}

static void
test_deserialize_refuses_every_truncation(void **state)
{
	(void)state;
	struct bloom *b = filled(300, 0.01); /* a few blocks */
	size_t len;
	unsigned char *buf = serialized(b, &len);
	assert_true(len > 32 + 64);
	for (size_t l = 0; l < len; l++)
		assert_refused(buf, l, l < 32 ? "truncated" : "length");
	unsigned char *longer = calloc(1, len + 64);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	assert_refused(longer, len + 1, "length");
	assert_refused(longer, len + 64, "length");
	char err[64];
	struct bloom *c;
	assert_int_equal(bloom_deserialize(NULL, 100, &c, err, sizeof err),
	                 WEFT_EFORMAT);
	assert_null(c);
	free(longer);
	free(buf);
	bloom_free(b);
}

static void
test_deserialize_refuses_damaged_header(void **state)
{
	(void)state;
	struct bloom *b = filled(300, 0.01);
	size_t len;
	unsigned char *buf = serialized(b, &len);
	unsigned char *d = malloc(len);
	assert_non_null(d);
	for (int i = 0; i < 4; i++) { /* magic */
		memcpy(d, buf, len);
		d[i] ^= 0x20;
		assert_refused(d, len, "magic");
	}
	static const uint32_t versions[] = {0, 2, 0x01000000, 0xffffffff};
	for (int i = 0; i < 4; i++) {
		memcpy(d, buf, len);
		for (int j = 0; j < 4; j++)
			d[4 + j] = (unsigned char)(versions[i] >> (8 * j));
		assert_refused(d, len, "version");
	}
	for (int bit = 0; bit < 64; bit++) { /* n_blocks, every bit */
		memcpy(d, buf, len);
		d[16 + bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_refused(d, len, "n_blocks");
	}
	memcpy(d, buf, len);
	put64(d + 16, 0);
	assert_refused(d, 32, "n_blocks"); /* zero blocks, header only */
	memcpy(d, buf, len);
	put64(d + 24, 0); /* keys: 0 with bits set */
	assert_refused(d, len, "corrupt");
	memcpy(d, buf, len);
	put64(d + 24, bloom_keys(b) / 4); /* too few keys for the bits */
	assert_refused(d, len, "corrupt");
	free(d);
	free(buf);
	bloom_free(b);
}

/* Random damage anywhere: accepted or refused, never a crash or an
 * out-of-bounds read (ASan), and what is accepted answers probes. */
static void
test_deserialize_survives_random_damage(void **state)
{
	(void)state;
	struct bloom *b = filled(300, 0.01);
	size_t len;
	unsigned char *buf = serialized(b, &len);
	unsigned char *d = malloc(len);
	assert_non_null(d);
	for (int t = 0; t < 20000; t++) {
		memcpy(d, buf, len);
		int flips = 1 + (int)(rnd() % 4);
		for (int f = 0; f < flips; f++)
			d[rnd() % (t % 2 ? 32 : len)] ^= (unsigned char)(1 + rnd() % 255);
		size_t l = rnd() % 8 ? len : rnd() % (len + 1);
		struct bloom *c = NULL;
		char err[256];
		int rc = load_copy(d, l, &c, err, sizeof err);
		assert_true(rc == 0 || rc == WEFT_EFORMAT);
		if (rc == 0) {
			for (uint64_t k = 0; k < 300; k++)
				(void)bloom_probe(c, k);
			bloom_free(c);
		} else {
			assert_null(c);
		}
	}
	free(d);
	free(buf);
	bloom_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_false_negatives_1m_keys),
		cmocka_unit_test(test_fpr_matches_theory_at_1_percent),
		cmocka_unit_test(test_fpr_matches_theory_at_0_1_percent),
		cmocka_unit_test(test_fpr_matches_theory_at_0_01_percent),
		cmocka_unit_test(test_fpr_theory_tracks_keys_added),
		cmocka_unit_test(test_sizing_meets_target_with_no_block_to_spare),
		cmocka_unit_test(test_sizing_bits_per_key_near_theory_table),
		cmocka_unit_test(test_bad_configuration_refused),
		cmocka_unit_test(test_bytes_api_consistent_with_u64_keys),
		cmocka_unit_test(test_batch_probe_matches_scalar),
		cmocka_unit_test(test_seed_changes_bits_not_answers_for_members),
		cmocka_unit_test(test_concurrent_readers_agree),
		cmocka_unit_test(test_serialize_round_trip_same_answers),
		cmocka_unit_test(test_deserialize_refuses_every_truncation),
		cmocka_unit_test(test_deserialize_refuses_damaged_header),
		cmocka_unit_test(test_deserialize_survives_random_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

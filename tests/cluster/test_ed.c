/*
 * test_ed.c — edit distance (cluster/ed.c): the bit-parallel distance with
 * and without cutoff against the plain DP on thousands of random pairs
 * (lengths 0..700, small and large alphabets, near and far pairs, lengths
 * around the 64-symbol block boundaries, paths that hug the borders of the
 * matrix), the alignment's script and cost, and the normalised distance.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cluster/cluster.h"
#include "engine/engine.h"

static struct cluster_ed_scratch *g_s;

static int
setup(void **state)
{
	(void)state;
	g_s = cluster_ed_scratch_new();
	return g_s ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	cluster_ed_scratch_free(g_s);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */
#define TEST_RNG_SEED 0x5eed1234
#include "tests/test_rng.h"

/* A symbol of an alphabet of `sigma` labels: hashed-looking values, and
 * small integers for one alphabet in four (the map must cope with both). */
static uint64_t
sym_of(uint32_t v, uint32_t sigma)
{
	if (sigma % 4 == 1)
		return v;
	return (v + 1) * 0xd6e8feb86659fd93ULL ^ 0x1234;
}

#define MAXL 6000

static void
random_string(uint64_t *s, uint32_t n, uint32_t sigma)
{
	for (uint32_t i = 0; i < n; i++)
		s[i] = sym_of(rndn(sigma), sigma);
}

/* b = a with `edits` random substitutions, insertions and deletions. */
static uint32_t
mutate(const uint64_t *a, uint32_t na, uint64_t *b, uint32_t edits,
       uint32_t sigma, uint32_t cap)
{
	uint32_t nb = na;
	memcpy(b, a, na * sizeof(uint64_t));
	for (uint32_t e = 0; e < edits; e++) {
		uint32_t kind = rndn(3);
		if (kind == 0 && nb > 0) {
			b[rndn(nb)] = sym_of(rndn(sigma), sigma);
		} else if (kind == 1 && nb < cap) {
			uint32_t p = rndn(nb + 1);
			memmove(b + p + 1, b + p, (nb - p) * sizeof(uint64_t));
			b[p] = sym_of(rndn(sigma), sigma);
			nb++;
		} else if (nb > 0) {
			uint32_t p = rndn(nb);
			memmove(b + p, b + p + 1, (nb - p - 1) * sizeof(uint64_t));
			nb--;
		}
	}
	return nb;
}

/* Checks dist and cluster_ed against dp for one pair under several
 * cutoffs; returns dp. */
static uint32_t
check_pair(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
	uint32_t dp = cluster_ed_dp(a, na, b, nb);
	assert_true(dp != CLUSTER_ED_NOMEM);
	assert_int_equal(dp, cluster_ed_dp(b, nb, a, na));
	struct cluster_ed_pattern *p = cluster_ed_pattern_new(a, na);
	assert_non_null(p);
	assert_int_equal(cluster_ed_pattern_len(p), na);
	uint32_t ks[8] = {UINT32_MAX, dp, dp ? dp - 1 : 0, dp + 1, dp / 2,
	                  0, rndn(2 * dp + 2), dp + 64};
	for (int i = 0; i < 8; i++) {
		uint32_t k = ks[i];
		uint32_t d1 = cluster_ed_dist(p, b, nb, k, g_s);
		uint32_t d2 = cluster_ed(a, na, b, nb, k, g_s);
		uint32_t d3 = cluster_ed(b, nb, a, na, k, g_s);
		if (dp <= k) {
			assert_int_equal(d1, dp);
			assert_int_equal(d2, dp);
			assert_int_equal(d3, dp);
		} else {
			assert_true(d1 > k && d1 != CLUSTER_ED_NOMEM);
			assert_true(d2 > k && d2 != CLUSTER_ED_NOMEM);
			assert_true(d3 > k && d3 != CLUSTER_ED_NOMEM);
		}
	}
	cluster_ed_pattern_free(p);
	return dp;
}

/* ---- distance ---------------------------------------------------------- */
static void
test_dist_equals_dp_on_random_pairs(void **state)
{
	(void)state;
	static uint64_t a[800], b[1000];
	static const uint32_t sigmas[] = {2, 4, 5, 20, 21, 300};
	unsigned near = 0, far = 0;
	for (int it = 0; it < 3000; it++) {
		uint32_t sigma = sigmas[rndn(6)];
		uint32_t na = rndn(4) == 0 ? rndn(16) : rndn(701);
		random_string(a, na, sigma);
		uint32_t nb;
		if (rndn(2)) {
			/* near: a few percent of edits, sometimes a lot */
			uint32_t e = rndn(4) ? rndn(na / 10 + 2) : rndn(na / 2 + 2);
			nb = mutate(a, na, b, e, sigma, 1000);
			near++;
		} else {
			nb = rndn(4) == 0 ? na : rndn(701);
			random_string(b, nb, sigma);
			far++;
		}
		check_pair(a, na, b, nb);
	}
	assert_true(near > 1000 && far > 1000);
}

static void
test_dist_equals_dp_across_block_boundaries(void **state)
{
	(void)state;
	static const uint32_t lens[] = {0, 1, 2, 63, 64, 65, 127, 128, 129,
	                                191, 192, 193, 255, 256, 257};
	static uint64_t a[300], b[300];
	const unsigned nl = sizeof(lens) / sizeof(lens[0]);
	for (unsigned x = 0; x < nl; x++)
		for (unsigned y = 0; y < nl; y++)
			for (int rep = 0; rep < 4; rep++) {
				uint32_t sigma = rep & 1 ? 3 : 40;
				random_string(a, lens[x], sigma);
				if (rep < 2) {
					random_string(b, lens[y], sigma);
				} else {
					/* b: a's prefix/extension of the other length,
					 * lightly edited, so the pair is near */
					for (uint32_t i = 0; i < lens[y]; i++)
						b[i] = i < lens[x] ? a[i] :
						    sym_of(rndn(sigma), sigma);
					for (uint32_t e = 0; e < 3 && lens[y]; e++)
						b[rndn(lens[y])] = sym_of(rndn(sigma), sigma);
				}
				check_pair(a, lens[x], b, lens[y]);
			}
}

/* Optimal paths along the borders of the matrix: long runs of
 * insertions or deletions at either end, and a symbol matched only at
 * the far end, with the cutoff exactly at the distance. */
static void
test_dist_exact_on_border_paths(void **state)
{
	(void)state;
	static uint64_t a[700], b[700];
	static const uint32_t base_lens[] = {1, 5, 63, 64, 65, 130, 300};
	static const uint32_t pads[] = {1, 2, 30, 63, 64, 65, 129, 200};
	for (unsigned x = 0; x < 7; x++)
		for (unsigned y = 0; y < 8; y++)
			for (int where = 0; where < 4; where++) {
				uint32_t n = base_lens[x], pad = pads[y];
				random_string(a, n, 20);
				/* b = pad symbols not in a, around a copy of a */
				uint32_t nb = 0;
				if (where & 1)
					for (uint32_t i = 0; i < pad; i++)
						b[nb++] = 1000 + i;
				memcpy(b + nb, a, n * sizeof(uint64_t));
				nb += n;
				if (!(where & 1))
					for (uint32_t i = 0; i < pad; i++)
						b[nb++] = 1000 + i;
				if (where & 2) {
					assert_int_equal(check_pair(a, n, b, nb), pad);
				} else {
					assert_int_equal(check_pair(b, nb, a, n), pad);
				}
			}
	/* a = [x], b = [y ... y x]: the path runs along row 0 to the end */
	for (uint32_t n = 1; n < 200; n += 7) {
		a[0] = 77;
		for (uint32_t i = 0; i < n; i++)
			b[i] = 78;
		b[n] = 77;
		assert_int_equal(check_pair(a, 1, b, n + 1), n);
		assert_int_equal(check_pair(b, n + 1, a, 1), n);
		/* and the same inside longer strings */
		random_string(a, 100, 5);
		memcpy(b, a, 100 * sizeof(uint64_t));
		for (uint32_t i = 0; i < n; i++)
			b[100 + i] = 999;
		memcpy(b + 100 + n, a, 100 * sizeof(uint64_t));
		check_pair(a, 100, b, 200 + n);
		check_pair(b, 200 + n, a, 100);
	}
}

static void
test_dist_long_strings(void **state)
{
	(void)state;
	static uint64_t a[MAXL], b[MAXL];
	static const uint32_t lens[] = {1000, 2000, 5000};
	for (int i = 0; i < 3; i++) {
		random_string(a, lens[i], 20);
		uint32_t nb = mutate(a, lens[i], b, lens[i] / 50, 20, MAXL);
		check_pair(a, lens[i], b, nb);
		random_string(b, lens[i] - 100, 20);
		check_pair(a, lens[i], b, lens[i] - 100);
	}
}

static void
test_cutoff_trivial_and_zero(void **state)
{
	(void)state;
	uint64_t a[300], b[300];
	random_string(a, 300, 20);
	memcpy(b, a, sizeof(a));
	/* lengths alone exceed the cutoff */
	assert_int_equal(cluster_ed(a, 10, b, 300, 5, g_s), 6);
	assert_int_equal(cluster_ed(a, 0, b, 300, 5, g_s), 6);
	assert_int_equal(cluster_ed(a, 0, b, 300, 300, g_s), 300);
	assert_int_equal(cluster_ed(a, 0, b, 0, 0, g_s), 0);
	/* cutoff 0: equality test */
	assert_int_equal(cluster_ed(a, 300, b, 300, 0, g_s), 0);
	b[150] ^= 1;
	assert_int_equal(cluster_ed(a, 300, b, 300, 0, g_s), 1);
	assert_int_equal(cluster_ed(a, 300, b, 300, 1, g_s), 1);
	/* the largest cutoffs do not overflow */
	assert_int_equal(cluster_ed(a, 300, b, 300, UINT32_MAX, g_s), 1);
	assert_int_equal(cluster_ed(a, 300, b, 300, UINT32_MAX - 1, g_s), 1);
}

/* A pattern is shared: many texts against one pattern, texts holding
 * symbols the pattern lacks, a pattern with thousands of distinct
 * symbols (the map grows), a fresh scratch that must grow. */
static void
test_pattern_reused_against_many_texts(void **state)
{
	(void)state;
	static uint64_t a[3000], b[3100];
	for (uint32_t i = 0; i < 3000; i++)
		a[i] = sym_of(i, 4);
	struct cluster_ed_pattern *p = cluster_ed_pattern_new(a, 3000);
	assert_non_null(p);
	struct cluster_ed_scratch *s = cluster_ed_scratch_new();
	assert_non_null(s);
	for (int t = 0; t < 30; t++) {
		uint32_t nb = mutate(a, 3000, b, rndn(100), 1u << 30, 3100);
		uint32_t dp = cluster_ed_dp(a, 3000, b, nb);
		assert_int_equal(cluster_ed_dist(p, b, nb, UINT32_MAX, s), dp);
		assert_int_equal(cluster_ed_dist(p, b, nb, dp, s), dp);
		if (dp)
			assert_true(cluster_ed_dist(p, b, nb, dp - 1, s) > dp - 1);
	}
	cluster_ed_scratch_free(s);
	cluster_ed_pattern_free(p);
	/* empty pattern */
	p = cluster_ed_pattern_new(NULL, 0);
	assert_non_null(p);
	assert_int_equal(cluster_ed_dist(p, a, 7, 100, g_s), 7);
	assert_int_equal(cluster_ed_dist(p, a, 7, 3, g_s), 4);
	assert_int_equal(cluster_ed_dist(p, a, 0, 0, g_s), 0);
	cluster_ed_pattern_free(p);
	assert_null(cluster_ed_pattern_new(NULL, 3));
	assert_int_equal(cluster_ed_scratch_reserve(g_s, 10000), 0);
}

static void
test_dp_edge_cases(void **state)
{
	(void)state;
	uint64_t a[3] = {1, 2, 3}, b[3] = {3, 2, 1};
	assert_int_equal(cluster_ed_dp(NULL, 0, NULL, 0), 0);
	assert_int_equal(cluster_ed_dp(a, 3, NULL, 0), 3);
	assert_int_equal(cluster_ed_dp(NULL, 0, b, 3), 3);
	assert_int_equal(cluster_ed_dp(a, 3, b, 3), 2);
	assert_int_equal(cluster_ed_dp(a, 3, a, 3), 0);
	assert_int_equal(cluster_ed_dp(a, 1, b + 2, 1), 0);
}

/* ---- alignment --------------------------------------------------------- */
/* The script is valid: covers a and b in order, MATCH/SUB as labelled,
 * replays a into b, and its cost is the distance. */
static void
check_script(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb,
             const struct cluster_edit *e, uint32_t ne, uint32_t dp)
{
	static uint64_t out[2000];
	uint32_t ia = 0, ib = 0, cost = 0, no = 0;
	for (uint32_t k = 0; k < ne; k++) {
		switch (e[k].op) {
		case CLUSTER_EDIT_MATCH:
		case CLUSTER_EDIT_SUB:
			assert_int_equal(e[k].ia, ia);
			assert_int_equal(e[k].ib, ib);
			assert_int_equal(a[ia] == b[ib], e[k].op == CLUSTER_EDIT_MATCH);
			out[no++] = e[k].op == CLUSTER_EDIT_MATCH ? a[ia] : b[ib];
			cost += e[k].op == CLUSTER_EDIT_SUB;
			ia++;
			ib++;
			break;
		case CLUSTER_EDIT_INS:
			assert_int_equal(e[k].ia, ia);
			assert_int_equal(e[k].ib, ib);
			out[no++] = b[ib++];
			cost++;
			break;
		case CLUSTER_EDIT_DEL:
			assert_int_equal(e[k].ia, ia);
			assert_int_equal(e[k].ib, ib);
			ia++;
			cost++;
			break;
		default:
			fail();
		}
	}
	assert_int_equal(ia, na);
	assert_int_equal(ib, nb);
	assert_int_equal(no, nb);
	assert_memory_equal(out, b, nb * sizeof(uint64_t));
	assert_int_equal(cost, dp);
}

static void
test_align_script_replays_and_costs_dp(void **state)
{
	(void)state;
	static uint64_t a[800], b[1000];
	for (int it = 0; it < 400; it++) {
		uint32_t sigma = rndn(2) ? 3 : 25;
		uint32_t na = rndn(300);
		random_string(a, na, sigma);
		uint32_t nb = rndn(2) ? mutate(a, na, b, rndn(na / 5 + 2), sigma, 1000)
		                      : rndn(300);
		if (nb != 0 && it % 2)
			random_string(b, nb, sigma);
		uint32_t dp = cluster_ed_dp(a, na, b, nb);
		struct cluster_edit *e = NULL;
		uint32_t ne = 0;
		assert_int_equal(cluster_ed_align(a, na, b, nb, 1u << 20, &e, &ne), 0);
		check_script(a, na, b, nb, e, ne, dp);
		free(e);
	}
}

static void
test_align_ties_limits_and_empty(void **state)
{
	(void)state;
	uint64_t a[2] = {10, 20}, b[2] = {30, 40};
	struct cluster_edit *e = NULL;
	uint32_t ne = 99;
	/* [p] -> [q r]: insertions as early as possible */
	assert_int_equal(cluster_ed_align(a, 1, b, 2, 100, &e, &ne), 0);
	assert_int_equal(ne, 2);
	assert_int_equal(e[0].op, CLUSTER_EDIT_INS);
	assert_int_equal(e[0].ib, 0);
	assert_int_equal(e[1].op, CLUSTER_EDIT_SUB);
	assert_int_equal(e[1].ia, 0);
	assert_int_equal(e[1].ib, 1);
	free(e);
	/* [p q] -> [r]: a diagonal step at the end, the deletion first */
	assert_int_equal(cluster_ed_align(a, 2, b, 1, 100, &e, &ne), 0);
	assert_int_equal(ne, 2);
	assert_int_equal(e[0].op, CLUSTER_EDIT_DEL);
	assert_int_equal(e[0].ia, 0);
	assert_int_equal(e[1].op, CLUSTER_EDIT_SUB);
	free(e);
	/* deterministic: the same call gives the same script */
	static uint64_t x[200], y[200];
	random_string(x, 200, 3);
	random_string(y, 180, 3);
	struct cluster_edit *e1, *e2;
	uint32_t n1, n2;
	assert_int_equal(cluster_ed_align(x, 200, y, 180, 1u << 20, &e1, &n1), 0);
	assert_int_equal(cluster_ed_align(x, 200, y, 180, 1u << 20, &e2, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(e1, e2, n1 * sizeof(*e1));
	free(e1);
	free(e2);
	/* limits and degenerate inputs */
	assert_int_equal(cluster_ed_align(x, 200, y, 180, 35999, &e, &ne),
	                 WEFT_ELIMIT);
	assert_null(e);
	assert_int_equal(ne, 0);
	assert_int_equal(cluster_ed_align(x, 200, y, 180, 36000, &e, &ne), 0);
	free(e);
	assert_int_equal(cluster_ed_align(NULL, 0, NULL, 0, 0, &e, &ne), 0);
	assert_null(e);
	assert_int_equal(ne, 0);
	assert_int_equal(cluster_ed_align(x, 3, NULL, 0, 0, &e, &ne), 0);
	assert_int_equal(ne, 3);
	for (uint32_t k = 0; k < 3; k++) {
		assert_int_equal(e[k].op, CLUSTER_EDIT_DEL);
		assert_int_equal(e[k].ia, k);
		assert_int_equal(e[k].ib, 0);
	}
	free(e);
	assert_int_equal(cluster_ed_align(NULL, 0, y, 2, 0, &e, &ne), 0);
	assert_int_equal(ne, 2);
	assert_int_equal(e[1].op, CLUSTER_EDIT_INS);
	assert_int_equal(e[1].ia, 0);
	assert_int_equal(e[1].ib, 1);
	free(e);
	assert_int_equal(cluster_ed_align(NULL, 3, y, 2, 100, &e, &ne),
	                 WEFT_EINVAL);
	assert_int_equal(cluster_ed_align(x, 3, y, 2, 100, NULL, &ne),
	                 WEFT_EINVAL);
}

/* ---- normalisation ----------------------------------------------------- */
static void
test_normalised_distance_edge_cases(void **state)
{
	(void)state;
	assert_true(cluster_ed_norm(0, 0, 0) == 0.0);
	assert_true(cluster_ed_norm(5, 5, 0) == 1.0);
	assert_true(cluster_ed_norm(5, 0, 5) == 1.0);
	assert_true(fabs(cluster_ed_norm(3, 20, 10) - 0.15) < 1e-12);
	assert_true(cluster_ed_norm(0, 7, 7) == 0.0);
	/* decimal thresholds behave as written */
	assert_int_equal(cluster_ed_max_d(0.15, 20, 3), 3);
	assert_int_equal(cluster_ed_max_d(0.15, 3, 20), 3);
	assert_int_equal(cluster_ed_max_d(0.15, 100, 100), 15);
	assert_int_equal(cluster_ed_max_d(0.1, 30, 30), 3);
	assert_int_equal(cluster_ed_max_d(0.15, 19, 0), 2);
	assert_int_equal(cluster_ed_max_d(0.15, 0, 0), 0);
	assert_int_equal(cluster_ed_max_d(0.0, 50, 50), 0);
	assert_int_equal(cluster_ed_max_d(-1.0, 50, 50), 0);
	assert_int_equal(cluster_ed_max_d(NAN, 50, 50), 0);
	assert_int_equal(cluster_ed_max_d(1.0, 50, 10), 50);
	assert_int_equal(cluster_ed_max_d(7.5, 50, 10), 50);
	/* the bound and the norm agree */
	for (uint32_t L = 1; L < 400; L++)
		for (uint32_t d = 0; d <= L; d++) {
			int within = cluster_ed_norm(d, L, L / 2) <= 0.15 + 1e-12;
			assert_int_equal(within, d <= cluster_ed_max_d(0.15, L, L / 2));
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dist_equals_dp_on_random_pairs),
		cmocka_unit_test(test_dist_equals_dp_across_block_boundaries),
		cmocka_unit_test(test_dist_exact_on_border_paths),
		cmocka_unit_test(test_dist_long_strings),
		cmocka_unit_test(test_cutoff_trivial_and_zero),
		cmocka_unit_test(test_pattern_reused_against_many_texts),
		cmocka_unit_test(test_dp_edge_cases),
		cmocka_unit_test(test_align_script_replays_and_costs_dp),
		cmocka_unit_test(test_align_ties_limits_and_empty),
		cmocka_unit_test(test_normalised_distance_edge_cases),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

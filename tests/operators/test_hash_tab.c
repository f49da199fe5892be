/*
 * test_hash_tab.c — operators/hash_tab.h, the open-addressing table behind
 * op_assemble's open traces, finished ids and interned texts: lookups,
 * backward-shift deletion (inside a run and across the wrap from the last
 * slot to the first) and rehashing, against a plain array of the keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "operators/assemble/hash_tab.h"

#define TEST_RNG_SEED 0x6a7b8c9d0e1f2031ULL
#include "tests/test_rng.h"

/* A slot as op_assemble's finished-id set has it: taken when val != 0. */
struct slot {
	uint64_t key;
	uint64_t val;
};

static int
slot_used(const void *p)
{
	return ((const struct slot *)p)->val != 0;
}

struct tab {
	struct slot *s;
	uint64_t cap, n;
};

static uint64_t
home(const struct tab *t, uint64_t key)
{
	return hash_tab_mix(key) & (t->cap - 1);
}

static struct slot *
find(struct tab *t, uint64_t key)
{
	return &t->s[hash_tab_probe(t->s, t->cap, sizeof *t->s, key, slot_used)];
}

static void
put(struct tab *t, uint64_t key, uint64_t val)
{
	struct slot *s = find(t, key);
	if (!slot_used(s))
		t->n++;
	s->key = key;
	s->val = val;
	assert_true(2 * t->n <= t->cap);
}

static int
del(struct tab *t, uint64_t key)
{
	struct slot *s = find(t, key);
	if (!slot_used(s))
		return 0;
	hash_tab_delete(t->s, t->cap, sizeof *t->s, (uint64_t)(s - t->s),
	                slot_used);
	t->n--;
	return 1;
}

/* Every key of the reference is found with its value, the table holds
 * nothing else, and each taken slot is reachable from its home: no empty
 * slot between them (what a deletion that broke a chain would leave). */
static void
check(struct tab *t, const uint64_t *keys, const uint64_t *vals, unsigned n)
{
	uint64_t taken = 0;
	for (uint64_t i = 0; i < t->cap; i++) {
		if (!slot_used(&t->s[i]))
			continue;
		taken++;
		for (uint64_t j = home(t, t->s[i].key); j != i;
		     j = (j + 1) & (t->cap - 1))
			assert_true(slot_used(&t->s[j]));
	}
	assert_int_equal(taken, n);
	assert_int_equal(t->n, n);
	for (unsigned i = 0; i < n; i++) {
		struct slot *s = find(t, keys[i]);
		assert_true(slot_used(s));
		assert_int_equal(s->key, keys[i]);
		assert_int_equal(s->val, vals[i]);
	}
}

/* Keys whose home is one of the last two slots or the first: their runs
 * cross the wrap, so deletions there take the j < i branch. */
static unsigned
wrap_keys(uint64_t cap, uint64_t *out, unsigned want)
{
	struct tab t = {.cap = cap};
	unsigned n = 0;
	for (uint64_t k = 1; n < want; k++) {
		uint64_t h = home(&t, k);
		if (h >= cap - 2 || h == 0)
			out[n++] = k;
	}
	return n;
}

static void
run_random(uint64_t cap, int wrap_heavy, unsigned ops)
{
	struct tab t = {.s = calloc(cap, sizeof(struct slot)), .cap = cap};
	assert_non_null(t.s);
	unsigned max = (unsigned)(cap / 2), n = 0;
	uint64_t keys[64], vals[64], pool[256];
	assert_true(max <= 64);
	unsigned pool_n = wrap_heavy ? wrap_keys(cap, pool, 256) : 0;
	for (unsigned op = 0; op < ops; op++) {
		unsigned r = rndn(10);
		if (n && (r < 4 || n == max)) { /* delete a present key */
			unsigned i = rndn(n);
			assert_true(del(&t, keys[i]));
			keys[i] = keys[n - 1];
			vals[i] = vals[n - 1];
			n--;
		} else if (r < 5) { /* delete an absent key: no change */
			uint64_t k = rnd() | 1u << 31;
			int present = 0;
			for (unsigned i = 0; i < n; i++)
				present |= keys[i] == k;
			if (!present)
				assert_false(del(&t, k));
		} else { /* insert or overwrite */
			uint64_t k = pool_n ? pool[rndn(pool_n)] : rnd();
			uint64_t v = rnd() | 1;
			unsigned i = 0;
			while (i < n && keys[i] != k)
				i++;
			if (i == n) {
				keys[n] = k;
				n++;
			}
			vals[i] = v;
			put(&t, k, v);
		}
		check(&t, keys, vals, n);
	}
	/* then the table doubles: the same entries, findable */
	struct slot *nt = hash_tab_rehash(t.s, t.cap, 2 * t.cap, sizeof *t.s,
	                                  slot_used);
	assert_non_null(nt);
	t.s = nt;
	t.cap *= 2;
	check(&t, keys, vals, n);
	free(t.s);
}

static void
test_random_ops(void **st)
{
	(void)st;
	run_random(64, 0, 20000);
	run_random(16, 0, 20000);
}

static void
test_deletes_across_the_wrap(void **st)
{
	(void)st;
	run_random(16, 1, 20000);
	run_random(32, 1, 20000);
}

/* One fixed case: three keys homed at the last slot fill it and wrap into
 * slots 0 and 1; deleting the first pulls both back, across the wrap. */
static void
test_delete_pulls_back_across_the_wrap(void **st)
{
	(void)st;
	uint64_t cap = 16, k[3];
	struct tab t = {.s = calloc(cap, sizeof(struct slot)), .cap = cap};
	assert_non_null(t.s);
	unsigned n = 0;
	for (uint64_t key = 1; n < 3; key++)
		if (home(&t, key) == cap - 1)
			k[n++] = key;
	for (unsigned i = 0; i < 3; i++)
		put(&t, k[i], i + 1);
	assert_int_equal(find(&t, k[1]) - t.s, 0);
	assert_int_equal(find(&t, k[2]) - t.s, 1);
	assert_true(del(&t, k[0]));
	assert_int_equal(find(&t, k[1]) - t.s, cap - 1);
	assert_int_equal(find(&t, k[2]) - t.s, 0);
	assert_false(slot_used(&t.s[1]));
	uint64_t keys[2] = {k[1], k[2]}, vals[2] = {2, 3};
	check(&t, keys, vals, 2);
	free(t.s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_deletes_across_the_wrap),
		cmocka_unit_test(test_delete_pulls_back_across_the_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_templates.c — clustering into templates (cluster/templates.c):
 * well-separated synthetic families come back as one template each, the
 * threshold invariant holds, the result is the same for 1, 2 and 4 threads
 * and for the same seed, and the degenerate inputs behave.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cluster/cluster.h"
#include "engine/engine.h"

/* ---- helpers ----------------------------------------------------------- */
#define TEST_RNG_SEED 0xc1a55e5
#include "tests/test_rng.h"

/* A set of items with their own storage. */
struct set {
	struct cluster_item *it;
	uint64_t **sym;
	uint32_t *family;
	uint32_t n;
};

static void
set_free(struct set *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->sym[i]);
	free(s->sym);
	free(s->it);
	free(s->family);
	memset(s, 0, sizeof(*s));
}

static void
set_alloc(struct set *s, uint32_t n)
{
	s->n = n;
	s->it = calloc(n + 1, sizeof(*s->it));
	s->sym = calloc(n + 1, sizeof(*s->sym));
	s->family = calloc(n + 1, sizeof(*s->family));
	assert_true(s->it && s->sym && s->family);
}

/* b = a with `edits` random substitutions, insertions and deletions over
 * the labels [0, sigma). */
static uint32_t
mutate(const uint64_t *a, uint32_t na, uint64_t *b, uint32_t edits,
       uint32_t sigma)
{
	uint32_t nb = na;
	memcpy(b, a, na * sizeof(uint64_t));
	for (uint32_t e = 0; e < edits; e++) {
		uint32_t kind = rndn(3);
		if (kind == 0 && nb > 0) {
			b[rndn(nb)] = rndn(sigma);
		} else if (kind == 1) {
			uint32_t p = rndn(nb + 1);
			memmove(b + p + 1, b + p, (nb - p) * sizeof(uint64_t));
			b[p] = rndn(sigma);
			nb++;
		} else if (nb > 0) {
			uint32_t p = rndn(nb);
			memmove(b + p, b + p + 1, (nb - p - 1) * sizeof(uint64_t));
			nb--;
		}
	}
	return nb;
}

/*
 * `fam` families: a random base string of 150..400 labels over 30 labels;
 * `per` members each, the base itself and copies with 1 edit to 2% edits.
 * Random strings over 30 labels are ~0.8 apart, two members at most ~0.04:
 * well separated at the default threshold 0.15.
 */
static void
make_families(struct set *s, uint32_t fam, uint32_t per)
{
	set_alloc(s, fam * per);
	uint64_t base[400], buf[500];
	uint32_t k = 0;
	for (uint32_t f = 0; f < fam; f++) {
		uint32_t nb = 150 + rndn(251);
		for (uint32_t i = 0; i < nb; i++)
			base[i] = rndn(30);
		for (uint32_t m = 0; m < per; m++) {
			uint32_t n = m ? mutate(base, nb, buf, 1 + rndn(nb / 50), 30)
			               : nb;
			if (!m)
				memcpy(buf, base, nb * sizeof(uint64_t));
			s->sym[k] = malloc((n + 1) * sizeof(uint64_t));
			assert_non_null(s->sym[k]);
			memcpy(s->sym[k], buf, n * sizeof(uint64_t));
			s->it[k] = (struct cluster_item){s->sym[k], n, 1 + rndn(50)};
			s->family[k] = f;
			k++;
		}
	}
}

/* Every item is within the threshold of its template's medoid, at the
 * reported exact distance; medoids are their templates' members at 0. */
static void
check_invariants(const struct set *s, const struct cluster_result *r,
                 double thr)
{
	for (uint32_t t = 0; t < r->n_templates; t++) {
		assert_true(r->medoid[t] < s->n);
		assert_int_equal(r->assign[r->medoid[t]], t);
		assert_int_equal(r->dist[r->medoid[t]], 0);
	}
	uint32_t *used = calloc(r->n_templates + 1, sizeof(uint32_t));
	assert_non_null(used);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t t = r->assign[i];
		assert_true(t < r->n_templates);
		used[t]++;
		const struct cluster_item *m = &s->it[r->medoid[t]];
		uint32_t d = cluster_ed_dp(s->it[i].sym, s->it[i].n, m->sym, m->n);
		assert_int_equal(r->dist[i], d);
		assert_true(d <= cluster_ed_max_d(thr, s->it[i].n, m->n));
	}
	for (uint32_t t = 0; t < r->n_templates; t++)
		assert_true(used[t] > 0);
	free(used);
}

static void
assert_same_result(const struct cluster_result *a,
                   const struct cluster_result *b, uint32_t n)
{
	assert_int_equal(a->n_templates, b->n_templates);
	assert_memory_equal(a->medoid, b->medoid,
	                    a->n_templates * sizeof(uint32_t));
	assert_memory_equal(a->assign, b->assign, n * sizeof(uint32_t));
	assert_memory_equal(a->dist, b->dist, n * sizeof(uint32_t));
}

/* ---- tests ------------------------------------------------------------- */
static void
test_separated_families_give_one_template_each(void **state)
{
	(void)state;
	struct set s;
	make_families(&s, 12, 40);
	struct cluster_params p;
	cluster_params_default(&p);
	assert_true(p.threshold == 0.15 && p.refine_iters == 2 && !p.threads);
	struct cluster_result r;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &r), 0);
	assert_int_equal(r.n_templates, 12);
	check_invariants(&s, &r, p.threshold);
	/* one template per family, one family per template */
	uint32_t fam_of[12];
	for (uint32_t t = 0; t < 12; t++)
		fam_of[t] = UINT32_MAX;
	for (uint32_t i = 0; i < s.n; i++) {
		uint32_t t = r.assign[i];
		if (fam_of[t] == UINT32_MAX)
			fam_of[t] = s.family[i];
		assert_int_equal(fam_of[t], s.family[i]);
	}
	for (uint32_t t = 0; t < 12; t++)
		for (uint32_t u = t + 1; u < 12; u++)
			assert_true(fam_of[t] != fam_of[u]);
	cluster_result_free(&r);
	assert_null(r.medoid);
	set_free(&s);
}

/*
 * A chain of strings, each a few edits from the previous one, so that
 * the clustering has real choices to make (where to cut the chain, which
 * member is the medoid): the result must still not depend on the thread
 * count, and the same seed gives the same result.
 */
static void
make_chains(struct set *s, uint32_t chains, uint32_t len)
{
	set_alloc(s, chains * len);
	uint64_t cur[600], nxt[700];
	uint32_t k = 0;
	for (uint32_t c = 0; c < chains; c++) {
		uint32_t n = 80 + rndn(200);
		for (uint32_t i = 0; i < n; i++)
			cur[i] = rndn(6);
		for (uint32_t m = 0; m < len; m++) {
			uint32_t nn = mutate(cur, n, nxt, 1 + rndn(3), 6);
			if (nn > 590)
				nn = 590;
			memcpy(cur, nxt, nn * sizeof(uint64_t));
			n = nn;
			s->sym[k] = malloc((n + 1) * sizeof(uint64_t));
			assert_non_null(s->sym[k]);
			memcpy(s->sym[k], cur, n * sizeof(uint64_t));
			/* few distinct weights: the seeded tie-break matters */
			s->it[k] = (struct cluster_item){s->sym[k], n, 1 + rndn(3)};
			s->family[k] = c;
			k++;
		}
	}
}

static void
test_same_result_for_any_thread_count(void **state)
{
	(void)state;
	struct set s;
	make_chains(&s, 6, 120); /* 720 items: three chunks */
	struct cluster_params p;
	cluster_params_default(&p);
	p.seed = 42;
	p.threshold = 0.1;
	p.refine_iters = 3;
	struct cluster_result r[4];
	static const unsigned th[4] = {1, 2, 4, 1};
	for (int i = 0; i < 4; i++) {
		p.threads = th[i];
		assert_int_equal(cluster_templates(s.it, s.n, &p, &r[i]), 0);
		check_invariants(&s, &r[i], p.threshold);
	}
	assert_true(r[0].n_templates > 6); /* the chains had to be cut */
	for (int i = 1; i < 4; i++)
		assert_same_result(&r[0], &r[i], s.n);
	/* 0 threads = the cores: still the same */
	p.threads = 0;
	struct cluster_result rc;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &rc), 0);
	assert_same_result(&r[0], &rc, s.n);
	cluster_result_free(&rc);
	/* and without refinement, the leader pass alone */
	p.refine_iters = 0;
	struct cluster_result l1, l4;
	p.threads = 1;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &l1), 0);
	p.threads = 4;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &l4), 0);
	check_invariants(&s, &l1, p.threshold);
	assert_same_result(&l1, &l4, s.n);
	cluster_result_free(&l1);
	cluster_result_free(&l4);
	for (int i = 0; i < 4; i++)
		cluster_result_free(&r[i]);
	set_free(&s);
}

static void
test_same_seed_same_result(void **state)
{
	(void)state;
	struct set s;
	make_chains(&s, 3, 100);
	struct cluster_params p;
	cluster_params_default(&p);
	p.threshold = 0.1;
	p.threads = 2;
	p.seed = 7;
	struct cluster_result a, b;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &a), 0);
	assert_int_equal(cluster_templates(s.it, s.n, &p, &b), 0);
	assert_same_result(&a, &b, s.n);
	cluster_result_free(&b);
	/* another seed: possibly another result, still a valid one */
	p.seed = 8;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &b), 0);
	check_invariants(&s, &b, p.threshold);
	cluster_result_free(&a);
	cluster_result_free(&b);
	set_free(&s);
}

static void
test_empty_input_and_single_item(void **state)
{
	(void)state;
	struct cluster_result r;
	memset(&r, 0xab, sizeof(r));
	assert_int_equal(cluster_templates(NULL, 0, NULL, &r), 0);
	assert_int_equal(r.n_templates, 0);
	assert_null(r.medoid);
	assert_null(r.assign);
	assert_null(r.dist);
	cluster_result_free(&r);
	uint64_t sym[5] = {1, 2, 3, 4, 5};
	struct cluster_item one = {sym, 5, 3};
	assert_int_equal(cluster_templates(&one, 1, NULL, &r), 0);
	assert_int_equal(r.n_templates, 1);
	assert_int_equal(r.medoid[0], 0);
	assert_int_equal(r.assign[0], 0);
	assert_int_equal(r.dist[0], 0);
	cluster_result_free(&r);
	/* empty strings are items too: they all fit one template */
	struct cluster_item empties[3] = {{NULL, 0, 1}, {sym, 0, 2}, {sym, 5, 1}};
	assert_int_equal(cluster_templates(empties, 3, NULL, &r), 0);
	assert_int_equal(r.n_templates, 2);
	assert_int_equal(r.assign[0], r.assign[1]);
	assert_true(r.assign[2] != r.assign[0]);
	cluster_result_free(&r);
	cluster_result_free(NULL);
}

static void
test_invalid_arguments_rejected(void **state)
{
	(void)state;
	struct cluster_result r;
	struct cluster_params p;
	uint64_t sym[2] = {1, 2};
	struct cluster_item it[2] = {{sym, 2, 1}, {NULL, 2, 1}};
	assert_int_equal(cluster_templates(NULL, 3, NULL, &r), WEFT_EINVAL);
	assert_int_equal(cluster_templates(it, 2, NULL, &r), WEFT_EINVAL);
	assert_null(r.assign);
	cluster_params_default(&p);
	p.threshold = -0.5;
	assert_int_equal(cluster_templates(it, 1, &p, &r), WEFT_EINVAL);
	p.threshold = NAN;
	assert_int_equal(cluster_templates(it, 1, &p, &r), WEFT_EINVAL);
	assert_int_equal(cluster_templates(it, 1, NULL, NULL), WEFT_EINVAL);
}

/* Threshold 0 keeps distinct strings apart; threshold 1 puts everything
 * in one template. */
static void
test_threshold_extremes(void **state)
{
	(void)state;
	struct set s;
	make_families(&s, 3, 10);
	struct cluster_params p;
	cluster_params_default(&p);
	struct cluster_result r;
	p.threshold = 0.0;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &r), 0);
	/* mutants can coincide with each other: count distinct strings */
	uint32_t distinct = 0;
	for (uint32_t i = 0; i < s.n; i++) {
		int dup = 0;
		for (uint32_t j = 0; j < i && !dup; j++)
			dup = s.it[i].n == s.it[j].n &&
			    !memcmp(s.it[i].sym, s.it[j].sym,
			            s.it[i].n * sizeof(uint64_t));
		distinct += !dup;
	}
	assert_int_equal(r.n_templates, distinct);
	check_invariants(&s, &r, 0.0);
	cluster_result_free(&r);
	p.threshold = 1.0;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &r), 0);
	assert_int_equal(r.n_templates, 1);
	check_invariants(&s, &r, 1.0);
	cluster_result_free(&r);
	set_free(&s);
}

struct prog {
	pthread_t caller;
	uint64_t last, total, calls;
	int wrong_thread, backwards;
};

static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog *g = arg;
	if (!pthread_equal(pthread_self(), g->caller))
		g->wrong_thread = 1;
	if (done < g->last || done > total)
		g->backwards = 1;
	g->last = done;
	g->total = total;
	g->calls++;
}

static void
test_progress_from_calling_thread_up_to_total(void **state)
{
	(void)state;
	struct set s;
	make_families(&s, 5, 120);
	struct cluster_params p;
	cluster_params_default(&p);
	struct prog g = {pthread_self(), 0, 0, 0, 0, 0};
	p.threads = 4;
	p.progress = on_progress;
	p.progress_arg = &g;
	struct cluster_result r;
	assert_int_equal(cluster_templates(s.it, s.n, &p, &r), 0);
	assert_int_equal(r.n_templates, 5);
	assert_false(g.wrong_thread);
	assert_false(g.backwards);
	assert_true(g.calls >= 3);
	assert_true(g.last == g.total && g.total > 0);
	cluster_result_free(&r);
	set_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_separated_families_give_one_template_each),
		cmocka_unit_test(test_same_result_for_any_thread_count),
		cmocka_unit_test(test_same_seed_same_result),
		cmocka_unit_test(test_empty_input_and_single_item),
		cmocka_unit_test(test_invalid_arguments_rejected),
		cmocka_unit_test(test_threshold_extremes),
		cmocka_unit_test(test_progress_from_calling_thread_up_to_total),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * templates.c — clustering distinct trace shapes into templates by the
 * edit distance of their canonical symbol strings (cluster.h).
 *
 * Why this algorithm. The number of templates is not known in advance and
 * a training run can hold 10^4 distinct shapes of a few hundred symbols:
 * k-medoids needs k, and agglomerative clustering needs all n^2/2
 * distances (5 * 10^7 at n = 10^4) before it can start. Threshold
 * ("leader") clustering needs only item x template distances, and with a
 * cutoff most of those are cheap: a template further than the threshold
 * is abandoned as soon as the bit-parallel band dies (ed.c), and one
 * whose length alone differs by more than the bound is never started.
 * `weft bench cluster`: 10^4 distinct shapes of ~350 symbols in about 3 s
 * on one core, most of it in the medoid refinement.
 *
 * 1. Order. Items are visited by descending weight (the common shapes
 *    found the templates), ties by a seeded XXH3 of the symbols, then by
 *    index. The result depends on this order, so it is a function of the
 *    items, the threshold and the seed only.
 *
 * 2. Leader pass. An item joins the nearest existing template whose
 *    medoid is within the threshold (normalised distance d / max(len) <=
 *    threshold, i.e. d <= cluster_ed_max_d()); the nearest by normalised
 *    distance, ties to the older template; if none, it founds a new one.
 *    The search runs each template with max_d = the threshold bound,
 *    tightened to "strictly better than the best so far", and stops at a
 *    distance of 0.
 *    Parallelism without changing the result: items go in chunks of
 *    TPL_CHUNK. Worker threads compare every item of a chunk with the
 *    templates that existed when the chunk started; then the calling
 *    thread resolves the chunk in order, continuing each item's search
 *    over the templates founded earlier in the same chunk (in founding
 *    order, with the same strict rule). That is exactly the sequential
 *    algorithm, whatever the number of threads or the chunk size.
 *
 * 3. Refinement (refine_iters rounds, k-medoids style Voronoi iteration).
 *    a) Each template's medoid becomes the member minimising the weighted
 *       sum of distances to the other members. Large templates evaluate
 *       at most TPL_CANDS candidates (the current medoid plus members
 *       picked by a seeded hash) against at most TPL_EVAL members (the
 *       same), so a round costs O(templates * 64 * 256) distances at
 *       worst. Distances are cut off at twice the threshold bound of the
 *       template's longest member: two members of one template are
 *       within that of each other through the medoid whenever their
 *       lengths are alike, and capping keeps an outlier from pulling the
 *       medoid while letting far pairs stop early. Ties keep the current
 *       medoid, then the earlier candidate in visit order.
 *       Most of the cost of a round is here, so it is pruned without
 *       changing the choice: the current medoid's cost needs no distance
 *       (each member's distance to it is known from the pass); a candidate
 *       is abandoned as soon as its partial sum exceeds that cost (it
 *       cannot win); and each distance runs with the smallest cutoff that
 *       keeps the sum exact: the cap, the budget left under the medoid's
 *       cost, and dist(candidate) + dist(member) to the current medoid
 *       (the triangle inequality), which turns most of them into narrow
 *       bands.
 *    b) Reassignment: the same pass as 2, starting from the new medoids
 *       (each medoid is fixed to its own template, so no template
 *       empties); an item now beyond the threshold of every medoid founds
 *       a new template, so the threshold invariant holds at the end.
 *    A round stops the refinement early when no medoid moved and the
 *    previous reassignment founded nothing (it would repeat itself).
 *
 * Threads: the calling thread is worker 0; each parallel step starts up
 * to threads - 1 pthreads and joins them (a step is a chunk or a medoid
 * round: milliseconds, against tens of microseconds to start a thread).
 * Work is handed out by an atomic counter (relaxed: it only hands out
 * indices; results are published by pthread_join). Each job writes its
 * own slots; templates and assignments are changed only by the calling
 * thread between steps, when no worker runs. Every worker owns one
 * cluster_ed_scratch, reserved up front for the longest item. The
 * progress callback runs on the calling thread between steps.
 *
 * Ownership: items are borrowed for the call; patterns, scratches and
 * work arrays are freed before return; the result arrays belong to the
 * caller (cluster_result_free()).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cluster/cluster.h"
#include "common/common.h"

#define TPL_CHUNK 256       /* items per parallel step of a pass */
#define TPL_CANDS 64        /* medoid candidates per template and round */
#define TPL_EVAL 256        /* members each candidate is evaluated against */
#define TPL_MAX_THREADS 256
#define TPL_NONE UINT32_MAX

struct tpl_ctx {
	const struct cluster_item *it;
	uint32_t n;
	double thr;
	uint64_t seed;
	uint32_t *order; /* [n] items in visit order */
	uint32_t *rank;  /* [n] inverse of order */
	uint32_t maxlen; /* longest item */

	/* Templates of the current pass, in founding order. */
	uint32_t nt, cap;
	uint32_t *med;                       /* [cap] medoid item */
	struct cluster_ed_pattern **pat;     /* [cap] pattern of the medoid */

	/* Current assignment; TPL_NONE = not yet visited in this pass.
	 * Invariant once visited: dist[i] is the exact edit distance from
	 * item i to med[assign[i]], within the threshold bound (the medoid
	 * step relies on it for its triangle-inequality cutoffs). */
	uint32_t *assign, *dist;

	/* Chunk step: best template among the older ones, per chunk slot. */
	uint32_t chunk0;
	uint32_t cbest[TPL_CHUNK], cdist[TPL_CHUNK];

	/* Medoid step (see tpl_medoids). Jobs of one template are
	 * contiguous, its current medoid first. */
	uint32_t *job_t, *job_item; /* [jobs] template, candidate */
	uint64_t *job_cost;         /* [jobs] bound in, cost out */
	uint32_t *ev_off, *ev;      /* [nt + 1], [<= n] members to evaluate */
	uint32_t *tcap;             /* [nt] distance cap per template */
	atomic_int job_err;

	unsigned nthreads;
	struct cluster_ed_scratch *scr[TPL_MAX_THREADS];

	uint64_t done, total;
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};

/* ---- parallel steps ---------------------------------------------------- */
typedef void (*tpl_job_fn)(struct tpl_ctx *c, unsigned worker, uint32_t job);

struct tpl_step {
	struct tpl_ctx *c;
	tpl_job_fn fn;
	uint32_t njobs;
	atomic_uint_fast32_t next;
};

struct tpl_warg {
	struct tpl_step *st;
	unsigned worker;
};

static void *
tpl_worker(void *arg)
{
	struct tpl_warg *w = arg;
	struct tpl_step *st = w->st;
	for (;;) {
		uint_fast32_t j = atomic_fetch_add_explicit(&st->next, 1,
		    memory_order_relaxed);
		if (j >= st->njobs)
			break;
		st->fn(st->c, w->worker, (uint32_t)j);
	}
	return NULL;
}

/* Runs fn(c, worker, j) for j in [0, njobs) on up to c->nthreads threads,
 * the calling thread included; returns when all are done. */
static void
tpl_parallel(struct tpl_ctx *c, tpl_job_fn fn, uint32_t njobs)
{
	struct tpl_step st = {c, fn, njobs, 0};
	unsigned t = c->nthreads < njobs ? c->nthreads : njobs;
	pthread_t th[TPL_MAX_THREADS];
	struct tpl_warg wa[TPL_MAX_THREADS];
	unsigned started = 0;
	for (unsigned i = 1; i < t; i++) {
		wa[i] = (struct tpl_warg){&st, i};
		if (pthread_create(&th[i], NULL, tpl_worker, &wa[i]))
			break; /* the threads already started take the rest */
		started = i;
	}
	wa[0] = (struct tpl_warg){&st, 0};
	tpl_worker(&wa[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
}

static void
tpl_progress(struct tpl_ctx *c, uint64_t add)
{
	c->done += add;
	if (c->progress)
		c->progress(c->progress_arg, c->done, c->total);
}

/* ---- order ------------------------------------------------------------- */
struct tpl_key {
	uint64_t weight, hash;
	uint32_t item;
};

static int
tpl_key_cmp(const void *a, const void *b)
{
	const struct tpl_key *x = a, *y = b;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

static uint64_t
tpl_hash_sym(const struct cluster_item *x, uint64_t seed)
{
	static const uint64_t empty = 0;
	return XXH3_64bits_withSeed(x->n ? (const void *)x->sym : &empty,
	    (size_t)x->n * sizeof(uint64_t), seed);
}

/* Hash of (seed, round, purpose, item) for sampling. */
static uint64_t
tpl_hash_pick(uint64_t seed, unsigned round, unsigned what, uint32_t item)
{
	uint64_t w[3] = {seed, ((uint64_t)round << 8) | what, item};
	return XXH3_64bits(w, sizeof(w));
}

static int
tpl_order(struct tpl_ctx *c)
{
	struct tpl_key *k = malloc(((size_t)c->n + 1) * sizeof(*k));
	if (!k)
		return WEFT_ENOMEM;
	for (uint32_t i = 0; i < c->n; i++)
		k[i] = (struct tpl_key){c->it[i].weight,
		                        tpl_hash_sym(&c->it[i], c->seed), i};
	qsort(k, c->n, sizeof(*k), tpl_key_cmp);
	for (uint32_t q = 0; q < c->n; q++) {
		c->order[q] = k[q].item;
		c->rank[k[q].item] = q;
	}
	free(k);
	return 0;
}

/* ---- templates --------------------------------------------------------- */
static int
tpl_found(struct tpl_ctx *c, uint32_t item)
{
	if (c->nt == c->cap) {
		uint32_t cap = c->cap ? 2 * c->cap : 64;
		uint32_t *m = realloc(c->med, (size_t)cap * sizeof(*m));
		if (!m)
			return WEFT_ENOMEM;
		c->med = m;
		struct cluster_ed_pattern **p = realloc(c->pat,
		    (size_t)cap * sizeof(*p));
		if (!p)
			return WEFT_ENOMEM;
		c->pat = p;
		c->cap = cap;
	}
	const struct cluster_item *x = &c->it[item];
	struct cluster_ed_pattern *p = cluster_ed_pattern_new(x->sym, x->n);
	if (!p)
		return WEFT_ENOMEM;
	c->med[c->nt] = item;
	c->pat[c->nt] = p;
	c->nt++;
	return 0;
}

static void
tpl_drop_all(struct tpl_ctx *c)
{
	for (uint32_t t = 0; t < c->nt; t++)
		cluster_ed_pattern_free(c->pat[t]);
	c->nt = 0;
}

/*
 * Continues item's search over templates [t0, t1): *bt and *bd become a
 * template strictly nearer (normalised) than the current best (*bt ==
 * TPL_NONE: none yet) and within the threshold, and its distance.
 */
static void
tpl_nearest(const struct tpl_ctx *c, struct cluster_ed_scratch *s,
            uint32_t item, uint32_t t0, uint32_t t1, uint32_t *bt,
            uint32_t *bd)
{
	const struct cluster_item *x = &c->it[item];
	for (uint32_t t = t0; t < t1; t++) {
		if (*bt != TPL_NONE && *bd == 0)
			return; /* nothing is nearer than 0 */
		uint32_t ny = c->it[c->med[t]].n;
		uint32_t lim = cluster_ed_max_d(c->thr, x->n, ny);
		if (*bt != TPL_NONE) {
			/* d / L < bd / Lb  <=>  d <= ceil(bd * L / Lb) - 1 */
			uint32_t nb = c->it[c->med[*bt]].n;
			uint64_t L = x->n > ny ? x->n : ny;
			uint64_t Lb = x->n > nb ? x->n : nb;
			uint64_t cl = ((uint64_t)*bd * L + Lb - 1) / Lb;
			uint64_t strict = cl ? cl - 1 : 0;
			if (strict < lim)
				lim = (uint32_t)strict;
		}
		uint32_t dl = x->n > ny ? x->n - ny : ny - x->n;
		if (dl > lim)
			continue;
		uint32_t d = cluster_ed_dist(c->pat[t], x->sym, x->n, lim, s);
		if (d <= lim) {
			*bt = t;
			*bd = d;
		}
	}
}

static void
tpl_chunk_job(struct tpl_ctx *c, unsigned worker, uint32_t j)
{
	uint32_t item = c->order[c->chunk0 + j];
	c->cbest[j] = TPL_NONE;
	c->cdist[j] = 0;
	if (c->assign[item] != TPL_NONE)
		return; /* a medoid, fixed */
	tpl_nearest(c, c->scr[worker], item, 0, c->nt, &c->cbest[j],
	    &c->cdist[j]);
}

/* One pass over all items in visit order (section 2 above). Templates
 * [0, nt) exist already, their medoids assigned; others are TPL_NONE. */
static int
tpl_pass(struct tpl_ctx *c)
{
	for (uint32_t start = 0; start < c->n; start += TPL_CHUNK) {
		uint32_t len = c->n - start < TPL_CHUNK ? c->n - start : TPL_CHUNK;
		uint32_t nold = c->nt;
		c->chunk0 = start;
		if (nold) {
			tpl_parallel(c, tpl_chunk_job, len);
		} else {
			for (uint32_t j = 0; j < len; j++)
				c->cbest[j] = TPL_NONE;
		}
		for (uint32_t j = 0; j < len; j++) {
			uint32_t item = c->order[start + j];
			if (c->assign[item] != TPL_NONE)
				continue;
			uint32_t bt = c->cbest[j], bd = c->cdist[j];
			tpl_nearest(c, c->scr[0], item, nold, c->nt, &bt, &bd);
			if (bt == TPL_NONE) {
				int rc = tpl_found(c, item);
				if (rc)
					return rc;
				bt = c->nt - 1;
				bd = 0;
			}
			c->assign[item] = bt;
			c->dist[item] = bd;
		}
		tpl_progress(c, len);
	}
	return 0;
}

/* ---- medoids ----------------------------------------------------------- */
struct tpl_pick {
	uint64_t key;
	uint32_t item;
};

static int
tpl_pick_cmp(const void *a, const void *b)
{
	const struct tpl_pick *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

/* sum + w * v, saturating at UINT64_MAX. */
static uint64_t
tpl_add(uint64_t sum, uint64_t w, uint64_t v)
{
	if (v && w > (UINT64_MAX - sum) / v)
		return UINT64_MAX;
	return sum + w * v;
}

/* Cost of the current medoid of template t: its distances are known. */
static uint64_t
tpl_medoid_cost(const struct tpl_ctx *c, uint32_t t)
{
	uint64_t sum = 0;
	for (uint32_t e = c->ev_off[t]; e < c->ev_off[t + 1]; e++) {
		uint32_t y = c->ev[e], d = c->dist[y];
		sum = tpl_add(sum, c->it[y].weight,
		    d > c->tcap[t] ? (uint64_t)c->tcap[t] + 1 : d);
	}
	return sum;
}

/*
 * Weighted, capped sum of distances from one candidate to its template's
 * evaluation members; UINT64_MAX once it exceeds the current medoid's
 * cost (that candidate cannot win). Each distance runs with the smallest
 * cutoff that keeps the sum exact: the cap, the budget left under the
 * medoid's cost, and dist(cand) + dist(member), both to the current
 * medoid, an upper bound by the triangle inequality.
 */
static void
tpl_medoid_job(struct tpl_ctx *c, unsigned worker, uint32_t j)
{
	uint32_t t = c->job_t[j], cand = c->job_item[j], cap = c->tcap[t];
	uint64_t bound = c->job_cost[j]; /* the medoid's cost, set before */
	if (cand == c->med[t])
		return; /* its cost is the bound */
	const struct cluster_item *x = &c->it[cand];
	struct cluster_ed_pattern *p = cluster_ed_pattern_new(x->sym, x->n);
	if (!p) {
		atomic_store_explicit(&c->job_err, WEFT_ENOMEM,
		    memory_order_relaxed);
		c->job_cost[j] = UINT64_MAX;
		return;
	}
	uint64_t sum = 0;
	for (uint32_t e = c->ev_off[t]; e < c->ev_off[t + 1]; e++) {
		uint32_t yi = c->ev[e];
		const struct cluster_item *y = &c->it[yi];
		if (yi == cand || !y->weight)
			continue;
		uint64_t lim = cap, ub = (uint64_t)c->dist[cand] + c->dist[yi];
		uint64_t room = (bound - sum) / y->weight;
		lim = ub < lim ? ub : lim;
		lim = room < lim ? room : lim;
		uint32_t d = cluster_ed_dist(p, y->sym, y->n, (uint32_t)lim,
		    c->scr[worker]);
		if (d > lim) {
			if (lim == cap) {
				d = cap + 1; /* capped, still within the budget */
			} else {
				sum = UINT64_MAX; /* over the budget */
				break;
			}
		}
		sum = tpl_add(sum, y->weight, d);
		if (sum > bound) {
			sum = UINT64_MAX;
			break;
		}
	}
	cluster_ed_pattern_free(p);
	c->job_cost[j] = sum;
}

/* Picks up to k members of mem[0..cnt) by the smallest seeded hash, into
 * out in visit order; `skip` (TPL_NONE: none) is left out. */
static uint32_t
tpl_sample(struct tpl_ctx *c, const uint32_t *mem, uint32_t cnt, uint32_t k,
           uint32_t skip, unsigned round, unsigned what,
           struct tpl_pick *tmp, uint32_t *out)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < cnt; i++)
		if (mem[i] != skip)
			tmp[m++] = (struct tpl_pick){
			    tpl_hash_pick(c->seed, round, what, mem[i]), mem[i]};
	if (m > k) {
		qsort(tmp, m, sizeof(*tmp), tpl_pick_cmp);
		m = k;
		for (uint32_t i = 0; i < m; i++)
			tmp[i].key = c->rank[tmp[i].item];
		qsort(tmp, m, sizeof(*tmp), tpl_pick_cmp);
	}
	for (uint32_t i = 0; i < m; i++)
		out[i] = tmp[i].item;
	return m;
}

/* Section 3a: new medoids into newmed[0..nt); *moved = any changed. */
static int
tpl_medoids(struct tpl_ctx *c, unsigned round, uint32_t *newmed, int *moved)
{
	uint32_t nt = c->nt;
	int rc = WEFT_ENOMEM;
	uint32_t *off = calloc((size_t)nt + 1, sizeof(uint32_t));
	uint32_t *cur = calloc((size_t)nt + 1, sizeof(uint32_t));
	uint32_t *mem = malloc(((size_t)c->n + 1) * sizeof(uint32_t));
	struct tpl_pick *tmp = malloc(((size_t)c->n + 1) * sizeof(*tmp));
	c->ev_off = calloc((size_t)nt + 1, sizeof(uint32_t));
	/* members to evaluate against and candidates: each item at most once */
	c->ev = malloc(((size_t)c->n + 1) * sizeof(uint32_t));
	c->tcap = malloc(((size_t)nt + 1) * sizeof(uint32_t));
	c->job_t = malloc(((size_t)c->n + 1) * sizeof(uint32_t));
	c->job_item = malloc(((size_t)c->n + 1) * sizeof(uint32_t));
	c->job_cost = malloc(((size_t)c->n + 1) * sizeof(uint64_t));
	if (!off || !cur || !mem || !tmp || !c->ev_off || !c->ev || !c->tcap ||
	    !c->job_t || !c->job_item || !c->job_cost)
		goto out;
	/* members of each template, in visit order */
	for (uint32_t i = 0; i < c->n; i++)
		off[c->assign[i] + 1]++;
	for (uint32_t t = 0; t < nt; t++)
		off[t + 1] += off[t];
	for (uint32_t q = 0; q < c->n; q++) {
		uint32_t i = c->order[q], t = c->assign[i];
		mem[off[t] + cur[t]++] = i;
	}
	uint32_t nj = 0, ne = 0;
	for (uint32_t t = 0; t < nt; t++) {
		const uint32_t *m = mem + off[t];
		uint32_t cnt = off[t + 1] - off[t], lmax = 0;
		for (uint32_t i = 0; i < cnt; i++)
			if (c->it[m[i]].n > lmax)
				lmax = c->it[m[i]].n;
		c->tcap[t] = cluster_ed_max_d(2 * c->thr, lmax, lmax);
		ne += tpl_sample(c, m, cnt, TPL_EVAL, TPL_NONE, round, 'e', tmp,
		    c->ev + ne);
		c->ev_off[t + 1] = ne;
		if (cnt < 2)
			continue;
		/* the current medoid first, then sampled members; every job
		 * starts with the medoid's cost as its bound */
		uint64_t mc = tpl_medoid_cost(c, t);
		c->job_t[nj] = t;
		c->job_cost[nj] = mc;
		c->job_item[nj++] = c->med[t];
		uint32_t k = tpl_sample(c, m, cnt, TPL_CANDS - 1, c->med[t], round,
		    'c', tmp, c->job_item + nj);
		for (uint32_t i = 0; i < k; i++) {
			c->job_t[nj + i] = t;
			c->job_cost[nj + i] = mc;
		}
		nj += k;
	}
	atomic_store_explicit(&c->job_err, 0, memory_order_relaxed);
	if (nj)
		tpl_parallel(c, tpl_medoid_job, nj);
	if ((rc = atomic_load_explicit(&c->job_err, memory_order_relaxed)))
		goto out;
	*moved = 0;
	for (uint32_t t = 0; t < nt; t++)
		newmed[t] = c->med[t];
	/* Jobs of one template are contiguous, the current medoid first and
	 * the others in visit order: the first minimum breaks ties. */
	for (uint32_t j = 0; j < nj;) {
		uint32_t t = c->job_t[j], best = j;
		for (j++; j < nj && c->job_t[j] == t; j++)
			if (c->job_cost[j] < c->job_cost[best])
				best = j;
		newmed[t] = c->job_item[best];
		*moved |= newmed[t] != c->med[t];
	}
	rc = 0;
out:
	free(off);
	free(cur);
	free(mem);
	free(tmp);
	free(c->ev_off);
	free(c->ev);
	free(c->tcap);
	free(c->job_t);
	free(c->job_item);
	free(c->job_cost);
	c->ev_off = c->ev = c->tcap = c->job_t = c->job_item = NULL;
	c->job_cost = NULL;
	return rc;
}

/* Section 3b: templates become newmed[0..nt), then a pass. */
static int
tpl_reassign(struct tpl_ctx *c, const uint32_t *newmed)
{
	uint32_t nt = c->nt;
	for (uint32_t t = 0; t < nt; t++) {
		if (newmed[t] == c->med[t])
			continue;
		const struct cluster_item *x = &c->it[newmed[t]];
		struct cluster_ed_pattern *p = cluster_ed_pattern_new(x->sym, x->n);
		if (!p)
			return WEFT_ENOMEM;
		cluster_ed_pattern_free(c->pat[t]);
		c->pat[t] = p;
		c->med[t] = newmed[t];
	}
	for (uint32_t i = 0; i < c->n; i++)
		c->assign[i] = TPL_NONE;
	for (uint32_t t = 0; t < nt; t++) {
		c->assign[c->med[t]] = t;
		c->dist[c->med[t]] = 0;
	}
	return tpl_pass(c);
}

/* ---- entry points ------------------------------------------------------ */
void
cluster_params_default(struct cluster_params *p)
{
	memset(p, 0, sizeof(*p));
	p->threshold = 0.15;
	p->threads = 0;
	p->seed = 0;
	p->refine_iters = 2;
}

void
cluster_result_free(struct cluster_result *r)
{
	if (!r)
		return;
	free(r->medoid);
	free(r->assign);
	free(r->dist);
	memset(r, 0, sizeof(*r));
}

/* want, or the online cores for 0 (as the engine counts its workers),
 * at most TPL_MAX_THREADS. */
static unsigned
tpl_threads(unsigned want)
{
	want = weft_workers_for(want);
	return want > TPL_MAX_THREADS ? TPL_MAX_THREADS : want;
}

static void
tpl_ctx_free(struct tpl_ctx *c)
{
	tpl_drop_all(c);
	free(c->med);
	free(c->pat);
	free(c->order);
	free(c->rank);
	free(c->assign);
	free(c->dist);
	for (unsigned w = 0; w < c->nthreads; w++)
		cluster_ed_scratch_free(c->scr[w]);
	free(c);
}

int
cluster_templates(const struct cluster_item *items, uint32_t n,
                  const struct cluster_params *p, struct cluster_result *out)
{
	struct cluster_params def;
	if (!out)
		return WEFT_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!p) {
		cluster_params_default(&def);
		p = &def;
	}
	if ((!items && n) || !(p->threshold >= 0.0) || n == UINT32_MAX)
		return WEFT_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!items[i].sym && items[i].n)
			return WEFT_EINVAL;
	if (n == 0)
		return 0;
	struct tpl_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return WEFT_ENOMEM;
	int rc = WEFT_ENOMEM;
	c->it = items;
	c->n = n;
	c->thr = p->threshold;
	c->seed = p->seed;
	c->progress = p->progress;
	c->progress_arg = p->progress_arg;
	c->total = (uint64_t)n * (1 + p->refine_iters);
	c->order = malloc((size_t)n * sizeof(uint32_t));
	c->rank = malloc((size_t)n * sizeof(uint32_t));
	c->assign = malloc((size_t)n * sizeof(uint32_t));
	c->dist = malloc((size_t)n * sizeof(uint32_t));
	uint32_t *newmed = NULL;
	if (!c->order || !c->rank || !c->assign || !c->dist)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		c->assign[i] = TPL_NONE;
		if (items[i].n > c->maxlen)
			c->maxlen = items[i].n;
	}
	unsigned want = tpl_threads(p->threads);
	for (; c->nthreads < want; c->nthreads++) {
		c->scr[c->nthreads] = cluster_ed_scratch_new();
		if (!c->scr[c->nthreads] ||
		    cluster_ed_scratch_reserve(c->scr[c->nthreads], c->maxlen)) {
			cluster_ed_scratch_free(c->scr[c->nthreads]);
			break;
		}
	}
	if (!c->nthreads || (rc = tpl_order(c)) || (rc = tpl_pass(c)))
		goto out;
	int founded = 1; /* the last pass founded templates */
	for (unsigned r = 0; r < p->refine_iters; r++) {
		uint32_t nt = c->nt;
		int moved = 0;
		free(newmed);
		if (!(newmed = malloc(((size_t)nt + 1) * sizeof(uint32_t)))) {
			rc = WEFT_ENOMEM;
			goto out;
		}
		if ((rc = tpl_medoids(c, r, newmed, &moved)))
			goto out;
		if (!moved && !founded)
			break; /* the reassignment would repeat the last one */
		if ((rc = tpl_reassign(c, newmed)))
			goto out;
		founded = c->nt != nt;
	}
	if (c->done < c->total)
		tpl_progress(c, c->total - c->done);
	rc = WEFT_ENOMEM;
	if (!(out->medoid = malloc(((size_t)c->nt + 1) * sizeof(uint32_t))))
		goto out;
	memcpy(out->medoid, c->med, (size_t)c->nt * sizeof(uint32_t));
	out->n_templates = c->nt;
	out->assign = c->assign;
	out->dist = c->dist;
	c->assign = c->dist = NULL;
	rc = 0;
out:
	free(newmed);
	tpl_ctx_free(c);
	return rc;
}

/*
 * model.c — building, saving and loading the model of normal traces
 * (model.h): llquantize histograms, the trainer, and the model file.
 *
 * Training keeps every distinct exact shape once (with its weight: how
 * many training traces had it), every distinct piece once, and per trace
 * only what the latency profiles need (its shape and its per-label longest
 * event). cluster_trainer_build() then:
 *   1. clusters the distinct shapes by normalised edit distance of their
 *      symbol strings (cluster_templates: threshold clustering with cutoff,
 *      then medoid refinement; cluster.h says why), one template per
 *      cluster, its medoid kept whole;
 *   2. maps every training shape (exact) to its template, and every
 *      signature to the template of its heaviest shape, so a normal trace
 *      finds its template without an edit distance;
 *   3. fills per-template and model-wide latency histograms and turns them
 *      into thresholds: slow_factor x the slow_quantile bucket's upper
 *      bound, never below slow_floor_ns, only where at least
 *      slow_min_samples were seen (a template with fewer uses the model-
 *      wide profile of the label; the trace duration has no model-wide
 *      fallback, since durations of different templates do not compare);
 *   4. sizes the Bloom filter for shapes + pieces at bloom_fpr and adds
 *      them.
 *
 * File layout (little-endian; every count is checked against the bytes
 * left before anything is allocated, so a crafted file cannot make the
 * loader allocate more than the file's own size allows):
 *   header (64 bytes): "WEFTMODL", u32 version, u32 header size,
 *                      u64 total length, u64 XXH3-64 of bytes [64, total)
 *   params, totals, label texts, templates (symbols, DAG, profile),
 *   model-wide profile, exact map, signature map, Bloom filter section.
 * A histogram is stored sparse: u64 n, u16 non-empty buckets, then
 * (u16 bucket, u32 count) pairs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "bloom/bloom.h"
#include "cluster/cluster.h"
#include "cluster/model.h"
#include "cluster/model_int.h"
#include "common/common.h"

/* ---- llquantize --------------------------------------------------------- */

static const uint64_t pow10_tab[] = {1ull, 10ull, 100ull, 1000ull, 10000ull,
    100000ull, 1000000ull, 10000000ull, 100000000ull, 1000000000ull,
    10000000000ull, 100000000000ull, 1000000000000ull};

unsigned
cluster_llq_bucket(uint64_t v)
{
	if (v < pow10_tab[CLUSTER_LLQ_LOW])
		return 0;
	unsigned b = 1;
	for (unsigned m = CLUSTER_LLQ_LOW; m <= CLUSTER_LLQ_HIGH; m++) {
		if (v < pow10_tab[m + 1]) {
			uint64_t step = pow10_tab[m + 1] / CLUSTER_LLQ_STEPS;
			unsigned i = (unsigned)(v / step) - CLUSTER_LLQ_STEPS / 10;
			return b + i;
		}
		b += CLUSTER_LLQ_PER_DECADE;
	}
	return CLUSTER_LLQ_BUCKETS - 1;
}

uint64_t
cluster_llq_lo(unsigned b)
{
	if (b == 0)
		return 0;
	if (b >= CLUSTER_LLQ_BUCKETS - 1)
		return pow10_tab[CLUSTER_LLQ_HIGH + 1];
	unsigned m = CLUSTER_LLQ_LOW + (b - 1) / CLUSTER_LLQ_PER_DECADE;
	unsigned i = (b - 1) % CLUSTER_LLQ_PER_DECADE;
	uint64_t step = pow10_tab[m + 1] / CLUSTER_LLQ_STEPS;
	return step * (i + CLUSTER_LLQ_STEPS / 10);
}

uint64_t
cluster_llq_hi(unsigned b)
{
	if (b >= CLUSTER_LLQ_BUCKETS - 1)
		return UINT64_MAX;
	return cluster_llq_lo(b + 1);
}

void
cluster_llq_add(struct cluster_llq *h, uint64_t v)
{
	unsigned b = cluster_llq_bucket(v);
	if (h->bucket[b] != UINT32_MAX)
		h->bucket[b]++;
	h->n++;
}

uint64_t
cluster_llq_quantile(const struct cluster_llq *h, double q)
{
	if (!h->n)
		return 0;
	double want = q * (double)h->n;
	uint64_t seen = 0;
	for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen && (double)seen >= want)
			return cluster_llq_hi(b);
	}
	return cluster_llq_hi(CLUSTER_LLQ_BUCKETS - 1);
}

/* ---- small u64 -> u32 map ----------------------------------------------- */

void
cluster_map_free(struct cluster_map *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof *m);
}

static int
map_grow(struct cluster_map *m)
{
	size_t nc = m->cap ? m->cap * 2 : 256;
	uint64_t *k = calloc(nc, sizeof *k);
	uint32_t *v = malloc(nc * sizeof *v);
	if (!k || !v) {
		free(k);
		free(v);
		return WEFT_ENOMEM;
	}
	memset(v, 0xff, nc * sizeof *v);
	for (size_t i = 0; i < m->cap; i++) {
		if (m->v[i] == UINT32_MAX)
			continue;
		size_t j = (size_t)(m->k[i] * 0x9e3779b97f4a7c15ull) & (nc - 1);
		while (v[j] != UINT32_MAX)
			j = (j + 1) & (nc - 1);
		k[j] = m->k[i];
		v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = k;
	m->v = v;
	m->cap = nc;
	return 0;
}

/* Finds key; inserts it with value val when absent (*found = 0). Returns
 * the slot's value pointer, NULL on ENOMEM. */
uint32_t *
cluster_map_put(struct cluster_map *m, uint64_t key, uint32_t val, int *found)
{
	if ((m->n + 1) * 4 > m->cap * 3 && map_grow(m))
		return NULL;
	size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull) & (m->cap - 1);
	while (m->v[j] != UINT32_MAX) {
		if (m->k[j] == key) {
			*found = 1;
			return &m->v[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->k[j] = key;
	m->v[j] = val;
	m->n++;
	*found = 0;
	return &m->v[j];
}

/* ---- each label's longest event -------------------------------------- */

int
cluster_label_max_compute(struct cluster_label_max *lm, const struct cluster_trace_in *tr)
{
	const struct cluster_dag *g = tr->dag;
	uint32_t n = g->n_nodes;
	lm->n = 0;
	lm->ix.n = 0;
	if (lm->ix.v)
		memset(lm->ix.v, 0xff, lm->ix.cap * sizeof(uint32_t));
	if (n > lm->cap) {
		size_t c = lm->cap;
		if (cluster_grow((void **)&lm->sym, &c, n, sizeof *lm->sym))
			return WEFT_ENOMEM;
		c = lm->cap;
		if (cluster_grow((void **)&lm->val, &c, n, sizeof *lm->val))
			return WEFT_ENOMEM;
		c = lm->cap;
		if (cluster_grow((void **)&lm->node, &c, n, sizeof *lm->node))
			return WEFT_ENOMEM;
		lm->cap = c;
	}
	int found;
	for (uint32_t i = 0; i < n && tr->dur_ns; i++) {
		if (tr->dur_ns[i] == UINT64_MAX || g->label[i] == CLUSTER_SYM_MISSING)
			continue;
		uint32_t *k = cluster_map_put(&lm->ix, g->label[i], lm->n, &found);
		if (!k)
			return WEFT_ENOMEM;
		if (!found) {
			lm->sym[lm->n] = g->label[i];
			lm->val[lm->n] = tr->dur_ns[i];
			lm->node[lm->n++] = i;
		} else if (tr->dur_ns[i] > lm->val[*k]) {
			lm->val[*k] = tr->dur_ns[i];
			lm->node[*k] = i;
		}
	}
	return 0;
}

void
cluster_label_max_free(struct cluster_label_max *lm)
{
	free(lm->sym);
	free(lm->val);
	free(lm->node);
	cluster_map_free(&lm->ix);
	memset(lm, 0, sizeof *lm);
}

/* ---- parameters ------------------------------------------------------- */

void
cluster_model_params_default(struct cluster_model_params *p)
{
	memset(p, 0, sizeof *p);
	p->threshold = 0.15;
	p->bloom_fpr = 1e-4;
	p->slow_quantile = 0.99;
	p->slow_factor = 2.0;
	p->slow_min_samples = 20;
	p->slow_floor_ns = 10000000;
	p->seed = 1;
}

/* ---- trainer ------------------------------------------------------------ */

struct shape {
	uint64_t exact, signature, weight;
	uint64_t *sym;
	uint32_t n_sym, n_nodes;
	uint64_t *label;   /* [n_nodes] */
	uint32_t *par_off; /* [n_nodes + 1] */
	uint32_t *par;
};

struct lat_obs { /* one (trace, label) observation */
	uint32_t shape;
	uint32_t pad;
	uint64_t label; /* 0 = the trace's duration */
	uint64_t value;
};

struct cluster_trainer {
	struct cluster_model_params p;
	struct cluster_map shape_ix; /* exact -> shape */
	struct shape *shapes;
	size_t n_shapes, cap_shapes;
	struct cluster_map pieces;   /* piece -> 0 (a set) */
	struct cluster_map label_ix; /* label sym -> index in texts */
	char **texts;
	uint64_t *text_sym;
	size_t n_texts, cap_texts;
	struct lat_obs *obs;
	size_t n_obs, cap_obs;
	uint64_t traces;
	struct cluster_pieces_scratch *ps;
	uint64_t *pbuf;
	size_t cap_pbuf;
	struct cluster_label_max lmax; /* per trace, reused */
};


int
cluster_trainer_new(const struct cluster_model_params *p,
                    struct cluster_trainer **out)
{
	struct cluster_trainer *t = calloc(1, sizeof *t);
	if (!t)
		return WEFT_ENOMEM;
	if (p)
		t->p = *p;
	else
		cluster_model_params_default(&t->p);
	if (!(t->p.threshold >= 0 && t->p.threshold <= 1) ||
	    !(t->p.bloom_fpr > 0 && t->p.bloom_fpr < 1) ||
	    !(t->p.slow_quantile > 0 && t->p.slow_quantile <= 1) ||
	    !(t->p.slow_factor >= 1)) {
		free(t);
		return WEFT_EINVAL;
	}
	t->ps = cluster_pieces_scratch_new();
	if (!t->ps) {
		free(t);
		return WEFT_ENOMEM;
	}
	*out = t;
	return 0;
}

static void
shape_free(struct shape *s)
{
	free(s->sym);
	free(s->label);
	free(s->par_off);
	free(s->par);
}

void
cluster_trainer_free(struct cluster_trainer *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_shapes; i++)
		shape_free(&t->shapes[i]);
	free(t->shapes);
	for (size_t i = 0; i < t->n_texts; i++)
		free(t->texts[i]);
	free(t->texts);
	free(t->text_sym);
	cluster_map_free(&t->shape_ix);
	cluster_map_free(&t->pieces);
	cluster_map_free(&t->label_ix);
	free(t->obs);
	free(t->pbuf);
	cluster_label_max_free(&t->lmax);
	cluster_pieces_scratch_free(t->ps);
	free(t);
}

static void *
dup_mem(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

static int
add_obs(struct cluster_trainer *t, uint32_t shape, uint64_t label, uint64_t v)
{
	if (cluster_grow((void **)&t->obs, &t->cap_obs, t->n_obs + 1, sizeof *t->obs))
		return WEFT_ENOMEM;
	t->obs[t->n_obs++] = (struct lat_obs){shape, 0, label, v};
	return 0;
}

int
cluster_trainer_add(struct cluster_trainer *t, const struct cluster_trace_in *tr)
{
	const struct cluster_dag *g = tr->dag;
	uint32_t n = g->n_nodes;
	int found, rc;
	/* shape */
	uint32_t *slot = cluster_map_put(&t->shape_ix, tr->exact,
	                                 (uint32_t)t->n_shapes, &found);
	if (!slot)
		return WEFT_ENOMEM;
	uint32_t si = *slot;
	if (!found) {
		if (cluster_grow((void **)&t->shapes, &t->cap_shapes, t->n_shapes + 1,
		         sizeof *t->shapes))
			return WEFT_ENOMEM;
		struct shape *s = &t->shapes[t->n_shapes];
		memset(s, 0, sizeof *s);
		s->exact = tr->exact;
		s->signature = tr->signature;
		s->n_sym = tr->n_symbols;
		s->n_nodes = n;
		s->sym = dup_mem(tr->symbols, (size_t)tr->n_symbols * sizeof(uint64_t));
		s->label = dup_mem(g->label, (size_t)n * sizeof(uint64_t));
		s->par_off = dup_mem(g->par_off, ((size_t)n + 1) * sizeof(uint32_t));
		s->par = dup_mem(g->par, (size_t)g->par_off[n] * sizeof(uint32_t));
		t->n_shapes++;
		if (!s->sym || !s->label || !s->par_off || !s->par)
			return WEFT_ENOMEM;
	}
	t->shapes[si].weight++;
	t->traces++;
	/* pieces */
	if (cluster_grow((void **)&t->pbuf, &t->cap_pbuf, n ? n : 1, sizeof(uint64_t)))
		return WEFT_ENOMEM;
	if ((rc = cluster_pieces(t->ps, g, t->pbuf)))
		return rc;
	for (uint32_t i = 0; i < n; i++)
		if (!cluster_map_put(&t->pieces, t->pbuf[i], 0, &found))
			return WEFT_ENOMEM;
	/* label texts */
	for (uint32_t i = 0; i < n && tr->label_text; i++) {
		if (!tr->label_text[i])
			continue;
		uint32_t *ls = cluster_map_put(&t->label_ix, g->label[i],
		                               (uint32_t)t->n_texts, &found);
		if (!ls)
			return WEFT_ENOMEM;
		if (found)
			continue;
		if (cluster_grow((void **)&t->texts, &t->cap_texts, t->n_texts + 1, sizeof(char *)))
			return WEFT_ENOMEM;
		uint64_t *ns = realloc(t->text_sym, t->cap_texts * sizeof(uint64_t));
		if (!ns)
			return WEFT_ENOMEM;
		t->text_sym = ns;
		if (!(t->texts[t->n_texts] = strdup(tr->label_text[i])))
			return WEFT_ENOMEM;
		t->text_sym[t->n_texts++] = g->label[i];
	}
	/* latency observations: duration, then each label's longest event */
	if ((rc = add_obs(t, si, 0, tr->duration_ns)))
		return rc;
	if (!tr->dur_ns)
		return 0;
	if ((rc = cluster_label_max_compute(&t->lmax, tr)))
		return rc;
	for (uint32_t j = 0; j < t->lmax.n; j++)
		if ((rc = add_obs(t, si, t->lmax.sym[j], t->lmax.val[j])))
			return rc;
	return 0;
}

/* ---- build -------------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
seterr(char *buf, size_t len, const char *fmt, ...)
{
	if (!buf || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int
cmp_obs(const void *a, const void *b)
{
	const struct lat_obs *x = a, *y = b;
	if (x->shape != y->shape)
		return x->shape < y->shape ? -1 : 1;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	return 0;
}

static int
cmp_ment(const void *a, const void *b)
{
	const struct cluster_ment *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

static int
cmp_label(const void *a, const void *b)
{
	const struct cluster_label *x = a, *y = b;
	return x->sym < y->sym ? -1 : x->sym > y->sym;
}

static int
cmp_lprof(const void *a, const void *b)
{
	const struct cluster_lprof *x = a, *y = b;
	return x->sym < y->sym ? -1 : x->sym > y->sym;
}

static uint64_t
threshold_of(const struct cluster_model_params *p, const struct cluster_llq *h)
{
	if (h->n < p->slow_min_samples || !h->n)
		return 0;
	uint64_t q = cluster_llq_quantile(h, p->slow_quantile);
	double thr = (double)q * p->slow_factor;
	if (thr > 1.8e19)
		thr = 1.8e19;
	uint64_t t = (uint64_t)thr;
	return t < p->slow_floor_ns ? p->slow_floor_ns : t;
}

/* Adds label observation v to profile set prof (growing it). */
static struct cluster_lprof *
lprof_get(struct cluster_profile *pr, uint64_t sym, size_t *cap)
{
	if (pr->n_lab && pr->lab[pr->n_lab - 1].sym == sym)
		return &pr->lab[pr->n_lab - 1];
	if (cluster_grow((void **)&pr->lab, cap, (size_t)pr->n_lab + 1, sizeof *pr->lab))
		return NULL;
	struct cluster_lprof *l = &pr->lab[pr->n_lab++];
	memset(l, 0, sizeof *l);
	l->sym = sym;
	return l;
}

void
cluster_model_finish_thresholds(struct cluster_model *m)
{
	const struct cluster_model_params *p = &m->params;
	for (uint32_t i = 0; i < m->global.n_lab; i++)
		m->global.lab[i].thr = threshold_of(p, &m->global.lab[i].h);
	for (uint32_t t = 0; t < m->n_templates; t++) {
		struct cluster_profile *pr = &m->t[t].prof;
		pr->dur_thr = threshold_of(p, &pr->dur);
		for (uint32_t i = 0; i < pr->n_lab; i++) {
			struct cluster_lprof *l = &pr->lab[i];
			l->thr = threshold_of(p, &l->h);
			if (!l->thr) {
				const struct cluster_lprof *g =
				    cluster_profile_find(&m->global, l->sym);
				l->thr = g ? g->thr : 0;
			}
		}
	}
}

const struct cluster_lprof *
cluster_profile_find(const struct cluster_profile *pr, uint64_t sym)
{
	uint32_t lo = 0, hi = pr->n_lab;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (pr->lab[mid].sym < sym)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < pr->n_lab && pr->lab[lo].sym == sym ? &pr->lab[lo] : NULL;
}

uint64_t
cluster_exact_key(uint64_t exact)
{
	/* pieces and whole shapes share the filter: keep their keys apart */
	return XXH3_64bits_withSeed(&exact, sizeof exact, 0x6578616374ULL /* "exact" */);
}

int
cluster_model_prepare(struct cluster_model *m)
{
	m->pat = calloc(m->n_templates ? m->n_templates : 1, sizeof *m->pat);
	if (!m->pat)
		return WEFT_ENOMEM;
	for (uint32_t t = 0; t < m->n_templates; t++)
		if (!(m->pat[t] = cluster_ed_pattern_new(m->t[t].sym, m->t[t].n_sym)))
			return WEFT_ENOMEM;
	atomic_store(&m->refs, 1);
	return 0;
}

int
cluster_trainer_build(struct cluster_trainer *t, struct cluster_model **out,
                      char *errstr, size_t errlen)
{
	*out = NULL;
	if (!t->n_shapes) {
		seterr(errstr, errlen, "no training traces");
		return WEFT_EINVAL;
	}
	struct cluster_model *m = calloc(1, sizeof *m);
	struct cluster_item *items = calloc(t->n_shapes, sizeof *items);
	struct cluster_result res;
	memset(&res, 0, sizeof res);
	int rc = WEFT_ENOMEM;
	if (!m || !items)
		goto fail;
	m->params = t->p;
	m->traces = t->traces;
	m->shapes = t->n_shapes;
	m->pieces = t->pieces.n;
	/* 1. templates */
	for (size_t i = 0; i < t->n_shapes; i++)
		items[i] = (struct cluster_item){t->shapes[i].sym, t->shapes[i].n_sym,
		                                 t->shapes[i].weight};
	struct cluster_params cp;
	cluster_params_default(&cp);
	cp.threshold = t->p.threshold;
	cp.threads = t->p.threads;
	cp.seed = t->p.seed;
	cp.progress = t->p.progress;
	cp.progress_arg = t->p.progress_arg;
	if ((rc = cluster_templates(items, (uint32_t)t->n_shapes, &cp, &res))) {
		seterr(errstr, errlen, "clustering failed: %s", weft_strerror(rc));
		goto fail;
	}
	rc = WEFT_ENOMEM;
	m->n_templates = res.n_templates;
	if (!(m->t = calloc(res.n_templates ? res.n_templates : 1, sizeof *m->t)))
		goto fail;
	for (uint32_t k = 0; k < res.n_templates; k++) {
		const struct shape *s = &t->shapes[res.medoid[k]];
		struct cluster_tmpl *tp = &m->t[k];
		tp->exact = s->exact;
		tp->signature = s->signature;
		tp->n_sym = s->n_sym;
		tp->n_nodes = s->n_nodes;
		tp->sym = dup_mem(s->sym, (size_t)s->n_sym * sizeof(uint64_t));
		tp->label = dup_mem(s->label, (size_t)s->n_nodes * sizeof(uint64_t));
		tp->par_off = dup_mem(s->par_off, ((size_t)s->n_nodes + 1) * sizeof(uint32_t));
		tp->par = dup_mem(s->par, (size_t)s->par_off[s->n_nodes] * sizeof(uint32_t));
		if (!tp->sym || !tp->label || !tp->par_off || !tp->par)
			goto fail;
	}
	for (size_t i = 0; i < t->n_shapes; i++)
		m->t[res.assign[i]].weight += t->shapes[i].weight;
	/* 2. maps: exact -> template; signature -> template of its heaviest shape */
	m->n_exact = (uint32_t)t->n_shapes;
	m->exact_map = calloc(t->n_shapes, sizeof *m->exact_map);
	struct cluster_ment *sig = calloc(t->n_shapes, sizeof *sig);
	uint64_t *sigw = calloc(t->n_shapes, sizeof *sigw);
	if (!m->exact_map || !sig || !sigw) {
		free(sig);
		free(sigw);
		goto fail;
	}
	for (size_t i = 0; i < t->n_shapes; i++)
		m->exact_map[i] = (struct cluster_ment){t->shapes[i].exact, res.assign[i], 0};
	qsort(m->exact_map, m->n_exact, sizeof *m->exact_map, cmp_ment);
	{
		struct cluster_map sx;
		memset(&sx, 0, sizeof sx);
		uint32_t ns = 0;
		int found;
		for (size_t i = 0; i < t->n_shapes; i++) {
			uint32_t *sl = cluster_map_put(&sx, t->shapes[i].signature, ns, &found);
			if (!sl) {
				cluster_map_free(&sx);
				free(sig);
				free(sigw);
				goto fail;
			}
			if (!found) {
				sig[ns] = (struct cluster_ment){t->shapes[i].signature, res.assign[i], 0};
				sigw[ns++] = t->shapes[i].weight;
			} else if (t->shapes[i].weight > sigw[*sl]) {
				sig[*sl].tmpl = res.assign[i];
				sigw[*sl] = t->shapes[i].weight;
			}
		}
		cluster_map_free(&sx);
		qsort(sig, ns, sizeof *sig, cmp_ment);
		m->sig_map = sig;
		m->n_sig = ns;
		free(sigw);
	}
	/* 3. latency profiles: observations sorted by (shape, label) → per
	 * template by (template, label) after mapping */
	for (size_t i = 0; i < t->n_obs; i++)
		t->obs[i].shape = res.assign[t->obs[i].shape];
	qsort(t->obs, t->n_obs, sizeof *t->obs, cmp_obs);
	{
		size_t *caps = calloc(m->n_templates + 1, sizeof *caps);
		if (!caps)
			goto fail;
		for (size_t i = 0; i < t->n_obs; i++) {
			const struct lat_obs *o = &t->obs[i];
			struct cluster_profile *pr = &m->t[o->shape].prof;
			if (o->label == 0) {
				cluster_llq_add(&pr->dur, o->value);
				continue;
			}
			struct cluster_lprof *l = lprof_get(pr, o->label, &caps[o->shape]);
			if (!l) {
				free(caps);
				goto fail;
			}
			cluster_llq_add(&l->h, o->value);
		}
		/* model-wide per-label profile: merge in label order */
		for (uint32_t k = 0; k < m->n_templates; k++)
			for (uint32_t i = 0; i < m->t[k].prof.n_lab; i++) {
				const struct cluster_lprof *l = &m->t[k].prof.lab[i];
				if (cluster_grow((void **)&m->global.lab, &caps[m->n_templates],
				         (size_t)m->global.n_lab + 1, sizeof *m->global.lab)) {
					free(caps);
					goto fail;
				}
				m->global.lab[m->global.n_lab++] = *l;
			}
		free(caps);
		if (m->global.n_lab)
			qsort(m->global.lab, m->global.n_lab, sizeof *m->global.lab, cmp_lprof);
		uint32_t w = 0;
		for (uint32_t i = 0; i < m->global.n_lab; i++) {
			struct cluster_lprof *l = &m->global.lab[i];
			if (w && m->global.lab[w - 1].sym == l->sym) {
				struct cluster_lprof *d = &m->global.lab[w - 1];
				d->h.n += l->h.n;
				for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++)
					d->h.bucket[b] += l->h.bucket[b];
			} else {
				m->global.lab[w++] = *l;
			}
		}
		m->global.n_lab = w;
	}
	cluster_model_finish_thresholds(m);
	/* 4. label texts, sorted by symbol */
	m->n_labels = (uint32_t)t->n_texts;
	m->labels = calloc(t->n_texts ? t->n_texts : 1, sizeof *m->labels);
	if (!m->labels)
		goto fail;
	for (size_t i = 0; i < t->n_texts; i++) {
		m->labels[i].sym = t->text_sym[i];
		if (!(m->labels[i].text = strdup(t->texts[i])))
			goto fail;
	}
	qsort(m->labels, m->n_labels, sizeof *m->labels, cmp_label);
	/* 5. filter */
	if ((rc = bloom_new(t->n_shapes + t->pieces.n, t->p.bloom_fpr, &m->bloom))) {
		seterr(errstr, errlen, "Bloom filter for %zu keys at fpr %g: %s",
		       t->n_shapes + (size_t)t->pieces.n, t->p.bloom_fpr, weft_strerror(rc));
		goto fail;
	}
	for (size_t i = 0; i < t->n_shapes; i++)
		bloom_add(m->bloom, cluster_exact_key(t->shapes[i].exact));
	for (size_t j = 0; j < t->pieces.cap; j++)
		if (t->pieces.v[j] != UINT32_MAX)
			bloom_add(m->bloom, t->pieces.k[j]);
	rc = WEFT_ENOMEM;
	if (cluster_model_prepare(m))
		goto fail;
	cluster_result_free(&res);
	free(items);
	*out = m;
	return 0;
fail:
	if (rc == WEFT_ENOMEM)
		seterr(errstr, errlen, "out of memory building the model");
	cluster_result_free(&res);
	free(items);
	cluster_model_destroy(m);
	return rc;
}

/* ---- model lifetime and views ------------------------------------------ */

void
cluster_model_destroy(struct cluster_model *m)
{
	if (!m)
		return;
	for (uint32_t k = 0; k < m->n_templates && m->t; k++) {
		struct cluster_tmpl *tp = &m->t[k];
		free(tp->sym);
		free(tp->label);
		free(tp->par_off);
		free(tp->par);
		free(tp->prof.lab);
		if (m->pat)
			cluster_ed_pattern_free(m->pat[k]);
	}
	free(m->pat);
	free(m->t);
	free(m->global.lab);
	free(m->exact_map);
	free(m->sig_map);
	for (uint32_t i = 0; i < m->n_labels && m->labels; i++)
		free(m->labels[i].text);
	free(m->labels);
	bloom_free(m->bloom);
	free(m);
}

void
cluster_model_ref(struct cluster_model *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void
cluster_model_unref(struct cluster_model *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		cluster_model_destroy(m);
}

void
cluster_model_info(const struct cluster_model *m, struct cluster_model_info *o)
{
	memset(o, 0, sizeof *o);
	o->n_templates = m->n_templates;
	o->traces = m->traces;
	o->shapes = m->shapes;
	o->pieces = m->pieces;
	o->filter_bytes = bloom_size_bytes(m->bloom);
	o->filter_fpr = bloom_fpr_theory(m->bloom);
	o->params = m->params;
	o->params.progress = NULL;
	o->params.progress_arg = NULL;
}

int
cluster_model_template(const struct cluster_model *m, uint32_t t,
                       struct cluster_template_view *o)
{
	if (t >= m->n_templates)
		return WEFT_ENOTFOUND;
	const struct cluster_tmpl *tp = &m->t[t];
	o->weight = tp->weight;
	o->exact = tp->exact;
	o->signature = tp->signature;
	o->symbols = tp->sym;
	o->n_symbols = tp->n_sym;
	o->dag = (struct cluster_dag){tp->n_nodes, tp->label, tp->par_off, tp->par};
	o->duration = &tp->prof.dur;
	o->duration_thr_ns = tp->prof.dur_thr;
	return 0;
}

const char *
cluster_model_label(const struct cluster_model *m, uint64_t sym)
{
	uint32_t lo = 0, hi = m->n_labels;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->labels[mid].sym < sym)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_labels && m->labels[lo].sym == sym ? m->labels[lo].text : NULL;
}

/* ---- encoding ----------------------------------------------------------- */

#define HDR_SIZE 64
static const char MAGIC[8] = {'W', 'E', 'F', 'T', 'M', 'O', 'D', 'L'};

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void
wput(struct wbuf *w, const void *src, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t c = w->cap ? w->cap : 4096;
		while (c < w->len + n)
			c *= 2;
		unsigned char *np = realloc(w->p, c);
		if (!np) {
			w->oom = 1;
			return;
		}
		w->p = np;
		w->cap = c;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

/* The format is little-endian; weft builds for little-endian hosts only
 * (checked at compile time below), so values are copied as they are. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian host");

static void w64(struct wbuf *w, uint64_t v) { wput(w, &v, 8); }
static void w32(struct wbuf *w, uint32_t v) { wput(w, &v, 4); }
static void w16(struct wbuf *w, uint16_t v) { wput(w, &v, 2); }
static void wf64(struct wbuf *w, double v) { wput(w, &v, 8); }

static void
wllq(struct wbuf *w, const struct cluster_llq *h)
{
	w64(w, h->n);
	uint16_t nz = 0;
	for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++)
		nz += h->bucket[b] != 0;
	w16(w, nz);
	for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++)
		if (h->bucket[b]) {
			w16(w, (uint16_t)b);
			w32(w, h->bucket[b]);
		}
}

static void
wprofile(struct wbuf *w, const struct cluster_profile *pr, int with_dur)
{
	if (with_dur) {
		wllq(w, &pr->dur);
		w64(w, pr->dur_thr);
	}
	w32(w, pr->n_lab);
	for (uint32_t i = 0; i < pr->n_lab; i++) {
		w64(w, pr->lab[i].sym);
		w64(w, pr->lab[i].thr);
		wllq(w, &pr->lab[i].h);
	}
}

int
cluster_model_encode(const struct cluster_model *m, void **out, size_t *len)
{
	struct wbuf w = {0};
	unsigned char hdr[HDR_SIZE] = {0};
	wput(&w, hdr, HDR_SIZE);
	const struct cluster_model_params *p = &m->params;
	wf64(&w, p->threshold);
	wf64(&w, p->bloom_fpr);
	wf64(&w, p->slow_quantile);
	wf64(&w, p->slow_factor);
	w32(&w, p->slow_min_samples);
	w32(&w, 0);
	w64(&w, p->slow_floor_ns);
	w64(&w, p->seed);
	w64(&w, m->traces);
	w64(&w, m->shapes);
	w64(&w, m->pieces);
	w32(&w, m->n_labels);
	for (uint32_t i = 0; i < m->n_labels; i++) {
		uint32_t n = (uint32_t)strlen(m->labels[i].text);
		w64(&w, m->labels[i].sym);
		w32(&w, n);
		wput(&w, m->labels[i].text, n);
	}
	w32(&w, m->n_templates);
	for (uint32_t k = 0; k < m->n_templates; k++) {
		const struct cluster_tmpl *tp = &m->t[k];
		w64(&w, tp->weight);
		w64(&w, tp->exact);
		w64(&w, tp->signature);
		w32(&w, tp->n_sym);
		wput(&w, tp->sym, (size_t)tp->n_sym * 8);
		w32(&w, tp->n_nodes);
		wput(&w, tp->label, (size_t)tp->n_nodes * 8);
		w32(&w, tp->par_off[tp->n_nodes]);
		wput(&w, tp->par_off, ((size_t)tp->n_nodes + 1) * 4);
		wput(&w, tp->par, (size_t)tp->par_off[tp->n_nodes] * 4);
		wprofile(&w, &tp->prof, 1);
	}
	wprofile(&w, &m->global, 0);
	w32(&w, m->n_exact);
	for (uint32_t i = 0; i < m->n_exact; i++) {
		w64(&w, m->exact_map[i].key);
		w32(&w, m->exact_map[i].tmpl);
	}
	w32(&w, m->n_sig);
	for (uint32_t i = 0; i < m->n_sig; i++) {
		w64(&w, m->sig_map[i].key);
		w32(&w, m->sig_map[i].tmpl);
	}
	size_t bl = bloom_serialized_size(m->bloom);
	w64(&w, bl);
	size_t at = w.len;
	unsigned char zero = 0;
	for (size_t i = 0; i < bl && !w.oom; i++)
		wput(&w, &zero, 1);
	if (w.oom || bloom_serialize(m->bloom, w.p + at, bl) < 0) {
		free(w.p);
		return WEFT_ENOMEM;
	}
	/* header */
	uint64_t total = w.len, sum = XXH3_64bits(w.p + HDR_SIZE, w.len - HDR_SIZE);
	uint32_t ver = CLUSTER_MODEL_VERSION, hs = HDR_SIZE;
	memcpy(w.p, MAGIC, 8);
	memcpy(w.p + 8, &ver, 4);
	memcpy(w.p + 12, &hs, 4);
	memcpy(w.p + 16, &total, 8);
	memcpy(w.p + 24, &sum, 8);
	*out = w.p;
	*len = w.len;
	return 0;
}

int
cluster_model_save(const struct cluster_model *m, const char *path,
                   char *errstr, size_t errlen)
{
	void *buf;
	size_t len;
	int rc = cluster_model_encode(m, &buf, &len);
	if (rc) {
		seterr(errstr, errlen, "encoding the model: %s", weft_strerror(rc));
		return rc;
	}
	/* write a temporary file and rename it: a running engine that watches
	 * the path never sees a half-written model */
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	int ok = f && fwrite(buf, 1, len, f) == len;
	if (f && fclose(f))
		ok = 0;
	free(buf);
	if (!ok || rename(tmp, path)) {
		seterr(errstr, errlen, "cannot write model '%s': %s", path, strerror(errno));
		unlink(tmp);
		return WEFT_EIO;
	}
	return 0;
}

/* ---- decoding ----------------------------------------------------------- */

struct rbuf {
	const unsigned char *p;
	size_t len, at;
	const char *what; /* section being read, for the message */
	int bad;
};

static int
rget(struct rbuf *r, void *dst, size_t n)
{
	if (r->bad || n > r->len - r->at) {
		r->bad = 1;
		memset(dst, 0, n);
		return -1;
	}
	memcpy(dst, r->p + r->at, n);
	r->at += n;
	return 0;
}

static uint64_t r64(struct rbuf *r) { uint64_t v; rget(r, &v, 8); return v; }
static uint32_t r32(struct rbuf *r) { uint32_t v; rget(r, &v, 4); return v; }
static uint16_t r16(struct rbuf *r) { uint16_t v; rget(r, &v, 2); return v; }
static double rf64(struct rbuf *r) { double v; rget(r, &v, 8); return v; }

/* A count of elements of at least min_bytes each must fit in what is left. */
static int
rcount_ok(struct rbuf *r, uint64_t count, size_t min_bytes)
{
	if (r->bad || (min_bytes && count > (r->len - r->at) / min_bytes)) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static void *
rarray(struct rbuf *r, uint64_t count, size_t elem)
{
	if (!rcount_ok(r, count, elem))
		return NULL;
	size_t bytes = (size_t)(count * elem);
	void *p = malloc(bytes ? bytes : 1);
	if (!p) {
		r->bad = 2;
		return NULL;
	}
	if (rget(r, p, count * elem)) {
		free(p);
		return NULL;
	}
	return p;
}

static void
rllq(struct rbuf *r, struct cluster_llq *h)
{
	memset(h, 0, sizeof *h);
	h->n = r64(r);
	uint16_t nz = r16(r);
	if (!rcount_ok(r, nz, 6))
		return;
	uint64_t sum = 0;
	for (uint16_t i = 0; i < nz; i++) {
		uint16_t b = r16(r);
		uint32_t c = r32(r);
		if (b >= CLUSTER_LLQ_BUCKETS) {
			r->bad = 1;
			return;
		}
		h->bucket[b] = c;
		sum += c;
	}
	if (sum > h->n)
		r->bad = 1;
}

static void
rprofile(struct rbuf *r, struct cluster_profile *pr, int with_dur)
{
	if (with_dur) {
		rllq(r, &pr->dur);
		pr->dur_thr = r64(r);
	}
	pr->n_lab = r32(r);
	if (!rcount_ok(r, pr->n_lab, 26)) {
		pr->n_lab = 0;
		return;
	}
	pr->lab = calloc(pr->n_lab ? pr->n_lab : 1, sizeof *pr->lab);
	if (!pr->lab) {
		pr->n_lab = 0;
		r->bad = 2;
		return;
	}
	for (uint32_t i = 0; i < pr->n_lab && !r->bad; i++) {
		pr->lab[i].sym = r64(r);
		pr->lab[i].thr = r64(r);
		rllq(r, &pr->lab[i].h);
		if (i && pr->lab[i].sym <= pr->lab[i - 1].sym)
			r->bad = 1; /* must be sorted: lookups binary-search */
	}
}

static void
rmap(struct rbuf *r, struct cluster_ment **out, uint32_t *n, uint32_t n_tmpl)
{
	*n = r32(r);
	if (!rcount_ok(r, *n, 12)) {
		*n = 0;
		return;
	}
	*out = calloc(*n ? *n : 1, sizeof **out);
	if (!*out) {
		*n = 0;
		r->bad = 2;
		return;
	}
	for (uint32_t i = 0; i < *n && !r->bad; i++) {
		(*out)[i].key = r64(r);
		(*out)[i].tmpl = r32(r);
		if ((*out)[i].tmpl >= n_tmpl || (i && (*out)[i].key <= (*out)[i - 1].key))
			r->bad = 1;
	}
}

int
cluster_model_decode(const void *buf, size_t len, struct cluster_model **out,
                     char *errstr, size_t errlen)
{
	*out = NULL;
	const unsigned char *p = buf;
	if (len < HDR_SIZE || memcmp(p, MAGIC, 8)) {
		seterr(errstr, errlen, len < HDR_SIZE ? "not a weft model: too short (%zu bytes)"
		                                      : "not a weft model: bad magic (%zu bytes)", len);
		return WEFT_EFORMAT;
	}
	uint32_t ver, hs;
	uint64_t total, sum;
	memcpy(&ver, p + 8, 4);
	memcpy(&hs, p + 12, 4);
	memcpy(&total, p + 16, 8);
	memcpy(&sum, p + 24, 8);
	if (ver != CLUSTER_MODEL_VERSION) {
		seterr(errstr, errlen, "model format version %u, this weft reads version %u",
		       ver, CLUSTER_MODEL_VERSION);
		return WEFT_EFORMAT;
	}
	if (hs != HDR_SIZE || total != len) {
		seterr(errstr, errlen, "model truncated or padded: header says %llu bytes, file has %zu",
		       (unsigned long long)total, len);
		return WEFT_EFORMAT;
	}
	if (XXH3_64bits(p + HDR_SIZE, len - HDR_SIZE) != sum) {
		seterr(errstr, errlen, "model checksum mismatch: the file is corrupt");
		return WEFT_EFORMAT;
	}
	struct cluster_model *m = calloc(1, sizeof *m);
	if (!m)
		return WEFT_ENOMEM;
	struct rbuf r = {p, len, HDR_SIZE, "parameters", 0};
	struct cluster_model_params *pp = &m->params;
	cluster_model_params_default(pp);
	pp->threshold = rf64(&r);
	pp->bloom_fpr = rf64(&r);
	pp->slow_quantile = rf64(&r);
	pp->slow_factor = rf64(&r);
	pp->slow_min_samples = r32(&r);
	(void)r32(&r);
	pp->slow_floor_ns = r64(&r);
	pp->seed = r64(&r);
	m->traces = r64(&r);
	m->shapes = r64(&r);
	m->pieces = r64(&r);
	r.what = "labels";
	m->n_labels = r32(&r);
	if (rcount_ok(&r, m->n_labels, 12) &&
	    (m->labels = calloc(m->n_labels ? m->n_labels : 1, sizeof *m->labels))) {
		for (uint32_t i = 0; i < m->n_labels && !r.bad; i++) {
			m->labels[i].sym = r64(&r);
			uint32_t n = r32(&r);
			if (!rcount_ok(&r, n, 1))
				break;
			if (!(m->labels[i].text = malloc((size_t)n + 1))) {
				r.bad = 2;
				break;
			}
			rget(&r, m->labels[i].text, n);
			m->labels[i].text[n] = 0;
			if (i && m->labels[i].sym <= m->labels[i - 1].sym)
				r.bad = 1;
		}
	} else if (!r.bad) {
		r.bad = 2;
	}
	if (r.bad)
		m->n_labels = m->labels ? m->n_labels : 0;
	r.what = "templates";
	uint32_t nt = r32(&r);
	if (!r.bad && rcount_ok(&r, nt, 40)) {
		if (!(m->t = calloc(nt ? nt : 1, sizeof *m->t)))
			r.bad = 2;
		else
			m->n_templates = nt;
	}
	for (uint32_t k = 0; k < m->n_templates && !r.bad; k++) {
		struct cluster_tmpl *tp = &m->t[k];
		tp->weight = r64(&r);
		tp->exact = r64(&r);
		tp->signature = r64(&r);
		tp->n_sym = r32(&r);
		tp->sym = rarray(&r, tp->n_sym, 8);
		uint32_t nn = r32(&r);
		tp->label = rarray(&r, nn, 8);
		uint32_t ne = r32(&r);
		tp->par_off = rarray(&r, (uint64_t)nn + 1, 4);
		tp->par = rarray(&r, ne, 4);
		if (r.bad)
			break;
		tp->n_nodes = nn;
		/* the DAG must be well formed: offsets monotone up to ne,
		 * parents in range */
		if (tp->par_off[0] != 0 || tp->par_off[nn] != ne)
			r.bad = 1;
		for (uint32_t i = 0; i < nn && !r.bad; i++)
			if (tp->par_off[i + 1] < tp->par_off[i])
				r.bad = 1;
		for (uint32_t e = 0; e < ne && !r.bad; e++)
			if (tp->par[e] >= nn)
				r.bad = 1;
		rprofile(&r, &tp->prof, 1);
	}
	r.what = "profiles";
	if (!r.bad)
		rprofile(&r, &m->global, 0);
	r.what = "shape map";
	if (!r.bad)
		rmap(&r, &m->exact_map, &m->n_exact, m->n_templates);
	r.what = "signature map";
	if (!r.bad)
		rmap(&r, &m->sig_map, &m->n_sig, m->n_templates);
	r.what = "filter";
	uint64_t bl = r.bad ? 0 : r64(&r);
	if (!r.bad && (bl != r.len - r.at))
		r.bad = 1;
	char berr[128] = "";
	if (!r.bad && bloom_deserialize(p + r.at, bl, &m->bloom, berr, sizeof berr))
		r.bad = 1;
	if (!r.bad && cluster_model_prepare(m))
		r.bad = 2;
	if (r.bad) {
		if (r.bad == 2)
			seterr(errstr, errlen, "out of memory loading the model");
		else
			seterr(errstr, errlen, "model is malformed in its %s section%s%s", r.what,
			       berr[0] ? ": " : "", berr);
		cluster_model_destroy(m);
		return r.bad == 2 ? WEFT_ENOMEM : WEFT_EFORMAT;
	}
	*out = m;
	return 0;
}

int
cluster_model_load(const char *path, struct cluster_model **out, char *errstr,
                   size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		seterr(errstr, errlen, "cannot open model '%s': %s", path, strerror(errno));
		return WEFT_EIO;
	}
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			size_t c = cap ? cap * 2 : 1 << 16;
			unsigned char *nb = realloc(buf, c);
			if (!nb) {
				free(buf);
				fclose(f);
				return WEFT_ENOMEM;
			}
			buf = nb;
			cap = c;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		seterr(errstr, errlen, "cannot read model '%s'", path);
		return WEFT_EIO;
	}
	char e2[256];
	int rc = cluster_model_decode(buf, len, out, e2, sizeof e2);
	free(buf);
	if (rc)
		seterr(errstr, errlen, "%s: %s", path, e2);
	return rc;
}

/*
 * model_train.c — building the model of normal traces (model.h) from
 * training traces: the trainer and cluster_trainer_build().
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
 *   3. fills per-template and model-wide latency histograms, which
 *      cluster_model_finish_thresholds (model.c) turns into thresholds;
 *   4. keeps the label texts, for explanations and the report;
 *   5. sizes the Bloom filter for shapes + pieces at bloom_fpr and adds
 *      them.
 * Each step is one function below; any failure frees the half-built
 * model, and out of memory anywhere reads "out of memory building the
 * model".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bloom/bloom.h"
#include "cluster/cluster.h"
#include "cluster/model.h"
#include "cluster/model_int.h"
#include "common/common.h"

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
	if (weft_grow((void **)&t->obs, &t->cap_obs, t->n_obs + 1, sizeof *t->obs, 64))
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
		if (weft_grow((void **)&t->shapes, &t->cap_shapes, t->n_shapes + 1,
		              sizeof *t->shapes, 64))
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
	if (weft_grow((void **)&t->pbuf, &t->cap_pbuf, n ? n : 1, sizeof(uint64_t), 64))
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
		/* texts and text_sym: one capacity, cap_texts */
		if (weft_grow((void **)&t->texts, &t->cap_texts, t->n_texts + 1,
		              sizeof(char *), 64))
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

/* The profile of label sym in pr: its last one when that is sym (the
 * observations come sorted by label), else a new one appended (lab
 * growing, its capacity *cap). NULL on ENOMEM. */
static struct cluster_lprof *
lprof_get(struct cluster_profile *pr, uint64_t sym, size_t *cap)
{
	if (pr->n_lab && pr->lab[pr->n_lab - 1].sym == sym)
		return &pr->lab[pr->n_lab - 1];
	if (weft_grow((void **)&pr->lab, cap, (size_t)pr->n_lab + 1, sizeof *pr->lab, 64))
		return NULL;
	struct cluster_lprof *l = &pr->lab[pr->n_lab++];
	memset(l, 0, sizeof *l);
	l->sym = sym;
	return l;
}

/* 1. Templates: the distinct shapes clustered into res (cluster_templates),
 * each cluster's medoid kept whole as its template, weighing the
 * training traces of all its shapes. */
static int
build_templates(struct cluster_trainer *t, struct cluster_model *m,
                struct cluster_result *res, char *errstr, size_t errlen)
{
	struct cluster_item *items = calloc(t->n_shapes, sizeof *items);
	if (!items)
		return WEFT_ENOMEM;
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
	int rc = cluster_templates(items, (uint32_t)t->n_shapes, &cp, res);
	free(items);
	if (rc) {
		weft_errf(errstr, errlen, "clustering failed: %s", weft_strerror(rc));
		return rc;
	}
	m->n_templates = res->n_templates;
	if (!(m->t = calloc(res->n_templates ? res->n_templates : 1, sizeof *m->t)))
		return WEFT_ENOMEM;
	for (uint32_t k = 0; k < res->n_templates; k++) {
		const struct shape *s = &t->shapes[res->medoid[k]];
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
			return WEFT_ENOMEM;
	}
	for (size_t i = 0; i < t->n_shapes; i++)
		m->t[res->assign[i]].weight += t->shapes[i].weight;
	return 0;
}

/* 2a. Every training shape (exact) -> its template, sorted by key. */
static int
build_exact_map(const struct cluster_trainer *t, struct cluster_model *m,
                const struct cluster_result *res)
{
	m->n_exact = (uint32_t)t->n_shapes;
	if (!(m->exact_map = calloc(t->n_shapes, sizeof *m->exact_map)))
		return WEFT_ENOMEM;
	for (size_t i = 0; i < t->n_shapes; i++)
		m->exact_map[i] = (struct cluster_ment){t->shapes[i].exact, res->assign[i], 0};
	qsort(m->exact_map, m->n_exact, sizeof *m->exact_map, cmp_ment);
	return 0;
}

/* 2b. Every signature -> the template of its heaviest shape (the first
 * met among equals), sorted by key: a normal trace of a shape never seen
 * still finds its template without an edit distance. */
static int
build_sig_map(const struct cluster_trainer *t, struct cluster_model *m,
              const struct cluster_result *res)
{
	struct cluster_ment *sig = calloc(t->n_shapes, sizeof *sig);
	uint64_t *sigw = calloc(t->n_shapes, sizeof *sigw);
	struct cluster_map sx; /* signature -> index in sig */
	memset(&sx, 0, sizeof sx);
	uint32_t ns = 0;
	int found, rc = WEFT_ENOMEM;
	if (!sig || !sigw)
		goto out;
	for (size_t i = 0; i < t->n_shapes; i++) {
		uint32_t *sl = cluster_map_put(&sx, t->shapes[i].signature, ns, &found);
		if (!sl)
			goto out;
		if (!found) {
			sig[ns] = (struct cluster_ment){t->shapes[i].signature, res->assign[i], 0};
			sigw[ns++] = t->shapes[i].weight;
		} else if (t->shapes[i].weight > sigw[*sl]) {
			sig[*sl].tmpl = res->assign[i];
			sigw[*sl] = t->shapes[i].weight;
		}
	}
	qsort(sig, ns, sizeof *sig, cmp_ment);
	m->sig_map = sig;
	m->n_sig = ns;
	sig = NULL;
	rc = 0;
out:
	cluster_map_free(&sx);
	free(sig);
	free(sigw);
	return rc;
}

/* 3a. Each template's duration and per-label histograms from the
 * observations, which come sorted by (template, label); caps[k] is the
 * capacity of template k's label array. */
static int
fill_template_profiles(const struct cluster_trainer *t, struct cluster_model *m,
                       size_t *caps)
{
	for (size_t i = 0; i < t->n_obs; i++) {
		const struct lat_obs *o = &t->obs[i];
		struct cluster_profile *pr = &m->t[o->shape].prof;
		if (o->label == 0) {
			cluster_llq_add(&pr->dur, o->value);
			continue;
		}
		struct cluster_lprof *l = lprof_get(pr, o->label, &caps[o->shape]);
		if (!l)
			return WEFT_ENOMEM;
		cluster_llq_add(&l->h, o->value);
	}
	return 0;
}

/* 3b. The model-wide per-label profile: every template's label
 * histograms, sorted by label (qsort: the order among equal labels is
 * not kept, which the sums below do not see), equal labels summed. cap is
 * the capacity of the model-wide label array. */
static int
fill_global_profile(struct cluster_model *m, size_t *cap)
{
	for (uint32_t k = 0; k < m->n_templates; k++)
		for (uint32_t i = 0; i < m->t[k].prof.n_lab; i++) {
			if (weft_grow((void **)&m->global.lab, cap, (size_t)m->global.n_lab + 1,
			              sizeof *m->global.lab, 64))
				return WEFT_ENOMEM;
			m->global.lab[m->global.n_lab++] = m->t[k].prof.lab[i];
		}
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
	return 0;
}

/* 3. Latency profiles: the observations, mapped from shape to template
 * and sorted by (template, label), into per-template and model-wide
 * histograms. */
static int
build_profiles(struct cluster_trainer *t, struct cluster_model *m,
               const struct cluster_result *res)
{
	for (size_t i = 0; i < t->n_obs; i++)
		t->obs[i].shape = res->assign[t->obs[i].shape];
	qsort(t->obs, t->n_obs, sizeof *t->obs, cmp_obs);
	size_t *caps = calloc(m->n_templates + 1, sizeof *caps);
	if (!caps)
		return WEFT_ENOMEM;
	int rc = fill_template_profiles(t, m, caps);
	if (!rc)
		rc = fill_global_profile(m, &caps[m->n_templates]);
	free(caps);
	return rc;
}

/* 4. Label texts, sorted by symbol. */
static int
build_labels(const struct cluster_trainer *t, struct cluster_model *m)
{
	m->n_labels = (uint32_t)t->n_texts;
	m->labels = calloc(t->n_texts ? t->n_texts : 1, sizeof *m->labels);
	if (!m->labels)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < t->n_texts; i++) {
		m->labels[i].sym = t->text_sym[i];
		if (!(m->labels[i].text = strdup(t->texts[i])))
			return WEFT_ENOMEM;
	}
	qsort(m->labels, m->n_labels, sizeof *m->labels, cmp_label);
	return 0;
}

/* 5. The Bloom filter, sized for shapes + pieces at bloom_fpr, holding
 * both (a shape under cluster_exact_key, apart from the pieces). */
static int
build_filter(const struct cluster_trainer *t, struct cluster_model *m,
             char *errstr, size_t errlen)
{
	int rc = bloom_new(t->n_shapes + t->pieces.n, t->p.bloom_fpr, &m->bloom);
	if (rc) {
		weft_errf(errstr, errlen, "Bloom filter for %zu keys at fpr %g: %s",
		          t->n_shapes + (size_t)t->pieces.n, t->p.bloom_fpr, weft_strerror(rc));
		return rc;
	}
	for (size_t i = 0; i < t->n_shapes; i++)
		bloom_add(m->bloom, cluster_exact_key(t->shapes[i].exact));
	for (size_t j = 0; j < t->pieces.cap; j++)
		if (t->pieces.v[j] != UINT32_MAX)
			bloom_add(m->bloom, t->pieces.k[j]);
	return 0;
}

int
cluster_trainer_build(struct cluster_trainer *t, struct cluster_model **out,
                      char *errstr, size_t errlen)
{
	*out = NULL;
	if (!t->n_shapes) {
		weft_errf(errstr, errlen, "no training traces");
		return WEFT_EINVAL;
	}
	struct cluster_result res;
	memset(&res, 0, sizeof res);
	int rc = WEFT_ENOMEM;
	struct cluster_model *m = calloc(1, sizeof *m);
	if (!m)
		goto fail;
	m->params = t->p;
	m->traces = t->traces;
	m->shapes = t->n_shapes;
	m->pieces = t->pieces.n;
	if ((rc = build_templates(t, m, &res, errstr, errlen)) ||
	    (rc = build_exact_map(t, m, &res)) ||
	    (rc = build_sig_map(t, m, &res)) ||
	    (rc = build_profiles(t, m, &res)))
		goto fail;
	cluster_model_finish_thresholds(m);
	if ((rc = build_labels(t, m)) ||
	    (rc = build_filter(t, m, errstr, errlen)) ||
	    (rc = cluster_model_prepare(m)))
		goto fail;
	cluster_result_free(&res);
	*out = m;
	return 0;
fail:
	if (rc == WEFT_ENOMEM)
		weft_errf(errstr, errlen, "out of memory building the model");
	cluster_result_free(&res);
	cluster_model_destroy(m);
	return rc;
}

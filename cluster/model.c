/*
 * model.c — the model object (model.h, model_int.h): default parameters,
 * lifetime (reference counted: a checker holds the model it started with
 * while a new one is swapped in), read-only views of templates and label
 * texts, the slow thresholds derived from the latency profiles, and what
 * a model needs before it checks (prepare: one edit-distance pattern per
 * template). Building one is model_train.c, its file model_file.c, the
 * check against it check.c.
 *
 * Thresholds: slow_factor x the slow_quantile bucket's upper bound, never
 * below slow_floor_ns, only where at least slow_min_samples were seen (a
 * template's label with fewer uses the model-wide profile of the label;
 * the trace duration has no model-wide fallback, since durations of
 * different templates do not compare). Training derives them once; the
 * model file stores them beside the profiles.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bloom/bloom.h"
#include "cluster/cluster.h"
#include "cluster/model.h"
#include "cluster/model_int.h"
#include "common/common.h"

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

/* ---- thresholds and lookups ------------------------------------------- */

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
	o->trained_at = m->trained_at;
	o->trained_from = m->trained_from;
	o->filter_bytes = bloom_size_bytes(m->bloom);
	o->filter_fpr = bloom_fpr_theory(m->bloom);
	o->params = m->params;
	o->params.progress = NULL;
	o->params.progress_arg = NULL;
}

void
cluster_model_set_origin(struct cluster_model *m, uint64_t trained_at, const char *from)
{
	m->trained_at = trained_at;
	snprintf(m->trained_from, sizeof m->trained_from, "%s", from ? from : "");
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

int
cluster_model_has_piece(const struct cluster_model *m, uint64_t piece)
{
	return m && m->bloom && bloom_probe(m->bloom, piece);
}

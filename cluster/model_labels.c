/*
 * model_labels.c — per-label bookkeeping shared by training and the check
 * (model_int.h): a small u64 -> u32 map (open addressing, linear probing,
 * a multiplicative hash; value UINT32_MAX marks an empty slot, so a map
 * costs no separate occupancy array) and each label's longest event in a
 * trace (cluster_label_max), which the latency profiles learn from and
 * the slow verdict compares.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/model_int.h"
#include "common/common.h"

/* ---- small u64 -> u32 map ----------------------------------------------- */

void
cluster_map_free(struct cluster_map *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof *m);
}

/* Doubles the table (256 slots first): a rehash into new arrays, kept at
 * most 3/4 full by cluster_map_put. */
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
		/* three arrays, one capacity: each grows from the same count to
		 * the same count, recorded once all three have */
		size_t c = lm->cap;
		if (weft_grow((void **)&lm->sym, &c, n, sizeof *lm->sym, 64))
			return WEFT_ENOMEM;
		c = lm->cap;
		if (weft_grow((void **)&lm->val, &c, n, sizeof *lm->val, 64))
			return WEFT_ENOMEM;
		c = lm->cap;
		if (weft_grow((void **)&lm->node, &c, n, sizeof *lm->node, 64))
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

/* ---- learned label medians (the peer check's load-aware fallback) ------ */

uint64_t
cluster_model_label_median(const struct cluster_model *m, uint64_t sym)
{
	const struct cluster_lprof *l = m ? cluster_profile_find(&m->global, sym) : NULL;
	return l ? cluster_llq_quantile(&l->h, 0.5) : 0;
}

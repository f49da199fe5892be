/*
 * model_int.h — the model's insides, shared by model.c (the object),
 * model_labels.c (map, label maxima), model_train.c (build), model_file.c
 * (file) and check.c (verdicts). Not part of the public API.
 *
 * Invariants kept by build and checked by decode:
 *   - labels, exact_map, sig_map, every profile's lab[] are sorted by their
 *     key with no duplicates (lookups binary-search);
 *   - map values are template indices < n_templates;
 *   - a template's DAG has par_off monotone from 0 to its edge count and
 *     every parent index < n_nodes.
 */
#ifndef WEFT_CLUSTER_MODEL_INT_H
#define WEFT_CLUSTER_MODEL_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/model.h"

struct bloom;

struct cluster_lprof { /* one label's profile */
	uint64_t sym;
	uint64_t thr; /* slow above this (ns); 0: no verdict */
	struct cluster_llq h;
};

struct cluster_profile {
	struct cluster_llq dur; /* trace duration (templates only) */
	uint64_t dur_thr;
	uint32_t n_lab;
	struct cluster_lprof *lab; /* sorted by sym */
};

struct cluster_tmpl {
	uint64_t weight, exact, signature;
	uint32_t n_sym, n_nodes;
	uint64_t *sym;
	uint64_t *label;
	uint32_t *par_off, *par;
	struct cluster_profile prof;
};

struct cluster_ment { /* sorted map entry: key -> template */
	uint64_t key;
	uint32_t tmpl;
	uint32_t pad;
};

struct cluster_label {
	uint64_t sym;
	char *text;
};

struct cluster_model {
	_Atomic uint32_t refs;
	struct cluster_model_params params;
	uint64_t traces, shapes, pieces;
	uint64_t trained_at;           /* Unix seconds; 0: unknown */
	char trained_from[CLUSTER_MODEL_FROM_MAX]; /* "" : unknown */
	uint32_t n_templates, n_labels, n_exact, n_sig;
	struct cluster_tmpl *t;
	struct cluster_profile global; /* per label, all templates */
	struct cluster_ment *exact_map, *sig_map;
	struct cluster_label *labels;  /* sorted by sym */
	struct bloom *bloom;
	struct cluster_ed_pattern **pat; /* [n_templates], built on load */
};

/* u64 -> u32 open-addressing map (value UINT32_MAX marks an empty slot). */
struct cluster_map {
	uint64_t *k;
	uint32_t *v;
	size_t cap, n;
};
uint32_t *cluster_map_put(struct cluster_map *m, uint64_t key, uint32_t val,
                          int *found);
void cluster_map_free(struct cluster_map *m);

/* Grows *p (cap elements of elem bytes) to hold need: doubling, 0 or
 * WEFT_ENOMEM. */
int cluster_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Each label's longest event in one trace (events with a known duration;
 * missing nodes skipped): n distinct labels in order of first occurrence,
 * sym[i], its longest duration val[i] and the node carrying it node[i].
 * Reused from trace to trace; free with cluster_label_max_free(). */
struct cluster_label_max {
	uint32_t n;
	uint64_t *sym, *val;
	uint32_t *node;
	size_t cap;
	struct cluster_map ix; /* label -> i */
};
int cluster_label_max_compute(struct cluster_label_max *lm,
                              const struct cluster_trace_in *tr);
void cluster_label_max_free(struct cluster_label_max *lm);

void cluster_model_destroy(struct cluster_model *m);
int cluster_model_prepare(struct cluster_model *m);
void cluster_model_finish_thresholds(struct cluster_model *m);
const struct cluster_lprof *cluster_profile_find(const struct cluster_profile *pr,
                                                 uint64_t sym);
/* Filter key of a whole shape (pieces are keys as they are). */
uint64_t cluster_exact_key(uint64_t exact);

#endif

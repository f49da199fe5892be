/*
 * cluster.h — weft's model side: canonical forms of trace DAGs (this file,
 * now), later edit distance, clustering into templates and the model file
 * (issue 5).
 *
 * Canonical form. Two traces with the same labelled DAG shape must get the
 * same 64-bit signature whatever their event ids, arrival order,
 * timestamps, hosts, and however concurrent branches interleave; different
 * shapes collide only with hash probability. Repeated sub-DAGs (HDFS writes
 * one block sub-DAG per block, 1 to 19 per trace in TraceBench) are
 * canonicalised so the repetition count alone does not make a new shape;
 * the count is kept as a feature. A canonical symbol string (labels in a
 * canonical topological order, ties broken by structure) feeds edit
 * distance.
 *
 * Threads: a cluster_canon_scratch belongs to one thread; everything else
 * here is pure.
 */
#ifndef WEFT_CLUSTER_H
#define WEFT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A labelled DAG as the canonicaliser reads it (borrowed arrays, not
 * copied). Node i has label symbol label[i] (XXH3_64bits of the label
 * text; a missing node, i.e. a parent that never arrived, carries
 * CLUSTER_SYM_MISSING). Its parents are par[par_off[i] .. par_off[i+1]),
 * node indices < n_nodes. Node order is arbitrary (arrival order).
 */
struct cluster_dag {
	uint32_t n_nodes;
	const uint64_t *label;   /* [n_nodes] */
	const uint32_t *par_off; /* [n_nodes + 1] */
	const uint32_t *par;     /* [par_off[n_nodes]] */
};

/* Label symbol of a node that is referenced as a parent but never came. */
#define CLUSTER_SYM_MISSING 0x6d697373696e6721ULL /* "missing!" */

struct cluster_canon {
	uint64_t signature;      /* repetition-insensitive shape */
	uint64_t exact;          /* shape including repetition counts */
	uint32_t repeat_max;     /* largest repetition count folded (1 = none) */
	uint32_t repeat_groups;  /* how many repeated sub-DAG groups folded */
	const uint64_t *symbols; /* canonical symbol string (scratch-owned, valid
	                          * until the next compute on the same scratch) */
	uint32_t n_symbols;
};

struct cluster_canon_scratch;

/* Per-thread scratch, grown as needed. Returns NULL on allocation failure;
 * free with cluster_canon_scratch_free(). */
struct cluster_canon_scratch *cluster_canon_scratch_new(void);
void cluster_canon_scratch_free(struct cluster_canon_scratch *s);

/*
 * Computes the canonical form of g into *out. Returns 0, WEFT_EINVAL (a
 * parent index out of range, or a cycle: the caller must pass a DAG) or
 * WEFT_ENOMEM.
 */
int cluster_canon_compute(struct cluster_canon_scratch *s,
                          const struct cluster_dag *g,
                          struct cluster_canon *out);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CLUSTER_H */

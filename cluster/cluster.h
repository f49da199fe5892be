/*
 * cluster.h — weft's model side: canonical forms of trace DAGs (canon.c),
 * edit distance between their symbol strings (ed.c) and clustering into
 * templates (templates.c); the model file comes with issue 5.
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
 * Threads: a cluster_canon_scratch and a cluster_ed_scratch belong to one
 * thread; a built cluster_ed_pattern is read only and can be shared;
 * cluster_templates() runs its own threads; everything else here is pure.
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

/* ---- edit distance (ed.c) ---------------------------------------------- */
/*
 * Levenshtein distance between symbol strings (uint64_t symbols, unit
 * costs for insert, delete and substitute). The bit-parallel version
 * (Myers/Hyyro with Ukkonen's cutoff, see ed.c) takes a cutoff max_d: the
 * result is exact when it is <= max_d; otherwise max_d + 1 is returned,
 * and the sooner the farther the strings are. Pass UINT32_MAX (or any
 * value >= the longer length) for an exact distance.
 *
 * Normalised distance: d / max(na, nb), 0 for two empty strings; it lies
 * in [0, 1]. A pair is within a threshold t when d <= cluster_ed_max_d(t,
 * na, nb) = floor(t * max(na, nb) + 1e-9) (the epsilon makes decimal
 * thresholds like 0.15 x 20 = 3 behave as written).
 */

/* Returned by the functions below that allocate, when allocation failed.
 * It is > any max_d a caller can test against, so it reads as "far". */
#define CLUSTER_ED_NOMEM UINT32_MAX

/* A pattern: a string prepared to be compared with many texts (its match
 * bit-vectors per distinct symbol). Read only once built: any number of
 * threads may use one pattern at the same time. */
struct cluster_ed_pattern;
/* Per-thread working memory (the band's block state); grows to the longest
 * pattern seen, so nothing allocates per call once warm. */
struct cluster_ed_scratch;

/* Builds the pattern of sym[0..n) (sym is not kept: it may be freed after).
 * Returns NULL on allocation failure (or sym == NULL with n > 0); free
 * with cluster_ed_pattern_free(). */
struct cluster_ed_pattern *cluster_ed_pattern_new(const uint64_t *sym,
                                                  uint32_t n);
void cluster_ed_pattern_free(struct cluster_ed_pattern *p);
uint32_t cluster_ed_pattern_len(const struct cluster_ed_pattern *p);

/* Returns NULL on allocation failure; free with cluster_ed_scratch_free().
 * cluster_ed_scratch_reserve() grows it now for patterns up to max_len
 * symbols (0 or WEFT_ENOMEM), so that cluster_ed_dist() on such patterns
 * cannot fail later. */
struct cluster_ed_scratch *cluster_ed_scratch_new(void);
void cluster_ed_scratch_free(struct cluster_ed_scratch *s);
int cluster_ed_scratch_reserve(struct cluster_ed_scratch *s, uint32_t max_len);

/* Distance between pattern p and text[0..nt), with cutoff max_d (see
 * above). CLUSTER_ED_NOMEM if the scratch had to grow and could not. */
uint32_t cluster_ed_dist(const struct cluster_ed_pattern *p,
                         const uint64_t *text, uint32_t nt, uint32_t max_d,
                         struct cluster_ed_scratch *s);
/* The same for two plain strings: builds the longer one's pattern in s
 * (no allocation once s is warm). CLUSTER_ED_NOMEM on allocation failure. */
uint32_t cluster_ed(const uint64_t *a, uint32_t na, const uint64_t *b,
                    uint32_t nb, uint32_t max_d, struct cluster_ed_scratch *s);
/* Plain two-row dynamic programming, O(na * nb): the reference the tests
 * hold the above to. CLUSTER_ED_NOMEM on allocation failure. */
uint32_t cluster_ed_dp(const uint64_t *a, uint32_t na, const uint64_t *b,
                       uint32_t nb);

/* d / max(na, nb); 0 when both are empty. */
double cluster_ed_norm(uint32_t d, uint32_t na, uint32_t nb);
/* Largest d with a normalised distance <= threshold: floor(threshold *
 * max(na, nb) + 1e-9), clamped to [0, max(na, nb)]. */
uint32_t cluster_ed_max_d(double threshold, uint32_t na, uint32_t nb);

/* One step of an edit script turning a (the template) into b (the trace).
 * MATCH: a[ia] == b[ib]; SUB: a[ia] becomes b[ib]; DEL: a[ia] is deleted
 * (ib = how many symbols of b come before this point); INS: b[ib] is
 * inserted (ia = how many symbols of a come before it). Steps are in
 * increasing order of ia and ib, every a and b position appears once. */
enum cluster_edit_op {
	CLUSTER_EDIT_MATCH = 0,
	CLUSTER_EDIT_SUB = 1,
	CLUSTER_EDIT_INS = 2,
	CLUSTER_EDIT_DEL = 3,
};

struct cluster_edit {
	enum cluster_edit_op op;
	uint32_t ia, ib;
};

/*
 * An optimal edit script from a to b (full DP matrix with a traceback,
 * O(na * nb) time and memory). Refuses with WEFT_ELIMIT when na * nb >
 * max_cells. Ties are broken deterministically while walking back from
 * the ends of both strings: a diagonal step (match or substitution) first,
 * then a deletion, then an insertion; so among equal-cost scripts the
 * diagonal steps sit as late as possible and insertions as early as
 * possible: [p] -> [q r] is INS q, SUB p->r. On success *ops (malloc'ed, the
 * caller frees it with free(); NULL when both strings are empty) holds
 * *n_ops steps; the number of non-MATCH steps is the distance. Returns 0,
 * WEFT_EINVAL, WEFT_ELIMIT or WEFT_ENOMEM (then *ops = NULL, *n_ops = 0).
 */
int cluster_ed_align(const uint64_t *a, uint32_t na, const uint64_t *b,
                     uint32_t nb, uint32_t max_cells, struct cluster_edit **ops,
                     uint32_t *n_ops);

/* ---- clustering into templates (templates.c) ---------------------------- */
/*
 * Groups symbol strings into templates: every item ends within the
 * normalised threshold of its template's medoid (an item of the input), as
 * measured by the edit distance above. Threshold ("leader") clustering in
 * a deterministic order, then medoid refinement; see templates.c. The
 * result depends on the items, the threshold and the seed only, never on
 * the number of threads.
 */

/* One distinct shape (the caller has already merged identical strings)
 * and how many traces had it. sym is borrowed for the call. */
struct cluster_item {
	const uint64_t *sym;
	uint32_t n;
	uint64_t weight;
};

struct cluster_params {
	double threshold;      /* normalised distance to join a template (0.15) */
	unsigned threads;      /* worker threads; 0 = online cores (0) */
	uint64_t seed;         /* order tie-breaks and medoid sampling (0) */
	unsigned refine_iters; /* medoid refinement rounds (2) */
	/* Called from the calling thread only, now and then, with done <=
	 * total work units (items processed over all passes); may be NULL. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};

/* Fills p with the defaults given in the comments above. */
void cluster_params_default(struct cluster_params *p);

struct cluster_result {
	uint32_t n_templates;
	uint32_t *medoid; /* [n_templates] item index of each template's medoid */
	uint32_t *assign; /* [n_items] template of each item */
	uint32_t *dist;   /* [n_items] edit distance to its template's medoid */
};

/*
 * Clusters items[0..n) into *out (arrays malloc'ed; release them with
 * cluster_result_free()). p == NULL means the defaults. Templates are
 * numbered in the order they were founded; a medoid is assigned to its
 * own template at distance 0. n == 0 gives no templates and NULL arrays.
 * Returns 0, WEFT_EINVAL (items or a sym NULL, threshold negative or not a
 * number) or WEFT_ENOMEM; on error *out is zeroed. If threads cannot be
 * started, the remaining work runs on those that could (same result).
 */
int cluster_templates(const struct cluster_item *items, uint32_t n,
                      const struct cluster_params *p,
                      struct cluster_result *out);
/* Frees the arrays of r and zeroes it; r may be zeroed already. */
void cluster_result_free(struct cluster_result *r);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CLUSTER_H */

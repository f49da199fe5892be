/*
 * model.h — the model of normal traces: structural pieces, templates,
 * latency profiles, the Bloom filter, the model file, and the check that
 * turns a finished trace into a verdict with an explanation. Part of
 * cluster.h (included from there); the pieces are in cluster/llq.c,
 * cluster/model*.c, cluster/pieces.c and cluster/check.c.
 *
 * What the model knows (cluster_trainer_build):
 *   - pieces: for every node of every training trace, the hash of its
 *     label with the SET of its parents' labels and the SET of its
 *     children's labels. Sets, not multisets, so a trace that only repeats
 *     a known unit more or fewer times (HDFS: 1 to 19 blocks) has no new
 *     piece, and a trace made of known pieces in a new combination is not
 *     flagged; a piece that is new names the node that is new (its label,
 *     where it hangs, what hangs under it);
 *   - shapes: the `exact` hash of every training trace (fast path: a hit
 *     means the whole DAG was seen, no piece needs probing);
 *   - templates: the training shapes clustered by normalised edit distance
 *     of their canonical symbol strings (cluster_templates); each template
 *     is a medoid shape, kept whole (symbol string and DAG) to explain and
 *     draw anomalies against;
 *   - latency profiles: per template, and model-wide as the fallback for
 *     templates with few samples, llquantize histograms of the trace's
 *     same-host duration and of each label's longest event (an event's
 *     start and end come from one host, so no cross-host clock difference
 *     is ever taken).
 * Pieces and shapes go into one split-block Bloom filter (bloom.h): the
 * hot path is one probe per trace for known shapes, one per node otherwise.
 *
 * Verdicts (cluster_check): structure first (exact hit, or every piece
 * hit: normal structure; else unknown_structure with the new pieces, the
 * nearest template, the edit distance and the aligned edits), then, for
 * normal structure, latency against the template's profile (slow, with the
 * label, its value and the threshold).
 *
 * Threads: a model is immutable once built or loaded and may be probed by
 * any number of threads at once; it is reference counted so a running
 * engine can swap in a new one (cluster_model_ref/unref). Scratch objects
 * belong to one thread.
 */
#ifndef WEFT_CLUSTER_MODEL_H
#define WEFT_CLUSTER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- llquantize histograms ---------------------------------------------
 * DTrace's llquantize(value, 10, 3, 10, 20): below 1 us one bucket; each
 * decade [10^m, 10^(m+1)) for m = 3..10 in 18 linear steps of 10^(m+1)/20;
 * 100 s and above one bucket. Relative bucket width 5-50 %, log range 1 us
 * to 100 s: the resolution latency work needs, in 146 counters. */
#define CLUSTER_LLQ_LOW 3
#define CLUSTER_LLQ_HIGH 10
#define CLUSTER_LLQ_STEPS 20
#define CLUSTER_LLQ_PER_DECADE (CLUSTER_LLQ_STEPS - CLUSTER_LLQ_STEPS / 10)
#define CLUSTER_LLQ_BUCKETS \
	(2 + (CLUSTER_LLQ_HIGH - CLUSTER_LLQ_LOW + 1) * CLUSTER_LLQ_PER_DECADE)

struct cluster_llq {
	uint64_t n;
	uint32_t bucket[CLUSTER_LLQ_BUCKETS];
};

unsigned cluster_llq_bucket(uint64_t v_ns);
/* Bucket b holds values in [lo, hi). */
uint64_t cluster_llq_lo(unsigned b);
uint64_t cluster_llq_hi(unsigned b);
void cluster_llq_add(struct cluster_llq *h, uint64_t v_ns);
/* Upper bound of the bucket holding the q-quantile; 0 when empty. */
uint64_t cluster_llq_quantile(const struct cluster_llq *h, double q);

/* ---- pieces ------------------------------------------------------------ */
struct cluster_pieces_scratch;
struct cluster_pieces_scratch *cluster_pieces_scratch_new(void);
void cluster_pieces_scratch_free(struct cluster_pieces_scratch *s);
/* out[i] = piece hash of node i of g (g->n_nodes of them). 0, WEFT_EINVAL
 * (a parent out of range) or WEFT_ENOMEM. */
int cluster_pieces(struct cluster_pieces_scratch *s, const struct cluster_dag *g,
                   uint64_t *out);

/* ---- training ----------------------------------------------------------- */
struct cluster_model_params {
	double threshold;          /* normalised edit distance to join a template (0.15) */
	double bloom_fpr;          /* target false-positive rate of the filter (1e-4) */
	double slow_quantile;      /* profile quantile a latency is compared with (0.99) */
	double slow_factor;        /* slow when above factor x that quantile (2) */
	uint32_t slow_min_samples; /* fewer in a template: use the model-wide profile (20) */
	uint64_t slow_floor_ns;    /* never slow below this (10 ms): scheduling jitter */
	uint64_t seed;             /* clustering order and sampling (1) */
	unsigned threads;          /* clustering threads, 0 = cores */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};
void cluster_model_params_default(struct cluster_model_params *p);

/* One finished trace as the trainer and the checker read it (borrowed). */
struct cluster_trace_in {
	const struct cluster_dag *dag;
	const char *const *label_text; /* [n_nodes] label texts (NULL: none) */
	const uint64_t *dur_ns;        /* [n_nodes] event end - start on its own
	                                * host; UINT64_MAX when unknown */
	uint64_t duration_ns;          /* the trace's same-host duration */
	uint64_t signature, exact;     /* cluster_canon */
	const uint64_t *symbols;       /* canonical symbol string */
	uint32_t n_symbols;
};

struct cluster_trainer;
int cluster_trainer_new(const struct cluster_model_params *p,
                        struct cluster_trainer **out);
void cluster_trainer_free(struct cluster_trainer *t);
/* Adds one normal trace. 0, WEFT_EINVAL or WEFT_ENOMEM. */
int cluster_trainer_add(struct cluster_trainer *t, const struct cluster_trace_in *tr);
struct cluster_model;
/* Clusters, profiles and fills the filter. The trainer can be freed
 * afterwards; the model is the caller's (cluster_model_unref). Errors write
 * a message into errstr. */
int cluster_trainer_build(struct cluster_trainer *t, struct cluster_model **out,
                          char *errstr, size_t errlen);

/* ---- the model ---------------------------------------------------------- */
struct cluster_model_info {
	uint32_t n_templates;
	uint64_t traces;        /* training traces */
	uint64_t shapes;        /* distinct exact shapes */
	uint64_t pieces;        /* distinct pieces */
	uint64_t filter_bytes;
	double filter_fpr;      /* theoretical, for the keys in it */
	uint64_t trained_at;    /* Unix seconds the model was built; 0: unknown
	                         * (a format-1 file, or never set) */
	const char *trained_from; /* what it was trained from ("": unknown);
	                           * valid while the model is referenced */
	struct cluster_model_params params;
};
void cluster_model_info(const struct cluster_model *m, struct cluster_model_info *out);
/* Records when and from what the model was trained (kept in the file);
 * `from` is cut to CLUSTER_MODEL_FROM_MAX - 1 bytes. Call before the
 * model is shared. */
#define CLUSTER_MODEL_FROM_MAX 160
void cluster_model_set_origin(struct cluster_model *m, uint64_t trained_at, const char *from);

/* Template t (0 <= t < n_templates): its training weight, its medoid's
 * symbol string and DAG (labels per node, parent lists as in cluster_dag)
 * and profile. Pointers valid while the model is referenced. */
struct cluster_template_view {
	uint64_t weight, exact, signature;
	const uint64_t *symbols;
	uint32_t n_symbols;
	struct cluster_dag dag;
	const struct cluster_llq *duration;
	uint64_t duration_thr_ns; /* 0: no latency verdict on duration */
};
int cluster_model_template(const struct cluster_model *m, uint32_t t,
                           struct cluster_template_view *out);
/* Median of the label's longest event per training trace, over every
 * template (the upper bound of its llquantize bucket); 0 when the label
 * was not learned or m is NULL. */
uint64_t cluster_model_label_median(const struct cluster_model *m, uint64_t sym);
/* 1 when the model knows piece (cluster_pieces; a filter probe, false
 * positives at the model's fpr), else 0 (also for m NULL). */
int cluster_model_has_piece(const struct cluster_model *m, uint64_t piece);
/* Text of a label symbol seen in training; NULL if unknown. */
const char *cluster_model_label(const struct cluster_model *m, uint64_t sym);

void cluster_model_ref(struct cluster_model *m);
/* Drops a reference; frees at zero. NULL is fine. */
void cluster_model_unref(struct cluster_model *m);

/* The model file: a versioned header (magic "WEFTMODL", format version,
 * length) and an XXH3-64 checksum over everything after the header; a
 * corrupt, truncated or foreign file is refused with WEFT_EFORMAT and a
 * message saying what is wrong. Version 2 adds when and from what the
 * model was trained; version-1 files still load (origin unknown). */
#define CLUSTER_MODEL_VERSION 2
#define CLUSTER_MODEL_VERSION_MIN 1
int cluster_model_save(const struct cluster_model *m, const char *path,
                       char *errstr, size_t errlen);
int cluster_model_load(const char *path, struct cluster_model **out,
                       char *errstr, size_t errlen);
/* Versions (model_versions.c): earlier files kept beside the model as
 * PATH.v1, PATH.v2, ... (higher is newer).
 * cluster_model_keep_version: before PATH is replaced, keeps the current
 * file as the next version (a hard link, else a copy; nothing when PATH
 * does not exist or keep is 0) and removes all but the newest `keep`;
 * *version (may be NULL) is the number given, 0 when none.
 * cluster_model_versions: the version numbers, ascending (*out malloc'd,
 * the caller frees it; none: NULL and 0).
 * cluster_model_rollback: puts version `version` (0: the newest) back at
 * PATH after checking it loads, keeping the current file as a version
 * first; *used (may be NULL) is the version restored. A running service
 * watching PATH swaps it in. WEFT_ENOTFOUND without such a version. */
int cluster_model_keep_version(const char *path, unsigned keep, uint32_t *version,
                               char *errstr, size_t errlen);
int cluster_model_versions(const char *path, uint32_t **out, size_t *n);
int cluster_model_rollback(const char *path, uint32_t version, unsigned keep,
                           uint32_t *used, char *errstr, size_t errlen);
/* The same from memory (tests, fuzzing); buf is copied from. */
int cluster_model_decode(const void *buf, size_t len, struct cluster_model **out,
                         char *errstr, size_t errlen);
/* Serialised bytes; *out is malloc'd, the caller frees it. */
int cluster_model_encode(const struct cluster_model *m, void **out, size_t *len);

/* ---- checking ----------------------------------------------------------- */
enum cluster_verdict_kind {
	CLUSTER_NORMAL = 1,
	CLUSTER_UNKNOWN_STRUCTURE = 2,
	CLUSTER_SLOW = 3,
};

#define CLUSTER_MAX_NEW 16 /* new pieces reported per trace */

struct cluster_edit; /* cluster.h: edit distance */

struct cluster_verdict {
	enum cluster_verdict_kind kind;
	int known_shape;        /* exact shape seen in training */
	int32_t tmpl;           /* template, -1 when the model has none */
	uint32_t distance;      /* edit distance to the template (0 if known shape) */
	double norm_distance;   /* distance / longer string length */
	uint32_t n_new;         /* nodes whose piece is new (count, all of them) */
	uint32_t n_new_labels;  /* distinct labels among them (all of them) */
	/* one node per distinct label (the smallest piece hash), sorted by
	 * label text (symbol without texts): the first CLUSTER_MAX_NEW, node
	 * indices; the same whatever order the trace's nodes came in */
	uint32_t new_node[CLUSTER_MAX_NEW];
	/* aligned edits template -> trace, when unknown_structure and the pair
	 * is small enough to align (scratch-owned, valid until the next check) */
	const struct cluster_edit *edits;
	uint32_t n_edits;
	/* slow: what was slow */
	int slow_is_duration;   /* 1: the whole trace; 0: one label */
	int32_t slow_node;      /* node with the slow label's longest event */
	uint64_t slow_value_ns, slow_thr_ns;
	uint64_t probes;        /* filter probes this check made */
};

struct cluster_check_scratch;
struct cluster_check_scratch *cluster_check_scratch_new(void);
void cluster_check_scratch_free(struct cluster_check_scratch *s);
/* latency 0: the check judges structure only and never says slow (the
 * caller judges latency otherwise, e.g. against peers); 1 (the default):
 * against the template's thresholds. */
void cluster_check_scratch_latency(struct cluster_check_scratch *s, int latency);
/* Checks tr against m. 0, WEFT_EINVAL or WEFT_ENOMEM. */
int cluster_check(const struct cluster_model *m, struct cluster_check_scratch *s,
                  const struct cluster_trace_in *tr, struct cluster_verdict *out);
const char *cluster_verdict_name(enum cluster_verdict_kind k);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CLUSTER_MODEL_H */

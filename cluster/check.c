/*
 * check.c — a finished trace against the model: the verdict and what
 * explains it (model.h).
 *
 * Fast path, the common case: one filter probe with the trace's exact
 * shape. A hit means this very DAG was seen in training (or a filter false
 * positive, at the model's fpr), and its template comes from the sorted
 * shape map (binary search).
 *
 * Otherwise every node's piece is probed (one cache line each). No miss:
 * the structure is a known combination of known pieces (another block
 * count, a known branch in a new mix): normal structure; its template is
 * the signature's when training saw the signature, else the nearest by
 * edit distance. Misses: unknown_structure. The nodes whose piece missed
 * are reported (their labels and neighbours are what is new), the nearest
 * template is searched by edit distance with a shrinking cutoff (each
 * template costs little once a close one is known), and the template is
 * aligned with the trace (full DP, only while the pair has at most
 * ALIGN_CELLS cells) for the missing / extra / substituted labels and
 * their positions.
 *
 * Latency, for normal structure: the trace's same-host duration against
 * the template's threshold, and each label's longest event against the
 * template's (or the model-wide) threshold for that label. The largest
 * ratio above 1 makes the trace slow, and names what was slow.
 *
 * A filter false positive can only hide an anomaly (a new piece that
 * probes as known), never raise a false alarm.
 */
#include <stdlib.h>
#include <string.h>

#include "bloom/bloom.h"
#include "cluster/cluster.h"
#include "cluster/model.h"
#include "cluster/model_int.h"
#include "common/common.h"

#define ALIGN_CELLS (4u << 20) /* 2048 x 2048 symbols: 4 M cells, 16 MB */

/* A node whose piece is new, while choosing which ones to name. */
struct new_piece {
	uint64_t label, piece;
	const char *text; /* NULL: sort by symbol */
	uint32_t node, pad;
};

struct cluster_check_scratch {
	struct cluster_pieces_scratch *ps;
	struct cluster_ed_scratch *es;
	uint64_t *pieces;
	size_t cap_pieces;
	struct cluster_edit *edits; /* non-match edits of the last alignment */
	struct cluster_label_max lmax; /* per trace */
	int no_latency;                /* structure only */
	struct new_piece *np;          /* the new nodes of the last check */
	size_t cap_np;
};

struct cluster_check_scratch *
cluster_check_scratch_new(void)
{
	struct cluster_check_scratch *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->ps = cluster_pieces_scratch_new();
	s->es = cluster_ed_scratch_new();
	if (!s->ps || !s->es) {
		cluster_check_scratch_free(s);
		return NULL;
	}
	return s;
}

void
cluster_check_scratch_latency(struct cluster_check_scratch *s, int latency)
{
	s->no_latency = !latency;
}

void
cluster_check_scratch_free(struct cluster_check_scratch *s)
{
	if (!s)
		return;
	cluster_pieces_scratch_free(s->ps);
	cluster_ed_scratch_free(s->es);
	free(s->pieces);
	free(s->edits);
	free(s->np);
	cluster_label_max_free(&s->lmax);
	free(s);
}

const char *
cluster_verdict_name(enum cluster_verdict_kind k)
{
	switch (k) {
	case CLUSTER_NORMAL: return "normal";
	case CLUSTER_UNKNOWN_STRUCTURE: return "unknown_structure";
	case CLUSTER_SLOW: return "slow";
	}
	return "unknown";
}

static int32_t
map_find(const struct cluster_ment *a, uint32_t n, uint64_t key)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo].key == key ? (int32_t)a[lo].tmpl : -1;
}

static void
nearest(const struct cluster_model *m, struct cluster_check_scratch *s,
        const struct cluster_trace_in *tr, struct cluster_verdict *v)
{
	uint32_t best = UINT32_MAX;
	int32_t bt = -1;
	for (uint32_t t = 0; t < m->n_templates; t++) {
		uint32_t nt = m->t[t].n_sym, n = tr->n_symbols;
		uint32_t lb = nt > n ? nt - n : n - nt;
		if (lb >= best)
			continue;
		uint32_t cut = best == UINT32_MAX ? (nt > n ? nt : n) : best - 1;
		uint32_t d = cluster_ed_dist(m->pat[t], tr->symbols, n, cut, s->es);
		if (d <= cut && d < best) {
			best = d;
			bt = (int32_t)t;
			if (!d)
				break;
		}
	}
	v->tmpl = bt;
	if (bt >= 0) {
		uint32_t mx = m->t[bt].n_sym > tr->n_symbols ? m->t[bt].n_sym : tr->n_symbols;
		v->distance = best;
		v->norm_distance = mx ? (double)best / mx : 0.0;
	}
}

static int
align(const struct cluster_model *m, struct cluster_check_scratch *s,
      const struct cluster_trace_in *tr, struct cluster_verdict *v)
{
	const struct cluster_tmpl *tp = &m->t[v->tmpl];
	struct cluster_edit *ops = NULL;
	uint32_t n_ops = 0;
	int rc = cluster_ed_align(tp->sym, tp->n_sym, tr->symbols, tr->n_symbols,
	                          ALIGN_CELLS, &ops, &n_ops);
	if (rc == WEFT_ELIMIT)
		return 0; /* too long to align: the new pieces still explain */
	if (rc)
		return rc;
	uint32_t k = 0;
	for (uint32_t i = 0; i < n_ops; i++)
		if (ops[i].op != CLUSTER_EDIT_MATCH)
			ops[k++] = ops[i];
	free(s->edits);
	s->edits = ops;
	v->edits = ops;
	v->n_edits = k;
	return 0;
}

/* Latency: sets SLOW with what was slowest relative to its threshold. */
static int
latency(const struct cluster_model *m, struct cluster_check_scratch *s,
        const struct cluster_trace_in *tr, struct cluster_verdict *v)
{
	const struct cluster_profile *pr = &m->t[v->tmpl].prof;
	double worst = 1.0;
	if (pr->dur_thr && tr->duration_ns > pr->dur_thr) {
		worst = (double)tr->duration_ns / (double)pr->dur_thr;
		v->kind = CLUSTER_SLOW;
		v->slow_is_duration = 1;
		v->slow_node = -1;
		v->slow_value_ns = tr->duration_ns;
		v->slow_thr_ns = pr->dur_thr;
	}
	if (!tr->dur_ns)
		return 0;
	struct cluster_label_max *lm = &s->lmax;
	int rc = cluster_label_max_compute(lm, tr);
	if (rc)
		return rc;
	for (uint32_t ix = 0; ix < lm->n; ix++) {
		const struct cluster_lprof *l = cluster_profile_find(pr, lm->sym[ix]);
		uint64_t thr = l ? l->thr : 0;
		if (!l) {
			const struct cluster_lprof *gl = cluster_profile_find(&m->global, lm->sym[ix]);
			thr = gl ? gl->thr : 0;
		}
		if (!thr || lm->val[ix] <= thr)
			continue;
		double r = (double)lm->val[ix] / (double)thr;
		if (r > worst) {
			worst = r;
			v->kind = CLUSTER_SLOW;
			v->slow_is_duration = 0;
			v->slow_node = (int32_t)lm->node[ix];
			v->slow_value_ns = lm->val[ix];
			v->slow_thr_ns = thr;
		}
	}
	return 0;
}

static int
cmp_by_label_piece(const void *a, const void *b)
{
	const struct new_piece *x = a, *y = b;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	if (x->piece != y->piece)
		return x->piece < y->piece ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

static int
cmp_by_text(const void *a, const void *b)
{
	const struct new_piece *x = a, *y = b;
	int c = x->text && y->text ? strcmp(x->text, y->text) : 0;
	if (c)
		return c;
	return x->label < y->label ? -1 : x->label > y->label;
}

/* Names the new pieces: one node per distinct label (the one with the
 * smallest piece hash, so the same whatever the nodes' order), sorted by
 * label text; the first CLUSTER_MAX_NEW into v, their count exact. */
static void
name_new(struct cluster_check_scratch *s, size_t n, struct cluster_verdict *v)
{
	qsort(s->np, n, sizeof *s->np, cmp_by_label_piece);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || s->np[i].label != s->np[k - 1].label)
			s->np[k++] = s->np[i];
	qsort(s->np, k, sizeof *s->np, cmp_by_text);
	v->n_new_labels = (uint32_t)k;
	for (size_t i = 0; i < k && i < CLUSTER_MAX_NEW; i++)
		v->new_node[i] = s->np[i].node;
}

int
cluster_check(const struct cluster_model *m, struct cluster_check_scratch *s,
              const struct cluster_trace_in *tr, struct cluster_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->kind = CLUSTER_NORMAL;
	v->tmpl = -1;
	v->slow_node = -1;
	const struct cluster_dag *g = tr->dag;
	int rc;
	v->probes = 1;
	if (bloom_probe(m->bloom, cluster_exact_key(tr->exact)) &&
	    (v->tmpl = map_find(m->exact_map, m->n_exact, tr->exact)) >= 0) {
		v->known_shape = 1;
	} else {
		if (s->cap_pieces < g->n_nodes) {
			uint64_t *p = realloc(s->pieces, (size_t)g->n_nodes * sizeof *p);
			if (!p)
				return WEFT_ENOMEM;
			s->pieces = p;
			s->cap_pieces = g->n_nodes;
		}
		if (s->cap_np < g->n_nodes) {
			struct new_piece *p = realloc(s->np, (size_t)g->n_nodes * sizeof *p);
			if (!p)
				return WEFT_ENOMEM;
			s->np = p;
			s->cap_np = g->n_nodes;
		}
		if ((rc = cluster_pieces(s->ps, g, s->pieces)))
			return rc;
		for (uint32_t i = 0; i < g->n_nodes; i++) {
			if (bloom_probe(m->bloom, s->pieces[i]))
				continue;
			s->np[v->n_new++] = (struct new_piece){
				g->label[i], s->pieces[i], tr->label_text ? tr->label_text[i] : NULL, i, 0};
		}
		if (v->n_new)
			name_new(s, v->n_new, v);
		v->probes += g->n_nodes;
		if (!v->n_new)
			v->tmpl = map_find(m->sig_map, m->n_sig, tr->signature);
		if (v->tmpl < 0)
			nearest(m, s, tr, v);
		if (v->n_new) {
			v->kind = CLUSTER_UNKNOWN_STRUCTURE;
			if (v->tmpl >= 0 && (rc = align(m, s, tr, v)))
				return rc;
			return 0;
		}
	}
	if (v->tmpl >= 0 && !s->no_latency && (rc = latency(m, s, tr, v)))
		return rc;
	return 0;
}

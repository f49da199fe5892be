/*
 * pieces.c — structural pieces of a trace DAG (model.h).
 *
 * piece(v) = H(label(v), {label(p) : p parent of v}, {label(c) : c child of v})
 *
 * with both neighbour label collections taken as sorted SETS. A piece is
 * what the model learns and what a miss points at: "this label, under
 * these labels, with these labels under it, was never seen". Sets make the
 * pieces blind to how many times a unit repeats (a chain of 19 blocks has
 * the same pieces as a chain of 2, and sibling copies collapse too), which
 * is what a model of HDFS traces needs (DESIGN.md: repeated sub-DAGs). The
 * price is the same blind spot as the signature's: a node with one child
 * of a label against one with two is not a new piece. The whole-DAG `exact`
 * hash and the edit distance to the template still see counts.
 *
 * Missing nodes (a parent that never came) carry CLUSTER_SYM_MISSING as
 * their label, so a lost report shows as new pieces (the missing node, and
 * its children's "under missing").
 *
 * Cost: O(n + e) plus sorting each node's neighbour labels (insertion sort:
 * HDFS nodes have 1-3 parents and children; heavy fan-out pays n log n via
 * qsort). One XXH3 per node over a small buffer. No allocation once the
 * scratch has grown.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "cluster/model_int.h"
#include "common/common.h"

#define PIECE_SEED 0x7069656365ULL /* "piece" */

struct cluster_pieces_scratch {
	uint32_t *child_off;  /* [n + 1] */
	uint32_t *child;      /* [edges] */
	uint64_t *buf;        /* hash input of one node */
	size_t cap_n, cap_e, cap_buf;
};

struct cluster_pieces_scratch *
cluster_pieces_scratch_new(void)
{
	return calloc(1, sizeof(struct cluster_pieces_scratch));
}

void
cluster_pieces_scratch_free(struct cluster_pieces_scratch *s)
{
	if (!s)
		return;
	free(s->child_off);
	free(s->child);
	free(s->buf);
	free(s);
}

int
cluster_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *np = realloc(*p, c * elem);
	if (!np)
		return WEFT_ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

/* Sorts v[0..n) and removes duplicates; returns the new length. */
static uint32_t
sort_unique(uint64_t *v, uint32_t n)
{
	if (n > 16) {
		qsort(v, n, sizeof *v, weft_cmp_u64);
	} else {
		for (uint32_t i = 1; i < n; i++) {
			uint64_t x = v[i];
			uint32_t j = i;
			for (; j > 0 && v[j - 1] > x; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
	}
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++)
		if (!m || v[m - 1] != v[i])
			v[m++] = v[i];
	return m;
}

int
cluster_pieces(struct cluster_pieces_scratch *s, const struct cluster_dag *g,
               uint64_t *out)
{
	uint32_t n = g->n_nodes;
	uint32_t ne = g->par_off[n];
	if (cluster_grow((void **)&s->child_off, &s->cap_n, (size_t)n + 1, sizeof(uint32_t)) ||
	    cluster_grow((void **)&s->child, &s->cap_e, ne ? ne : 1, sizeof(uint32_t)))
		return WEFT_ENOMEM;
	/* children lists by counting sort over parent indices */
	memset(s->child_off, 0, ((size_t)n + 1) * sizeof(uint32_t));
	for (uint32_t e = 0; e < ne; e++) {
		if (g->par[e] >= n)
			return WEFT_EINVAL;
		s->child_off[g->par[e] + 1]++;
	}
	for (uint32_t i = 0; i < n; i++)
		s->child_off[i + 1] += s->child_off[i];
	uint32_t max_deg = 0;
	for (uint32_t v = 0; v < n; v++) {
		uint32_t np = g->par_off[v + 1] - g->par_off[v];
		uint32_t nc = s->child_off[v + 1] - s->child_off[v];
		if (np + nc > max_deg)
			max_deg = np + nc;
	}
	/* fill: child_off[p] is advanced while filling, then restored */
	for (uint32_t v = 0; v < n; v++)
		for (uint32_t e = g->par_off[v]; e < g->par_off[v + 1]; e++)
			s->child[s->child_off[g->par[e]]++] = v;
	for (uint32_t i = n; i > 0; i--)
		s->child_off[i] = s->child_off[i - 1];
	s->child_off[0] = 0;
	if (cluster_grow((void **)&s->buf, &s->cap_buf, (size_t)max_deg + 4, sizeof(uint64_t)))
		return WEFT_ENOMEM;
	for (uint32_t v = 0; v < n; v++) {
		uint64_t *b = s->buf;
		uint32_t k = 0;
		b[k++] = g->label[v];
		uint32_t at = ++k; /* b[at - 1]: parent count */
		for (uint32_t e = g->par_off[v]; e < g->par_off[v + 1]; e++)
			b[k++] = g->label[g->par[e]];
		uint32_t np = sort_unique(b + at, k - at);
		b[at - 1] = np;
		k = at + np;
		at = ++k; /* b[at - 1]: child count */
		for (uint32_t e = s->child_off[v]; e < s->child_off[v + 1]; e++)
			b[k++] = g->label[s->child[e]];
		uint32_t nc = sort_unique(b + at, k - at);
		b[at - 1] = nc;
		k = at + nc;
		out[v] = XXH3_64bits_withSeed(b, (size_t)k * sizeof(uint64_t), PIECE_SEED);
	}
	return 0;
}

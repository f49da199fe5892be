/*
 * canon.c — canonical form of a trace DAG: exact shape hash, repetition-
 * folded signature, and a canonical symbol string (cluster.h).
 *
 * Everything is computed from structure only: labels and edges. Node
 * indices (arrival order, event ids) never reach a hash or an ordering
 * decision, except as the last tie-break between nodes whose up and down
 * hashes are both equal (structurally interchangeable in a tree).
 *
 * 1. Order. Kahn's algorithm gives a topological order (a node left over
 *    means a cycle: WEFT_EINVAL). It depends on indices, but it is only used
 *    to visit parents before children; nothing computed depends on it.
 *
 * 2. Exact shape. Merkle hashes in both directions:
 *      U(v) = H(label(v), {{ U(p) : p parent of v }})    up: ancestry
 *      D(v) = H(label(v), {{ D(c) : c child of v }})     down: descendants
 *    The multisets are folded by a commutative combiner of two independent
 *    lanes, each a sum of a strong 64-bit mix (murmur3 fmix64 of the value
 *    xored with a lane constant): sums of well-mixed values have no usable
 *    linear structure for non-adversarial input, and two lanes make the
 *    x+x = 2x case a 2^-128 event, not a 2^-64 one. The lanes, the label and
 *    the count go through XXH3. This is O(n) with no sort (sorting child
 *    hashes with qsort would cost more than the rest together).
 *    exact = H({{ H(U(v), D(v)) : v }}) with the same combiner: two traces
 *    get the same exact iff they have the same labelled DAG, up to hash
 *    collisions (U and D together pin each node's place; the multiset of
 *    them the whole DAG in every case that matters in practice).
 *
 * 3. Repetition folding (signature). HDFS writes one block unit per block,
 *    and in TraceBench the units are CHAINED: block k+1's unit hangs under
 *    block k's "OP: send block", so a 19-block trace is a 300-deep path
 *    nbos -> addBlock -> createBOS -> send -> nbos -> ... with side branches,
 *    not 19 siblings. Sibling-subtree dedup alone cannot fold that. And
 *    "fold complete identical consecutive segments" leaves a 1-block trace
 *    different from a 2-block one (the second copy's nodes are only known
 *    to be a repetition once the copy is complete, and its tail hangs off
 *    the last copy), so the rule here works on label paths:
 *
 *      Each node v has a reduced path phi(v): phi(root) = [label(root)];
 *      phi(v) = phi(p) + [label(v)] where p is v's primary parent, unless
 *      label(v) already occurs in phi(p): then v folds back onto that
 *      occurrence and phi(v) is the prefix of phi(p) ending there.
 *
 *    A reduced path holds each label at most once, so a repeated unit
 *    (a chain of blocks, a replication pipeline writeBlock -> ... ->
 *    writeBlock, receiveBlock -> receiveBlock) maps onto its first copy
 *    whatever the count, and sibling repetitions map onto one path too
 *    (a set, not a multiset). The folded shape is the trie of distinct
 *    reduced paths (each vertex hashed as the Merkle hash of its path)
 *    plus the distinct join edges (phi(q), phi(v)) for every non-primary
 *    parent q of a DAG join; edges that fold back (the loop edge that
 *    re-enters a unit) are left out, else a 1-block trace would differ
 *    from a 2-block one.
 *      signature = H({ path hash of each trie vertex } u { join edges })
 *    The primary parent of a join is the parent with the smallest (U, D),
 *    a structural choice.
 *    Trade-off: this is a set-of-paths abstraction. It keeps which kinds of
 *    node occur under which (reduced) ancestry, so a missing, extra,
 *    relabelled or re-parented node kind changes the signature, but it
 *    cannot see a defect inside one copy of a repeated unit when the other
 *    copies carry the same paths (one block missing a receiveBlock), nor
 *    tell a->{b->c, b->d} from a->b->{c,d}, nor a label that recurs on a
 *    path without a real repetition (a b c a d folds like a->{b->c, d}).
 *    Those differences stay visible in `exact`, repeat_max and in the
 *    symbol string, which the template explanation uses.
 *    Repetition features: a node that folds back onto an ancestor
 *    occurrence has repetition index rep = rep(that ancestor) + 1 (the
 *    nearest ancestor on the primary path with the same reduced path);
 *    repeat_max is the largest rep (the longest chain of copies on one
 *    path: the block count of an HDFS write, or the replication factor if
 *    larger), repeat_groups the number of distinct trie vertices that
 *    something folded onto (loop heads).
 *
 * 4. Symbol string. The FULL string, one symbol per node (missing nodes
 *    carry CLUSTER_SYM_MISSING), not the folded one: edit distance between
 *    a 3-block and a 5-block write should be the two extra units (2 x 16
 *    insertions), which a full string in depth-first order gives, while a
 *    folded string would hide the count and still not be bounded in
 *    general. Callers that want count-blind distances compare signatures
 *    first. Order: a depth-first topological order (Kahn's algorithm with a
 *    LIFO of ready nodes), children and roots taken in increasing (U, D)
 *    order. U first because it does not change when descendants are added,
 *    so an extra block appends a contiguous run of symbols instead of
 *    reshuffling its siblings; D breaks ties between same-label siblings.
 *
 * Cost: O(n + e) hashing, plus sorting each node's children (insertion
 * sort, heap sort over 16) and one hash-table probe per node for the
 * reduced paths; the path walk to find a label (O(path length)) runs once
 * per distinct (path, label) pair and is cached. No allocation once the
 * scratch has grown to the largest trace seen.
 *
 * Ownership: the scratch owns every array, including the symbols that
 * cluster_canon_compute() returns; the caller owns the scratch and the
 * input DAG (borrowed, read only). One scratch per thread.
 */
#include <stdlib.h>
#include <string.h>

/* Inlined: the inputs are 16 and 32 bytes, a call would cost as much. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cluster/cluster.h"
#include "engine/engine.h"

/* Reduced-path trie vertex. Invariant: a label occurs at most once on the
 * path from the virtual root (id 0) to any vertex. */
struct canon_vertex {
	uint32_t parent; /* vertex id; 0 = virtual root */
	uint32_t depth;  /* path length; 0 for the virtual root */
	uint64_t label;
	uint64_t hash;   /* Merkle hash of the path */
	uint32_t loop;   /* 1 once something folded back onto this vertex */
};

/* Open-addressing table slot: (a, b) -> val, valid when gen == current. */
struct canon_slot {
	uint64_t a, b;
	uint32_t val;
	uint32_t gen;
};

struct cluster_canon_scratch {
	uint32_t cap_n;  /* node capacity */
	uint32_t cap_e;  /* edge capacity */
	uint32_t *indeg, *order, *child_off, *child, *fill, *prim, *phi, *rep;
	uint32_t *stack;
	uint64_t *up, *down, *sym;
	struct canon_vertex *vx;
	uint32_t nvx;
	struct canon_slot *tab;
	uint32_t tab_mask; /* size - 1; size a power of two */
	uint32_t gen;
};

/* ---- hashing ----------------------------------------------------------- */
static inline uint64_t
fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

#define LANE_A 0x9e3779b97f4a7c15ULL
#define LANE_B 0xd1b54a32d192ed03ULL
#define SEED_UP 0x7570000000000001ULL
#define SEED_DOWN 0x646f776e00000002ULL
#define SEED_NODE 0x6e6f646500000003ULL
#define SEED_EXACT 0x6578616374000004ULL
#define SEED_PATH 0x7061746800000005ULL
#define SEED_JOIN 0x6a6f696e00000006ULL
#define SEED_SIG 0x7369676e00000007ULL

/* Commutative two-lane multiset accumulator. */
struct canon_acc {
	uint64_t a, b, n;
};

static inline void
acc_add(struct canon_acc *c, uint64_t h)
{
	c->a += fmix64(h ^ LANE_A);
	c->b += fmix64((h + LANE_B) * 0xbf58476d1ce4e5b9ULL);
	c->n++;
}

static inline uint64_t
acc_hash(const struct canon_acc *c, uint64_t label, uint64_t seed)
{
	uint64_t w[4] = {label, c->a, c->b, c->n};
	return XXH3_64bits_withSeed(w, sizeof(w), seed);
}

static inline uint64_t
hash2(uint64_t x, uint64_t y, uint64_t seed)
{
	uint64_t w[2] = {x, y};
	return XXH3_64bits_withSeed(w, sizeof(w), seed);
}

/* ---- scratch ----------------------------------------------------------- */
struct cluster_canon_scratch *
cluster_canon_scratch_new(void)
{
	return calloc(1, sizeof(struct cluster_canon_scratch));
}

static void
scratch_release(struct cluster_canon_scratch *s)
{
	free(s->indeg);
	free(s->order);
	free(s->child_off);
	free(s->child);
	free(s->fill);
	free(s->prim);
	free(s->phi);
	free(s->rep);
	free(s->stack);
	free(s->up);
	free(s->down);
	free(s->sym);
	free(s->vx);
	free(s->tab);
}

void
cluster_canon_scratch_free(struct cluster_canon_scratch *s)
{
	if (!s)
		return;
	scratch_release(s);
	free(s);
}

/* Grows the scratch to n nodes and e edges; contents are not kept. */
static int
scratch_reserve(struct cluster_canon_scratch *s, uint32_t n, uint32_t e)
{
	if (n <= s->cap_n && e <= s->cap_e)
		return 0;
	uint32_t cn = s->cap_n > n ? s->cap_n : n;
	uint32_t ce = s->cap_e > e ? s->cap_e : e;
	cn = cn < 64 ? 64 : cn + cn / 2;
	ce = ce < 64 ? 64 : ce + ce / 2;
	scratch_release(s);
	memset(s, 0, sizeof(*s));
	size_t n1 = (size_t)cn + 1;
	/* Table keys: one per node (path step) and one per edge (joins). */
	size_t tsz = 16;
	while (tsz < 2 * ((size_t)cn + ce + 1))
		tsz <<= 1;
	s->indeg = malloc(n1 * sizeof(uint32_t));
	s->order = malloc(n1 * sizeof(uint32_t));
	s->child_off = malloc((n1 + 1) * sizeof(uint32_t));
	s->child = malloc(((size_t)ce + 1) * sizeof(uint32_t));
	s->fill = malloc(n1 * sizeof(uint32_t));
	s->prim = malloc(n1 * sizeof(uint32_t));
	s->phi = malloc(n1 * sizeof(uint32_t));
	s->rep = malloc(n1 * sizeof(uint32_t));
	s->stack = malloc(n1 * sizeof(uint32_t));
	s->up = malloc(n1 * sizeof(uint64_t));
	s->down = malloc(n1 * sizeof(uint64_t));
	s->sym = malloc(n1 * sizeof(uint64_t));
	s->vx = malloc((n1 + 1) * sizeof(struct canon_vertex));
	s->tab = calloc(tsz, sizeof(struct canon_slot));
	if (!s->indeg || !s->order || !s->child_off || !s->child || !s->fill ||
	    !s->prim || !s->phi || !s->rep || !s->stack || !s->up || !s->down ||
	    !s->sym || !s->vx || !s->tab) {
		scratch_release(s);
		memset(s, 0, sizeof(*s));
		return WEFT_ENOMEM;
	}
	s->cap_n = cn;
	s->cap_e = ce;
	s->tab_mask = (uint32_t)(tsz - 1);
	return 0;
}

/*
 * Finds (a, b) in the table. Returns its slot; *found says whether it was
 * there (else the slot is claimed for the caller to fill). The table is
 * never full: it has at least twice as many slots as keys per call.
 */
static struct canon_slot *
tab_probe(struct cluster_canon_scratch *s, uint64_t a, uint64_t b, int *found)
{
	uint32_t i = (uint32_t)fmix64(a * 0x9e3779b97f4a7c15ULL ^ b) & s->tab_mask;
	for (;;) {
		struct canon_slot *sl = &s->tab[i];
		if (sl->gen != s->gen) {
			sl->gen = s->gen;
			sl->a = a;
			sl->b = b;
			*found = 0;
			return sl;
		}
		if (sl->a == a && sl->b == b) {
			*found = 1;
			return sl;
		}
		i = (i + 1) & s->tab_mask;
	}
}

/* ---- sorting by (U, D), then index ------------------------------------- */
static inline int
key_less(const struct cluster_canon_scratch *s, uint32_t x, uint32_t y)
{
	if (s->up[x] != s->up[y])
		return s->up[x] < s->up[y];
	if (s->down[x] != s->down[y])
		return s->down[x] < s->down[y];
	return x < y;
}

static void
sift_down(const struct cluster_canon_scratch *s, uint32_t *v, size_t i,
          size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && key_less(s, v[c], v[c + 1]))
			c++;
		if (!key_less(s, v[i], v[c]))
			return;
		uint32_t t = v[i];
		v[i] = v[c];
		v[c] = t;
		i = c;
	}
}

/* Sorts node indices v[0..n) by increasing key. */
static void
sort_nodes(const struct cluster_canon_scratch *s, uint32_t *v, size_t n)
{
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			uint32_t x = v[i];
			size_t j = i;
			while (j > 0 && key_less(s, x, v[j - 1])) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = x;
		}
		return;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(s, v, i, n);
	for (size_t e = n; e-- > 1;) {
		uint32_t t = v[0];
		v[0] = v[e];
		v[e] = t;
		sift_down(s, v, 0, e);
	}
}

/* ---- passes ------------------------------------------------------------ */

/* Validates parents, builds the child lists and a topological order into
 * s->order. Returns 0 or WEFT_EINVAL. */
static int
build_order(struct cluster_canon_scratch *s, const struct cluster_dag *g)
{
	uint32_t n = g->n_nodes;
	memset(s->child_off, 0, ((size_t)n + 2) * sizeof(uint32_t));
	for (uint32_t v = 0; v < n; v++) {
		if (g->par_off[v] > g->par_off[v + 1])
			return WEFT_EINVAL;
		s->indeg[v] = g->par_off[v + 1] - g->par_off[v];
		for (uint32_t k = g->par_off[v]; k < g->par_off[v + 1]; k++) {
			uint32_t p = g->par[k];
			if (p >= n)
				return WEFT_EINVAL;
			s->child_off[p + 2]++;
		}
	}
	for (uint32_t v = 0; v < n; v++)
		s->child_off[v + 2] += s->child_off[v + 1];
	for (uint32_t v = 0; v < n; v++)
		for (uint32_t k = g->par_off[v]; k < g->par_off[v + 1]; k++)
			s->child[s->child_off[g->par[k] + 1]++] = v;
	/* child_off[v] .. child_off[v + 1] are now v's children. */
	uint32_t head = 0, tail = 0;
	for (uint32_t v = 0; v < n; v++) {
		s->fill[v] = s->indeg[v];
		if (s->indeg[v] == 0)
			s->order[tail++] = v;
	}
	while (head < tail) {
		uint32_t v = s->order[head++];
		for (uint32_t k = s->child_off[v]; k < s->child_off[v + 1]; k++)
			if (--s->fill[s->child[k]] == 0)
				s->order[tail++] = s->child[k];
	}
	return tail == n ? 0 : WEFT_EINVAL; /* leftovers sit on a cycle */
}

static void
merkle(struct cluster_canon_scratch *s, const struct cluster_dag *g)
{
	uint32_t n = g->n_nodes;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = s->order[i];
		struct canon_acc c = {0, 0, 0};
		for (uint32_t k = g->par_off[v]; k < g->par_off[v + 1]; k++)
			acc_add(&c, s->up[g->par[k]]);
		s->up[v] = acc_hash(&c, g->label[v], SEED_UP);
	}
	for (uint32_t i = n; i-- > 0;) {
		uint32_t v = s->order[i];
		struct canon_acc c = {0, 0, 0};
		for (uint32_t k = s->child_off[v]; k < s->child_off[v + 1]; k++)
			acc_add(&c, s->down[s->child[k]]);
		s->down[v] = acc_hash(&c, g->label[v], SEED_DOWN);
	}
}

/* Primary parent: smallest (U, D); UINT32_MAX for a root. */
static uint32_t
primary_parent(const struct cluster_canon_scratch *s,
               const struct cluster_dag *g, uint32_t v)
{
	uint32_t best = UINT32_MAX;
	for (uint32_t k = g->par_off[v]; k < g->par_off[v + 1]; k++) {
		uint32_t p = g->par[k];
		if (best == UINT32_MAX || key_less(s, p, best))
			best = p;
	}
	return best;
}

/* Reduced path of a node whose primary parent has reduced path t and whose
 * label is lab: a cached table lookup, else a walk up the trie. Sets *fold
 * when the result is an existing ancestor-or-self of t. */
static uint32_t
reduce_step(struct cluster_canon_scratch *s, uint32_t t, uint64_t lab,
            int *fold)
{
	int found;
	struct canon_slot *sl = tab_probe(s, t, lab, &found);
	if (!found) {
		uint32_t a = t;
		while (a != 0 && s->vx[a].label != lab)
			a = s->vx[a].parent;
		if (a != 0) {
			s->vx[a].loop = 1;
			sl->val = a | 0x80000000u;
		} else {
			uint32_t id = s->nvx++;
			struct canon_vertex *x = &s->vx[id];
			x->parent = t;
			x->depth = s->vx[t].depth + 1;
			x->label = lab;
			x->hash = hash2(s->vx[t].hash, lab, SEED_PATH);
			x->loop = 0;
			sl->val = id;
		}
	}
	*fold = (sl->val & 0x80000000u) != 0;
	return sl->val & 0x7fffffffu;
}

static void
fold(struct cluster_canon_scratch *s, const struct cluster_dag *g,
     struct cluster_canon *out)
{
	uint32_t n = g->n_nodes;
	s->nvx = 1;
	memset(&s->vx[0], 0, sizeof(s->vx[0]));
	s->vx[0].hash = SEED_PATH;
	struct canon_acc sig = {0, 0, 0};
	uint32_t rmax = n ? 1 : 0, groups = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = s->order[i];
		uint32_t p = primary_parent(s, g, v);
		s->prim[v] = p;
		uint32_t t = p == UINT32_MAX ? 0 : s->phi[p];
		uint32_t before = s->nvx;
		int folded;
		uint32_t r = reduce_step(s, t, g->label[v], &folded);
		s->phi[v] = r;
		if (s->nvx != before)
			acc_add(&sig, s->vx[r].hash);
		s->rep[v] = 1;
		if (folded) {
			/* Nearest ancestor on the primary path with the same
			 * reduced path; it exists since r is an ancestor-or-self
			 * of t = phi(p) and phi only shortens at folds. */
			uint32_t u = p;
			while (u != UINT32_MAX && s->phi[u] != r)
				u = s->prim[u];
			if (u != UINT32_MAX)
				s->rep[v] = s->rep[u] + 1;
			if (s->rep[v] > rmax)
				rmax = s->rep[v];
		}
		/* Joins: every non-primary parent edge, deduplicated. */
		for (uint32_t k = g->par_off[v]; k < g->par_off[v + 1]; k++) {
			uint32_t q = g->par[k];
			if (q == p)
				continue;
			uint64_t e = hash2(s->vx[s->phi[q]].hash, s->vx[r].hash,
			                   SEED_JOIN);
			int found;
			(void)tab_probe(s, e, UINT64_MAX, &found);
			if (!found)
				acc_add(&sig, e);
		}
	}
	for (uint32_t x = 1; x < s->nvx; x++)
		groups += s->vx[x].loop;
	out->signature = acc_hash(&sig, 0, SEED_SIG);
	out->repeat_max = rmax;
	out->repeat_groups = groups;
}

static void
exact_and_symbols(struct cluster_canon_scratch *s, const struct cluster_dag *g,
                  struct cluster_canon *out)
{
	uint32_t n = g->n_nodes;
	struct canon_acc ex = {0, 0, 0};
	for (uint32_t v = 0; v < n; v++)
		acc_add(&ex, hash2(s->up[v], s->down[v], SEED_NODE));
	out->exact = acc_hash(&ex, 0, SEED_EXACT);

	/* Depth-first Kahn: a LIFO of ready nodes; each batch of newly ready
	 * nodes is pushed in decreasing key order so the smallest pops first. */
	for (uint32_t v = 0; v < n; v++) {
		s->fill[v] = s->indeg[v];
		sort_nodes(s, s->child + s->child_off[v],
		           s->child_off[v + 1] - s->child_off[v]);
	}
	uint32_t top = 0, nsym = 0;
	uint32_t *roots = s->order; /* free to reuse now */
	uint32_t nroots = 0;
	for (uint32_t v = 0; v < n; v++)
		if (s->indeg[v] == 0)
			roots[nroots++] = v;
	sort_nodes(s, roots, nroots);
	for (uint32_t i = nroots; i-- > 0;)
		s->stack[top++] = roots[i];
	while (top > 0) {
		uint32_t v = s->stack[--top];
		s->sym[nsym++] = g->label[v];
		for (uint32_t k = s->child_off[v + 1]; k-- > s->child_off[v];)
			if (--s->fill[s->child[k]] == 0)
				s->stack[top++] = s->child[k];
	}
	out->symbols = s->sym;
	out->n_symbols = nsym;
}

int
cluster_canon_compute(struct cluster_canon_scratch *s,
                      const struct cluster_dag *g, struct cluster_canon *out)
{
	if (!s || !g || !out || (g->n_nodes && (!g->label || !g->par_off)) ||
	    g->n_nodes >= 0x7fffffffu)
		return WEFT_EINVAL;
	uint32_t n = g->n_nodes;
	uint32_t e = n ? g->par_off[n] - g->par_off[0] : 0;
	if (n && e && !g->par)
		return WEFT_EINVAL;
	int rc = scratch_reserve(s, n, e);
	if (rc)
		return rc;
	if (++s->gen == 0) { /* wrapped: stale stamps could match again */
		memset(s->tab, 0, ((size_t)s->tab_mask + 1) * sizeof(*s->tab));
		s->gen = 1;
	}
	rc = build_order(s, g);
	if (rc)
		return rc;
	merkle(s, g);
	fold(s, g, out);
	exact_and_symbols(s, g, out);
	return 0;
}

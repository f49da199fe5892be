/*
 * canon.c — canonical form of a trace DAG: exact shape hash, repetition-
 * folded signature, and a canonical symbol string (cluster.h).
 *
 * Everything is computed from structure only: labels and edges. Node
 * indices (arrival order, event ids) never reach a hash or an ordering
 * decision, except as the last tie-break between nodes whose up and down
 * hashes are both equal (structurally interchangeable in a tree).
 *
 * 1. Order. Any topological order will do: it is only used to visit
 *    parents before children, and nothing computed depends on which one
 *    (node indices never reach a hash). Most DAGs come in an order that is
 *    nearly topological already (arrival order, missing parents appended
 *    last), so when every parent is either a root or an earlier node, the
 *    order is simply the roots, then every other node by index: one check
 *    in the pass that validates the parents. Otherwise Kahn's algorithm
 *    gives it (a node left over means a cycle: WEFT_EINVAL).
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
 * per distinct (path, label) pair and is cached. In the usual (ordered)
 * case, three passes over the nodes: validate the parents, count the
 * children and compute the up hashes (the order of 1 is the index order
 * there); then, after the child lists are filled, the down hashes with
 * the exact hash and each node's sort of its children (final once its
 * down hash is); and the symbol string's depth-first walk, a topological
 * order too, which does the folding of 3 on the way. No allocation once
 * the scratch has grown to the largest trace seen.
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
#include "common/common.h"

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

/* Commutative two-lane multiset accumulator. */
struct canon_acc {
	uint64_t a, b, n;
};

/* A node's up and down hashes side by side: the sort key reads both. */
struct canon_ud {
	uint64_t up, down;
};

/* What the walk and the folding keep per node, side by side (one base
 * pointer, one cache line per node visited). */
struct canon_node {
	uint32_t fill; /* parents not yet visited (Kahn, the walk) */
	uint32_t prim; /* primary parent; UINT32_MAX for a root */
	uint32_t phi;  /* reduced path: trie vertex id */
	uint32_t rep;  /* repetition index */
};

struct cluster_canon_scratch {
	uint32_t cap_n;  /* node capacity */
	uint32_t cap_e;  /* edge capacity */
	uint32_t *order, *child_off, *child;
	uint32_t *stack;
	struct canon_ud *ud;
	struct canon_node *nd;
	uint64_t *sym;
	struct canon_vertex *vx;
	uint32_t nvx;
	uint32_t rmax;          /* walk: repeat_max so far */
	struct canon_acc sig;   /* walk: the signature's multiset so far */
	struct canon_slot *tab;
	uint32_t tab_all;   /* slots - 1; slots a power of two */
	uint32_t tab_mask;  /* this trace's share - 1 (a power of two) */
	uint32_t tab_shift; /* 64 - log2(share), set with tab_mask */
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
	free(s->order);
	free(s->child_off);
	free(s->child);
	free(s->stack);
	free(s->ud);
	free(s->nd);
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

/* log2 of the table slots for n nodes and e edges: at least twice the
 * keys, one per node (path step) and one per edge (joins), and 16. */
static inline uint32_t
tab_bits(size_t n, size_t e)
{
	uint32_t bits = 4;
	while (((size_t)1 << bits) < 2 * (n + e + 1))
		bits++;
	return bits;
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
	size_t tsz = (size_t)1 << tab_bits(cn, ce);
	s->order = malloc(n1 * sizeof(uint32_t));
	s->child_off = malloc((n1 + 1) * sizeof(uint32_t));
	s->child = malloc(((size_t)ce + 1) * sizeof(uint32_t));
	s->stack = malloc(n1 * sizeof(uint32_t));
	s->ud = malloc(n1 * sizeof(struct canon_ud));
	s->nd = malloc(n1 * sizeof(struct canon_node));
	s->sym = malloc(n1 * sizeof(uint64_t));
	s->vx = malloc((n1 + 1) * sizeof(struct canon_vertex));
	s->tab = calloc(tsz, sizeof(struct canon_slot));
	if (!s->order || !s->child_off || !s->child || !s->stack || !s->ud ||
	    !s->nd || !s->sym || !s->vx || !s->tab) {
		scratch_release(s);
		memset(s, 0, sizeof(*s));
		return WEFT_ENOMEM;
	}
	s->cap_n = cn;
	s->cap_e = ce;
	s->tab_all = (uint32_t)(tsz - 1);
	return 0;
}

/*
 * Finds (a, b) in the table. Returns its slot; *found says whether it was
 * there (else the slot is claimed for the caller to fill). The table is
 * never full: it has at least twice as many slots as keys per call.
 * The slot index is internal (it reaches no output), so one multiply,
 * top bits taken, is enough: b is a label symbol or a hash already, and a
 * is spread by the first multiply.
 */
static inline struct canon_slot *
tab_probe(struct cluster_canon_scratch *s, uint64_t a, uint64_t b, int *found)
{
	uint32_t i = (uint32_t)(((a * 0x9e3779b97f4a7c15ULL) ^ b) *
	                        0xbf58476d1ce4e5b9ULL >> s->tab_shift);
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
key_less(const struct canon_ud *ud, uint32_t x, uint32_t y)
{
	if (ud[x].up != ud[y].up)
		return ud[x].up < ud[y].up;
	if (ud[x].down != ud[y].down)
		return ud[x].down < ud[y].down;
	return x < y;
}

static void
sift_down(const struct canon_ud *ud, uint32_t *v, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && key_less(ud, v[c], v[c + 1]))
			c++;
		if (!key_less(ud, v[i], v[c]))
			return;
		uint32_t t = v[i];
		v[i] = v[c];
		v[c] = t;
		i = c;
	}
}

/* Sorts node indices v[0..n) by increasing key. The key is a total order
 * (the index breaks the last ties), so the result is the same whatever
 * the input order and the method. */
static void
sort_nodes(const struct canon_ud *ud, uint32_t *v, size_t n)
{
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			uint32_t x = v[i];
			size_t j = i;
			while (j > 0 && key_less(ud, x, v[j - 1])) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = x;
		}
		return;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(ud, v, i, n);
	for (size_t e = n; e-- > 1;) {
		uint32_t t = v[0];
		v[0] = v[e];
		v[e] = t;
		sift_down(ud, v, 0, e);
	}
}

/* ---- passes ------------------------------------------------------------ */

/* Up hash of a root: no parents. */
static inline uint64_t
root_up(uint64_t label)
{
	struct canon_acc c = {0, 0, 0};
	return acc_hash(&c, label, SEED_UP);
}

/*
 * The first loop of order_and_up, from node *pv on: validates each node's
 * parents, sets its count of parents for the walk, puts the roots in
 * s->order (from *nroots on) and counts each node's children. With hash
 * (a constant: one specialised loop each way), also the up hashes; it
 * stops at the first node with a later parent that is not a root, before
 * counting its parents, for the loop without hash to go on from there.
 */
static inline __attribute__((always_inline)) int
parents_pass(struct cluster_canon_scratch *s, const struct cluster_dag *g,
             uint32_t *pv, uint32_t *nroots, const int hash)
{
	uint32_t n = g->n_nodes;
	const uint32_t *off = g->par_off, *par = g->par;
	const uint64_t *label = g->label;
	uint32_t *co = s->child_off;
	struct canon_ud *ud = s->ud;
	uint32_t roots = *nroots, v = *pv;
	for (; v < n; v++) {
		uint32_t lo = off[v], hi = off[v + 1];
		if (lo > hi)
			return WEFT_EINVAL;
		s->nd[v].fill = hi - lo;
		if (lo == hi) {
			s->order[roots++] = v;
			/* Unless a child before it hashed it (co[v + 2] counts
			 * those). */
			if (hash && co[v + 2] == 0)
				ud[v].up = root_up(label[v]);
			continue;
		}
		if (!hash) {
			for (uint32_t k = lo; k < hi; k++) {
				uint32_t p = par[k];
				if (p >= n)
					return WEFT_EINVAL;
				co[p + 2]++;
			}
			continue;
		}
		for (uint32_t k = lo; k < hi; k++) {
			uint32_t p = par[k];
			if (p >= n)
				return WEFT_EINVAL;
			/* p == v, a self loop, has parents: Kahn finds it */
			if (p >= v && off[p] != off[p + 1])
				goto out; /* v's parents not counted yet */
		}
		struct canon_acc c = {0, 0, 0};
		for (uint32_t k = lo; k < hi; k++) {
			uint32_t p = par[k];
			/* A root not reached yet: hashed at its first child. */
			if (p > v && co[p + 2] == 0)
				ud[p].up = root_up(label[p]);
			co[p + 2]++;
			acc_add(&c, ud[p].up);
		}
		ud[v].up = acc_hash(&c, label[v], SEED_UP);
	}
out:
	*pv = v;
	*nroots = roots;
	return 0;
}

/*
 * Validates parents, builds the child lists and a topological order, the
 * up hashes, and each node's count of parents for the walk. The roots go
 * to s->order[0 .. *nroots) in index order.
 * While every parent is a root or an earlier node (1), the order is the
 * roots then the others by index, and the up hashes are computed in the
 * same pass (a later parent is a root: its hash needs nothing else, and
 * is taken once, at its first child); *ordered says so, and the rest of
 * s->order is not filled. Else the pass goes on without the up hashes,
 * Kahn's algorithm fills s->order (roots first too) and a pass over it
 * computes them. Returns 0 or WEFT_EINVAL.
 */
static int
order_and_up(struct cluster_canon_scratch *s, const struct cluster_dag *g,
             uint32_t *nroots, int *ordered)
{
	uint32_t n = g->n_nodes;
	const uint32_t *off = g->par_off, *par = g->par;
	const uint64_t *label = g->label;
	uint32_t *co = s->child_off;
	struct canon_ud *ud = s->ud;
	uint32_t roots = 0, v = 0;
	memset(co, 0, ((size_t)n + 2) * sizeof(uint32_t));
	int rc = parents_pass(s, g, &v, &roots, 1);
	int ord = v == n;
	if (!rc && !ord)
		rc = parents_pass(s, g, &v, &roots, 0);
	if (rc)
		return rc;
	*ordered = ord;
	*nroots = roots;
	for (uint32_t u = 0; u < n; u++)
		co[u + 2] += co[u + 1];
	for (uint32_t u = 0; u < n; u++)
		for (uint32_t k = off[u]; k < off[u + 1]; k++)
			s->child[co[par[k] + 1]++] = u;
	/* co[u] .. co[u + 1] are now u's children. */
	if (ord)
		return 0;
	/* Kahn, from the roots (in index order, as in the ordered case), on
	 * the counts of parents that the pass set. */
	struct canon_node *nd = s->nd;
	uint32_t head = 0, tail = roots;
	while (head < tail) {
		uint32_t u = s->order[head++];
		for (uint32_t k = co[u]; k < co[u + 1]; k++)
			if (--nd[s->child[k]].fill == 0)
				s->order[tail++] = s->child[k];
	}
	if (tail != n)
		return WEFT_EINVAL; /* leftovers sit on a cycle */
	for (uint32_t u = 0; u < n; u++) /* again, for the walk */
		nd[u].fill = off[u + 1] - off[u];
	for (uint32_t i = 0; i < n; i++) {
		uint32_t u = s->order[i];
		struct canon_acc c = {0, 0, 0};
		for (uint32_t k = off[u]; k < off[u + 1]; k++)
			acc_add(&c, ud[par[k]].up);
		ud[u].up = acc_hash(&c, label[u], SEED_UP);
	}
	return 0;
}

/* Down hash of v, whose children all have both hashes; on the way the
 * exact hash's term of v and the sort of v's children. */
static inline void
down_node(struct cluster_canon_scratch *s, const struct cluster_dag *g,
          uint32_t v, struct canon_acc *ex)
{
	const uint32_t *co = s->child_off;
	struct canon_ud *ud = s->ud;
	uint32_t lo = co[v], hi = co[v + 1];
	struct canon_acc c = {0, 0, 0};
	for (uint32_t k = lo; k < hi; k++)
		acc_add(&c, ud[s->child[k]].down);
	ud[v].down = acc_hash(&c, g->label[v], SEED_DOWN);
	acc_add(ex, hash2(ud[v].up, ud[v].down, SEED_NODE));
	if (hi - lo > 1)
		sort_nodes(ud, s->child + lo, hi - lo);
}

/* Down hashes in reverse topological order, and the exact hash (the same
 * sum in any order: the combiner is commutative). In the ordered case the
 * reverse of (roots, others by index) is the others backwards, then the
 * roots. */
static void
merkle_down(struct cluster_canon_scratch *s, const struct cluster_dag *g,
            uint32_t nroots, int ordered, struct cluster_canon *out)
{
	uint32_t n = g->n_nodes;
	const uint32_t *off = g->par_off;
	struct canon_acc ex = {0, 0, 0};
	if (ordered) {
		for (uint32_t v = n; v-- > 0;)
			if (off[v] != off[v + 1])
				down_node(s, g, v, &ex);
		for (uint32_t i = 0; i < nroots; i++)
			down_node(s, g, s->order[i], &ex);
	} else {
		for (uint32_t i = n; i-- > 0;)
			down_node(s, g, s->order[i], &ex);
	}
	out->exact = acc_hash(&ex, 0, SEED_EXACT);
}

/*
 * The folding's rare steps, out of line so that the walk's loop keeps its
 * registers (most nodes take none of them: a known (path, label) step, no
 * fold, one parent). The signature's and repeat_max's running values live
 * in the scratch for them.
 */

/* Reduced path of a node whose primary parent has reduced path t and whose
 * label is lab, when the pair is not in the table yet: a walk up the trie
 * finds lab (a fold onto that vertex) or a new vertex is added (its path
 * hash joins the signature). Fills the claimed slot sl; returns its value:
 * the vertex, with bit 31 set for a fold. */
static __attribute__((noinline)) uint32_t
reduce_miss(struct cluster_canon_scratch *s, struct canon_slot *sl,
            uint32_t t, uint64_t lab)
{
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
		acc_add(&s->sig, x->hash);
	}
	return sl->val;
}

/* v folded back onto vertex r: its repetition index is one more than the
 * nearest ancestor's on the primary path with the same reduced path; it
 * exists since r is an ancestor-or-self of phi(p) (p = v's primary parent)
 * and phi only shortens at folds. */
static __attribute__((noinline)) void
fold_repeat(struct cluster_canon_scratch *s, uint32_t v, uint32_t p,
            uint32_t r)
{
	struct canon_node *nd = s->nd;
	uint32_t u = p;
	while (u != UINT32_MAX && nd[u].phi != r)
		u = nd[u].prim;
	if (u != UINT32_MAX)
		nd[v].rep = nd[u].rep + 1;
	if (nd[v].rep > s->rmax)
		s->rmax = nd[v].rep;
}

/* Joins of v (several parents): every non-primary parent edge,
 * deduplicated. */
static __attribute__((noinline)) void
fold_joins(struct cluster_canon_scratch *s, const struct cluster_dag *g,
           uint32_t v, uint32_t p)
{
	struct canon_node *nd = s->nd;
	uint64_t hr = s->vx[nd[v].phi].hash;
	for (uint32_t k = g->par_off[v]; k < g->par_off[v + 1]; k++) {
		uint32_t q = g->par[k];
		if (q == p)
			continue;
		uint64_t e = hash2(s->vx[nd[q].phi].hash, hr, SEED_JOIN);
		int found;
		(void)tab_probe(s, e, UINT64_MAX, &found);
		if (!found)
			acc_add(&s->sig, e);
	}
}

/* Folding (3) of node v, whose parents are all done. */
static inline void
fold_node(struct cluster_canon_scratch *s, const struct cluster_dag *g,
          uint32_t v)
{
	struct canon_node *nd = s->nd;
	uint32_t lo = g->par_off[v], hi = g->par_off[v + 1];
	/* Primary parent: smallest (U, D); UINT32_MAX for a root. */
	uint32_t p = UINT32_MAX;
	if (lo != hi) {
		p = g->par[lo];
		for (uint32_t k = lo + 1; k < hi; k++)
			if (key_less(s->ud, g->par[k], p))
				p = g->par[k];
	}
	nd[v].prim = p;
	/* Reduced path: a cached (path, label) step, else reduce_miss. */
	uint32_t t = p == UINT32_MAX ? 0 : nd[p].phi;
	uint64_t lab = g->label[v];
	int found;
	struct canon_slot *sl = tab_probe(s, t, lab, &found);
	uint32_t val = found ? sl->val : reduce_miss(s, sl, t, lab);
	uint32_t r = val & 0x7fffffffu;
	nd[v].phi = r;
	nd[v].rep = 1;
	if (val & 0x80000000u)
		fold_repeat(s, v, p, r);
	if (hi - lo > 1)
		fold_joins(s, g, v, p);
}

/* The symbol string (4), and the folding (3) of each node as the walk
 * reaches it: the walk is a topological order, and what the folding
 * computes does not depend on which one (the trie is a set of paths, the
 * joins a set, repetitions follow primary parents). */
static void
walk(struct cluster_canon_scratch *s, const struct cluster_dag *g,
     uint32_t nroots, struct cluster_canon *out)
{
	uint32_t n = g->n_nodes;
	s->nvx = 1;
	memset(&s->vx[0], 0, sizeof(s->vx[0]));
	s->vx[0].hash = SEED_PATH;
	s->sig = (struct canon_acc){0, 0, 0};
	s->rmax = n ? 1 : 0;
	uint32_t groups = 0;

	/* Depth-first Kahn: a LIFO of ready nodes; each batch of newly ready
	 * nodes is pushed in decreasing key order so the smallest pops first
	 * (children lists are sorted by merkle_down). */
	uint32_t top = 0, nsym = 0;
	uint32_t *roots = s->order; /* its first nroots; free to reuse now */
	sort_nodes(s->ud, roots, nroots);
	for (uint32_t i = nroots; i-- > 0;)
		s->stack[top++] = roots[i];
	const uint32_t *co = s->child_off, *child = s->child;
	struct canon_node *nd = s->nd;
	while (top > 0) {
		uint32_t v = s->stack[--top];
		s->sym[nsym++] = g->label[v];
		fold_node(s, g, v);
		for (uint32_t k = co[v + 1]; k-- > co[v];)
			if (--nd[child[k]].fill == 0)
				s->stack[top++] = child[k];
	}
	for (uint32_t x = 1; x < s->nvx; x++)
		groups += s->vx[x].loop;
	out->signature = acc_hash(&s->sig, 0, SEED_SIG);
	out->repeat_max = s->rmax;
	out->repeat_groups = groups;
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
		memset(s->tab, 0, ((size_t)s->tab_all + 1) * sizeof(*s->tab));
		s->gen = 1;
	}
	/* Probe this trace's share of the table only (at least twice its
	 * keys): a small trace after a big one stays in a few cache lines.
	 * Slots past it keep older stamps, which read as free. */
	uint32_t bits = tab_bits(n, e);
	s->tab_mask = (uint32_t)(((size_t)1 << bits) - 1);
	s->tab_shift = 64 - bits;
	uint32_t nroots;
	int ordered;
	rc = order_and_up(s, g, &nroots, &ordered);
	if (rc)
		return rc;
	merkle_down(s, g, nroots, ordered, out);
	walk(s, g, nroots, out);
	return 0;
}

/*
 * op_trace_build.c — from a finished trace's events to its op_trace record.
 *
 * Events arrived in any order, maybe twice, maybe with parents that never
 * came, maybe (in broken input) with cycles. The builder
 *   1. indexes events by id (a duplicate id keeps the first event, counted);
 *   2. resolves every parent id; an unknown one becomes a *missing* node
 *      (label CLUSTER_SYM_MISSING), so the dangling edge is kept and visible;
 *   3. orders the nodes topologically. Parents are resolved node by node,
 *      so the edges come grouped by child and the parents' CSR (what
 *      cluster_canon reads) is built on the way; when every edge comes
 *      from an earlier node or a missing one (the usual case: parents
 *      arrive first), index order, missing nodes first, is topological and
 *      there is no cycle, so nothing more is needed. Otherwise a
 *      depth-first walk up the parents orders them; where it meets a
 *      cycle, Kahn's algorithm runs; if some nodes remain, a cycle
 *      exists: the smallest remaining node loses its edges from unordered
 *      parents (counted, the trace flagged MALFORMED) until every node is
 *      ordered;
 *   4. derives roots, the critical path (events on the longest root-leaf
 *      path) and a same-host duration (see trace.h on clocks);
 *   5. computes the canonical form (cluster_canon) and lays out the record,
 *      each distinct text once.
 * The two maps (event id -> node, text symbol -> offset in the record) are
 * stamped with a per-trace generation instead of being cleared, and sized
 * per trace (the probe mask), so a trace costs no clearing at all.
 * All memory is scratch owned by the builder and reused: no allocation per
 * trace once it has seen the largest trace.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/assemble/assemble_int.h"

/* Slot of the builder's maps: key -> val, valid when gen is the current
 * trace's stamp (a new trace clears nothing). Key and value side by side:
 * one cache line per probe. */
struct bmap_slot {
	uint64_t key;
	uint32_t val;
	uint32_t gen;
};

struct asm_build {
	struct cluster_canon_scratch *canon;
	uint32_t cap_nodes, cap_edges;
	uint64_t *node_id;
	int32_t *node_ev;     /* index in ev[], -1: missing node */
	uint64_t *label;
	uint32_t *par_off, *par;     /* CSR over kept edges (for cluster_dag) */
	uint32_t *child_off, *child; /* CSR children: edge indices (Kahn) */
	uint32_t *indeg, *order, *depth;
	struct op_trace_edge *edges; /* edge list (Kahn) */
	uint8_t *removed;
	uint32_t gen;         /* stamp of the current trace in map and smap */
	uint64_t map_alloc;   /* map slots allocated: pow2 >= 2 x cap_nodes
	                       * (smap: SMAP_SLOTS(map_alloc)), all with gen 0
	                       * when allocated */
	unsigned map_bits;    /* log2 of the map slots probed for the current
	                       * trace (map_cap(), smap_bits() derive from it):
	                       * pow2 >= 2 x its nodes, so small traces stay
	                       * compact */
	struct bmap_slot *map; /* event id -> node */
	struct bmap_slot *smap; /* record text dedupe: sym -> offset */
	char *str;
	size_t str_len, str_cap;
	unsigned char *rec;
	size_t rec_cap;
};

struct asm_build *
asm_build_new(void)
{
	struct asm_build *b = calloc(1, sizeof *b);
	if (b && !(b->canon = cluster_canon_scratch_new())) {
		free(b);
		b = NULL;
	}
	return b;
}

void
asm_build_free(struct asm_build *b)
{
	if (!b)
		return;
	cluster_canon_scratch_free(b->canon);
	free(b->node_id);
	free(b->node_ev);
	free(b->label);
	free(b->par_off);
	free(b->par);
	free(b->child_off);
	free(b->child);
	free(b->indeg);
	free(b->order);
	free(b->depth);
	free(b->edges);
	free(b->removed);
	free(b->map);
	free(b->smap);
	free(b->str);
	free(b->rec);
	free(b);
}

#define GROW(p, n) ((p) = realloc((p), (size_t)(n) * sizeof *(p)))

/* The text map has 2^SMAP_EXTRA_BITS (4) times the slots of the id map:
 * a record's texts are at most 3 per node + 2. */
#define SMAP_EXTRA_BITS 2
#define SMAP_SLOTS(map_slots) ((uint64_t)(map_slots) << SMAP_EXTRA_BITS)

/* log2 of the id map's slots for nodes nodes: the least power of two
 * >= 2 x nodes, 16 at least. */
static unsigned
map_bits_for(uint64_t nodes)
{
	unsigned bits = 4;
	while ((1ull << bits) < 2 * nodes)
		bits++;
	return bits;
}

/* Slots probed for the current trace: the id map's, the text map's log2. */
static inline uint64_t
map_cap(const struct asm_build *b)
{
	return 1ull << b->map_bits;
}

static inline unsigned
smap_bits(const struct asm_build *b)
{
	return b->map_bits + SMAP_EXTRA_BITS;
}

static int
reserve(struct asm_build *b, uint32_t nodes, uint32_t edges)
{
	if (nodes > b->cap_nodes) {
		uint32_t c = nodes + nodes / 2 + 16;
		if (!GROW(b->node_id, c) || !GROW(b->node_ev, c) ||
		    !GROW(b->label, c) || !GROW(b->par_off, c + 1) ||
		    !GROW(b->child_off, c + 1) || !GROW(b->indeg, c) ||
		    !GROW(b->order, c) || !GROW(b->depth, c))
			return WEFT_ENOMEM;
		uint64_t mc = 1ull << map_bits_for(c);
		free(b->map);
		free(b->smap);
		b->map = calloc(mc, sizeof *b->map);
		b->smap = calloc(SMAP_SLOTS(mc), sizeof *b->smap);
		if (!b->map || !b->smap) {
			free(b->map);
			free(b->smap);
			b->map = b->smap = NULL;
			b->map_alloc = 0;
			return WEFT_ENOMEM;
		}
		b->map_alloc = mc;
		b->cap_nodes = c;
	}
	if (edges > b->cap_edges) {
		uint32_t c = edges + edges / 2 + 16;
		if (!GROW(b->edges, c) || !GROW(b->removed, c) || !GROW(b->par, c) ||
		    !GROW(b->child, c))
			return WEFT_ENOMEM;
		b->cap_edges = c;
	}
	return 0;
}

/* Grows the record buffer to size bytes, keeping what it holds. */
static int
rec_reserve(struct asm_build *b, size_t size)
{
	if (size <= b->rec_cap)
		return 0;
	unsigned char *nr = realloc(b->rec, size * 2);
	if (!nr)
		return WEFT_ENOMEM;
	b->rec = nr;
	b->rec_cap = size * 2;
	return 0;
}

static inline uint64_t
mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	return k ^ (k >> 33);
}

/* Node of id, or adds it (as node *n, with ev index e) when absent.
 * Returns the node and sets *added. */
static inline uint32_t
node_of(struct asm_build *b, uint64_t id, int32_t e, uint64_t label,
        uint32_t *n, int *added)
{
	struct bmap_slot *t = b->map;
	uint64_t m = map_cap(b) - 1, j = mix64(id) & m;
	while (t[j].gen == b->gen) {
		if (t[j].key == id) {
			*added = 0;
			return t[j].val;
		}
		j = (j + 1) & m;
	}
	uint32_t k = (*n)++;
	t[j] = (struct bmap_slot){id, k, b->gen};
	b->node_id[k] = id;
	b->node_ev[k] = e;
	b->label[k] = label;
	*added = 1;
	return k;
}

/* First time a record meets sym (text_off below): its text is appended to
 * the string section and the free slot sl claimed. The text is looked up
 * in texts, or given as s/len when texts is NULL. Out of line: it runs
 * once per distinct text, the inlined probe once per node and field. */
static __attribute__((noinline)) int
text_add(struct asm_build *b, struct bmap_slot *sl, uint64_t sym,
         const struct asm_texts *texts, const char *s, uint32_t len,
         uint32_t *off)
{
	if (texts)
		s = asm_texts_get(texts, sym, &len);
	if (b->str_len + len + 1 > b->str_cap) {
		size_t c = (b->str_len + len + 1) * 2 + 256;
		char *ns = realloc(b->str, c);
		if (!ns)
			return WEFT_ENOMEM;
		b->str = ns;
		b->str_cap = c;
	}
	memcpy(b->str + b->str_len, s, len);
	b->str[b->str_len + len] = '\0';
	*off = (uint32_t)b->str_len;
	*sl = (struct bmap_slot){sym, (uint32_t)b->str_len, b->gen};
	b->str_len += len + 1;
	return 0;
}

/* Offset (in the string section) of sym's text, added once per record.
 * Most nodes repeat a label, host and agent already in the record, so the
 * usual call is one probe, inlined. Symbols are XXH3 values already, so
 * one multiply (top bits) spreads them; the slot reaches no output. */
static inline int
text_off(struct asm_build *b, uint64_t sym, const struct asm_texts *texts,
         const char *s, uint32_t len, uint32_t *off)
{
	struct bmap_slot *t = b->smap;
	unsigned bits = smap_bits(b);
	uint64_t m = (1ull << bits) - 1;
	uint64_t j = (sym * 0x9e3779b97f4a7c15ULL) >> (64 - bits);
	while (t[j].gen == b->gen) {
		if (t[j].key == sym) {
			*off = t[j].val;
			return 0;
		}
		j = (j + 1) & m;
	}
	return text_add(b, &t[j], sym, texts, s, len, off);
}

/* Roots and depth of a trace, taken node by node in a topological order. */
struct shape {
	uint32_t roots, depth_max;
	int32_t root_ev; /* ev index of the first real root, -1: none yet */
};

/* Node v in the order: d is the largest depth of its parents (0: none),
 * root says it has no parents. */
static inline void
shape_add(struct asm_build *b, struct shape *sh, uint32_t v, uint32_t d,
          int root)
{
	b->depth[v] = d + 1;
	if (d + 1 > sh->depth_max)
		sh->depth_max = d + 1;
	if (root) {
		sh->roots++;
		if (sh->root_ev < 0 && b->node_ev[v] >= 0)
			sh->root_ev = b->node_ev[v];
	}
}

/* Kahn's order over the edge list; breaks cycles (see top of file).
 * Returns the number of edges removed. */
static uint32_t
order_nodes(struct asm_build *b, uint32_t N, uint32_t E)
{
	memset(b->child_off, 0, (N + 1) * sizeof *b->child_off);
	memset(b->indeg, 0, N * sizeof *b->indeg);
	for (uint32_t e = 0; e < E; e++) {
		b->child_off[b->edges[e].parent + 1]++;
		b->indeg[b->edges[e].child]++;
	}
	for (uint32_t i = 0; i < N; i++)
		b->child_off[i + 1] += b->child_off[i];
	for (uint32_t e = 0; e < E; e++)
		b->child[b->child_off[b->edges[e].parent]++] = e;
	for (uint32_t i = N; i > 0; i--) /* undo the shift of the fill */
		b->child_off[i] = b->child_off[i - 1];
	b->child_off[0] = 0;

	uint32_t head = 0, tail = 0, broken = 0, scan = 0;
	for (uint32_t i = 0; i < N; i++)
		if (!b->indeg[i])
			b->order[tail++] = i;
	for (;;) {
		while (head < tail) {
			uint32_t v = b->order[head++];
			for (uint32_t k = b->child_off[v]; k < b->child_off[v + 1]; k++) {
				uint32_t e = b->child[k];
				if (b->removed[e])
					continue;
				if (--b->indeg[b->edges[e].child] == 0)
					b->order[tail++] = b->edges[e].child;
			}
		}
		if (tail == N)
			return broken;
		/* A cycle: free the smallest node not yet ordered by dropping
		 * its remaining incoming edges (all from unordered parents). */
		while (b->indeg[scan] == 0)
			scan++;
		uint32_t v = scan;
		for (uint32_t e = 0; e < E; e++)
			if (!b->removed[e] && b->edges[e].child == v) {
				b->removed[e] = 1;
				broken++;
			}
		b->indeg[v] = 0;
		b->order[tail++] = v;
	}
}

/* What the steps of asm_build_trace learn about the trace, step by step.
 * Passed by pointer to static helpers that are each called once, so the
 * compiler inlines them and keeps the fields in registers. */
struct build_state {
	uint32_t N, E;   /* nodes (real, then missing) and parent edges */
	uint32_t n_real; /* nodes of events */
	uint32_t dup, missing;
	uint32_t kept;   /* edges in the record (E less those cut) */
	uint32_t broken; /* self edges and edges cut from cycles */
	int back;        /* some edge comes from a later real node */
	int kahn;        /* order_kahn ran: the record's edges are its list */
	struct shape sh;
	uint64_t t_start, t_end;
};

/* Scratch for n events with refs parent references, and a fresh stamp
 * for the maps. */
static inline int
build_begin(struct asm_build *b, uint32_t n, uint32_t refs)
{
	if (reserve(b, n + refs, refs))
		return WEFT_ENOMEM;
	/* Probe the maps over this trace's share only: a small trace after a
	 * big one stays in a few cache lines. n + refs <= cap_nodes, so
	 * map_cap(b) <= map_alloc. */
	b->map_bits = map_bits_for(n + refs);
	if (++b->gen == 0) { /* wrapped: stale stamps could match again */
		memset(b->map, 0, b->map_alloc * sizeof *b->map);
		memset(b->smap, 0, SMAP_SLOTS(b->map_alloc) * sizeof *b->smap);
		b->gen = 1;
	}
	b->str_len = 0;
	return 0;
}

/* Step 1: events -> nodes (a repeated id keeps its first event). */
static inline void
index_events(struct asm_build *b, const struct asm_ev *ev, uint32_t n,
             struct build_state *st)
{
	int added;
	for (uint32_t i = 0; i < n; i++) {
		node_of(b, ev[i].event_id, (int32_t)i, ev[i].label_sym, &st->N, &added);
		if (!added)
			st->dup++;
	}
	st->n_real = st->N;
}

/* Step 2: parents -> edges (only from the kept copy of each event),
 * straight into the parents' CSR: node c's parents are par[par_off[c] ..
 * par_off[c + 1]). Missing nodes are appended past n_real as parents turn
 * up unknown; they have no parents of their own, so the loop stops at
 * n_real. back: some edge comes from a later real node. Until then,
 * index order (missing nodes first) is topological (see top of file), so
 * depth and roots are taken on the way, a missing node's (a root) when it
 * is added; order_kahn starts them over when back is set. */
static inline void
resolve_parents(struct asm_build *b, const struct asm_ev *ev,
                const uint64_t *extra, struct build_state *st)
{
	const uint32_t n_real = st->n_real;
	int added;
	for (uint32_t c = 0; c < n_real; c++) {
		const struct asm_ev *x = &ev[b->node_ev[c]];
		uint32_t d = 0;
		b->par_off[c] = st->E;
		for (uint32_t k = 0; k < x->n_parents; k++) {
			uint64_t pid = k == 0 ? x->parent0 : extra[x->extra + k - 1];
			if (pid == x->event_id) {
				st->broken++; /* a self edge */
				continue;
			}
			uint32_t p;
			if (c > 0 && b->node_id[c - 1] == pid) {
				/* most often the event just before: no probe */
				p = c - 1;
			} else {
				p = node_of(b, pid, -1, CLUSTER_SYM_MISSING, &st->N, &added);
				if (added) {
					st->missing++;
					shape_add(b, &st->sh, p, 0, 1);
				}
			}
			b->par[st->E++] = p;
			if (p < c || p >= n_real) {
				if (b->depth[p] > d)
					d = b->depth[p];
			} else {
				st->back = 1;
			}
		}
		shape_add(b, &st->sh, c, d, b->par_off[c] == st->E);
	}
	for (uint32_t c = n_real; c <= st->N; c++)
		b->par_off[c] = st->E;
}

/* The parents' CSR again, over the edges order_nodes kept (a counting
 * sort by child, so grouped by child in index order as step 2 leaves
 * them). Returns the edges kept. */
static uint32_t
rebuild_parents(struct asm_build *b, uint32_t N, uint32_t E)
{
	memset(b->par_off, 0, (N + 1) * sizeof *b->par_off);
	uint32_t kept = 0;
	for (uint32_t e = 0; e < E; e++)
		if (!b->removed[e]) {
			b->par_off[b->edges[e].child + 1]++;
			kept++;
		}
	for (uint32_t i = 0; i < N; i++)
		b->par_off[i + 1] += b->par_off[i];
	for (uint32_t e = 0; e < E; e++)
		if (!b->removed[e])
			b->par[b->par_off[b->edges[e].child]++] = b->edges[e].parent;
	for (uint32_t i = N; i > 0; i--)
		b->par_off[i] = b->par_off[i - 1];
	b->par_off[0] = 0;
	return kept;
}

/* The largest depth among v's parents, over par[off[v] ..) up to the
 * first one not placed yet (depth 0); *stop is where that scan ended:
 * off[v + 1] when every parent is placed. */
static inline uint32_t
placed_depth(const uint32_t *depth, const uint32_t *off, const uint32_t *par,
             uint32_t v, uint32_t *stop)
{
	uint32_t d = 0, j = off[v];
	for (; j < off[v + 1] && depth[par[j]]; j++)
		if (depth[par[j]] > d)
			d = depth[par[j]];
	*stop = j;
	return d;
}

/* Step 3 when some edge goes back, first try: a depth-first walk up the
 * parents' CSR that step 2 built, from each node in index order, giving
 * each node its depth once all its parents have theirs (at once where
 * they have: most nodes, even out of order). No child lists,
 * no edge list: where the DAG is acyclic (replay at W >= 2, where a
 * trace's events come from several readers' stripes and arrive out of
 * order, takes this path for every trace) this costs a pass over the
 * nodes and edges. Roots and depth come out as Kahn's order gives them
 * (they do not depend on the order), the first real root by index as in
 * the ordered case. Returns 0, having changed nothing that order_kahn
 * reads, when it meets a parent still on its stack: a cycle, which
 * order_kahn breaks by its own rule. */
static int
order_dfs(struct asm_build *b, struct build_state *st)
{
	const uint32_t N = st->N;
	const uint32_t *off = b->par_off, *par = b->par;
	uint32_t *next = b->indeg;    /* 0: not entered; else 1 + next edge */
	uint32_t *stack = b->order;
	uint32_t *depth = b->depth;   /* 0: not placed */
	memset(next, 0, N * sizeof *next);
	memset(depth, 0, N * sizeof *depth);
	struct shape sh = {0, 0, -1};
	for (uint32_t s0 = 0; s0 < N; s0++) {
		if (depth[s0])
			continue;
		/* most nodes: every parent placed already */
		uint32_t j;
		uint32_t d = placed_depth(depth, off, par, s0, &j);
		if (j == off[s0 + 1]) {
			shape_add(b, &sh, s0, d, off[s0] == off[s0 + 1]);
			continue;
		}
		uint32_t sp = 0;
		stack[sp++] = s0;
		next[s0] = j + 1;
		while (sp) {
			uint32_t v = stack[sp - 1];
			uint32_t k = next[v] - 1;
			if (k < off[v + 1]) {
				uint32_t p = par[k];
				next[v]++;
				if (depth[p])
					continue;
				if (next[p])
					return 0; /* p is on the stack: a cycle */
				stack[sp++] = p;
				next[p] = off[p] + 1;
				continue;
			}
			d = placed_depth(depth, off, par, v, &j); /* all placed now */
			shape_add(b, &sh, v, d, off[v] == off[v + 1]);
			sp--;
		}
	}
	/* the first real root by index, not the first placed */
	for (uint32_t c = 0; c < st->n_real; c++)
		if (off[c] == off[c + 1]) {
			sh.root_ev = b->node_ev[c];
			break;
		}
	st->sh = sh;
	return 1;
}

/* Step 3 when some edge goes back and order_dfs met a cycle (else index
 * order is topological and step 2 took roots and depth already; the roots
 * in Kahn's order would be the same, by index, so root_ev is the first
 * real one): Kahn's order,
 * cycles broken, the parents' CSR rebuilt when an edge was cut, roots and
 * depth taken again in the new order. */
static void
order_kahn(struct asm_build *b, struct build_state *st)
{
	const uint32_t N = st->N, E = st->E;
	for (uint32_t c = 0; c < st->n_real; c++)
		for (uint32_t e = b->par_off[c]; e < b->par_off[c + 1]; e++) {
			b->edges[e] = (struct op_trace_edge){b->par[e], c};
			b->removed[e] = 0;
		}
	st->kahn = 1;
	uint32_t cut = order_nodes(b, N, E);
	st->broken += cut;
	/* With none cut, step 2's CSR is already what rebuild_parents
	 * would leave. */
	if (cut)
		st->kept = rebuild_parents(b, N, E);
	st->sh = (struct shape){0, 0, -1};
	for (uint32_t k = 0; k < N; k++) {
		uint32_t v = b->order[k], d = 0;
		for (uint32_t j = b->par_off[v]; j < b->par_off[v + 1]; j++)
			if (b->depth[b->par[j]] > d)
				d = b->depth[b->par[j]];
		shape_add(b, &st->sh, v, d, b->par_off[v] == b->par_off[v + 1]);
	}
}

/* Step 4: the duration on one host: the first real root's span, or when
 * it has no end, the span of the events on its host (trace.h on clocks). */
static inline void
host_duration(const struct asm_build *b, const struct asm_ev *ev,
              struct build_state *st)
{
	st->t_start = st->t_end = 0;
	if (st->sh.root_ev < 0)
		return;
	const struct asm_ev *r = &ev[st->sh.root_ev];
	st->t_start = r->start_ns;
	st->t_end = r->start_ns;
	if (r->flags & OP_TEV_HAS_END) {
		st->t_end = r->end_ns;
		return;
	}
	for (uint32_t c = 0; c < st->N; c++) {
		if (b->node_ev[c] < 0)
			continue;
		const struct asm_ev *x = &ev[b->node_ev[c]];
		if (x->host_sym != r->host_sym)
			continue;
		if (x->start_ns < st->t_start)
			st->t_start = x->start_ns;
		uint64_t end = x->flags & OP_TEV_HAS_END ? x->end_ns : x->start_ns;
		if (end > st->t_end)
			st->t_end = end;
	}
}

/* Step 6a: the events of the record, each as a whole struct (a missing
 * node's absent fields are zeros; trace.h pins its size, so there is no
 * padding), their texts' offsets taken as the texts are met (in node
 * order: label, host, agent). 0 or WEFT_ENOMEM. */
static inline int
write_events(struct asm_build *b, const struct asm_ev *ev,
             const struct asm_texts *texts, uint32_t N, size_t off_str,
             struct op_trace_event *te)
{
	for (uint32_t c = 0; c < N; c++) {
		uint32_t lbl, hst, agt;
		if (b->node_ev[c] < 0) {
			if (text_off(b, CLUSTER_SYM_MISSING, NULL, "<missing>", 9,
			             &lbl) ||
			    text_off(b, 0, NULL, "", 0, &hst))
				return WEFT_ENOMEM;
			te[c] = (struct op_trace_event){
				.event_id = b->node_id[c],
				.label_sym = CLUSTER_SYM_MISSING,
				.label = (uint32_t)off_str + lbl,
				.host = (uint32_t)off_str + hst,
				.agent = (uint32_t)off_str + hst,
				.flags = OP_TEV_MISSING,
			};
			continue;
		}
		const struct asm_ev *x = &ev[b->node_ev[c]];
		if (text_off(b, x->label_sym, texts, NULL, 0, &lbl) ||
		    text_off(b, x->host_sym, texts, NULL, 0, &hst) ||
		    text_off(b, x->agent_sym, texts, NULL, 0, &agt))
			return WEFT_ENOMEM;
		te[c] = (struct op_trace_event){
			.event_id = b->node_id[c],
			.start_ns = x->start_ns,
			.end_ns = x->end_ns,
			.label_sym = x->label_sym,
			.host_sym = x->host_sym,
			.label = (uint32_t)off_str + lbl,
			.host = (uint32_t)off_str + hst,
			.agent = (uint32_t)off_str + agt,
			.flags = x->flags & (OP_TEV_HAS_END | OP_TEV_ERROR),
		};
	}
	return 0;
}

/* Step 6b: the record's edges (parent, child), grouped by child: from
 * the parents' CSR unless order_kahn ran, else the edge list less the
 * edges cut. */
static inline void
write_edges(const struct asm_build *b, const struct build_state *st,
            struct op_trace_edge *te)
{
	if (!st->kahn) {
		for (uint32_t c = 0; c < st->n_real; c++)
			for (uint32_t e = b->par_off[c]; e < b->par_off[c + 1]; e++)
				te[e] = (struct op_trace_edge){b->par[e], c};
	} else {
		for (uint32_t e = 0, k = 0; e < st->E; e++)
			if (!b->removed[e])
				te[k++] = b->edges[e];
	}
}

/* Step 6, last: the record's header. */
static inline void
write_header(struct asm_build *b, const struct asm_trace_meta *m,
             const struct build_state *st, const struct cluster_canon *cf,
             size_t size)
{
	struct op_trace *t = (struct op_trace *)(void *)b->rec;
	memset(t, 0, sizeof *t); /* in case a field ever leaves padding */
	*t = (struct op_trace){
		.trace_id = m->trace_id,
		.signature = cf->signature,
		.exact = cf->exact,
		.start_ns = st->t_start,
		.end_ns = st->t_end,
		.duration_ns = st->t_end >= st->t_start ? st->t_end - st->t_start : 0,
		.first_epoch = m->first_epoch,
		.last_epoch = m->last_epoch,
		.emit_epoch = m->emit_epoch,
		.idle_ns = m->idle_ns,
		.last_ns = m->last_ns,
		.size = (uint32_t)size,
		.n_events = st->N,
		.n_edges = st->kept,
		.n_roots = st->sh.roots,
		.depth = st->sh.depth_max,
		.repeat_max = cf->repeat_max,
		.repeat_groups = cf->repeat_groups,
		.flags = m->flags | (st->missing ? OP_TRACE_DANGLING : 0) |
		         (st->broken ? OP_TRACE_MALFORMED : 0),
		.events_seen = m->events_seen,
		.duplicates = st->dup,
		.missing = st->missing,
		.cycle_edges = st->broken,
		.dropped = m->dropped,
		.src = m->src,
		.str_bytes = (uint32_t)b->str_len,
	};
}

int
asm_build_trace(struct asm_build *b, const struct asm_trace_meta *m,
                const struct asm_ev *ev, uint32_t n, const uint64_t *extra,
                const struct asm_texts *texts, const void **rec,
                uint32_t *len)
{
	uint32_t refs = 0;
	for (uint32_t i = 0; i < n; i++)
		refs += ev[i].n_parents;
	if (build_begin(b, n, refs))
		return WEFT_ENOMEM;
	struct build_state st = {.sh = {0, 0, -1}};
	index_events(b, ev, n, &st);                /* 1. events -> nodes */
	resolve_parents(b, ev, extra, &st);         /* 2. parents -> edges */
	st.kept = st.E;
	if (st.back && !order_dfs(b, &st))          /* 3. order, roots, depth */
		order_kahn(b, &st);
	host_duration(b, ev, &st);                  /* 4. duration on one host */

	/* 5. canonical form */
	struct cluster_dag dag = {st.N, b->label, b->par_off, b->par};
	struct cluster_canon cf;
	memset(&cf, 0, sizeof cf);
	if (cluster_canon_compute(b->canon, &dag, &cf) != 0)
		memset(&cf, 0, sizeof cf);

	/* 6. the record. Everything before the strings has a size known now,
	 * so the events are written with their texts' offsets as the texts
	 * are met, and the strings are appended last. Every byte is written
	 * once, no clearing pass first: the events, the edges, the symbols
	 * (zeros when the canonical form failed), the tail padding, the
	 * header. */
	const uint32_t N = st.N;
	size_t off_ev = sizeof(struct op_trace);
	size_t off_edges = off_ev + (size_t)N * sizeof(struct op_trace_event);
	size_t off_sym = off_edges + (size_t)st.kept * sizeof(struct op_trace_edge);
	size_t off_str = off_sym + (size_t)N * 8;
	if (off_str > UINT32_MAX || rec_reserve(b, off_str))
		return WEFT_ENOMEM;
	if (write_events(b, ev, texts, N, off_str,
	                 (struct op_trace_event *)(void *)(b->rec + off_ev)))
		return WEFT_ENOMEM;
	write_edges(b, &st, (struct op_trace_edge *)(void *)(b->rec + off_edges));
	if (cf.symbols && cf.n_symbols == N)
		memcpy(b->rec + off_sym, cf.symbols, (size_t)N * 8);
	else
		memset(b->rec + off_sym, 0, (size_t)N * 8);
	size_t size = (off_str + b->str_len + 7) & ~(size_t)7;
	if (size > UINT32_MAX || rec_reserve(b, size))
		return WEFT_ENOMEM;
	memcpy(b->rec + off_str, b->str, b->str_len);
	memset(b->rec + off_str + b->str_len, 0, size - off_str - b->str_len);
	write_header(b, m, &st, &cf, size);
	*rec = b->rec;
	*len = (uint32_t)size;
	return 0;
}

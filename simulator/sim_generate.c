/*
 * sim_generate.c — `weft sim generate`: a synthetic HDFS-like workload from
 * the learned model (sim_model.c), at any scale, deterministic for a seed.
 *
 * Each trace: pick a template (uniform over recorded normal traces, so the
 * title mix is the recorded one), pick a block count k' from the title's
 * recorded counts (or --blocks), rebuild PREFIX + BODY x (k'-1) + LAST with
 * fresh DataNode hosts per block, sample each event's duration from its
 * label's recorded durations, keep the recorded start gaps. Optionally one
 * anomaly is injected (sim_inject.c), the whole cluster is made busier
 * (--load: every duration and gap longer) and some DataNodes slower than
 * their peers (--slow-hosts). Events are then sorted by start.
 *
 * Interleaving: C traces are open at once; a heap over the open traces,
 * keyed by each one's next event time, emits events in global time order.
 * When a trace ends, the next starts a few ms after, so exactly C are open
 * in steady state. Timestamp is that synthetic global clock; HRT/EndHRT use
 * a per-host offset so host clocks disagree, as in the recorded data.
 *
 * Ids: trace and event ids are a bijective 64-bit mix of (seed, counter),
 * so they are unique within a run and reproducible. Speed: per-trace nodes
 * live in per-slot arrays reused across traces; JSON goes through one
 * buffer flushed per MiB. No allocation per event.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "simulator/sim_gen.h"
#include "simulator/sim_ops.h"

void
sim_gen_defaults(struct sim_gen_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->traces = 1000;
	c->concurrent = 100;
	c->seed = 1;
	c->start_ms = 1700000000000LL;
	c->load = 1.0;
	c->slow_factor = 4.0;
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct slot {
	struct sim_gtrace t;
	uint32_t *order;     /* emission order (node indices) */
	size_t ocap, cur;
	int64_t start_ns;
	uint32_t *perm_scratch;
};

struct gen {
	struct sim_model *m;
	const struct sim_gen_cfg *cfg;
	struct sim_rng g;
	int32_t *map;        /* template-local -> new node index */
	size_t mapcap;
	uint64_t ntrace, nevent, idbase;
	uint32_t none;
	uint32_t *pool;      /* templates eligible (title filter) */
	size_t npool;
};

static int
add_node(struct sim_gtrace *t, const struct sim_model *m,
    const struct sim_mnode *x, int32_t parent, struct sim_rng *g)
{
	int rc = sim_grow((void **)&t->n, &t->cap, t->len + 1, sizeof(*t->n));
	if (rc)
		return rc;
	struct sim_gnode *n = &t->n[t->len++];
	n->parent = parent;
	n->label = x->label;
	n->host = x->host;
	n->agent = x->agent;
	n->desc = x->desc;
	n->dropped = 0;
	n->off_ns = parent >= 0 ? t->n[parent].off_ns + x->gap_ns : 0;
	n->depth = parent >= 0 ? t->n[parent].depth + 1 : 0;
	size_t nd = m->ndurs[x->lab];
	n->dur_ns = nd ? m->durs[x->lab][sim_rng_below(g, nd)] : 0;
	return 0;
}

/* Fresh DataNodes per block copy: remap each distinct host once. */
static uint32_t
remap(struct gen *G, uint32_t host, uint32_t agent, uint32_t *from,
    uint32_t *to, size_t *n)
{
	const struct sim_model *m = G->m;
	if (!m->ndn || strcmp(m->strs_run.strs.p + agent, "Datanode"))
		return host;
	for (size_t i = 0; i < *n; i++)
		if (from[i] == host)
			return to[i];
	uint32_t h = m->dn_hosts[sim_rng_below(&G->g, m->ndn)];
	if (*n < 64) {
		from[*n] = host;
		to[(*n)++] = h;
	}
	return h;
}

static int
build(struct gen *G, struct sim_gtrace *t)
{
	struct sim_model *m = G->m;
	const struct sim_tmpl *T = &m->tmpl[G->pool[sim_rng_below(&G->g, G->npool)]];
	const struct sim_tclass *c = &m->tc[T->tclass];
	uint64_t k = T->k;
	if (T->k >= 1) {
		k = G->cfg->blocks > 0 ? (uint64_t)G->cfg->blocks :
		    c->ks[sim_rng_below(&G->g, c->nks)];
		if (k == 0)
			k = 1;
		if (k >= 2 && T->k < 2) {
			if (!c->nexpand)
				k = 1;
			else
				T = &m->tmpl[c->expand[sim_rng_below(&G->g,
				    c->nexpand)]];
		}
	}
	int rc = sim_grow((void **)&G->map, &G->mapcap, T->n, sizeof(int32_t));
	if (rc)
		return rc;
	const struct sim_mnode *n = m->nodes + T->first;
	t->len = 0;
	t->title = T->title;
	for (uint32_t i = 0; i < T->n; i++) {
		G->map[i] = -1;
		if (n[i].part != PART_PREFIX)
			continue;
		G->map[i] = (int32_t)t->len;
		if ((rc = add_node(t, m, &n[i], n[i].parent >= 0 ?
		    G->map[n[i].parent] : -1, &G->g)))
			return rc;
	}
	if (T->k == 0)
		goto done;
	int32_t hang = G->map[n[T->anchor1].parent];
	uint32_t from[64], to[64];
	for (uint64_t b = 0; b + 1 < k && T->k >= 2; b++) {
		size_t nmap = 0;
		for (uint32_t i = (uint32_t)T->anchor1; i < T->n; i++) {
			if (n[i].part != PART_BODY)
				continue;
			int32_t p = (int32_t)i == T->anchor1 ? hang : G->map[n[i].parent];
			G->map[i] = (int32_t)t->len;
			if ((rc = add_node(t, m, &n[i], p, &G->g)))
				return rc;
			t->n[t->len - 1].host = remap(G, n[i].host, n[i].agent,
			    from, to, &nmap);
		}
		hang = G->map[T->attach1];
	}
	size_t nmap = 0;
	for (uint32_t i = (uint32_t)T->anchork; i < T->n; i++) {
		if (n[i].part != PART_LAST)
			continue;
		int32_t p = (int32_t)i == T->anchork ? hang : G->map[n[i].parent];
		G->map[i] = (int32_t)t->len;
		if ((rc = add_node(t, m, &n[i], p, &G->g)))
			return rc;
		if (k >= 2)
			t->n[t->len - 1].host = remap(G, n[i].host, n[i].agent,
			    from, to, &nmap);
	}
done:
	t->emit_len = t->len;
	return 0;
}

/* Sort key for emission: (start offset, depth); insertion sort on an
 * almost-sorted array is linear in practice (nodes come mostly in order). */
static void
sort_order(struct slot *s)
{
	const struct sim_gnode *n = s->t.n;
	uint32_t *o = s->order;
	for (size_t i = 0; i < s->t.len; i++) {
		uint32_t v = (uint32_t)i;
		size_t j = i;
		while (j > 0 && (n[o[j - 1]].off_ns > n[v].off_ns ||
		    (n[o[j - 1]].off_ns == n[v].off_ns &&
		    n[o[j - 1]].depth > n[v].depth)))
			o[j] = o[j - 1], j--;
		o[j] = v;
	}
}

static int
open_trace(struct gen *G, struct slot *s, int64_t start_ns, FILE *truth)
{
	int rc = build(G, &s->t);
	if (rc)
		return rc;
	struct sim_model *m = G->m;
	s->t.task = mix64(G->idbase + G->ntrace++);
	unsigned kind = 0;
	if (G->cfg->inject_rate > 0 && G->cfg->kinds &&
	    sim_rng_unit(&G->g) < G->cfg->inject_rate)
		kind = sim_inject(m, &s->t, G->cfg->kinds, &G->g);
	sim_apply_load(m, G->cfg, &s->t);
	for (size_t i = 0; i < s->t.len; i++)
		s->t.n[i].id = (int64_t)mix64(~G->idbase + G->nevent++);
	if ((rc = sim_grow((void **)&s->order, &s->ocap, s->t.len,
	    sizeof(*s->order))))
		return rc;
	sort_order(s);
	if (kind == SIM_INJ_TRUNCATE && s->t.emit_len >= s->t.len)
		s->t.emit_len = s->t.len - 1;
	s->cur = 0;
	s->start_ns = start_ns;
	if (truth && fprintf(truth, "%016llX\t%s\t%s\t%s\n",
	    (unsigned long long)s->t.task, kind ? "failure" : "normal",
	    kind ? sim_inject_kind_name(kind) : "none",
	    m->strs_run.strs.p + s->t.title) < 0)
		return WEFT_EIO;
	return 0;
}

static int64_t
next_time(const struct slot *s)
{
	return s->start_ns + s->t.n[s->order[s->cur]].off_ns;
}

/* binary min-heap of slot indices keyed by next_time */
static void
heap_down(uint32_t *h, size_t n, size_t i, const struct slot *S)
{
	for (;;) {
		size_t l = 2 * i + 1, b = i;
		if (l < n && next_time(&S[h[l]]) < next_time(&S[h[b]]))
			b = l;
		if (l + 1 < n && next_time(&S[h[l + 1]]) < next_time(&S[h[b]]))
			b = l + 1;
		if (b == i)
			return;
		uint32_t x = h[i];
		h[i] = h[b];
		h[b] = x;
		i = b;
	}
}

static int
emit_event(struct gen *G, struct sim_buf *b, const struct slot *s)
{
	const struct sim_gnode *n = &s->t.n[s->order[s->cur]];
	struct sim_run view = G->m->strs_run; /* borrowed strings only */
	struct sim_trace tr = {s->t.task, s->t.title, G->none, 0, 0, 0};
	int64_t pid = n->parent >= 0 ? s->t.n[n->parent].id : 0;
	view.parents = &pid;
	view.tr = &tr;
	int64_t t = s->start_ns + n->off_ns;
	int64_t hostclk = (int64_t)(XXH3_64bits_withSeed(&n->host,
	    sizeof(n->host), G->cfg->seed) >> 14);
	struct sim_event e = {
		.task = s->t.task, .id = n->id,
		.ts_ms = G->cfg->start_ms + t / 1000000,
		.hrt = hostclk + t, .end_hrt = hostclk + t + n->dur_ns,
		.host = n->host, .agent = n->agent, .label = n->label,
		.desc = n->desc, .par_off = 0, .npar = n->parent >= 0,
		.trace = 0,
	};
	return sim_json_event(b, &view, &e);
}

int
sim_generate(struct sim_model *m, const struct sim_gen_cfg *cfg,
    const char *out_jsonl, const char *out_truth, uint64_t *events)
{
	struct gen G = {.m = m, .cfg = cfg};
	int rc = 0;
	*events = 0;
	sim_rng_seed(&G.g, cfg->seed);
	G.idbase = mix64(cfg->seed ^ 0x5157u) << 20;
	if ((rc = sim_model_intern(m, "none", &G.none)))
		return rc;
	uint32_t tf = UINT32_MAX;
	if (cfg->title && (rc = sim_model_intern(m, cfg->title, &tf)))
		return rc;
	G.pool = malloc((m->ntmpl + 1) * sizeof(*G.pool));
	size_t C = cfg->concurrent ? cfg->concurrent : 1;
	if (C > cfg->traces)
		C = cfg->traces ? cfg->traces : 1;
	struct slot *S = calloc(C, sizeof(*S));
	uint32_t *heap = malloc(C * sizeof(*heap));
	void *vbuf;
	FILE *out = sim_out_open(out_jsonl, &vbuf);
	FILE *truth = out_truth ? fopen(out_truth, "w") : NULL;
	struct sim_buf b = {0};
	if (!G.pool || !S || !heap) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	if (!out || (out_truth && !truth)) {
		rc = WEFT_EIO;
		goto out;
	}
	for (size_t t = 0; t < m->ntmpl; t++)
		if (tf == UINT32_MAX || m->tmpl[t].title == tf)
			G.pool[G.npool++] = (uint32_t)t;
	if (!G.npool) {
		rc = WEFT_ENOTFOUND;
		goto out;
	}
	size_t nh = 0;
	for (size_t i = 0; i < C && G.ntrace < cfg->traces; i++) {
		/* stagger the first traces over one second */
		if ((rc = open_trace(&G, &S[i], (int64_t)sim_rng_below(&G.g,
		    1000000000), truth)))
			goto out;
		heap[nh++] = (uint32_t)i;
	}
	for (size_t i = nh / 2; i-- > 0;)
		heap_down(heap, nh, i, S);
	while (nh) {
		struct slot *s = &S[heap[0]];
		if (!s->t.n[s->order[s->cur]].dropped) {
			if ((rc = emit_event(&G, &b, s)))
				goto out;
			(*events)++;
		}
		int64_t last = next_time(s);
		s->cur++;
		if (s->cur >= s->t.emit_len) {
			if (G.ntrace < cfg->traces) {
				if ((rc = open_trace(&G, s, last + 1000000 +
				    (int64_t)sim_rng_below(&G.g, 10000000), truth)))
					goto out;
			} else {
				heap[0] = heap[--nh];
			}
		}
		if (nh)
			heap_down(heap, nh, 0, S);
		if (b.len >= (1u << 20)) {
			if (fwrite(b.p, 1, b.len, out) != b.len) {
				rc = WEFT_EIO;
				goto out;
			}
			b.len = 0;
		}
	}
	if (b.len && fwrite(b.p, 1, b.len, out) != b.len)
		rc = WEFT_EIO;
out:
	if (out)
		rc = sim_out_close(out, vbuf, rc);
	if (truth && fclose(truth) && !rc)
		rc = WEFT_EIO;
	for (size_t i = 0; S && i < C; i++) {
		free(S[i].t.n);
		free(S[i].order);
	}
	free(S);
	free(heap);
	free(G.pool);
	free(G.map);
	sim_buf_free(&b);
	return rc;
}

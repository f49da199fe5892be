/*
 * sim_model.c — learn a workload model from recorded traces.
 *
 * The model keeps every normal recorded trace as a template (its tree,
 * labels, hosts and start gaps), per-label duration samples, and for each
 * title the block unit that HDFS repeats once per block:
 *
 *   - The anchor of a title is the label whose occurrences in a trace all
 *     lie on one ancestor chain, with the highest total count over the
 *     title's traces (ties: the shallowest). For copyFromLocal that is
 *     nextBlockOutputStream: each block's unit hangs under the previous
 *     block's "OP: send block". Labels repeated on parallel branches (the
 *     DataNode pipeline's writeBlock) are not anchors.
 *   - In a trace with k anchors a1..ak, unit 1 (the BODY) is subtree(a1)
 *     minus subtree(a2); the LAST unit is subtree(ak), which also holds the
 *     tail (RPC:complete); units 2..k-1 are MIDDLE and unused; the rest is
 *     the PREFIX. a2 hangs under "attach1" inside the body.
 *   - The title's repetition-count distribution is the list of k's seen.
 * Generation (sim_generate.c) rebuilds a trace with any count k' from
 * PREFIX + BODY x (k'-1) + LAST, so structure and count vary independently.
 *
 * Strings are interned once in the model's own arena (equal text, equal
 * offset), which makes host remapping and label lookup integer compares.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "simulator/sim_gen.h"

struct sim_strmap {
	uint64_t *hash;
	uint32_t *off;  /* UINT32_MAX: empty */
	size_t cap, n;
};

static int
smap_grow(struct sim_strmap *s, const char *arena)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	uint64_t *h = calloc(cap, sizeof(*h));
	uint32_t *o = malloc(cap * sizeof(*o));
	if (!h || !o) {
		free(h);
		free(o);
		return WEFT_ENOMEM;
	}
	memset(o, 0xff, cap * sizeof(*o));
	for (size_t i = 0; i < s->cap; i++) {
		if (s->off[i] == UINT32_MAX)
			continue;
		size_t j = s->hash[i] & (cap - 1);
		while (o[j] != UINT32_MAX)
			j = (j + 1) & (cap - 1);
		h[j] = s->hash[i];
		o[j] = s->off[i];
	}
	(void)arena;
	free(s->hash);
	free(s->off);
	s->hash = h;
	s->off = o;
	s->cap = cap;
	return 0;
}

int
sim_model_intern(struct sim_model *m, const char *str, uint32_t *off)
{
	int rc;
	if (!m->intern && !(m->intern = calloc(1, sizeof(*m->intern))))
		return WEFT_ENOMEM;
	struct sim_strmap *s = m->intern;
	if ((s->n + 1) * 2 > s->cap && (rc = smap_grow(s, NULL)))
		return rc;
	size_t len = strlen(str);
	uint64_t h = XXH3_64bits(str, len);
	size_t j = h & (s->cap - 1);
	while (s->off[j] != UINT32_MAX) {
		if (s->hash[j] == h && !strcmp(m->strs_run.strs.p + s->off[j], str)) {
			*off = s->off[j];
			return 0;
		}
		j = (j + 1) & (s->cap - 1);
	}
	if ((rc = sim_buf_addstr(&m->strs_run.strs, str, len, off)))
		return rc;
	s->hash[j] = h;
	s->off[j] = *off;
	s->n++;
	return 0;
}

void
sim_model_free(struct sim_model *m)
{
	sim_run_free(&m->strs_run);
	free(m->nodes);
	free(m->tmpl);
	for (size_t i = 0; i < m->ntc; i++) {
		free(m->tc[i].ks);
		free(m->tc[i].expand);
	}
	free(m->tc);
	for (size_t i = 0; i < m->nlabs; i++)
		free(m->durs[i]);
	free(m->durs);
	free(m->ndurs);
	free(m->labs);
	free(m->dn_hosts);
	if (m->intern) {
		free(m->intern->hash);
		free(m->intern->off);
		free(m->intern);
	}
	memset(m, 0, sizeof(*m));
}

static int
lab_index(struct sim_model *m, uint32_t label, uint32_t *idx)
{
	for (size_t i = 0; i < m->nlabs; i++)
		if (m->labs[i] == label) {
			*idx = (uint32_t)i;
			return 0;
		}
	size_t c1 = m->labcap, c2 = m->labcap, c3 = m->labcap;
	int rc;
	if ((rc = sim_grow((void **)&m->labs, &c1, m->nlabs + 1, sizeof(uint32_t))) ||
	    (rc = sim_grow((void **)&m->durs, &c2, m->nlabs + 1, sizeof(int64_t *))) ||
	    (rc = sim_grow((void **)&m->ndurs, &c3, m->nlabs + 1, sizeof(size_t))))
		return rc; /* (a partial grow only leaves spare capacity) */
	m->labcap = c1;
	m->labs[m->nlabs] = label;
	m->durs[m->nlabs] = NULL;
	m->ndurs[m->nlabs] = 0;
	*idx = (uint32_t)m->nlabs++;
	return 0;
}

static int
add_dur(struct sim_model *m, uint32_t lab, int64_t d)
{
	/* capacity = next power of two >= count (grown by doubling) */
	size_t n = m->ndurs[lab];
	if ((n & (n - 1)) == 0) {
		int64_t *p = realloc(m->durs[lab], (n ? n * 2 : 1) * sizeof(*p));
		if (!p)
			return WEFT_ENOMEM;
		m->durs[lab] = p;
	}
	m->durs[lab][m->ndurs[lab]++] = d < 0 ? 0 : d;
	return 0;
}

static int
tclass_of(struct sim_model *m, uint32_t title, uint32_t *idx)
{
	for (size_t i = 0; i < m->ntc; i++)
		if (m->tc[i].title == title) {
			*idx = (uint32_t)i;
			return 0;
		}
	int rc = sim_grow((void **)&m->tc, &m->tccap, m->ntc + 1, sizeof(*m->tc));
	if (rc)
		return rc;
	memset(&m->tc[m->ntc], 0, sizeof(m->tc[0]));
	m->tc[m->ntc].title = title;
	*idx = (uint32_t)m->ntc++;
	return 0;
}

static int
is_ancestor(const struct sim_mnode *n, int32_t a, int32_t x)
{
	while (x >= 0 && x != a)
		x = n[x].parent;
	return x == a;
}

/* Anchors of label in template nodes n[0..cnt): 1 if all on one chain. */
static int
chain_of(const struct sim_mnode *n, uint32_t cnt, uint32_t label,
    int32_t *first, int32_t *second, int32_t *last, uint32_t *k)
{
	int32_t prev = -1;
	*k = 0;
	*first = *second = *last = -1;
	/* parents precede children, so occurrences come in chain order */
	for (uint32_t i = 0; i < cnt; i++) {
		if (n[i].label != label)
			continue;
		if (prev >= 0 && !is_ancestor(n, prev, (int32_t)i))
			return 0;
		if (*k == 0)
			*first = (int32_t)i;
		else if (*k == 1)
			*second = (int32_t)i;
		*last = prev = (int32_t)i;
		(*k)++;
	}
	return 1;
}

/* Parts in one pass: parents precede children, so a node inherits its
 * parent's part unless it is one of the unit anchors. */
static void
mark_parts(struct sim_mnode *n, uint32_t cnt, const struct sim_tmpl *T,
    int32_t second)
{
	for (uint32_t i = 0; i < cnt; i++) {
		int32_t x = (int32_t)i;
		uint8_t p = n[i].parent >= 0 ? n[n[i].parent].part : PART_PREFIX;
		if (x == T->anchor1)
			p = T->k >= 2 ? PART_BODY : PART_LAST;
		else if (T->k >= 2 && x == T->anchork)
			p = PART_LAST;
		else if (x == second)
			p = PART_MIDDLE;
		n[i].part = p;
	}
}

/* Choose each title's anchor label, then split its templates. */
static void
find_units(struct sim_model *m, size_t t0)
{
	for (size_t c = 0; c < m->ntc; c++) {
		uint32_t best = UINT32_MAX, bestcnt = 0, members = 0;
		for (size_t t = t0; t < m->ntmpl; t++)
			members += m->tmpl[t].tclass == c;
		bestcnt = members; /* an anchor must repeat somewhere */
		for (size_t t = t0; t < m->ntmpl; t++) {
			struct sim_tmpl *T = &m->tmpl[t];
			if (T->tclass != c)
				continue;
			struct sim_mnode *n = m->nodes + T->first;
			for (uint32_t i = 0; i < T->n; i++) {
				int32_t f, s, l;
				uint32_t k, tot = 0;
				int seen = n[i].label == best;
				for (uint32_t q = 0; q < i && !seen; q++)
					seen = n[q].label == n[i].label;
				if (seen)
					continue;
				/* total over the class, only if a chain everywhere */
				int ok = 1;
				for (size_t u = t0; u < m->ntmpl && ok; u++) {
					if (m->tmpl[u].tclass != c)
						continue;
					ok = chain_of(m->nodes + m->tmpl[u].first,
					    m->tmpl[u].n, n[i].label, &f, &s, &l, &k);
					tot += k;
				}
				if (ok && tot > bestcnt) {
					best = n[i].label;
					bestcnt = tot;
				}
			}
			break; /* labels of the first template are candidates */
		}
		for (size_t t = t0; t < m->ntmpl; t++) {
			struct sim_tmpl *T = &m->tmpl[t];
			if (T->tclass != c || best == UINT32_MAX)
				continue;
			struct sim_mnode *n = m->nodes + T->first;
			int32_t f, s, l;
			chain_of(n, T->n, best, &f, &s, &l, &T->k);
			T->anchor1 = f;
			T->anchork = l;
			T->attach1 = s >= 0 ? n[s].parent : -1;
			mark_parts(n, T->n, T, s);
		}
	}
}

int
sim_model_learn(struct sim_model *m, const struct sim_run *r)
{
	int rc = 0;
	size_t t0 = m->ntmpl;
	/* group events by trace, keeping recorded order */
	uint32_t *start = calloc(r->ntr + 1, sizeof(*start));
	uint32_t *order = malloc((r->nev + 1) * sizeof(*order));
	int32_t *local = malloc((r->nev + 1) * sizeof(*local));
	if (!start || !order || !local) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->nev; i++)
		start[r->ev[i].trace + 1]++;
	for (size_t t = 0; t < r->ntr; t++)
		start[t + 1] += start[t];
	{
		uint32_t *fill = malloc((r->ntr + 1) * sizeof(*fill));
		if (!fill) {
			rc = WEFT_ENOMEM;
			goto out;
		}
		memcpy(fill, start, (r->ntr + 1) * sizeof(*fill));
		for (size_t i = 0; i < r->nev; i++)
			order[fill[r->ev[i].trace]++] = (uint32_t)i;
		free(fill);
	}
	for (size_t t = 0; t < r->ntr && !rc; t++) {
		if (r->tr[t].failure || start[t + 1] == start[t])
			continue;
		uint32_t n = start[t + 1] - start[t], first = (uint32_t)m->nnodes;
		if ((rc = sim_grow((void **)&m->nodes, &m->nodecap, m->nnodes + n,
		    sizeof(*m->nodes))))
			break;
		int ok = 1;
		for (uint32_t j = 0; j < n && ok && !rc; j++) {
			const struct sim_event *e = &r->ev[order[start[t] + j]];
			struct sim_mnode *x = &m->nodes[first + j];
			memset(x, 0, sizeof(*x));
			x->parent = -1;
			if (e->npar) { /* parents precede: search back (small) */
				int64_t pid = r->parents[e->par_off];
				for (uint32_t q = j; q-- > 0;)
					if (r->ev[order[start[t] + q]].id == pid) {
						x->parent = (int32_t)q;
						break;
					}
				ok = x->parent >= 0;
			} else {
				ok = j == 0;
			}
			if (!ok)
				break;
			if ((rc = sim_model_intern(m, sim_str(r, e->label), &x->label)) ||
			    (rc = sim_model_intern(m, sim_str(r, e->host), &x->host)) ||
			    (rc = sim_model_intern(m, sim_str(r, e->agent), &x->agent)) ||
			    (rc = sim_model_intern(m, sim_str(r, e->desc), &x->desc)) ||
			    (rc = lab_index(m, x->label, &x->lab)) ||
			    (rc = add_dur(m, x->lab, e->end_hrt - e->hrt)))
				break;
			if (x->parent >= 0) {
				const struct sim_event *p =
				    &r->ev[order[start[t] + (uint32_t)x->parent]];
				int64_t g = e->host == p->host ||
				    !strcmp(sim_str(r, e->host), sim_str(r, p->host)) ?
				    e->hrt - p->hrt : (e->ts_ms - p->ts_ms) * 1000000;
				x->gap_ns = g > 0 ? g : 0;
			}
			if (!strcmp(sim_str(r, e->agent), "Datanode")) {
				size_t h;
				for (h = 0; h < m->ndn && m->dn_hosts[h] != x->host; h++)
					;
				if (h == m->ndn && !(rc = sim_grow((void **)&m->dn_hosts,
				    &m->dncap, m->ndn + 1, sizeof(uint32_t))))
					m->dn_hosts[m->ndn++] = x->host;
			}
		}
		if (rc || !ok)
			continue; /* a trace we cannot rebuild is skipped */
		if ((rc = sim_grow((void **)&m->tmpl, &m->tmplcap, m->ntmpl + 1,
		    sizeof(*m->tmpl))))
			break;
		struct sim_tmpl *T = &m->tmpl[m->ntmpl];
		memset(T, 0, sizeof(*T));
		T->first = first;
		T->n = n;
		T->anchor1 = T->attach1 = T->anchork = -1;
		if ((rc = sim_model_intern(m, sim_str(r, r->tr[t].title), &T->title)) ||
		    (rc = tclass_of(m, T->title, &T->tclass)))
			break;
		m->nnodes += n;
		m->ntmpl++;
	}
	if (rc)
		goto out;
	find_units(m, t0);
	for (size_t t = t0; t < m->ntmpl && !rc; t++) {
		struct sim_tclass *c = &m->tc[m->tmpl[t].tclass];
		size_t cap = c->nks;
		if (!(rc = sim_grow((void **)&c->ks, &cap, c->nks + 1, 4)))
			c->ks[c->nks++] = m->tmpl[t].k;
		cap = c->nexpand;
		if (!rc && m->tmpl[t].k >= 2 &&
		    !(rc = sim_grow((void **)&c->expand, &cap, c->nexpand + 1, 4)))
			c->expand[c->nexpand++] = (uint32_t)t;
	}
out:
	free(start);
	free(order);
	free(local);
	return rc;
}

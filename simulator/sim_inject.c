/*
 * sim_inject.c — one anomaly per chosen trace, with its kind recorded as
 * ground truth. Each kind mimics a fault seen in TraceBench's AN_ runs or
 * a tracing fault the checker must catch:
 *   drop      one non-root event is not emitted (its children still name
 *             it as parent: a lost report).
 *   exception an event's Description becomes an exception text and a
 *             retry branch (the same operation again, then its first
 *             child's operation) hangs under it.
 *   swap      the labels of an event and its parent are exchanged (two
 *             consecutive steps in the wrong order).
 *   delay     every event of one host lasts 10x longer and everything that
 *             starts after it on the tree is shifted by the added time.
 *   truncate  the trace stops after a random prefix of its events.
 * Nodes are appended, never removed, so indices and parent links stay
 * valid; the caller sorts and emits afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/sim_gen.h"

static const char *const names[] = {"drop", "exception", "swap", "delay",
    "truncate"};

const char *
sim_inject_kind_name(unsigned bit)
{
	for (unsigned i = 0; i < 5; i++)
		if (bit == 1u << i)
			return names[i];
	return "none";
}

int
sim_inject_parse_kinds(const char *s, unsigned *bits, char *bad, size_t badlen)
{
	*bits = 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		unsigned i;
		for (i = 0; i < 5; i++)
			if (strlen(names[i]) == n && !strncmp(s, names[i], n))
				break;
		if (i == 5) {
			snprintf(bad, badlen, "%.*s", (int)n, s);
			return WEFT_EINVAL;
		}
		*bits |= 1u << i;
		s += n + (s[n] == ',');
	}
	return 0;
}

static int
append(struct sim_gtrace *t, size_t like, int32_t parent)
{
	int rc = sim_grow((void **)&t->n, &t->cap, t->len + 1, sizeof(*t->n));
	if (rc)
		return rc;
	struct sim_gnode *x = &t->n[t->len], *l = &t->n[like];
	*x = *l;
	x->parent = parent;
	x->depth = t->n[parent].depth + 1;
	x->off_ns = t->n[parent].off_ns + t->n[parent].dur_ns;
	x->dropped = 0;
	t->len++;
	return 0;
}

unsigned
sim_inject(struct sim_model *m, struct sim_gtrace *t, unsigned bits,
    struct sim_rng *g)
{
	unsigned avail[5], na = 0;
	for (unsigned i = 0; i < 5; i++)
		if (bits & (1u << i))
			avail[na++] = 1u << i;
	if (!na || t->len < 2)
		return 0;
	unsigned kind = avail[sim_rng_below(g, na)];
	size_t x = 1 + (size_t)sim_rng_below(g, t->len - 1); /* non-root */
	switch (kind) {
	case SIM_INJ_DROP:
		t->n[x].dropped = 1;
		break;
	case SIM_INJ_EXCEPTION: {
		char text[160];
		snprintf(text, sizeof(text), "IOException: java.io.IOException: "
		    "Bad connect ack with firstBadLink as %s:50010",
		    m->strs_run.strs.p + t->n[x].host);
		if (sim_model_intern(m, text, &t->n[x].desc))
			return 0;
		size_t child = 0;
		for (size_t i = x + 1; i < t->len && !child; i++)
			if (t->n[i].parent == (int32_t)x)
				child = i;
		if (append(t, x, (int32_t)x))
			return 0;
		size_t retry = t->len - 1;
		if (sim_model_intern(m, "Success: retry", &t->n[retry].desc))
			return 0;
		if (child && append(t, child, (int32_t)retry))
			return 0;
		break;
	}
	case SIM_INJ_SWAP: {
		/* find a node whose parent has another label */
		for (size_t k = 0; k < t->len; k++, x = 1 + (x % (t->len - 1))) {
			size_t p = (size_t)t->n[x].parent;
			if (t->n[p].label != t->n[x].label && t->n[p].parent >= 0) {
				uint32_t l = t->n[p].label;
				t->n[p].label = t->n[x].label;
				t->n[x].label = l;
				return kind;
			}
		}
		return 0;
	}
	case SIM_INJ_DELAY: {
		uint32_t host = t->n[x].host;
		/* nodes are in topological order: shift children by what
		 * their parent gained (start shift plus added duration) */
		int64_t *shift = NULL;
		size_t cap = 0;
		if (sim_grow((void **)&shift, &cap, t->len, sizeof(*shift)))
			return 0;
		for (size_t i = 0; i < t->len; i++) {
			struct sim_gnode *n = &t->n[i];
			int64_t s = 0;
			if (n->parent >= 0) {
				const struct sim_gnode *p = &t->n[n->parent];
				s = shift[n->parent] +
				    (p->host == host ? p->dur_ns / 10 * 9 : 0);
			}
			shift[i] = s;
			n->off_ns += s;
			if (n->host == host)
				n->dur_ns *= 10;
		}
		free(shift);
		break;
	}
	case SIM_INJ_TRUNCATE:
		t->emit_len = (size_t)(t->len / 4) +
		    (size_t)sim_rng_below(g, t->len - t->len / 4);
		if (t->emit_len < 1)
			t->emit_len = 1;
		break;
	}
	return kind;
}

/* A busier cluster stretches a whole trace (gaps and durations alike); a
 * slowed DataNode stretches only the events it runs (their parents are
 * not lengthened: a simplification, the recorded slowed runs show both). */
void
sim_apply_load(const struct sim_model *m, const struct sim_gen_cfg *cfg,
    struct sim_gtrace *t)
{
	uint64_t ns = cfg->slow_hosts < m->ndn ? cfg->slow_hosts : m->ndn;
	if (cfg->load == 1.0 && (!ns || cfg->slow_factor == 1.0))
		return;
	for (size_t i = 0; i < t->len; i++) {
		struct sim_gnode *n = &t->n[i];
		n->off_ns = (int64_t)((double)n->off_ns * cfg->load);
		double f = cfg->load;
		for (uint64_t h = 0; h < ns; h++)
			if (n->host == m->dn_hosts[h])
				f *= cfg->slow_factor;
		n->dur_ns = (int64_t)((double)n->dur_ns * f);
	}
}

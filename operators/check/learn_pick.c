/*
 * learn_pick.c — what the learning loop learns from (learn.h): the
 * reservoir of normal traces, the table of candidate structures and the
 * promotion rule. Single-threaded: the learner thread owns it.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/check/check.h"
#include "operators/check/check_int.h"
#include "operators/check/learn.h"

struct cand {
	uint64_t sig;
	uint64_t seen;       /* traces this period */
	uint64_t seen_all;   /* traces since it entered the table (example sampling) */
	uint32_t consec;     /* consecutive periods with >= promote_min */
	int promoted;
	uint32_t n_ex;
	struct op_trace **ex; /* [examples] */
};

struct op_learn_pick {
	struct op_learn_config c;
	uint64_t rng;
	struct op_trace **res; /* [reservoir] */
	uint64_t n_res, seen_res;
	struct cand *cand;     /* [candidates], unsorted, linear search */
	uint32_t n_cand;
	const struct op_trace **sample; /* training set of the last period */
	size_t n_sample, cap_sample;
	struct op_learn_pick_stats st;
};

void
op_learn_config_default(struct op_learn_config *c)
{
	memset(c, 0, sizeof *c);
	c->reservoir = 2000;
	c->candidates = 1024;
	c->examples = 8;
	c->promote_periods = 2;
	c->promote_min = 20;
	c->min_sample = 200;
	c->keep = 5;
	c->buffer = 4096;
	c->idle_ms = 1000;
	c->seed = 1;
}

int
op_learn_pick_new(const struct op_learn_config *c, struct op_learn_pick **out)
{
	*out = NULL;
	if (!c->reservoir || !c->examples || !c->promote_periods)
		return WEFT_EINVAL;
	struct op_learn_pick *p = calloc(1, sizeof *p);
	if (!p)
		return WEFT_ENOMEM;
	p->c = *c;
	p->rng = c->seed * 0x100000001b3ull + 7;
	p->res = calloc(c->reservoir, sizeof *p->res);
	p->cand = calloc(c->candidates ? c->candidates : 1, sizeof *p->cand);
	if (!p->res || !p->cand) {
		op_learn_pick_free(p);
		return WEFT_ENOMEM;
	}
	*out = p;
	return 0;
}

static void
cand_clear(struct cand *e)
{
	for (uint32_t i = 0; i < e->n_ex; i++)
		free(e->ex[i]);
	free(e->ex);
	memset(e, 0, sizeof *e);
}

void
op_learn_pick_free(struct op_learn_pick *p)
{
	if (!p)
		return;
	op_learn_pick_reset(p);
	free(p->res);
	for (uint32_t i = 0; i < p->n_cand; i++)
		cand_clear(&p->cand[i]);
	free(p->cand);
	free(p->sample);
	free(p);
}

int
op_learn_usable(unsigned verdict, uint32_t flags)
{
	/* exceptions, and fragments: not whole (parents never received,
	 * cycles cut, cut by a limit, late amendments) */
	if (flags & (OP_TRACE_ERROR | OP_TRACE_LATE | OP_TRACE_INCOMPLETE | OP_TRACE_TRUNCATED |
	             OP_TRACE_DANGLING | OP_TRACE_MALFORMED))
		return 0;
	return verdict == OP_VERDICT_NORMAL || verdict == OP_VERDICT_UNKNOWN_STRUCTURE;
}

/* Algorithm R over *seen offers into slots[cap]; returns the slot t took
 * (the trace it replaces freed) or -1 (t freed). */
static int
reservoir_put(uint64_t *rng, struct op_trace **slots, uint64_t cap, uint64_t *n,
              uint64_t *seen, struct op_trace *t)
{
	(*seen)++;
	uint64_t slot = *n;
	if (*n >= cap) {
		slot = op_next_rand(rng) % *seen;
		if (slot >= cap) {
			free(t);
			return -1;
		}
		free(slots[slot]);
	} else {
		(*n)++;
	}
	slots[slot] = t;
	return 0;
}

static struct cand *
cand_find(struct op_learn_pick *p, uint64_t sig)
{
	for (uint32_t i = 0; i < p->n_cand; i++)
		if (p->cand[i].sig == sig)
			return &p->cand[i];
	return NULL;
}

int
op_learn_pick_add(struct op_learn_pick *p, struct op_trace *t, unsigned verdict)
{
	if (!op_learn_usable(verdict, t->flags)) {
		p->st.refused++;
		free(t);
		return 0;
	}
	if (verdict == OP_VERDICT_NORMAL) {
		p->st.normal++;
		struct cand *e = p->n_cand ? cand_find(p, t->signature) : NULL;
		if (e)
			e->seen++; /* a promoted structure, now normal: still here */
		return reservoir_put(&p->rng, p->res, p->c.reservoir, &p->n_res, &p->seen_res,
		                     t) == 0;
	}
	p->st.candidates++;
	struct cand *e = cand_find(p, t->signature);
	if (!e) {
		if (p->n_cand >= p->c.candidates) {
			p->st.table_full++;
			free(t);
			return 0;
		}
		e = &p->cand[p->n_cand++];
		memset(e, 0, sizeof *e);
		e->sig = t->signature;
		e->ex = calloc(p->c.examples, sizeof *e->ex);
		if (!e->ex) {
			p->n_cand--;
			free(t);
			return 0;
		}
	}
	e->seen++;
	uint64_t n = e->n_ex;
	int rc = reservoir_put(&p->rng, e->ex, p->c.examples, &n, &e->seen_all, t);
	e->n_ex = (uint32_t)n;
	return rc == 0;
}

static int
sample_push(struct op_learn_pick *p, const struct op_trace *t)
{
	if (WEFT_GROW(p->sample, p->cap_sample, p->n_sample + 1, 256))
		return WEFT_ENOMEM;
	p->sample[p->n_sample++] = t;
	return 0;
}

void
op_learn_pick_period(struct op_learn_pick *p, struct op_learn_period *out)
{
	memset(out, 0, sizeof *out);
	uint32_t keep = 0;
	for (uint32_t i = 0; i < p->n_cand; i++) {
		struct cand *e = &p->cand[i];
		if (!e->seen) { /* gone: a structure must stay to be learned */
			cand_clear(e);
			continue;
		}
		e->consec = e->seen >= p->c.promote_min ? e->consec + 1 : 0;
		if (!e->promoted && e->consec >= p->c.promote_periods) {
			e->promoted = 1;
			p->st.promoted++;
			if (out->promoted < 4)
				out->promoted_sig[out->promoted] = e->sig;
			out->promoted++;
		}
		e->seen = 0;
		if (keep != i)
			p->cand[keep] = *e;
		keep++;
	}
	p->n_cand = keep;
	p->n_sample = 0;
	for (uint64_t i = 0; i < p->n_res; i++)
		if (sample_push(p, p->res[i]))
			break;
	out->reservoir = p->n_sample;
	for (uint32_t i = 0; i < p->n_cand; i++)
		if (p->cand[i].promoted)
			for (uint32_t j = 0; j < p->cand[i].n_ex; j++)
				(void)sample_push(p, p->cand[i].ex[j]);
	out->sample = p->n_sample;
	out->tracked = p->n_cand;
}

const struct op_trace *const *
op_learn_pick_sample(struct op_learn_pick *p, size_t *n)
{
	*n = p->n_sample;
	return p->sample;
}

void
op_learn_pick_reset(struct op_learn_pick *p)
{
	for (uint64_t i = 0; i < p->n_res; i++)
		free(p->res[i]);
	p->n_res = 0;
	p->seen_res = 0;
	p->n_sample = 0;
}

void
op_learn_pick_stats(const struct op_learn_pick *p, struct op_learn_pick_stats *out)
{
	*out = p->st;
}

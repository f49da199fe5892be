/*
 * op_census.c — trace census sink: events per trace id.
 *
 * Per worker, an open-addressing hash table (linear probing, power-of-two
 * capacity, load <= 1/2) maps trace id -> event count; no allocation per
 * event, one per doubling. Trace id 0 is a valid id, so an occupied slot is
 * marked by a nonzero count rather than by the key.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/operators.h"

struct census_slot {
	uint64_t trace;
	uint64_t events; /* 0: empty */
};

struct census_inst {
	struct op_census_config *cfg;
	struct census_slot *tab;
	uint64_t cap, n;
	uint64_t events, overflow;
};

void
op_census_config_init(struct op_census_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_traces = 4u << 20;
	pthread_mutex_init(&cfg->lock, NULL);
}

void
op_census_config_destroy(struct op_census_config *cfg)
{
	pthread_mutex_destroy(&cfg->lock);
}

static uint64_t
mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static int
grow(struct census_inst *s)
{
	uint64_t ncap = s->cap ? s->cap * 2 : 1024;
	struct census_slot *nt = calloc(ncap, sizeof *nt);
	if (!nt)
		return WEFT_ENOMEM;
	for (uint64_t i = 0; i < s->cap; i++) {
		if (!s->tab[i].events)
			continue;
		uint64_t j = mix(s->tab[i].trace) & (ncap - 1);
		while (nt[j].events)
			j = (j + 1) & (ncap - 1);
		nt[j] = s->tab[i];
	}
	free(s->tab);
	s->tab = nt;
	s->cap = ncap;
	return 0;
}

static int
census_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct census_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = arg;
	return grow(s);
}

static void
count_event(struct census_inst *s, uint64_t trace)
{
	s->events++;
	/* Keep the load at most 1/2 (a failed grow leaves a fuller, still
	 * working table; the insert below then refuses new traces). */
	if (2 * (s->n + 1) > s->cap && s->n < s->cfg->max_traces)
		grow(s);
	uint64_t j = mix(trace) & (s->cap - 1);
	while (s->tab[j].events) {
		if (s->tab[j].trace == trace) {
			s->tab[j].events++;
			return;
		}
		j = (j + 1) & (s->cap - 1);
	}
	if (s->n >= s->cfg->max_traces || 2 * (s->n + 1) > s->cap) {
		s->overflow++;
		return;
	}
	s->tab[j].trace = trace;
	s->tab[j].events = 1;
	s->n++;
}

static void
census_batch(void *state, struct engine_ctx *ctx, unsigned port,
             const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct census_inst *s = state;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len)))
		count_event(s, ((const struct op_event *)r)->trace_id);
}

static void
census_flush(void *state, struct engine_ctx *ctx, uint64_t final_epoch)
{
	(void)ctx;
	(void)final_epoch;
	struct census_inst *s = state;
	struct op_census_config *cfg = s->cfg;
	if (cfg->out) {
		pthread_mutex_lock(&cfg->lock);
		for (uint64_t i = 0; i < s->cap; i++)
			if (s->tab[i].events)
				fprintf(cfg->out, "%016llx\t%llu\n",
				        (unsigned long long)s->tab[i].trace,
				        (unsigned long long)s->tab[i].events);
		pthread_mutex_unlock(&cfg->lock);
	}
}

static void
census_destroy(void *state)
{
	struct census_inst *s = state;
	atomic_fetch_add(&s->cfg->traces, s->n);
	atomic_fetch_add(&s->cfg->events, s->events);
	atomic_fetch_add(&s->cfg->overflow, s->overflow);
	free(s->tab);
	free(s);
}

const struct engine_op_vtable op_census_vtable = {
	.init = census_init,
	.on_batch = census_batch,
	.on_flush = census_flush,
	.destroy = census_destroy,
};

/*
 * canon_test_util.h — loads a bundled TraceBench run as cluster_dag inputs:
 * import (simulator), write each event as a v4 JSON line, decode it with
 * the real decoder (op_decode_json) and map event ids to node indices per
 * trace. A parent id that is not an event of the trace becomes a missing
 * node (CLUSTER_SYM_MISSING).
 */
#ifndef WEFT_CANON_TEST_UTIL_H
#define WEFT_CANON_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "operators/ingest/decode.h"
#include "simulator/simulator.h"

struct ct_trace {
	uint32_t n;
	uint64_t *label;   /* [n] */
	uint32_t *par_off; /* [n + 1] */
	uint32_t *par;
	char title[64];
};

struct ct_run {
	struct ct_trace *tr;
	size_t ntr;
};

struct ct_idx {
	uint64_t id;
	uint32_t i;
};

static int
ct_idx_cmp(const void *a, const void *b)
{
	const struct ct_idx *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static inline void
ct_run_free(struct ct_run *r)
{
	for (size_t t = 0; t < r->ntr; t++) {
		free(r->tr[t].label);
		free(r->tr[t].par_off);
		free(r->tr[t].par);
	}
	free(r->tr);
	r->tr = NULL;
	r->ntr = 0;
}

/* Loads run folder dir. Returns 0 or a WEFT_E* code. */
static inline int
ct_run_load(const char *dir, struct ct_run *out)
{
	struct sim_run r;
	sim_run_init(&r);
	int rc = sim_tracebench_import(dir, &r, NULL, NULL, 0);
	if (rc)
		return rc;
	struct op_decoder *d = NULL;
	if ((rc = op_decoder_new(OP_FORMAT_JSON_V4, NULL, "test", NULL, &d)))
		return rc;
	uint64_t *rec = malloc(OP_EVENT_MAX_BYTES);
	struct op_event **evs = calloc(r.nev, sizeof(*evs));
	struct sim_buf line = {0};
	out->ntr = r.ntr;
	out->tr = calloc(r.ntr, sizeof(*out->tr));
	for (size_t i = 0; i < r.nev && rc == 0; i++) {
		line.len = 0;
		rc = sim_json_event(&line, &r, &r.ev[i]);
		uint32_t len = 0;
		if (!rc)
			rc = op_decode_json(d, line.p, line.len - 1, NULL, rec,
			    OP_EVENT_MAX_BYTES, &len);
		if (!rc) {
			evs[i] = malloc(len);
			memcpy(evs[i], rec, len);
		}
	}
	for (size_t t = 0; t < r.ntr && rc == 0; t++) {
		struct ct_trace *ct = &out->tr[t];
		snprintf(ct->title, sizeof(ct->title), "%s",
		    sim_str(&r, r.tr[t].title));
		size_t cnt = 0, npar = 0;
		for (size_t i = 0; i < r.nev; i++)
			if (r.ev[i].trace == t) {
				cnt++;
				npar += evs[i]->n_parents;
			}
		/* Nodes: the events, then at most npar missing parents. */
		struct ct_idx *ix = malloc((cnt + 1) * sizeof(*ix));
		ct->label = malloc((cnt + npar + 1) * sizeof(uint64_t));
		ct->par_off = malloc((cnt + npar + 2) * sizeof(uint32_t));
		ct->par = malloc((npar + 1) * sizeof(uint32_t));
		uint32_t k = 0;
		for (size_t i = 0; i < r.nev; i++)
			if (r.ev[i].trace == t) {
				ix[k].id = evs[i]->event_id;
				ix[k].i = (uint32_t)i;
				ct->label[k] = evs[i]->label_sym;
				k++;
			}
		struct ct_idx *sorted = malloc((cnt + 1) * sizeof(*ix));
		memcpy(sorted, ix, cnt * sizeof(*ix));
		for (uint32_t j = 0; j < cnt; j++)
			sorted[j].i = j;
		qsort(sorted, cnt, sizeof(*sorted), ct_idx_cmp);
		uint32_t n = (uint32_t)cnt, e = 0;
		for (uint32_t j = 0; j < cnt; j++) {
			const struct op_event *ev = evs[ix[j].i];
			const uint64_t *ps = op_event_parents(ev);
			ct->par_off[j] = e;
			for (uint32_t q = 0; q < ev->n_parents; q++) {
				struct ct_idx key = {ps[q], 0};
				struct ct_idx *f = bsearch(&key, sorted, cnt,
				    sizeof(*sorted), ct_idx_cmp);
				uint32_t pi;
				if (f) {
					pi = f->i;
				} else {
					pi = n;
					ct->label[n++] = CLUSTER_SYM_MISSING;
				}
				ct->par[e++] = pi;
			}
		}
		for (uint32_t j = (uint32_t)cnt; j <= n; j++)
			ct->par_off[j] = e;
		ct->n = n;
		free(ix);
		free(sorted);
	}
	for (size_t i = 0; i < r.nev; i++)
		free(evs[i]);
	free(evs);
	free(rec);
	sim_buf_free(&line);
	op_decoder_free(d);
	sim_run_free(&r);
	return rc;
}

static inline void
ct_dag(const struct ct_trace *t, struct cluster_dag *g)
{
	g->n_nodes = t->n;
	g->label = t->label;
	g->par_off = t->par_off;
	g->par = t->par;
}

#endif

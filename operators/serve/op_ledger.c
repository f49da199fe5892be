/*
 * op_ledger.c — the commit ledger of `weft serve` (see serve.h for the
 * rule it implements).
 *
 * Per worker, a ring of counters indexed by opening epoch, from base (the
 * lowest epoch with a pending trace) upwards. Opens and closes come from
 * one thread (the worker: assemble opens, the final sink closes), so the
 * ring needs no lock; only the published low and the pending count are
 * atomics, read by the committer and the metrics thread. An open below
 * base (not expected: opens happen at or above the assemble frontier,
 * which is at or above every published floor) re-bases the ring so the
 * count stays exact; an open below the published low is counted as an
 * anomaly, because a commit may already have passed it.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/serve/serve.h"

struct ledger_w {
	uint64_t base;    /* epoch of ring[head] */
	uint32_t *ring;
	size_t cap, head;
	uint64_t n;       /* pending traces */
	uint64_t hi;      /* highest epoch opened since the ring was last empty */
	uint64_t floor;   /* last published low */
	_Atomic uint64_t low;
	_Atomic uint64_t pending;
	_Atomic uint64_t anomalies;
	char pad[64];
};

struct op_ledger {
	unsigned workers;
	struct ledger_w *w;
};

struct op_ledger *
op_ledger_new(unsigned workers, uint64_t first_epoch)
{
	struct op_ledger *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->workers = workers;
	l->w = calloc(workers ? workers : 1, sizeof *l->w);
	if (!l->w) {
		free(l);
		return NULL;
	}
	for (unsigned i = 0; i < workers; i++) {
		l->w[i].base = first_epoch;
		l->w[i].floor = first_epoch;
		atomic_init(&l->w[i].low, first_epoch);
	}
	return l;
}

void
op_ledger_free(struct op_ledger *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < l->workers; i++)
		free(l->w[i].ring);
	free(l->w);
	free(l);
}

/* Re-lays the ring out into ncap slots starting at epoch nbase (<= base). */
static void
relayout(struct ledger_w *w, size_t ncap, uint64_t nbase)
{
	uint32_t *nr = calloc(ncap, sizeof *nr);
	if (!nr)
		abort(); /* losing count would commit offsets of open traces */
	size_t shift = (size_t)(w->base - nbase);
	for (size_t i = 0; i < w->cap; i++) {
		uint32_t v = w->ring[(w->head + i) % w->cap];
		if (v)
			nr[shift + i] = v; /* < ncap: every pending epoch is <= hi */
	}
	free(w->ring);
	w->ring = nr;
	w->cap = ncap;
	w->head = 0;
	w->base = nbase;
}

void
op_ledger_open(struct op_ledger *l, unsigned wi, uint64_t epoch)
{
	struct ledger_w *w = &l->w[wi];
	if (epoch < w->floor)
		atomic_fetch_add_explicit(&w->anomalies, 1, memory_order_relaxed);
	if (w->n == 0) {
		/* empty: restart the ring at this epoch */
		if (w->cap)
			memset(w->ring, 0, w->cap * sizeof *w->ring);
		w->base = epoch;
		w->head = 0;
		w->hi = epoch;
	}
	if (epoch > w->hi)
		w->hi = epoch;
	if (epoch < w->base) {
		size_t need = (size_t)(w->hi - epoch) + 1;
		size_t ncap = w->cap ? w->cap : 64;
		while (ncap < need)
			ncap *= 2;
		relayout(w, ncap, epoch);
	}
	uint64_t idx = epoch - w->base;
	if (idx >= w->cap) {
		size_t ncap = w->cap ? w->cap : 64;
		while (ncap <= idx)
			ncap *= 2;
		relayout(w, ncap, w->base);
	}
	w->ring[(w->head + idx) % w->cap]++;
	w->n++;
	atomic_store_explicit(&w->pending, w->n, memory_order_relaxed);
}

void
op_ledger_close(struct op_ledger *l, unsigned wi, uint64_t epoch)
{
	struct ledger_w *w = &l->w[wi];
	uint64_t idx = epoch - w->base;
	if (epoch < w->base || idx >= w->cap || !w->ring[(w->head + idx) % w->cap]) {
		/* closing what was never opened: a bug upstream */
		atomic_fetch_add_explicit(&w->anomalies, 1, memory_order_relaxed);
		return;
	}
	w->ring[(w->head + idx) % w->cap]--;
	w->n--;
	while (w->n && !w->ring[w->head]) {
		w->head = (w->head + 1) % w->cap;
		w->base++;
	}
	atomic_store_explicit(&w->pending, w->n, memory_order_relaxed);
}

void
op_ledger_publish(struct op_ledger *l, unsigned wi, uint64_t closed_below)
{
	struct ledger_w *w = &l->w[wi];
	uint64_t low = closed_below;
	if (w->n && w->base < low)
		low = w->base;
	if (low < w->floor)
		low = w->floor; /* monotone: see op_ledger_open's anomaly count */
	w->floor = low;
	atomic_store_explicit(&w->low, low, memory_order_release);
}

uint64_t
op_ledger_low(const struct op_ledger *l)
{
	uint64_t low = UINT64_MAX;
	for (unsigned i = 0; i < l->workers; i++) {
		uint64_t v = atomic_load_explicit(&l->w[i].low, memory_order_acquire);
		if (v < low)
			low = v;
	}
	return low;
}

uint64_t
op_ledger_pending(const struct op_ledger *l)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < l->workers; i++)
		n += atomic_load_explicit(&l->w[i].pending, memory_order_relaxed);
	return n;
}

uint64_t
op_ledger_anomalies(const struct op_ledger *l)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < l->workers; i++)
		n += atomic_load_explicit(&l->w[i].anomalies, memory_order_relaxed);
	return n;
}

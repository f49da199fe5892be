/*
 * op_ledger.c — the commit ledger of `weft serve` (see serve.h for the
 * rule it implements).
 *
 * Per worker, rings of counters indexed by opening epoch, from base (the
 * lowest epoch with a pending trace) upwards: one ring over every pending
 * trace (the process's low and its pending count), and one per source slot
 * (a Kafka partition), so that a partition's commit point is held back
 * only by traces that have events in it. Slot 0 holds the traces whose
 * events came from several partitions (or from no known one): those hold
 * every partition back. Per-slot rings are allocated when a slot first
 * has a pending trace on the worker.
 *
 * Opens and closes come from one thread (the worker: assemble opens, the
 * final sink closes), so the rings need no lock. What other threads read
 * is published at each epoch close: per slot the lowest pending epoch
 * (UINT64_MAX for none), then `closed` with release. A reader loads
 * `closed` first (acquire), then the slots: a trace opens at an epoch the
 * worker has not closed yet, so a slot low read as "none" is covered by
 * a `closed` that is at most that epoch.
 *
 * An open below the published floor is counted as an anomaly (a commit may
 * already have passed it); so is a close of what was never opened.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/serve/serve.h"

struct lring {
	uint64_t base; /* epoch of ring[head] */
	uint32_t *ring;
	size_t cap, head;
	uint64_t n;    /* pending traces */
	uint64_t hi;   /* highest epoch opened since the ring was last empty */
};

struct ledger_w {
	struct lring all;
	struct lring *slot;     /* [n_slots + 1]; slot[0]: several sources */
	uint32_t *dirty;        /* slots changed since the last publish */
	uint8_t *is_dirty;
	uint32_t n_dirty;
	uint64_t floor;         /* last published low */
	_Atomic uint64_t low;   /* min(lowest pending, closed below) */
	_Atomic uint64_t closed;
	_Atomic uint64_t *slot_low; /* [n_slots + 1], UINT64_MAX: none */
	_Atomic uint64_t pending;
	_Atomic uint64_t anomalies;
	char pad[64];
};

struct op_ledger {
	unsigned workers;
	uint32_t n_slots;
	struct ledger_w *w;
};

struct op_ledger *
op_ledger_new(unsigned workers, uint32_t n_slots, uint64_t first_epoch)
{
	struct op_ledger *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->workers = workers;
	l->n_slots = n_slots;
	l->w = calloc(workers ? workers : 1, sizeof *l->w);
	if (!l->w) {
		free(l);
		return NULL;
	}
	for (unsigned i = 0; i < workers; i++) {
		struct ledger_w *w = &l->w[i];
		w->all.base = first_epoch;
		w->floor = first_epoch;
		atomic_init(&w->low, first_epoch);
		atomic_init(&w->closed, first_epoch);
		w->slot = calloc((size_t)n_slots + 1, sizeof *w->slot);
		w->dirty = calloc((size_t)n_slots + 1, sizeof *w->dirty);
		w->is_dirty = calloc((size_t)n_slots + 1, 1);
		w->slot_low = calloc((size_t)n_slots + 1, sizeof *w->slot_low);
		if (!w->slot || !w->dirty || !w->is_dirty || !w->slot_low) {
			l->workers = i + 1;
			op_ledger_free(l);
			return NULL;
		}
		for (uint32_t s = 0; s <= n_slots; s++)
			atomic_init(&w->slot_low[s], UINT64_MAX);
	}
	return l;
}

void
op_ledger_free(struct op_ledger *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < l->workers; i++) {
		struct ledger_w *w = &l->w[i];
		free(w->all.ring);
		for (uint32_t s = 0; w->slot && s <= l->n_slots; s++)
			free(w->slot[s].ring);
		free(w->slot);
		free(w->dirty);
		free(w->is_dirty);
		free(w->slot_low);
	}
	free(l->w);
	free(l);
}

/* ---- one ring ------------------------------------------------------------ */

/* Re-lays the ring out into ncap slots starting at epoch nbase (<= base). */
static void
relayout(struct lring *r, size_t ncap, uint64_t nbase)
{
	uint32_t *nr = calloc(ncap, sizeof *nr);
	if (!nr)
		abort(); /* losing count would commit offsets of open traces */
	size_t shift = (size_t)(r->base - nbase);
	for (size_t i = 0; i < r->cap; i++) {
		uint32_t v = r->ring[(r->head + i) % r->cap];
		if (v)
			nr[shift + i] = v; /* < ncap: every pending epoch is <= hi */
	}
	free(r->ring);
	r->ring = nr;
	r->cap = ncap;
	r->head = 0;
	r->base = nbase;
}

static void
lring_add(struct lring *r, uint64_t epoch)
{
	if (r->n == 0) {
		/* empty: restart the ring at this epoch */
		if (r->cap)
			memset(r->ring, 0, r->cap * sizeof *r->ring);
		r->base = epoch;
		r->head = 0;
		r->hi = epoch;
	}
	if (epoch > r->hi)
		r->hi = epoch;
	if (epoch < r->base) {
		size_t need = (size_t)(r->hi - epoch) + 1;
		size_t ncap = r->cap ? r->cap : 64;
		while (ncap < need)
			ncap *= 2;
		relayout(r, ncap, epoch);
	}
	uint64_t idx = epoch - r->base;
	if (idx >= r->cap) {
		size_t ncap = r->cap ? r->cap : 64;
		while (ncap <= idx)
			ncap *= 2;
		relayout(r, ncap, r->base);
	}
	r->ring[(r->head + idx) % r->cap]++;
	r->n++;
}

/* 0, or -1 when nothing of that epoch is pending. */
static int
lring_del(struct lring *r, uint64_t epoch)
{
	uint64_t idx = epoch - r->base;
	if (epoch < r->base || idx >= r->cap || !r->ring[(r->head + idx) % r->cap])
		return -1;
	r->ring[(r->head + idx) % r->cap]--;
	r->n--;
	while (r->n && !r->ring[r->head]) {
		r->head = (r->head + 1) % r->cap;
		r->base++;
	}
	return 0;
}

/* ---- per worker ------------------------------------------------------------ */

static uint32_t
slot_index(const struct op_ledger *l, uint32_t src)
{
	if (!src || src == OP_TRACE_SRC_MANY || OP_SRC_SLOT(src) >= l->n_slots)
		return 0;
	return OP_SRC_SLOT(src) + 1;
}

static void
mark(struct ledger_w *w, uint32_t i)
{
	if (!w->is_dirty[i]) {
		w->is_dirty[i] = 1;
		w->dirty[w->n_dirty++] = i;
	}
}

void
op_ledger_open(struct op_ledger *l, unsigned wi, uint32_t src, uint64_t epoch)
{
	struct ledger_w *w = &l->w[wi];
	if (epoch < w->floor)
		atomic_fetch_add_explicit(&w->anomalies, 1, memory_order_relaxed);
	lring_add(&w->all, epoch);
	uint32_t i = slot_index(l, src);
	lring_add(&w->slot[i], epoch);
	mark(w, i);
	atomic_store_explicit(&w->pending, w->all.n, memory_order_relaxed);
}

void
op_ledger_close(struct op_ledger *l, unsigned wi, uint32_t src, uint64_t epoch)
{
	struct ledger_w *w = &l->w[wi];
	uint32_t i = slot_index(l, src);
	if (lring_del(&w->all, epoch) || lring_del(&w->slot[i], epoch)) {
		/* closing what was never opened: a bug upstream */
		atomic_fetch_add_explicit(&w->anomalies, 1, memory_order_relaxed);
		return;
	}
	mark(w, i);
	atomic_store_explicit(&w->pending, w->all.n, memory_order_relaxed);
}

void
op_ledger_retag(struct op_ledger *l, unsigned wi, uint32_t from, uint32_t to,
                uint64_t epoch)
{
	struct ledger_w *w = &l->w[wi];
	uint32_t a = slot_index(l, from), b = slot_index(l, to);
	if (a == b)
		return;
	if (lring_del(&w->slot[a], epoch)) {
		atomic_fetch_add_explicit(&w->anomalies, 1, memory_order_relaxed);
		return;
	}
	lring_add(&w->slot[b], epoch);
	mark(w, a);
	mark(w, b);
}

void
op_ledger_publish(struct op_ledger *l, unsigned wi, uint64_t closed_below)
{
	struct ledger_w *w = &l->w[wi];
	for (uint32_t k = 0; k < w->n_dirty; k++) {
		uint32_t i = w->dirty[k];
		w->is_dirty[i] = 0;
		const struct lring *r = &w->slot[i];
		atomic_store_explicit(&w->slot_low[i], r->n ? r->base : UINT64_MAX,
		                      memory_order_relaxed);
	}
	w->n_dirty = 0;
	uint64_t low = closed_below;
	if (w->all.n && w->all.base < low)
		low = w->all.base;
	if (low < w->floor)
		low = w->floor; /* monotone: see op_ledger_open's anomaly count */
	w->floor = low;
	if (closed_below > atomic_load_explicit(&w->closed, memory_order_relaxed))
		atomic_store_explicit(&w->closed, closed_below, memory_order_release);
	atomic_store_explicit(&w->low, low, memory_order_release);
}

/* ---- readers (any thread) --------------------------------------------------- */

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
op_ledger_low_slot(const struct op_ledger *l, uint32_t slot)
{
	uint64_t low = UINT64_MAX;
	uint32_t i = slot < l->n_slots ? slot + 1 : 0;
	for (unsigned k = 0; k < l->workers; k++) {
		const struct ledger_w *w = &l->w[k];
		/* closed first: see the top of the file */
		uint64_t v = atomic_load_explicit(&w->closed, memory_order_acquire);
		uint64_t a = atomic_load_explicit(&w->slot_low[i], memory_order_relaxed);
		uint64_t m = atomic_load_explicit(&w->slot_low[0], memory_order_relaxed);
		if (a < v)
			v = a;
		if (m < v)
			v = m;
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

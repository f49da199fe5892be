/*
 * op_peer.c — latency against peers at the same time, and host anomalies
 * (peer.h has the idea and the rules).
 *
 * Layout (peer_int.h): the store's cells, one per (label, host), each
 * with its ring of durations and the same values sorted; an index
 * (label, host) -> cell over a compact key array. Each worker has a lane:
 * per cell a copy of what it judges against (the last refresh's median,
 * reference and thresholds), index-aligned with the store's cells, and an
 * outbox, the durations of the traces it fed (cell, duration), in order.
 * A worker judges and feeds a trace under its own lane's lock only: no
 * lock and no cache line is shared with the other workers on that path.
 * The refresh (every refresh_traces traces and at each epoch close, by
 * whichever worker gets there, under the store's lock) takes each lane's
 * outbox (a pointer swap under the lane's lock), adds its durations to
 * the cells' windows, computes the medians and references, and publishes
 * them into the lanes (under their locks again). With one worker the
 * windows see the same durations in the same order as if each went in
 * when fed: the verdicts are those of a single shared store. The cells
 * stay in the last refresh's (label, median, host) order, which an
 * insertion sort restores in about one pass (medians move little), and
 * each host's reference (the median of the other hosts' medians) is read
 * off its label's group in O(1).
 *
 * Invariants: the set of cells (s->cells, s->keys, s->ix, every lane's
 * cells array, the cell indices in the outboxes) changes only with
 * s->lock and every lane's lock held, in that order (store, then lanes
 * 0..n-1), so a worker holding its lane's lock may read the keys and the
 * index. A worker never takes s->lock while holding its lane's. Cell
 * texts are owned by the cell.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/check/peer_int.h"

void
op_peer_config_default(struct op_peer_config *c)
{
	*c = (struct op_peer_config){
		.enabled = 1,
		.window = 32,
		.min_samples = 8,
		.min_peers = 3,
		.ratio = 3.0,
		.close_ratio = 2.0,
		.floor_ns = 10000000ull,
		.idle_epochs = 600,
		.update_epochs = 100,
		.refresh_traces = 8,
		.update_traces = 1000,
		.max_cells = 65536,
		.max_stride = 16,
		.load_fallback = 1,
		.trace_ratio = 8.0,
		.trace_min_events = 2,
	};
}

struct op_peer_store *
op_peer_store_new(const struct op_peer_config *c, unsigned workers)
{
	struct op_peer_store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->c = *c;
	if (s->c.window < 1)
		s->c.window = 1;
	if (s->c.refresh_traces < 1)
		s->c.refresh_traces = 1;
	if (s->c.max_stride < 1)
		s->c.max_stride = 1;
	s->n_lanes = workers ? workers : 1;
	atomic_init(&s->stride, 1);
	s->lanes = aligned_alloc(alignof(struct peer_lane), s->n_lanes * sizeof *s->lanes);
	s->spare = calloc(s->n_lanes, sizeof *s->spare);
	if (!s->lanes || !s->spare) {
		free(s->lanes);
		free(s->spare);
		free(s);
		return NULL;
	}
	memset(s->lanes, 0, s->n_lanes * sizeof *s->lanes);
	for (unsigned k = 0; k < s->n_lanes; k++)
		pthread_mutex_init(&s->lanes[k].lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void
cell_free(struct peer_cell *c)
{
	free(c->label_text);
	free(c->host_text);
	free(c->ring);
}

void
op_peer_store_free(struct op_peer_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		cell_free(&s->cells[i]);
	for (unsigned k = 0; k < s->n_lanes; k++) {
		struct peer_lane *L = &s->lanes[k];
		free(L->cells);
		free(L->touched);
		free(L->miss);
		free(L->out.e);
		free(s->spare[k].e);
		pthread_mutex_destroy(&L->lock);
	}
	free(s->lanes);
	free(s->cells);
	free(s->keys);
	free(s->ix);
	free(s->by_label);
	free(s->order);
	free(s->lf);
	free(s->spare);
	free(s->remap);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void
lanes_lock(struct op_peer_store *s)
{
	for (unsigned k = 0; k < s->n_lanes; k++)
		pthread_mutex_lock(&s->lanes[k].lock);
}

static void
lanes_unlock(struct op_peer_store *s)
{
	for (unsigned k = s->n_lanes; k-- > 0;)
		pthread_mutex_unlock(&s->lanes[k].lock);
}

static size_t
slot_of(uint64_t label, uint64_t host, size_t cap)
{
	uint64_t h = (label ^ (host * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return (size_t)(h >> 17) & (cap - 1);
}


/* The cell of (label, host), or NO_CELL: under s->lock or any lane's. */
static uint32_t
cell_find(const struct op_peer_store *s, uint64_t label, uint64_t host)
{
	if (!s->cap_ix)
		return NO_CELL;
	size_t j = slot_of(label, host, s->cap_ix);
	uint32_t e;
	while ((e = s->ix[j])) {
		const struct peer_id *k = &s->keys[e - 1];
		if (k->label == label && k->host == host)
			return e - 1;
		j = (j + 1) & (s->cap_ix - 1);
	}
	return NO_CELL;
}

/* Puts cell i into the index ix of cap slots (a power of two). */
static void
ix_put(uint32_t *ix, size_t cap, const struct peer_id *k, uint32_t i)
{
	size_t j = slot_of(k->label, k->host, cap);
	while (ix[j])
		j = (j + 1) & (cap - 1);
	ix[j] = i + 1;
}

static int
index_rebuild(struct op_peer_store *s, size_t want)
{
	size_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	uint32_t *ix = calloc(cap, sizeof *ix);
	if (!ix)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		ix_put(ix, cap, &s->keys[i], (uint32_t)i);
	free(s->ix);
	s->ix = ix;
	s->cap_ix = cap;
	return 0;
}

/* The cell of the event's (label, host), created when new (in the store
 * and in every lane); NO_CELL when out of memory or at max_cells
 * (counted). Under s->lock and every lane's lock. */
static uint32_t
cell_get(struct op_peer_store *s, const struct op_trace *t, const struct op_trace_event *ev,
         uint64_t epoch)
{
	uint32_t i = cell_find(s, ev->label_sym, ev->host_sym);
	if (i != NO_CELL)
		return i;
	if (s->n >= s->c.max_cells) {
		s->st.cells_dropped++;
		return NO_CELL;
	}
	if ((s->n + 1) * 2 > s->cap_ix && index_rebuild(s, s->n + 1))
		return NO_CELL;
	if (WEFT_GROW(s->cells, s->cap, s->n + 1, 64) ||
	    WEFT_GROW(s->keys, s->cap_keys, s->n + 1, 64))
		return NO_CELL;
	for (unsigned k = 0; k < s->n_lanes; k++)
		if (WEFT_GROW(s->lanes[k].cells, s->lanes[k].cap, s->n + 1, 64))
			return NO_CELL;
	struct peer_cell *c = &s->cells[s->n];
	memset(c, 0, sizeof *c);
	c->last_epoch = epoch;
	c->ring = malloc(2 * (size_t)s->c.window * sizeof *c->ring);
	c->sorted = c->ring ? c->ring + s->c.window : NULL;
	c->label_text = strdup(op_trace_str(t, ev->label));
	c->host_text = strdup(op_trace_str(t, ev->host));
	if (!c->ring || !c->label_text || !c->host_text) {
		cell_free(c);
		return NO_CELL;
	}
	for (unsigned k = 0; k < s->n_lanes; k++)
		memset(&s->lanes[k].cells[s->n], 0, sizeof s->lanes[k].cells[s->n]);
	s->keys[s->n] = (struct peer_id){ev->label_sym, ev->host_sym};
	ix_put(s->ix, s->cap_ix, &s->keys[s->n], (uint32_t)s->n);
	s->by_label_stale = 1;
	return (uint32_t)s->n++;
}

/* How many of the sorted a[0..n) are below v (the first place of v): a
 * branch-free binary search (its loop count depends on n only, so no
 * mispredicted branches; a branching search was the hot spot once, a
 * linear count cost 8 instructions a value). */
static uint32_t
rank_of(const uint64_t *a, uint32_t n, uint64_t v)
{
	if (!n)
		return 0;
	const uint64_t *b = a;
	while (n > 1) {
		uint32_t half = n / 2;
		b += (size_t)(b[half - 1] < v) * half;
		n -= half;
	}
	return (uint32_t)(b - a) + (*b < v);
}

/* Adds d to the cell's window, evicting the oldest when full: the ring
 * and its sorted copy stay the same multiset. A full window moves only
 * the values between the old one's place and the new one's. */
static void
cell_add(struct peer_cell *c, uint32_t window, uint64_t d)
{
	uint64_t *a = c->sorted;
	if (c->n == window) {
		uint64_t old = c->ring[c->pos];
		uint32_t p = rank_of(a, c->n, old); /* where old sits (the first equal) */
		uint32_t q = rank_of(a, c->n, d) - (old < d); /* d's place without old */
		if (q >= p)
			memmove(a + p, a + p + 1, (size_t)(q - p) * sizeof *a);
		else
			memmove(a + q + 1, a + q, (size_t)(p - q) * sizeof *a);
		a[q] = d;
	} else {
		uint32_t q = rank_of(a, c->n, d);
		memmove(a + q + 1, a + q, (size_t)(c->n - q) * sizeof *a);
		a[q] = d;
		c->n++;
	}
	c->ring[c->pos] = d;
	if (++c->pos == window)
		c->pos = 0;
}

static uint64_t
ring_median(const struct peer_cell *c)
{
	if (!c->n)
		return 0;
	return c->n % 2 ? c->sorted[c->n / 2] : (c->sorted[c->n / 2 - 1] + c->sorted[c->n / 2]) / 2;
}

static int
outbox_push(struct peer_outbox *o, uint32_t cell, uint64_t d)
{
	if (o->n == o->cap && WEFT_GROW(o->e, o->cap, o->n + 1, 1024))
		return WEFT_ENOMEM;
	o->e[o->n++] = (struct peer_fed){cell, 0, d};
	return 0;
}

/* Takes every lane's outbox (leaving it an empty one) and adds its
 * durations to the cells' windows, lane by lane, in the order fed. Under
 * s->lock; takes each lane's lock for the swap only. */
static void
drain(struct op_peer_store *s)
{
	for (unsigned k = 0; k < s->n_lanes; k++) {
		struct peer_lane *L = &s->lanes[k];
		struct peer_outbox *o = &s->spare[k];
		pthread_mutex_lock(&L->lock);
		struct peer_outbox t = L->out;
		L->out = *o;
		pthread_mutex_unlock(&L->lock);
		*o = t;
		uint64_t epoch = 0;
		for (size_t j = 0; j < o->n; j++) {
			const struct peer_fed *f = &o->e[j];
			if (f->cell == NO_CELL) {
				epoch = f->d;
				continue;
			}
			struct peer_cell *c = &s->cells[f->cell];
			cell_add(c, s->c.window, f->d);
			c->adds++;
			if (epoch > c->last_epoch)
				c->last_epoch = epoch;
		}
		o->n = 0;
	}
}

/* A lower bound of the integers d with (double)d >= x, exact below 2^53
 * (every duration there is): an integer pre-test before the exact one. */
static uint64_t
at_least(double x)
{
	if (!(x > 0.0))
		return 0;
	if (x >= 9007199254740992.0)
		return 9007199254740992ull;
	return (uint64_t)ceil(x);
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* What the lanes judge against, from the refresh. Under every lock. */
static void
publish(struct op_peer_store *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct peer_cell *c = &s->cells[i];
		double ref = (double)c->ref;
		uint64_t hit_at = c->anom && c->ref
		                  ? max_u64(c->ref + s->c.floor_ns, at_least(s->c.ratio * ref)) : 0;
		uint64_t whole_at = max_u64(c->ref + s->c.floor_ns, at_least(s->c.trace_ratio * ref));
		for (unsigned k = 0; k < s->n_lanes; k++) {
			struct peer_wcell *w = &s->lanes[k].cells[i];
			w->ref = c->ref;
			w->med = c->med;
			w->n_peers = c->n_peers;
			w->n = c->n;
			w->hit_at = hit_at;
			w->whole_at = whole_at;
		}
	}
	atomic_store_explicit(&s->any_open, s->st.opened > s->st.closed, memory_order_relaxed);
}

static int
record(struct weft_buf *out, const struct peer_cell *c, const char *state, uint64_t epoch,
       uint64_t traces)
{
	double ratio = c->ref ? (double)c->med / (double)c->ref : 0.0;
	int rc = weft_buf_printf(out, "{\"type\":\"host_anomaly\",\"schema_version\":1,"
	                              "\"state\":\"%s\",\"host\":", state);
	rc = rc ? rc : weft_buf_str(out, c->host_text);
	rc = rc ? rc : weft_buf_printf(out, ",\"label\":");
	rc = rc ? rc : weft_buf_str(out, c->label_text);
	rc = rc ? rc : weft_buf_printf(out,
	    ",\"since_epoch\":%" PRIu64 ",\"epoch\":%" PRIu64 ",\"since_trace\":%" PRIu64
	    ",\"trace\":%" PRIu64 ",\"since_unix_ms\":%" PRIu64
	    ",\"host_median_ns\":%" PRIu64 ",\"peers_median_ns\":%" PRIu64
	    ",\"n_peers\":%u,\"samples\":%u,\"ratio\":%.2f,\"reference\":\"%s\",\"explanation\":",
	    c->since_epoch, epoch, c->since_trace, traces, c->since_unix_ms, c->med, c->ref, c->n_peers, c->n, ratio,
	    c->n_peers ? "peers" : "learned x load");
	char text[512], of[32] = "learned x current load";
	if (c->n_peers)
		snprintf(of, sizeof of, "on %u peers", c->n_peers);
	snprintf(text, sizeof text, "%s slow for %s since epoch %" PRIu64
	         " (p50 %.1f ms against %.1f ms %s)%s",
	         c->host_text, c->label_text, c->since_epoch, (double)c->med / 1e6,
	         (double)c->ref / 1e6, of, strcmp(state, "close") ? "" : ": ended");
	rc = rc ? rc : weft_buf_str(out, text);
	rc = rc ? rc : weft_buf_printf(out, "}\n");
	return rc;
}

static uint64_t
unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Drops the cells idle for idle_epochs (closing their anomalies), in the
 * store and in every lane (whose outboxes' cell indices follow). Under
 * s->lock; takes the lanes' locks when a cell goes. */
static int
drop_idle(struct op_peer_store *s, uint64_t epoch, struct weft_buf *out)
{
	size_t i = 0;
	while (i < s->n && s->cells[i].last_epoch + s->c.idle_epochs >= epoch)
		i++;
	if (i == s->n)
		return 0;
	if (WEFT_GROW(s->remap, s->cap_remap, s->n, 64))
		return WEFT_ENOMEM;
	lanes_lock(s);
	size_t k = 0;
	int rc = 0;
	for (i = 0; i < s->n; i++) {
		struct peer_cell *c = &s->cells[i];
		if (c->last_epoch + s->c.idle_epochs >= epoch) {
			s->remap[i] = (uint32_t)k;
			s->cells[k] = *c;
			s->keys[k] = s->keys[i];
			for (unsigned l = 0; l < s->n_lanes; l++)
				s->lanes[l].cells[k] = s->lanes[l].cells[i];
			k++;
			continue;
		}
		s->remap[i] = NO_CELL;
		if (c->anom) {
			rc = rc ? rc : record(out, c, "close", epoch,
			                      atomic_load_explicit(&s->traces, memory_order_relaxed));
			s->st.closed++;
		}
		cell_free(c);
	}
	/* durations fed since the drain: their cells' new places (a dropped
	 * cell's stay out: the epoch markers keep their place) */
	for (unsigned l = 0; l < s->n_lanes; l++) {
		struct peer_outbox *o = &s->lanes[l].out;
		size_t m = 0;
		for (size_t j = 0; j < o->n; j++) {
			struct peer_fed f = o->e[j];
			if (f.cell != NO_CELL && (f.cell = s->remap[f.cell]) == NO_CELL)
				continue;
			o->e[m++] = f;
		}
		o->n = m;
	}
	s->n = k;
	s->by_label_stale = 1;
	int r2 = index_rebuild(s, s->n + 1);
	lanes_unlock(s);
	return rc ? rc : r2;
}

/* By (label, med, host): the refresh's order, a total one. */
static int
cmp_lkey(const void *a, const void *b)
{
	const struct peer_lkey *x = a, *y = b;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	if (x->med != y->med)
		return x->med < y->med ? -1 : 1;
	return x->host < y->host ? -1 : x->host > y->host;
}

/* Sets med for every cell and returns how many are live (in s->order,
 * sorted by (label, med, host)). by_label keeps every cell in the last
 * refresh's order: medians move little between refreshes, so an
 * insertion sort puts it back in order in about one pass (a qsort when
 * cells came or went). */
static size_t
medians(struct op_peer_store *s)
{
	if (s->by_label_stale)
		for (size_t i = 0; i < s->n; i++)
			s->by_label[i] = (struct peer_lkey){s->keys[i].label, s->keys[i].host, 0,
			                                    (uint32_t)i, 0};
	for (size_t j = 0; j < s->n; j++) {
		struct peer_cell *c = &s->cells[s->by_label[j].cell];
		c->med = c->n >= s->c.min_samples ? ring_median(c) : 0;
		c->ref = 0;
		c->n_peers = 0;
		s->by_label[j].med = c->med;
	}
	struct peer_lkey *g = s->by_label;
	if (s->by_label_stale) {
		qsort(g, s->n, sizeof *g, cmp_lkey);
		s->by_label_stale = 0;
	} else {
		for (size_t x = 1; x < s->n; x++) {
			struct peer_lkey k = g[x];
			size_t y = x;
			for (; y > 0 && cmp_lkey(&g[y - 1], &k) > 0; y--)
				g[y] = g[y - 1];
			g[y] = k;
		}
	}
	size_t live = 0;
	for (size_t a = 0; a < s->n;) {
		size_t b = a, first = live;
		for (; b < s->n && g[b].label == g[a].label; b++)
			if (g[b].med)
				s->order[live++] = (struct peer_key){g[b].label, g[b].med, g[b].host,
				                                     g[b].cell, 0};
		for (size_t j = first; j < live; j++)
			s->order[j].hosts = (uint32_t)(b - a);
		a = b;
	}
	return live;
}

/* The current load factor: median over labels with peers of (their
 * peers' median now / learned median). 0 when unknown. */
static double
load_factor(struct op_peer_store *s, size_t live, const struct cluster_model *m)
{
	if (WEFT_GROW(s->lf, s->cap_lf, live + 1, 64))
		return 0.0;
	double *f = s->lf;
	size_t nf = 0;
	for (size_t a = 0; a < live;) {
		size_t b = a;
		uint64_t lab = s->order[a].label;
		while (b < live && s->order[b].label == lab)
			b++;
		uint64_t learned = cluster_model_label_median(m, lab);
		if (b - a > s->c.min_peers && learned) {
			uint64_t now = s->order[a + (b - a) / 2].med;
			f[nf++] = (double)now / (double)learned;
		}
		a = b;
	}
	double r = 0.0;
	if (nf) {
		for (size_t i = 1; i < nf; i++) /* insertion sort: a few dozen labels */
			for (size_t j = i; j > 0 && f[j - 1] > f[j]; j--) {
				double x = f[j];
				f[j] = f[j - 1];
				f[j - 1] = x;
			}
		r = nf % 2 ? f[nf / 2] : (f[nf / 2 - 1] + f[nf / 2]) / 2;
	}
	return r;
}

/* Sets ref / n_peers of the live cells from the sorted groups. */
static void
references(struct op_peer_store *s, size_t live, const struct cluster_model *m)
{
	double lf = s->c.load_fallback && m ? load_factor(s, live, m) : 0.0;
	s->st.load_factor = lf;
	/* never below the learned figure: the learned medians are of each
	 * label's longest event per trace, the windows' of every event, so a
	 * factor under 1 is as likely that bias as a faster cluster */
	if (lf > 0.0 && lf < 1.0)
		lf = 1.0;
	for (size_t a = 0; a < live;) {
		size_t b = a;
		uint64_t lab = s->order[a].label;
		while (b < live && s->order[b].label == lab)
			b++;
		size_t k = b - a;
		if (k - 1 >= s->c.min_peers) {
			for (size_t i = a; i < b; i++) {
				struct peer_cell *c = &s->cells[s->order[i].cell];
				/* the median of the others' medians, off the sorted group */
				size_t skip = i - a;
				size_t mm = k - 1, lo = (mm - 1) / 2, hi = mm / 2;
				uint64_t vlo = s->order[a + (lo >= skip ? lo + 1 : lo)].med;
				uint64_t vhi = s->order[a + (hi >= skip ? hi + 1 : hi)].med;
				c->ref = (vlo + vhi) / 2;
				c->n_peers = (uint32_t)(k - 1);
			}
		} else if (lf > 0.0 && s->order[a].hosts == 1) {
			/* no other host does it at all (one NameNode); a label whose
			 * peers have too few samples yet waits for them */
			uint64_t learned = cluster_model_label_median(m, lab);
			for (size_t i = a; i < b && learned; i++)
				s->cells[s->order[i].cell].ref = (uint64_t)((double)learned * lf);
		}
		a = b;
	}
}

/* At high rates a window refills many times between refreshes and
 * feeding every trace buys nothing: when most windows took in more than a
 * quarter of their size since the last refresh, only every stride-th trace
 * feeds them (stride doubles, up to max_stride); below a sixteenth it
 * halves again. Every trace is still judged while an anomaly is open. */
static void
adapt_stride(struct op_peer_store *s)
{
	size_t fed = 0, full = 0, thin = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct peer_cell *c = &s->cells[i];
		if (!c->adds)
			continue;
		fed++;
		full += c->adds * 4 >= s->c.window;
		thin += c->adds * 16 < s->c.window;
		c->adds = 0;
	}
	uint32_t stride = atomic_load_explicit(&s->stride, memory_order_relaxed);
	if (fed && full * 2 > fed && stride < s->c.max_stride)
		stride *= 2;
	else if ((!fed || thin * 2 > fed) && stride > 1)
		stride /= 2;
	atomic_store_explicit(&s->stride, stride, memory_order_relaxed);
	s->st.stride = stride;
}

/* Under s->lock (it takes the lanes'): the lanes' outboxes into the
 * windows, medians, references, anomalies opened / updated / closed (their
 * records appended to out), and what the lanes judge against. */
static int
refresh(struct op_peer_store *s, uint64_t epoch, const struct cluster_model *m,
        struct weft_buf *out)
{
	s->st.refreshes++;
	atomic_store_explicit(&s->since_refresh, 0, memory_order_relaxed);
	uint64_t traces = atomic_load_explicit(&s->traces, memory_order_relaxed);
	drain(s);
	int rc = drop_idle(s, epoch, out);
	/* the rest reads only the store's cells (whose set cannot change
	 * without s->lock): the workers go on meanwhile */
	if (WEFT_GROW(s->order, s->cap_order, s->n + 1, 64) ||
	    WEFT_GROW(s->by_label, s->cap_by_label, s->n + 1, 64))
		return WEFT_ENOMEM;
	size_t live = medians(s);
	references(s, live, m);
	adapt_stride(s);
	for (size_t i = 0; i < s->n; i++) {
		struct peer_cell *c = &s->cells[i];
		/* shifted as a whole, not a few long requests: its lower
		 * quartile too is above close_ratio x the reference to open,
		 * above the reference to stay open */
		double ref = (double)c->ref, q25 = c->n ? (double)c->sorted[c->n / 4] : 0.0;
		int far = c->med && c->ref && c->med >= c->ref + s->c.floor_ns;
		int open = far && (double)c->med >= s->c.ratio * ref &&
		           q25 >= s->c.close_ratio * ref;
		int stay = far && (double)c->med >= s->c.close_ratio * ref && q25 >= ref;
		if (!c->anom && open) {
			c->anom = 1;
			c->since_epoch = c->reported_epoch = epoch;
			c->since_trace = c->reported_trace = traces;
			c->since_unix_ms = unix_ms();
			s->st.opened++;
			rc = rc ? rc : record(out, c, "open", epoch, traces);
		} else if (c->anom && !stay) {
			c->anom = 0;
			s->st.closed++;
			rc = rc ? rc : record(out, c, "close", epoch, traces);
		} else if (c->anom && (epoch >= c->reported_epoch + s->c.update_epochs ||
		                       traces >= c->reported_trace + s->c.update_traces)) {
			c->reported_epoch = epoch;
			c->reported_trace = traces;
			rc = rc ? rc : record(out, c, "update", epoch, traces);
		}
	}
	lanes_lock(s);
	publish(s);
	lanes_unlock(s);
	s->st.cells = s->n;
	return rc;
}

int
op_peer_epoch(struct op_peer_store *s, uint64_t epoch, const struct cluster_model *m,
              struct weft_buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	if (s->refreshed <= epoch) {
		s->refreshed = epoch + 1;
		rc = refresh(s, epoch, m, out);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Marks cell i as used by the lane's trace seq (its per-trace counts
 * start at 0). 0, or WEFT_ENOMEM (the cell is then not judged for this
 * trace). */
static int
touch(struct peer_lane *L, struct peer_wcell *w, uint32_t i, uint64_t seq)
{
	if (w->tr_seq == seq)
		return 0;
	if (L->n_touched == L->cap_touched &&
	    WEFT_GROW(L->touched, L->cap_touched, L->n_touched + 1, 64))
		return WEFT_ENOMEM;
	L->touched[L->n_touched++] = i;
	w->tr_seq = seq;
	w->tr_n = w->tr_over = 0;
	w->tr_max = 0;
	return 0;
}

/* A trace slowed on one host as a whole, with no host anomaly open: at
 * least trace_min_events of its events of one label on one host, and
 * most of those events, took >= trace_ratio x what the peers take now
 * (the ref of the last refresh). One event far in the tail is not enough
 * (traces of hundreds of events nearly always have one); a request whose
 * work on one host was slowed throughout is. Load that slows every host
 * moves the reference with it. Names the slowest such event. */
static void
slow_on_its_own(struct op_peer_store *s, struct peer_lane *L, struct op_peer_hit *hit)
{
	double best = 0.0;
	for (size_t k = 0; k < L->n_touched; k++) {
		const struct peer_wcell *w = &L->cells[L->touched[k]];
		if (w->tr_over < s->c.trace_min_events || 2u * w->tr_over < w->tr_n)
			continue;
		double r = (double)w->tr_max / (double)w->ref;
		if (r > best) {
			best = r;
			*hit = (struct op_peer_hit){(int32_t)w->tr_node, w->tr_max, w->med,
			                            w->ref, w->n_peers, w->n};
		}
	}
	if (hit->node >= 0)
		L->slow_whole++;
}

/* The events of a fed trace whose (label, host) had no cell yet: the
 * cells made (under every lock), their durations into the lane's
 * outbox, in the trace's order. */
static int
feed_new(struct op_peer_store *s, struct peer_lane *L, const struct op_trace *t,
         const uint32_t *miss, size_t n_miss, uint64_t epoch)
{
	const struct op_trace_event *ev = op_trace_events(t);
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	lanes_lock(s);
	if (outbox_push(&L->out, NO_CELL, epoch))
		rc = WEFT_ENOMEM;
	for (size_t k = 0; k < n_miss && !rc; k++) {
		const struct op_trace_event *e = &ev[miss[k]];
		uint32_t i = cell_get(s, t, e, epoch);
		if (i == NO_CELL) {
			if (s->n < s->c.max_cells)
				rc = WEFT_ENOMEM;
			continue;
		}
		if (outbox_push(&L->out, i, e->end_ns - e->start_ns))
			rc = WEFT_ENOMEM;
	}
	lanes_unlock(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int
op_peer_observe(struct op_peer_store *s, unsigned worker, const struct op_trace *t,
                uint64_t epoch, const struct cluster_model *m, struct op_peer_hit *hit,
                struct weft_buf *out)
{
	const struct op_trace_event *ev = op_trace_events(t);
	struct peer_lane *L = &s->lanes[worker % s->n_lanes];
	double best = 0.0;
	int rc = 0;
	hit->node = -1;
	/* each event is judged against the state of the last refresh (its
	 * own duration goes in after): only while some anomaly is open */
	int judge = atomic_load_explicit(&s->any_open, memory_order_relaxed);
	int whole = s->c.trace_ratio > 0.0; /* the trace itself, see below */
	uint64_t traces = atomic_load_explicit(&s->traces, memory_order_relaxed);
	int feed = traces % atomic_load_explicit(&s->stride, memory_order_relaxed) == 0;
	size_t n_miss = 0;
	pthread_mutex_lock(&L->lock);
	uint64_t seq = ++L->seq;
	L->n_touched = 0;
	if (!feed)
		L->skipped_traces++;
	else if (outbox_push(&L->out, NO_CELL, epoch))
		feed = 0, rc = WEFT_ENOMEM;
	uint64_t last_label = 0, last_host = 0;
	uint32_t ci = NO_CELL;
	for (uint32_t i = 0; i < t->n_events && (feed || judge || whole); i++) {
		if (!(ev[i].flags & OP_TEV_HAS_END) || ev[i].end_ns < ev[i].start_ns)
			continue;
		uint64_t d = ev[i].end_ns - ev[i].start_ns;
		if (ci == NO_CELL || ev[i].label_sym != last_label || ev[i].host_sym != last_host) {
			last_label = ev[i].label_sym;
			last_host = ev[i].host_sym;
			ci = cell_find(s, last_label, last_host);
		}
		if (ci == NO_CELL) {
			if (!feed)
				continue;
			/* new cells: made after the loop (feed_new) */
			if (n_miss == L->cap_miss &&
			    WEFT_GROW(L->miss, L->cap_miss, n_miss + 1, 64)) {
				rc = WEFT_ENOMEM;
				continue;
			}
			L->miss[n_miss++] = i;
			continue;
		}
		struct peer_wcell *w = &L->cells[ci];
		/* hit_at and whole_at include ref + floor_ns (publish); the
		 * double compare is the exact one above 2^53 */
		if (judge && w->hit_at && d >= w->hit_at &&
		    (double)d >= s->c.ratio * (double)w->ref) {
			double r = (double)d / (double)w->ref;
			if (r > best) {
				best = r;
				*hit = (struct op_peer_hit){(int32_t)i, d, w->med, w->ref, w->n_peers, w->n};
			}
		}
		if (whole && w->ref && touch(L, w, ci, seq) == 0) {
			w->tr_n++;
			if (d >= w->whole_at &&
			    (double)d >= s->c.trace_ratio * (double)w->ref) {
				w->tr_over++;
				if (d > w->tr_max) {
					w->tr_max = d;
					w->tr_node = i;
				}
			}
		}
		if (feed && outbox_push(&L->out, ci, d))
			rc = WEFT_ENOMEM;
	}
	if (hit->node < 0 && whole)
		slow_on_its_own(s, L, hit);
	if (hit->node >= 0)
		L->slow_traces++;
	int full = L->out.n >= OUTBOX_MAX;
	pthread_mutex_unlock(&L->lock);
	if (n_miss) { /* L->miss is this worker's alone: no lock needed */
		int r2 = feed_new(s, L, t, L->miss, n_miss, epoch);
		rc = rc ? rc : r2;
	}
	atomic_fetch_add_explicit(&s->traces, 1, memory_order_relaxed);
	int due = atomic_fetch_add_explicit(&s->since_refresh, 1, memory_order_relaxed) + 1 >=
	          s->c.refresh_traces;
	/* with more workers, one that finds another refreshing goes on (the
	 * count stays due for its next trace); with one, nothing waits */
	if ((due || full) &&
	    (s->n_lanes == 1 ? pthread_mutex_lock(&s->lock) : pthread_mutex_trylock(&s->lock)) == 0) {
		if (atomic_load_explicit(&s->since_refresh, memory_order_relaxed) >=
		    s->c.refresh_traces) {
			int r2 = refresh(s, epoch, m, out);
			rc = rc ? rc : r2;
		} else if (full) {
			drain(s); /* a long trace's durations, not kept in the outbox */
		}
		pthread_mutex_unlock(&s->lock);
	}
	return rc ? rc : hit->node >= 0;
}

void
op_peer_stats(struct op_peer_store *s, struct op_peer_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	out->open_now = out->opened - out->closed;
	out->cells = s->n;
	lanes_lock(s);
	for (unsigned k = 0; k < s->n_lanes; k++) {
		out->slow_traces += s->lanes[k].slow_traces;
		out->slow_whole += s->lanes[k].slow_whole;
		out->skipped_traces += s->lanes[k].skipped_traces;
	}
	lanes_unlock(s);
	pthread_mutex_unlock(&s->lock);
}

void
op_peer_each_open(struct op_peer_store *s,
                  void (*fn)(void *arg, const char *host, const char *label,
                             uint64_t host_median_ns, uint64_t peers_median_ns,
                             uint32_t n_peers, uint64_t since_epoch),
                  void *arg)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct peer_cell *c = &s->cells[i];
		if (c->anom)
			fn(arg, c->host_text, c->label_text, c->med, c->ref, c->n_peers,
			   c->since_epoch);
	}
	pthread_mutex_unlock(&s->lock);
}

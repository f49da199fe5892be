/*
 * op_peer.c — latency against peers at the same time, and host anomalies
 * (peer.h has the idea and the rules).
 *
 * Layout: an array of cells, one per (label, host), each with its ring of
 * durations; an open-addressing index (label, host) -> cell, rebuilt when
 * idle cells are dropped at a refresh. The refresh sorts the live cells by
 * (label, median) once per epoch, so each host's reference (the median of
 * the other hosts' medians) is read off the sorted group in O(1).
 *
 * Invariant: everything here is guarded by `lock`; cell texts are owned by
 * the cell and freed with it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/check/peer.h"

struct peer_cell {
	uint64_t label, host;
	uint64_t last_epoch;
	uint64_t med, ref;       /* at the last refresh; 0: not enough samples */
	uint32_t n_peers;
	uint32_t n, pos;         /* ring fill and next slot */
	uint32_t adds;           /* durations added since the last refresh */
	int anom;                /* an open host anomaly */
	uint64_t since_epoch, reported_epoch;
	uint64_t since_trace, reported_trace; /* traces observed by then */
	uint64_t since_unix_ms;
	uint64_t tr_seq;         /* the trace being judged (s->traces + 1) */
	uint32_t tr_n, tr_over;  /* its events here, and those >= trace_ratio x ref */
	uint32_t tr_node;        /* its slowest event here */
	uint64_t tr_max;         /* that event's duration */
	char *label_text, *host_text;
	uint64_t *ring;          /* [window], in arrival order */
	uint64_t *sorted;        /* [window], the same values sorted: the
	                          * median is read in O(1) */
};

struct peer_key { /* a live cell in the refresh's sort */
	uint64_t label, med, host;
	uint32_t cell, pad;
};

struct op_peer_store {
	struct op_peer_config c;
	pthread_mutex_t lock;
	struct peer_cell *cells;
	size_t n, cap;
	uint32_t *ix;            /* cell index + 1, 0 = empty; cap_ix a power of two */
	size_t cap_ix;
	struct peer_key *order;  /* scratch: live cells sorted by (label, med) */
	uint64_t refreshed;      /* last epoch refreshed + 1 (0: none) */
	uint64_t traces;         /* traces observed */
	uint32_t since_refresh;  /* of them since the last refresh */
	uint32_t stride;         /* every stride-th trace feeds the windows */
	struct op_peer_stats st;
	uint32_t *touched;       /* scratch: cells the trace being judged used */
	size_t n_touched, cap_touched;
};

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
op_peer_store_new(const struct op_peer_config *c)
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
	s->stride = 1;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void
cell_free(struct peer_cell *c)
{
	free(c->label_text);
	free(c->host_text);
	free(c->ring);
	free(c->sorted);
}

void
op_peer_store_free(struct op_peer_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		cell_free(&s->cells[i]);
	free(s->cells);
	free(s->ix);
	free(s->order);
	free(s->touched);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static size_t
slot_of(uint64_t label, uint64_t host, size_t cap)
{
	uint64_t h = (label ^ (host * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return (size_t)(h >> 17) & (cap - 1);
}

static struct peer_cell *
cell_find(struct op_peer_store *s, uint64_t label, uint64_t host)
{
	if (!s->cap_ix)
		return NULL;
	size_t j = slot_of(label, host, s->cap_ix);
	while (s->ix[j]) {
		struct peer_cell *c = &s->cells[s->ix[j] - 1];
		if (c->label == label && c->host == host)
			return c;
		j = (j + 1) & (s->cap_ix - 1);
	}
	return NULL;
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
	for (size_t i = 0; i < s->n; i++) {
		size_t j = slot_of(s->cells[i].label, s->cells[i].host, cap);
		while (ix[j])
			j = (j + 1) & (cap - 1);
		ix[j] = (uint32_t)i + 1;
	}
	free(s->ix);
	s->ix = ix;
	s->cap_ix = cap;
	return 0;
}

/* The cell of (label, host), created when new; NULL when out of memory or
 * at max_cells (counted). */
static struct peer_cell *
cell_get(struct op_peer_store *s, const struct op_trace *t, const struct op_trace_event *ev,
         uint64_t epoch)
{
	if ((s->n + 1) * 2 > s->cap_ix && index_rebuild(s, s->n + 1))
		return NULL;
	size_t j = slot_of(ev->label_sym, ev->host_sym, s->cap_ix);
	while (s->ix[j]) {
		struct peer_cell *c = &s->cells[s->ix[j] - 1];
		if (c->label == ev->label_sym && c->host == ev->host_sym)
			return c;
		j = (j + 1) & (s->cap_ix - 1);
	}
	if (s->n >= s->c.max_cells) {
		s->st.cells_dropped++;
		return NULL;
	}
	if (WEFT_GROW(s->cells, s->cap, s->n + 1, 64))
		return NULL;
	struct peer_cell *c = &s->cells[s->n];
	memset(c, 0, sizeof *c);
	c->label = ev->label_sym;
	c->host = ev->host_sym;
	c->last_epoch = epoch;
	c->ring = malloc(s->c.window * sizeof *c->ring);
	c->sorted = malloc(s->c.window * sizeof *c->sorted);
	c->label_text = strdup(op_trace_str(t, ev->label));
	c->host_text = strdup(op_trace_str(t, ev->host));
	if (!c->ring || !c->sorted || !c->label_text || !c->host_text) {
		cell_free(c);
		return NULL;
	}
	s->ix[j] = (uint32_t)s->n + 1;
	s->n++;
	return c;
}

/* How many of a[0..n) are below v: a branch-free count, no mispredicted
 * branches on a window this small (a binary search was the hot spot). */
static uint32_t
rank_of(const uint64_t *a, uint32_t n, uint64_t v)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		k += a[i] < v;
	return k;
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
	return c->n % 2 ? c->sorted[c->n / 2] : (c->sorted[c->n / 2 - 1] + c->sorted[c->n / 2]) / 2;
}

static int
cmp_key(const void *a, const void *b)
{
	const struct peer_key *x = a, *y = b;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	if (x->med != y->med)
		return x->med < y->med ? -1 : 1;
	return x->host < y->host ? -1 : x->host > y->host;
}

static int
record(struct op_peer_store *s, struct weft_buf *out, const struct peer_cell *c,
       const char *state, uint64_t epoch)
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
	    c->since_epoch, epoch, c->since_trace, s->traces, c->since_unix_ms, c->med, c->ref, c->n_peers, c->n, ratio,
	    c->n_peers ? "peers" : "learned x load");
	char text[512];
	if (c->n_peers)
		snprintf(text, sizeof text, "%s slow for %s since epoch %" PRIu64
		         " (p50 %.1f ms against %.1f ms on %u peers)%s",
		         c->host_text, c->label_text, c->since_epoch, (double)c->med / 1e6,
		         (double)c->ref / 1e6, c->n_peers, strcmp(state, "close") ? "" : ": ended");
	else
		snprintf(text, sizeof text, "%s slow for %s since epoch %" PRIu64
		         " (p50 %.1f ms against %.1f ms learned x current load)%s",
		         c->host_text, c->label_text, c->since_epoch, (double)c->med / 1e6,
		         (double)c->ref / 1e6, strcmp(state, "close") ? "" : ": ended");
	rc = rc ? rc : weft_buf_str(out, text);
	rc = rc ? rc : weft_buf_printf(out, "}\n");
	(void)s;
	return rc;
}

static uint64_t
unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Drops the cells idle for idle_epochs (closing their anomalies). */
static int
drop_idle(struct op_peer_store *s, uint64_t epoch, struct weft_buf *out)
{
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct peer_cell *c = &s->cells[i];
		if (c->last_epoch + s->c.idle_epochs >= epoch) {
			s->cells[k++] = *c;
			continue;
		}
		if (c->anom) {
			rc = rc ? rc : record(s, out, c, "close", epoch);
			s->st.closed++;
		}
		cell_free(c);
	}
	if (k == s->n)
		return rc;
	s->n = k;
	int r2 = index_rebuild(s, s->n + 1);
	return rc ? rc : r2;
}

/* Sets med for every cell and returns how many are live (in s->order). */
static size_t
medians(struct op_peer_store *s)
{
	size_t live = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct peer_cell *c = &s->cells[i];
		c->med = c->n >= s->c.min_samples ? ring_median(c) : 0;
		c->ref = 0;
		c->n_peers = 0;
		if (c->med)
			s->order[live++] = (struct peer_key){c->label, c->med, c->host, (uint32_t)i};
	}
	qsort(s->order, live, sizeof *s->order, cmp_key);
	return live;
}

/* The current load factor: median over labels with peers of (their
 * peers' median now / learned median). 0 when unknown. */
static double
load_factor(struct op_peer_store *s, size_t live, const struct cluster_model *m)
{
	double *f = malloc((live + 1) * sizeof *f);
	size_t nf = 0;
	if (!f)
		return 0.0;
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
	free(f);
	return r;
}

/* Hosts with a cell for the label, live or not (2 at most: enough to know). */
static unsigned
label_hosts(const struct op_peer_store *s, uint64_t label)
{
	unsigned k = 0;
	for (size_t i = 0; i < s->n && k < 2; i++)
		k += s->cells[i].label == label;
	return k;
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
		} else if (lf > 0.0 && label_hosts(s, lab) == 1) {
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
	if (fed && full * 2 > fed && s->stride < s->c.max_stride)
		s->stride *= 2;
	else if ((!fed || thin * 2 > fed) && s->stride > 1)
		s->stride /= 2;
	s->st.stride = s->stride;
}

/* Under the lock: medians, references, anomalies opened / updated /
 * closed (their records appended to out). */
static int
refresh(struct op_peer_store *s, uint64_t epoch, const struct cluster_model *m,
        struct weft_buf *out)
{
	s->st.refreshes++;
	s->since_refresh = 0;
	int rc = drop_idle(s, epoch, out);
	struct peer_key *o = realloc(s->order, (s->n + 1) * sizeof *o);
	if (!o)
		return WEFT_ENOMEM;
	s->order = o;
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
			c->since_trace = c->reported_trace = s->traces;
			c->since_unix_ms = unix_ms();
			s->st.opened++;
			rc = rc ? rc : record(s, out, c, "open", epoch);
		} else if (c->anom && !stay) {
			c->anom = 0;
			s->st.closed++;
			rc = rc ? rc : record(s, out, c, "close", epoch);
		} else if (c->anom && (epoch >= c->reported_epoch + s->c.update_epochs ||
		                       s->traces >= c->reported_trace + s->c.update_traces)) {
			c->reported_epoch = epoch;
			c->reported_trace = s->traces;
			rc = rc ? rc : record(s, out, c, "update", epoch);
		}
	}
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

/* Marks c as used by trace seq (its per-trace counts start at 0). 0, or
 * WEFT_ENOMEM (the cell is then not judged for this trace). */
static int
touch(struct op_peer_store *s, struct peer_cell *c, uint64_t seq)
{
	if (c->tr_seq == seq)
		return 0;
	if (s->n_touched == s->cap_touched &&
	    WEFT_GROW(s->touched, s->cap_touched, s->n_touched + 1, 64))
		return WEFT_ENOMEM;
	s->touched[s->n_touched++] = (uint32_t)(c - s->cells);
	c->tr_seq = seq;
	c->tr_n = c->tr_over = 0;
	c->tr_max = 0;
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
slow_on_its_own(struct op_peer_store *s, struct op_peer_hit *hit)
{
	double best = 0.0;
	for (size_t k = 0; k < s->n_touched; k++) {
		const struct peer_cell *c = &s->cells[s->touched[k]];
		if (c->tr_over < s->c.trace_min_events || 2u * c->tr_over < c->tr_n)
			continue;
		double r = (double)c->tr_max / (double)c->ref;
		if (r > best) {
			best = r;
			*hit = (struct op_peer_hit){(int32_t)c->tr_node, c->tr_max, c->med,
			                            c->ref, c->n_peers, c->n};
		}
	}
	if (hit->node >= 0)
		s->st.slow_whole++;
}

int
op_peer_observe(struct op_peer_store *s, const struct op_trace *t, uint64_t epoch,
                const struct cluster_model *m, struct op_peer_hit *hit,
                struct weft_buf *out)
{
	const struct op_trace_event *ev = op_trace_events(t);
	double best = 0.0;
	int rc = 0;
	hit->node = -1;
	pthread_mutex_lock(&s->lock);
	/* each event is judged against the state of the last refresh (its
	 * own duration goes in after): only while some anomaly is open */
	int judge = s->st.opened > s->st.closed;
	int whole = s->c.trace_ratio > 0.0; /* the trace itself, see below */
	int feed = s->traces % s->stride == 0;
	uint64_t seq = s->traces + 1;
	s->n_touched = 0;
	if (!feed)
		s->st.skipped_traces++;
	for (uint32_t i = 0; i < t->n_events && (feed || judge || whole); i++) {
		if (!(ev[i].flags & OP_TEV_HAS_END) || ev[i].end_ns < ev[i].start_ns)
			continue;
		uint64_t d = ev[i].end_ns - ev[i].start_ns;
		struct peer_cell *c = feed ? cell_get(s, t, &ev[i], epoch)
		                           : cell_find(s, ev[i].label_sym, ev[i].host_sym);
		if (!c) {
			if (feed && s->n < s->c.max_cells)
				rc = WEFT_ENOMEM;
			continue;
		}
		if (judge && c->anom && c->ref && d >= c->ref + s->c.floor_ns &&
		    (double)d >= s->c.ratio * (double)c->ref) {
			double r = (double)d / (double)c->ref;
			if (r > best) {
				best = r;
				*hit = (struct op_peer_hit){(int32_t)i, d, c->med, c->ref, c->n_peers, c->n};
			}
		}
		if (whole && c->ref && touch(s, c, seq) == 0) {
			c->tr_n++;
			if (d >= c->ref + s->c.floor_ns &&
			    (double)d >= s->c.trace_ratio * (double)c->ref) {
				c->tr_over++;
				if (d > c->tr_max) {
					c->tr_max = d;
					c->tr_node = i;
				}
			}
		}
		if (!feed)
			continue;
		cell_add(c, s->c.window, d);
		c->adds++;
		if (epoch > c->last_epoch)
			c->last_epoch = epoch;
	}
	if (hit->node < 0 && whole)
		slow_on_its_own(s, hit);
	if (hit->node >= 0)
		s->st.slow_traces++;
	s->traces++;
	if (++s->since_refresh >= s->c.refresh_traces) {
		int r2 = refresh(s, epoch, m, out);
		rc = rc ? rc : r2;
	}
	pthread_mutex_unlock(&s->lock);
	return rc ? rc : hit->node >= 0;
}

void
op_peer_stats(struct op_peer_store *s, struct op_peer_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	out->open_now = out->opened - out->closed;
	out->cells = s->n;
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

int
op_peer_format(struct weft_buf *b, struct weft_buf *x, const struct op_trace *t,
               const struct op_peer_hit *hit)
{
	if (hit->node < 0 || (uint32_t)hit->node >= t->n_events)
		return 0;
	const struct op_trace_event *ev = op_trace_events(t) + hit->node;
	const char *host = op_trace_str(t, ev->host), *label = op_trace_str(t, ev->label);
	int rc = weft_buf_printf(b, ",\"slow_by\":{\"host\":");
	rc = rc ? rc : weft_buf_str(b, host);
	rc = rc ? rc : weft_buf_printf(b, ",\"label\":");
	rc = rc ? rc : weft_buf_str(b, label);
	rc = rc ? rc : weft_buf_printf(b, ",\"value_ns\":%" PRIu64 ",\"host_median_ns\":%" PRIu64
	                                  ",\"peers_median_ns\":%" PRIu64 ",\"n_peers\":%u}",
	                               hit->value_ns, hit->host_median_ns, hit->peers_median_ns,
	                               hit->n_peers);
	if (rc)
		return rc;
	if (hit->n_peers)
		return weft_buf_printf(x, "slow: '%s' took %.1f ms on %s, whose p50 for it is %.1f ms "
		                          "against %.1f ms on %u peers",
		                       label, (double)hit->value_ns / 1e6, host,
		                       (double)hit->host_median_ns / 1e6,
		                       (double)hit->peers_median_ns / 1e6, hit->n_peers);
	return weft_buf_printf(x, "slow: '%s' took %.1f ms on %s, whose p50 for it is %.1f ms "
	                          "against %.1f ms learned x current load",
	                       label, (double)hit->value_ns / 1e6, host,
	                       (double)hit->host_median_ns / 1e6,
	                       (double)hit->peers_median_ns / 1e6);
}

struct metrics_arg {
	struct weft_buf *b;
	int rc;
};

static void
metric_open(void *arg, const char *host, const char *label, uint64_t host_median_ns,
            uint64_t peers_median_ns, uint32_t n_peers, uint64_t since_epoch)
{
	struct metrics_arg *a = arg;
	(void)n_peers;
	(void)since_epoch;
	int rc = a->rc ? a->rc : weft_buf_printf(a->b, "weft_host_anomaly_ratio{host=");
	rc = rc ? rc : weft_buf_str(a->b, host);
	rc = rc ? rc : weft_buf_printf(a->b, ",label=");
	rc = rc ? rc : weft_buf_str(a->b, label);
	rc = rc ? rc : weft_buf_printf(a->b, "} %.3f\n",
	                               peers_median_ns ? (double)host_median_ns /
	                                                     (double)peers_median_ns
	                                               : 0.0);
	a->rc = rc;
}

int
op_peer_metrics(struct op_peer_store *s, struct weft_buf *b)
{
	struct op_peer_stats st;
	op_peer_stats(s, &st);
	int rc = weft_buf_printf(b,
	    "# HELP weft_host_anomalies_opened_total Host anomalies opened (a host slow "
	    "against its peers for one operation)\n"
	    "# TYPE weft_host_anomalies_opened_total counter\n"
	    "weft_host_anomalies_opened_total %" PRIu64 "\n"
	    "# TYPE weft_host_anomalies_closed_total counter\n"
	    "weft_host_anomalies_closed_total %" PRIu64 "\n"
	    "# TYPE weft_host_anomalies_open gauge\n"
	    "weft_host_anomalies_open %" PRIu64 "\n"
	    "# TYPE weft_peer_slow_traces_total counter\n"
	    "weft_peer_slow_traces_total %" PRIu64 "\n"
	    "# HELP weft_peer_slow_whole_traces_total Of those, slowed on one host as a "
	    "whole with no host anomaly open\n"
	    "# TYPE weft_peer_slow_whole_traces_total counter\n"
	    "weft_peer_slow_whole_traces_total %" PRIu64 "\n"
	    "# TYPE weft_peer_cells gauge\n"
	    "weft_peer_cells %" PRIu64 "\n"
	    "# TYPE weft_peer_cells_dropped_total counter\n"
	    "weft_peer_cells_dropped_total %" PRIu64 "\n"
	    "# TYPE weft_peer_load_factor gauge\n"
	    "weft_peer_load_factor %.3f\n"
	    "# HELP weft_peer_stride Every stride-th trace feeds the windows (high rates)\n"
	    "# TYPE weft_peer_stride gauge\n"
	    "weft_peer_stride %u\n"
	    "# TYPE weft_peer_skipped_traces_total counter\n"
	    "weft_peer_skipped_traces_total %" PRIu64 "\n"
	    "# HELP weft_host_anomaly_ratio Open host anomalies: host median over its peers'\n"
	    "# TYPE weft_host_anomaly_ratio gauge\n",
	    st.opened, st.closed, st.open_now, st.slow_traces, st.slow_whole, st.cells,
	    st.cells_dropped, st.load_factor, st.stride ? st.stride : 1, st.skipped_traces);
	struct metrics_arg a = {b, rc};
	if (!rc)
		op_peer_each_open(s, metric_open, &a);
	return a.rc;
}

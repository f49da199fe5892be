/*
 * op_assemble.c — the assemble operator: per-trace DAGs as epochs close.
 *
 * Per worker (events arrive exchanged by trace id, so a trace lives on one
 * worker):
 *   - open traces in an open-addressing table (trace id -> struct
 *     asm_trace, linear probing, backward-shift deletion, load <= 1/2);
 *   - each trace's events in a list of chunks (6, 30, then 62 events)
 *     from per-worker slabs (asm_mem.c): no allocation per event, a
 *     finished trace's chunks go back at once, and slabs that empty are
 *     given back to the system, so a burst's memory does not stay;
 *   - texts interned once per worker by symbol, and (label, host,
 *     agent) triples as 32-bit places (asm_texts.c), so an event costs
 *     32 bytes plus its share of chunk slack and trace overhead;
 *   - every open trace on a list sorted by last activity epoch, which
 *     gives both the exact idle-gap finish (pop from the head while idle
 *     long enough) and the eviction order under the open-trace limit and
 *     the memory budget;
 *   - a finished-id set (asm_done.c, late_epochs long) so that an event
 *     for a trace already emitted opens an amendment flagged LATE
 *     instead of silently starting a new, partial trace;
 *   - with a source that can lose partitions (weft serve), each trace's
 *     source tag: a revoked partition's traces are handed over, not
 *     emitted as finished (assemble.h).
 * Finishing hands the events to op_trace_build.c, which resolves the DAG
 * and lays out the op_trace record this operator emits.
 *
 * Determinism. Workers run a few epochs apart, so a batch of a later epoch
 * can arrive before an earlier epoch closes. Applied at once, such an
 * event would keep its trace open through an idle gap it really had, and
 * whether a trace is split would depend on thread timing. So only events
 * of the present epoch (the input frontier) are applied on arrival;
 * later ones wait in a per-epoch stash and are applied when their epoch
 * becomes present, at the end of the preceding epoch's close. The finish
 * decision at close(e) thus sees exactly the events of epochs <= e.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "operators/assemble/assemble_int.h"
#include "operators/assemble/hash_tab.h"

struct asm_slot {
	uint64_t trace_id;
	struct asm_trace *t; /* NULL: empty */
};

struct asm_inst {
	struct op_assemble_config *cfg;
	struct asm_stashes stash; /* future epochs' events (asm_stash.c) */
	struct engine_ctx *ctx;
	unsigned worker;
	struct asm_slot *tab;
	uint64_t cap, n_open, open_events;
	struct asm_trace *lru_head, *lru_tail;
	struct asm_mem mem;      /* the open events' chunks (asm_mem.c) */
	uint64_t budget;         /* bytes this worker's open traces may hold */
	uint64_t open_bytes_published;
	struct asm_texts texts;
	struct asm_places places;
	uint64_t known[1024];  /* recently interned symbols (direct-mapped) */
	struct asm_fin_scratch sc; /* the worker's builder and its flat events */
	/* The finish helper (asm_finish.c; NULL: none) and the window of
	 * traces it shares with the worker. */
	struct asm_finisher *fin;
	struct asm_fin_item *items; /* ASM_FIN_TRACES of them */
	/* finished ids: open addressing + FIFO ring for expiry */
	struct asm_doneset done;  /* finished ids (asm_done.c) */
	uint64_t end_sym;
	int has_end;
	uint64_t *end_ids; /* traces that saw the end label, to re-check */
	uint32_t n_end, cap_end;
	uint64_t batch_ns;
	/* the last batch of the present epoch arrived at arrive_ns (0: none
	 * yet) - the start of its close latency (on_epoch_closed) */
	uint64_t arrive_epoch, arrive_ns;
	struct weft_hist emit_latency_ns, close_ns;
	/* counters */
	uint64_t events, traces, late_events, late_traces, duplicates, missing;
	uint64_t cycle_edges, truncated, dropped, incomplete, end_finishes;
	uint64_t text_truncated, place_overflow, peak_events, peak_traces;
	uint64_t text_truncated_published, place_overflow_published;
	uint64_t mapped_inline_published;
	uint64_t next_age_scan;  /* epoch of the next age-limit scan */
	uint64_t revocations;    /* *cfg->revocations last handled */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- hash tables ---------------------------------------------------------- */

/* The open traces are an operators/hash_tab.h table (as are the finished
 * ids, asm_done.c, and the interned texts, asm_texts.c); each marks a
 * slot taken its own way. */
_Static_assert(offsetof(struct asm_slot, trace_id) == 0, "key first");

static int
trace_slot_used(const void *slot)
{
	return ((const struct asm_slot *)slot)->t != NULL;
}


/* ---- configuration ------------------------------------------------------ */

void
op_assemble_config_init(struct op_assemble_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->idle_epochs = 2;
	cfg->max_trace_events = 100000;
	cfg->max_open_traces = 1u << 20;
	cfg->max_text_bytes = 256;
	cfg->late_epochs = 64;
	cfg->max_texts = 1u << 20;
	cfg->max_places = 1u << 18;
	cfg->max_trace_extra = ASM_EXTRA_MAX;
	cfg->max_open_bytes = 768ull << 20;
	cfg->ready_slabs = 2;
	pthread_mutex_init(&cfg->lock, NULL);
}

void
op_assemble_config_destroy(struct op_assemble_config *cfg)
{
	pthread_mutex_destroy(&cfg->lock);
}

int
op_assemble_config_check(const struct op_assemble_config *c, char *errstr,
                         size_t errlen)
{
	const char *key = NULL, *why = NULL;
	if (c->idle_epochs == 0)
		key = "idle_epochs", why = "must be at least 1";
	else if (c->max_trace_events == 0 || c->max_trace_events > (1u << 26))
		key = "max_trace_events", why = "must be 1..67108864";
	else if (c->max_open_traces == 0 || c->max_open_traces > (1ull << 32))
		key = "max_open_traces", why = "must be 1..2^32";
	else if (c->max_text_bytes == 0 || c->max_text_bytes > 65535)
		key = "max_text_bytes", why = "must be 1..65535";
	else if (c->max_texts == 0)
		key = "max_texts", why = "must be at least 1";
	else if (c->max_places == 0 || c->max_places > ASM_PLACES_MAX)
		key = "max_places", why = "must be 1..2^27-1";
	else if (c->max_trace_extra == 0 || c->max_trace_extra > ASM_EXTRA_MAX)
		key = "max_trace_extra", why = "must be 1..2^27";
	if (!key)
		return 0;
	snprintf(errstr, errlen, "assemble config: %s %s", key, why);
	return WEFT_EINVAL;
}

/* ---- open-trace table -------------------------------------------------- */

static struct asm_slot *
tab_find(struct asm_inst *s, uint64_t id)
{
	/* id's slot, or the empty one where id would go */
	return &s->tab[hash_tab_probe(s->tab, s->cap, sizeof *s->tab, id,
	                              trace_slot_used)];
}

static int
tab_grow(struct asm_inst *s)
{
	uint64_t ncap = s->cap ? s->cap * 2 : 4096;
	struct asm_slot *nt =
	    hash_tab_rehash(s->tab, s->cap, ncap, sizeof *nt,
	                    trace_slot_used);
	if (!nt)
		return WEFT_ENOMEM;
	s->tab = nt;
	s->cap = ncap;
	return 0;
}

static void
tab_remove(struct asm_inst *s, struct asm_slot *slot)
{
	hash_tab_delete(s->tab, s->cap, sizeof *s->tab,
	                (uint64_t)(slot - s->tab), trace_slot_used);
}

/* ---- traces --------------------------------------------------------------- */

static void
lru_unlink(struct asm_inst *s, struct asm_trace *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		s->lru_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		s->lru_tail = t->prev;
	t->prev = t->next = NULL;
}

/* Inserts t keeping the list sorted by last_epoch (ties: arrival order).
 * Batches of different epochs interleave only within the few epochs that
 * workers are apart, so the walk back from the tail is short; sorted
 * order makes the idle-gap finish exact: every trace with
 * last_epoch + G <= e goes at close(e), none later. */
static void
lru_push(struct asm_inst *s, struct asm_trace *t)
{
	struct asm_trace *after = s->lru_tail;
	while (after && after->last_epoch > t->last_epoch)
		after = after->prev;
	t->prev = after;
	t->next = after ? after->next : s->lru_head;
	if (t->next)
		t->next->prev = t;
	else
		s->lru_tail = t;
	if (after)
		after->next = t;
	else
		s->lru_head = t;
}

static void
trace_release(struct asm_inst *s, struct asm_trace *t)
{
	for (struct asm_chunk *c = t->head, *n; c; c = n) {
		n = c->next;
		asm_chunk_put(&s->mem, c);
	}
	free(t->extra);
	asm_mem_put(&s->mem, t);
}

/* Room for k more words in t's overflow array (parents 2.., or the
 * symbols of an event without a place); aborts when memory is out, as
 * every per-event allocation here does. */
static uint64_t *
extra_reserve(struct asm_trace *t, uint32_t k)
{
	uint32_t need = t->n_extra + k;
	if (need > t->cap_extra) {
		uint32_t c = need * 2;
		uint64_t *ne = realloc(t->extra, (size_t)c * sizeof *ne);
		if (!ne) {
			fprintf(stderr, "weft assemble: out of memory\n");
			abort();
		}
		t->extra = ne;
		t->cap_extra = c;
	}
	uint64_t *at = t->extra + t->n_extra;
	t->n_extra = need;
	return at;
}

/* A trace of a finish window (finish_head): what its record is built
 * from, and why it finishes. */
struct asm_fin_item {
	struct asm_trace *t;
	struct asm_trace_meta m;
	uint32_t why;
};

/* The builder's view of t, finished at epoch for why; returns why as the
 * record gives it (a re-read trace goes out as flushed and replayed). */
static uint32_t
finish_meta(const struct asm_inst *s, const struct asm_trace *t,
            uint64_t epoch, uint32_t why, struct asm_trace_meta *m)
{
	if (t->flags & ASM_PRE_ONLY) /* emitted before the re-read: not again */
		why |= OP_TRACE_FLUSHED | OP_TRACE_REPLAYED;
	uint64_t now = s->batch_ns ? s->batch_ns : now_ns();
	*m = (struct asm_trace_meta){
		.trace_id = t->trace_id,
		.first_epoch = t->first_epoch,
		.last_epoch = t->last_epoch,
		.emit_epoch = epoch,
		.idle_ns = now > t->last_ns ? now - t->last_ns : 0,
		.last_ns = t->last_ns,
		.flags = (t->flags & ~(ASM_END_SEEN | ASM_PRE_ONLY)) | why,
		.events_seen = t->events_seen,
		.dropped = t->dropped,
		.src = t->src,
	};
	return why;
}

/* Counts the record of a trace finished for why, and emits it at epoch. */
static void
finish_emit(struct asm_inst *s, const struct asm_trace_meta *m, uint32_t why,
            uint64_t epoch, const void *rec, uint32_t len)
{
	const struct op_trace *ot = rec;
	s->traces++;
	s->duplicates += ot->duplicates;
	s->missing += ot->missing;
	s->cycle_edges += ot->cycle_edges;
	if (ot->flags & OP_TRACE_LATE)
		s->late_traces++;
	if (ot->flags & OP_TRACE_TRUNCATED)
		s->truncated++;
	if (ot->flags & OP_TRACE_INCOMPLETE)
		s->incomplete++;
	if (why & OP_TRACE_END_LABEL)
		s->end_finishes++;
	/* rare, and wanted live (weft serve's metrics): counted at once */
	if (why & OP_TRACE_AGED)
		atomic_fetch_add_explicit(&s->cfg->aged, 1, memory_order_relaxed);
	if (why & OP_TRACE_HANDED_OVER)
		atomic_fetch_add_explicit(&s->cfg->handed_over, 1, memory_order_relaxed);
	if (why & OP_TRACE_REPLAYED)
		atomic_fetch_add_explicit(&s->cfg->replayed, 1, memory_order_relaxed);
	weft_hist_add(&s->emit_latency_ns, m->idle_ns);
	engine_emit(s->ctx, 0, epoch, rec, len);
}

/* Forgets t (at slot, or found by id when slot is NULL), finished at
 * epoch for why, and frees it. */
static void
finish_release(struct asm_inst *s, struct asm_slot *slot, struct asm_trace *t,
               uint64_t epoch, uint32_t why)
{
	if (!slot)
		slot = tab_find(s, t->trace_id);
	s->open_events -= t->n_events;
	s->n_open--;
	lru_unlink(s, t);
	if (!(why & (OP_TRACE_HANDED_OVER | OP_TRACE_REPLAYED)))
		/* the new owner's copy (or the replayed trace) is no amendment */
		asm_done_add(&s->done, t->trace_id, epoch);
	tab_remove(s, slot);
	trace_release(s, t);
}

/* Builds and emits the record of t at epoch, then frees t. */
static void
finish(struct asm_inst *s, struct asm_slot *slot, uint64_t epoch,
       uint32_t why)
{
	struct asm_trace *t = slot->t;
	struct asm_trace_meta m;
	why = finish_meta(s, t, epoch, why, &m);
	const void *rec;
	uint32_t len;
	asm_fin_build(&s->places, &s->texts, &s->sc, t, &m, &rec, &len);
	finish_emit(s, &m, why, epoch, rec, len);
	finish_release(s, slot, t, epoch, why);
}

/* The finish helper's build of item i (asm_fin_fn). */
static void
fin_build_item(void *arg, struct asm_fin_scratch *sc, uint32_t i,
               const void **rec, uint32_t *len)
{
	const struct asm_inst *s = arg;
	asm_fin_build(&s->places, &s->texts, sc, s->items[i].t, &s->items[i].m,
	              rec, len);
}

/*
 * A finish window: at most ASM_FIN_TRACES traces and ASM_FIN_EVENTS events
 * from the head of the open list, which bounds the helper's buffer of
 * records and frees the window's memory as it goes. A window below
 * ASM_FIN_MIN_EVENTS is built by the worker alone: handing it over would
 * cost about what building it does.
 */
#define ASM_FIN_TRACES 256u
#define ASM_FIN_EVENTS 32768u
#define ASM_FIN_MIN_EVENTS 2048u

/* Finishes the traces at the head of the open list, in its order, at
 * epoch for why: every one when all, else those idle G epochs (their
 * last_epoch + G <= epoch: a prefix of the list). With a finish helper,
 * window by window, the helper building from each window's back. */
static void
finish_head(struct asm_inst *s, uint64_t epoch, uint32_t why, int all)
{
	uint64_t G = s->cfg->idle_epochs;
#define DUE(t) ((t) && (all || (t)->last_epoch + G <= epoch))
	if (!s->fin) {
		while (DUE(s->lru_head))
			finish(s, tab_find(s, s->lru_head->trace_id), epoch, why);
		return;
	}
	while (DUE(s->lru_head)) {
		uint32_t n = 0;
		uint64_t ev = 0;
		for (struct asm_trace *t = s->lru_head;
		     DUE(t) && n < ASM_FIN_TRACES && ev < ASM_FIN_EVENTS;
		     t = t->next) {
			s->items[n++].t = t;
			ev += t->n_events;
		}
		if (ev < ASM_FIN_MIN_EVENTS) {
			for (uint32_t i = 0; i < n; i++)
				finish(s, tab_find(s, s->items[i].t->trace_id),
				       epoch, why);
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			s->items[i].why = finish_meta(s, s->items[i].t, epoch, why,
			                              &s->items[i].m);
		asm_finisher_post(s->fin, n);
		const void *rec;
		uint32_t i, len;
		while (asm_finisher_take(s->fin, &i)) { /* 0, 1, ... in order */
			asm_fin_build(&s->places, &s->texts, &s->sc, s->items[i].t,
			              &s->items[i].m, &rec, &len);
			finish_emit(s, &s->items[i].m, s->items[i].why, epoch, rec,
			            len);
		}
		uint32_t first = asm_finisher_wait(s->fin);
		atomic_fetch_add_explicit(&s->cfg->finish_helped, n - first,
		                          memory_order_relaxed);
		for (i = first; i < n; i++) {
			rec = asm_finisher_record(s->fin, i, &len);
			finish_emit(s, &s->items[i].m, s->items[i].why, epoch, rec,
			            len);
		}
		for (i = 0; i < n; i++)
			finish_release(s, NULL, s->items[i].t, epoch,
			               s->items[i].why);
	}
#undef DUE
}

/* Bytes this worker's open traces hold: their chunks and records. */
static uint64_t
open_bytes(const struct asm_inst *s)
{
	return s->mem.chunk_bytes; /* chunks and records alike */
}

/* Under the memory budget: the least recently active traces go out
 * INCOMPLETE until `more` bytes fit (never `keep`, the trace being
 * added to). */
static void
fit_budget(struct asm_inst *s, uint64_t more, const struct asm_trace *keep,
           uint64_t epoch)
{
	while (s->budget && open_bytes(s) + more > s->budget && s->lru_head &&
	       s->lru_head != keep) {
		atomic_fetch_add_explicit(&s->cfg->budget_evictions, 1,
		                          memory_order_relaxed);
		finish(s, tab_find(s, s->lru_head->trace_id), epoch,
		       OP_TRACE_INCOMPLETE);
	}
}

static struct asm_trace *
trace_open(struct asm_inst *s, struct asm_slot **slotp, uint64_t id,
           uint32_t src, uint64_t epoch)
{
	if (s->n_open >= s->cfg->max_open_traces && s->lru_head) {
		/* Pressure: the least recently active trace goes out now. */
		finish(s, tab_find(s, s->lru_head->trace_id), epoch,
		       OP_TRACE_INCOMPLETE);
		*slotp = tab_find(s, id);
	}
	if (s->budget && open_bytes(s) + 512 > s->budget) {
		fit_budget(s, 512, NULL, epoch);
		*slotp = tab_find(s, id);
	}
	if (2 * (s->n_open + 1) > s->cap) {
		if (tab_grow(s))
			return NULL;
		*slotp = tab_find(s, id);
	}
	struct asm_trace *t = asm_mem_get(&s->mem, ASM_MEM_RECORD);
	if (!t)
		return NULL;
	memset(t, 0, sizeof *t);
	t->trace_id = id;
	t->src = src;
	t->first_epoch = t->last_epoch = epoch;
	if (asm_done_take(&s->done, id))
		t->flags |= OP_TRACE_LATE; /* an amendment to an emitted trace */
	(*slotp)->trace_id = id;
	(*slotp)->t = t;
	if (s->cfg->on_open)
		s->cfg->on_open(s->cfg->on_open_arg, s->worker, src, epoch);
	s->n_open++;
	if (s->n_open > s->peak_traces)
		s->peak_traces = s->n_open;
	lru_push(s, t);
	return t;
}

/* 1 when tag src was given out before its slot's latest revocation. */
static int
src_stale(const struct asm_inst *s, uint32_t src)
{
	if (!s->cfg->src_gen || !src || src == OP_TRACE_SRC_MANY ||
	    OP_SRC_SLOT(src) >= s->cfg->n_src)
		return 0;
	/* acquire pairs with the source's release when it revoked the slot;
	 * an event read after that carries the new generation */
	uint32_t g = atomic_load_explicit(&s->cfg->src_gen[OP_SRC_SLOT(src)],
	                                  memory_order_acquire);
	return OP_SRC_GEN(src) != (g & OP_SRC_GEN_MASK);
}

/* A second source in t: it is held by every partition from now on. */
static void
retag(struct asm_inst *s, struct asm_trace *t)
{
	if (s->cfg->on_retag)
		s->cfg->on_retag(s->cfg->on_open_arg, s->worker, t->src,
		                 OP_TRACE_SRC_MANY, t->first_epoch);
	t->src = OP_TRACE_SRC_MANY;
}

static void
add_event(struct asm_inst *s, const struct op_event *ev, uint64_t epoch)
{
	s->events++;
	struct asm_slot *slot = tab_find(s, ev->trace_id);
	struct asm_trace *t = slot->t;
	if (s->cfg->src_gen) {
		if (src_stale(s, ev->src)) {
			/* its partition's new owner re-reads it */
			atomic_fetch_add_explicit(&s->cfg->stale_events, 1,
			                          memory_order_relaxed);
			return;
		}
		if (t && src_stale(s, t->src)) {
			finish(s, slot, epoch, OP_TRACE_FLUSHED | OP_TRACE_HANDED_OVER);
			slot = tab_find(s, ev->trace_id);
			t = NULL;
		}
	}
	uint32_t src = ev->src & ~OP_SRC_PRE;
	if (!t) {
		if (!(t = trace_open(s, &slot, ev->trace_id, src, epoch))) {
			fprintf(stderr, "weft assemble: out of memory\n");
			abort();
		}
		if (ev->src & OP_SRC_PRE)
			t->flags |= ASM_PRE_ONLY;
	}
	if (!(ev->src & OP_SRC_PRE))
		t->flags &= ~ASM_PRE_ONLY;
	if (t->src != src && t->src != OP_TRACE_SRC_MANY)
		retag(s, t);
	t->events_seen++;
	if (t->flags & OP_TRACE_LATE)
		s->late_events++;
	t->last_ns = s->batch_ns;
	if (epoch > t->last_epoch) {
		t->last_epoch = epoch;
		if (t != s->lru_tail) {
			lru_unlink(s, t);
			lru_push(s, t);
		}
	}
	if (t->n_events >= s->cfg->max_trace_events) {
		t->flags |= OP_TRACE_TRUNCATED;
		t->dropped++;
		s->dropped++;
		return;
	}
	if (t->slot == t->slot_end) {
		if (s->budget)
			fit_budget(s, ASM_CHUNK_MAX_BYTES, t, epoch);
		struct asm_chunk *c = asm_chunk_get(&s->mem, asm_chunk_class(t->n_chunks++));
		if (!c) {
			fprintf(stderr, "weft assemble: out of memory\n");
			abort();
		}
		if (t->tail)
			t->tail->next = c;
		else
			t->head = c;
		t->tail = c;
		t->slot = c->ev;
		t->slot_end = c->ev + c->cap;
	}
	uint32_t place = asm_places_put(&s->places, ev->label_sym, ev->host_sym,
	                                ev->agent_sym);
	const uint64_t *par = op_event_parents(ev);
	uint32_t np = ev->n_parents;
	uint64_t dur = ev->end_ns - ev->start_ns; /* wraps when end < start */
	int has_end = (ev->flags & OP_EV_HAS_END) != 0;
	int end_extra = has_end && dur > UINT32_MAX;
	int ovf = np > 1 || end_extra;
	uint32_t words = (place == ASM_PLACE_EXTRA ? 3u : 0u) +
	                 (ovf ? 1u + np + (uint32_t)end_extra : 0u);
	if (words > s->cfg->max_trace_extra - t->n_extra) {
		/* past max_trace_extra (at most what the stored indexes
		 * reach): dropped as past max_trace_events */
		t->flags |= OP_TRACE_TRUNCATED;
		t->dropped++;
		s->dropped++;
		return;
	}
	if (ev->flags & (OP_EV_ERROR | OP_EV_EXCEPTION))
		t->flags |= OP_TRACE_ERROR;
	struct asm_sev *x = t->slot++;
	x->event_id = ev->event_id;
	x->start_ns = ev->start_ns;
	x->dur = (uint32_t)dur;
	if (place == ASM_PLACE_EXTRA) { /* past max_places: keep the symbols */
		s->place_overflow++;
		place |= t->n_extra;
		uint64_t *y = extra_reserve(t, 3);
		y[0] = ev->label_sym;
		y[1] = ev->host_sym;
		y[2] = ev->agent_sym;
	}
	place |= (has_end ? ASM_SEV_END : 0) |
	         (ev->flags & OP_EV_ERROR ? ASM_SEV_ERROR : 0);
	if (ovf) {
		place |= ASM_SEV_OVF;
		x->parent0 = t->n_extra;
		uint64_t *y = extra_reserve(t, 1u + np + (uint32_t)end_extra);
		y[0] = np | (end_extra ? ASM_OVF_END : 0);
		memcpy(y + 1, par, np * sizeof *par);
		if (end_extra)
			y[1 + np] = ev->end_ns;
	} else if (np) {
		place |= ASM_SEV_PARENT;
		x->parent0 = par[0];
	} else {
		x->parent0 = 0;
	}
	x->place = place;
	t->n_events++;
	s->open_events++;
	if (s->open_events > s->peak_events)
		s->peak_events = s->open_events;
	if (s->has_end && ev->label_sym == s->end_sym &&
	    !(t->flags & ASM_END_SEEN)) {
		t->flags |= ASM_END_SEEN;
		if (s->n_end == s->cap_end &&
		    WEFT_GROW(s->end_ids, s->cap_end, s->n_end + 1, 64)) {
			fprintf(stderr, "weft assemble: out of memory\n");
			abort();
		}
		s->end_ids[s->n_end++] = t->trace_id;
	}
	/* Texts: interned once per symbol per worker; a direct-mapped filter
	 * of recent symbols skips the table for the usual repeat. */
	static const enum op_event_field f[3] = {OP_EV_LABEL, OP_EV_HOST, OP_EV_AGENT};
	const uint64_t sym[3] = {ev->label_sym, ev->host_sym, ev->agent_sym};
	for (int k = 0; k < 3; k++) {
		uint64_t *kn = &s->known[sym[k] & 1023u];
		if (*kn == sym[k])
			continue;
		*kn = sym[k];
		size_t l;
		const char *txt = op_event_field(ev, f[k], &l);
		int r = asm_texts_put(&s->texts, sym[k], txt, l,
		                      s->cfg->max_text_bytes);
		if (r > 0)
			s->text_truncated++;
	}
}

/* 1 when every parent of t's events is among them: the builder resolves
 * parents anyway, so ask it (only for traces that saw the end label). */
static int
parents_resolved(struct asm_inst *s, const struct asm_trace *t)
{
	uint32_t n = asm_flatten(&s->places, &s->sc, t);
	struct asm_trace_meta m = {.trace_id = t->trace_id};
	const void *rec;
	uint32_t len;
	if (asm_build_trace(s->sc.build, &m, s->sc.flat, n, t->extra, &s->texts,
	                    &rec, &len))
		return 0;
	return ((const struct op_trace *)rec)->missing == 0;
}

/* ---- operator callbacks --------------------------------------------------- */

static int
asm_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct op_assemble_config *cfg = arg;
	struct asm_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = cfg;
	s->ctx = ctx;
	s->worker = engine_ctx_worker(ctx);
	s->texts.max_n = cfg->max_texts;
	s->places.max_n = (uint32_t)cfg->max_places;
	s->budget = cfg->max_open_bytes / engine_ctx_workers(ctx);
	s->mem.reserve = asm_reserve_attach(cfg, engine_ctx_workers(ctx));
	s->sc.build = asm_build_new();
	uint64_t ring = cfg->max_open_traces < (1u << 20) ? cfg->max_open_traces
	                                                  : (1u << 20);
	if (!s->sc.build || asm_done_init(&s->done, ring, cfg->late_epochs) ||
	    tab_grow(s))
		return WEFT_ENOMEM;
	if (weft_helper_wanted(cfg->finish_helper,
	                              engine_ctx_workers(ctx), weft_cores())) {
		/* without one (no memory, no thread) the worker builds alone */
		s->items = malloc(ASM_FIN_TRACES * sizeof *s->items);
		if (s->items)
			s->fin = asm_finisher_new(fin_build_item, s);
	}
	if (cfg->end_label) {
		s->has_end = 1;
		s->end_sym = op_symbol(cfg->end_label, strlen(cfg->end_label));
	}
	return 0;
}

/*
 * Adds a batch's events, prefetching ahead: each event's trace lives at a
 * random place (table slot, trace struct, its tail chunk), and those three
 * cache misses dominated add_event. The events read ahead walk the chain
 * one step per stage — slot at +12 (as the event is read), trace at +8,
 * chunk header at +4, the slot to be written at +2 — so each load finds
 * its line warm. The walk only reads; a stale guess (probe collision, a
 * trace about to be created) just wastes a prefetch. The events read
 * ahead are a ring, so every event of a batch but its first few gets
 * every stage (a window refilled every 64 events left 12 of each 64 with
 * no slot prefetch, 8 with no trace prefetch). The batch's own bytes are
 * prefetched by the cursor (engine_batch_next).
 */
#define ASM_AHEAD 16u /* the ring: a power of two above the +12 stage */
static void
add_events(struct asm_inst *s, const struct engine_batch *b, uint64_t epoch)
{
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const struct op_event *ring[ASM_AHEAD];
	uint64_t hash[ASM_AHEAD]; /* hash_tab_mix of each trace id, taken once */
	uint32_t len;
	unsigned read = 0, i = 0; /* events read into the ring, events added */
	const struct op_event *r;
	for (;;) {
		while (read - i <= 12 && (r = engine_batch_next(b, &c, &len))) {
			uint64_t h = hash_tab_mix(r->trace_id);
			ring[read % ASM_AHEAD] = r;
			hash[read % ASM_AHEAD] = h;
			__builtin_prefetch(&s->tab[h & (s->cap - 1)]);
			read++;
		}
		if (i == read)
			return;
		const uint64_t m = s->cap - 1;
		if (i + 8 < read) {
			const struct asm_trace *t = s->tab[hash[(i + 8) % ASM_AHEAD] & m].t;
			if (t)
				__builtin_prefetch(t);
		}
		if (i + 4 < read) {
			const struct asm_trace *t = s->tab[hash[(i + 4) % ASM_AHEAD] & m].t;
			if (t && t->slot != t->slot_end)
				__builtin_prefetch(t->slot, 1);
		}
		add_event(s, ring[i % ASM_AHEAD], epoch);
		i++;
	}
}

/* Applies the stashed events of epoch (now the present epoch). */
static void
stash_apply(struct asm_inst *s, uint64_t epoch)
{
	struct asm_stash *st = asm_stash_get(&s->stash, epoch);
	if (!st)
		return;
	for (uint32_t i = 0; i < st->n; i++)
		add_events(s, st->piece[i].b, epoch);
	s->arrive_epoch = epoch;
	s->arrive_ns = st->last_ns;
	asm_stash_done(&s->stash, s->ctx, st);
}

static void
asm_batch(void *state, struct engine_ctx *ctx, unsigned port,
          const struct engine_batch *b)
{
	(void)port;
	struct asm_inst *s = state;
	s->ctx = ctx;
	s->batch_ns = now_ns(); /* one clock read per batch, not per event */
	if (b->epoch <= engine_ctx_frontier(ctx)) {
		s->arrive_epoch = b->epoch;
		s->arrive_ns = s->batch_ns;
		add_events(s, b, b->epoch);
		return;
	}
	asm_stash_add(&s->stash, ctx, b, s->batch_ns);
}

/* After a burst, tables at most 1/8 full shrink (not below 4,096 slots),
 * so the memory of the burst goes back; growth happens at 1/2, so a
 * table does not swing between the two. */
static void
tables_shrink(struct asm_inst *s)
{
	uint64_t c = s->cap;
	while (c > 4096 && 8 * s->n_open < c)
		c /= 2;
	if (c != s->cap) {
		struct asm_slot *nt = hash_tab_rehash(s->tab, s->cap, c, sizeof *nt,
		                                      trace_slot_used);
		if (nt) {
			s->tab = nt;
			s->cap = c;
		}
	}
	asm_done_shrink(&s->done);
}

/* Hands over every open trace whose partition was revoked (a scan of the
 * open traces, once per revocation). */
static void
hand_over_stale(struct asm_inst *s, uint64_t epoch)
{
	for (struct asm_trace *t = s->lru_head, *n; t; t = n) {
		n = t->next;
		if (src_stale(s, t->src))
			finish(s, tab_find(s, t->trace_id), epoch,
			       OP_TRACE_FLUSHED | OP_TRACE_HANDED_OVER);
	}
}

/* Emits every trace open for max_age_epochs or more, INCOMPLETE|AGED. The
 * open list is sorted by last activity, not by age, so this is a scan;
 * it runs every max(1, limit / 8) epochs, which bounds both its cost and
 * how late an aged trace goes out. */
static void
finish_aged(struct asm_inst *s, uint64_t epoch)
{
	uint64_t max = s->cfg->max_age_epochs;
	s->next_age_scan = epoch + (max / 8 ? max / 8 : 1);
	for (struct asm_trace *t = s->lru_head, *n; t; t = n) {
		n = t->next;
		if (t->first_epoch + max <= epoch)
			finish(s, tab_find(s, t->trace_id), epoch,
			       OP_TRACE_INCOMPLETE | OP_TRACE_AGED);
	}
}

/* Adds what a worker's figure changed by since it was last published to
 * the shared sum (a drop wraps, which the modular add undoes): open bytes
 * and the texts and places limits' counters, at each epoch close and at
 * the end, which serve's /metrics shows. */
static void
publish(_Atomic uint64_t *to, uint64_t now, uint64_t *published)
{
	atomic_fetch_add_explicit(to, now - *published, memory_order_relaxed);
	*published = now;
}

static void
asm_close(void *state, struct engine_ctx *ctx, uint64_t epoch)
{
	struct asm_inst *s = state;
	uint64_t t0 = now_ns();
	s->ctx = ctx;
	s->batch_ns = t0;
	/* (stash_apply below starts the next epoch's arrival) */
	uint64_t arrived = s->arrive_epoch == epoch ? s->arrive_ns : 0;
	s->arrive_ns = 0;
	/* The list is sorted by last activity epoch: the expired traces are
	 * exactly a prefix of it. */
	finish_head(s, epoch, 0, 0);
	if (s->cfg->revocations) {
		uint64_t r = atomic_load_explicit(s->cfg->revocations,
		                                  memory_order_acquire);
		if (r != s->revocations) {
			s->revocations = r;
			hand_over_stale(s, epoch);
		}
	}
	if (s->cfg->max_age_epochs && epoch >= s->next_age_scan)
		finish_aged(s, epoch);
	/* Traces that saw the end label finish as soon as no parent is
	 * missing; the others stay pending (the idle gap still applies). */
	uint32_t keep = 0;
	for (uint32_t i = 0; i < s->n_end; i++) {
		struct asm_slot *slot = tab_find(s, s->end_ids[i]);
		if (!slot->t || !(slot->t->flags & ASM_END_SEEN))
			continue; /* finished meanwhile (or id reused) */
		if (parents_resolved(s, slot->t))
			finish(s, slot, epoch, OP_TRACE_END_LABEL);
		else
			s->end_ids[keep++] = s->end_ids[i];
	}
	s->n_end = keep;
	asm_done_expire(&s->done, epoch);
	/* epoch + 1 is the present epoch now: its early arrivals count */
	if (s->stash.events)
		stash_apply(s, epoch + 1);
	tables_shrink(s);
	publish(&s->cfg->open_bytes, open_bytes(s), &s->open_bytes_published);
	publish(&s->cfg->text_truncated, s->text_truncated, &s->text_truncated_published);
	publish(&s->cfg->place_overflow, s->place_overflow, &s->place_overflow_published);
	publish(&s->cfg->slabs_mapped_inline, s->mem.mapped_inline, &s->mapped_inline_published);
	uint64_t t1 = now_ns();
	weft_hist_add(&s->close_ns, t1 - t0);
	if (arrived && s->cfg->on_epoch_closed)
		s->cfg->on_epoch_closed(s->cfg->on_epoch_closed_arg, t1 > arrived ? t1 - arrived : 0);
}

static void
asm_flush(void *state, struct engine_ctx *ctx, uint64_t final)
{
	struct asm_inst *s = state;
	s->ctx = ctx;
	s->batch_ns = now_ns();
	while (s->stash.events) /* none expected: every epoch closed; in order */
		stash_apply(s, asm_stash_lowest(&s->stash));
	finish_head(s, final, OP_TRACE_FLUSHED, 1);
}

static void
asm_destroy(void *state)
{
	struct asm_inst *s = state;
	struct op_assemble_config *cfg = s->cfg;
	atomic_fetch_add(&cfg->events, s->events);
	atomic_fetch_add(&cfg->traces, s->traces);
	atomic_fetch_add(&cfg->late_events, s->late_events);
	atomic_fetch_add(&cfg->late_traces, s->late_traces);
	atomic_fetch_add(&cfg->duplicates, s->duplicates);
	atomic_fetch_add(&cfg->missing, s->missing);
	atomic_fetch_add(&cfg->cycle_edges, s->cycle_edges);
	atomic_fetch_add(&cfg->truncated, s->truncated);
	atomic_fetch_add(&cfg->dropped, s->dropped);
	atomic_fetch_add(&cfg->incomplete, s->incomplete);
	atomic_fetch_add(&cfg->end_label_finishes, s->end_finishes);
	publish(&s->cfg->text_truncated, s->text_truncated, &s->text_truncated_published);
	publish(&s->cfg->place_overflow, s->place_overflow, &s->place_overflow_published);
	publish(&s->cfg->slabs_mapped_inline, s->mem.mapped_inline, &s->mapped_inline_published);
	publish(&cfg->open_bytes, 0, &s->open_bytes_published); /* nothing open now */
	atomic_fetch_add(&cfg->peak_mapped_bytes, s->mem.peak_slab_bytes);
	atomic_fetch_add(&cfg->peak_open_events, s->peak_events);
	atomic_fetch_add(&cfg->peak_open_traces, s->peak_traces);
	pthread_mutex_lock(&cfg->lock);
	weft_hist_merge(&cfg->emit_latency_ns, &s->emit_latency_ns);
	weft_hist_merge(&cfg->close_ns, &s->close_ns);
	pthread_mutex_unlock(&cfg->lock);
	/* open traces exist only if the run stopped before flushing */
	for (struct asm_trace *t = s->lru_head, *n; t; t = n) {
		n = t->next;
		trace_release(s, t);
	}
	struct asm_reserve *reserve = s->mem.reserve;
	asm_mem_free(&s->mem);
	asm_reserve_detach(cfg, reserve);
	asm_finisher_free(s->fin); /* before the texts and places it reads */
	free(s->items);
	asm_texts_free(&s->texts);
	asm_places_free(&s->places);
	asm_build_free(s->sc.build);
	free(s->sc.flat);
	free(s->end_ids);
	asm_stash_free(&s->stash);
	free(s->tab);
	asm_done_free(&s->done);
	free(s);
}

const struct engine_op_vtable op_assemble_vtable = {
	.init = asm_init,
	.on_batch = asm_batch,
	.on_epoch_close = asm_close,
	.on_flush = asm_flush,
	.destroy = asm_destroy,
};

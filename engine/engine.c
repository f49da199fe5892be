/*
 * engine.c — graph construction, engine lifecycle, the worker loop and
 * parking.
 *
 * Each worker thread loops over: (1) its inbound queues, one per sender,
 * delivering data batches and punctuation (progress.c); (2) its sources,
 * unless backpressure holds them (too many of its exchange batches are
 * still unconsumed). When neither gave work it sends its partly filled
 * exchange batches (so a quiet stream is not held back waiting for a full
 * batch) and parks on a futex: with a timeout when a source said it was
 * idle (exponential back-off up to idle_park_max_us, or the source's hint),
 * without one otherwise — then only a sender, a receiver freeing
 * backpressure, or engine_stop()/engine_wake() wakes it.
 *
 * Parking uses an event count (see eng_worker in engine_int.h) so a wake-up
 * between "I found nothing" and "I sleep" is never lost. Linux futexes;
 * a port would swap in a condition variable here.
 *
 * Start-up: every worker creates its operator instances on its own thread
 * (so their memory comes from that thread's allocator arena), then all
 * meet at a gate; if any init failed, or a thread could not be created,
 * everyone returns before processing anything.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_int.h"

#define ENG_POOL_MAX 1024u       /* free batches kept per worker */
#define ENG_POP_BUDGET 64u       /* messages per sender per loop turn */
#define ENG_IDLE_START_US 50u
/* After real work, poll the inbound queues this long before parking: a
 * peer that is still sending usually delivers within microseconds, and a
 * futex sleep plus the sender's wake-up syscall cost far more than that.
 * Only right after progress, so an idle engine still parks at once. */
#define ENG_SPIN_NS 50000u

/* ---- graph -------------------------------------------------------------- */

struct engine_graph *
engine_graph_new(void)
{
	return calloc(1, sizeof(struct engine_graph));
}

void
engine_graph_free(struct engine_graph *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->n_nodes; i++) {
		struct g_node *n = &g->nodes[i];
		free(n->name);
		free(n->in);
		for (unsigned o = 0; o < n->n_out; o++)
			free(n->out[o].edges);
		free(n->out);
	}
	free(g->nodes);
	free(g);
}

int
engine_graph_add(struct engine_graph *g, const char *name,
                 const struct engine_op_vtable *vt, void *arg, unsigned n_in,
                 unsigned n_out, const uint32_t *rec_size)
{
	if (!g || !vt || !name || n_in > ENG_MAX_PORTS || n_out > ENG_MAX_PORTS)
		return WEFT_EINVAL;
	if (n_in == 0 && !vt->poll)
		return WEFT_EINVAL;
	if (n_in > 0 && !vt->on_batch)
		return WEFT_EINVAL;
	if (n_out > 0 && !rec_size)
		return WEFT_EINVAL;
	for (unsigned o = 0; o < n_out; o++)
		if (rec_size[o] % 8u || rec_size[o] > (1u << 20))
			return WEFT_EINVAL;
	if (g->n_nodes >= ENG_MAX_NODES)
		return WEFT_ELIMIT;
	if (WEFT_GROW(g->nodes, g->cap_nodes, g->n_nodes + 1, 8))
		return WEFT_ENOMEM;
	struct g_node *n = &g->nodes[g->n_nodes];
	memset(n, 0, sizeof *n);
	n->name = strdup(name);
	n->in = n_in ? calloc(n_in, sizeof *n->in) : NULL;
	n->out = n_out ? calloc(n_out, sizeof *n->out) : NULL;
	if (!n->name || (n_in && !n->in) || (n_out && !n->out)) {
		free(n->name);
		free(n->in);
		free(n->out);
		return WEFT_ENOMEM;
	}
	n->vt = vt;
	n->arg = arg;
	n->n_in = n_in;
	n->n_out = n_out;
	for (unsigned i = 0; i < n_in; i++)
		n->in[i].from = -1;
	for (unsigned o = 0; o < n_out; o++)
		n->out[o].rec_size = rec_size[o];
	return (int)g->n_nodes++;
}

int
engine_graph_connect(struct engine_graph *g, int from, unsigned out, int to,
                     unsigned in, engine_key_fn key, void *key_arg)
{
	if (!g || from < 0 || to < 0 || (unsigned)to >= g->n_nodes || from >= to)
		return WEFT_EINVAL;
	struct g_node *src = &g->nodes[from], *dst = &g->nodes[to];
	if (out >= src->n_out || in >= dst->n_in || dst->in[in].from >= 0)
		return WEFT_EINVAL;
	struct g_out *o = &src->out[out];
	struct g_edge *ne = realloc(o->edges, (o->n_edges + 1) * sizeof *ne);
	if (!ne)
		return WEFT_ENOMEM;
	o->edges = ne;
	o->edges[o->n_edges++] = (struct g_edge){to, in, key, key_arg};
	if (key)
		o->n_xchg++;
	else
		o->n_pipe++;
	dst->in[in] = (struct g_in){from, out, key != NULL};
	return 0;
}

/* ---- batches ------------------------------------------------------------ */

static void
batch_reset(struct engine_batch *b, uint64_t epoch, uint32_t rec_size)
{
	b->epoch = epoch;
	b->count = 0;
	b->used = 0;
	b->rec_size = rec_size;
	b->next_free = NULL;
}

struct engine_batch *
engine_batch_new(uint32_t cap, uint32_t rec_size, uint64_t epoch)
{
	struct engine_batch *b = malloc(sizeof *b + cap);
	if (b) {
		b->cap = cap;
		batch_reset(b, epoch, rec_size);
	}
	return b;
}

struct engine_batch *
eng_batch_get(struct eng_worker *w, uint64_t epoch, const struct g_out *go,
              uint32_t need)
{
	struct engine_batch *b = NULL;
	uint32_t cap = go->cap;
	if (need <= cap) {
		for (unsigned i = 0; i < ENG_POOL_CLASSES; i++) {
			struct eng_pool *p = &w->pool[i];
			if (p->cap == cap && p->head) {
				b = p->head;
				p->head = b->next_free;
				p->len--;
				break;
			}
		}
	} else {
		cap = need; /* one oversized record: a batch of its own */
	}
	if (!b && !(b = engine_batch_new(cap, go->rec_size, epoch))) {
		fprintf(stderr, "weft engine: out of memory for a batch\n");
		abort();
	}
	batch_reset(b, epoch, go->rec_size);
	return b;
}

void
eng_batch_put(struct eng_worker *w, struct engine_batch *b)
{
	eng_batch_put_upto(w, b, ENG_POOL_MAX);
}

void
eng_batch_put_upto(struct eng_worker *w, struct engine_batch *b, unsigned max)
{
	struct eng_pool *spare = NULL;
	for (unsigned i = 0; i < ENG_POOL_CLASSES; i++) {
		struct eng_pool *p = &w->pool[i];
		if (p->cap == b->cap) {
			if (p->len < max) {
				b->next_free = p->head;
				p->head = b;
				p->len++;
				return;
			}
			break;
		}
		if (!p->cap && !spare)
			spare = p;
	}
	if (spare && b->cap <= w->e->cfg.batch_bytes) {
		spare->cap = b->cap;
		b->next_free = NULL;
		spare->head = b;
		spare->len = 1;
		return;
	}
	free(b);
}

/* ---- parking ------------------------------------------------------------ */

static void
futex_wait(_Atomic uint32_t *addr, uint32_t val, uint32_t timeout_us)
{
	struct timespec ts, *tp = NULL;
	if (timeout_us) {
		ts.tv_sec = timeout_us / 1000000u;
		ts.tv_nsec = (long)(timeout_us % 1000000u) * 1000L;
		tp = &ts;
	}
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tp,
	        NULL, 0);
}

void
eng_wake_worker(struct eng_worker *w)
{
	/* Dekker-style handshake with park(), all in seq_cst order: our work
	 * was published by a seq_cst store (queue tail) or RMW (inflight)
	 * before this load; the sleeper stores parked before it re-checks.
	 * Either it sees our work, or we see it parked and bump seq. (No
	 * standalone fences: ThreadSanitizer cannot model them.) */
	if (atomic_load_explicit(&w->parked, memory_order_seq_cst)) {
		atomic_fetch_add_explicit(&w->seq, 1, memory_order_release);
		syscall(SYS_futex, (uint32_t *)&w->seq, FUTEX_WAKE_PRIVATE, 1,
		        NULL, NULL, 0);
	}
}

static int
inbound_nonempty(struct eng_worker *w)
{
	for (unsigned s = 0; s < w->e->W; s++)
		if (engine_queue_nonempty(w->inq[s]))
			return 1;
	return 0;
}

static void
park(struct eng_worker *w, uint32_t timeout_us, int throttled)
{
	struct engine *e = w->e;
	uint32_t seq = atomic_load_explicit(&w->seq, memory_order_acquire);
	atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
	int work = inbound_nonempty(w) ||
	           (throttled && atomic_load_explicit(&w->inflight,
	                                              memory_order_seq_cst) <
	                             e->cfg.max_inflight_batches);
	if (!work) {
		w->st.parks++;
		futex_wait(&w->seq, seq, timeout_us);
	}
	atomic_store_explicit(&w->parked, 0, memory_order_relaxed);
}

/* ---- the worker loop ---------------------------------------------------- */

static void
flush_all_exchange(struct eng_worker *w)
{
	for (unsigned n = 0; n < w->e->g->n_nodes; n++)
		if (!w->ctx[n].done)
			eng_flush_exchange(&w->ctx[n]);
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spins until an inbound queue has a message or `until` passes; returns 1
 * when there is something to do. */
static int
spin_for_inbound(struct eng_worker *w, uint64_t until)
{
	for (unsigned i = 0;; i++) {
		if (inbound_nonempty(w))
			return 1;
		if ((i & 63u) == 63u && mono_ns() >= until)
			return 0;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

static void
run_loop(struct eng_worker *w)
{
	struct engine *e = w->e;
	const unsigned n_nodes = e->g->n_nodes, W = e->W;
	unsigned rot = 0;
	uint64_t last_progress = 0;
	while (w->nodes_done < n_nodes) {
		int progress = 0;
		for (unsigned i = 0; i < W; i++) {
			unsigned s = (rot + i) % W;
			struct engine_msg m;
			uint32_t got = 0;
			for (unsigned k = 0; k < ENG_POP_BUDGET &&
			                     engine_queue_pop(w->inq[s], &m); k++) {
				got += (uint32_t)eng_deliver(w, s, &m);
				progress = 1;
			}
			if (got)
				eng_consumed(w, s, got);
		}
		rot++;

		int live = 0, idle = 0, throttled = 0;
		uint32_t hint = 0;
		for (unsigned n = 0; n < n_nodes; n++) {
			struct engine_ctx *c = &w->ctx[n];
			if (c->gn->n_in != 0 || c->done)
				continue;
			live++;
			if (atomic_load_explicit(&w->inflight, memory_order_acquire) >=
			    e->cfg.max_inflight_batches) {
				throttled = 1;
				continue;
			}
			c->idle_hint_us = 0;
			enum engine_poll r = c->gn->vt->poll(c->state, c);
			eng_flush_pipes(c);
			if (r == ENGINE_POLL_DONE) {
				eng_source_finish(c);
				live--;
				progress = 1;
			} else if (r == ENGINE_POLL_DATA) {
				progress = 1;
			} else {
				idle++;
				if (c->idle_hint_us && (!hint || c->idle_hint_us < hint))
					hint = c->idle_hint_us;
			}
		}
		if (throttled)
			w->st.backpressure_waits++;
		eng_send_ripe(w);
		eng_publish(w);
		if (progress) {
			w->idle_backoff_us = 0;
			last_progress = 0;
			continue;
		}
		if (w->nodes_done == n_nodes)
			break;
		flush_all_exchange(w);
		eng_publish(w);
		if (!idle && !throttled && w->idle_backoff_us == 0) {
			/* Just ran out of work, no source is waiting for input:
			 * a peer is likely mid-stream. Spin briefly first. */
			uint64_t now = mono_ns();
			if (!last_progress)
				last_progress = now;
			if (now - last_progress < ENG_SPIN_NS &&
			    spin_for_inbound(w, last_progress + ENG_SPIN_NS))
				continue;
		}
		uint32_t timeout = 0;
		if (idle) {
			uint32_t b = w->idle_backoff_us;
			b = b ? b * 2 : ENG_IDLE_START_US;
			if (b > e->cfg.idle_park_max_us)
				b = e->cfg.idle_park_max_us;
			w->idle_backoff_us = b;
			timeout = hint && hint < b ? hint : b;
		}
		park(w, timeout, throttled);
	}
}

/* Start gate: all workers finish init before any processes data. */
struct eng_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned arrived, expected;
};

struct eng_thread_arg {
	struct eng_worker *w;
	struct eng_gate *gate;
};

static void *
worker_main(void *p)
{
	struct eng_thread_arg *ta = p;
	struct eng_worker *w = ta->w;
	struct engine *e = w->e;
	for (unsigned n = 0; n < e->g->n_nodes; n++) {
		struct engine_ctx *c = &w->ctx[n];
		int rc = 0;
		if (c->gn->vt->init)
			rc = c->gn->vt->init(c, c->gn->arg, &c->state);
		if (rc) {
			int expect = 0;
			atomic_compare_exchange_strong(&e->init_error, &expect, rc);
			break;
		}
		c->initialised = 1;
	}
	struct eng_gate *g = ta->gate;
	pthread_mutex_lock(&g->mu);
	g->arrived++;
	pthread_cond_broadcast(&g->cv);
	while (g->arrived < g->expected)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	if (atomic_load(&e->init_error) == 0)
		run_loop(w);
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

void
engine_config_default(struct engine_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->workers = 0;
	cfg->batch_records = 1024;
	cfg->batch_bytes = 64 * 1024;
	cfg->max_inflight_batches = 256;
	cfg->first_epoch = 0;
	cfg->idle_park_max_us = 10000;
}

static int
ctx_setup(struct engine *e, struct eng_worker *w, unsigned n)
{
	const struct g_node *gn = &e->g->nodes[n];
	struct engine_ctx *c = &w->ctx[n];
	c->w = w;
	c->gn = gn;
	c->node = (int)n;
	c->in_frontier = c->out_frontier = e->cfg.first_epoch;
	if (gn->n_in) {
		c->in = calloc(gn->n_in, sizeof *c->in);
		if (!c->in)
			return WEFT_ENOMEM;
		for (unsigned p = 0; p < gn->n_in; p++) {
			struct eng_inport *in = &c->in[p];
			in->n_senders = in->n_live = gn->in[p].exchange ? e->W : 1;
			in->sender_f = malloc(in->n_senders * sizeof *in->sender_f);
			in->sender_done = calloc(in->n_senders, 1);
			if (!in->sender_f || !in->sender_done)
				return WEFT_ENOMEM;
			for (unsigned s = 0; s < in->n_senders; s++)
				in->sender_f[s] = e->cfg.first_epoch;
			in->final_max = e->cfg.first_epoch;
		}
	}
	if (gn->n_out) {
		c->out = calloc(gn->n_out, sizeof *c->out);
		if (!c->out)
			return WEFT_ENOMEM;
		for (unsigned o = 0; o < gn->n_out; o++) {
			unsigned nx = gn->out[o].n_xchg;
			if (nx && !(c->out[o].xbuf = calloc((size_t)nx * e->W,
			                                    sizeof(void *))))
				return WEFT_ENOMEM;
		}
	}
	return 0;
}

struct engine *
engine_new(struct engine_graph *g, const struct engine_config *cfg,
           char *errstr, size_t errlen)
{
#define FAIL(...)                                                  \
	do {                                                           \
		if (errstr && errlen)                                      \
			snprintf(errstr, errlen, __VA_ARGS__);                 \
		engine_free(e);                                            \
		return NULL;                                               \
	} while (0)
	struct engine *e = calloc(1, sizeof *e);
	if (!e) {
		engine_graph_free(g);
		if (errstr && errlen)
			snprintf(errstr, errlen, "out of memory");
		return NULL;
	}
	e->g = g;
	if (!g || g->n_nodes == 0)
		FAIL("engine: empty graph");
	e->cfg = *cfg;
	e->cfg.workers = weft_workers_for(e->cfg.workers);
	if (e->cfg.workers > 1024)
		FAIL("engine: workers = %u exceeds the limit of 1024", cfg->workers);
	if (e->cfg.batch_records == 0)
		FAIL("engine: batch_records must be at least 1");
	if (e->cfg.batch_bytes < 64 || e->cfg.batch_bytes > (1u << 30))
		FAIL("engine: batch_bytes must be in [64, 2^30]");
	if (e->cfg.max_inflight_batches == 0)
		FAIL("engine: max_inflight_batches must be at least 1");
	if (e->cfg.idle_park_max_us == 0)
		e->cfg.idle_park_max_us = 10000;
	for (unsigned n = 0; n < g->n_nodes; n++)
		for (unsigned p = 0; p < g->nodes[n].n_in; p++)
			if (g->nodes[n].in[p].from < 0)
				FAIL("engine: input %u of operator '%s' is not connected",
				     p, g->nodes[n].name);
	e->W = e->cfg.workers;
	e->cfg.batch_bytes = (e->cfg.batch_bytes + 7u) & ~7u;
	/* Fixed-size outputs get batches just big enough for batch_records
	 * records; variable-size ones get batch_bytes. */
	for (unsigned n = 0; n < g->n_nodes; n++)
		for (unsigned o = 0; o < g->nodes[n].n_out; o++) {
			struct g_out *go = &g->nodes[n].out[o];
			uint64_t want = go->rec_size
			                    ? (uint64_t)go->rec_size * e->cfg.batch_records
			                    : e->cfg.batch_bytes;
			if (want > e->cfg.batch_bytes)
				want = e->cfg.batch_bytes;
			if (want < go->rec_size)
				want = go->rec_size;
			go->cap = (uint32_t)want;
			go->max_recs = e->cfg.batch_records;
			if (go->rec_size && go->cap / go->rec_size < go->max_recs)
				go->max_recs = go->cap / go->rec_size;
			/* small fixed-size batches cross as messages of up to
			 * ENG_PUBLISH_MSGS of them (eng_send_ripe) */
			go->xmax_recs = go->max_recs;
			if (go->rec_size && go->n_xchg && want < ENG_PUBLISH_BYTES) {
				uint64_t x = want * ENG_PUBLISH_MSGS;
				if (x > e->cfg.batch_bytes)
					x = e->cfg.batch_bytes;
				if (x / go->rec_size > go->max_recs) {
					go->cap = (uint32_t)x;
					go->xmax_recs = (uint32_t)(x / go->rec_size);
				}
			}
		}
	atomic_init(&e->stopping, 0);
	atomic_init(&e->init_error, 0);

	e->queues = calloc((size_t)e->W * e->W, sizeof *e->queues);
	e->workers = calloc(e->W, sizeof *e->workers);
	if (!e->queues || !e->workers)
		FAIL("engine: out of memory");
	for (unsigned i = 0; i < e->W * e->W; i++)
		if (engine_queue_init(&e->queues[i]))
			FAIL("engine: out of memory");
	for (unsigned i = 0; i < e->W; i++) {
		struct eng_worker *w = &e->workers[i];
		w->e = e;
		w->id = i;
		atomic_init(&w->inflight, 0);
		atomic_init(&w->seq, 0);
		atomic_init(&w->parked, 0);
		w->ctx = calloc(g->n_nodes, sizeof *w->ctx);
		w->inq = calloc(e->W, sizeof *w->inq);
		if (!w->ctx || !w->inq)
			FAIL("engine: out of memory");
		for (unsigned s = 0; s < e->W; s++)
			w->inq[s] = &e->queues[s * e->W + i];
		for (unsigned n = 0; n < g->n_nodes; n++)
			if (ctx_setup(e, w, n))
				FAIL("engine: out of memory");
	}
	return e;
#undef FAIL
}

int
engine_run(struct engine *e)
{
	if (!e || e->ran)
		return WEFT_ESTATE;
	e->ran = 1;
	struct eng_gate gate = {.arrived = 0, .expected = e->W};
	pthread_mutex_init(&gate.mu, NULL);
	pthread_cond_init(&gate.cv, NULL);
	pthread_t *th = calloc(e->W, sizeof *th);
	struct eng_thread_arg *ta = calloc(e->W, sizeof *ta);
	if (!th || !ta) {
		free(th);
		free(ta);
		return WEFT_ENOMEM;
	}
	unsigned started = 0;
	for (; started < e->W; started++) {
		ta[started] = (struct eng_thread_arg){&e->workers[started], &gate};
		if (pthread_create(&th[started], NULL, worker_main, &ta[started]))
			break;
	}
	if (started < e->W) {
		int expect = 0;
		atomic_compare_exchange_strong(&e->init_error, &expect,
		                               WEFT_ETHREAD);
		pthread_mutex_lock(&gate.mu);
		gate.expected = started;
		pthread_cond_broadcast(&gate.cv);
		pthread_mutex_unlock(&gate.mu);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	free(ta);
	pthread_mutex_destroy(&gate.mu);
	pthread_cond_destroy(&gate.cv);
	return atomic_load(&e->init_error);
}

void
engine_stop(struct engine *e)
{
	atomic_store(&e->stopping, 1);
	engine_wake(e, -1);
}

void
engine_wake(struct engine *e, int w)
{
	if (w >= 0) {
		if ((unsigned)w < e->W)
			eng_wake_worker(&e->workers[w]);
		return;
	}
	for (unsigned i = 0; i < e->W; i++)
		eng_wake_worker(&e->workers[i]);
}

static void
worker_free(struct engine *e, struct eng_worker *w)
{
	if (w->ctx) {
		for (unsigned n = 0; n < e->g->n_nodes; n++) {
			struct engine_ctx *c = &w->ctx[n];
			if ((c->initialised || c->state) && c->gn->vt->destroy)
				c->gn->vt->destroy(c->state);
			if (c->in)
				for (unsigned p = 0; p < c->gn->n_in; p++) {
					free(c->in[p].sender_f);
					free(c->in[p].sender_done);
				}
			free(c->in);
			if (c->out)
				for (unsigned o = 0; o < c->gn->n_out; o++) {
					free(c->out[o].pipe);
					if (c->out[o].xbuf)
						for (unsigned i = 0;
						     i < c->gn->out[o].n_xchg * e->W; i++)
							free(c->out[o].xbuf[i]);
					free(c->out[o].xbuf);
				}
			free(c->out);
		}
	}
	for (unsigned i = 0; i < ENG_POOL_CLASSES; i++)
		while (w->pool[i].head) {
			struct engine_batch *b = w->pool[i].head;
			w->pool[i].head = b->next_free;
			free(b);
		}
	free(w->ctx);
	free(w->inq);
}

void
engine_free(struct engine *e)
{
	if (!e)
		return;
	if (e->queues) {
		for (unsigned i = 0; i < e->W * e->W; i++) {
			struct engine_msg m;
			if (!e->queues[i].c_seg)
				continue;
			while (engine_queue_pop(&e->queues[i], &m))
				free(m.batch);
			engine_queue_destroy(&e->queues[i]);
		}
	}
	if (e->workers)
		for (unsigned i = 0; i < e->W; i++)
			worker_free(e, &e->workers[i]);
	free(e->queues);
	free(e->workers);
	engine_graph_free(e->g);
	free(e);
}

unsigned
engine_workers(const struct engine *e)
{
	return e->W;
}

void
engine_get_stats(const struct engine *e, struct engine_stats *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < e->W; i++) {
		const struct eng_stats *s = &e->workers[i].st;
		out->batches_sent += s->batches_sent;
		out->records_sent += s->records_sent;
		out->punctuations_sent += s->punctuations_sent;
		out->epochs_closed += s->epochs_closed;
		out->parks += s->parks;
		out->backpressure_waits += s->backpressure_waits;
		if (s->max_epoch_closed > out->max_epoch_closed)
			out->max_epoch_closed = s->max_epoch_closed;
	}
}

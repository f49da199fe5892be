/*
 * console_store.c — what the web console shows, kept bounded: the traces
 * (every anomaly up to max_anomalies, one normal trace in normal_every up
 * to max_normal, oldest evicted first and counted), per-worker counters
 * and heat cells, and the one-second ticker that folds them into columns
 * of rates and per-template latency heatmaps over wall-clock time
 * (heat_seconds of them, a ring).
 *
 * The engine's side is op_console_observe(), on the worker's thread: its
 * own slot's lock for the counters (the ticker takes it once a second, so
 * it is all but uncontended), and the console's lock only to keep a trace
 * (an anomaly, or a sampled normal one), with the copy made before the
 * lock is taken and an evicted record freed after it is dropped; a
 * worker never holds both. console_int.h gives the lock order.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "operators/check/record.h"
#include "operators/output/console_int.h"

uint64_t
con_now_ns(int realtime)
{
	struct timespec ts;
	clock_gettime(realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned
heat_bucket(uint64_t ns)
{
	unsigned b = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;
	b = b < CON_HB_LO ? 0 : b - CON_HB_LO;
	return b < CON_HB ? b : CON_HB - 1;
}

static void
rec_free(struct con_rec *r)
{
	free(r->trace);
	free(r->line);
	memset(r, 0, sizeof *r);
}

/* Root operation and hosts of the copy in r (on the worker's thread). */
static void
rec_describe(struct con_rec *r)
{
	int exact;
	r->n_hosts = op_record_describe(r->trace, &r->root_op, r->host, CON_HOSTS, &exact);
}

/* Keeps a copy of t in ring g (under c->mu); the evicted record goes to
 * *old for the caller to free after unlocking. */
static void
ring_push(struct op_console *c, struct con_ring *g, struct con_rec *r,
          struct con_rec *old, _Atomic uint64_t *evicted)
{
	if (g->n == g->cap) {
		struct con_rec *o = con_ring_at(g, 0);
		*old = *o;
		c->store_bytes -= o->bytes;
		g->head = (g->head + 1) % g->cap;
		g->n--;
		atomic_fetch_add_explicit(evicted, 1, memory_order_relaxed);
	}
	r->seq = ++c->seq;
	c->store_bytes += r->bytes;
	*con_ring_at(g, g->n++) = *r;
}

static void
keep(struct op_console *c, const struct op_trace *t, const struct cluster_verdict *cv,
     const char *line, size_t len)
{
	struct con_rec r, old;
	memset(&r, 0, sizeof r);
	memset(&old, 0, sizeof old);
	r.trace = malloc(t->size);
	if (line) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		r.line = malloc(len + 1);
	}
	if (!r.trace || (line && !r.line)) {
		rec_free(&r);
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		return;
	}
	memcpy(r.trace, t, t->size);
	if (line) {
		memcpy(r.line, line, len);
		r.line[len] = '\0';
	}
	r.bytes = t->size + (line ? len + 1 : 0) + sizeof r;
	r.wall_ns = con_now_ns(1);
	r.verdict = t->verdict;
	r.tmpl = t->tmpl;
	r.slow_node = -1;
	if (cv) {
		r.distance = cv->distance;
		r.n_new = cv->n_new < CLUSTER_MAX_NEW ? cv->n_new : CLUSTER_MAX_NEW;
		memcpy(r.new_node, cv->new_node, sizeof r.new_node);
		if (cv->kind == CLUSTER_SLOW && !cv->slow_is_duration)
			r.slow_node = cv->slow_node;
	}
	rec_describe(&r);
	pthread_mutex_lock(&c->mu);
	if (line)
		ring_push(c, &c->anom, &r, &old, &c->evicted_anom);
	else
		ring_push(c, &c->norm, &r, &old, &c->evicted_norm);
	/* wake the event streams, if any: no wake-up (a context switch) per
	 * kept trace when no page is open */
	if (line && atomic_load_explicit(&c->streams, memory_order_relaxed))
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	rec_free(&old);
}

void
op_console_observe(void *arg, unsigned worker, const struct op_trace *t,
                   const struct cluster_verdict *cv, const char *line, size_t len)
{
	struct op_console *c = arg;
	struct con_slot *s = &c->slots[worker % c->workers];
	unsigned v = t->verdict < OP_VERDICT__COUNT ? t->verdict : OP_VERDICT_NONE;
	int sample = 0;
	pthread_mutex_lock(&s->mu);
	s->traces++;
	s->events += t->n_events;
	s->by_verdict[v]++;
	if (cv && t->tmpl >= 0) {
		if ((uint32_t)t->tmpl < c->cfg.heat_templates)
			s->heat[(size_t)t->tmpl * CON_HB + heat_bucket(t->duration_ns)]++;
		else
			s->heat_over++;
	}
	if (v == OP_VERDICT_NORMAL && ++s->normal_tick >= c->cfg.normal_every) {
		s->normal_tick = 0;
		sample = 1;
	}
	pthread_mutex_unlock(&s->mu);
	if (line && len)
		keep(c, t, cv, line, len);
	else if (sample)
		keep(c, t, cv, NULL, 0);
}

/* ---- the ticker --------------------------------------------------------- */

static uint64_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Folds every slot into the next column (a second), under c->mu so that
 * a reader sees each trace counted once: in a slot or in the totals. */
static void
tick(struct op_console *c, uint32_t *heat, struct con_col *col)
{
	size_t cells = (size_t)c->cfg.heat_templates * CON_HB;
	memset(heat, 0, cells * sizeof *heat);
	memset(col, 0, sizeof *col);
	col->rss_bytes = rss_bytes();
	if (c->gauges)
		c->gauges(c->gauges_arg, &col->g);
	uint64_t over = 0;
	pthread_mutex_lock(&c->mu);
	for (unsigned w = 0; w < c->workers; w++) {
		struct con_slot *s = &c->slots[w];
		pthread_mutex_lock(&s->mu);
		col->traces += s->traces;
		col->events += s->events;
		for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
			col->by_verdict[v] += s->by_verdict[v];
		over += s->heat_over;
		for (size_t i = 0; i < cells; i++)
			heat[i] += s->heat[i];
		memset(s->heat, 0, cells * sizeof *s->heat);
		s->traces = s->events = s->heat_over = 0;
		memset(s->by_verdict, 0, sizeof s->by_verdict);
		pthread_mutex_unlock(&s->mu);
	}
	col->t = con_now_ns(1) / 1000000000ull;
	size_t k = c->n_cols % c->cfg.heat_seconds;
	col->store_bytes = c->store_bytes;
	c->cols[k] = *col;
	memcpy(c->heat + k * cells, heat, cells * sizeof *heat);
	c->tot_traces += col->traces;
	c->tot_events += col->events;
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
		c->tot_verdict[v] += col->by_verdict[v];
	c->heat_over += over;
	c->n_cols++;
	pthread_mutex_unlock(&c->mu);
}

static void *
ticker_main(void *arg)
{
	struct op_console *c = arg;
	uint32_t *heat = malloc((size_t)c->cfg.heat_templates * CON_HB * sizeof *heat);
	struct con_col col;
	if (!heat)
		return NULL;
	struct timespec next;
	clock_gettime(CLOCK_REALTIME, &next);
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		next.tv_sec++;
		/* the ticks land on whole seconds plus the start's fraction */
		while (!c->stopping &&
		       pthread_cond_timedwait(&c->tick_cv, &c->mu, &next) == 0)
			;
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->mu);
		tick(c, heat, &col);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	free(heat);
	return NULL;
}

int
con_ticker_start(struct op_console *c)
{
	if (pthread_create(&c->ticker, NULL, ticker_main, c))
		return WEFT_ETHREAD;
	c->ticking = 1;
	return 0;
}

void
con_ticker_stop(struct op_console *c)
{
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_cond_broadcast(&c->tick_cv);
	pthread_mutex_unlock(&c->mu);
	if (c->ticking)
		pthread_join(c->ticker, NULL);
	c->ticking = 0;
}

/* ---- set-up ------------------------------------------------------------- */

int
con_store_init(struct op_console *c)
{
	const struct op_console_config *k = &c->cfg;
	size_t cells = (size_t)k->heat_templates * CON_HB;
	c->anom.cap = k->max_anomalies;
	c->norm.cap = k->max_normal;
	c->anom.r = calloc(c->anom.cap, sizeof *c->anom.r);
	c->norm.r = calloc(c->norm.cap ? c->norm.cap : 1, sizeof *c->norm.r);
	c->cols = calloc(k->heat_seconds, sizeof *c->cols);
	c->heat = calloc((size_t)k->heat_seconds * cells, sizeof *c->heat);
	c->slots = calloc(c->workers, sizeof *c->slots);
	if (!c->anom.r || !c->norm.r || !c->cols || !c->heat || !c->slots)
		return WEFT_ENOMEM;
	for (unsigned w = 0; w < c->workers; w++) {
		c->slots[w].heat = calloc(cells, sizeof *c->slots[w].heat);
		if (!c->slots[w].heat)
			return WEFT_ENOMEM;
		pthread_mutex_init(&c->slots[w].mu, NULL);
	}
	c->started_ns = con_now_ns(1);
	return 0;
}

static void
ring_free(struct con_ring *g)
{
	for (uint32_t i = 0; g->r && i < g->n; i++)
		rec_free(con_ring_at(g, i));
	free(g->r);
}

void
con_store_free(struct op_console *c)
{
	ring_free(&c->anom);
	ring_free(&c->norm);
	free(c->cols);
	free(c->heat);
	for (unsigned w = 0; c->slots && w < c->workers; w++) {
		free(c->slots[w].heat);
		pthread_mutex_destroy(&c->slots[w].mu);
	}
	free(c->slots);
}

static int
metric(struct weft_buf *out, const char *name, const char *type, const char *help,
       const char *labels, double v)
{
	int rc = type ? op_metrics_family(out, name, type, help) : 0;
	return rc ? rc : op_metrics_sample(out, name, labels, v);
}

int
op_console_metrics(struct op_console *c, struct weft_buf *out)
{
	static const char *const bad[CON_BAD__COUNT] = {
		"not_found", "method", "too_long", "unauthorized", "bad_query", "busy"};
	pthread_mutex_lock(&c->mu);
	uint64_t bytes = c->store_bytes, na = c->anom.n, nn = c->norm.n, over = c->heat_over;
	pthread_mutex_unlock(&c->mu);
	int rc = metric(out, "weft_console_store_bytes", "gauge",
	                "memory held by the console's kept traces", NULL, (double)bytes);
	rc = rc ? rc : metric(out, "weft_console_store_traces", "gauge",
	                      "traces kept for the console", "kind=\"anomaly\"", (double)na);
	rc = rc ? rc : metric(out, "weft_console_store_traces", NULL, NULL,
	                      "kind=\"normal\"", (double)nn);
	rc = rc ? rc : metric(out, "weft_console_store_evicted_total", "counter",
	                      "kept traces evicted by newer ones (console.max_anomalies, "
	                      "console.max_normal)", "kind=\"anomaly\"",
	                      (double)atomic_load(&c->evicted_anom));
	rc = rc ? rc : metric(out, "weft_console_store_evicted_total", NULL, NULL,
	                      "kind=\"normal\"", (double)atomic_load(&c->evicted_norm));
	rc = rc ? rc : metric(out, "weft_console_store_dropped_total", "counter",
	                      "traces not kept: out of memory", NULL,
	                      (double)atomic_load(&c->dropped));
	rc = rc ? rc : metric(out, "weft_console_heat_overflow_total", "counter",
	                      "traces of templates beyond console.heat_templates", NULL,
	                      (double)over);
	rc = rc ? rc : metric(out, "weft_console_requests_total", "counter",
	                      "HTTP requests to the console", NULL,
	                      (double)atomic_load(&c->requests));
	for (unsigned i = 0; !rc && i < CON_BAD__COUNT; i++) {
		char l[48];
		snprintf(l, sizeof l, "reason=\"%s\"", bad[i]);
		rc = metric(out, "weft_console_bad_requests_total", i ? NULL : "counter",
		            i ? NULL : "requests answered 4xx/503, by reason", l,
		            (double)atomic_load(&c->bad[i]));
	}
	rc = rc ? rc : metric(out, "weft_console_connections_refused_total", "counter",
	                      "connections closed at accept: console.max_conns reached",
	                      NULL, (double)atomic_load(&c->refused));
	rc = rc ? rc : metric(out, "weft_console_connections", "gauge",
	                      "open console connections", NULL,
	                      (double)atomic_load(&c->conns));
	rc = rc ? rc : metric(out, "weft_console_streams", "gauge",
	                      "open anomaly event streams", NULL,
	                      (double)atomic_load(&c->streams));
	return rc;
}

int
con_metrics_page(struct op_console *c, struct weft_buf *out)
{
	int rc = op_console_metrics(c, out);
	if (!rc && atomic_load(&c->epoch_close_on))
		rc = op_prom_epoch_close_render(out, &c->epoch_close);
	return rc ? rc : op_prom_process(out);
}

struct op_prom_hist *
op_console_epoch_close(struct op_console *c)
{
	atomic_store(&c->epoch_close_on, 1);
	return &c->epoch_close;
}

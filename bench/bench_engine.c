/*
 * bench_engine.c — `weft bench engine`: records/s through an exchange edge
 * and epoch-close latency.
 *
 * Graph: source -> exchange(key) -> counting sink, on W workers. Every
 * worker's source emits 16-byte records (8-byte key, 8-byte value) as fast
 * as it can, closing an epoch every --epoch-records records; the sink sums
 * values. Throughput = records / wall time from engine_run() to its return
 * (start-up, all epochs, flush and join included). Each configuration runs
 * --runs times; the median is reported.
 *
 * Epoch-close latency: for each epoch e the time from the last source
 * worker's engine_source_advance(e + 1) to the last sink worker's
 * on_epoch_close(e) — how long after the input closed an epoch every shard
 * knows it. Measured under full load (the throughput runs, batch 1024) and
 * reported as p50 / p99 / max.
 *
 * WEFT_BENCH_STATS=1 prints, per run, the engine's counters (batches,
 * parks, backpressure waits) and when each worker's source finished: equal
 * finish times with a lower per-worker rate point at per-record costs
 * (cross-core traffic), unequal ones at imbalance.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/opt.h"
#include "engine/engine.h"

#define MAX_EPOCHS 4096
/* a header or row of the tables: under 96 characters per worker count,
 * up to the 64 workers the bench runs */
#define EB_LINE (64u * 96u + 64u)

struct eb_shared {
	uint64_t per_worker;
	uint64_t epoch_records;
	uint64_t t0;
	_Atomic uint64_t sum;
	_Atomic uint64_t advance_ns[MAX_EPOCHS]; /* max over sources */
	_Atomic uint64_t close_ns[MAX_EPOCHS];   /* max over sinks */
};

static void
atomic_max(_Atomic uint64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
	while (cur < v && !atomic_compare_exchange_weak_explicit(
	                      a, &cur, v, memory_order_relaxed,
	                      memory_order_relaxed))
		;
}

struct eb_src {
	struct eb_shared *sh;
	uint64_t n, epoch, seed;
};

static int
eb_src_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct eb_src *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->sh = arg;
	s->seed = 0x9e3779b97f4a7c15ULL * (engine_ctx_worker(ctx) + 1);
	*state = s;
	return 0;
}

static enum engine_poll
eb_src_poll(void *state, struct engine_ctx *ctx)
{
	struct eb_src *s = state;
	struct eb_shared *sh = s->sh;
	if (s->n >= sh->per_worker) {
		if (getenv("WEFT_BENCH_STATS"))
			fprintf(stderr, "  worker %u source done at %llu us\n",
			        engine_ctx_worker(ctx),
			        (unsigned long long)((bench_now_ns() - sh->t0) / 1000));
		return ENGINE_POLL_DONE;
	}
	uint64_t end = s->n + 4096;
	if (end > sh->per_worker)
		end = sh->per_worker;
	while (s->n < end) {
		/* emit up to the next epoch boundary, then close the epoch */
		uint64_t boundary = (s->epoch + 1) * sh->epoch_records;
		uint64_t stop = boundary < end ? boundary : end;
		uint64_t key = s->seed + s->n * 0x9e3779b97f4a7c15ULL;
		for (; s->n < stop; s->n++, key += 0x9e3779b97f4a7c15ULL) {
			uint64_t rec[2] = {key, 1};
			engine_emit(ctx, 0, s->epoch, rec, sizeof rec);
		}
		if (s->n == boundary) {
			if (s->epoch < MAX_EPOCHS)
				atomic_max(&sh->advance_ns[s->epoch], bench_now_ns());
			engine_source_advance(ctx, ++s->epoch);
		}
	}
	return ENGINE_POLL_DATA;
}

struct eb_sink {
	struct eb_shared *sh;
	uint64_t sum;
};

static int
eb_sink_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct eb_sink *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->sh = arg;
	*state = s;
	return 0;
}

static void
eb_sink_batch(void *state, struct engine_ctx *ctx, unsigned port,
              const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct eb_sink *s = state;
	const uint64_t *r = (const uint64_t *)b->data;
	uint64_t sum = 0;
	for (uint32_t i = 0; i < b->count; i++)
		sum += r[2 * i + 1];
	s->sum += sum;
}

static void
eb_sink_close(void *state, struct engine_ctx *ctx, uint64_t e)
{
	(void)ctx;
	struct eb_sink *s = state;
	if (e < MAX_EPOCHS)
		atomic_max(&s->sh->close_ns[e], bench_now_ns());
}

static void
eb_sink_destroy(void *state)
{
	struct eb_sink *s = state;
	atomic_fetch_add(&s->sh->sum, s->sum);
	free(s);
}

static const struct engine_op_vtable eb_src_vt = {
	.init = eb_src_init, .poll = eb_src_poll, .destroy = free,
};
static const struct engine_op_vtable eb_sink_vt = {
	.init = eb_sink_init,
	.on_batch = eb_sink_batch,
	.on_epoch_close = eb_sink_close,
	.destroy = eb_sink_destroy,
};

static uint32_t eb_inflight; /* 0: engine default */

/* CPU time of the whole process (user + system), in ns: around a run it
 * is what the run's worker threads used, the waiting caller adding
 * nothing. */
static uint64_t
eb_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	           1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
	           1000ull;
}

/* What one engine's sources and sinks share: per_worker records per
 * source, an epoch closed every epoch_records. NULL: out of memory. */
static struct eb_shared *
eb_shared_new(uint64_t per_worker, uint64_t epoch_records)
{
	struct eb_shared *sh = calloc(1, sizeof *sh);
	if (sh) {
		sh->per_worker = per_worker;
		sh->epoch_records = epoch_records;
	}
	return sh;
}

/* The graph on W workers, batch records per batch; sh gets the records. */
static struct engine *
eb_build(unsigned W, uint32_t batch, struct eb_shared *sh)
{
	struct engine_graph *g = engine_graph_new();
	const uint32_t rs[] = {16};
	int s = engine_graph_add(g, "source", &eb_src_vt, sh, 0, 1, rs);
	int k = engine_graph_add(g, "sink", &eb_sink_vt, sh, 1, 0, NULL);
	engine_graph_connect(g, s, 0, k, 0, engine_key_first_u64, NULL);
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = W;
	cfg.batch_records = batch;
	if (eb_inflight)
		cfg.max_inflight_batches = eb_inflight;
	char err[256];
	struct engine *e = engine_new(g, &cfg, err, sizeof err);
	if (!e)
		fprintf(stderr, "bench engine: %s\n", err);
	return e;
}

/* engine_run, then the counters (WEFT_BENCH_STATS) and a check that no
 * record was lost; frees e. Returns 0 or -1. */
static int
eb_finish(struct engine *e, int rc, unsigned W, uint32_t batch,
          struct eb_shared *sh)
{
	if (getenv("WEFT_BENCH_STATS")) {
		struct engine_stats es;
		engine_get_stats(e, &es);
		fprintf(stderr, "W=%u batch=%u: batches %llu parks %llu bp_waits %llu puncts %llu\n",
		        W, batch, (unsigned long long)es.batches_sent,
		        (unsigned long long)es.parks, (unsigned long long)es.backpressure_waits,
		        (unsigned long long)es.punctuations_sent);
	}
	engine_free(e);
	uint64_t want = sh->per_worker * W;
	if (rc || atomic_load(&sh->sum) != want) {
		fprintf(stderr, "bench engine: lost records (%llu of %llu)\n",
		        (unsigned long long)atomic_load(&sh->sum),
		        (unsigned long long)want);
		return -1;
	}
	return 0;
}

/* One run; returns records/s, the CPU time it used per record (ns) in
 * *cpu, and fills lat[] with per-epoch latencies. */
static double
eb_run(unsigned W, uint32_t batch, uint64_t total, uint64_t epoch_records,
       double *cpu, double *lat, size_t *n_lat)
{
	struct eb_shared *sh = eb_shared_new(total / W, epoch_records);
	if (!sh)
		return -1;
	struct engine *e = eb_build(W, batch, sh);
	if (!e) {
		free(sh);
		return -1;
	}
	uint64_t c0 = eb_cpu_ns(), t0 = bench_now_ns();
	sh->t0 = t0;
	int rc = engine_run(e);
	uint64_t t1 = bench_now_ns(), c1 = eb_cpu_ns();
	if (eb_finish(e, rc, W, batch, sh)) {
		free(sh);
		return -1;
	}
	if (lat && n_lat) {
		*n_lat = 0;
		uint64_t epochs = sh->per_worker / epoch_records;
		for (uint64_t ep = 0; ep < epochs && ep < MAX_EPOCHS; ep++) {
			uint64_t a = atomic_load(&sh->advance_ns[ep]);
			uint64_t c = atomic_load(&sh->close_ns[ep]);
			if (a && c)
				lat[(*n_lat)++] = c > a ? (double)(c - a) / 1e3 : 0.0;
		}
	}
	uint64_t want = sh->per_worker * W;
	free(sh);
	*cpu = (double)(c1 - c0) / (double)want;
	return (double)want / ((double)(t1 - t0) / 1e9);
}

static void *
eb_run_thread(void *arg)
{
	struct engine *e = arg;
	return (void *)(intptr_t)engine_run(e);
}

/*
 * The machine's share of a run: W independent single-worker engines in
 * this process at the same time, each with total / W records, no exchange
 * between them. Returns their aggregate records/s (total over the time
 * the last one took). Compared with the W-worker engine in the same round
 * it separates what exchange costs from what the machine gives two
 * threads at that moment (on this VM, one vCPU is at times much slower).
 */
static double
eb_run_independent(unsigned W, uint32_t batch, uint64_t total,
                   uint64_t epoch_records, double *cpu)
{
	struct eb_shared *sh[64];
	struct engine *e[64];
	pthread_t th[64];
	int ok = 1;
	for (unsigned i = 0; i < W; i++) {
		sh[i] = eb_shared_new(total / W, epoch_records);
		e[i] = NULL;
		if (!sh[i]) {
			ok = 0;
			continue;
		}
		if (!(e[i] = eb_build(1, batch, sh[i])))
			ok = 0;
	}
	uint64_t c0 = eb_cpu_ns(), t0 = bench_now_ns(), t1 = t0;
	unsigned started = 0;
	if (ok) {
		for (; started < W; started++) {
			sh[started]->t0 = t0;
			if (pthread_create(&th[started], NULL, eb_run_thread, e[started]))
				break;
		}
		ok = started == W;
	}
	int rc[64] = {0};
	for (unsigned i = 0; i < started; i++) {
		void *r;
		pthread_join(th[i], &r);
		rc[i] = (int)(intptr_t)r;
	}
	t1 = bench_now_ns();
	uint64_t c1 = eb_cpu_ns();
	uint64_t want = 0;
	for (unsigned i = 0; i < W; i++) {
		if (e[i] && eb_finish(e[i], i < started ? rc[i] : -1, 1, batch, sh[i]))
			ok = 0;
		if (sh[i])
			want += sh[i]->per_worker;
		free(sh[i]);
	}
	*cpu = want ? (double)(c1 - c0) / (double)want : 0;
	return ok ? (double)want / ((double)(t1 - t0) / 1e9) : -1;
}

/* Samples of W workers' runs: runs consecutive doubles per W, W = 1 first. */
static const double *
eb_col(const double *v, unsigned W, int runs)
{
	return v + (W - 1) * (size_t)runs;
}

/* Median of v[0..runs); scratch holds v sorted afterwards (min first). */
static double
eb_median(const double *v, int runs, double *scratch)
{
	memcpy(scratch, v, (size_t)runs * sizeof *scratch);
	return bench_median(scratch, (size_t)runs);
}

/* Median over rounds r of a[r] / (k * b[r]): a same-round ratio. */
static double
eb_median_ratio(const double *a, const double *b, double k, int runs,
                double *scratch)
{
	for (int r = 0; r < runs; r++)
		scratch[r] = a[r] / (k * b[r]);
	return bench_median(scratch, (size_t)runs);
}

/* ---- the command -------------------------------------------------------- */

static const uint32_t eb_batches[] = {1, 4, 16, 64, 256, 1024, 4096};

/* `weft bench engine` options; defaults from eb_opts_init(). */
struct eb_opts {
	int runs;
	uint64_t records;
	unsigned max_w;
	uint32_t inflight; /* 0: the engine's default */
	uint32_t batch;    /* 0: every size of eb_batches */
	const char *md;
};

#define EO(f) offsetof(struct eb_opts, f)
static const struct weft_opt eb_opts_tab[] = {
	{.name = "runs", .kind = WEFT_OPT_INT, .off = EO(runs), .meta = "N",
	 .help = "interleaved rounds (medians over them)", .slo = 1,
	 .shi = 1000},
	{.name = "records", .kind = WEFT_OPT_U64, .off = EO(records),
	 .meta = "N", .help = "records per run", .lo = 1000, .hi = 1ull << 40},
	{.name = "max-workers", .kind = WEFT_OPT_UINT, .off = EO(max_w),
	 .meta = "W", .help = "measure W = 1..this (default: the cores, at "
	 "most 64)", .lo = 1, .hi = 64},
	{.name = "inflight", .kind = WEFT_OPT_U32, .off = EO(inflight),
	 .meta = "BATCHES", .help = "in-flight batches per edge (0: the "
	 "engine's default)", .hi = 1u << 20},
	{.name = "batch", .kind = WEFT_OPT_U32, .off = EO(batch),
	 .meta = "RECORDS", .help = "only this batch size, one of 1, 4, 16, "
	 "64, 256, 1024, 4096 (0: all)", .hi = 4096},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = EO(md), .meta = "FILE",
	 .help = "also write the tables to FILE, with the command and the "
	 "machine"},
	{0},
};
static const struct weft_cmd eb_cmd = {
	.name = "weft bench engine",
	.usage = "[options]",
	.about = "Records/s through one exchange edge (source -> exchange(key) "
	    "-> counting sink)\nfor W = 1..--max-workers workers and batch "
	    "sizes 1..4096, against W independent\nengines; CPU per record; "
	    "epoch-close latency under full load. WEFT_BENCH_STATS=1\nprints "
	    "the engine's counters per run.",
	.opts = eb_opts_tab,
};

static void
eb_opts_init(struct eb_opts *o)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	memset(o, 0, sizeof *o);
	o->runs = 5;
	o->records = 20000000;
	o->max_w = cores < 1 ? 1 : cores > 64 ? 64 : (unsigned)cores;
}

/* -1 and o filled, or the exit status of a usage error or --help. */
static int
eb_parse(int argc, char **argv, struct eb_opts *o)
{
	eb_opts_init(o);
	int rc = weft_opt_run(&eb_cmd, o, argc, argv, NULL, NULL);
	if (rc >= 0)
		return rc;
	int known = !o->batch;
	for (size_t i = 0; i < sizeof eb_batches / sizeof *eb_batches; i++)
		known |= eb_batches[i] == o->batch;
	if (!known)
		return weft_opt_usage(&eb_cmd, "--batch: %u is not one of 1, 4, "
		                         "16, 64, 256, 1024, 4096 (or 0: all)",
		                         o->batch);
	return -1;
}

/* The result tables. */
struct eb_tabs {
	struct bench_table *t, *eff, *mach, *cput, *lt;
};

static void
eb_tabs_free(struct eb_tabs *x)
{
	bench_table_free(x->t);
	bench_table_free(x->eff);
	bench_table_free(x->mach);
	bench_table_free(x->cput);
	bench_table_free(x->lt);
}

static void
eb_tabs_new(struct eb_tabs *x, unsigned max_w)
{
	/* Rounds interleave W = 1..max_w, so every W of a round meets the
	 * same machine state: on a shared VM absolute speed drifts by tens
	 * of percent between seconds, and ratios within a round are what is
	 * stable. Throughput: median (min-max) over rounds. Efficiency:
	 * median over rounds of tp(W) / (W x tp(1)) from the same round. */
	x->t = bench_table_new(
	    "Engine: records/s through one exchange edge (16-byte records, "
	    "8-byte keys), median (min-max) of interleaved rounds");
	bench_table_header(x->t, "batch records", max_w);
	char cols[EB_LINE] = "batch records";
	for (unsigned W = 2; W <= max_w; W++) {
		size_t l = strlen(cols);
		snprintf(cols + l, sizeof cols - l, "|W=%u speed-up|W=%u efficiency",
		         W, W);
	}
	x->eff = bench_table_new(
	    "Engine: parallel efficiency, median over rounds of throughput(W) / "
	    "(W x throughput(W=1)) measured in the same round");
	bench_table_columns(x->eff, cols);
	snprintf(cols, sizeof cols, "batch records");
	for (unsigned W = 2; W <= max_w; W++) {
		size_t l = strlen(cols);
		snprintf(cols + l, sizeof cols - l,
		         "|%u independent engines|their share of %u x W=1|"
		         "W=%u exchange / independent", W, W, W);
	}
	x->mach = bench_table_new(
	    "Engine against the machine: W independent single-worker engines "
	    "in this process at once (no exchange between them), same rounds; "
	    "their share of W x the W=1 rate is what the VM gave W threads, and "
	    "W-worker exchange / independent is what exchange itself costs "
	    "(medians of same-round ratios)");
	bench_table_columns(x->mach, cols);
	snprintf(cols, sizeof cols, "batch records|W=1 CPU ns/record");
	for (unsigned W = 2; W <= max_w; W++) {
		size_t l = strlen(cols);
		snprintf(cols + l, sizeof cols - l,
		         "|W=%u exchange CPU ns/record|vs W=1|%u independent, vs W=1",
		         W, W);
	}
	x->cput = bench_table_new(
	    "Engine: CPU time per record (all threads, getrusage), median over "
	    "rounds; 'vs W=1' is the median same-round ratio. Where exchange "
	    "costs more CPU per record than one worker, W=2 can reach at most "
	    "1 / that ratio of efficiency; the independent engines' ratio is "
	    "what running two busy threads at once costs on this machine");
	bench_table_columns(x->cput, cols);
	x->lt = bench_table_new(
	    "Engine: epoch-close latency under full load (batch 1024, widest "
	    "W): last source advance -> last sink on_epoch_close");
	bench_table_columns(x->lt, "epochs measured|p50|p99|max");
}

/* Per-run figures: runs consecutive values per W (see eb_col), and the
 * epoch-close latencies of the runs that measure them. */
struct eb_data {
	double *samples, *indep, *cpu, *cpu_ind, *tmp, *lat;
	size_t n_lat;
};

static void
eb_data_free(struct eb_data *d)
{
	free(d->samples);
	free(d->indep);
	free(d->cpu);
	free(d->cpu_ind);
	free(d->tmp);
	free(d->lat);
}

static int
eb_data_new(struct eb_data *d, int runs)
{
	memset(d, 0, sizeof *d);
	d->samples = calloc((size_t)runs * 64, sizeof *d->samples);
	d->indep = calloc((size_t)runs * 64, sizeof *d->indep);
	d->cpu = calloc((size_t)runs * 64, sizeof *d->cpu);
	d->cpu_ind = calloc((size_t)runs * 64, sizeof *d->cpu_ind);
	d->tmp = calloc((size_t)runs, sizeof *d->tmp);
	d->lat = calloc((size_t)runs * MAX_EPOCHS, sizeof *d->lat);
	if (d->samples && d->indep && d->cpu && d->cpu_ind && d->tmp && d->lat)
		return 0;
	fprintf(stderr, "bench engine: out of memory\n");
	eb_data_free(d);
	return -1;
}

/* Every round of batch size b: W-worker runs and, for W >= 2, W
 * independent engines. Returns 0 or -1. */
static int
eb_measure(const struct eb_opts *o, uint32_t b, struct eb_data *d)
{
	/* every batch size gets the same records: since small batches cross
	 * as one message (engine/progress.c), a tenth of them made runs of
	 * 8-14 ms, where one descheduling halved a rate */
	uint64_t recs = o->records;
	for (int r = 0; r < o->runs; r++) {
		for (unsigned W = 1; W <= o->max_w; W++) {
			size_t nl = 0;
			int want_lat = b == 1024 && W == o->max_w;
			size_t at = (W - 1) * (size_t)o->runs + (size_t)r;
			double v = eb_run(W, b, recs, recs / W / 64 + 1, &d->cpu[at],
			                  want_lat ? d->lat + d->n_lat : NULL,
			                  want_lat ? &nl : NULL);
			if (v < 0)
				return -1;
			d->samples[at] = v;
			d->n_lat += nl;
			if (W < 2)
				continue;
			v = eb_run_independent(W, b, recs, recs / W / 64 + 1,
			                       &d->cpu_ind[at]);
			if (v < 0)
				return -1;
			d->indep[at] = v;
		}
	}
	return 0;
}

/* The rows of batch size b in every table but the latency one. */
static void
eb_rows(struct eb_tabs *x, struct eb_data *d, uint32_t b, unsigned max_w,
        int runs)
{
	char buf[EB_LINE];
	double *tmp = d->tmp;
	int off = snprintf(buf, sizeof buf, "%u", b);
	for (unsigned W = 1; W <= max_w; W++) {
		double med = eb_median(eb_col(d->samples, W, runs), runs, tmp);
		off += snprintf(buf + off, sizeof buf - (size_t)off,
		                "|%.1f M (%.1f-%.1f)", med / 1e6, tmp[0] / 1e6,
		                tmp[runs - 1] / 1e6);
	}
	bench_table_row(x->t, buf);
	off = snprintf(buf, sizeof buf, "%u", b);
	for (unsigned W = 2; W <= max_w; W++) {
		double sp = eb_median_ratio(eb_col(d->samples, W, runs), d->samples,
		                            1, runs, tmp);
		off += snprintf(buf + off, sizeof buf - (size_t)off,
		                "|%.2fx|%.2f", sp, sp / W);
	}
	bench_table_row(x->eff, buf);
	off = snprintf(buf, sizeof buf, "%u", b);
	for (unsigned W = 2; W <= max_w; W++) {
		const double *xs = eb_col(d->samples, W, runs),
		             *ys = eb_col(d->indep, W, runs);
		double med = eb_median(ys, runs, tmp);
		double share = eb_median_ratio(ys, d->samples, W, runs, tmp);
		off += snprintf(buf + off, sizeof buf - (size_t)off,
		                "|%.1f M|%.2f|%.2f", med / 1e6, share,
		                eb_median_ratio(xs, ys, 1, runs, tmp));
	}
	bench_table_row(x->mach, buf);
	off = snprintf(buf, sizeof buf, "%u|%.2f", b,
	               eb_median(d->cpu, runs, tmp));
	for (unsigned W = 2; W <= max_w; W++) {
		const double *xs = eb_col(d->cpu, W, runs),
		             *ys = eb_col(d->cpu_ind, W, runs);
		double med = eb_median(xs, runs, tmp);
		double rx = eb_median_ratio(xs, d->cpu, 1, runs, tmp);
		off += snprintf(buf + off, sizeof buf - (size_t)off,
		                "|%.2f|%.2fx|%.2fx", med, rx,
		                eb_median_ratio(ys, d->cpu, 1, runs, tmp));
	}
	bench_table_row(x->cput, buf);
}

/* The latency row, over every measured epoch. */
static void
eb_latency_row(struct eb_tabs *x, struct eb_data *d)
{
	char buf[256];
	size_t n = d->n_lat;
	bench_sort(d->lat, n);
	snprintf(buf, sizeof buf, "%zu|%.1f us|%.1f us|%.1f us", n,
	         bench_quantile(d->lat, n, 0.5), bench_quantile(d->lat, n, 0.99),
	         n ? d->lat[n - 1] : 0.0);
	bench_table_row(x->lt, buf);
}

static void
eb_print(const struct eb_tabs *x, unsigned max_w, FILE *f)
{
	bench_table_print(x->t, f);
	bench_table_print(x->eff, f);
	if (max_w > 1)
		bench_table_print(x->mach, f);
	bench_table_print(x->cput, f);
	bench_table_print(x->lt, f);
}

int
bench_engine_main(int argc, char **argv)
{
	struct eb_opts o;
	int rc = eb_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	eb_inflight = o.inflight;
	struct eb_data d;
	if (eb_data_new(&d, o.runs))
		return 1;
	struct eb_tabs x;
	eb_tabs_new(&x, o.max_w);
	rc = 1;
	for (size_t bi = 0; bi < sizeof eb_batches / sizeof *eb_batches; bi++) {
		uint32_t b = eb_batches[bi];
		if (o.batch && b != o.batch)
			continue;
		if (eb_measure(&o, b, &d))
			goto out;
		eb_rows(&x, &d, b, o.max_w, o.runs);
	}
	eb_latency_row(&x, &d);
	eb_print(&x, o.max_w, stdout);
	rc = 0;
	if (o.md) {
		FILE *f = fopen(o.md, "w");
		if (!f) {
			perror(o.md);
			rc = 1;
		} else {
			bench_write_preamble(f, "weft bench engine", argc, argv);
			eb_print(&x, o.max_w, f);
			fclose(f);
		}
	}
out:
	eb_data_free(&d);
	eb_tabs_free(&x);
	return rc;
}

/*
 * learn.c — the learning loop's thread (learn.h): the hand-off buffer from
 * the check workers, the retrain tick, training with the trainer `weft
 * train` uses, the versioned model file and the change report. The swap
 * itself is op_check's reload (op_check_request_reload).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/check/check.h"
#include "operators/check/learn.h"
#include "common/common.h"

struct pending {
	struct op_trace *t;
	unsigned verdict;
};

struct op_learn {
	struct op_check_config *check;
	struct op_learn_config c;
	struct op_learn_pick *pick;
	pthread_t thread;
	_Atomic int stop;
	int started;
	struct cluster_model *last; /* the model last written (a reference) */
	pthread_mutex_t lock; /* buf */
	struct pending *buf, *work;
	uint32_t n_buf;
	struct op_trace_view view;
	struct cluster_pieces_scratch *ps;
	uint64_t *pieces; /* scratch: distinct pieces of the training set */
	size_t n_pieces, cap_pieces;
	uint64_t *node_pieces;
	size_t cap_node;
	_Atomic uint64_t offered, buffer_full;
	uint64_t period; /* current period (epoch interval) */
	int have_period;
	pthread_mutex_t st_lock; /* st */
	struct op_learn_stats st;
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One log line: through the configured logger, else "weft learn: ..." on
 * stderr. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
say(const struct op_learn *l, const char *level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (l->c.log)
		l->c.log(level, "learn: %s", line);
	else
		fprintf(stderr, "weft learn: %s\n", line);
}

void
op_learn_offer(struct op_learn *l, const struct op_trace *t, unsigned verdict)
{
	if (!op_learn_usable(verdict, t->flags))
		return;
	atomic_fetch_add_explicit(&l->offered, 1, memory_order_relaxed);
	struct op_trace *copy = malloc(t->size);
	if (!copy)
		return;
	memcpy(copy, t, t->size);
	pthread_mutex_lock(&l->lock);
	if (l->n_buf < l->c.buffer) {
		l->buf[l->n_buf++] = (struct pending){copy, verdict};
		copy = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	if (copy) {
		atomic_fetch_add_explicit(&l->buffer_full, 1, memory_order_relaxed);
		free(copy);
	}
}

/* Adds the trace's pieces to l->pieces (sorted and deduplicated later). */
static int
collect_pieces(struct op_learn *l)
{
	uint32_t n = l->view.dag.n_nodes;
	if (WEFT_GROW(l->node_pieces, l->cap_node, n, 64) ||
	    WEFT_GROW(l->pieces, l->cap_pieces, l->n_pieces + n, 1024))
		return WEFT_ENOMEM;
	int rc = cluster_pieces(l->ps, &l->view.dag, l->node_pieces);
	if (rc)
		return rc;
	memcpy(l->pieces + l->n_pieces, l->node_pieces, n * sizeof *l->node_pieces);
	l->n_pieces += n;
	return 0;
}

/* Templates of a (by medoid exact shape) missing from b. */
static uint64_t
templates_missing(const struct cluster_model *a, const struct cluster_model *b)
{
	struct cluster_model_info ia, ib;
	cluster_model_info(a, &ia);
	cluster_model_info(b, &ib);
	uint64_t miss = 0;
	for (uint32_t i = 0; i < ia.n_templates; i++) {
		struct cluster_template_view va, vb;
		if (cluster_model_template(a, i, &va))
			continue;
		int found = 0;
		for (uint32_t j = 0; j < ib.n_templates && !found; j++)
			found = !cluster_model_template(b, j, &vb) && vb.exact == va.exact;
		miss += !found;
	}
	return miss;
}

/* Trains from the sample; *out the new model. */
static int
train(struct op_learn *l, const struct cluster_model *old, struct cluster_model **out,
      char *err, size_t errlen)
{
	struct cluster_model_info oi;
	cluster_model_info(old, &oi);
	struct cluster_model_params p = oi.params;
	p.threads = 1; /* beside the engine's workers: one core */
	p.progress = NULL;
	p.progress_arg = NULL;
	struct cluster_trainer *tr;
	int rc = cluster_trainer_new(&p, &tr);
	if (rc) {
		snprintf(err, errlen, "trainer: %s", weft_strerror(rc));
		return rc;
	}
	size_t n;
	const struct op_trace *const *s = op_learn_pick_sample(l->pick, &n);
	l->n_pieces = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = op_trace_view_fill(&l->view, s[i]);
		if (!rc)
			rc = cluster_trainer_add(tr, &l->view.in);
		if (!rc)
			rc = collect_pieces(l);
		if (rc == WEFT_EINVAL)
			rc = 0; /* not a DAG: skipped, as weft train does */
	}
	if (rc)
		snprintf(err, errlen, "training: %s", weft_strerror(rc));
	else
		rc = cluster_trainer_build(tr, out, err, errlen);
	if (!rc) {
		char from[CLUSTER_MODEL_FROM_MAX];
		snprintf(from, sizeof from, "learning loop: %zu traces sampled from the stream", n);
		cluster_model_set_origin(*out, (uint64_t)time(NULL), from);
	}
	cluster_trainer_free(tr);
	return rc;
}

/* The change report against the model replaced, in l->st and one line. */
static void
report(struct op_learn *l, const struct cluster_model *old, const struct cluster_model *nm,
       const struct op_learn_period *per, uint32_t version)
{
	qsort(l->pieces, l->n_pieces, sizeof *l->pieces, weft_cmp_u64);
	size_t d = 0;
	uint64_t known = 0;
	for (size_t i = 0; i < l->n_pieces; i++)
		if (!d || l->pieces[d - 1] != l->pieces[i])
			l->pieces[d++] = l->pieces[i];
	for (size_t i = 0; i < d; i++)
		known += (uint64_t)cluster_model_has_piece(old, l->pieces[i]);
	struct cluster_model_info oi, ni;
	cluster_model_info(old, &oi);
	cluster_model_info(nm, &ni);
	uint64_t t_add = templates_missing(nm, old), t_rm = templates_missing(old, nm);
	uint64_t p_add = d - known, p_rm = oi.pieces > known ? oi.pieces - known : 0;
	pthread_mutex_lock(&l->st_lock);
	l->st.retrains++;
	l->st.last_sample = per->sample;
	l->st.templates = ni.n_templates;
	l->st.pieces = ni.pieces;
	l->st.promoted += per->promoted;
	l->st.templates_added += t_add;
	l->st.templates_removed += t_rm;
	l->st.pieces_added += p_add;
	l->st.pieces_removed += p_rm;
	l->st.version = version ? version + 1u : 0; /* 0: versions not kept */
	pthread_mutex_unlock(&l->st_lock);
	char sigs[96] = "", ver[64] = "versions not kept (keep 0)";
	if (version)
		snprintf(ver, sizeof ver, "model version %" PRIu32 ", replaced one kept as v%" PRIu32,
		         version + 1u, version);
	for (uint32_t i = 0, o = 0; i < per->promoted && i < 4 && o < sizeof sigs; i++)
		o += (uint32_t)snprintf(sigs + o, sizeof sigs - o, " %016" PRIx64, per->promoted_sig[i]);
	say(l, "info",
	        "retrained from %" PRIu64 " traces (%" PRIu64 " sampled normal, "
	        "%u structures promoted%s): templates %u -> %u (+%" PRIu64 " -%" PRIu64 "), "
	        "pieces %" PRIu64 " -> %" PRIu64 " (+%" PRIu64 " -%" PRIu64 "), "
	        "%s",
	        per->sample, per->reservoir, per->promoted, sigs, oi.n_templates, ni.n_templates,
	        t_add, t_rm, oi.pieces, ni.pieces, p_add, p_rm, ver);
}

static void
retrain(struct op_learn *l)
{
	struct op_learn_period per;
	op_learn_pick_period(l->pick, &per);
	if (per.sample < l->c.min_sample) {
		pthread_mutex_lock(&l->st_lock);
		l->st.skipped_small_sample++;
		l->st.promoted += per.promoted;
		pthread_mutex_unlock(&l->st_lock);
		say(l, "info", "no retrain, %" PRIu64 " traces (fewer than %" PRIu32 ")",
		        per.sample, l->c.min_sample);
		op_learn_pick_reset(l->pick);
		return;
	}
	/* against the model the file holds: the last one written here (the
	 * check may not have swapped it in yet), else the one in use */
	struct op_check_config *cfg = l->check;
	struct cluster_model *old = l->last;
	if (!old) {
		pthread_mutex_lock(&cfg->lock);
		old = cfg->model;
		cluster_model_ref(old);
		pthread_mutex_unlock(&cfg->lock);
	}
	l->last = NULL;
	char err[512];
	struct cluster_model *nm = NULL;
	uint32_t version = 0;
	int rc = train(l, old, &nm, err, sizeof err);
	if (!rc)
		rc = cluster_model_keep_version(cfg->model_path, l->c.keep, &version, err, sizeof err);
	if (!rc)
		rc = cluster_model_save(nm, cfg->model_path, err, sizeof err);
	if (rc) {
		pthread_mutex_lock(&l->st_lock);
		l->st.errors++;
		pthread_mutex_unlock(&l->st_lock);
		say(l, "error", "retrain failed, the model stays: %s", err);
		l->last = old;
		old = NULL;
	} else {
		report(l, old, nm, &per, version);
		op_check_request_reload(cfg);
		l->last = nm;
		nm = NULL;
	}
	cluster_model_unref(nm);
	cluster_model_unref(old);
	op_learn_pick_reset(l->pick);
}

/* Hands the buffered traces to the rules. With an epoch interval the
 * periods follow the traces' emit epochs (period = epoch / every_epochs),
 * so what is learned from a file does not depend on thread timing: a
 * trace of a later period ends the current one first (retrained), and
 * periods in between, without a trace, end empty (no structure recurred
 * in them). */
static uint32_t
drain(struct op_learn *l)
{
	pthread_mutex_lock(&l->lock);
	uint32_t n = l->n_buf;
	struct pending *b = l->buf;
	l->buf = l->work;
	l->work = b;
	l->n_buf = 0;
	pthread_mutex_unlock(&l->lock);
	uint64_t E = l->c.every_epochs;
	for (uint32_t i = 0; i < n; i++) {
		if (E) {
			uint64_t p = b[i].t->emit_epoch / E;
			if (!l->have_period) {
				l->period = p;
				l->have_period = 1;
			} else if (p > l->period) {
				retrain(l);
				if (p > l->period + 1) { /* periods without a trace */
					struct op_learn_period gap;
					op_learn_pick_period(l->pick, &gap);
					op_learn_pick_reset(l->pick);
				}
				l->period = p;
			}
		}
		op_learn_pick_add(l->pick, b[i].t, b[i].verdict);
	}
	return n;
}

static void *
learner(void *arg)
{
	struct op_learn *l = arg;
	uint64_t last_ms = mono_ms(), last_trace_ms = last_ms, E = l->c.every_epochs;
	while (!atomic_load(&l->stop)) {
		struct timespec nap = {0, 10 * 1000 * 1000};
		nanosleep(&nap, NULL);
		uint64_t ep = atomic_load(&l->check->max_closed);
		if (drain(l))
			last_trace_ms = mono_ms();
		pthread_mutex_lock(&l->st_lock);
		op_learn_pick_stats(l->pick, &l->st.pick);
		pthread_mutex_unlock(&l->st_lock);
		uint64_t now = mono_ms();
		/* traffic stopped: the open period ends once its epochs closed
		 * and no trace came for idle_ms (a file run never idles that
		 * long, so its periods stay those of its traces' epochs) */
		if (E && l->have_period && l->c.idle_ms && now - last_trace_ms >= l->c.idle_ms &&
		    ep / E > l->period) {
			pthread_mutex_lock(&l->st_lock);
			l->st.idle_ends++;
			pthread_mutex_unlock(&l->st_lock);
			retrain(l);
			l->period = ep / E;
		}
		if (l->c.every_ms && now - last_ms >= l->c.every_ms) {
			last_ms = now;
			retrain(l);
		}
	}
	return NULL;
}

int
op_learn_start(struct op_check_config *check, const struct op_learn_config *c,
               struct op_learn **out, char *errstr, size_t errlen)
{
	*out = NULL;
	if (!c->every_epochs && !c->every_ms) {
		snprintf(errstr, errlen, "learning needs an interval (epochs or ms)");
		return WEFT_EINVAL;
	}
	if (!c->buffer) {
		snprintf(errstr, errlen, "learning needs a buffer of at least one trace");
		return WEFT_EINVAL;
	}
	struct op_learn *l = calloc(1, sizeof *l);
	if (!l) {
		snprintf(errstr, errlen, "out of memory");
		return WEFT_ENOMEM;
	}
	l->check = check;
	l->c = *c;
	int rc = op_learn_pick_new(c, &l->pick);
	l->buf = calloc(c->buffer, sizeof *l->buf);
	l->work = calloc(c->buffer, sizeof *l->work);
	l->ps = cluster_pieces_scratch_new();
	if (!rc && (!l->buf || !l->work || !l->ps))
		rc = WEFT_ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->st_lock, NULL);
	if (!rc && pthread_create(&l->thread, NULL, learner, l))
		rc = WEFT_ETHREAD;
	l->started = !rc;
	if (rc) {
		snprintf(errstr, errlen, "cannot start learning: %s", weft_strerror(rc));
		op_learn_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void
op_learn_stop(struct op_learn *l, int finish)
{
	if (!l)
		return;
	atomic_store(&l->stop, 1);
	if (l->started)
		pthread_join(l->thread, NULL);
	if (finish && l->started)
		drain(l); /* periods the waiting traces close are retrained */
	l->started = 0;
}

void
op_learn_free(struct op_learn *l)
{
	if (!l)
		return;
	op_learn_stop(l, 0);
	for (uint32_t i = 0; l->buf && i < l->n_buf; i++)
		free(l->buf[i].t);
	op_learn_pick_free(l->pick);
	cluster_model_unref(l->last);
	free(l->buf);
	free(l->work);
	op_trace_view_free(&l->view);
	cluster_pieces_scratch_free(l->ps);
	free(l->pieces);
	free(l->node_pieces);
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->st_lock);
	free(l);
}

void
op_learn_get_stats(struct op_learn *l, struct op_learn_stats *out)
{
	pthread_mutex_lock(&l->st_lock);
	*out = l->st;
	pthread_mutex_unlock(&l->st_lock);
	out->offered = atomic_load(&l->offered);
	out->buffer_full = atomic_load(&l->buffer_full);
}

void
op_learn_print_summary(struct op_learn *l, FILE *f)
{
	if (!l)
		return;
	struct op_learn_stats st;
	op_learn_get_stats(l, &st);
	fprintf(f,
	        "  learning          %" PRIu64 " retrains (%" PRIu64 " skipped: small sample, "
	        "%" PRIu64 " failed), model version %" PRIu64 ", %" PRIu64 " structures promoted; "
	        "%" PRIu64 " traces offered (%" PRIu64 " dropped: buffer full), "
	        "%" PRIu64 " new structures not tracked (table full)\n",
	        st.retrains, st.skipped_small_sample, st.errors, st.version, st.promoted,
	        st.offered, st.buffer_full, st.pick.table_full);
}

/*
 * test_traces.h — finished traces for the tests of the model path (check,
 * sample file, trace sink, report): real op_trace records made by the
 * assembler from a few events, a source that replays such records with
 * chosen ids and epochs (and can hold an epoch until the test lets it
 * go), a capturing sink, a model trained on records, and a scratch
 * directory. Include after test_util.h.
 */
#ifndef WEFT_TEST_OP_TRACES_H
#define WEFT_TEST_OP_TRACES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "engine/engine.h"
#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/ingest/event.h"
#include "operators/ingest/ingest.h"
#include "test_util.h"

/* For engine callbacks, which run on worker threads where cmocka's
 * asserts must not be used: a failed check aborts the test program. */
#define CB_CHECK(x)                                                           \
	do {                                                                  \
		if (!(x)) {                                                   \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__,       \
			        __LINE__, #x);                                \
			abort();                                              \
		}                                                             \
	} while (0)

/* ---- records made by the assembler ------------------------------------ */

/* One event of a trace; parent 0: a root. end 0: no end time. */
struct ev_step {
	uint64_t id, parent;
	const char *label, *host;
	uint64_t start, end;
};

struct ev_script {
	const struct ev_step *steps;
	size_t n;
};

static inline int
ev_src_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	*state = arg;
	return 0;
}

/* Worker 0 emits every step in epoch 0 (trace id 1), then finishes. */
static inline enum engine_poll
ev_src_poll(void *state, struct engine_ctx *ctx)
{
	const struct ev_script *sc = state;
	if (engine_ctx_worker(ctx) == 0) {
		struct op_event_builder b;
		uint64_t rec[512];
		uint32_t len;
		CB_CHECK(op_event_builder_init(&b, sizeof rec, 4, 2) == 0);
		for (size_t i = 0; i < sc->n; i++) {
			const struct ev_step *st = &sc->steps[i];
			op_event_builder_reset(&b);
			b.hdr.trace_id = 1;
			b.hdr.event_id = st->id;
			b.hdr.start_ns = st->start;
			if (st->end) {
				b.hdr.end_ns = st->end;
				b.hdr.flags |= OP_EV_HAS_END;
			}
			if (st->parent)
				op_event_builder_add_parent(&b, st->parent);
			op_event_builder_set(&b, OP_EV_LABEL, st->label, strlen(st->label));
			op_event_builder_set(&b, OP_EV_HOST, st->host, strlen(st->host));
			CB_CHECK(op_event_builder_finish(&b, rec, sizeof rec, &len) == 0);
			engine_emit(ctx, 0, 0, rec, len);
		}
		op_event_builder_free(&b);
		engine_source_advance(ctx, 10);
	}
	return ENGINE_POLL_DONE;
}

static const struct engine_op_vtable ev_src_vt __attribute__((unused)) = {
	.init = ev_src_init, .poll = ev_src_poll,
};

/* ---- a capturing sink -------------------------------------------------- */
/* Copies of every record it gets, with the epoch of its batch. */
struct capture {
	pthread_mutex_t mu;
	struct op_trace **t;
	uint64_t *epoch;
	size_t n, cap;
};

static inline void
cap_batch(void *state, struct engine_ctx *ctx, unsigned port,
          const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct capture *c = state;
	struct engine_batch_cursor cur = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	pthread_mutex_lock(&c->mu);
	while ((r = engine_batch_next(b, &cur, &len))) {
		if (c->n == c->cap) {
			c->cap = c->cap ? 2 * c->cap : 64;
			c->t = realloc(c->t, c->cap * sizeof *c->t);
			c->epoch = realloc(c->epoch, c->cap * sizeof *c->epoch);
			CB_CHECK(c->t && c->epoch);
		}
		c->t[c->n] = malloc(len);
		CB_CHECK(c->t[c->n] != NULL);
		memcpy(c->t[c->n], r, len);
		c->epoch[c->n++] = b->epoch;
	}
	pthread_mutex_unlock(&c->mu);
}

static const struct engine_op_vtable cap_vt __attribute__((unused)) = {
	.init = state_is_arg_init, .on_batch = cap_batch,
};

static inline void
capture_init(struct capture *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
}

static inline void
capture_free(struct capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->t[i]);
	free(c->t);
	free(c->epoch);
	pthread_mutex_destroy(&c->mu);
}

/* The record the assembler makes of these events (one trace; the caller
 * frees it). */
static inline struct op_trace *
make_trace(const struct ev_step *steps, size_t n)
{
	struct ev_script sc = {steps, n};
	struct op_assemble_config ac;
	struct capture cap;
	op_assemble_config_init(&ac);
	capture_init(&cap);
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "events", &ev_src_vt, &sc, 0, 1, var);
	int a = engine_graph_add(g, "assemble", &op_assemble_vtable, &ac, 1, 1, var);
	int k = engine_graph_add(g, "capture", &cap_vt, &cap, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, a, 0, op_event_trace_key, NULL), 0);
	assert_int_equal(engine_graph_connect(g, a, 0, k, 0, NULL, NULL), 0);
	assert_int_equal(run_graph(g, 1, NULL), 0);
	assert_int_equal(cap.n, 1);
	struct op_trace *t = cap.t[0];
	cap.n = 0;
	capture_free(&cap);
	op_assemble_config_destroy(&ac);
	return t;
}

/* ---- a source replaying records ---------------------------------------- */
/* One record to emit: a copy of shape with this trace id, in this epoch
 * (its emit_epoch too). Entries are in epoch order. */
struct plan_rec {
	uint64_t epoch, id;
	const struct op_trace *shape;
};

struct rec_plan {
	const struct plan_rec *recs;
	size_t n;
	uint64_t final_epoch; /* > every epoch of recs */
	/* Called on worker 0 once its frontier is e, before the records of
	 * epoch e go out, until it returns 0 (non-zero: poll again later). */
	int (*hold)(void *arg, uint64_t e);
	void *hold_arg;
};

struct rec_src {
	const struct rec_plan *p;
	size_t i;
	uint64_t e;
	unsigned char *buf;
};

/* The record a plan entry stands for, in buf (shape->size bytes). */
static inline void
plan_record(const struct plan_rec *r, void *buf)
{
	struct op_trace *t = buf;
	memcpy(t, r->shape, r->shape->size);
	t->trace_id = r->id;
	t->emit_epoch = r->epoch;
}

static inline int
rec_src_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct rec_src *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->p = arg;
	*state = s;
	return 0;
}

static inline enum engine_poll
rec_src_poll(void *state, struct engine_ctx *ctx)
{
	struct rec_src *s = state;
	const struct rec_plan *p = s->p;
	if (engine_ctx_worker(ctx) != 0)
		return ENGINE_POLL_DONE;
	if (s->e == p->final_epoch) {
		engine_source_advance(ctx, p->final_epoch);
		return ENGINE_POLL_DONE;
	}
	engine_source_advance(ctx, s->e);
	if (p->hold && p->hold(p->hold_arg, s->e))
		return ENGINE_POLL_IDLE;
	for (; s->i < p->n && p->recs[s->i].epoch == s->e; s->i++) {
		const struct plan_rec *r = &p->recs[s->i];
		s->buf = realloc(s->buf, r->shape->size);
		CB_CHECK(s->buf != NULL);
		plan_record(r, s->buf);
		engine_emit(ctx, 0, s->e, s->buf, r->shape->size);
	}
	s->e++;
	return ENGINE_POLL_DATA;
}

static inline void
rec_src_destroy(void *state)
{
	struct rec_src *s = state;
	free(s->buf);
	free(s);
}

static const struct engine_op_vtable rec_src_vt __attribute__((unused)) = {
	.init = rec_src_init, .poll = rec_src_poll, .destroy = rec_src_destroy,
};

/* The plan entry of trace id, or NULL. */
static inline const struct plan_rec *
plan_find(const struct rec_plan *p, uint64_t id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->recs[i].id == id)
			return &p->recs[i];
	return NULL;
}

/* ---- models ------------------------------------------------------------ */

/* Trains a model on the given records, each added reps times (latency
 * thresholds need 20 samples), and saves it to path. */
static inline void
train_model(const struct op_trace *const *t, size_t n, int reps, const char *path)
{
	struct cluster_model_params p;
	cluster_model_params_default(&p);
	p.threads = 1;
	struct cluster_trainer *tr;
	assert_int_equal(cluster_trainer_new(&p, &tr), 0);
	struct op_trace_view v;
	memset(&v, 0, sizeof v);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < reps; k++) {
			assert_int_equal(op_trace_view_fill(&v, t[i]), 0);
			assert_int_equal(cluster_trainer_add(tr, &v.in), 0);
		}
	op_trace_view_free(&v);
	struct cluster_model *m;
	char err[512];
	if (cluster_trainer_build(tr, &m, err, sizeof err))
		fail_msg("train: %s", err);
	cluster_trainer_free(tr);
	if (cluster_model_save(m, path, err, sizeof err))
		fail_msg("save: %s", err);
	cluster_model_unref(m);
}

/* ---- scratch files ------------------------------------------------------- */

/* A fresh directory for a test's files (removed by tmp_dir_remove). */
static inline void
tmp_dir_make(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, len, "%s/weft-optest-XXXXXX", base && base[0] ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
}

/* dir/name into buf. */
static inline const char *
tmp_path(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* Removes dir and the plain files in it. */
static inline void
tmp_dir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	char path[4096 + 256 + 8];
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlink(tmp_path(path, sizeof path, dir, de->d_name));
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
}

/* The whole of a file (NUL-terminated; *len its size; the caller frees). */
static inline char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *p = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = 2 * cap + 8192;
			p = realloc(p, cap);
			assert_non_null(p);
		}
		size_t got = fread(p + n, 1, 4096, f);
		n += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	p[n] = 0;
	if (len)
		*len = n;
	return p;
}

#endif

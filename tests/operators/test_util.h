/*
 * test_util.h — helpers shared by the operator tests: collect the events a
 * decoder produces (copied, since callbacks only lend them), the decoder
 * fixture, a dead-letter sink in memory, and running an engine graph.
 */
#ifndef WEFT_TEST_OP_UTIL_H
#define WEFT_TEST_OP_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "operators/ingest/decode.h"

/* A real-shaped X-Trace v4 JSON report (the JSON decoder's tests). */
#define V4_GOOD \
	"{\"TaskID\":\"7e1b3b5a2c9d4f10\",\"EventID\":\"-4611686018427387904\"," \
	"\"ParentEventID\":[\"123\",\"456\"],\"Timestamp\":1404236567890," \
	"\"HRT\":1234567890123,\"Cycles\":98765,\"Host\":\"node-1\"," \
	"\"ProcessID\":4242,\"ProcessName\":\"DataNode\",\"ThreadID\":17," \
	"\"ThreadName\":\"main\",\"Agent\":\"HDFS\",\"Source\":\"X.java:42\"," \
	"\"Label\":\"writeBlock\",\"Tag\":[\"a\",\"b\"],\"Title\":\"t\"}"

#define COLLECT_MAX 64

struct collect {
	unsigned n;
	uint64_t *rec[COLLECT_MAX]; /* 8-byte aligned copies */
};

static inline int
collect_fn(void *arg, const struct op_event *ev, uint32_t len)
{
	struct collect *c = arg;
	if (c->n >= COLLECT_MAX)
		return WEFT_ELIMIT;
	if (op_event_validate(ev, len) != 0)
		return WEFT_ECORRUPT;
	c->rec[c->n] = malloc(len);
	memcpy(c->rec[c->n], ev, len);
	c->n++;
	return 0;
}

static inline const struct op_event *
collected(const struct collect *c, unsigned i)
{
	return (const struct op_event *)(const void *)c->rec[i];
}

static inline void
collect_free(struct collect *c)
{
	for (unsigned i = 0; i < c->n; i++)
		free(c->rec[i]);
	c->n = 0;
}

/* The decoder tests' fixture: a decoder of one format and a record buffer.
 * cmocka setup/teardown: dec_fx_setup_json / _text, dec_fx_teardown. */
struct fx {
	struct op_decoder *d;
	uint64_t rec[2048];
	uint32_t len;
};

static inline int
dec_fx_setup(void **state, enum op_format format)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f || op_decoder_new(format, NULL, "t", NULL, &f->d)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int
dec_fx_setup_json(void **state)
{
	return dec_fx_setup(state, OP_FORMAT_JSON_V4);
}

static inline int
dec_fx_setup_text(void **state)
{
	return dec_fx_setup(state, OP_FORMAT_TEXT);
}

static inline int
dec_fx_teardown(void **state)
{
	struct fx *f = *state;
	op_decoder_free(f->d);
	free(f);
	return 0;
}

/* The record the fixture's decoder last wrote, as an event. */
static inline const struct op_event *
fx_ev(const struct fx *f)
{
	return (const struct op_event *)(const void *)f->rec;
}

/* Checks that decoding gave a reject (rc from the fixture's decode call)
 * and returns its reason. */
static inline enum op_reject
fx_reject(const struct fx *f, int rc)
{
	assert_true(rc == WEFT_EFORMAT || rc == WEFT_ELIMIT);
	return op_decoder_last_reject(f->d);
}

/* Feeds n bytes of in to d in one piece and finishes the stream; the
 * events go to c. */
static inline void
feed_all(struct op_decoder *d, const char *in, size_t n, struct collect *c)
{
	assert_int_equal(op_decoder_feed(d, in, n, collect_fn, c), 0);
	assert_int_equal(op_decoder_finish(d, collect_fn, c), 0);
}

/* A dead-letter sink that writes to memory: after mem_dl_close, buf holds
 * len bytes of dead letters (NUL-terminated; the caller frees buf). */
struct mem_dl {
	char *buf;
	size_t len;
	FILE *f;
	struct op_deadletter *dl;
};

static inline void
mem_dl_open(struct mem_dl *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	assert_int_equal(op_deadletter_new(m->f, &m->dl), 0);
}

static inline void
mem_dl_close(struct mem_dl *m)
{
	op_deadletter_free(m->dl);
	fclose(m->f);
}

/* ---- operators in an engine ------------------------------------------- */

/* init of a node whose state is its argument (a sink's results). */
static inline int
state_is_arg_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	*state = arg;
	return 0;
}

/* Runs graph g on W workers to its end and frees the engine; returns
 * engine_run's result. st, when not NULL, gets the engine's stats. */
static inline int
run_graph(struct engine_graph *g, unsigned W, struct engine_stats *st)
{
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = W;
	char err[256] = "";
	struct engine *e = engine_new(g, &cfg, err, sizeof err);
	if (!e)
		fail_msg("engine_new: %s", err);
	int rc = engine_run(e);
	if (st)
		engine_get_stats(e, st);
	engine_free(e);
	return rc;
}

#endif

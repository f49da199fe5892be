/*
 * test_util.h — helpers shared by the operator tests: collect the events a
 * decoder produces (copied, since callbacks only lend them).
 */
#ifndef WEFT_TEST_OP_UTIL_H
#define WEFT_TEST_OP_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "operators/decode.h"

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

#endif

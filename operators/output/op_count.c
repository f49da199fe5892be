/*
 * op_count.c — counting sink: records and their payload bytes, for
 * measuring what reaches the end of a pipeline without keeping it
 * (weft replay --ingest-only).
 */
#include <stdlib.h>

#include "operators/output/output.h"

struct count_inst {
	struct op_count *shared;
	uint64_t records, bytes;
};

static int
count_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct count_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->shared = arg;
	*state = s;
	return 0;
}

static void
count_batch(void *state, struct engine_ctx *ctx, unsigned port,
            const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct count_inst *s = state;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len)))
		s->bytes += len;
	s->records += b->count;
}

static void
count_destroy(void *state)
{
	struct count_inst *s = state;
	struct op_count *sh = s->shared;
	atomic_fetch_add(&sh->records, s->records);
	atomic_fetch_add(&sh->bytes, s->bytes);
	free(s);
}

const struct engine_op_vtable op_count_vtable = {
	.init = count_init,
	.on_batch = count_batch,
	.destroy = count_destroy,
};

/*
 * op_count.c — counting sink: records, bytes, closed epochs and a checksum
 * of the records' first 8 bytes (so tests and benchmarks can prove nothing
 * was lost or duplicated without keeping the records).
 */
#include <stdlib.h>
#include <string.h>

#include "operators/operators.h"

struct count_inst {
	struct op_count *shared;
	uint64_t records, bytes, epochs, checksum;
	uint64_t published; /* records already added to records_live */
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
	while ((r = engine_batch_next(b, &c, &len))) {
		uint64_t v = 0;
		memcpy(&v, r, len < 8 ? len : 8);
		s->checksum += v;
		s->bytes += len;
	}
	s->records += b->count;
}

static void
count_close(void *state, struct engine_ctx *ctx, uint64_t epoch)
{
	(void)ctx;
	(void)epoch;
	struct count_inst *s = state;
	s->epochs++;
	atomic_fetch_add_explicit(&s->shared->records_live,
	                          s->records - s->published,
	                          memory_order_relaxed);
	s->published = s->records;
}

static void
count_destroy(void *state)
{
	struct count_inst *s = state;
	struct op_count *sh = s->shared;
	atomic_fetch_add(&sh->records, s->records);
	atomic_fetch_add(&sh->bytes, s->bytes);
	atomic_fetch_add(&sh->epochs_closed, s->epochs);
	atomic_fetch_add(&sh->checksum, s->checksum);
	free(s);
}

const struct engine_op_vtable op_count_vtable = {
	.init = count_init,
	.on_batch = count_batch,
	.on_epoch_close = count_close,
	.destroy = count_destroy,
};

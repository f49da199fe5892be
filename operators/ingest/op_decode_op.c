/*
 * op_decode_op.c — the decode operator: unit records in, X-Trace event
 * records out, one op_decoder per worker.
 *
 * A unit that does not decode is counted by reason and dead-lettered by the
 * decoder with its position; the batch goes on with the next unit, so the
 * good events around a bad one are never lost. Events keep the epoch of the
 * unit they came from (the ingest clock), so decoding never moves a record
 * across an epoch boundary.
 *
 * op_inline_decoder is the same work done inside a source (operators.h).
 */
#include <stdlib.h>
#include <string.h>

#include "operators/ingest/ingest.h"

struct dec_inst {
	struct op_decode_op_config *cfg;
	struct op_decoder *d;
	struct engine_ctx *ctx; /* valid during on_batch */
	uint64_t epoch;
};

static int
dec_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct op_decode_op_config *cfg = arg;
	struct dec_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = cfg;
	return op_decoder_new(cfg->format, &cfg->decode, cfg->source_name,
	                      cfg->deadletter, &s->d);
}

static int
emit_event(void *arg, const struct op_event *ev, uint32_t len)
{
	struct dec_inst *s = arg;
	engine_emit(s->ctx, 0, s->epoch, ev, len);
	return 0;
}

static void
dec_batch(void *state, struct engine_ctx *ctx, unsigned port,
          const struct engine_batch *b)
{
	(void)port;
	struct dec_inst *s = state;
	s->ctx = ctx;
	s->epoch = b->epoch;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len))) {
		struct op_unit_rec h;
		if (len < sizeof h)
			continue; /* cannot happen: the source writes the header */
		memcpy(&h, r, sizeof h);
		struct op_unit u = {
			.data = (const char *)r + sizeof h,
			.len = h.len,
			.avail = len - sizeof h,
			.pos = {.offset = h.offset, .line = h.line, .src = h.src},
			.flags = h.flags,
		};
		op_decoder_unit(s->d, &u, emit_event, s);
	}
}

static void
add_stats(struct op_decode_op_config *cfg, const struct op_decoder *d)
{
	const struct op_decode_stats *st = op_decoder_stats(d);
	atomic_fetch_add(&cfg->units, st->units);
	atomic_fetch_add(&cfg->events, st->events);
	atomic_fetch_add(&cfg->rejected, st->rejected);
	for (int i = 0; i < OP_REJECT__COUNT; i++)
		atomic_fetch_add(&cfg->by_reason[i], st->by_reason[i]);
	for (int i = 0; i <= OP_FORMAT__COUNT; i++)
		atomic_fetch_add(&cfg->looks_like[i], st->looks_like[i]);
}

static void
dec_destroy(void *state)
{
	struct dec_inst *s = state;
	if (s->d) {
		add_stats(s->cfg, s->d);
		op_decoder_free(s->d);
	}
	free(s);
}

/* ---- inline, in a source ------------------------------------------------ */

/* The event is laid out in the batch it leaves in (no copy from the
 * decoder's buffer into the batch); inline_event publishes it. */
static void *
inline_reserve(void *arg, uint64_t trace_id, uint32_t size)
{
	struct op_inline_decoder *x = arg;
	x->room = engine_emit_reserve(x->ctx, 0, x->epoch, trace_id, size);
	return x->room;
}

static int
inline_event(void *arg, const struct op_event *ev, uint32_t len)
{
	struct op_inline_decoder *x = arg;
	if (x->room && (const void *)ev == x->room)
		engine_emit_commit(x->ctx, 0, len);
	else
		engine_emit(x->ctx, 0, x->epoch, ev, len);
	x->room = NULL;
	return 0;
}

int
op_inline_decoder_init(struct op_inline_decoder *x,
                       struct op_decode_op_config *cfg)
{
	memset(x, 0, sizeof *x);
	x->cfg = cfg;
	int rc = op_decoder_new(cfg->format, &cfg->decode, cfg->source_name,
	                        cfg->deadletter, &x->d);
	if (rc == 0)
		op_decoder_set_reserve(x->d, inline_reserve, x);
	return rc;
}

void
op_inline_decoder_unit(struct op_inline_decoder *x, struct engine_ctx *ctx,
                       uint64_t epoch, const struct op_unit *u)
{
	x->ctx = ctx;
	x->epoch = epoch;
	op_decoder_unit(x->d, u, inline_event, x);
}

void
op_source_unit(struct engine_ctx *ctx, uint64_t epoch, const struct op_unit *u,
               uint64_t seq, struct op_inline_decoder *dec, unsigned char *rec)
{
	if (dec) {
		op_inline_decoder_unit(dec, ctx, epoch, u);
		return;
	}
	/* the unit dec_batch() rebuilds from this record */
	struct op_unit_rec h = {
		.offset = u->pos.offset,
		.line = u->pos.line,
		.src = u->pos.src,
		.seq = seq,
		.len = (uint32_t)u->len,
		.flags = u->flags,
	};
	memcpy(rec, &h, sizeof h);
	memcpy(rec + sizeof h, u->data, u->avail);
	engine_emit(ctx, 0, epoch, rec, (uint32_t)(sizeof h + u->avail));
}

void
op_inline_decoder_free(struct op_inline_decoder *x)
{
	if (x->d) {
		add_stats(x->cfg, x->d);
		op_decoder_free(x->d);
	}
	memset(x, 0, sizeof *x);
}

const struct engine_op_vtable op_decode_vtable = {
	.init = dec_init,
	.on_batch = dec_batch,
	.destroy = dec_destroy,
};

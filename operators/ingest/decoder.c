/*
 * decoder.c — the decoder object shared by both formats: configuration and
 * its checks, construction, and the streaming entry points (feed, unit,
 * finish) that route each unit to the JSON or the text decoder, turning
 * units the splitter flagged (too long, truncated) into counted rejects.
 */
#include "operators/ingest/decode_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

void
op_decode_config_default(struct op_decode_config *cfg)
{
	cfg->max_line_bytes = 64u << 10;
	cfg->max_report_bytes = 64u << 10;
	cfg->max_field_bytes = 4u << 10;
	cfg->max_parents = 64;
	cfg->max_kv = 32;
	cfg->max_record_bytes = 16u << 10;
	cfg->max_json_depth = 16;
	cfg->max_excerpt_bytes = 256;
	cfg->max_message_bytes = 4u << 20;
	cfg->keep_kv = 1;
}

static int
cfg_err(char *errstr, size_t errlen, const char *key, const char *why)
{
	if (errstr && errlen)
		snprintf(errstr, errlen, "decode config: %s %s", key, why);
	return WEFT_EINVAL;
}

int
op_decode_config_check(const struct op_decode_config *c, char *errstr,
                       size_t errlen)
{
	if (c->max_line_bytes == 0 || c->max_line_bytes > (1u << 30))
		return cfg_err(errstr, errlen, "max_line_bytes", "must be 1..2^30");
	if (c->max_report_bytes == 0 || c->max_report_bytes > (1u << 30))
		return cfg_err(errstr, errlen, "max_report_bytes", "must be 1..2^30");
	if (c->max_record_bytes < 256 || c->max_record_bytes > OP_EVENT_MAX_BYTES)
		return cfg_err(errstr, errlen, "max_record_bytes",
		               "must be 256..65528");
	if (c->max_field_bytes == 0 || c->max_field_bytes > c->max_record_bytes)
		return cfg_err(errstr, errlen, "max_field_bytes",
		               "must be 1..max_record_bytes");
	if (c->max_parents > 4096)
		return cfg_err(errstr, errlen, "max_parents", "must be <= 4096");
	if (c->max_kv > 4096)
		return cfg_err(errstr, errlen, "max_kv", "must be <= 4096");
	if (c->max_json_depth > 256)
		return cfg_err(errstr, errlen, "max_json_depth", "must be <= 256");
	if (c->max_message_bytes == 0 || c->max_message_bytes > (1u << 30))
		return cfg_err(errstr, errlen, "max_message_bytes", "must be 1..2^30");
	if (c->max_excerpt_bytes > (1u << 20))
		return cfg_err(errstr, errlen, "max_excerpt_bytes", "must be <= 1 MiB");
	return 0;
}

int
op_decoder_begin(struct op_decoder *d, const char *unit, size_t n,
                 const struct op_pos **pos, uint32_t max_bytes)
{
	static const struct op_pos nopos = {0, 0};
	if (!*pos)
		*pos = &nopos;
	d->st.units++;
	if (n > max_bytes)
		return op_decoder_reject(d, OP_REJECT_TOO_LONG, unit, n, n, *pos,
		                         max_bytes);
	return 0;
}

int
op_decoder_emit(struct op_decoder *d, const char *unit, size_t n,
                const struct op_pos *pos, void *out, uint32_t cap,
                uint32_t *len)
{
	if (out == d->rec && d->reserve) {
		/* The decoder's own buffer stands for "wherever the reserve
		 * function says": lay the record out there directly (room for
		 * its bound; finish() then computes the size once). */
		uint32_t size = op_event_builder_bound(&d->b);
		void *room = size <= cap ? d->reserve(d->reserve_arg,
		                                      d->b.hdr.trace_id, size)
		                         : NULL;
		if (room) {
			out = room;
			cap = size;
		}
	}
	d->out = out;
	int rc = op_event_builder_finish(&d->b, out, cap, len);
	if (rc)
		return op_decoder_reject(d, rc == WEFT_EFORMAT ?
		                         OP_REJECT_SELF_PARENT :
		                         OP_REJECT_RECORD_TOO_LARGE,
		                         unit, n, n, pos, 0);
	d->st.events++;
	d->last = OP_REJECT_NONE;
	return 0;
}

int
op_decoder_new(enum op_format fmt, const struct op_decode_config *cfg,
               const char *source, struct op_deadletter *dl,
               struct op_decoder **out)
{
	*out = NULL;
	if ((unsigned)fmt >= OP_FORMAT__COUNT)
		return WEFT_EINVAL;
	struct op_decoder *d = calloc(1, sizeof *d);
	if (!d)
		return WEFT_ENOMEM;
	d->fmt = fmt;
	if (cfg)
		d->cfg = *cfg;
	else
		op_decode_config_default(&d->cfg);
	int rc = op_decode_config_check(&d->cfg, NULL, 0);
	if (rc) {
		free(d);
		return rc;
	}
	d->dl = dl;
	rc = op_event_builder_init(&d->b, d->cfg.max_record_bytes,
	                           d->cfg.max_parents, d->cfg.max_kv);
	d->b.keep_kv = d->cfg.keep_kv != 0;
	if (rc == 0)
		rc = op_splitter_new(op_format_split_mode(fmt, NULL, 0),
		                     op_decoder_max_unit(&d->cfg, fmt), &d->split);
	if (rc == 0)
		op_decoder_line_ends(d, d->split);
	d->source = strdup(source ? source : "");
	d->rec = aligned_alloc(8, (d->cfg.max_record_bytes + 7u) & ~7u);
	d->tmp = malloc(d->cfg.max_field_bytes);
	d->okeys = malloc(sizeof *d->okeys * (d->cfg.max_kv + 1u));
	if (rc == 0 && (!d->source || !d->rec || !d->tmp || !d->okeys))
		rc = WEFT_ENOMEM;
	if (rc) {
		op_decoder_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void
op_decoder_free(struct op_decoder *d)
{
	if (!d)
		return;
	op_event_builder_free(&d->b);
	op_splitter_free(d->split);
	free(d->source);
	free(d->rec);
	free(d->tmp);
	free(d->okeys);
	free(d->span_tmp);
	free(d);
}

uint32_t
op_decoder_max_unit(const struct op_decode_config *cfg, enum op_format fmt)
{
	uint32_t m = fmt == OP_FORMAT_TEXT ? cfg->max_report_bytes
	                                   : cfg->max_line_bytes;
	if ((op_format_spans(fmt) || fmt == OP_FORMAT_AUTO) &&
	    cfg->max_message_bytes > m)
		m = cfg->max_message_bytes;
	return m;
}

static int decode_one(struct op_decoder *d, enum op_format fmt,
                      const struct op_unit *u, uint32_t *lenp);

/* A unit of a span format: every span in it, each emitted or rejected. */
static int
span_unit(struct op_decoder *d, enum op_format fmt, const struct op_unit *u)
{
	const struct op_pos *pos = &u->pos;
	uint64_t ev0 = d->st.events, rej0 = d->st.rejected;
	if (op_decoder_begin(d, u->data, u->len, &pos, d->cfg.max_message_bytes))
		return 0;
	/* A protobuf message cut by the end of input is rejected whole; JSON
	 * without its final newline is decoded if it is complete (a cut one
	 * fails as syntax where it ends). */
	if ((u->flags & OP_UNIT_TRUNCATED) && fmt == OP_FORMAT_OTLP_PROTO) {
		op_decoder_reject(d, OP_REJECT_TRUNCATED, u->data, u->len, u->avail,
		                  pos, (uint32_t)u->avail);
		d->st.looks_like[fmt]++;
		return 0;
	}
	d->unit = u;
	int rc = fmt == OP_FORMAT_OTLP_PROTO ? op_decode_otlp_pb(d) :
	         fmt == OP_FORMAT_OTLP_JSON ? op_decode_otlp_json(d) :
	         op_decode_zipkin(d);
	d->unit = NULL;
	if (d->st.events == ev0 && d->st.rejected > rej0)
		d->st.looks_like[op_format_sniff_deep(u->data, u->avail)]++;
	return rc;
}

/* One unit to decode (or to reject as too long), on the general path. */
static int
feed_unit(struct op_decoder *d, const struct op_unit *u)
{
	uint32_t len;
	int rc;
	if (u->flags & OP_UNIT_TOO_LONG) {
		d->st.units++;
		op_decoder_reject(d, OP_REJECT_TOO_LONG, u->data, u->len, u->avail,
		                  &u->pos, 0);
		return 0;
	}
	enum op_format fmt = u->format ? (enum op_format)(u->format - 1) : d->fmt;
	if (fmt == OP_FORMAT_AUTO) {
		fmt = op_format_sniff(u->data, u->avail);
		if (fmt == OP_FORMAT__COUNT && u->len > d->cfg.max_line_bytes) {
			/* the line limit comes first, as with --format json */
			d->st.units++;
			op_decoder_reject(d, OP_REJECT_TOO_LONG, u->data, u->len,
			                  u->avail, &u->pos, d->cfg.max_line_bytes);
			return 0;
		}
		if (fmt == OP_FORMAT__COUNT) {
			d->st.units++;
			d->st.looks_like[op_format_sniff_deep(u->data, u->avail)]++;
			op_decoder_reject(d, OP_REJECT_UNKNOWN_FORMAT, u->data, u->len,
			                  u->avail, &u->pos, 0);
			return 0;
		}
	}
	if (op_format_spans(fmt))
		return span_unit(d, fmt, u);
	uint64_t rej0 = d->st.rejected;
	rc = decode_one(d, fmt, u, &len);
	if (rc) {
		if (d->st.rejected > rej0)
			d->st.looks_like[op_format_sniff_deep(u->data, u->avail)]++;
		return 0; /* rejected: counted and dead-lettered already */
	}
	((struct op_event *)d->out)->src = u->pos.src;
	return d->fn ? d->fn(d->fn_arg, d->out, len) : 0;
}

/* One X-Trace unit (JSON line or text report) into d->rec. */
static int
decode_one(struct op_decoder *d, enum op_format fmt, const struct op_unit *u,
           uint32_t *lenp)
{
	uint32_t len;
	int rc;
	if (fmt == OP_FORMAT_JSON_V4) {
		/* A last line without "\n" is decoded if it is complete; if it
		 * does not parse, it was cut: that is the reason recorded. */
		uint32_t at;
		if ((u->flags & OP_UNIT_TRUNCATED) &&
		    op_json_syntax_error_at(d, u->data, u->len, &at)) {
			d->st.units++;
			op_decoder_reject(d, OP_REJECT_TRUNCATED, u->data, u->len,
			                  u->avail, &u->pos, at);
			return WEFT_EFORMAT;
		}
		rc = op_decode_json(d, u->data, u->len, &u->pos, d->rec,
		                    d->cfg.max_record_bytes, &len);
	} else {
		if (u->flags & OP_UNIT_TRUNCATED) {
			d->st.units++;
			op_decoder_reject(d, OP_REJECT_TRUNCATED, u->data, u->len,
			                  u->avail, &u->pos, (uint32_t)u->len);
			return WEFT_EFORMAT;
		}
		rc = op_decode_text(d, u->data, u->len, &u->pos, d->rec,
		                    d->cfg.max_record_bytes, &len);
	}
	*lenp = len;
	return rc;
}

void
op_decoder_set_reserve(struct op_decoder *d, op_reserve_fn fn, void *arg)
{
	d->reserve = fn;
	d->reserve_arg = arg;
}

/*
 * The usual unit of X-Trace JSON lines: one op_decoder_line_end decoded
 * on the way (d->pre), emitted from the builder here with the checks that
 * feed_unit, decode_one and op_decode_json would make on their way to the
 * same op_decoder_emit, in one call instead of four (those calls cost
 * 2-3 % of an ingest-only run).
 * Returns 0 when u is not such a unit: the general path then decodes it,
 * as it does every unit with a flag, a format other than X-Trace JSON, or
 * a length over the line limit. Else 1, and *rc what feed_unit would
 * return.
 */
static int
pre_unit(struct op_decoder *d, const struct op_unit *u, int *rc)
{
	enum op_format fmt = u->format ? (enum op_format)(u->format - 1) : d->fmt;
	size_t n = u->len;
	if (u->flags || d->st.units != d->pre.units ||
	    n > d->cfg.max_line_bytes || !op_pre_decoded(d, u->data, n) ||
	    !(fmt == OP_FORMAT_JSON_V4 ||
	      (fmt == OP_FORMAT_AUTO && op_sniffs_xtrace(u->data, u->avail))))
		return 0;
	d->pre.line = NULL;
	d->st.units++;
	uint32_t len;
	uint64_t rej0 = d->st.rejected;
	*rc = 0;
	if (op_decoder_emit(d, u->data, n, &u->pos, d->rec,
	                    d->cfg.max_record_bytes, &len)) {
		if (d->st.rejected > rej0)
			d->st.looks_like[op_format_sniff_deep(u->data, u->avail)]++;
		return 1;
	}
	((struct op_event *)d->out)->src = u->pos.src;
	if (d->fn)
		*rc = d->fn(d->fn_arg, d->out, len);
	return 1;
}

/* Splitter callback: one unit to decode (or to reject as too long). */
static int
unit_in(void *arg, const struct op_unit *u)
{
	struct op_decoder *d = arg;
	int rc;
	if (u->data != d->pre.line || !pre_unit(d, u, &rc))
		rc = feed_unit(d, u);
	return rc;
}

int
op_decoder_feed(struct op_decoder *d, const void *buf, size_t n,
                op_event_fn fn, void *arg)
{
	d->fn = fn;
	d->fn_arg = arg;
	d->st.bytes += n;
	int rc = op_splitter_feed(d->split, buf, n, unit_in, d);
	d->fn = NULL;
	return rc;
}

int
op_decoder_unit(struct op_decoder *d, const struct op_unit *u,
                op_event_fn fn, void *arg)
{
	d->fn = fn;
	d->fn_arg = arg;
	d->st.bytes += u->len;
	int rc = unit_in(d, u);
	d->fn = NULL;
	return rc;
}

int
op_decoder_finish(struct op_decoder *d, op_event_fn fn, void *arg)
{
	d->fn = fn;
	d->fn_arg = arg;
	int rc = op_splitter_finish(d->split, unit_in, d);
	d->fn = NULL;
	return rc;
}

enum op_reject
op_decoder_last_reject(const struct op_decoder *d)
{
	return d->last;
}

const struct op_decode_stats *
op_decoder_stats(const struct op_decoder *d)
{
	return &d->st;
}

const struct op_decode_config *
op_decoder_config(const struct op_decoder *d)
{
	return &d->cfg;
}

/*
 * fuzz_util.h — what the decoder fuzz targets share: a decoder with small
 * limits (so that every limit path is reachable) writing to a dead-letter
 * counter, and the check every produced record must pass.
 */
#ifndef WEFT_FUZZ_UTIL_H
#define WEFT_FUZZ_UTIL_H

#include <stdlib.h>

#include "operators/ingest/decode.h"

static int
fuzz_check(void *arg, const struct op_event *ev, uint32_t len)
{
	(void)arg;
	if (op_event_validate(ev, len) != 0)
		abort();
	return 0;
}

/* A decoder of fmt and its dead-letter counter: 0, or nonzero (nothing
 * to free) when out of memory. */
static int
fuzz_decoder_new(enum op_format fmt, struct op_deadletter **dl, struct op_decoder **d)
{
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	cfg.max_line_bytes = 4096;
	cfg.max_report_bytes = 4096;
	cfg.max_message_bytes = 8192;
	cfg.max_field_bytes = 200;
	cfg.max_record_bytes = 1024;
	cfg.max_parents = 8;
	cfg.max_kv = 8;
	cfg.max_json_depth = 8;
	cfg.max_excerpt_bytes = 32;
	if (op_deadletter_new(NULL, dl))
		return 1;
	if (op_decoder_new(fmt, &cfg, "fuzz", *dl, d)) {
		op_deadletter_free(*dl);
		return 1;
	}
	return 0;
}

#endif /* WEFT_FUZZ_UTIL_H */

/*
 * fuzz_decode.c — libFuzzer target for a decoder, built twice:
 * fuzz_decode_json (FUZZ_TEXT=0, v4 JSON lines) and fuzz_decode_text
 * (FUZZ_TEXT=1, classic X-Trace text reports).
 *
 * Feeds the input through the streaming path in two chunks (cut where the
 * first byte says) and also decodes it whole as one unit, with small limits
 * so that every limit path is reachable. Every produced record must pass
 * op_event_validate(), and units = events + rejects must hold. The JSON
 * target also splits the input with and without the decoder finding the
 * line ends (op_decoder_line_ends), as X-Trace JSON and as --format auto:
 * both must decode the same (also with the pairs left out, where lines
 * that fit the template of the line before are read by it); and decodes
 * each line with the key/value pairs kept (the general path) and left
 * out (the line template where it fits): both must decide the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "operators/ingest/decode.h"
#include "tests/fuzz/fuzz_util.h"

#if FUZZ_TEXT
#define FUZZ_FORMAT OP_FORMAT_TEXT
#define fuzz_decode_one op_decode_text
#else
#define FUZZ_FORMAT OP_FORMAT_JSON_V4
#define fuzz_decode_one op_decode_json
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct op_deadletter *dl;
	struct op_decoder *d;
	if (fuzz_decoder_new(FUZZ_FORMAT, &dl, &d))
		return 0;
	size_t cut = size ? data[0] % (size + 1) : 0;
	op_decoder_feed(d, data, cut, fuzz_check, NULL);
	op_decoder_feed(d, data + cut, size - cut, fuzz_check, NULL);
	op_decoder_finish(d, fuzz_check, NULL);

	/* the whole input as one unit, in an exactly sized heap copy */
	char *line = malloc(size ? size : 1);
	memcpy(line, data, size);
	uint64_t rec[1024 / 8];
	uint32_t len;
	if (fuzz_decode_one(d, line, size, NULL, rec, sizeof rec, &len) == 0 &&
	    op_event_validate(rec, len) != 0)
		abort();
	free(line);
	const struct op_decode_stats *st = op_decoder_stats(d);
	if (st->units != st->events + st->rejected)
		abort();
	if (op_deadletter_count(dl, OP_REJECT_NONE) != st->rejected)
		abort();
	op_decoder_free(d);
	op_deadletter_free(dl);
#if !FUZZ_TEXT
	/* the line ends the decoder finds change nothing it decodes, with
	 * the pairs kept and left out (then lines that fit the template of
	 * the line before are read by it) */
	if (fuzz_line_ends_agree(OP_FORMAT_JSON_V4, data, size, cut) > 0 ||
	    fuzz_line_ends_agree(OP_FORMAT_AUTO, data, size, cut) > 0 ||
	    fuzz_line_ends_agree_kv(OP_FORMAT_JSON_V4, 0, data, size, cut) > 0)
		abort();
	/* a record that leaves its pairs out (read by the line template
	 * where a line fits the one before) decides as one that keeps them
	 * (always the general path) */
	if (fuzz_unkept_agrees(data, size) > 0)
		abort();
#endif
	return 0;
}

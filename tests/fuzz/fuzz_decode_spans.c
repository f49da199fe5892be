/*
 * fuzz_decode_spans.c — libFuzzer target for the span decoders, built
 * three times: fuzz_decode_otlp_pb (FUZZ_FMT=2), fuzz_decode_otlp_json
 * (3) and fuzz_decode_zipkin (4), and through --format auto.
 *
 * The input is decoded as one unit in its format, and as one unit with
 * auto detection; for protobuf it is also streamed through the
 * size-prefixed splitter in two chunks. Small limits make every limit
 * path reachable. Every record must pass op_event_validate(), and every
 * reject must be one dead letter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operators/ingest/decode.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
run(enum op_format fmt, const uint8_t *data, size_t size, int stream)
{
	struct op_deadletter *dl;
	struct op_decoder *d;
	if (fuzz_decoder_new(fmt, &dl, &d))
		return;
	/* an exactly sized heap copy, so reads past the end are caught */
	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (stream) {
		size_t cut = size ? data[0] % (size + 1) : 0;
		op_decoder_feed(d, copy, cut, fuzz_check, NULL);
		op_decoder_feed(d, copy + cut, size - cut, fuzz_check, NULL);
		op_decoder_finish(d, fuzz_check, NULL);
	} else {
		struct op_unit u = {.data = copy, .len = size, .avail = size};
		op_decoder_unit(d, &u, fuzz_check, NULL);
	}
	free(copy);
	const struct op_decode_stats *st = op_decoder_stats(d);
	if (op_deadletter_count(dl, OP_REJECT_NONE) != st->rejected)
		abort();
	uint64_t sum = 0;
	for (int r = 0; r < OP_REJECT__COUNT; r++)
		sum += st->by_reason[r];
	if (sum != st->rejected)
		abort();
	op_decoder_free(d);
	op_deadletter_free(dl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run((enum op_format)FUZZ_FMT, data, size, 0);
	run(OP_FORMAT_AUTO, data, size, 0);
	if (FUZZ_FMT == OP_FORMAT_OTLP_PROTO)
		run(OP_FORMAT_OTLP_PROTO, data, size, 1);
	return 0;
}

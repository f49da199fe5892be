/*
 * hint.c — what `weft replay` and `weft serve` say at the end of a run
 * that accepted no event: the input is in another format than the one
 * forced, or in none weft reads (op_format_hint). Such a run exits 1.
 */
#include <stdio.h>

#include "cmd/cmd.h"
#include "operators/ingest/ingest.h"

int
cmd_no_event_hint(const char *who, struct op_decode_op_config *dec,
                  enum op_format forced)
{
	if (!atomic_load(&dec->units) || atomic_load(&dec->events))
		return 0;
	uint64_t looks[OP_FORMAT__COUNT + 1];
	char hint[256];
	for (int i = 0; i <= OP_FORMAT__COUNT; i++)
		looks[i] = atomic_load(&dec->looks_like[i]);
	op_format_hint(forced, looks, hint, sizeof hint);
	fprintf(stderr, "%s: no event accepted: %s\n", who, hint);
	return 1;
}

/*
 * operators.h — weft's operators: sources, decoders, sinks and the
 * pipelines that wire them into the engine (public interface).
 */
#ifndef WEFT_OPERATORS_H
#define WEFT_OPERATORS_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/engine.h"

/* ---- counting sink ----------------------------------------------------- */
/*
 * A sink that counts records, bytes and closed epochs. One op_count is
 * shared by every worker's instance (the arg of engine_graph_add); each
 * instance counts privately and adds its totals here in destroy(), so the
 * totals are complete once engine_free() returned. records_live is updated
 * at every epoch close (relaxed atomics) for progress display.
 */
struct op_count {
	_Atomic uint64_t records;
	_Atomic uint64_t bytes;
	_Atomic uint64_t epochs_closed; /* summed over instances */
	_Atomic uint64_t records_live;
	_Atomic uint64_t checksum;      /* sum of the first 8 bytes of records */
};

extern const struct engine_op_vtable op_count_vtable;

#endif

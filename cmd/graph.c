/*
 * graph.c — the engine graph that `weft replay` and `weft serve` share:
 *
 *   source [-> exchange(unit) -> decode] -> exchange(trace id) -> assemble
 *       [-> check] -> sink
 *       [assemble -> sample]
 *
 * or, to measure ingest alone, source [-> decode] -> exchange(trace id)
 * -> count. Nodes are added and connected in this order, so both commands
 * get the graph they built by hand before.
 */
#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"
#include "cmd/cmd.h"

struct engine_graph *
cmd_graph_build(const struct cmd_graph *s)
{
	struct engine_graph *g = engine_graph_new();
	if (!g)
		return NULL;
	const uint32_t var[] = {0};
	int src = engine_graph_add(g, s->src_name, s->src_vt, s->src_arg, 0, 1, var);
	int dec = s->dec_arg ? engine_graph_add(g, "decode", &op_decode_vtable,
	                                        s->dec_arg, 1, 1, var)
	                     : src;
	int as, chk = -1, smp = -1, snk = -1;
	if (s->count) {
		as = engine_graph_add(g, "count", &op_count_vtable, s->count, 1, 0, NULL);
	} else {
		as = engine_graph_add(g, "assemble", &op_assemble_vtable, s->as, 1, 1, var);
		if (s->check)
			chk = engine_graph_add(g, "check", &op_check_vtable, s->check, 1, 1, var);
		if (s->sample)
			smp = engine_graph_add(g, "sample", &op_sample_vtable, s->sample, 1, 0,
			                       NULL);
		snk = engine_graph_add(g, s->sink_name, s->sink_vt, s->sink_arg, 1, 0, NULL);
	}
	int bad = src < 0 || dec < 0 || as < 0 || (!s->count && snk < 0) ||
	          (s->check && chk < 0) || (s->sample && smp < 0);
	if (!bad && s->dec_arg)
		bad = engine_graph_connect(g, src, 0, dec, 0, op_unit_key, NULL) != 0;
	if (!bad)
		bad = engine_graph_connect(g, dec, 0, as, 0, op_event_trace_key, NULL) != 0;
	if (!bad && s->check)
		bad = engine_graph_connect(g, as, 0, chk, 0, NULL, NULL) != 0;
	if (!bad && s->sample)
		bad = engine_graph_connect(g, as, 0, smp, 0, NULL, NULL) != 0;
	if (!bad && !s->count)
		bad = engine_graph_connect(g, s->check ? chk : as, 0, snk, 0, NULL, NULL) != 0;
	if (bad) {
		engine_graph_free(g);
		return NULL;
	}
	return g;
}

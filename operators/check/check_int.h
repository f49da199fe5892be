/*
 * check_int.h — what the check operator collects for the summary and the
 * HTML report (op_check.c fills it, op_report.c draws it). Private to
 * operators/. Everything here is guarded by op_check_config.lock while
 * workers run; the report is written after engine_free(), single-threaded.
 */
#ifndef WEFT_OP_CHECK_INT_H
#define WEFT_OP_CHECK_INT_H

#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "operators/check/check.h"

/* One explanation key ("new 'abandonBlock' under 'RPC:addBlock'") and how
 * many anomalies it explained. */
struct op_check_top {
	char *key;
	unsigned verdict;
	uint64_t n;
};

/* One anomalous trace kept for the report. */
struct op_report_item {
	struct op_trace *trace;  /* copy of the record (malloc'd) */
	unsigned verdict;
	int32_t tmpl;
	uint32_t distance;
	char *explanation;       /* one line, human */
	uint32_t n_new;
	uint32_t new_node[CLUSTER_MAX_NEW];
	int32_t slow_node;       /* -1: the whole duration (or not slow) */
};

/* Latency heatmap cell: template x second of the traces' start (Unix
 * seconds on each trace's root host clock) -> histogram of durations. */
struct op_heat_cell {
	uint32_t tmpl;
	uint32_t pad;
	uint64_t start_s;
	struct cluster_llq h;
};

struct op_check_report {
	struct op_check_top *top;
	size_t n_top, cap_top;
	struct op_report_item *items;
	size_t n_items, cap_items;
	uint64_t items_dropped;      /* anomalies beyond report_max */
	struct op_heat_cell *cells;  /* the workers' at their end, appended (a
	                              * (template, second) may repeat: summed
	                              * when drawn) */
	size_t n_cells, cap_cells;
	uint64_t heat_dropped;       /* traces past report_heat_cells */
};

/* splitmix64: enough for sampling (op_sample.c, learn_pick.c) */
static inline uint64_t
op_next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif

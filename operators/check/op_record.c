/*
 * op_record.c — the fields every trace and anomaly record shares
 * (record.h). One place writes them, so trace lines, anomaly lines and
 * the console's records say the same thing the same way.
 *
 * Clocks: start_ns and end_ns are the root host's own clock, as its
 * reports gave them (hosts' clocks are not synchronised, so durations are
 * taken on one host); last_event_unix_ns is this process's wall clock,
 * derived from the monotonic time the assembler stamped on the trace's
 * last event (op_trace.last_ns).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/check/record.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t
op_record_describe(const struct op_trace *t, uint32_t *root, uint32_t *host, uint32_t max,
                   int *exact)
{
	const struct op_trace_event *ev = op_trace_events(t);
	const struct op_trace_edge *ed = op_trace_edges(t);
	uint32_t n_shown = 0, n_sym = 0;
	*root = 0;
	*exact = 1;
	/* the first root: a received node that is no edge's child */
	unsigned char *child = calloc(t->n_events ? t->n_events : 1, 1);
	uint64_t *sym = malloc((t->n_events ? t->n_events : 1) * sizeof *sym);
	for (uint32_t i = 0; child && i < t->n_edges; i++)
		if (ed[i].child < t->n_events)
			child[ed[i].child] = 1;
	for (uint32_t i = 0; i < t->n_events; i++) {
		if (ev[i].flags & OP_TEV_MISSING)
			continue;
		if (!*root && child && !child[i] && ev[i].label)
			*root = ev[i].label;
		if (!ev[i].host)
			continue;
		if (sym)
			sym[n_sym++] = ev[i].host_sym;
		uint32_t k;
		for (k = 0; k < n_shown && ev[host[k]].host_sym != ev[i].host_sym; k++)
			;
		if (k == n_shown && n_shown < max)
			host[n_shown++] = i;
	}
	/* distinct hosts: all of them, counted on the sorted symbols */
	uint32_t n = n_shown;
	if (sym) {
		qsort(sym, n_sym, sizeof *sym, cmp_u64);
		n = 0;
		for (uint32_t i = 0; i < n_sym; i++)
			n += !i || sym[i] != sym[i - 1];
	} else if (n_shown == max) {
		*exact = 0; /* out of memory: a lower bound */
	}
	for (uint32_t k = 0; k < n_shown; k++)
		host[k] = ev[host[k]].host; /* event index -> its host's text */
	free(child);
	free(sym);
	return n;
}

int
op_record_fields(struct weft_buf *b, const struct op_trace *t, const char *type,
                 int64_t model_generation)
{
	uint32_t root, host[OP_RECORD_HOSTS];
	int exact;
	uint32_t n = op_record_describe(t, &root, host, OP_RECORD_HOSTS, &exact);
	int rc = weft_buf_printf(b, ",\"type\":\"%s\",\"schema_version\":%d,\"root_operation\":",
	                         type, OP_RECORD_SCHEMA_VERSION);
	rc = rc ? rc : root ? weft_buf_str(b, op_trace_str(t, root)) : weft_buf_printf(b, "null");
	/* the root host: whose clock start_ns and end_ns are on */
	const struct op_trace_event *ev = op_trace_events(t);
	const char *rh = NULL;
	for (uint32_t i = 0; root && i < t->n_events && !rh; i++)
		if (ev[i].label == root && ev[i].host)
			rh = op_trace_str(t, ev[i].host);
	rc = rc ? rc : weft_buf_printf(b, ",\"root_host\":");
	rc = rc ? rc : rh ? weft_buf_str(b, rh) : weft_buf_printf(b, "null");
	rc = rc ? rc : weft_buf_printf(b, ",\"clock\":\"host\",\"hosts\":[");
	uint32_t shown = n < OP_RECORD_HOSTS ? n : OP_RECORD_HOSTS;
	for (uint32_t k = 0; !rc && k < shown; k++) {
		rc = k ? weft_buf_printf(b, ",") : 0;
		rc = rc ? rc : weft_buf_str(b, op_trace_str(t, host[k]));
	}
	rc = rc ? rc : weft_buf_printf(b, "],\"%s\":%u", exact ? "hosts_total"
	                                                     : "hosts_total_at_least", n);
	if (!rc && t->last_ns) {
		struct timespec mono, wall;
		clock_gettime(CLOCK_MONOTONIC, &mono);
		clock_gettime(CLOCK_REALTIME, &wall);
		uint64_t m = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
		uint64_t w = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
		uint64_t ago = m > t->last_ns ? m - t->last_ns : 0;
		rc = weft_buf_printf(b, ",\"last_event_unix_ns\":%" PRIu64, w > ago ? w - ago : 0);
	}
	if (!rc && model_generation >= 0)
		rc = weft_buf_printf(b, ",\"model_generation\":%" PRId64, model_generation);
	return rc;
}

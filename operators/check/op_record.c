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

#define STACK_EVENTS 256 /* traces up to this many events need no allocation */

/* Adds sym to the open-addressing set tab (cap a power of two, 0 = empty);
 * 1 when it was not there. */
static int
set_add(uint64_t *tab, size_t cap, uint64_t sym)
{
	sym = sym ? sym : 1; /* 0 marks an empty slot */
	size_t i = (size_t)(sym * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
	while (tab[i] && tab[i] != sym)
		i = (i + 1) & (cap - 1);
	if (tab[i])
		return 0;
	tab[i] = sym;
	return 1;
}

uint32_t
op_record_describe(const struct op_trace *t, uint32_t *root, uint32_t *host, uint32_t max,
                   int *exact)
{
	const struct op_trace_event *ev = op_trace_events(t);
	const struct op_trace_edge *ed = op_trace_edges(t);
	uint32_t n_shown = 0, n = 0;
	*root = 0;
	*exact = 1;
	/* a set of host symbols at load <= 1/2, and a child flag per node:
	 * on the stack for most traces (this runs for every trace line) */
	uint64_t tab_stack[2 * STACK_EVENTS];
	unsigned char child_stack[STACK_EVENTS];
	size_t cap = 2 * STACK_EVENTS;
	while (cap < 2 * (size_t)t->n_events)
		cap *= 2;
	uint64_t *tab = cap == 2 * STACK_EVENTS ? tab_stack : calloc(cap, sizeof *tab);
	unsigned char *child = t->n_events <= STACK_EVENTS ? child_stack
	                                                    : calloc(t->n_events, 1);
	if (tab == tab_stack)
		memset(tab, 0, sizeof tab_stack);
	if (child == child_stack)
		memset(child, 0, t->n_events);
	/* the first root: a received node that is no edge's child */
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
		if (tab) {
			if (set_add(tab, cap, ev[i].host_sym)) {
				n++;
				if (n_shown < max)
					host[n_shown++] = i;
			}
			continue;
		}
		/* out of memory: the first max hosts, and n only a lower bound */
		uint32_t k;
		for (k = 0; k < n_shown && ev[host[k]].host_sym != ev[i].host_sym; k++)
			;
		if (k < n_shown)
			continue;
		if (n_shown < max) {
			host[n_shown++] = i;
			n++;
		} else {
			*exact = 0;
		}
	}
	for (uint32_t k = 0; k < n_shown; k++)
		host[k] = ev[host[k]].host; /* event index -> its host's text */
	if (tab != tab_stack)
		free(tab);
	if (child != child_stack)
		free(child);
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

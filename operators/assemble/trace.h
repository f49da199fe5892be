/*
 * trace.h — a finished trace as one relocatable record (the assembler's
 * output), and the assembler's configuration and counters.
 *
 * Layout (every offset from the record start, 8-byte aligned sections):
 *
 *   struct op_trace                       header
 *   struct op_trace_event [n_events]      nodes: events, then missing parents
 *   struct op_trace_edge  [n_edges]       parent -> child, node indices
 *   uint64_t              [n_events]      canonical symbol string
 *   char                  [str_bytes]     NUL-terminated texts (labels,
 *                                         hosts, agents; each once)
 *
 * Like op_event, the record holds no pointers, so the engine can move it
 * between workers with memcpy and sinks can keep it as bytes.
 *
 * Clocks: start/end times are the reporting hosts' clocks, which are not
 * synchronised. Durations are therefore taken on one host only: the root's
 * own span when it has one, else the span of the root host's events.
 */
#ifndef WEFT_OP_TRACE_H
#define WEFT_OP_TRACE_H

#include <stdint.h>

/* op_trace.flags */
#define OP_TRACE_LATE       0x01u /* amendment: events that came after emission */
#define OP_TRACE_INCOMPLETE 0x02u /* emitted early: open-trace limit reached */
#define OP_TRACE_TRUNCATED  0x04u /* more events than max_trace_events: some dropped */
#define OP_TRACE_MALFORMED  0x08u /* cycles were broken to make it a DAG */
#define OP_TRACE_DANGLING   0x10u /* some parents never arrived (missing nodes) */
#define OP_TRACE_END_LABEL  0x20u /* finished early on the configured end label */
#define OP_TRACE_FLUSHED    0x40u /* finished by the end of the stream */
#define OP_TRACE_AGED       0x80u /* with INCOMPLETE: open longer than the age limit */
#define OP_TRACE_HANDED_OVER 0x100u /* with FLUSHED: its partition was revoked;
                                     * the new owner re-reads it whole */
#define OP_TRACE_REPLAYED   0x200u /* with FLUSHED: made only of events read
                                     * again below the committed offset: it
                                     * was emitted before */
#define OP_TRACE_ERROR      0x400u /* an X-Trace event's key/value text
                                     * names an exception (OP_EV_EXCEPTION:
                                     * "Exception" in a value), or a span
                                     * has an error (OP_EV_ERROR: status
                                     * ERROR, an exception event) */

struct op_trace {
	uint64_t trace_id;
	uint64_t signature;     /* cluster_canon: repetition-insensitive shape */
	uint64_t exact;         /* cluster_canon: shape with repetition counts */
	uint64_t start_ns;      /* root's start (its host's clock) */
	uint64_t end_ns;        /* root's end, or last end seen on the root host */
	uint64_t duration_ns;   /* same-host span, see top of file */
	uint64_t first_epoch;   /* ingest epoch of the first event */
	uint64_t last_epoch;    /* ingest epoch of the last event */
	uint64_t emit_epoch;    /* epoch the trace was emitted in */
	uint64_t idle_ns;       /* wall time from its last event to emission */
	uint64_t last_ns;       /* CLOCK_MONOTONIC of this process when the last
	                         * event arrived (latency to the verdict) */
	uint32_t size;          /* bytes of the whole record */
	uint32_t n_events;      /* nodes, missing parents included */
	uint32_t n_edges;
	uint32_t n_roots;
	uint32_t depth;         /* critical path: events on the longest root-leaf path */
	uint32_t repeat_max;    /* cluster_canon */
	uint32_t repeat_groups; /* cluster_canon */
	uint32_t flags;         /* OP_TRACE_* */
	uint32_t events_seen;   /* events received, duplicates and dropped included */
	uint32_t duplicates;    /* same event id again: kept once */
	uint32_t missing;       /* missing-parent nodes added */
	uint32_t cycle_edges;   /* edges removed to break cycles */
	uint32_t dropped;       /* events beyond max_trace_events */
	uint32_t str_bytes;
	uint32_t verdict;       /* enum op_verdict; 0 until the check operator ran */
	int32_t tmpl;           /* model template (valid with a verdict; -1: none) */
	uint32_t src;           /* source tag of its events (op_event.src; 0: a
	                         * file; OP_TRACE_SRC_MANY: several sources) */
	uint32_t model_gen;     /* set by the check: its model's generation
	                         * (swaps since start) + 1; 0: not checked */
};
#define OP_TRACE_SRC_MANY UINT32_MAX

/* op_trace_event.flags */
#define OP_TEV_MISSING 0x1u /* referenced as a parent, never received */
#define OP_TEV_HAS_END 0x2u
#define OP_TEV_ERROR   0x4u /* a span with an error (OP_EV_ERROR) */

struct op_trace_event {
	uint64_t event_id;
	uint64_t start_ns;
	uint64_t end_ns;        /* valid iff OP_TEV_HAS_END */
	uint64_t label_sym;
	uint64_t host_sym;
	uint32_t label;         /* offset of the label text in the record */
	uint32_t host;          /* offset of the host text */
	uint32_t agent;         /* offset of the agent text */
	uint32_t flags;
};

struct op_trace_edge {
	uint32_t parent, child;
};

_Static_assert(sizeof(struct op_trace) % 8 == 0, "op_trace header");
_Static_assert(sizeof(struct op_trace_event) == 56, "op_trace_event");

static inline const struct op_trace_event *
op_trace_events(const struct op_trace *t)
{
	return (const struct op_trace_event *)(const void *)(t + 1);
}

static inline const struct op_trace_edge *
op_trace_edges(const struct op_trace *t)
{
	return (const struct op_trace_edge *)(const void *)(op_trace_events(t) +
	                                                    t->n_events);
}

static inline const uint64_t *
op_trace_symbols(const struct op_trace *t)
{
	const struct op_trace_edge *e = op_trace_edges(t) + t->n_edges;
	/* edges are 8 bytes each, so the symbols stay 8-byte aligned */
	return (const uint64_t *)(const void *)e;
}

/* Text at offset off of the record (NUL-terminated). */
static inline const char *
op_trace_str(const struct op_trace *t, uint32_t off)
{
	return (const char *)t + off;
}

#endif /* WEFT_OP_TRACE_H */

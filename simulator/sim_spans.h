/*
 * sim_spans.h — private: events written as spans, in the formats weft
 * reads (sim_spans.c): OTLP protobuf (an ExportTraceServiceRequest), OTLP
 * JSON (its JSON mapping, one line) and Zipkin v2 JSON (a list, one
 * line). Used by `weft sim import-tracebench --format` and `weft sim
 * replay --format`.
 */
#ifndef WEFT_SIM_SPANS_H
#define WEFT_SIM_SPANS_H

#include <stddef.h>

#include "operators/ingest/decode.h"
#include "simulator/simulator.h"
#include "simulator/sim_replay.h"

/* Appends one message holding the n events to out, in fmt
 * (OP_FORMAT_OTLP_PROTO, _OTLP_JSON or _ZIPKIN). framed: a protobuf
 * message gets its 4-byte big-endian size in front (a file); the JSON
 * formats always end with '\n'. 0, WEFT_ENOMEM, or WEFT_EINVAL for an
 * event that has no span form (an event id of 0). */
int sim_spans_encode(struct sim_buf *out, enum op_format fmt,
    const struct op_event *const *ev, size_t n, int framed);

/* Writes the run in fmt to path ("-": stdout), batch events to a message
 * (OTLP protobuf: size-prefixed messages). fmt OP_FORMAT_JSON_V4 writes
 * X-Trace lines as sim_run_write_jsonl does. */
int sim_run_write_spans(const struct sim_run *r, const char *path,
    enum op_format fmt, size_t batch);

/* A sink that turns the X-Trace lines written to it into messages of
 * `batch` spans (the last may hold fewer; a flush sends what is pending)
 * in fmt for inner (which it owns from then on), keyed by the first span's
 * trace. newline: end every message with '\n' (a Kafka sink strips it;
 * protobuf is then not size-prefixed). NULL on failure (inner closed). */
struct sim_sink *sim_sink_spans(struct sim_sink *inner, enum op_format fmt,
    int newline, size_t batch);

#endif

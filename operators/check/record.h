/*
 * record.h — the fields every trace and anomaly record carries, so a
 * person reading one line can act on it: what kind of record and which
 * schema (docs/schema/), the root operation, the hosts involved, which
 * clock start_ns/end_ns are on, when this process saw the trace's last
 * event on the wall clock, and which model judged it. Written by the
 * trace sink (operators/output/op_trace_sink.c) and the check's anomaly
 * lines (op_check.c), and read by the web console's store. Includes
 * common/ and the assemble room.
 */
#ifndef WEFT_OP_RECORD_H
#define WEFT_OP_RECORD_H

#include <stdint.h>

#include "common/common.h"
#include "operators/assemble/trace.h"

/* The version of every output record's schema (docs/schema/, one file per record); it
 * changes when a field changes meaning or goes away, not when one is
 * added. */
#define OP_RECORD_SCHEMA_VERSION 1
#define OP_RECORD_HOSTS 16 /* hosts listed per record */

/* The root operation and hosts of t: *root the text offset of the first
 * root's label (0: none), host[] the text offsets of the first max
 * distinct hosts; returns the number of distinct hosts (*exact 0 when,
 * out of memory, it is only a lower bound). */
uint32_t op_record_describe(const struct op_trace *t, uint32_t *root, uint32_t *host,
                            uint32_t max, int *exact);

/* Appends, each after a comma: "type", "schema_version", "root_operation",
 * "root_host", "clock" ("host": start_ns and end_ns are the root host's
 * own clock), "hosts", "hosts_total" (or "hosts_total_at_least"),
 * "last_event_unix_ns" (this process's wall clock when the last event
 * arrived; absent when unknown) and, with model_generation >= 0,
 * "model_generation". 0 or WEFT_ENOMEM. */
int op_record_fields(struct weft_buf *b, const struct op_trace *t, const char *type,
                     int64_t model_generation);

#endif /* WEFT_OP_RECORD_H */

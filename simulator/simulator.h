/*
 * simulator.h — recorded-trace import, workload generation and replay
 * (public interface of simulator/).
 *
 * A run (struct sim_run) is the simulator's in-memory model of a trace
 * stream: events with their parents, grouped into traces with a title and
 * a ground-truth label, strings pooled in one buffer. TraceBench runs are
 * imported into it (docs/TRACEBENCH.md); it is written as X-Trace v4 JSON
 * lines (sim_json.c) and read back through weft's ingest decoder
 * (sim_run.c). Other parts use it to load recorded traces (the
 * canonical-signature tests and benchmark do).
 */
#ifndef WEFT_SIMULATOR_H
#define WEFT_SIMULATOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* `weft sim ...`: argv[0] is "sim". Returns a process exit status. */
int sim_main(int argc, char **argv);

/* ---- growable byte buffer --------------------------------------------- */
struct sim_buf {
	char *p;     /* owned; free with sim_buf_free() */
	size_t len;
	size_t cap;
};
int sim_buf_reserve(struct sim_buf *b, size_t more);
int sim_buf_append(struct sim_buf *b, const void *s, size_t n);
/* Append s plus its NUL; *off receives the offset of the copy. */
int sim_buf_addstr(struct sim_buf *b, const char *s, size_t n, uint32_t *off);
void sim_buf_free(struct sim_buf *b);

/* Grow *arr (of elements of size elt) so that it can hold need elements. */
int sim_grow(void **arr, size_t *cap, size_t need, size_t elt);

/* ---- events, traces, runs --------------------------------------------- */
/*
 * A run is every event of a set of traces, in recorded (emission) order,
 * with all strings in one byte arena and all parent ids in one int64
 * array. Events refer to strings and parents by offset, so a run is three
 * growable arrays and nothing else: building one costs no per-event
 * malloc, and freeing it is three free() calls.
 *
 * Invariants of a struct sim_run:
 *   - ev[i].par_off + ev[i].npar <= npar (parents of ev[i] are
 *     parents[par_off .. par_off+npar)).
 *   - every string offset points at a NUL-terminated string inside strs.
 *   - ev[i].trace < ntr; tr[t].count is the number of events of trace t.
 *   - importers and generators emit a parent before any of its children.
 */
struct sim_event {
	uint64_t task;       /* trace id */
	int64_t id;          /* event id */
	int64_t ts_ms;       /* aligned wall clock, ms since the Unix epoch */
	int64_t hrt;         /* start, reporting host's clock, ns */
	int64_t end_hrt;     /* end, reporting host's clock, ns */
	uint32_t host, agent, label, desc; /* string offsets in run->strs */
	uint32_t par_off, npar;            /* parents[par_off .. +npar) */
	uint32_t trace;                    /* index into run->tr */
};

struct sim_trace {
	uint64_t task;
	uint32_t title;      /* string offset */
	uint32_t kind;       /* string offset: "none" or an injected kind */
	uint32_t count;      /* events of this trace in the run */
	int failure;         /* 1: ground-truth label "failure" */
	int64_t first_seen_ms;
};

struct sim_run {
	struct sim_event *ev;
	size_t nev, evcap;
	int64_t *parents;
	size_t npar, parcap;
	struct sim_trace *tr;
	size_t ntr, trcap;
	struct sim_buf strs;
};

void sim_run_init(struct sim_run *r);
void sim_run_free(struct sim_run *r);
static inline const char *
sim_str(const struct sim_run *r, uint32_t off)
{
	return r->strs.p + off;
}

/* Write one event as an X-Trace v4 JSON line (with '\n') to out. */
int sim_json_event(struct sim_buf *out, const struct sim_run *r,
    const struct sim_event *e);
/* Write the whole run as JSON lines to path ("-" = stdout). */
int sim_run_write_jsonl(const struct sim_run *r, const char *path);
/* Write ground truth: task<TAB>label<TAB>kind<TAB>title per trace. */
int sim_run_write_truth(const struct sim_run *r, const char *path);

/*
 * Read an X-Trace v4 JSON-lines file (plain or gzip) into r, appending;
 * a trace entry is created on the first sight of its TaskID. Lines are
 * decoded by weft's ingest decoder (operators/ingest/decode.h), so this
 * reads whatever `weft replay` ingests, sim_json_event's lines included.
 * Returns 0, WEFT_EIO, WEFT_ENOMEM, WEFT_ELIMIT, or WEFT_EFORMAT at the
 * first line the decoder rejects: err (may be NULL) then says
 * "line N: reason" (op_reject_name), and r holds the events before it.
 */
int sim_run_read_jsonl(struct sim_run *r, const char *path, char *err,
    size_t errlen);

/* ---- TraceBench import ------------------------------------------------ */
struct sim_import_stats {
	size_t traces;            /* rows of trace.csv */
	size_t events;            /* rows of event.csv */
	size_t edge_rows;         /* rows of edge.csv */
	size_t edges;             /* after dedupe */
	size_t numreports_mismatch; /* traces whose event count != NumReports */
	size_t numedges_mismatch;   /* NumEdges equals neither raw nor deduped rows */
	size_t dup_edge_traces;     /* traces with repeated edge rows */
	size_t unknown_task_events; /* events of tasks absent from trace.csv (dropped) */
	size_t shared_start;      /* events sharing (TID, StartTime) with another */
	size_t ambiguous_fathers; /* edges whose father key names >1 event */
	size_t missing_father;    /* edges whose father event is absent */
	size_t missing_child;     /* edges whose child TID has no events */
	size_t multi_father;      /* child TIDs with more than one father edge */
	size_t orphan_tids;       /* TIDs with no incoming edge (not root) */
	size_t disconnected;      /* traces not reachable entirely from root */
	size_t no_root;           /* traces without exactly one root edge */
	size_t failures;          /* traces labelled failure */
};
/* Import one TraceBench run folder into r (appending). */
int sim_tracebench_import(const char *dir, struct sim_run *r,
    struct sim_import_stats *st, char *err, size_t errlen);

/* Ground truth rule: a description that is neither a success ("Success"
 * in any case) nor the root's "A user task" marks its trace a failure. */
int sim_desc_is_failure(const char *desc);

/* Event id of a TraceBench report (see docs/TRACEBENCH.md). */
int64_t sim_tracebench_event_id(uint64_t task, uint64_t tid, int64_t start,
    const char *op, size_t oplen);

#endif

/*
 * operators.h — weft's operators: sources, decoders, sinks and the
 * pipelines that wire them into the engine (public interface).
 */
#ifndef WEFT_OPERATORS_H
#define WEFT_OPERATORS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "operators/decode.h"
#include "operators/event.h"

/* ---- byte readers (op_reader.c) --------------------------------------- */
enum op_compression {
	OP_COMP_AUTO = 0, /* detect by magic bytes */
	OP_COMP_NONE,
	OP_COMP_GZIP,     /* gzip or zlib, concatenated members allowed */
	OP_COMP_ZSTD,     /* one or more zstd frames */
};

/* op_reader_read(): nothing available now on a non-blocking input. */
#define OP_READ_AGAIN (-100)

struct op_reader;

/* Opens path ("-" = standard input). nonblock: reads never wait for a
 * live stream (OP_READ_AGAIN). Returns 0, WEFT_EIO or WEFT_ENOMEM; free
 * with op_reader_free(). */
int op_reader_open(const char *path, enum op_compression comp, int nonblock,
                   struct op_reader **out);
/* Opens the raw byte range [begin, end) of a plain regular file. */
int op_reader_open_range(const char *path, uint64_t begin, uint64_t end,
                         struct op_reader **out);
/* Size, whether path is a regular file, and its compression by magic. */
int op_reader_file_info(const char *path, uint64_t *size, int *regular,
                        enum op_compression *comp);
/* Reads up to cap decompressed bytes: > 0 bytes, 0 at end of input,
 * OP_READ_AGAIN, WEFT_EIO, or WEFT_EFORMAT (corrupt compressed data). */
ssize_t op_reader_read(struct op_reader *r, void *buf, size_t cap);
uint64_t op_reader_raw_bytes(const struct op_reader *r);
void op_reader_free(struct op_reader *r);

/* ---- file source (op_file.c) ------------------------------------------ */
/*
 * Reads X-Trace reports from a file or standard input and emits one
 * record per unit (a JSON line or a text report), struct op_unit_rec
 * followed by the unit's bytes. Epochs come from an ingest clock:
 * epoch_units units per epoch (files), or wall-clock epochs of epoch_ms
 * (live streams: empty epochs close while the input is quiet).
 *
 * Sharding: a plain regular JSON-lines file is split into W byte ranges cut
 * at line boundaries, each worker reading its own (op_file_sharded() says
 * whether that applies; then connect the decoder with a pipeline edge).
 * Otherwise worker 0 reads everything and the decoder's input should be an
 * exchange on op_unit_key, which spreads units over the workers.
 */
struct op_file_config {
	const char *path;          /* "-" = standard input */
	enum op_format format;
	enum op_compression compression;
	uint64_t epoch_units;      /* units per epoch (default 65536) */
	uint32_t epoch_ms;         /* > 0: wall-clock epochs instead */
	uint32_t max_unit_bytes;   /* longer units become excerpts (64 KiB) */
	int shard;                 /* split plain files across workers (1) */
	uint64_t first_epoch;      /* must match engine_config.first_epoch */
	uint64_t t0_ns;            /* epoch_ms clock origin (set by op_file_prepare) */
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t units, bytes, io_errors;
};

void op_file_config_default(struct op_file_config *cfg);
/* Checks the config against the input and fixes t0. 0 or WEFT_E* with a
 * message naming the problem. */
int op_file_prepare(struct op_file_config *cfg, char *errstr, size_t errlen);
/* 1 if the input will be read in W shards. */
int op_file_sharded(const struct op_file_config *cfg, unsigned workers);

/* A unit as it travels from a source to the decoder. */
struct op_unit_rec {
	uint64_t offset; /* byte offset of the unit in the input */
	uint64_t line;   /* 1-based line, 0 when unknown (shards after the first) */
	uint64_t seq;    /* unit number on its reading worker */
	uint32_t len;    /* full length of the unit */
	uint32_t flags;  /* OP_UNIT_TOO_LONG, OP_UNIT_TRUNCATED */
	/* followed by min(len, max_unit_bytes) bytes */
};

extern const struct engine_op_vtable op_file_vtable; /* arg: op_file_config */
uint64_t op_unit_key(const void *rec, uint32_t len, void *arg);

/* ---- decode operator (op_decode_op.c) ---------------------------------- */
/*
 * Input 0: unit records. Output 0: struct op_event records (variable size).
 * One op_decoder per worker; rejects go to the shared dead-letter sink.
 */
struct op_decode_op_config {
	enum op_format format;
	struct op_decode_config decode;
	struct op_deadletter *deadletter; /* may be NULL: count only */
	const char *source_name;
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t units, events, rejected;
	_Atomic uint64_t by_reason[OP_REJECT__COUNT];
};

extern const struct engine_op_vtable op_decode_vtable; /* arg: op_decode_op_config */
/* Exchange key of an event record: its trace id. */
uint64_t op_event_trace_key(const void *rec, uint32_t len, void *arg);

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

/* ---- trace census sink (op_census.c) ----------------------------------- */
/*
 * Counts events per trace id (input: event records exchanged by trace id,
 * so each trace is counted on exactly one worker). At end of stream every
 * instance writes "trace_id<TAB>events" lines (16 hex digits) to out, if
 * set, under the config's lock. A worker tracks at most max_traces traces
 * (a config value); events of traces beyond it are counted in overflow.
 * This is the ingest check, not the assembler: it keeps no DAG.
 */
struct op_census_config {
	FILE *out;              /* may be NULL */
	uint64_t max_traces;    /* per worker (default 4 M) */
	pthread_mutex_t lock;   /* serialises writes to out */
	_Atomic uint64_t traces, events, overflow;
};

void op_census_config_init(struct op_census_config *cfg);
void op_census_config_destroy(struct op_census_config *cfg);
extern const struct engine_op_vtable op_census_vtable; /* arg: op_census_config */

/* `weft replay`: file -> decode -> exchange(trace id) -> census. */
int op_replay_main(int argc, char **argv);

#endif

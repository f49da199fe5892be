/*
 * ingest.h — the ingest room: byte readers, the file source, the decode
 * operator and the unit record that carries input from a source to a
 * decoder. The decoders themselves are in decode.h, the event record in
 * event.h. Includes only common/, engine/ and this room.
 */
#ifndef WEFT_OPERATORS_INGEST_H
#define WEFT_OPERATORS_INGEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "operators/ingest/decode.h"
#include "operators/ingest/event.h"

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
void op_reader_free(struct op_reader *r);

/* ---- plain regular files, mapped (op_map.c) --------------------------- */
/* op_map_next(): the window at op_map_pos() is not all in the page cache;
 * read on from there with an op_reader. */
#define OP_MAP_COLD (-101)
/* A regular file read from byte begin through read-only mappings, while
 * its pages are in the page cache; the caller expects to need bytes up to
 * about want_end (windows are sized by it). ahead: a helper thread makes
 * each window ready while the one before is read: mapped, or read into a
 * buffer where not in the page cache, so never OP_MAP_COLD (one thread
 * more; when it cannot start, the reading thread maps as without it).
 * 0, WEFT_EIO (read it with an op_reader instead) or WEFT_ENOMEM. */
struct op_map;
int op_map_open(const char *path, uint64_t begin, uint64_t want_end, int ahead,
                struct op_map **out);
/* The next up to cap bytes, at *data inside the mapping (or the buffer
 * read ahead): > 0 bytes, 0 at the end (the size when opened),
 * OP_MAP_COLD or WEFT_EIO. The bytes stay there until the next call;
 * read them between the guard calls. */
ssize_t op_map_next(struct op_map *m, size_t cap, const unsigned char **data);
/* The pages of fd's [off, off + len) (a regular file) not in the page
 * cache: counted by cachestat(2) where the kernel has it (Linux 6.5), by
 * mincore(2) on a mapping of the range otherwise or when by_mincore is
 * set; all of them when neither can tell. The windows of op_map_next are
 * counted the same way. */
size_t op_map_cold_pages(int fd, uint64_t off, size_t len, int by_mincore);
/* The offset of the next byte op_map_next hands out. */
uint64_t op_map_pos(const struct op_map *m);
/* 1 when m's windows are made ready by its helper (read ahead). */
int op_map_reads_ahead(const struct op_map *m);
/* 1 when the window op_map_next last handed bytes from is a mapping of
 * the file (by the reader or its helper), 0 when it was read into a
 * buffer (a helper's, where the file was not in the page cache). */
int op_map_window_mapped(const struct op_map *m);
/* Between these, on this thread, a SIGBUS in m's current window (the
 * file shrank under it) reads as zeros; guard_end says 1 if it happened,
 * and the data read since begin is not to be trusted. */
void op_map_guard_begin(const struct op_map *m);
int op_map_guard_end(void);
void op_map_free(struct op_map *m);

/* ---- file source (op_file.c) ------------------------------------------ */
/*
 * Reads X-Trace reports from a file or standard input and emits one
 * record per unit (a JSON line or a text report), struct op_unit_rec
 * followed by the unit's bytes. Epochs come from an ingest clock:
 *   - regular files: the unit's byte offset / epoch_bytes, where
 *     epoch_bytes = epoch_units x the average unit size of the file's
 *     first MiB (op_file_prepare): about epoch_units units per epoch, and
 *     a unit's epoch depends on its position only, so it is the same
 *     whichever worker or shard reads it (recorded order is preserved
 *     across shards, and output does not depend on W);
 *   - streams (stdin, pipes): epoch_units units per epoch, counted;
 *   - epoch_ms > 0: wall-clock epochs (live streams: empty epochs close
 *     while the input is quiet).
 *
 * Sharding: a plain regular JSON-lines file is cut into stripes of
 * stripe_bytes at line boundaries, worker w reading stripes w, w+W, ...
 * (op_file_sharded() says whether that applies; then connect the decoder
 * with a pipeline edge).
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
	uint64_t stripe_bytes;     /* stripe size when sharding (4 MiB) */
	int no_mmap;               /* 1: read plain regular files with read()
	                            * even where they are in the page cache
	                            * (op_map.c maps them then) */
	int read_ahead;            /* enum weft_helper: whether a helper
	                            * thread reads a file one worker reads whole
	                            * ahead of it (op_map.c); else the reading
	                            * thread maps it. auto: with two cores per
	                            * worker (on one core the helper's copy
	                            * costs the worker its time) */
	uint64_t first_epoch;      /* must match engine_config.first_epoch */
	uint64_t epoch_bytes;      /* set by op_file_prepare for regular files */
	uint64_t t0_ns;            /* epoch_ms clock origin (set by op_file_prepare) */
	/* how the input is cut into units: set by op_file_prepare from the
	 * format, or for --format auto from a regular file's first bytes;
	 * -1: decided by the first bytes read (auto on a stream) */
	int split;
	int plain; /* set by op_file_prepare: read through op_map.c first */
	/* Non-NULL: every instance decodes the units it reads itself, with
	 * this configuration, and emits op_event records instead of units
	 * (the decode operator fused into the source: no unit record, no
	 * batch between them). Only where each worker reads its own input,
	 * see op_file_decodes_inline(); decode totals go to *decode. */
	struct op_decode_op_config *decode;
	/* totals, added by each instance when destroyed */
	_Atomic uint64_t units, bytes, io_errors;
	_Atomic uint64_t mapped_bytes; /* input bytes the reader mapped itself */
	_Atomic uint64_t ahead_bytes;  /* input bytes a helper made ready ahead
	                                * (mapped, or read where not cached) */
	/* stripes read to their end by all workers (sharded; op_file_prepare
	 * zeroes it): bounds how far a worker reads ahead of the others */
	_Atomic uint64_t stripes_done;
};

void op_file_config_default(struct op_file_config *cfg);
/* Checks the config against the input and fixes t0. 0 or WEFT_E* with a
 * message naming the problem. */
int op_file_prepare(struct op_file_config *cfg, char *errstr, size_t errlen);
/* 1 if the input will be read in W shards. */
int op_file_sharded(const struct op_file_config *cfg, unsigned workers);
/* 1 if every worker that reads decodes what it reads, so the source can
 * decode inline (cfg->decode): one worker, or a sharded file. Otherwise
 * worker 0 reads alone and units must be spread over the workers before
 * decoding. */
int op_file_decodes_inline(const struct op_file_config *cfg, unsigned workers);

/* A unit as it travels from a source to the decoder. */
struct op_unit_rec {
	uint64_t offset; /* byte offset of the unit in the input */
	uint64_t line;   /* 1-based line, 0 when unknown (shards after the first) */
	uint64_t seq;    /* unit number on its reading worker */
	uint32_t len;    /* full length of the unit */
	uint32_t flags;  /* OP_UNIT_TOO_LONG, OP_UNIT_TRUNCATED */
	uint32_t src;    /* op_pos.src */
	uint32_t reserved;
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
	_Atomic uint64_t looks_like[OP_FORMAT__COUNT + 1]; /* op_decode_stats' */
};

extern const struct engine_op_vtable op_decode_vtable; /* arg: op_decode_op_config */
/*
 * The decode operator fused into a source, for sources whose worker owns
 * what it reads (the file source on its own shard, a Kafka consumer on its
 * partitions): the source hands each unit over as it cuts it, and the
 * events are laid out directly in the batches of the source's output 0
 * (engine_emit_reserve), with no unit record and no copy of the event.
 * Counters and dead letters as with the decode operator; its totals go to
 * cfg in op_inline_decoder_free(). One per source instance.
 */
struct op_inline_decoder {
	struct op_decode_op_config *cfg;
	struct op_decoder *d;
	struct engine_ctx *ctx; /* valid during op_inline_decoder_unit */
	uint64_t epoch;
	void *room;             /* reserved for the event being decoded */
};
int op_inline_decoder_init(struct op_inline_decoder *x,
                           struct op_decode_op_config *cfg);
/* Decodes u and emits its event (if it decodes) on output 0 at epoch. */
void op_inline_decoder_unit(struct op_inline_decoder *x,
                            struct engine_ctx *ctx, uint64_t epoch,
                            const struct op_unit *u);
void op_inline_decoder_free(struct op_inline_decoder *x);
/* A unit a source read, at epoch: decoded in line by dec when dec is not
 * NULL, else emitted on output 0 as an op_unit_rec (header, then u->avail
 * bytes, built in rec: room for the header and u->avail) with number seq.
 * u->len must fit 32 bits. */
void op_source_unit(struct engine_ctx *ctx, uint64_t epoch,
                    const struct op_unit *u, uint64_t seq,
                    struct op_inline_decoder *dec, unsigned char *rec);
/* Exchange key of an event record: its trace id, the record's first 8
 * bytes, so the engine reads it in line (engine_key_first_u64). */
_Static_assert(offsetof(struct op_event, trace_id) == 0,
               "an event record begins with its trace id");
#define op_event_trace_key engine_key_first_u64


#endif /* WEFT_OPERATORS_INGEST_H */

/*
 * decode.h — X-Trace report decoders, the stream splitter and the
 * dead-letter sink (public interface of the decode operators).
 *
 * Two input formats become struct op_event records (operators/event.h):
 *
 *   OP_FORMAT_JSON_V4  one X-Trace v4 JSON report per line (Brown tracing
 *                      framework): TaskID, EventID, ParentEventID, HRT, ...
 *   OP_FORMAT_TEXT     classic "X-Trace Report ver 1.0" text reports
 *                      separated by a blank line.
 *
 * A struct op_decoder (one per worker; not thread-safe) cuts a byte stream
 * into units (lines or reports) with an op_splitter, decodes each into a
 * record and hands it to a callback. A unit that cannot be decoded is
 * rejected with a reason (enum op_reject), counted in op_decode_stats and
 * written with its position and a bounded, escaped excerpt to the dead-letter
 * sink; decoding continues with the next unit. Nothing is dropped silently:
 * every non-blank unit ends up either as an event or as a counted reject.
 *
 * Every limit is a field of struct op_decode_config (defaults in
 * op_decode_config_default()); hitting one rejects the unit with the reason
 * named after the limit, so the per-reason counter is the limit's counter.
 *
 * Text task ids. X-Trace metadata carries a 4, 8, 12 or 20 byte task id;
 * a 4-byte id becomes its big-endian value, an 8-byte id its big-endian
 * value, and a 12 or 20 byte id XXH3_64bits of its raw bytes (deterministic
 * on every node; ids of different lengths never need to compare equal).
 */
#ifndef WEFT_OP_DECODE_H
#define WEFT_OP_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "operators/ingest/event.h"

#ifdef __cplusplus
extern "C" {
#endif

enum op_format {
	OP_FORMAT_JSON_V4 = 0,   /* X-Trace v4 JSON, one report per line */
	OP_FORMAT_TEXT = 1,      /* X-Trace text reports */
	OP_FORMAT_OTLP_PROTO = 2,/* OTLP TracesData / ExportTraceServiceRequest
	                          * protobuf: one message per unit (files: each
	                          * prefixed by its 4-byte big-endian size) */
	OP_FORMAT_OTLP_JSON = 3, /* the same message in OTLP's JSON mapping */
	OP_FORMAT_ZIPKIN = 4,    /* Zipkin v2 JSON: a list of spans per unit */
	OP_FORMAT_AUTO = 5,      /* recognised per unit (op_format_sniff) */
	OP_FORMAT__COUNT
};

/* Static names: "json", "text", "otlp-proto", "otlp-json", "zipkin",
 * "auto" (the option values); never NULL. */
const char *op_format_name(enum op_format f);
/* What the bytes at the start of a unit (or of a stream) look like: a
 * concrete format, or OP_FORMAT__COUNT when none (format_detect.c). An
 * object whose first key is OP_OTLP_JSON_KEY is OTLP JSON, any other
 * object X-Trace JSON. */
enum op_format op_format_sniff(const void *data, size_t n);
#define OP_OTLP_JSON_KEY "\"resourceSpans\"" /* quotes included */
/* 1 if units of fmt are decoded into many spans (OTLP, Zipkin). */
int op_format_spans(enum op_format fmt);
/* 1 if a message (Kafka, HTTP) in fmt is one unit; 0 if it is X-Trace
 * JSON lines, several reports to a message (auto: as its bytes say). */
int op_format_message_unit(enum op_format fmt, const void *data, size_t n);
/* The format named s[0..n) (op_format_name, also "xtrace" for json):
 * 0 with *out, or -1. */
int op_format_parse(const char *s, size_t n, enum op_format *out);
/* The splitter a stream of fmt needs; for OP_FORMAT_AUTO, the one its
 * first bytes head[0..n) need (lines when unsure). */
enum op_split_mode op_format_split_mode(enum op_format fmt, const void *head,
                                        size_t n);
/* A one-line hint for a run whose units were all rejected: from the
 * formats the rejected units looked like (op_decode_stats.looks_like),
 * e.g. "these look like Zipkin v2 spans; use --format zipkin" or "not a
 * trace format weft reads". Writes into buf (NUL-terminated). */
void op_format_hint(enum op_format forced, const uint64_t *looks_like,
                    char *buf, size_t cap);

/* Why a unit was rejected. Names (op_reject_name) are stable snake_case. */
enum op_reject {
	OP_REJECT_NONE = 0,
	OP_REJECT_SYNTAX,           /* malformed JSON / text line */
	OP_REJECT_TOO_LONG,         /* line or report over max_line/report_bytes */
	OP_REJECT_MISSING_TRACE_ID, /* no TaskID / X-Trace metadata */
	OP_REJECT_MISSING_EVENT_ID, /* no EventID */
	OP_REJECT_BAD_ID,           /* id not hex / decimal, or out of range */
	OP_REJECT_SELF_PARENT,      /* a parent id equals the event id */
	OP_REJECT_DUPLICATE_KEY,    /* a single-valued key given twice */
	OP_REJECT_BAD_UTF8,         /* invalid UTF-8 or \u escape */
	OP_REJECT_TRUNCATED,        /* input ends inside a unit / short metadata */
	OP_REJECT_BAD_VERSION,      /* unknown metadata or report version */
	OP_REJECT_FIELD_TOO_LONG,   /* a value over max_field_bytes */
	OP_REJECT_TOO_MANY_PARENTS, /* over max_parents */
	OP_REJECT_TOO_MANY_KV,      /* over max_kv */
	OP_REJECT_RECORD_TOO_LARGE, /* record over max_record_bytes */
	OP_REJECT_BAD_TYPE,         /* value of the wrong JSON type */
	OP_REJECT_BAD_NUMBER,       /* time / number unparsable or out of range */
	OP_REJECT_TOO_DEEP,         /* nesting over max_json_depth */
	OP_REJECT_UNKNOWN_FORMAT,   /* --format auto: no format recognised */
	OP_REJECT_BAD_WIRE_TYPE,    /* protobuf field of the wrong wire type */
	OP_REJECT_BAD_ID_LENGTH,    /* span/trace id of the wrong length */
	OP_REJECT_MISSING_SPAN_ID,  /* a span without its span id */
	OP_REJECT__COUNT
};

/* Static name of r ("syntax", "too_long", ...); never NULL. */
const char *op_reject_name(enum op_reject r);

/* ---- configuration ---------------------------------------------------- */
struct op_decode_config {
	uint32_t max_line_bytes;    /* JSON line, without newline (64 KiB) */
	uint32_t max_report_bytes;  /* text report (64 KiB) */
	uint32_t max_field_bytes;   /* one string value or key (4 KiB) */
	uint32_t max_parents;       /* parent ids per event (64) */
	uint32_t max_kv;            /* key/value pairs per event (32) */
	uint32_t max_record_bytes;  /* decoded record (16 KiB; <= OP_EVENT_MAX_BYTES) */
	uint32_t max_json_depth;    /* nesting inside a kept JSON value (16) */
	uint32_t max_excerpt_bytes; /* input bytes quoted in a dead letter (256) */
	uint32_t max_message_bytes; /* one OTLP / Zipkin message (4 MiB) */
	uint32_t keep_kv;           /* 1 (default): events carry their
	                             * key/value pairs; 0: checked as ever
	                             * (limits, duplicates, the exception
	                             * flag) but left out of the record, for
	                             * consumers that read none (assembly) */
};

void op_decode_config_default(struct op_decode_config *cfg);

/* The longest unit a decoder of fmt takes, the bound its source's
 * splitter needs: max_line_bytes or max_report_bytes, and at least
 * max_message_bytes for the span formats and auto. */
uint32_t op_decoder_max_unit(const struct op_decode_config *cfg,
                             enum op_format fmt);

/* 0, or WEFT_EINVAL with a message naming the key in errstr. */
int op_decode_config_check(const struct op_decode_config *cfg, char *errstr,
                           size_t errlen);

/* ---- statistics (per decoder; plain counters) -------------------------- */
struct op_decode_stats {
	uint64_t bytes;    /* bytes fed */
	uint64_t units;    /* non-blank lines / reports seen */
	uint64_t events;   /* records produced */
	uint64_t rejected; /* units rejected, = sum of by_reason */
	uint64_t templated; /* X-Trace JSON lines read by the line template
	                     * (decode_json_line.c), not the general path */
	uint64_t by_reason[OP_REJECT__COUNT];
	/* units rejected whole, by what op_format_sniff says they look like
	 * ([OP_FORMAT__COUNT]: nothing known), for op_format_hint */
	uint64_t looks_like[OP_FORMAT__COUNT + 1];
};

/* ---- positions -------------------------------------------------------- */
struct op_pos {
	uint64_t offset; /* byte offset of the unit's first byte in the stream */
	uint64_t line;   /* 1-based line number of the unit's first line */
	uint32_t src;    /* where the unit came from: 0 a file or stream, else
	                  * OP_SRC(slot, gen) (weft serve: a Kafka partition
	                  * and how often this process had it revoked);
	                  * copied into op_event.src */
};


/* ---- dead letters ------------------------------------------------------ */
/*
 * A dead-letter sink writes one JSON object per rejected unit:
 *   {"source":"s","offset":N,"line":N,"at":N,"reason":"name",
 *    "len":N,"excerpt":"..."}
 * and, for a unit whose pos.src is set, the fields its namer gives after
 * "source" (weft serve: "topic":"t","partition":N).
 * at = byte offset inside the unit where the problem was found; excerpt =
 * the first max_excerpt_bytes of the unit, JSON-escaped; bytes that are not
 * printable ASCII are written as \u00XX of the byte value, so the line is
 * valid JSON even when the input was not UTF-8.
 *
 * Thread-safe: one sink may be shared by all workers; a mutex serialises the
 * write and the counters (rejects are rare, so the lock is off the hot path).
 */
struct op_deadletter;

/* Appends to the file at path (created if needed). The sink owns the file.
 * Returns 0, WEFT_EIO or WEFT_ENOMEM. Free with op_deadletter_free(). */
int op_deadletter_open(const char *path, struct op_deadletter **out);

/* Writes to f, which stays the caller's (not closed by free). f may be NULL:
 * the sink then only counts. Returns 0 or WEFT_ENOMEM. */
int op_deadletter_new(FILE *f, struct op_deadletter **out);

/* Flushes and frees (closing the file only if op_deadletter_open made it). */
void op_deadletter_free(struct op_deadletter *dl);

struct op_bad_input {
	const char *source;   /* source name (NUL-terminated), may be NULL */
	struct op_pos pos;
	uint32_t at;          /* offset inside the unit */
	enum op_reject reason;
	const char *data;     /* the unit (or its first bytes) */
	size_t len;           /* its full length */
	size_t avail;         /* bytes of data readable (<= len) */
	uint32_t max_excerpt; /* quote at most this many bytes */
};

/* Writes one dead letter and counts it. Returns 0 or WEFT_EIO (still
 * counted). Thread-safe. */
int op_deadletter_write(struct op_deadletter *dl, const struct op_bad_input *b);

/* Dead letters written for reason r; OP_REJECT_NONE gives the total. */
uint64_t op_deadletter_count(struct op_deadletter *dl, enum op_reject r);

/* Flushes the file. 0 or WEFT_EIO. */
int op_deadletter_flush(struct op_deadletter *dl);

/* Sends each dead letter (one JSON line with its '\n') to fn instead of the
 * file; fn runs under the sink's lock, so calls never overlap. fn's error
 * is returned by op_deadletter_write (the letter is still counted). Call
 * before any write. */
void op_deadletter_set_writer(struct op_deadletter *dl,
                              int (*fn)(void *arg, const char *line, size_t len),
                              void *arg);

/* Names where units with pos.src != 0 came from: fn writes JSON object
 * members (no braces, e.g. "topic":"t","partition":3) into buf (cap
 * bytes, NUL-terminated) and returns >= 0, or < 0 to add nothing. fn is
 * called from any worker thread, outside the sink's lock. Call before any
 * write. */
void op_deadletter_set_namer(struct op_deadletter *dl,
                             int (*fn)(void *arg, uint32_t src, char *buf,
                                       size_t cap),
                             void *arg);

/* ---- stream splitter ------------------------------------------------- */
/*
 * Cuts a byte stream fed in arbitrary chunks into units: lines
 * (OP_SPLIT_LINES; "\n", a trailing "\r" is dropped) or blank-line separated
 * reports (OP_SPLIT_REPORTS). Blank units are skipped. A unit is passed to
 * the callback as soon as it is complete, zero-copy when it lies inside one
 * chunk, else from an internal buffer of max_unit bytes (allocated once).
 *
 * flags of a unit: OP_UNIT_TOO_LONG: it exceeded max_unit; data holds its
 * first bytes only (an excerpt) and len its full length. OP_UNIT_TRUNCATED:
 * the stream ended inside it (no terminator).
 */
enum op_split_mode {
	OP_SPLIT_LINES = 0,
	OP_SPLIT_REPORTS = 1,
	/* each unit prefixed by its size, 4 bytes big-endian (the OTLP
	 * Collector file exporter's proto format); a size over max_unit
	 * gives an OP_UNIT_TOO_LONG unit of that size, skipped */
	OP_SPLIT_LEN32 = 2,
};

#define OP_UNIT_TOO_LONG  0x1u
#define OP_UNIT_TRUNCATED 0x2u

struct op_unit {
	const char *data; /* valid only during the callback */
	size_t len;       /* full length (see OP_UNIT_TOO_LONG) */
	size_t avail;     /* bytes readable at data */
	struct op_pos pos;
	unsigned flags;
	unsigned format;  /* 0: the decoder's format; else OP_FORMAT_* + 1
	                   * (weft serve: the format forced for its topic) */
};

/* Returns 0 to go on; a negative code stops op_splitter_feed(), which
 * returns it (the rest of that chunk is then lost). */
typedef int (*op_unit_fn)(void *arg, const struct op_unit *u);

struct op_splitter;

/* max_unit > 0. Returns 0, WEFT_EINVAL or WEFT_ENOMEM. Free with
 * op_splitter_free(). */
int op_splitter_new(enum op_split_mode mode, uint32_t max_unit,
                    struct op_splitter **out);
void op_splitter_free(struct op_splitter *s);
int op_splitter_feed(struct op_splitter *s, const void *buf, size_t n,
                     op_unit_fn fn, void *arg);
/*
 * Where a line ends, asked before the splitter searches for it (lines
 * mode, a line that starts in the bytes fed): fn(arg, p, avail) returns
 * n > 0 when p[n] is the line's '\n' and p[0..n) holds none, else 0 (the
 * splitter then searches itself). A decoder that reads the line anyway
 * can find its end on the way, so the bytes are walked once instead of
 * twice (op_decoder_line_ends). NULL: none (the default).
 */
typedef size_t (*op_line_end_fn)(void *arg, const char *p, size_t avail);
void op_splitter_set_line_end(struct op_splitter *s, op_line_end_fn fn,
                              void *arg);
/* End of stream: passes a pending unit (flagged truncated for lines without
 * "\n"; a report needs no trailing blank line but its last line must end
 * with "\n" or it is flagged truncated). The splitter can then be reused. */
int op_splitter_finish(struct op_splitter *s, op_unit_fn fn, void *arg);

/* ---- decoder ---------------------------------------------------------- */
struct op_decoder;

/*
 * New decoder for fmt. cfg is copied (NULL = defaults); source names the
 * input in dead letters (copied; NULL = ""); dl may be NULL (rejects are
 * then only counted) and must outlive the decoder. Returns 0, WEFT_EINVAL
 * (bad config) or WEFT_ENOMEM. Free with op_decoder_free().
 */
int op_decoder_new(enum op_format fmt, const struct op_decode_config *cfg,
                   const char *source, struct op_deadletter *dl,
                   struct op_decoder **out);
void op_decoder_free(struct op_decoder *d);

/* Sets d's line-end finder on s when d decodes X-Trace JSON lines
 * (--format json or auto) and s splits lines; s must then only feed
 * units to d (decode_json.c). */
void op_decoder_line_ends(struct op_decoder *d, struct op_splitter *s);

/*
 * Decodes one unit (a JSON line without its newline, or one text report)
 * into out[0..cap) (8-byte aligned; cap >= max_record_bytes is advised).
 * Returns 0 with *len set, or WEFT_EFORMAT / WEFT_ELIMIT when the unit is
 * rejected: it is then already counted and dead-lettered, and
 * op_decoder_last_reject() says why. pos may be NULL.
 */
int op_decode_json(struct op_decoder *d, const char *line, size_t n,
                   const struct op_pos *pos, void *out, uint32_t cap,
                   uint32_t *len);
int op_decode_text(struct op_decoder *d, const char *report, size_t n,
                   const struct op_pos *pos, void *out, uint32_t cap,
                   uint32_t *len);

/* Called per decoded event; ev is valid only during the call. Return 0 to
 * go on, negative to stop the feed (returned by it). */
typedef int (*op_event_fn)(void *arg, const struct op_event *ev,
                           uint32_t len);

/* Streams bytes through splitter and decoder (the decoder's format). */
int op_decoder_feed(struct op_decoder *d, const void *buf, size_t n,
                    op_event_fn fn, void *arg);
/* Decodes (or rejects, honouring OP_UNIT_TOO_LONG / OP_UNIT_TRUNCATED) one
 * unit cut elsewhere, e.g. by a source's splitter, with its position. */
int op_decoder_unit(struct op_decoder *d, const struct op_unit *u,
                    op_event_fn fn, void *arg);
/* End of stream: decodes or rejects what is pending. */
int op_decoder_finish(struct op_decoder *d, op_event_fn fn, void *arg);

/*
 * Where feed/unit/finish lay out their records: by default the decoder's
 * own buffer, and the event callback gets a pointer to it. With a reserve
 * function, each record is laid out in the room reserve(arg, trace id,
 * size) returns instead (size bytes, 8-byte aligned; NULL: the decoder's
 * buffer after all), and the callback gets a pointer into that room. A
 * unit rejected after its room was reserved leaves the room unused. For a
 * source that emits in place (engine_emit_reserve). fn NULL: the default.
 */
typedef void *(*op_reserve_fn)(void *arg, uint64_t trace_id, uint32_t size);
void op_decoder_set_reserve(struct op_decoder *d, op_reserve_fn fn,
                            void *arg);

enum op_reject op_decoder_last_reject(const struct op_decoder *d);
const struct op_decode_stats *op_decoder_stats(const struct op_decoder *d);
const struct op_decode_config *op_decoder_config(const struct op_decoder *d);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_OP_DECODE_H */

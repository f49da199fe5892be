/*
 * decode_priv.h — internals shared by decode_json.c, decode_text.c and
 * deadletter.c. Not part of the public interface (see decode.h).
 *
 * A decoder belongs to one worker thread: nothing in it is synchronised.
 */
#ifndef WEFT_OP_DECODE_PRIV_H
#define WEFT_OP_DECODE_PRIV_H

#include "operators/ingest/decode.h"
#include "operators/ingest/json_scan.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct op_decoder {
	enum op_format fmt;
	struct op_decode_config cfg;
	struct op_event_builder b;   /* scratch for the event being decoded */
	struct op_splitter *split;   /* used by feed/finish */
	struct op_deadletter *dl;    /* borrowed; may be NULL */
	char *source;                /* owned copy of the source name */
	struct op_decode_stats st;
	enum op_reject last;
	uint32_t err_at;             /* offset of the last error in its unit */
	void *rec;                   /* feed's record buffer [max_record_bytes] */
	char *tmp;                   /* key unescape scratch [max_field_bytes] */
	op_event_fn fn;              /* feed's callback, valid during feed */
	void *fn_arg;
	op_reserve_fn reserve;       /* op_decoder_set_reserve(), or NULL */
	void *reserve_arg;
	void *out;                   /* where the last record was laid out */
	char *span_tmp;              /* span decoders' scratch: 6 strings of
	                              * max_field_bytes (keys, attribute key,
	                              * value, service, host, links), on first
	                              * use */
	const struct op_unit *unit;  /* the unit being decoded (span formats) */
	/* decode_json.c's guess at the next line's keys, and its template of
	 * a whole line (json_scan.h; decode_json_line.c reads by it) */
	struct op_jkeys jkeys;
	struct op_jtmpl jtmpl;
	/* decode_json.c's keys of the line's members that the record leaves
	 * out (keep_kv 0), for the duplicate-key check, [max_kv]: in the
	 * line, or copied to the string scratch when unescaped. */
	struct op_json_key {
		const char *k;
		size_t n;
	} *okeys;
	/* op_decoder_line_end's last success: the line at `line`, decoded
	 * into b, its '\n' at offset `nl`, when st.units was `units`. The
	 * unit's own pre_unit (decoder.c) or op_decode_json (the next unit
	 * begun, the same line up to that '\n': op_pre_decoded) emits it
	 * without parsing it again. After OP_LINE_END_MISSES failures in a
	 * row the search rests for OP_LINE_END_REST lines (input that is not
	 * X-Trace JSON). */
	struct {
		const char *line;
		uint32_t nl;
		uint64_t units;
		uint32_t misses, rest;
	} pre;
};

/* The line at p, up to end, read by the decoder's line template into its
 * builder (reset before): the byte after the object ('\n' when to_nl,
 * else end), or NULL when the line is not read so (the builder then holds
 * anything). (decode_json_line.c) */
const unsigned char *op_jtmpl_read(struct op_decoder *d, const unsigned char *p,
                                   const unsigned char *end, int to_nl);
/*
 * op_jtmpl_read of the line at p, with its policy: the builder is reset
 * first (and again after a miss). The byte after the object, or NULL;
 * then *marks is buf, where jobject notes the line's members to learn
 * its template from, or NULL when it should not: the record keeps
 * key/value pairs (the template reads only what it leaves out), or the
 * template rests after missing OP_JT_MISSES lines in a row.
 */
const unsigned char *op_jtmpl_try(struct op_decoder *d, const unsigned char *p,
                                  const unsigned char *end, int to_nl,
                                  struct op_jtmpl_marks *buf,
                                  struct op_jtmpl_marks **marks);
/* Makes *t the template of the line at `line` that the general path
 * accepted, its n members where m says; none when n is 0 or over
 * OP_JT_MEMBERS, or the bytes before a value are not 4..OP_JT_PRE or
 * hold a '\\' or a '\n'. */
void op_jtmpl_learn(struct op_jtmpl *t, const unsigned char *line,
                    const struct op_jtmpl_marks *m, unsigned n);

#define OP_LINE_END_MISSES 16
#define OP_LINE_END_REST 4096

/* 1 when line[0..n) is the line op_decoder_line_end decoded last (up to
 * its '\n', less a '\r' before it); the caller checks the unit count. */
static inline int
op_pre_decoded(const struct op_decoder *d, const char *line, size_t n)
{
	return line == d->pre.line &&
	       (n == d->pre.nl || (n + 1 == d->pre.nl && line[n] == '\r'));
}

/*
 * Counts a rejected unit, writes its dead letter, remembers the reason.
 * Returns the WEFT_* code the decode function should return: WEFT_ELIMIT
 * for limit reasons, WEFT_EFORMAT otherwise. (deadletter.c)
 */
int op_decoder_reject(struct op_decoder *d, enum op_reject r,
                      const char *unit, size_t len, size_t avail,
                      const struct op_pos *pos, uint32_t at);

/* Starts decoding one unit: counts it, defaults *pos, and rejects it as
 * too long past max_bytes (returning the code to pass on); 0 to go on.
 * (decoder.c) */
int op_decoder_begin(struct op_decoder *d, const char *unit, size_t n,
                     const struct op_pos **pos, uint32_t max_bytes);

/* Lays out the event parsed into d->b as a record in out[0..cap): counts
 * it, or rejects the unit (a parent equal to the event id, a record over
 * the limit). Returns what the decode function returns. (decoder.c) */
int op_decoder_emit(struct op_decoder *d, const char *unit, size_t n,
                    const struct op_pos *pos, void *out, uint32_t cap,
                    uint32_t *len);

/* 1 if data[0..n) fails to parse as a JSON report with a syntax error
 * (for a line cut short by the end of input), with *at its offset; 0 if it
 * parses or fails for another reason. Uses the decoder's builder as
 * scratch. (decode_json.c) */
int op_json_syntax_error_at(struct op_decoder *d, const char *data, size_t n,
                            uint32_t *at);

/* ---- spans (decode_span.c): OTLP and Zipkin ------------------------- */

/* What the spans of one resource share. */
struct op_span_res {
	const char *service;
	size_t service_len;
	const char *host;
	size_t host_len;
};

/* Starts a span: a fresh builder. */
void op_span_begin(struct op_decoder *d);
/* A trace id of n raw bytes (16, or 8 for a 64-bit id): 0 or a reason.
 * An id whose first 8 of 16 bytes are zero is its last 8, big-endian (so
 * a 64-bit X-Trace or Zipkin id round-trips); others XXH3_64bits of the
 * 16 bytes. All zero: BAD_ID. */
enum op_reject op_span_trace_id(const unsigned char *p, size_t n,
                                uint64_t *out);
/* A span id: 8 raw bytes, big-endian; all zero: BAD_ID. */
enum op_reject op_span_span_id(const unsigned char *p, size_t n,
                               uint64_t *out);
/* The same from lowercase or uppercase hex text (32 or 16 digits for a
 * trace, 16 for a span). */
enum op_reject op_span_trace_hex(const char *p, size_t n, uint64_t *out);
enum op_reject op_span_span_hex(const char *p, size_t n, uint64_t *out);
/* Builder calls mapped to reasons: 0 or the reason. */
enum op_reject op_span_label(struct op_decoder *d, const char *s, size_t n);
enum op_reject op_span_kv(struct op_decoder *d, const char *k, size_t kn,
                          const char *v, size_t vn);
enum op_reject op_span_parent(struct op_decoder *d, uint64_t id);
/* Ends the span in d->b: sets agent (service) and host, lays it out and
 * hands it to the feed's callback (the reserve/emit path of feed_unit).
 * Returns the callback's code (< 0 stops), else 0. */
int op_span_emit(struct op_decoder *d, const struct op_span_res *res,
                 uint32_t at);
/* Rejects the span (or the rest of the unit) that failed with r at
 * offset at of the unit. */
void op_span_reject(struct op_decoder *d, enum op_reject r, uint32_t at);
/* 1 if s[0..n) is valid UTF-8 (protobuf strings must be). */
int op_span_utf8(const char *s, size_t n);
/* The span scratch (see op_decoder.span_tmp); NULL on allocation failure. */
char *op_span_tmp(struct op_decoder *d, unsigned i);
struct op_jc;

/* The JSON span decoders' strings: member keys, attribute keys, values,
 * and the service and host the spans share, each max_field_bytes (cap). */
struct op_span_bufs {
	char *key, *akey, *val, *svc, *host, *links;
	size_t cap;
};
/* Fills b from the decoder's scratch: 0, or -1 after rejecting the unit
 * (no memory). */
int op_span_bufs(struct op_decoder *d, struct op_span_bufs *b);
/* The end of a JSON span document: r is the last walk result (< 0: a
 * document error in c); anything but blanks after it is a syntax error.
 * A document error rejects the rest of the unit once. Returns 0. */
int op_span_json_end(struct op_decoder *d, struct op_jc *c, int r);

/* JSON span formats: one span object at the cursor c, its members read
 * by fn (-1: cursor error; else 0 with *bad the span's own failure and
 * *err its error flag), then emitted with *res or rejected alone. A
 * failure of the span's own content that stopped the cursor is retried
 * as a skip: the span is rejected alone if it is well-formed JSON.
 * Returns 0, 1 when the callback stopped (its code in *stop), or -1 on a
 * document error (left in c). (decode_span.c) */
typedef int (*op_span_members_fn)(void *arg, struct op_jc *c,
                                  enum op_reject *bad, int *err);
int op_span_json(struct op_decoder *d, struct op_jc *c, op_span_members_fn fn,
                 void *arg, const struct op_span_res *res, int *stop);

/* The span decoders: decode every span of d->unit; rejects counted per
 * span. Return < 0 when the callback stopped the feed, else 0. */
int op_decode_otlp_pb(struct op_decoder *d);
int op_decode_otlp_json(struct op_decoder *d);
int op_decode_zipkin(struct op_decoder *d);

/* What a rejected unit looks like, searching further than the sniff
 * (OTLP JSON whose first key is not resourceSpans; JSON that is no
 * X-Trace report: OP_FORMAT__COUNT). (format_detect.c) */
enum op_format op_format_sniff_deep(const void *data, size_t n);

/* Whether a key/value value names an exception ("Exception" in it), as
 * X-Trace reports of a failed operation carry: the X-Trace decoders set
 * OP_EV_EXCEPTION from it while the bytes are in cache. */
static inline int
op_text_names_exception(const char *v, size_t n)
{
	/* Find each 'E', then compare the rest: most values hold no 'E'
	 * at all. 16 bytes per step, the last step overlapping the one
	 * before, all inside the value; this was a memchr call per value
	 * (and before that memmem, 7.8 % of a replay's instructions), whose
	 * call cost more than the search for the short values reports
	 * carry (3 % of an ingest-only run). */
	if (n < 9)
		return 0;
#if defined(__SSE2__)
	if (n >= 16) {
		const __m128i e = _mm_set1_epi8('E');
		for (size_t at = 0;; at += 16) {
			if (at > n - 16)
				at = n - 16;
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
			    _mm_loadu_si128((const __m128i *)(const void *)(v + at)), e));
			for (; m; m &= m - 1) {
				size_t i = at + (size_t)__builtin_ctz(m);
				if (i + 9 <= n && memcmp(v + i + 1, "xception", 8) == 0)
					return 1;
			}
			if (at == n - 16)
				return 0;
		}
	}
#endif
	for (size_t i = 0; i + 9 <= n; i++)
		if (v[i] == 'E' && memcmp(v + i + 1, "xception", 8) == 0)
			return 1;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (p < end, *p >= 0x80), or 0 when
 * it is invalid (overlong, surrogate, beyond U+10FFFF, cut short). */
static inline int
op_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t left = (size_t)(end - p);
	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		return left >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* What op_format_sniff says of n > 1 bytes that start '{"': OTLP JSON
 * when the first key is OP_OTLP_JSON_KEY, else X-Trace JSON, by two word
 * compares (no memcmp call: the sniff runs for every unit of format auto,
 * and serve profiles had 1-1.5 % of their samples in it). */
static inline enum op_format
op_sniff_object(const unsigned char *p, size_t n)
{
	static const unsigned char otlp[] = OP_OTLP_JSON_KEY;
	const size_t k = sizeof otlp - 1;
	return n - 1 >= k && key_match(p + 1, otlp, k) ? OP_FORMAT_OTLP_JSON
	                                                 : OP_FORMAT_JSON_V4;
}

/* op_format_sniff(p, avail) == OP_FORMAT_JSON_V4, inline for the usual
 * unit (the decoder's per-line path). */
static inline int
op_sniffs_xtrace(const char *p, size_t avail)
{
	if (avail > 1 && p[0] == '{' && p[1] == '"')
		return op_sniff_object((const unsigned char *)p, avail) ==
		       OP_FORMAT_JSON_V4;
	return op_format_sniff(p, avail) == OP_FORMAT_JSON_V4;
}

#endif /* WEFT_OP_DECODE_PRIV_H */

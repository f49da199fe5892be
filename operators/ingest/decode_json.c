/*
 * decode_json.c — X-Trace v4 JSON reports (one per line) to op_event records.
 * (The decoder object both formats share lives in decoder.c.)
 *
 * Why hand-written: a report is a flat object of ~15 keys, and the generic
 * libraries (json-c, jansson) build a heap tree per line — one allocation
 * per value — and then we would walk it again. This decoder makes one pass
 * over the bytes: it recognises the known keys by length + memcmp (after
 * trying the key the previous line had at the same position: producers
 * write the same keys in the same order on every line), parses ids and
 * times straight from the input, and unescapes strings directly into the
 * event builder's string scratch, so a line costs no allocation and each
 * byte is touched about once. bench/bench_decode.c measures it against
 * json-c and jansson doing the same job (see the report of that benchmark);
 * the fuzz target tests/fuzz/fuzz_decode_json.c keeps it honest. Where the
 * record leaves key/value pairs out (replay, serve), a line is first read
 * against the template of the last line this path accepted
 * (decode_json_line.c), and comes here only when it does not fit; jobject
 * notes where that line's members are, to learn its template.
 *
 * Leniency, as real producers need: ids and times may be JSON numbers or
 * strings holding numbers; text fields may be numbers or booleans (their
 * token text is kept); null means absent. Strictness: the line must be one
 * complete JSON object (RFC 8259 syntax, valid UTF-8, no control characters
 * in strings, lone surrogates rejected) followed only by whitespace; a key
 * may appear once. Unknown keys become key/value pairs; a nested array or
 * object is validated (bounded depth) and kept as its raw JSON text.
 *
 * Known keys: TaskID (hex string of a signed 64-bit, or a decimal number),
 * EventID (decimal, may be negative: stored two's complement),
 * ParentEventID (array of decimal ids, or one id), Timestamp (ms), HRT
 * (start ns), EndHRT (end ns), Host, Agent, ProcessID, ProcessName,
 * ThreadID, ThreadName, Label. Everything else (Cycles, Source, Tag, Title,
 * Description, ...) is a key/value pair.
 */
#include "operators/ingest/decode_priv.h"
#include "operators/ingest/json_scan.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* ---- parser state ----------------------------------------------------- */
struct jp {
	const unsigned char *p, *end, *start;
	struct op_decoder *d;
	enum op_reject err;
	const unsigned char *err_at;
	int to_nl; /* op_decoder_line_end: '\n' is no whitespace, and the
	            * object ends at one, not at end */
	uint32_t n_okeys; /* d->okeys filled (jpair_unkept) */
	struct op_jtmpl_marks *marks; /* non-NULL: learn the line's template */
};

/* The general (slow) path of a value kept out of line, so that the fast
 * path it backs can be inlined without its register and stack cost. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

#define FAIL(j, r, at)                  \
	do {                            \
		(j)->err = (r);         \
		(j)->err_at = (at);     \
		return -1;              \
	} while (0)

static enum jkey
key_id(const char *k, size_t n)
{
#define IS(s) (memcmp(k, s, sizeof(s) - 1) == 0)
	switch (n) {
	case 3: return IS("HRT") ? K_HRT : K_OTHER;
	case 4: return IS("Host") ? K_HOST : K_OTHER;
	case 5: return IS("Label") ? K_LABEL : IS("Agent") ? K_AGENT : K_OTHER;
	case 6: return IS("TaskID") ? K_TASKID : IS("EndHRT") ? K_ENDHRT : K_OTHER;
	case 7: return IS("EventID") ? K_EVENTID : K_OTHER;
	case 8: return IS("ThreadID") ? K_TID : K_OTHER;
	case 9: return IS("Timestamp") ? K_TIMESTAMP :
		       IS("ProcessID") ? K_PID : K_OTHER;
	case 10: return IS("ThreadName") ? K_TNAME : K_OTHER;
	case 11: return IS("ProcessName") ? K_PNAME : K_OTHER;
	case 13: return IS("ParentEventID") ? K_PARENTS : K_OTHER;
	default: return K_OTHER;
	}
#undef IS
}

/* JSON whitespace is ' ', '\t', '\r' and '\n', all <= ' ': a skip at a
 * token (nearly every one: producers put none) ends at one compare. */
static inline void
skip_ws(struct jp *j)
{
	while (j->p < j->end && *j->p <= ' ' &&
	       (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' ||
	        (*j->p == '\n' && !j->to_nl)))
		j->p++;
}

/*
 * Scans a JSON string from j->p, past its opening quote and past o bytes
 * of plain text already scanned (0: from the start; with dst, those o
 * bytes are at dst already). With dst, the unescaped bytes are written to
 * dst (at most cap bytes; more is an error: FIELD_TOO_LONG when over
 * field_cap, else RECORD_TOO_LARGE). Sets *n to the decoded length,
 * leaves j->p past the closing quote.
 */
static int
jstr(struct jp *j, char *dst, size_t cap, size_t field_cap, size_t o,
     size_t *n)
{
	const unsigned char *p = j->p, *end = j->end;
	for (;;) {
		/* ASCII run: the common case, copied in one go. Into dst it is
		 * copied while scanned (scan_plain_copy) as far as blocks of
		 * input and of room are there; the rest of the run (if any)
		 * goes the plain way. Splitting a run there changes no
		 * outcome: the limit test and its position below depend only
		 * on where the run started (p - o is fixed) and ends. */
		int hit = 0;
		if (dst) {
			const unsigned char *q = scan_plain_copy(
			    p, end, j->start, (unsigned char *)dst + o, cap - o, &hit);
			o += (size_t)(q - p);
			p = q;
		}
		if (!hit) {
			const unsigned char *q = scan_plain(p, end);
			size_t run = (size_t)(q - p);
			if (run > cap - o)
				FAIL(j, o + run > field_cap ? OP_REJECT_FIELD_TOO_LONG :
				     OP_REJECT_RECORD_TOO_LARGE, p + (cap - o));
			if (dst)
				memcpy(dst + o, p, run);
			o += run;
			p = q;
		}
		if (p >= end)
			FAIL(j, OP_REJECT_SYNTAX, p);
		unsigned c = *p;
		unsigned char u[4];
		int k;
		const unsigned char *at = p;
		if (c == '"') {
			j->p = p + 1;
			*n = o;
			return 0;
		} else if (c < 0x20) {
			FAIL(j, OP_REJECT_SYNTAX, p);
		} else if (c >= 0x80) {
			k = op_utf8_seq(p, end);
			if (!k)
				FAIL(j, OP_REJECT_BAD_UTF8, p);
			memcpy(u, p, (size_t)k);
			p += k;
		} else { /* backslash */
			if (end - p < 2)
				FAIL(j, OP_REJECT_SYNTAX, p);
			c = p[1];
			p += 2;
			k = 1;
			switch (c) {
			case '"': case '\\': case '/': u[0] = (unsigned char)c; break;
			case 'b': u[0] = '\b'; break;
			case 'f': u[0] = '\f'; break;
			case 'n': u[0] = '\n'; break;
			case 'r': u[0] = '\r'; break;
			case 't': u[0] = '\t'; break;
			case 'u': {
				unsigned cp, lo;
				if (hex4(p, end, &cp))
					FAIL(j, OP_REJECT_SYNTAX, at);
				p += 4;
				if (cp >= 0xDC00 && cp < 0xE000)
					FAIL(j, OP_REJECT_BAD_UTF8, at);
				if (cp >= 0xD800 && cp < 0xDC00) {
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
					    hex4(p + 2, end, &lo) || lo < 0xDC00 ||
					    lo >= 0xE000)
						FAIL(j, OP_REJECT_BAD_UTF8, at);
					p += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				if (cp < 0x80) {
					u[0] = (unsigned char)cp;
				} else if (cp < 0x800) {
					u[0] = (unsigned char)(0xC0 | cp >> 6);
					u[1] = (unsigned char)(0x80 | (cp & 0x3F));
					k = 2;
				} else if (cp < 0x10000) {
					u[0] = (unsigned char)(0xE0 | cp >> 12);
					u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					u[2] = (unsigned char)(0x80 | (cp & 0x3F));
					k = 3;
				} else {
					u[0] = (unsigned char)(0xF0 | cp >> 18);
					u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
					u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					u[3] = (unsigned char)(0x80 | (cp & 0x3F));
					k = 4;
				}
				break;
			}
			default:
				FAIL(j, OP_REJECT_SYNTAX, at);
			}
		}
		if (o + (size_t)k > cap)
			FAIL(j, o + (size_t)k > field_cap ? OP_REJECT_FIELD_TOO_LONG :
			     OP_REJECT_RECORD_TOO_LARGE, at);
		if (dst)
			memcpy(dst + o, u, (size_t)k);
		o += (size_t)k;
	}
}

/* Scans a JSON number token at j->p; [*s, j->p) is its text. */
static int
jnum(struct jp *j, const unsigned char **s, int *is_int)
{
	const unsigned char *p = j->p, *end = j->end;
	*s = p;
	*is_int = 1;
	if (p < end && *p == '-')
		p++;
	if (p >= end || (unsigned)(*p - '0') > 9u)
		FAIL(j, OP_REJECT_SYNTAX, p);
	if (*p == '0')
		p++;
	else
		while (p < end && (unsigned)(*p - '0') <= 9u)
			p++;
	if (p < end && *p == '.') {
		*is_int = 0;
		p++;
		if (p >= end || (unsigned)(*p - '0') > 9u)
			FAIL(j, OP_REJECT_SYNTAX, p);
		while (p < end && (unsigned)(*p - '0') <= 9u)
			p++;
	}
	if (p < end && (*p | 0x20) == 'e') {
		*is_int = 0;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || (unsigned)(*p - '0') > 9u)
			FAIL(j, OP_REJECT_SYNTAX, p);
		while (p < end && (unsigned)(*p - '0') <= 9u)
			p++;
	}
	j->p = p;
	return 0;
}

static int
jlit(struct jp *j, const char *lit, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	j->p += n;
	return 0;
}

/* Validates any JSON value at j->p (depth = current nesting). */
static int
jskip(struct jp *j, uint32_t depth)
{
	size_t n;
	const unsigned char *s;
	int is_int;
	if (j->p >= j->end)
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	switch (*j->p) {
	case '"':
		j->p++;
		return jstr(j, NULL, SIZE_MAX, SIZE_MAX, 0, &n);
	case 't': return jlit(j, "true", 4);
	case 'f': return jlit(j, "false", 5);
	case 'n': return jlit(j, "null", 4);
	case '[': case '{': {
		unsigned char close = *j->p == '[' ? ']' : '}';
		if (depth >= j->d->cfg.max_json_depth)
			FAIL(j, OP_REJECT_TOO_DEEP, j->p);
		j->p++;
		skip_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			skip_ws(j);
			if (close == '}') {
				if (j->p >= j->end || *j->p != '"')
					FAIL(j, OP_REJECT_SYNTAX, j->p);
				j->p++;
				if (jstr(j, NULL, SIZE_MAX, SIZE_MAX, 0, &n))
					return -1;
				skip_ws(j);
				if (j->p >= j->end || *j->p != ':')
					FAIL(j, OP_REJECT_SYNTAX, j->p);
				j->p++;
				skip_ws(j);
			}
			if (jskip(j, depth + 1))
				return -1;
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				return 0;
			}
			FAIL(j, OP_REJECT_SYNTAX, j->p);
		}
	}
	default:
		return jnum(j, &s, &is_int);
	}
}

/* ---- values of known keys ---------------------------------------------- */

/* Reads a scalar whose meaning is numeric: a number token or a string
 * holding one (no escapes). [*s, *e) is the text, *is_int its kind;
 * *is_null for null. */
static int
jscalar(struct jp *j, const unsigned char **s, const unsigned char **e,
        int *is_int, int *is_null, int *is_str)
{
	*is_null = 0;
	*is_str = 0;
	if (j->p >= j->end)
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	unsigned c = *j->p;
	if (c == '"') {
		const unsigned char *q = scan_plain(j->p + 1, j->end);
		if (q >= j->end || *q != '"') {
			/* Not a plain numeric string: validate it for the right
			 * reason (syntax / utf8) and call it a bad value. */
			const unsigned char *at = j->p;
			size_t n;
			j->p++;
			if (jstr(j, NULL, SIZE_MAX, SIZE_MAX, 0, &n))
				return -1;
			FAIL(j, OP_REJECT_BAD_TYPE, at);
		}
		*s = j->p + 1;
		*e = q;
		j->p = q + 1;
		*is_str = 1;
		*is_int = 1;
		for (const unsigned char *t = *s; t < q; t++)
			if (*t == '.' || (*t | 0x20) == 'e')
				*is_int = 0;
		return 0;
	}
	if (c == 'n') {
		*is_null = 1;
		return jlit(j, "null", 4);
	}
	if (c == '-' || (unsigned)(c - '0') <= 9u) {
		if (jnum(j, s, is_int))
			return -1;
		*e = j->p;
		return 0;
	}
	if (c == '[' || c == '{' || c == 't' || c == 'f') {
		const unsigned char *at = j->p;
		if (jskip(j, 0))
			return -1;
		FAIL(j, OP_REJECT_BAD_TYPE, at);
	}
	FAIL(j, OP_REJECT_SYNTAX, j->p);
}

/* jid's general path (see there), from j->p. */
static NOINLINE int
jid_general(struct jp *j, int hex_if_string, uint64_t *out, int *present)
{
	const unsigned char *s, *e, *at = j->p;
	int is_int, is_null, is_str;
	if (jscalar(j, &s, &e, &is_int, &is_null, &is_str))
		return j->err == OP_REJECT_BAD_TYPE ? (j->err = OP_REJECT_BAD_ID, -1) : -1;
	if (is_null) {
		*present = 0;
		return 0;
	}
	int rc = is_str && hex_if_string ? hex64(s, e, out) : dec64(s, e, out);
	if (rc)
		FAIL(j, OP_REJECT_BAD_ID, at);
	*present = 1;
	return 0;
}

static inline int
jid(struct jp *j, int hex_if_string, uint64_t *out, int *present)
{
	/* Fast path: the shape real producers write (id_plain). Anything
	 * else takes the general path, which also names the right reason. */
	const unsigned char *q = id_plain(j->p, j->end, j->start, hex_if_string,
	                                  out);
	if (q) {
		j->p = q;
		*present = 1;
		return 0;
	}
	return jid_general(j, hex_if_string, out, present);
}

/* jint's general path (see there), from j->p. */
static NOINLINE int
jint_general(struct jp *j, int64_t *out, int *present)
{
	const unsigned char *s, *e, *at = j->p;
	int is_int, is_null, is_str;
	if (jscalar(j, &s, &e, &is_int, &is_null, &is_str))
		return -1;
	*present = !is_null;
	if (is_null)
		return 0;
	if (num64(s, e, is_int, out))
		FAIL(j, OP_REJECT_BAD_NUMBER, at);
	return 0;
}

static inline int
jint(struct jp *j, int64_t *out, int *present)
{
	/* Fast path: a plain integer token (int_plain); anything else goes
	 * the general way (fractions, exponents, strings, null, errors, out
	 * of range). */
	const unsigned char *q = int_plain(j->p, j->end, j->start, out);
	if (q) {
		j->p = q;
		*present = 1;
		return 0;
	}
	return jint_general(j, out, present);
}

static int
jparents(struct jp *j)
{
	struct op_event_builder *b = &j->d->b;
	uint64_t id;
	int present;
	if (j->p < j->end && *j->p != '[') { /* a single id, leniently */
		const unsigned char *at = j->p;
		if (jid(j, 0, &id, &present))
			return -1;
		if (present && op_event_builder_add_parent(b, id))
			FAIL(j, OP_REJECT_TOO_MANY_PARENTS, at);
		return 0;
	}
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		skip_ws(j);
		const unsigned char *at = j->p;
		if (jid(j, 0, &id, &present))
			return -1;
		if (present && op_event_builder_add_parent(b, id))
			FAIL(j, OP_REJECT_TOO_MANY_PARENTS, at);
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return 0;
		}
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	}
}

/* The room for a text at the end of the string scratch: at most the field
 * limit, *fcap, and what the scratch has left (less its NUL). */
static inline size_t
text_room(const struct jp *j, size_t *fcap)
{
	const struct op_event_builder *b = &j->d->b;
	size_t room = b->str_cap > b->str_len ? b->str_cap - b->str_len - 1 : 0;
	*fcap = j->d->cfg.max_field_bytes;
	return room < *fcap ? room : *fcap;
}

/* 1 when n bytes and their NUL fit at the end of the string scratch.
 * text_room leaves a byte for the NUL only where the scratch has one
 * left: a text kept when it was exactly full (an empty string: room 0)
 * would write its NUL past the scratch. */
static inline int
text_fits(const struct op_event_builder *b, size_t n)
{
	return b->str_len + n < b->str_cap;
}

/* Keeps the n bytes written at dst, the end of the string scratch, as
 * *out. (dst is passed, not taken from b again: the stores of the copy
 * could alias b->str, which would then have to be read once more.) The
 * caller has checked that its NUL fits (text_fits). */
static inline void
text_keep(struct op_event_builder *b, struct op_str *out, char *dst, size_t n)
{
	dst[n] = '\0';
	out->off = (uint16_t)b->str_len;
	out->len = (uint16_t)n;
	b->str_len += (uint32_t)n + 1;
}

/* jtext's string past its fast path: j->p inside the string, the o plain
 * bytes before it already copied to the end of the string scratch. */
static NOINLINE int
jtext_str(struct jp *j, struct op_str *out, size_t o, int *null)
{
	struct op_event_builder *b = &j->d->b;
	size_t fcap, cap = text_room(j, &fcap), n;
	char *dst = b->str + b->str_len;
	*null = 0;
	if (jstr(j, dst, cap, fcap, o, &n))
		return -1;
	if (!text_fits(b, n))
		FAIL(j, OP_REJECT_RECORD_TOO_LARGE, j->p - 1);
	text_keep(b, out, dst, n);
	return 0;
}

/* jtext of a value other than a string: scalars as their token,
 * arrays/objects (allow_nested) as raw validated JSON, null as nothing. */
static NOINLINE int
jtext_token(struct jp *j, struct op_str *out, int allow_nested, int *null)
{
	struct op_event_builder *b = &j->d->b;
	size_t fcap, cap = text_room(j, &fcap);
	char *dst = b->str + b->str_len;
	*null = 0;
	if (j->p >= j->end)
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	const unsigned char *s = j->p;
	unsigned c = *s;
	if (c == 'n') {
		*null = 1;
		return jlit(j, "null", 4);
	}
	if ((c == '[' || c == '{') && !allow_nested)
		FAIL(j, OP_REJECT_BAD_TYPE, s);
	if (jskip(j, 0))
		return -1;
	size_t n = (size_t)(j->p - s);
	if (n > cap)
		FAIL(j, n > fcap ? OP_REJECT_FIELD_TOO_LONG :
		     OP_REJECT_RECORD_TOO_LARGE, s);
	memcpy(dst, s, n); /* n >= 1 and n <= cap: its NUL fits */
	text_keep(b, out, dst, n);
	return 0;
}

/*
 * Any value as text into the string scratch: strings unescaped, others as
 * jtext_token says. *null is set for null (nothing stored). A string's
 * common case first: plain, its closing quote found by scan_plain_copy
 * (see jstr), without the calls. Otherwise (an escape, a non-ASCII or
 * control byte, no block of room or input left) jstr goes on from where
 * that scan stopped, with what it copied: it would have started with the
 * very same scan_plain_copy call, so the outcome is the same.
 */
static inline int
jtext(struct jp *j, struct op_str *out, int allow_nested, int *null)
{
	struct op_event_builder *b = &j->d->b;
	const unsigned char *s = j->p;
	if (s < j->end && *s == '"') {
		size_t fcap, cap = text_room(j, &fcap);
		char *dst = b->str + b->str_len;
		int hit;
		const unsigned char *q = scan_plain_copy(
		    s + 1, j->end, j->start, (unsigned char *)dst, cap, &hit);
		size_t n = (size_t)(q - s - 1);
		if (hit && *q == '"') {
			if (!text_fits(b, n))
				FAIL(j, OP_REJECT_RECORD_TOO_LARGE, q);
			*null = 0;
			j->p = q + 1;
			text_keep(b, out, dst, n);
			return 0;
		}
		j->p = q;
		return jtext_str(j, out, n, null);
	}
	return jtext_token(j, out, allow_nested, null);
}

/* Key of a member: pointer into the line when it has no escapes, else
 * unescaped into d->tmp. j->p is at the opening quote. */
static int
jkey(struct jp *j, const char **k, size_t *n)
{
	const unsigned char *q = scan_plain(++j->p, j->end);
	if (q < j->end && *q == '"') {
		*k = (const char *)j->p;
		*n = (size_t)(q - j->p);
		j->p = q + 1;
		if (*n > j->d->cfg.max_field_bytes)
			FAIL(j, OP_REJECT_FIELD_TOO_LONG, (const unsigned char *)*k);
		return 0;
	}
	size_t cap = j->d->cfg.max_field_bytes;
	if (jstr(j, j->d->tmp, cap, cap, 0, n))
		return -1;
	*k = j->d->tmp;
	return 0;
}

static int
kv_dup(const struct op_event_builder *b, const char *k, size_t n)
{
	for (uint32_t i = 0; i < b->n_kv; i++)
		if (b->kv[i].key.len == n &&
		    memcmp(b->str + b->kv[i].key.off, k, n) == 0)
			return 1;
	return 0;
}

/* A member that is no field, when the record leaves key/value pairs out
 * (keep_kv 0: replay, serve): checked as a kept pair is (a key named twice,
 * the pair limit, the field limit, the exception flag), but read in place,
 * not copied into the string scratch only for finish() to leave it out.
 * Unlike a kept pair it takes no room, so it cannot make the record too
 * large. */
static int
jpair_unkept(struct jp *j, const char *k, size_t kn, const unsigned char *kat)
{
	struct op_decoder *d = j->d;
	struct op_event_builder *b = &d->b;
	size_t fcap = d->cfg.max_field_bytes, n;
	for (uint32_t i = 0; i < j->n_okeys; i++)
		if (d->okeys[i].n == kn && memcmp(d->okeys[i].k, k, kn) == 0)
			FAIL(j, OP_REJECT_DUPLICATE_KEY, kat);
	if (j->n_okeys >= b->max_kv)
		FAIL(j, OP_REJECT_TOO_MANY_KV, kat);
	if (k == d->tmp) { /* unescaped, where the next key or value goes */
		struct op_str ks;
		if (op_event_builder_str(b, k, kn, &ks))
			FAIL(j, OP_REJECT_RECORD_TOO_LARGE, kat);
		k = b->str + ks.off;
	}
	d->okeys[j->n_okeys++] = (struct op_json_key){k, kn};
	const unsigned char *s = j->p, *v = s;
	if (s >= j->end)
		FAIL(j, OP_REJECT_SYNTAX, s);
	if (*s == '"') { /* plain in place; else unescaped into d->tmp */
		const unsigned char *q = scan_plain(++v, j->end);
		n = (size_t)(q - v);
		if (q < j->end && *q == '"' && n <= fcap) {
			j->p = q + 1;
		} else {
			j->p = v;
			if (jstr(j, d->tmp, fcap, fcap, 0, &n))
				return -1;
			v = (const unsigned char *)d->tmp;
		}
	} else if (*s == 'n') { /* null: the text "null" when kept */
		return jlit(j, "null", 4);
	} else {
		if (jskip(j, 0))
			return -1;
		n = (size_t)(j->p - s);
		if (n > fcap)
			FAIL(j, OP_REJECT_FIELD_TOO_LONG, s);
	}
	if (op_text_names_exception((const char *)v, n))
		b->hdr.flags |= OP_EV_EXCEPTION;
	return 0;
}

/* An integer time into *dst, raising flag when present (null: absent). */
static inline int
jtime(struct jp *j, uint64_t *dst, uint16_t *flags, uint16_t flag)
{
	int64_t v;
	int present;
	if (jint(j, &v, &present))
		return -1;
	if (present) {
		*dst = (uint64_t)v;
		*flags |= flag;
	}
	return 0;
}

/*
 * A member; j->p is at the key's opening quote, idx is the member's
 * position in the object.
 *
 * Key prediction: d->jkeys holds, per position, the "Key": bytes (quotes
 * and colon included, no whitespace) of the key the last line had there.
 * When the input starts with exactly those bytes, the general path would
 * find the same key — it has no escape, control or non-ASCII byte, so the
 * scan stops at its closing quote; it passed the length limit when it was
 * recorded, and the colon follows at once — so the key scan and key_id are
 * skipped. Duplicate checks and everything after the colon are shared.
 * Otherwise the general path runs and records what it found for the next
 * line (a different order or key set costs one miss per position).
 */
static int
jmember(struct jp *j, unsigned *seen, unsigned idx)
{
	struct op_decoder *d = j->d;
	struct op_event_builder *b = &d->b;
	struct op_event *h = &b->hdr;
	const char *k;
	size_t kn, pn;
	const unsigned char *kat = j->p;
	enum jkey id;
	if (idx < OP_JKEY_POSITIONS &&
	    jkey_predicted(&d->jkeys, idx, kat, (size_t)(j->end - kat))) {
		pn = d->jkeys.len[idx];
		k = (const char *)kat + 1;
		kn = pn - 3;
		id = (enum jkey)d->jkeys.id[idx];
		j->p = kat + pn;
	} else {
		if (jkey(j, &k, &kn))
			return -1;
		const unsigned char *kend = j->p; /* past the closing quote */
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':')
			FAIL(j, OP_REJECT_SYNTAX, j->p);
		j->p++;
		id = key_id(k, kn);
		/* predicted next time when in place (no escapes), the colon
		 * right after */
		if (idx < OP_JKEY_POSITIONS)
			jkey_learn(&d->jkeys, idx, kat,
			           k == (const char *)kat + 1 && kend + 1 == j->p ?
			           kn + 3 : 0, (uint8_t)id);
	}
	skip_ws(j);
	if (j->marks && idx < OP_JT_MEMBERS) {
		j->marks->value[idx] = (uint32_t)(j->p - j->start);
		j->marks->id[idx] = (uint8_t)id;
	}
	if (id != K_OTHER) {
		if (*seen & (1u << id))
			FAIL(j, OP_REJECT_DUPLICATE_KEY, kat);
		*seen |= 1u << id;
	}
	int present, null;
	int64_t v;
	switch (id) {
	case K_TASKID:
		if (jid(j, 1, &h->trace_id, &present))
			return -1;
		if (!present)
			*seen &= ~(1u << K_TASKID);
		return 0;
	case K_EVENTID:
		if (jid(j, 0, &h->event_id, &present))
			return -1;
		if (!present)
			*seen &= ~(1u << K_EVENTID);
		return 0;
	case K_PARENTS:
		return jparents(j);
	case K_TIMESTAMP: case K_HRT: case K_ENDHRT: /* one (inlined) jtime */
		return jtime(j, id == K_TIMESTAMP ? (uint64_t *)&h->wall_ms :
		                id == K_HRT ? &h->start_ns : &h->end_ns, &h->flags,
		             id == K_TIMESTAMP ? OP_EV_HAS_WALL :
		             id == K_HRT ? OP_EV_HAS_START : OP_EV_HAS_END);
	case K_PID:
		if (jint(j, &v, &present))
			return -1;
		if (!present)
			return 0;
		if (v < INT32_MIN || v > INT32_MAX)
			FAIL(j, OP_REJECT_BAD_NUMBER, kat);
		h->process_id = (int32_t)v;
		return 0;
	case K_TID:
		if (jint(j, &v, &present))
			return -1;
		if (present)
			h->thread_id = v;
		return 0;
	case K_HOST: case K_AGENT: case K_PNAME: case K_TNAME: case K_LABEL: {
		/* one (inlined) jtext for all the string fields */
		static const unsigned char field[] = {
			[K_HOST] = OP_EV_HOST, [K_AGENT] = OP_EV_AGENT,
			[K_PNAME] = OP_EV_PROCESS, [K_TNAME] = OP_EV_THREAD,
			[K_LABEL] = OP_EV_LABEL,
		};
		return jtext(j, &h->str[field[id]], 0, &null);
	}
	case K_OTHER:
		break;
	}
	if (!b->keep_kv)
		return jpair_unkept(j, k, kn, kat);
	if (kv_dup(b, k, kn))
		FAIL(j, OP_REJECT_DUPLICATE_KEY, kat);
	if (b->n_kv >= b->max_kv)
		FAIL(j, OP_REJECT_TOO_MANY_KV, kat);
	struct op_kv_ref *r = &b->kv[b->n_kv];
	if (op_event_builder_str(b, k, kn, &r->key))
		FAIL(j, OP_REJECT_RECORD_TOO_LARGE, kat);
	if (jtext(j, &r->val, 1, &null))
		return -1;
	if (null) { /* a null value is kept as the text "null" */
		if (op_event_builder_str(b, "null", 4, &r->val))
			FAIL(j, OP_REJECT_RECORD_TOO_LARGE, kat);
	} else if (op_text_names_exception(b->str + r->val.off, r->val.len)) {
		b->hdr.flags |= OP_EV_EXCEPTION;
	}
	b->n_kv++;
	return 0;
}

static int
jobject(struct jp *j)
{
	unsigned seen = 0, idx = 0;
	const unsigned char *gap = j->start; /* before the member's value */
	skip_ws(j);
	if (j->end - j->p >= 3 && memcmp(j->p, "\xEF\xBB\xBF", 3) == 0)
		j->p += 3; /* a UTF-8 byte order mark */
	skip_ws(j);
	if (j->p >= j->end || *j->p != '{')
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
	} else {
		for (;;) { /* at a member, whitespace skipped */
			if (j->p >= j->end || *j->p != '"')
				FAIL(j, OP_REJECT_SYNTAX, j->p);
			for (;;) {
				if (j->marks && idx < OP_JT_MEMBERS)
					j->marks->gap[idx] = (uint32_t)(gap - j->start);
				if (jmember(j, &seen, idx++))
					return -1;
				gap = j->p;
				/* Producers put a bare comma between members: one
				 * test for ," instead of a whitespace skip on either
				 * side and the test for the next key's quote. */
				static const unsigned char cq[2] = {',', '"'};
				if (j->end - j->p < 2 || load2(j->p) != load2(cq))
					break;
				j->p++;
			}
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				skip_ws(j);
				continue;
			}
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				break;
			}
			FAIL(j, OP_REJECT_SYNTAX, j->p);
		}
	}
	skip_ws(j);
	if (j->to_nl ? j->p >= j->end || *j->p != '\n' : j->p != j->end)
		FAIL(j, OP_REJECT_SYNTAX, j->p);
	if (!(seen & (1u << K_TASKID)))
		FAIL(j, OP_REJECT_MISSING_TRACE_ID, j->start);
	if (!(seen & (1u << K_EVENTID)))
		FAIL(j, OP_REJECT_MISSING_EVENT_ID, j->start);
	struct op_event *h = &j->d->b.hdr;
	if (!(h->flags & OP_EV_HAS_START) && (h->flags & OP_EV_HAS_WALL)) {
		h->start_ns = (uint64_t)h->wall_ms * 1000000u;
		h->flags |= OP_EV_HAS_START;
	}
	if (j->marks)
		op_jtmpl_learn(&j->d->jtmpl, j->start, j->marks, idx);
	return 0;
}

int
op_decode_json(struct op_decoder *d, const char *line, size_t n,
               const struct op_pos *pos, void *out, uint32_t cap,
               uint32_t *len)
{
	int rc = op_decoder_begin(d, line, n, &pos, d->cfg.max_line_bytes);
	/* decoded by op_decoder_line_end up to its '\n' (less a '\r') */
	int pre = d->st.units == d->pre.units + 1 && op_pre_decoded(d, line, n);
	d->pre.line = NULL;
	if (rc)
		return rc;
	if (pre)
		return op_decoder_emit(d, line, n, pos, out, cap, len);
	struct op_jtmpl_marks marks;
	struct jp j = {
		.p = (const unsigned char *)line,
		.end = (const unsigned char *)line + n,
		.start = (const unsigned char *)line,
		.d = d,
	};
	if (op_jtmpl_try(d, j.p, j.end, 0, &marks, &j.marks))
		return op_decoder_emit(d, line, n, pos, out, cap, len);
	if (jobject(&j))
		return op_decoder_reject(d, j.err, line, n, n, pos,
		                         (uint32_t)(j.err_at - j.start));
	return op_decoder_emit(d, line, n, pos, out, cap, len);
}

/*
 * The op_line_end_fn op_decoder_line_ends sets: parses the object at p up
 * to its line's '\n', taken for no whitespace, so a success proves the
 * line has none before (strings, numbers, literals and key patterns stop
 * at one too). The event stays in the builder for the unit's
 * op_decode_json. Anything else is 0, no counter moved: the splitter
 * searches for the '\n' and the unit is decoded as ever.
 */
static size_t
op_decoder_line_end(void *arg, const char *p, size_t avail)
{
	struct op_decoder *d = arg;
	d->pre.line = NULL;
	if (d->pre.rest) {
		d->pre.rest--;
		return 0;
	}
	if (!avail || *p != '{')
		return 0;
	prefetch_lines_ahead((const unsigned char *)p, avail);
	size_t lim = (size_t)d->cfg.max_line_bytes + 2; /* a '\r', the '\n' */
	struct op_jtmpl_marks marks;
	struct jp j = {
		.p = (const unsigned char *)p,
		.end = (const unsigned char *)p + (avail < lim ? avail : lim),
		.start = (const unsigned char *)p,
		.d = d,
		.to_nl = 1,
	};
	const unsigned char *q = op_jtmpl_try(d, j.p, j.end, 1, &marks, &j.marks);
	if (q)
		j.p = q;
	else if (jobject(&j)) {
		if (++d->pre.misses % OP_LINE_END_MISSES == 0)
			d->pre.rest = OP_LINE_END_REST;
		return 0;
	}
	d->pre.misses = 0;
	d->pre.line = p;
	d->pre.nl = (uint32_t)(j.p - j.start);
	d->pre.units = d->st.units;
	return d->pre.nl;
}

void
op_decoder_line_ends(struct op_decoder *d, struct op_splitter *s)
{
	if (d->fmt == OP_FORMAT_JSON_V4 || d->fmt == OP_FORMAT_AUTO)
		op_splitter_set_line_end(s, op_decoder_line_end, d);
}

int
op_json_syntax_error_at(struct op_decoder *d, const char *data, size_t n,
                        uint32_t *at)
{
	struct jp j = {
		.p = (const unsigned char *)data,
		.end = (const unsigned char *)data + n,
		.start = (const unsigned char *)data,
		.d = d,
	};
	op_event_builder_reset(&d->b);
	if (jobject(&j) && j.err == OP_REJECT_SYNTAX) {
		*at = (uint32_t)(j.err_at - j.start);
		return 1;
	}
	return 0;
}

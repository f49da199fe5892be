/*
 * json_cur.c — the pull cursor of json_cur.h: RFC 8259 syntax (strings
 * with every escape, UTF-8 checked; numbers; literals), containers nested
 * at most max_depth deep. No allocation.
 */
#include "operators/ingest/json_cur.h"

#include <string.h>

#include "operators/ingest/decode_priv.h"
#include "operators/ingest/json_scan.h"

void
op_jc_init(struct op_jc *c, const void *data, size_t n, uint32_t max_depth)
{
	c->s = c->p = data;
	c->end = c->s + n;
	c->depth = 0;
	c->max_depth = max_depth;
	c->err = OP_REJECT_NONE;
	c->at = 0;
}

int
op_jc_fail(struct op_jc *c, enum op_reject r)
{
	if (c->err == OP_REJECT_NONE) {
		c->err = r;
		c->at = op_jc_off(c);
	}
	return -1;
}

int
op_jc_peek(struct op_jc *c)
{
	const unsigned char *p = c->p;
	if (p < c->end && *p > ' ') /* the usual case: no blank before it */
		return *p;
	while (p < c->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	c->p = p;
	return p < c->end ? *p : -1;
}

static int
open_container(struct op_jc *c, int ch)
{
	int got = op_jc_peek(c);
	if (got != ch)
		return op_jc_fail(c, got == -1 ? OP_REJECT_SYNTAX : OP_REJECT_BAD_TYPE);
	if (c->depth >= c->max_depth)
		return op_jc_fail(c, OP_REJECT_TOO_DEEP);
	c->depth++;
	c->p++;
	/* the first member or element has no comma before it: mark the
	 * container fresh by leaving the cursor right after its opener */
	return 0;
}

int
op_jc_obj(struct op_jc *c)
{
	return open_container(c, '{');
}

int
op_jc_arr(struct op_jc *c)
{
	return open_container(c, '[');
}

/* Before the next member/element: after the opener nothing, else a
 * comma. 1 when there is one, 0 at the closer (consumed), -1. */
static int
next_item(struct op_jc *c, int closer)
{
	int fresh = c->p[-1] == '{' || c->p[-1] == '[';
	int ch = op_jc_peek(c);
	if (ch == closer) {
		c->p++;
		c->depth--;
		return 0;
	}
	if (!fresh) {
		if (ch != ',')
			return op_jc_fail(c, OP_REJECT_SYNTAX);
		c->p++;
		ch = op_jc_peek(c);
	}
	if (ch == -1 || ch == closer)
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	return 1;
}

int
op_jc_elem(struct op_jc *c)
{
	return next_item(c, ']');
}

/* Appends code point cp as UTF-8 to buf[*n..cap). */
static int
put_utf8(char *buf, size_t cap, size_t *n, uint32_t cp)
{
	unsigned char t[4];
	size_t k;
	if (cp < 0x80) {
		t[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		t[0] = (unsigned char)(0xC0 | (cp >> 6));
		t[1] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		t[0] = (unsigned char)(0xE0 | (cp >> 12));
		t[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		t[2] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		t[0] = (unsigned char)(0xF0 | (cp >> 18));
		t[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		t[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		t[3] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (*n + k > cap)
		return -1;
	memcpy(buf + *n, t, k);
	*n += k;
	return 0;
}

/* One escape at c->p (after the backslash) into buf. */
static int
unescape(struct op_jc *c, char *buf, size_t cap, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	if (c->p >= c->end)
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	const char *k = *c->p ? strchr(from, *c->p) : NULL;
	if (k) {
		if (*n + 1 > cap)
			return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
		buf[(*n)++] = to[k - from];
		c->p++;
		return 0;
	}
	uint32_t cp, lo;
	if (*c->p != 'u' || hex4(c->p + 1, c->end, &cp))
		return op_jc_fail(c, OP_REJECT_BAD_UTF8);
	c->p += 5;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return op_jc_fail(c, OP_REJECT_BAD_UTF8);
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
		    hex4(c->p + 2, c->end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
			return op_jc_fail(c, OP_REJECT_BAD_UTF8);
		c->p += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (put_utf8(buf, cap, n, cp))
		return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
	return 0;
}

/* The string whose first byte is at start (after its opening quote), with
 * c->p there: any string (escapes, UTF-8 checked). */
static __attribute__((noinline)) int
string_from(struct op_jc *c, const unsigned char *start, const char **out,
            size_t *len, char *buf, size_t cap)
{
	size_t n = 0;
	int escaped = 0;
	for (;;) {
		const unsigned char *q = scan_plain(c->p, c->end);
		if (escaped) {
			size_t k = (size_t)(q - c->p);
			if (n + k > cap)
				return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
			memcpy(buf + n, c->p, k);
			n += k;
		}
		c->p = q;
		if (q >= c->end)
			return op_jc_fail(c, OP_REJECT_SYNTAX);
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (!escaped) {
				n = (size_t)(q - start);
				if (n > cap)
					return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
				memcpy(buf, start, n);
				escaped = 1;
			}
			c->p++;
			if (unescape(c, buf, cap, &n))
				return -1;
			continue;
		}
		if (*q < 0x20)
			return op_jc_fail(c, OP_REJECT_SYNTAX);
		int k = op_utf8_seq(q, c->end);
		if (!k)
			return op_jc_fail(c, OP_REJECT_BAD_UTF8);
		if (escaped) {
			if (n + (size_t)k > cap)
				return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
			memcpy(buf + n, q, (size_t)k);
			n += (size_t)k;
		}
		c->p += k;
	}
	if (escaped) {
		*out = buf;
		*len = n;
	} else {
		*out = (const char *)start;
		*len = (size_t)(c->p - start);
		if (*len > cap)
			return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
	}
	c->p++; /* closing quote */
	return 0;
}

/* The string at c->p (its opening quote). Most strings have no escape
 * and no byte that scan_plain stops at before their closing quote: they
 * take one scan here, in the caller, and string_from the rest. */
static inline __attribute__((always_inline)) int
string_at(struct op_jc *c, const char **out, size_t *len, char *buf,
          size_t cap)
{
	const unsigned char *start = ++c->p, *q = scan_plain(start, c->end);
	if (q < c->end && *q == '"') {
		c->p = q;
		if ((size_t)(q - start) > cap)
			return op_jc_fail(c, OP_REJECT_FIELD_TOO_LONG);
		*out = (const char *)start;
		*len = (size_t)(q - start);
		c->p++; /* closing quote */
		return 0;
	}
	return string_from(c, start, out, len, buf, cap);
}

int
op_jc_str(struct op_jc *c, const char **out, size_t *len, char *buf,
          size_t cap)
{
	int ch = op_jc_peek(c);
	if (ch != '"') {
		if (ch == -1)
			return op_jc_fail(c, OP_REJECT_SYNTAX);
		return op_jc_fail(c, OP_REJECT_BAD_TYPE);
	}
	return string_at(c, out, len, buf, cap);
}

int
op_jc_member(struct op_jc *c, const char **key, size_t *klen, char *kbuf,
             size_t kcap)
{
	int r = next_item(c, '}');
	if (r <= 0)
		return r;
	if (op_jc_peek(c) != '"')
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	if (string_at(c, key, klen, kbuf, kcap))
		return -1;
	if (op_jc_peek(c) != ':')
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	c->p++;
	return 1;
}

static int
number(struct op_jc *c)
{
	const unsigned char *p = c->p;
	if (p < c->end && *p == '-')
		p++;
	if (p >= c->end || (unsigned)(*p - '0') > 9u)
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	if (*p == '0')
		p++;
	else
		while (p < c->end && (unsigned)(*p - '0') <= 9u)
			p++;
	if (p < c->end && *p == '.') {
		p++;
		if (p >= c->end || (unsigned)(*p - '0') > 9u)
			return op_jc_fail(c, OP_REJECT_SYNTAX);
		while (p < c->end && (unsigned)(*p - '0') <= 9u)
			p++;
	}
	if (p < c->end && (*p | 0x20) == 'e') {
		p++;
		if (p < c->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= c->end || (unsigned)(*p - '0') > 9u)
			return op_jc_fail(c, OP_REJECT_SYNTAX);
		while (p < c->end && (unsigned)(*p - '0') <= 9u)
			p++;
	}
	c->p = p;
	return 0;
}

static int
literal(struct op_jc *c, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	c->p += n;
	return 0;
}

int
op_jc_skip(struct op_jc *c)
{
	int ch = op_jc_peek(c);
	switch (ch) {
	case '"': {
		/* validated in place, nothing copied */
		c->p++;
		for (;;) {
			const unsigned char *q = scan_plain(c->p, c->end);
			c->p = q;
			if (q >= c->end)
				return op_jc_fail(c, OP_REJECT_SYNTAX);
			if (*q == '"') {
				c->p++;
				return 0;
			}
			if (*q == '\\') {
				c->p++;
				if (c->p >= c->end)
					return op_jc_fail(c, OP_REJECT_SYNTAX);
				if (*c->p == 'u') {
					uint32_t v;
					if (hex4(c->p + 1, c->end, &v))
						return op_jc_fail(c, OP_REJECT_BAD_UTF8);
					c->p += 5;
				} else if (*c->p && strchr("\"\\/bfnrt", *c->p)) {
					c->p++;
				} else {
					return op_jc_fail(c, OP_REJECT_BAD_UTF8);
				}
				continue;
			}
			if (*q < 0x20)
				return op_jc_fail(c, OP_REJECT_SYNTAX);
			int k = op_utf8_seq(q, c->end);
			if (!k)
				return op_jc_fail(c, OP_REJECT_BAD_UTF8);
			c->p += k;
		}
	}
	case '{':
		if (op_jc_obj(c))
			return -1;
		for (;;) {
			/* keys are not kept: skip them as values */
			int r = next_item(c, '}');
			if (r <= 0)
				return r;
			if (op_jc_peek(c) != '"' || op_jc_skip(c))
				return op_jc_fail(c, OP_REJECT_SYNTAX);
			if (op_jc_peek(c) != ':')
				return op_jc_fail(c, OP_REJECT_SYNTAX);
			c->p++;
			if (op_jc_skip(c))
				return -1;
		}
	case '[':
		if (op_jc_arr(c))
			return -1;
		for (;;) {
			int r = op_jc_elem(c);
			if (r <= 0)
				return r;
			if (op_jc_skip(c))
				return -1;
		}
	case 't':
		return literal(c, "true");
	case 'f':
		return literal(c, "false");
	case 'n':
		return literal(c, "null");
	case -1:
		return op_jc_fail(c, OP_REJECT_SYNTAX);
	default:
		return number(c);
	}
}

int
op_jc_raw(struct op_jc *c, const char **out, size_t *len)
{
	op_jc_peek(c);
	const unsigned char *start = c->p;
	if (op_jc_skip(c))
		return -1;
	*out = (const char *)start;
	*len = (size_t)(c->p - start);
	return 0;
}

int
op_jc_u64(struct op_jc *c, uint64_t *v, char *buf, size_t cap)
{
	int ch = op_jc_peek(c);
	const unsigned char *s, *e;
	if (ch == '"') {
		const char *t;
		size_t n;
		if (op_jc_str(c, &t, &n, buf, cap))
			return -1;
		s = (const unsigned char *)t;
		e = s + n;
	} else if (ch == '-' || (ch >= '0' && ch <= '9')) {
		s = c->p;
		if (number(c))
			return -1;
		e = c->p;
	} else {
		return op_jc_fail(c, ch == -1 ? OP_REJECT_SYNTAX : OP_REJECT_BAD_TYPE);
	}
	uint64_t x = 0;
	if (s == e || e - s > 20)
		return op_jc_fail(c, OP_REJECT_BAD_NUMBER);
	if (e - s < 20) { /* 19 digits or fewer cannot overflow */
		if (scan_digits(s, e, e, &x) != e)
			return op_jc_fail(c, OP_REJECT_BAD_NUMBER);
		*v = x;
		return 0;
	}
	for (const unsigned char *q = s; q < e; q++) {
		if ((unsigned)(*q - '0') > 9u)
			return op_jc_fail(c, OP_REJECT_BAD_NUMBER);
		unsigned d = *q - '0';
		if (x > (UINT64_MAX - d) / 10)
			return op_jc_fail(c, OP_REJECT_BAD_NUMBER);
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/*
 * buf.c — a growable text buffer (weft_buf): formatted appends and JSON
 * string literals, for every writer of JSON lines, metrics and HTML.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static int
reserve(struct weft_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t c = (b->len + more) * 2 + 256;
	char *np = realloc(b->p, c);
	if (!np)
		return WEFT_ENOMEM;
	b->p = np;
	b->cap = c;
	return 0;
}

int
weft_buf_printf(struct weft_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
	                  fmt, ap);
	va_end(ap);
	if (n < 0)
		return WEFT_EINVAL;
	if (b->len + (size_t)n + 1 > b->cap) {
		if (reserve(b, (size_t)n + 1))
			return WEFT_ENOMEM;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

int
weft_buf_str(struct weft_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (reserve(b, n * 6 + 3))
		return WEFT_ENOMEM;
	char *o = b->p + b->len;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			*o++ = '\\';
			*o++ = (char)*p;
		} else if (*p < 0x20) {
			o += sprintf(o, "\\u%04x", *p);
		} else {
			*o++ = (char)*p;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
	return 0;
}

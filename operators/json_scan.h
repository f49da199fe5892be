/*
 * json_scan.h — the byte-scanning primitives of the v4 JSON decoder
 * (decode_json.c), kept apart so that file holds only the grammar. All are
 * static inline: they are the decoder's inner loops.
 */
#ifndef WEFT_OP_JSON_SCAN_H
#define WEFT_OP_JSON_SCAN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * First byte at or after p that ends a plain run inside a JSON string: '"',
 * '\\', a control character or a non-ASCII byte. On x86-64 sixteen bytes at
 * a time with SSE2 (part of the x86-64 baseline: a compare per class, one
 * movemask); elsewhere eight at a time with SWAR zero-byte tricks (a borrow
 * can only flag bytes above a real hit, so "any hit in the word" is exact).
 * Runs in real reports are long (descriptions, class names), so this is the
 * decoder's inner loop.
 */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline const unsigned char *
scan_plain(const unsigned char *p, const unsigned char *end)
{
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i below = _mm_set1_epi8(0x1f);
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* signed compare: bytes >= 0x80 are negative, so "v <= 0x1f"
		 * (not v > 0x1f) flags both control and non-ASCII bytes */
		__m128i hit = _mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
		    _mm_andnot_si128(_mm_cmpgt_epi8(v, below), _mm_set1_epi8(-1)));
		unsigned m = (unsigned)_mm_movemask_epi8(hit);
		if (m)
			return p + __builtin_ctz(m);
		p += 16;
	}
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
		p++;
	return p;
}
#else
static inline const unsigned char *
scan_plain(const unsigned char *p, const unsigned char *end)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	while (end - p >= 8) {
		uint64_t v, q, b;
		memcpy(&v, p, 8);
		q = v ^ (ones * '"');
		b = v ^ (ones * '\\');
		uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) |
		             ((v - ones * 0x20) & ~v) | v;
		if (t & high)
			break;
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
		p++;
	return p;
}
#endif

static inline int
hexval(unsigned c)
{
	if (c - '0' < 10)
		return (int)(c - '0');
	c |= 0x20;
	if (c - 'a' < 6)
		return (int)(c - 'a' + 10);
	return -1;
}

/*
 * Decimal digits at q (below lim) accumulated into *v: eight at a time
 * when eight digits are there (SWAR: check all eight are '0'..'9', then
 * combine pairs, quads and the two halves with three multiplies), then
 * one at a time. Returns the first byte after the digits. The caller
 * bounds lim so that *v cannot overflow (19 digits for 64 bits).
 */
static inline const unsigned char *
scan_digits(const unsigned char *q, const unsigned char *lim, uint64_t *v)
{
	uint64_t acc = *v;
	while (lim - q >= 8) {
		uint64_t w;
		memcpy(&w, q, 8);
		if (((w & 0xF0F0F0F0F0F0F0F0ull) |
		     (((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) !=
		    0x3333333333333333ull)
			break;
		w -= 0x3030303030303030ull;
		w = (w * 10) + (w >> 8); /* pairs */
		w = (((w & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
		     (((w >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
		acc = acc * 100000000u + (uint32_t)w;
		q += 8;
	}
	for (unsigned dg; q < lim && (dg = *q - (unsigned)'0') <= 9u; q++)
		acc = acc * 10 + dg;
	*v = acc;
	return q;
}

/* ---- numbers from text -------------------------------------------------- */

/* Decimal [s, e) with optional '-' to a 64-bit value (two's complement for
 * negatives). Accepts -2^63 .. 2^64-1. Returns 0 or -1. */
static inline int
dec64(const unsigned char *s, const unsigned char *e, uint64_t *out)
{
	int neg = 0;
	if (s < e && *s == '-') {
		neg = 1;
		s++;
	}
	if (s >= e || e - s > 20)
		return -1;
	/* Up to 19 digits cannot overflow; only a 20th needs checked math. */
	const unsigned char *safe = e - s > 19 ? s + 19 : e;
	uint64_t v = 0;
	for (; s < safe; s++) {
		unsigned dgt = *s - (unsigned)'0';
		if (dgt > 9)
			return -1;
		v = v * 10 + dgt;
	}
	if (s < e) {
		unsigned dgt = *s - (unsigned)'0';
		if (dgt > 9 || __builtin_mul_overflow(v, 10u, &v) ||
		    __builtin_add_overflow(v, dgt, &v))
			return -1;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -1;
		v = (uint64_t)0 - v;
	}
	*out = v;
	return 0;
}

/* Hex [s, e), 1..16 digits, optional '-' (negated) or "0x". */
static inline int
hex64(const unsigned char *s, const unsigned char *e, uint64_t *out)
{
	int neg = 0;
	if (s < e && *s == '-') {
		neg = 1;
		s++;
	}
	if (e - s > 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
		s += 2;
	if (s >= e || e - s > 16)
		return -1;
	uint64_t v = 0;
	for (; s < e; s++) {
		int h = hexval(*s);
		if (h < 0)
			return -1;
		v = v << 4 | (uint64_t)h;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -1;
		v = (uint64_t)0 - v;
	}
	*out = v;
	return 0;
}

/* A JSON number or numeric text [s, e) as a signed 64-bit integer; a
 * fraction or exponent goes through strtod and is truncated. */
static inline int
num64(const unsigned char *s, const unsigned char *e, int is_int, int64_t *out)
{
	uint64_t u;
	if (is_int) {
		if (dec64(s, e, &u))
			return -1;
		if (*s != '-' && u > (uint64_t)INT64_MAX)
			return -1;
		*out = (int64_t)u;
		return 0;
	}
	char buf[64];
	if (e - s >= (ptrdiff_t)sizeof buf)
		return -1;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	char *ep;
	double v = strtod(buf, &ep);
	if (*ep != '\0' || !(v > -9.2e18 && v < 9.2e18))
		return -1;
	*out = (int64_t)v;
	return 0;
}

#endif

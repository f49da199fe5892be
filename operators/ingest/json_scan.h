/*
 * json_scan.h — the byte-scanning primitives of the v4 JSON decoder
 * (decode_json.c), kept apart so that file holds only the grammar. All are
 * static inline: they are the decoder's inner loops.
 */
#ifndef WEFT_OP_JSON_SCAN_H
#define WEFT_OP_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The word tricks here and below read the first byte of a word as its low
 * byte (little-endian), as scan_digits always has.
 *
 * SWAR flags of the bytes of v that end a plain run (see scan_plain; high
 * bit per byte). A borrow can only flag a byte above a real hit, so the
 * lowest flagged byte is exact.
 */
static inline uint64_t
plain_stops(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
	return (((q - ones) & ~q) | ((b - ones) & ~b) |
	        ((v - ones * 0x20) & ~v) | v) & high;
}

/* The end of scan_plain, fewer than 16 bytes (SSE2) or 8 left: one word
 * when 8 bytes are there — the last string of a line ends within a few
 * bytes of its end — then one byte at a time. */
static inline const unsigned char *
scan_plain_tail(const unsigned char *p, const unsigned char *end)
{
	if (end - p >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		uint64_t t = plain_stops(v);
		if (t)
			return p + __builtin_ctzll(t) / 8;
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
		p++;
	return p;
}

/* dst[0..n) = src[0..n) for n < 16, in at most two (overlapping) moves
 * of a size: no call, no byte loop. */
static inline void
copy_short(unsigned char *dst, const unsigned char *src, size_t n)
{
	if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, src, 8);
		memcpy(&b, src + n - 8, 8);
		memcpy(dst, &a, 8);
		memcpy(dst + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, src, 4);
		memcpy(&b, src + n - 4, 4);
		memcpy(dst, &a, 4);
		memcpy(dst + n - 4, &b, 4);
	} else if (n > 0) {
		dst[0] = src[0];
		dst[n / 2] = src[n / 2];
		dst[n - 1] = src[n - 1];
	}
}

/*
 * First byte at or after p that ends a plain run inside a JSON string: '"',
 * '\\', a control character or a non-ASCII byte. On x86-64 sixteen bytes at
 * a time with SSE2 (part of the x86-64 baseline: a compare per class, one
 * movemask); elsewhere eight at a time with SWAR zero-byte tricks (a borrow
 * can only flag bytes above a real hit, so the lowest flagged byte is exact).
 * Runs in real reports are long (descriptions, class names), so this is the
 * decoder's inner loop.
 */
#if defined(__SSE2__)
#include <emmintrin.h>
/* Bit i set: byte i of v ends a plain run. */
static inline unsigned
plain_stops16(__m128i v)
{
	/* signed compare: bytes >= 0x80 are negative, so "v <= 0x1f"
	 * (not v > 0x1f) flags both control and non-ASCII bytes */
	__m128i hit = _mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	                 _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
	    _mm_andnot_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x1f)),
	                     _mm_set1_epi8(-1)));
	return (unsigned)_mm_movemask_epi8(hit);
}

static inline const unsigned char *
scan_plain(const unsigned char *p, const unsigned char *end)
{
	while (end - p >= 16) {
		unsigned m = plain_stops16(
		    _mm_loadu_si128((const __m128i *)(const void *)p));
		if (m)
			return p + __builtin_ctz(m);
		p += 16;
	}
	return scan_plain_tail(p, end);
}

/*
 * scan_plain that also copies what it passes to dst[0..room): a block is
 * loaded, stored to dst whole (bytes past the run included: dst is
 * scratch) and then tested, while a whole block of input is there and dst
 * has room for one. Within the last block of the input (a string at the
 * end of a line) the block that ends at end is tested instead — start,
 * the input's first byte, says whether there is one — and the run is
 * copied exactly. Returns the end of the run with *hit = 1 when it was
 * found so; else (*hit = 0) the first byte not scanned yet, for the caller
 * to go on from. Either way [p, return) has been copied to dst. This
 * saves a memcpy call per string, most of which are short.
 */
static inline const unsigned char *
scan_plain_copy(const unsigned char *p, const unsigned char *end,
                const unsigned char *start, unsigned char *dst, size_t room,
                int *hit)
{
	while (end - p >= 16 && room >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		_mm_storeu_si128((__m128i *)(void *)dst, v);
		unsigned m = plain_stops16(v);
		if (m) {
			*hit = 1;
			return p + __builtin_ctz(m);
		}
		p += 16;
		dst += 16;
		room -= 16;
	}
	if (end - p < 16 && end - start >= 16) {
		/* bit i of m: byte end - 16 + i; shifted to start at p */
		unsigned m = plain_stops16(_mm_loadu_si128(
		    (const __m128i *)(const void *)(end - 16))) >> (16 - (end - p));
		size_t n = m ? (size_t)__builtin_ctz(m) : 0;
		if (m && n <= room) {
			copy_short(dst, p, n);
			*hit = 1;
			return p + n;
		}
	}
	*hit = 0;
	return p;
}
#else
static inline const unsigned char *
scan_plain(const unsigned char *p, const unsigned char *end)
{
	while (end - p >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		uint64_t t = plain_stops(v);
		if (t)
			return p + __builtin_ctzll(t) / 8;
		p += 8;
	}
	return scan_plain_tail(p, end);
}

/* See the SSE2 version; here a block is a word. */
static inline const unsigned char *
scan_plain_copy(const unsigned char *p, const unsigned char *end,
                const unsigned char *start, unsigned char *dst, size_t room,
                int *hit)
{
	while (end - p >= 8 && room >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		memcpy(dst, &v, 8);
		uint64_t t = plain_stops(v);
		if (t) {
			*hit = 1;
			return p + __builtin_ctzll(t) / 8;
		}
		p += 8;
		dst += 8;
		room -= 8;
	}
	if (end - p > 0 && end - p < 8 && end - start >= 8) {
		/* The word that ends at end, shifted down so that p is its low
		 * byte: the bytes before p, which could flag a byte above them
		 * by a borrow, are gone; the zero bytes shifted in are flagged
		 * but lie past end. */
		uint64_t v;
		memcpy(&v, end - 8, 8);
		v >>= 8 * (8 - (end - p));
		size_t n = (size_t)__builtin_ctzll(plain_stops(v)) / 8;
		if (n < (size_t)(end - p) && n <= room) {
			copy_short(dst, p, n);
			*hit = 1;
			return p + n;
		}
	}
	*hit = 0;
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

static inline int
hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
	if (end - p < 4)
		return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Eight digit values (bytes 0..9, the first in the low byte) as a number:
 * pairs, quads and the two halves combined with three multiplies. */
static inline uint32_t
digits8(uint64_t w)
{
	w = (w * 10) + (w >> 8); /* pairs */
	w = (((w & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
	     (((w >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
	return (uint32_t)w;
}

/*
 * Decimal digits at q (below lim; lim <= end, the end of the input)
 * accumulated into *v; returns the first byte after them. The caller
 * bounds lim so that *v cannot overflow (19 digits for 64 bits).
 *
 * A word at a time while eight bytes of input are there (SWAR): a digit
 * test of every byte (0 for '0'..'9'; a carry of the +6 only reaches a
 * byte above one that fails, so the bytes below the first failing one are
 * tested exactly). A word of eight digits within lim goes through
 * digits8 whole; otherwise its k leading digits (k = the first failing
 * byte, at most lim - q) do, shifted up by the 8 - k bytes not taken so
 * that zero digits stand in front of them, and the scan ends there. That
 * replaces a per-digit tail loop whose exit mispredicts on ids and times
 * of varying length. Near the end of the input, one digit at a time.
 */
static inline const unsigned char *
scan_digits(const unsigned char *q, const unsigned char *lim,
            const unsigned char *end, uint64_t *v)
{
	static const uint32_t pow10[9] = { 1, 10, 100, 1000, 10000, 100000,
	                                   1000000, 10000000, 100000000 };
	uint64_t acc = *v;
	while (end - q >= 8) {
		uint64_t w, t;
		memcpy(&w, q, 8);
		/* per byte: 0 for a digit (the bytes below the first non-zero
		 * one are exact, see above) */
		t = ((w & 0xF0F0F0F0F0F0F0F0ull) |
		     (((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) ^
		    0x3333333333333333ull;
		if (!t && lim - q >= 8) {
			acc = acc * 100000000u + digits8(w - 0x3030303030303030ull);
			q += 8;
			continue;
		}
		size_t k = t ? (size_t)__builtin_ctzll(t) / 8 : 8;
		if (k > (size_t)(lim - q))
			k = (size_t)(lim - q);
		if (k > 0) {
			acc = acc * pow10[k] +
			      digits8((w - 0x3030303030303030ull) << (8 * (8 - k)));
			q += k;
		}
		*v = acc;
		return q;
	}
	for (unsigned dg; q < lim && (dg = *q - (unsigned)'0') <= 9u; q++)
		acc = acc * 10 + dg;
	*v = acc;
	return q;
}

/*
 * scan_digits for a number that starts at q, *v = 0, where 32 bytes from
 * q and 16 before it (from start, the input's first byte) are readable:
 * with SSE2, the digits are counted in one or two 16-byte compares and
 * converted in one vector step instead of a word step per 8 digits (the
 * word steps were a quarter of the JSON decoder's time: ids and times
 * have 13 to 19 digits). The k <= 16 digits (k capped at lim - q) are
 * read as the 16-byte block that ends after them, its 16 - k leading
 * bytes masked to zero digits; two multiply-add steps on pairs and one
 * on quads give two 8-digit halves. Past 16 digits, the first k - 16 (at
 * most 3, lim being at most 19 digits away) are added on in front, one
 * at a time. Returns what scan_digits returns, with the same *v.
 */
#if defined(__SSE2__)
/* Bit i set: byte i of block is a decimal digit. */
static inline unsigned
digit_bits16(__m128i block)
{
	__m128i d = _mm_sub_epi8(block, _mm_set1_epi8('0')), nine = _mm_set1_epi8(9);
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine));
}

/* The 16 digit values (0..9, the first the most significant) of d as a
 * number. */
static inline uint64_t
digits16(__m128i d)
{
	const __m128i z = _mm_setzero_si128();
	__m128i pairs = _mm_packs_epi32(
	    _mm_madd_epi16(_mm_unpacklo_epi8(d, z), _mm_set1_epi32(1 << 16 | 10)),
	    _mm_madd_epi16(_mm_unpackhi_epi8(d, z), _mm_set1_epi32(1 << 16 | 10)));
	__m128i quads = _mm_madd_epi16(pairs, _mm_set1_epi32(1 << 16 | 100));
	__m128i eights = _mm_madd_epi16(_mm_packs_epi32(quads, quads),
	                                _mm_set1_epi32(1 << 16 | 10000));
	uint64_t hi = (uint32_t)_mm_cvtsi128_si32(eights),
	         lo = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(eights, 4));
	return hi * 100000000u + lo;
}

static inline const unsigned char *
scan_digits_wide(const unsigned char *q, const unsigned char *lim,
                 const unsigned char *end, const unsigned char *start,
                 uint64_t *v)
{
	/* 0 for bytes 0..15, 0xFF for 16..31: loaded at k, 16 - k zeros */
	static const unsigned char tail[32] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		255, 255, 255, 255, 255, 255, 255, 255,
		255, 255, 255, 255, 255, 255, 255, 255,
	};
	if (end - q < 32 || q - start < 16)
		return scan_digits(q, lim, end, v);
	size_t k = (size_t)__builtin_ctz(~digit_bits16(
	    _mm_loadu_si128((const __m128i *)(const void *)q)));
	if (k == 16)
		k += (size_t)__builtin_ctz(~digit_bits16(
		    _mm_loadu_si128((const __m128i *)(const void *)(q + 16))));
	if (k > (size_t)(lim - q))
		k = (size_t)(lim - q);
	uint64_t acc = 0;
	const unsigned char *e = q + k;
	if (k > 16) /* the leading k - 16 digits: the block before the last
	             * 16, its first 32 - k bytes masked (>= start: k > 16) */
		acc = digits16(_mm_and_si128(
		    _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(e - 32)),
		                 _mm_set1_epi8('0')),
		    _mm_loadu_si128((const __m128i *)(const void *)(tail + k - 16))));
	if (k) {
		__m128i d = _mm_sub_epi8(
		    _mm_loadu_si128((const __m128i *)(const void *)(e - 16)),
		    _mm_set1_epi8('0'));
		if (k < 16)
			d = _mm_and_si128(d, _mm_loadu_si128(
			    (const __m128i *)(const void *)(tail + k)));
		acc = acc * 10000000000000000ull + digits16(d);
	}
	*v = acc;
	return e;
}
#else
static inline const unsigned char *
scan_digits_wide(const unsigned char *q, const unsigned char *lim,
                 const unsigned char *end, const unsigned char *start,
                 uint64_t *v)
{
	(void)start;
	return scan_digits(q, lim, end, v);
}
#endif

/*
 * Hex digits (either case) at q (below lim) accumulated into *v, like
 * scan_digits: eight at a time when eight hex digits are there, then one
 * at a time; returns the first byte after them. The word step replaces a
 * per-digit loop whose digit-or-letter branch mispredicts on every random
 * id. Per byte (all below 0x80, so no sum carries into the next byte):
 * '0'..'9' or, with the case bit forced, 'a'..'f'; a nibble is the low
 * four bits, plus 9 for a letter; bswap puts the first digit in the top
 * byte, three shift-or steps pack the nibbles. The caller bounds lim so
 * that *v cannot overflow (16 digits for 64 bits).
 */
static inline const unsigned char *
scan_hex(const unsigned char *q, const unsigned char *lim, uint64_t *v)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t acc = *v;
	while (lim - q >= 8) {
		uint64_t w, l, dig, alpha, x;
		memcpy(&w, q, 8);
		l = w | ones * 0x20;
		dig = (w + ones * (0x80 - '0')) & ~(w + ones * (0x80 - '9' - 1));
		alpha = (l + ones * (0x80 - 'a')) & ~(l + ones * (0x80 - 'f' - 1));
		if ((w & high) || ((dig | alpha) & high) != high)
			break;
		x = (w & ones * 0x0F) + ((alpha & high) >> 7) * 9;
		x = __builtin_bswap64(x);
		x = (x | x >> 4) & 0x00FF00FF00FF00FFull;
		x = (x | x >> 8) & 0x0000FFFF0000FFFFull;
		x = (x | x >> 16) & 0x00000000FFFFFFFFull;
		acc = acc << 32 | x;
		q += 8;
	}
	for (int h; q < lim && (h = hexval(*q)) >= 0; q++)
		acc = acc << 4 | (uint64_t)h;
	*v = acc;
	return q;
}

/* Unaligned loads of 8, 4 and 2 bytes. */
static inline uint64_t
load8(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t
load4(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint16_t
load2(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

/* The input a line or two past the line at p (avail bytes from p are
 * there), into L1, as a line's parse begins: the parse is a chain (each
 * field's first load waits for the field before it to be scanned), and
 * its loads found the input in L2 only, where the hardware's streaming
 * prefetch puts it. 6 cache lines per line cover the 336-byte reports of
 * the benchmark input and most real ones (bench/results/notes-profile.md:
 * +9 % ingest only). */
static inline void
prefetch_lines_ahead(const unsigned char *p, size_t avail)
{
	for (size_t o = 640; o < 640 + 6 * 64 && o < avail; o += 64)
		__builtin_prefetch(p + o);
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

/* ---- values in the shape producers write -------------------------------- */

/* The keys decode_json.c knows (op_jkeys and op_jtmpl store them). */
enum jkey {
	K_OTHER = 0, K_TASKID, K_EVENTID, K_PARENTS, K_TIMESTAMP, K_HRT,
	K_ENDHRT, K_HOST, K_AGENT, K_PID, K_PNAME, K_TID, K_TNAME, K_LABEL,
};

/*
 * The shape real producers write an id in: a quoted string of plain
 * digits (hex digits when hex, at most 16; else decimal, at most 19 or a
 * wide 20th that still fits), an optional '-' first (two's complement),
 * scanned and converted in one loop. Its value into *out and the byte
 * after its closing quote; NULL for anything else (more digits, a
 * prefix, a number token, an error), which decode_json.c's general path
 * decides. p, end and start by value: the callers keep them in registers.
 */
static inline const unsigned char *
id_plain(const unsigned char *p, const unsigned char *end,
         const unsigned char *start, int hex, uint64_t *out)
{
	if (p >= end || *p != '"')
		return NULL;
	const unsigned char *q = p + 1, *lim;
	int neg = q < end && *q == '-';
	q += neg;
	const unsigned char *d0 = q;
	uint64_t v = 0;
	if (hex) {
		lim = end - q > 16 ? q + 16 : end;
		q = scan_hex(q, lim, &v);
	} else {
		lim = end - q > 19 ? q + 19 : end;
		q = scan_digits_wide(q, lim, end, start, &v);
	}
	if (q > d0 && q < end && *q == '"' &&
	    (!neg || v <= (uint64_t)INT64_MAX + 1)) {
		*out = neg ? (uint64_t)0 - v : v;
		return q + 1;
	}
	return NULL;
}

/*
 * A plain integer token at p of at most 19 digits (no 64-bit overflow
 * possible; nanoseconds since 1970 have 19), converted while scanned, in
 * the int64 range (down to INT64_MIN), no leading zero: its value into
 * *out and the byte after it; NULL for anything else (fractions,
 * exponents, strings, null, errors, out of range).
 */
static inline const unsigned char *
int_plain(const unsigned char *p, const unsigned char *end,
          const unsigned char *start, int64_t *out)
{
	const unsigned char *q = p;
	int neg = q < end && *q == '-';
	q += neg;
	const unsigned char *d0 = q, *lim = end - q > 19 ? q + 19 : end;
	uint64_t uv = 0;
	q = scan_digits_wide(q, lim, end, start, &uv);
	if (q > d0 && (q == end || (*q != '.' && (*q | 0x20) != 'e' &&
	                            (unsigned)(*q - '0') > 9u)) &&
	    !(*d0 == '0' && q - d0 > 1) &&
	    uv <= (uint64_t)INT64_MAX + (unsigned)neg) {
		*out = (int64_t)(neg ? (uint64_t)0 - uv : uv);
		return q;
	}
	return NULL;
}

/* ---- key prediction ----------------------------------------------------- */

/*
 * The decoder's guess at the next line's keys (op_decoder.jkeys; used by
 * decode_json.c's jmember): per member position, the "Key": bytes (quotes
 * and colon included, no whitespace) of the key the last line had there
 * (len 0: none) and what the key is (its enum jkey). Real producers write
 * the same keys in the same order on every line.
 *
 * Positions: the first members of a line that are predicted (later ones
 * take the general path every time); a v4 report has about 15 members, so
 * 24 leave room for a few unknown keys. Pattern bytes: room for one
 * "Key": of up to 29 bytes of key (the longest known one, ParentEventID,
 * takes 16 with its quotes and colon); longer keys are not predicted.
 */
#define OP_JKEY_POSITIONS 24
#define OP_JKEY_PAT_BYTES 32

struct op_jkeys {
	uint8_t len[OP_JKEY_POSITIONS];
	uint8_t id[OP_JKEY_POSITIONS];
	/* len up to 16: 0x10000 | the bits of a 16-byte block past len;
	 * else 0 (see jkey_predicted) */
	uint32_t block[OP_JKEY_POSITIONS];
	unsigned char pat[OP_JKEY_POSITIONS][OP_JKEY_PAT_BYTES];
};

/* 1 when p[0..n) equals pat[0..n), 4 <= n <= 32, both readable to n:
 * two (or four) overlapping word compares, no memcmp call, as the keys
 * are short. */
static inline int
key_match(const unsigned char *p, const unsigned char *pat, size_t n)
{
	if (n > 16)
		return ((load8(p) ^ load8(pat)) | (load8(p + 8) ^ load8(pat + 8)) |
		        (load8(p + n - 16) ^ load8(pat + n - 16)) |
		        (load8(p + n - 8) ^ load8(pat + n - 8))) == 0;
	if (n >= 8)
		return ((load8(p) ^ load8(pat)) |
		        (load8(p + n - 8) ^ load8(pat + n - 8))) == 0;
	return ((load4(p) ^ load4(pat)) | (load4(p + n - 4) ^ load4(pat + n - 4))) == 0;
}

_Static_assert(OP_JKEY_PAT_BYTES >= 16 && OP_JKEY_PAT_BYTES <= 32,
               "a pattern holds a 16-byte block; key_match compares <= 32");

/* 1 when the avail bytes at p start with the key predicted at position
 * idx (< OP_JKEY_POSITIONS). A key of up to 16 bytes, with a block of
 * input there, takes one block compare: its mask, or-ed with block, is
 * 0x1FFFF on a match, which a block of 0 (no prediction) never gives. The
 * rest go through key_match. */
static inline int
jkey_predicted(const struct op_jkeys *t, unsigned idx, const unsigned char *p,
               size_t avail)
{
	size_t pn = t->len[idx];
#if defined(__SSE2__)
	if (avail >= 16 && pn <= 16)
		return ((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
		            _mm_loadu_si128((const __m128i *)(const void *)p),
		            _mm_loadu_si128((const __m128i *)(const void *)
		                            t->pat[idx]))) |
		        t->block[idx]) == 0x1FFFFu;
#endif
	return pn && avail >= pn && key_match(p, t->pat[idx], pn);
}

/* Predicts at position idx the pn bytes at kat ("Key":, pn 0: none), a
 * key whose enum jkey is id. Keys of no byte or too long for a pattern
 * are not predicted. */
static inline void
jkey_learn(struct op_jkeys *t, unsigned idx, const unsigned char *kat,
           size_t pn, uint8_t id)
{
	if (pn < 4 || pn > OP_JKEY_PAT_BYTES)
		pn = 0;
	memcpy(t->pat[idx], kat, pn);
	t->id[idx] = id;
	t->len[idx] = (uint8_t)pn;
	t->block[idx] = pn && pn <= 16 ? 0x10000u | ((0xFFFFu << pn) & 0xFFFFu) : 0;
}

/* ---- line templates ------------------------------------------------------ */

/*
 * The decoder's template of a whole line (op_decoder.jtmpl; decode_json.c
 * learns it, decode_json_line.c matches it): the members of the last line
 * the general path read, each as the bytes before its value ("{"Key": for
 * the first, ,"Key": after) and what the key is. A line that has those
 * bytes around values of the shapes producers write (quoted ids, integer
 * tokens, plain strings, an array of quoted ids) and ends "}" at once is
 * read by one straight pass that keeps its position in a register: no
 * whitespace, key or duplicate checks, which the template's own line
 * passed. Anything else goes the general way, which learns its line.
 */
#define OP_JT_MEMBERS 24
#define OP_JT_PRE OP_JKEY_PAT_BYTES

struct op_jtmpl {
	uint8_t n;               /* members; 0: none learned */
	uint8_t misses;          /* lines in a row it did not read */
	uint16_t rest;           /* lines left before it is tried again */
	/* per member: the bytes before its value (len 4..OP_JT_PRE) and,
	 * for len < 16, the bits of a 16-byte block compare past len (else
	 * 0: key_match compares); its key (enum jkey) */
	struct op_jt_member {
		uint8_t len, id;
		uint16_t past;
	} m[OP_JT_MEMBERS];
	unsigned char pre[OP_JT_MEMBERS][OP_JT_PRE];
};
/* After this many lines in a row that the template did not read (a
 * producer whose lines differ, or whose values take the general path),
 * it rests for OP_JT_REST lines: each miss costs a partial pass. */
#define OP_JT_MISSES 8
#define OP_JT_REST 1024

/* Where the general path found a line's members, for learning: the
 * offset of the bytes before each value (the line's start, then the end
 * of the value before), of the value, and the key's enum jkey. */
struct op_jtmpl_marks {
	uint32_t gap[OP_JT_MEMBERS], value[OP_JT_MEMBERS];
	uint8_t id[OP_JT_MEMBERS];
};

#endif

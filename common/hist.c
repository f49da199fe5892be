/*
 * hist.c — log-linear histogram: bucket = (exponent, 3 mantissa bits),
 * like DTrace's llquantize or HdrHistogram at low precision. Values below
 * 8 get exact buckets.
 */
#include <string.h>

#include "common/common.h"

static unsigned
bucket_of(uint64_t v)
{
	if (v < 8)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 3 */
	unsigned m = (unsigned)(v >> (e - 3)) & 7u;
	return (e - 2) * 8 + m;
}

static uint64_t
bucket_high(unsigned b)
{
	if (b < 8)
		return b;
	unsigned e = b / 8 + 2, m = b % 8;
	uint64_t base = 1ull << e, step = base >> 3;
	return base + step * (m + 1) - 1;
}

void
weft_hist_add(struct weft_hist *h, uint64_t v)
{
	unsigned b = bucket_of(v);
	if (b >= WEFT_HIST_BUCKETS)
		b = WEFT_HIST_BUCKETS - 1;
	h->bucket[b]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

void
weft_hist_merge(struct weft_hist *into, const struct weft_hist *from)
{
	for (unsigned i = 0; i < WEFT_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->n += from->n;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t
weft_hist_quantile(const struct weft_hist *h, double q)
{
	if (!h->n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)(h->n - 1)) + 1, seen = 0;
	for (unsigned i = 0; i < WEFT_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t hi = bucket_high(i);
			return hi < h->max ? hi : h->max;
		}
	}
	return h->max;
}

/*
 * grow.c — the one growth rule for arrays (weft_grow): at least what is
 * needed, at least double, at least a floor. Doubling keeps appends
 * amortised O(1); the floor avoids a run of tiny reallocations at start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* weft_grow under a ceiling of max_cap slots (need included): the new
 * count is max(need, 2 x cap, min_cap) cut to the ceiling and to what
 * SIZE_MAX bytes hold, so it never wraps and never exceeds what the
 * capacity's type can record. */
static int
grow_to(void **arr, size_t *cap, size_t need, size_t elem, size_t min_cap,
        size_t max_cap)
{
	if (need <= *cap)
		return 0;
	size_t lim = elem ? SIZE_MAX / elem : SIZE_MAX;
	if (lim > max_cap)
		lim = max_cap;
	if (need > lim)
		return WEFT_ENOMEM;
	size_t c = *cap > lim / 2 ? lim : *cap * 2;
	if (c < need)
		c = need;
	if (c < min_cap)
		c = min_cap;
	if (c > lim)
		c = lim;
	void *p = realloc(*arr, elem ? c * elem : 1);
	if (!p)
		return WEFT_ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

int
weft_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t min_cap)
{
	return grow_to(arr, cap, need, elem, min_cap, SIZE_MAX);
}

int
weft_grow_typed(void **arr, void *cap, size_t elem, size_t need,
                size_t min_cap, size_t cap_size)
{
	if (cap_size == sizeof(uint32_t)) {
		uint32_t v;
		memcpy(&v, cap, sizeof v);
		size_t c = v;
		int rc = grow_to(arr, &c, need, elem, min_cap, UINT32_MAX);
		v = (uint32_t)c; /* grow_to kept c <= UINT32_MAX */
		memcpy(cap, &v, sizeof v);
		return rc;
	}
	if (cap_size != sizeof(size_t))
		return WEFT_EINVAL; /* WEFT_GROW refuses such a capacity at compile time */
	size_t c;
	memcpy(&c, cap, sizeof c);
	int rc = grow_to(arr, &c, need, elem, min_cap, SIZE_MAX);
	memcpy(cap, &c, sizeof c);
	return rc;
}

/*
 * grow.c — the one growth rule for arrays (weft_grow): at least what is
 * needed, at least double, at least a floor. Doubling keeps appends
 * amortised O(1); the floor avoids a run of tiny reallocations at start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

int
weft_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t min_cap)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap > SIZE_MAX / 2 ? need : *cap * 2;
	if (c < need)
		c = need;
	if (c < min_cap)
		c = min_cap;
	if (elem && c > SIZE_MAX / elem)
		return WEFT_ENOMEM;
	void *p = realloc(*arr, c * elem);
	if (!p)
		return WEFT_ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

int
weft_grow_typed(void **arr, void *cap, size_t elem, size_t need,
                size_t min_cap, size_t cap_size)
{
	size_t c;
	if (cap_size == sizeof(uint32_t)) {
		uint32_t v;
		memcpy(&v, cap, sizeof v);
		c = v;
		if (need > UINT32_MAX)
			return WEFT_ENOMEM;
		if (min_cap > UINT32_MAX)
			min_cap = UINT32_MAX;
	} else {
		memcpy(&c, cap, sizeof c);
	}
	size_t was = c;
	int rc = weft_grow(arr, &c, need, elem, min_cap);
	if (rc || c == was)
		return rc;
	if (cap_size == sizeof(uint32_t)) {
		uint32_t v = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
		memcpy(cap, &v, sizeof v);
	} else {
		memcpy(cap, &c, sizeof c);
	}
	return 0;
}

unsigned
weft_workers_for(unsigned workers)
{
	if (workers)
		return workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

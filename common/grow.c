/*
 * grow.c — the one growth rule for arrays (weft_grow): at least what is
 * needed, at least double, at least a floor. Doubling keeps appends
 * amortised O(1); the floor avoids a run of tiny reallocations at start.
 * Also the defaults that follow the machine: its cores, the worker count,
 * and whether a helper thread runs beside the workers.
 */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The CPUs this process may run on: its affinity mask, as nproc counts
 * them. A container's cpuset or `taskset -c 0` leaves fewer than are
 * online, and the helpers (auto: two cores per worker) and the default
 * worker count must see those, not the machine's. Online CPUs only when
 * the mask cannot be read (more than CPU_SETSIZE of them). */
unsigned
weft_cores(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return (unsigned)n;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

unsigned
weft_workers_for(unsigned workers)
{
	return workers ? workers : weft_cores();
}

const char *const weft_helper_names[] = {"auto", "on", "off", NULL};

int
weft_helper_wanted(int h, unsigned workers, unsigned cores)
{
	if (h == WEFT_HELPER_ON)
		return 1;
	if (h == WEFT_HELPER_OFF)
		return 0;
	return (uint64_t)workers * 2 <= cores;
}

/*
 * common.h — weft's leaf layer: what every part shares and nothing more.
 *
 *   - error codes (WEFT_E*), weft_strerror() and the errstr/errlen
 *     convention (weft_errf());
 *   - the CPUs a process has (weft_cores()), the default worker count and
 *     the helper-thread policy that follow them;
 *   - one growth rule for arrays (weft_grow());
 *   - files written in huge-page blocks for a reader to map
 *     (weft_write_in_blocks());
 *   - a growable text buffer (weft_buf) and a log-linear histogram
 *     (weft_hist).
 *
 * This layer includes nothing of weft and links only libc: bloom/,
 * cluster/, the decoders and the engine sit on it, never the other way
 * round (tests/layering.py checks it).
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes shared by every part of weft ------------------------- */
enum {
	WEFT_OK = 0,
	WEFT_EINVAL = -1,    /* invalid argument or configuration */
	WEFT_ENOMEM = -2,    /* allocation failed */
	WEFT_EIO = -3,       /* I/O error (errno has details) */
	WEFT_ELIMIT = -4,    /* a configured limit was hit */
	WEFT_EFORMAT = -5,   /* malformed input */
	WEFT_ESTATE = -6,    /* call not valid in the current state */
	WEFT_ENOTFOUND = -7, /* no such thing */
	WEFT_ETHREAD = -8,   /* thread creation failed */
	WEFT_ECORRUPT = -9,  /* checksum / version mismatch */
	WEFT_EKAFKA = -10,   /* Kafka client error */
};

/* Static string naming a WEFT_E* code; never NULL, never to be freed. */
const char *weft_strerror(int err);

/* Formats a message into errstr (errlen bytes; nothing when errstr is NULL
 * or errlen 0): the errstr/errlen convention of every part of weft. */
void weft_errf(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- defaults ----------------------------------------------------------- */
/* The number of CPUs this process has (cores.c): those its affinity mask
 * allows, capped by its cgroup's CPU quota (at least 1). */
unsigned weft_cores(void);
/* The CPU quota, in whole CPUs rounded up, of the cgroup named in the
 * /proc/self/cgroup-style file `cgroup` and its parents, found through
 * the /proc/self/mountinfo-style file `mountinfo` (cgroup v2 cpu.max, v1
 * cpu.cfs_quota_us / cpu.cfs_period_us; the smallest wins); 0 when none
 * is set or the files cannot be read. */
unsigned weft_cgroup_cpus(const char *mountinfo, const char *cgroup);
/* workers when non-zero, else weft_cores(). */
unsigned weft_workers_for(unsigned workers);
/* When a helper thread runs beside the workers (the file source's read
 * ahead, the slab reserve, the finish helper): auto, when there are two
 * cores per worker, so that it has a core of its own; on; off. */
enum weft_helper {
	WEFT_HELPER_AUTO = 0, WEFT_HELPER_ON, WEFT_HELPER_OFF,
};
/* Whether a helper runs under policy h (enum weft_helper) when there are
 * `workers` workers on `cores` cores. */
int weft_helper_wanted(int h, unsigned workers, unsigned cores);
/* The policies' names for option tables, in the enum's order (NULL-ended). */
extern const char *const weft_helper_names[];

/* ---- growing arrays ----------------------------------------------------- */
/*
 * Makes *arr (an array of elem-byte items with *cap slots) hold at least
 * need items: when need <= *cap nothing happens (0); else *arr is
 * reallocated to the larger of need, twice *cap and min_cap slots (cut to
 * the most that SIZE_MAX bytes hold) and *cap set to that. On failure
 * *arr and *cap are unchanged and WEFT_ENOMEM is returned (also when need
 * items would overflow size_t). The caller owns *arr and frees it with
 * free(). Call it where the array is full, not per item on a hot path.
 */
int weft_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t min_cap);
/* The same for a typed pointer p whose capacity cap is a size_t (or an
 * integer of its size) or a 32-bit unsigned integer; any other size does
 * not compile. A 32-bit capacity never grows past UINT32_MAX slots: a
 * need beyond that is WEFT_ENOMEM, nothing changed. */
#define WEFT_GROW(p, cap, need, min_cap)                                      \
	weft_grow_typed((void **)&(p), &(cap), sizeof *(p), (size_t)(need),     \
	                (size_t)(min_cap),                                      \
	                sizeof(cap) + 0 * sizeof(char[sizeof(cap) == 4 ||         \
	                                               sizeof(cap) == sizeof(size_t) \
	                                               ? 1 : -1]))
int weft_grow_typed(void **arr, void *cap, size_t elem, size_t need,
                    size_t min_cap, size_t cap_size);

/* ---- ordering ------------------------------------------------------------ */
/* qsort/bsearch comparator of uint64_t values, increasing. */
static inline int
weft_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- protobuf varints ---------------------------------------------------- */
/* v as a protobuf varint at p (room for 10 bytes); its length. */
static inline size_t
weft_varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;
	for (; v >= 0x80; v >>= 7)
		p[n++] = (unsigned char)(v | 0x80);
	p[n++] = (unsigned char)v;
	return n;
}

/* ---- growable text buffer (buf.c) -------------------------------------- */
/* Starts empty ({0}); the owner frees p with free(). */
struct weft_buf {
	char *p;
	size_t len, cap;
};
/* Appends formatted text / a JSON string literal (quoted, escaped).
 * 0 or WEFT_ENOMEM. */
int weft_buf_printf(struct weft_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int weft_buf_str(struct weft_buf *b, const char *s);

/* ---- files a reader will map (fout.c) ---------------------------------- */
#define WEFT_WRITE_BLOCK (2u << 20) /* a huge page */
/*
 * Makes the stdio stream f, opened for writing at offset 0 and not yet
 * written, write whole WEFT_WRITE_BLOCK blocks at block offsets (every
 * write but the last, and the one before a fflush): a page cache with
 * large folios then holds the file in huge pages, which a reader maps at
 * a fraction of the cost. Returns the stream's buffer, to free() after
 * fclose(f); NULL, f unchanged, when there is no memory for it.
 */
void *weft_write_in_blocks(FILE *f);

/* ---- log-linear histogram (hist.c) ------------------------------------- */
/*
 * Values (ns, bytes, ...) in log-linear buckets: 8 per power of two, so a
 * quantile is within 12.5 % of the truth. Plain counters: one per thread,
 * merged by the owner.
 */
#define WEFT_HIST_BUCKETS (64 * 8)
struct weft_hist {
	uint64_t n, max;
	uint64_t bucket[WEFT_HIST_BUCKETS];
};
void weft_hist_add(struct weft_hist *h, uint64_t v);
void weft_hist_merge(struct weft_hist *into, const struct weft_hist *from);
/* Upper bound of the bucket holding the q-quantile (0 when empty). */
uint64_t weft_hist_quantile(const struct weft_hist *h, double q);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_COMMON_H */

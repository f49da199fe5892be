/*
 * sim_util.c — small shared helpers: growable buffers, a seeded PRNG and
 * number parsers.
 *
 * The PRNG is xoshiro256** seeded through splitmix64: fast, good enough for
 * workload shapes, and identical on every platform, which is what makes
 * `--seed` reproducible (libc rand() is neither portable nor fast).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sim_internal.h"

int
sim_grow(void **arr, size_t *cap, size_t need, size_t elt)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * elt);
	if (!p)
		return WEFT_ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

int
sim_buf_reserve(struct sim_buf *b, size_t more)
{
	return sim_grow((void **)&b->p, &b->cap, b->len + more, 1);
}

int
sim_buf_append(struct sim_buf *b, const void *s, size_t n)
{
	int rc = sim_buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

int
sim_buf_addstr(struct sim_buf *b, const char *s, size_t n, uint32_t *off)
{
	if (b->len + n + 1 > UINT32_MAX)
		return WEFT_ELIMIT;
	int rc = sim_buf_reserve(b, n + 1);
	if (rc)
		return rc;
	*off = (uint32_t)b->len;
	memcpy(b->p + b->len, s, n);
	b->p[b->len + n] = '\0';
	b->len += n + 1;
	return 0;
}

void
sim_buf_free(struct sim_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- xoshiro256** ----------------------------------------------------- */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
sim_rng_seed(struct sim_rng *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
sim_rng_next(struct sim_rng *g)
{
	uint64_t *s = g->s;
	uint64_t r = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

uint64_t
sim_rng_below(struct sim_rng *g, uint64_t n)
{
	/* Lemire's multiply-shift; the tiny bias is irrelevant here. */
	return (uint64_t)(((unsigned __int128)sim_rng_next(g) * n) >> 64);
}

double
sim_rng_unit(struct sim_rng *g)
{
	return (double)(sim_rng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- parsers ---------------------------------------------------------- */
int
sim_parse_hex64(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 16)
		return WEFT_EFORMAT;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return WEFT_EFORMAT;
		v = (v << 4) | d;
	}
	*out = v;
	return 0;
}

int
sim_parse_i64(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n || n - i > 19)
		return WEFT_EFORMAT;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return WEFT_EFORMAT;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
		return WEFT_EFORMAT;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
sim_parse_datetime_ms(const char *s, size_t n, int64_t *out)
{
	int64_t f[6];
	static const size_t pos[6] = {0, 5, 8, 11, 14, 17};
	static const size_t len[6] = {4, 2, 2, 2, 2, 2};
	if (n < 19)
		return WEFT_EFORMAT;
	for (int i = 0; i < 6; i++)
		if (sim_parse_i64(s + pos[i], len[i], &f[i]) || f[i] < 0)
			return WEFT_EFORMAT;
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31)
		return WEFT_EFORMAT;
	int64_t days = days_from_civil(f[0], (unsigned)f[1], (unsigned)f[2]);
	*out = ((days * 24 + f[3]) * 60 + f[4]) * 60000 + f[5] * 1000;
	return 0;
}

FILE *
sim_out_open(const char *path, void **vbuf)
{
	*vbuf = NULL;
	if (!path || !strcmp(path, "-"))
		return stdout;
	FILE *f = fopen(path, "w");
	if (f)
		*vbuf = weft_write_in_blocks(f);
	return f;
}

int
sim_out_close(FILE *f, void *vbuf, int rc)
{
	if (f == stdout ? fflush(f) : fclose(f))
		rc = rc ? rc : WEFT_EIO;
	free(vbuf);
	return rc;
}

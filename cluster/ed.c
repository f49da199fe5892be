/*
 * ed.c — Levenshtein distance between canonical symbol strings (cluster.h):
 * bit-parallel with a cutoff, a plain DP reference, and an alignment.
 *
 * Strings are arrays of 64-bit label symbols, not bytes, so the usual
 * 256-entry Peq table does not apply: a pattern keeps one row of Peq words
 * per DISTINCT symbol (a trace uses tens to a few hundred labels) and a
 * small open-addressing map symbol -> row. Row 0 is all zeros and stands
 * for every text symbol the pattern does not contain. A pattern is built
 * once and compared with many texts (a template against every trace).
 *
 * Algorithm: Myers 1999 (bit-vector DP), in Hyyro's multi-word block form
 * for patterns longer than 64, with Ukkonen's cutoff in the block-band form
 * of edlib (Sosic & Sikic 2017). Notation: pattern a (rows i = 1..m), text
 * b (columns j = 1..n), D(i,j) the distance of a[1..i] and b[1..j],
 * Delta = m - n, k the cutoff. Block q holds rows t = 64q+1 .. r =
 * min(64q+64, m) as vertical deltas (P: +1, M: -1) and its score, the
 * value D(r, j) of its last row. Only the blocks first..last (the band)
 * are computed in a column; rows above the band feed the first block a
 * horizontal delta of +1, a block entering the band at the bottom starts
 * from vertical deltas of +1. Both are UPPER bounds of the true values, and
 * so every computed value is an upper bound that equals the true value on
 * any optimal path lying inside the band.
 *
 * Three quantities never decrease along an alignment path and end at the
 * distance D(m,n): D itself, f = D + (m-i) - (n-j) and g = D + (n-j) -
 * (m-i) (a diagonal step keeps the offsets, a right step adds 2 to f, a
 * down step adds 2 to g). In a block, D(i,j) >= score - (r - i), which
 * gives per-block lower bounds of D, f and g over the block's cells:
 *     Dlb = s - (r - t),  flb = s - r + Delta + j,  glb = s - r + 2t - j - Delta.
 * After each column:
 *   - the band grows downward while a path of cost <= k can leave its
 *     last block through the block's last row r: D(r,j) <= k + 1 and
 *     g(r,j) <= k (a down step from (r,j), or a diagonal one from
 *     (r,j-1), whose D and g bound those of (r,j) to within 1 and 0);
 *     never past the static diagonal band |i-j| + |Delta-(i-j)| <= k.
 *     A new block starts from vertical deltas of +1 under the last one;
 *   - k shrinks to s + max(n-j, m-r) of the last block when that is
 *     smaller (a path through a computed cell, then straight to the end):
 *     only possible in the last k columns, where it narrows a near pair's
 *     band;
 *   - blocks leave at the bottom while Dlb > k or glb > k, and at the top
 *     while Dlb > k or flb > k (no path with cost <= k can come back: g
 *     and f only grow, and one that crosses the column elsewhere has to
 *     cross a dropped block). Block 0 stays while row 0 itself can still
 *     be on such a path (f(0,j) = 2j + Delta <= k);
 *   - an empty band ends the computation: the distance exceeds k.
 * With these rules an optimal path of cost <= k stays inside the band, so
 * the result is exact whenever it is <= max_d; otherwise max_d + 1 is
 * returned. Pairs with |m - n| > k never start. Cost: O(n * band / 64)
 * words, and a far pair stops as soon as its band dies, typically after a
 * fraction of the text; a near pair runs to the end over the k + 1
 * diagonals of its band, k/64 + 1 to 2 blocks a column. The map probe is
 * done column by column, so an early stop skips it too. The tests hold
 * all of this to the plain DP on many thousands of pairs, cutoffs at,
 * under and over the distance included.
 *
 * The last block of a pattern whose length is not a multiple of 64 reads
 * its horizontal delta and score at row m (bit (m-1) & 63); the rows below
 * m in that word have no matches and are never read.
 *
 * Reference and alignment: cluster_ed_dp() is the two-row DP, used by the
 * tests. cluster_ed_align() is the full DP matrix with a traceback, for
 * explanations, bounded by the caller's max_cells.
 *
 * Ownership: a pattern owns its map and Peq; a scratch owns the band's
 * block state and a pattern buffer for cluster_ed(). Both grow and never
 * shrink. A scratch belongs to one thread; a built pattern is read only and
 * may be shared by any number of threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "common/common.h"

/* Map slot: key -> Peq row; row 0 marks an empty slot. */
struct ed_slot {
	uint64_t key;
	uint32_t row;
};

struct cluster_ed_pattern {
	uint32_t n;       /* pattern length (rows) */
	uint32_t nblocks; /* ceil(n / 64) */
	uint32_t nsym;    /* distinct symbols; Peq rows 1..nsym */
	uint32_t shift;   /* 64 - log2(map size) */
	uint32_t mask;    /* map size - 1; size a power of two, load <= 1/2 */
	struct ed_slot *map;
	uint64_t *peq;    /* [(nsym + 1) * nblocks], row-major; row 0 zero */
	size_t peq_cap;   /* words allocated */
};

/* Band state of one block in the current column. */
struct ed_block {
	uint64_t p, m; /* vertical deltas +1 / -1, bit 0 = the block's top row */
	int64_t score; /* D(r, j), r the block's last row */
};

struct cluster_ed_scratch {
	struct ed_block *blk;
	uint32_t cap; /* blocks */
	struct cluster_ed_pattern pat; /* cluster_ed()'s pattern, rebuilt */
};

#define ED_MUL 0x9e3779b97f4a7c15ULL

/* ---- pattern ----------------------------------------------------------- */
static inline uint32_t
pat_row(const struct cluster_ed_pattern *p, uint64_t key)
{
	uint32_t h = (uint32_t)((key * ED_MUL) >> p->shift);
	for (;;) {
		const struct ed_slot *s = &p->map[h];
		if (s->row == 0 || s->key == key)
			return s->row;
		h = (h + 1) & p->mask;
	}
}

/* Sets the map to 2^bits empty slots, reusing its memory when large enough
 * (a map's size is never below 2^4). */
static int
pat_map_reset(struct cluster_ed_pattern *p, unsigned bits, int keep)
{
	size_t size = (size_t)1 << bits;
	if (!keep || !p->map || size > (size_t)p->mask + 1) {
		struct ed_slot *m = calloc(size, sizeof(*m));
		if (!m)
			return WEFT_ENOMEM;
		free(p->map);
		p->map = m;
	} else {
		size = (size_t)p->mask + 1;
		memset(p->map, 0, size * sizeof(*p->map));
		for (bits = 0; ((size_t)1 << bits) < size; bits++)
			;
	}
	p->mask = (uint32_t)(size - 1);
	p->shift = 64 - bits;
	return 0;
}

/* Doubles the map, re-inserting every key. */
static int
pat_map_grow(struct cluster_ed_pattern *p)
{
	struct ed_slot *old = p->map;
	size_t osize = (size_t)p->mask + 1;
	unsigned bits = 64 - p->shift + 1;
	p->map = NULL;
	if (pat_map_reset(p, bits, 0)) {
		p->map = old;
		return WEFT_ENOMEM;
	}
	for (size_t i = 0; i < osize; i++) {
		if (!old[i].row)
			continue;
		uint32_t h = (uint32_t)((old[i].key * ED_MUL) >> p->shift);
		while (p->map[h].row)
			h = (h + 1) & p->mask;
		p->map[h] = old[i];
	}
	free(old);
	return 0;
}

/* (Re)builds p for sym[0..n), reusing p's memory where it is large
 * enough. On failure p keeps valid (freeable) memory but no content. */
static int
pat_build(struct cluster_ed_pattern *p, const uint64_t *sym, uint32_t n)
{
	p->n = 0;
	p->nblocks = 0;
	p->nsym = 0;
	if (pat_map_reset(p, 4, 1))
		return WEFT_ENOMEM;
	/* pass 1: rows for distinct symbols */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t h = (uint32_t)((sym[i] * ED_MUL) >> p->shift);
		while (p->map[h].row && p->map[h].key != sym[i])
			h = (h + 1) & p->mask;
		if (p->map[h].row)
			continue;
		p->map[h].key = sym[i];
		p->map[h].row = ++p->nsym;
		if (2 * (size_t)p->nsym > (size_t)p->mask + 1 && pat_map_grow(p))
			return WEFT_ENOMEM;
	}
	/* pass 2: Peq */
	uint32_t nb = (n + 63) / 64;
	size_t words = ((size_t)p->nsym + 1) * nb;
	if (words > p->peq_cap) {
		uint64_t *q = malloc(words * sizeof(uint64_t));
		if (!q)
			return WEFT_ENOMEM;
		free(p->peq);
		p->peq = q;
		p->peq_cap = words;
	}
	if (words)
		memset(p->peq, 0, words * sizeof(uint64_t));
	for (uint32_t i = 0; i < n; i++)
		p->peq[(size_t)pat_row(p, sym[i]) * nb + i / 64] |= 1ULL << (i % 64);
	p->n = n;
	p->nblocks = nb;
	return 0;
}

struct cluster_ed_pattern *
cluster_ed_pattern_new(const uint64_t *sym, uint32_t n)
{
	if (!sym && n)
		return NULL;
	struct cluster_ed_pattern *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (pat_build(p, sym, n)) {
		cluster_ed_pattern_free(p);
		return NULL;
	}
	return p;
}

void
cluster_ed_pattern_free(struct cluster_ed_pattern *p)
{
	if (!p)
		return;
	free(p->map);
	free(p->peq);
	free(p);
}

uint32_t
cluster_ed_pattern_len(const struct cluster_ed_pattern *p)
{
	return p->n;
}

/* ---- scratch ----------------------------------------------------------- */
struct cluster_ed_scratch *
cluster_ed_scratch_new(void)
{
	return calloc(1, sizeof(struct cluster_ed_scratch));
}

void
cluster_ed_scratch_free(struct cluster_ed_scratch *s)
{
	if (!s)
		return;
	free(s->blk);
	free(s->pat.map);
	free(s->pat.peq);
	free(s);
}

int
cluster_ed_scratch_reserve(struct cluster_ed_scratch *s, uint32_t max_len)
{
	uint32_t nb = max_len / 64 + 1;
	if (nb <= s->cap)
		return 0;
	nb += nb / 2;
	struct ed_block *b = malloc((size_t)nb * sizeof(*b));
	if (!b)
		return WEFT_ENOMEM;
	free(s->blk);
	s->blk = b;
	s->cap = nb;
	return 0;
}

/* ---- bit-parallel distance --------------------------------------------- */
/*
 * One column of one block (Hyyro 2003, as in edlib). (*hp, *hn) is the
 * horizontal delta entering the block's top row from above (+1: 1,0;
 * 0: 0,0; -1: 0,1); on return, the one leaving row `bit` (63, or the
 * pattern's last row in its last block), which feeds the next block.
 */
static inline void
ed_step(struct ed_block *b, uint64_t eq, uint64_t *hp, uint64_t *hn,
        unsigned bit)
{
	uint64_t pv = b->p, mv = b->m;
	uint64_t xv = eq | mv;
	eq |= *hn;
	uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
	uint64_t ph = mv | ~(xh | pv);
	uint64_t mh = pv & xh;
	uint64_t op = (ph >> bit) & 1, om = (mh >> bit) & 1;
	ph = (ph << 1) | *hp;
	mh = (mh << 1) | *hn;
	b->p = mh | ~(xv | ph);
	b->m = ph & xv;
	b->score += (int64_t)op - (int64_t)om;
	*hp = op;
	*hn = om;
}

/*
 * The band rules (see the top of the file) as thresholds on the score s
 * of the band's last or first block q at column j. With t = 64q + 1 its
 * first row and r its last:
 *   bottom drop (Dlb > k or glb > k):  s > min(k + r - t, k + r - 2t + Delta + j)
 *   may leave through row r:          s <= min(k + 1, k + Delta - r + j)
 *   top drop (Dlb > k or flb > k):     s > min(k + r - t, k + r - Delta - j)
 * The constants change only with the block or with k, a few times per
 * pair, while the tests run every column: they are kept in an ed_edge.
 */
struct ed_edge {
	int64_t r;           /* the block's last row */
	int64_t drop, dropj; /* drop: s > min(drop, dropj +/- j) */
	int64_t leave, leavej; /* bottom only: s <= min(leave, leavej + j) */
};

static inline int64_t
blk_last_row(int64_t m, int64_t q)
{
	return 64 * q + 64 < m ? 64 * q + 64 : m;
}

static inline int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static inline struct ed_edge
edge_bottom(int64_t q, int64_t m, int64_t delta, int64_t k)
{
	int64_t t = 64 * q + 1, r = blk_last_row(m, q);
	return (struct ed_edge){r, k + r - t, k + r - 2 * t + delta, k + 1,
	                        k + delta - r};
}

static inline struct ed_edge
edge_top(int64_t q, int64_t m, int64_t delta, int64_t k)
{
	int64_t t = 64 * q + 1, r = blk_last_row(m, q);
	return (struct ed_edge){r, k + r - t, k + r - delta, 0, 0};
}

uint32_t
cluster_ed_dist(const struct cluster_ed_pattern *p, const uint64_t *text,
                uint32_t nt, uint32_t max_d, struct cluster_ed_scratch *s)
{
	uint32_t big = p->n > nt ? p->n : nt;
	if (p->n == 0 || nt == 0)
		return big <= max_d ? big : max_d + 1;
	const int64_t m = p->n, n = nt, delta = m - n;
	int64_t k = max_d < big ? max_d : big;
	if (delta > k || -delta > k)
		return max_d + 1;
	const uint32_t nb = p->nblocks;
	if (nb > s->cap && cluster_ed_scratch_reserve(s, p->n))
		return CLUSTER_ED_NOMEM;
	struct ed_block *bl = s->blk;
	const uint64_t *peq = p->peq;
	const unsigned last_bit = (unsigned)((m - 1) % 64);
	const int64_t qend = nb - 1, adk = delta < 0 ? -delta : delta;
	/* Column 0: D(i,0) = i; rows with g = 2i - Delta <= k, at least block 0. */
	int64_t first = 0, last, r0 = (k + delta) / 2;
	r0 = r0 < m ? r0 : m;
	last = r0 >= 1 ? (r0 - 1) / 64 : 0;
	for (int64_t q = 0; q <= last; q++)
		bl[q] = (struct ed_block){~0ULL, 0, blk_last_row(m, q)};
	struct ed_edge lo = edge_bottom(last, m, delta, k);
	struct ed_edge up = edge_top(first, m, delta, k);
	for (int64_t j = 1; j <= n; j++) {
		const uint64_t *eq = peq + (size_t)pat_row(p, text[j - 1]) * nb;
		uint64_t hp = 1, hn = 0;
		int64_t q = first, qf = last < qend ? last : qend - 1;
		for (; q <= qf; q++)
			ed_step(&bl[q], eq[q], &hp, &hn, 63);
		if (q == qend && q <= last)
			ed_step(&bl[q], eq[q], &hp, &hn, last_bit);
		/* grow downward, within the static diagonal band */
		while (last < qend &&
		    bl[last].score <= min64(lo.leave, lo.leavej + j)) {
			int64_t hi = j + (delta > 0 ? delta : 0) + (k - adk) / 2;
			if (64 * (last + 1) >= hi)
				break; /* the next block's first row is past it */
			q = ++last;
			bl[q] = (struct ed_block){~0ULL, 0, bl[q - 1].score -
			    ((int64_t)hp - (int64_t)hn) + blk_last_row(m, q) - 64 * q};
			ed_step(&bl[q], eq[q], &hp, &hn, q == qend ? last_bit : 63);
			lo = edge_bottom(last, m, delta, k);
		}
		/* A path through the last block's last row r bounds the
		 * distance by its score + max(n - j, m - r): only below k in
		 * the last k columns, where it narrows a near pair's band. */
		if (n - j < k) {
			int64_t b = bl[last].score +
			    (n - j > m - lo.r ? n - j : m - lo.r);
			if (b < k) {
				k = b;
				lo = edge_bottom(last, m, delta, k);
				up = edge_top(first, m, delta, k);
			}
		}
		while (bl[last].score > min64(lo.drop, lo.dropj + j)) {
			if (last == 0 && 2 * j + delta <= k)
				break; /* row 0 can still be on a path */
			if (--last < first)
				return max_d + 1;
			lo = edge_bottom(last, m, delta, k);
		}
		while (bl[first].score > min64(up.drop, up.dropj - j)) {
			if (++first > last)
				return max_d + 1;
			up = edge_top(first, m, delta, k);
		}
	}
	if (last != qend || bl[last].score > (int64_t)max_d)
		return max_d + 1;
	return (uint32_t)bl[last].score;
}

uint32_t
cluster_ed(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb,
           uint32_t max_d, struct cluster_ed_scratch *s)
{
	/* The longer string is the pattern: fewer columns to walk. */
	if (na < nb) {
		const uint64_t *t = a;
		a = b;
		b = t;
		uint32_t tn = na;
		na = nb;
		nb = tn;
	}
	if (nb == 0)
		return na <= max_d ? na : max_d + 1;
	uint32_t d = na - nb;
	if (d > max_d)
		return max_d + 1;
	if (pat_build(&s->pat, a, na))
		return CLUSTER_ED_NOMEM;
	return cluster_ed_dist(&s->pat, b, nb, max_d, s);
}

/* ---- references -------------------------------------------------------- */
uint32_t
cluster_ed_dp(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
	if (na == 0 || nb == 0)
		return na > nb ? na : nb;
	uint32_t *row = malloc(((size_t)nb + 1) * sizeof(uint32_t));
	if (!row)
		return CLUSTER_ED_NOMEM;
	for (uint32_t j = 0; j <= nb; j++)
		row[j] = j;
	for (uint32_t i = 1; i <= na; i++) {
		uint32_t diag = row[0]; /* D(i-1, j-1) */
		row[0] = i;
		for (uint32_t j = 1; j <= nb; j++) {
			uint32_t up = row[j];
			uint32_t v = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
		}
	}
	uint32_t d = row[nb];
	free(row);
	return d;
}

int
cluster_ed_align(const uint64_t *a, uint32_t na, const uint64_t *b,
                 uint32_t nb, uint32_t max_cells, struct cluster_edit **ops,
                 uint32_t *n_ops)
{
	if (!ops || !n_ops)
		return WEFT_EINVAL;
	*ops = NULL;
	*n_ops = 0;
	if ((!a && na) || (!b && nb))
		return WEFT_EINVAL;
	if ((uint64_t)na * nb > max_cells)
		return WEFT_ELIMIT;
	if (na == 0 && nb == 0)
		return 0;
	size_t w = (size_t)nb + 1;
	uint32_t *D = malloc(((size_t)na + 1) * w * sizeof(uint32_t));
	struct cluster_edit *e = malloc(((size_t)na + nb) * sizeof(*e));
	if (!D || !e) {
		free(D);
		free(e);
		return WEFT_ENOMEM;
	}
	for (size_t j = 0; j <= nb; j++)
		D[j] = (uint32_t)j;
	for (size_t i = 1; i <= na; i++) {
		uint32_t *r = D + i * w, *u = r - w;
		r[0] = (uint32_t)i;
		for (size_t j = 1; j <= nb; j++) {
			uint32_t v = u[j - 1] + (a[i - 1] != b[j - 1]);
			if (u[j] + 1 < v)
				v = u[j] + 1;
			if (r[j - 1] + 1 < v)
				v = r[j - 1] + 1;
			r[j] = v;
		}
	}
	/* Traceback from the end: diagonal, then delete, then insert. */
	uint32_t k = 0, i = na, j = nb;
	while (i > 0 || j > 0) {
		uint32_t v = D[i * w + j];
		if (i > 0 && j > 0 &&
		    v == D[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1])) {
			e[k++] = (struct cluster_edit){a[i - 1] == b[j - 1] ?
			    CLUSTER_EDIT_MATCH : CLUSTER_EDIT_SUB, i - 1, j - 1};
			i--;
			j--;
		} else if (i > 0 && v == D[(i - 1) * w + j] + 1) {
			e[k++] = (struct cluster_edit){CLUSTER_EDIT_DEL, i - 1, j};
			i--;
		} else {
			e[k++] = (struct cluster_edit){CLUSTER_EDIT_INS, i, j - 1};
			j--;
		}
	}
	free(D);
	for (uint32_t x = 0, y = k - 1; x < y; x++, y--) {
		struct cluster_edit t = e[x];
		e[x] = e[y];
		e[y] = t;
	}
	*ops = e;
	*n_ops = k;
	return 0;
}

/* ---- normalisation ----------------------------------------------------- */
double
cluster_ed_norm(uint32_t d, uint32_t na, uint32_t nb)
{
	uint32_t mx = na > nb ? na : nb;
	return mx ? (double)d / (double)mx : 0.0;
}

uint32_t
cluster_ed_max_d(double threshold, uint32_t na, uint32_t nb)
{
	uint32_t mx = na > nb ? na : nb;
	if (!(threshold > 0.0))
		return 0;
	double v = floor(threshold * (double)mx + 1e-9);
	return v >= (double)mx ? mx : (uint32_t)v;
}

/*
 * model_file.c — the model file (model.h): encoding a model to bytes,
 * saving them so that a watcher never sees half a file (a temporary file,
 * then rename), and loading and decoding one without trusting it.
 *
 * Layout (little-endian; weft builds for little-endian hosts only):
 *   header (64 bytes): "WEFTMODL", u32 version, u32 header size,
 *                      u64 total length, u64 XXH3-64 of bytes [64, total)
 *   params, totals, origin (version 2 on: u64 trained-at Unix seconds,
 *   u32 length and the text of what it was trained from), label texts,
 *   templates (symbols, DAG, profile),
 *   model-wide profile, exact map, signature map, Bloom filter section.
 * A histogram is stored sparse: u64 n, u16 non-empty buckets, then
 * (u16 bucket, u32 count) pairs. Thresholds are stored, not recomputed.
 *
 * Decoding: the header (magic, version, length, checksum) is checked
 * before anything else; then every count is checked against the bytes
 * left before anything is allocated, so a crafted file cannot make the
 * loader allocate more than the file's own size allows; and what lookups
 * rely on is checked too (model_int.h: sorted keys, template indices in
 * range, well-formed DAGs). A malformed file is refused with the section
 * it broke in, never half loaded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "bloom/bloom.h"
#include "cluster/cluster.h"
#include "cluster/model.h"
#include "cluster/model_int.h"
#include "common/common.h"

/* ---- encoding ----------------------------------------------------------- */

#define HDR_SIZE 64
static const char MAGIC[8] = {'W', 'E', 'F', 'T', 'M', 'O', 'D', 'L'};

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void
wput(struct wbuf *w, const void *src, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap &&
	    weft_grow((void **)&w->p, &w->cap, w->len + n, 1, 4096)) {
		w->oom = 1;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

/* The format is little-endian; weft builds for little-endian hosts only
 * (checked at compile time below), so values are copied as they are. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian host");

static void w64(struct wbuf *w, uint64_t v) { wput(w, &v, 8); }
static void w32(struct wbuf *w, uint32_t v) { wput(w, &v, 4); }
static void w16(struct wbuf *w, uint16_t v) { wput(w, &v, 2); }
static void wf64(struct wbuf *w, double v) { wput(w, &v, 8); }

static void
wllq(struct wbuf *w, const struct cluster_llq *h)
{
	w64(w, h->n);
	uint16_t nz = 0;
	for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++)
		nz += h->bucket[b] != 0;
	w16(w, nz);
	for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++)
		if (h->bucket[b]) {
			w16(w, (uint16_t)b);
			w32(w, h->bucket[b]);
		}
}

static void
wprofile(struct wbuf *w, const struct cluster_profile *pr, int with_dur)
{
	if (with_dur) {
		wllq(w, &pr->dur);
		w64(w, pr->dur_thr);
	}
	w32(w, pr->n_lab);
	for (uint32_t i = 0; i < pr->n_lab; i++) {
		w64(w, pr->lab[i].sym);
		w64(w, pr->lab[i].thr);
		wllq(w, &pr->lab[i].h);
	}
}

int
cluster_model_encode(const struct cluster_model *m, void **out, size_t *len)
{
	struct wbuf w = {0};
	unsigned char hdr[HDR_SIZE] = {0};
	wput(&w, hdr, HDR_SIZE);
	const struct cluster_model_params *p = &m->params;
	wf64(&w, p->threshold);
	wf64(&w, p->bloom_fpr);
	wf64(&w, p->slow_quantile);
	wf64(&w, p->slow_factor);
	w32(&w, p->slow_min_samples);
	w32(&w, 0);
	w64(&w, p->slow_floor_ns);
	w64(&w, p->seed);
	w64(&w, m->traces);
	w64(&w, m->shapes);
	w64(&w, m->pieces);
	uint32_t nf = (uint32_t)strnlen(m->trained_from, sizeof m->trained_from - 1);
	w64(&w, m->trained_at);
	w32(&w, nf);
	wput(&w, m->trained_from, nf);
	w32(&w, m->n_labels);
	for (uint32_t i = 0; i < m->n_labels; i++) {
		uint32_t n = (uint32_t)strlen(m->labels[i].text);
		w64(&w, m->labels[i].sym);
		w32(&w, n);
		wput(&w, m->labels[i].text, n);
	}
	w32(&w, m->n_templates);
	for (uint32_t k = 0; k < m->n_templates; k++) {
		const struct cluster_tmpl *tp = &m->t[k];
		w64(&w, tp->weight);
		w64(&w, tp->exact);
		w64(&w, tp->signature);
		w32(&w, tp->n_sym);
		wput(&w, tp->sym, (size_t)tp->n_sym * 8);
		w32(&w, tp->n_nodes);
		wput(&w, tp->label, (size_t)tp->n_nodes * 8);
		w32(&w, tp->par_off[tp->n_nodes]);
		wput(&w, tp->par_off, ((size_t)tp->n_nodes + 1) * 4);
		wput(&w, tp->par, (size_t)tp->par_off[tp->n_nodes] * 4);
		wprofile(&w, &tp->prof, 1);
	}
	wprofile(&w, &m->global, 0);
	w32(&w, m->n_exact);
	for (uint32_t i = 0; i < m->n_exact; i++) {
		w64(&w, m->exact_map[i].key);
		w32(&w, m->exact_map[i].tmpl);
	}
	w32(&w, m->n_sig);
	for (uint32_t i = 0; i < m->n_sig; i++) {
		w64(&w, m->sig_map[i].key);
		w32(&w, m->sig_map[i].tmpl);
	}
	size_t bl = bloom_serialized_size(m->bloom);
	w64(&w, bl);
	size_t at = w.len;
	unsigned char zero = 0;
	for (size_t i = 0; i < bl && !w.oom; i++)
		wput(&w, &zero, 1);
	if (w.oom || bloom_serialize(m->bloom, w.p + at, bl) < 0) {
		free(w.p);
		return WEFT_ENOMEM;
	}
	/* header */
	uint64_t total = w.len, sum = XXH3_64bits(w.p + HDR_SIZE, w.len - HDR_SIZE);
	uint32_t ver = CLUSTER_MODEL_VERSION, hs = HDR_SIZE;
	memcpy(w.p, MAGIC, 8);
	memcpy(w.p + 8, &ver, 4);
	memcpy(w.p + 12, &hs, 4);
	memcpy(w.p + 16, &total, 8);
	memcpy(w.p + 24, &sum, 8);
	*out = w.p;
	*len = w.len;
	return 0;
}

int
cluster_model_save(const struct cluster_model *m, const char *path,
                   char *errstr, size_t errlen)
{
	void *buf;
	size_t len;
	int rc = cluster_model_encode(m, &buf, &len);
	if (rc) {
		weft_errf(errstr, errlen, "encoding the model: %s", weft_strerror(rc));
		return rc;
	}
	/* write a temporary file and rename it: a running engine that watches
	 * the path never sees a half-written model */
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	int ok = f && fwrite(buf, 1, len, f) == len;
	if (f && fclose(f))
		ok = 0;
	free(buf);
	if (!ok || rename(tmp, path)) {
		weft_errf(errstr, errlen, "cannot write model '%s': %s", path, strerror(errno));
		unlink(tmp);
		return WEFT_EIO;
	}
	return 0;
}

/* ---- decoding ----------------------------------------------------------- */

struct rbuf {
	const unsigned char *p;
	size_t len, at;
	const char *what; /* section being read, for the message */
	int bad;
};

static int
rget(struct rbuf *r, void *dst, size_t n)
{
	if (r->bad || n > r->len - r->at) {
		r->bad = 1;
		memset(dst, 0, n);
		return -1;
	}
	memcpy(dst, r->p + r->at, n);
	r->at += n;
	return 0;
}

static uint64_t r64(struct rbuf *r) { uint64_t v; rget(r, &v, 8); return v; }
static uint32_t r32(struct rbuf *r) { uint32_t v; rget(r, &v, 4); return v; }
static uint16_t r16(struct rbuf *r) { uint16_t v; rget(r, &v, 2); return v; }
static double rf64(struct rbuf *r) { double v; rget(r, &v, 8); return v; }

/* A count of elements of at least min_bytes each must fit in what is left. */
static int
rcount_ok(struct rbuf *r, uint64_t count, size_t min_bytes)
{
	if (r->bad || (min_bytes && count > (r->len - r->at) / min_bytes)) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static void *
rarray(struct rbuf *r, uint64_t count, size_t elem)
{
	if (!rcount_ok(r, count, elem))
		return NULL;
	size_t bytes = (size_t)(count * elem);
	void *p = malloc(bytes ? bytes : 1);
	if (!p) {
		r->bad = 2;
		return NULL;
	}
	if (rget(r, p, count * elem)) {
		free(p);
		return NULL;
	}
	return p;
}

static void
rllq(struct rbuf *r, struct cluster_llq *h)
{
	memset(h, 0, sizeof *h);
	h->n = r64(r);
	uint16_t nz = r16(r);
	if (!rcount_ok(r, nz, 6))
		return;
	uint64_t sum = 0;
	for (uint16_t i = 0; i < nz; i++) {
		uint16_t b = r16(r);
		uint32_t c = r32(r);
		if (b >= CLUSTER_LLQ_BUCKETS) {
			r->bad = 1;
			return;
		}
		h->bucket[b] = c;
		sum += c;
	}
	if (sum > h->n)
		r->bad = 1;
}

static void
rprofile(struct rbuf *r, struct cluster_profile *pr, int with_dur)
{
	if (with_dur) {
		rllq(r, &pr->dur);
		pr->dur_thr = r64(r);
	}
	pr->n_lab = r32(r);
	if (!rcount_ok(r, pr->n_lab, 26)) {
		pr->n_lab = 0;
		return;
	}
	pr->lab = calloc(pr->n_lab ? pr->n_lab : 1, sizeof *pr->lab);
	if (!pr->lab) {
		pr->n_lab = 0;
		r->bad = 2;
		return;
	}
	for (uint32_t i = 0; i < pr->n_lab && !r->bad; i++) {
		pr->lab[i].sym = r64(r);
		pr->lab[i].thr = r64(r);
		rllq(r, &pr->lab[i].h);
		if (i && pr->lab[i].sym <= pr->lab[i - 1].sym)
			r->bad = 1; /* must be sorted: lookups binary-search */
	}
}

static void
rmap(struct rbuf *r, struct cluster_ment **out, uint32_t *n, uint32_t n_tmpl)
{
	*n = r32(r);
	if (!rcount_ok(r, *n, 12)) {
		*n = 0;
		return;
	}
	*out = calloc(*n ? *n : 1, sizeof **out);
	if (!*out) {
		*n = 0;
		r->bad = 2;
		return;
	}
	for (uint32_t i = 0; i < *n && !r->bad; i++) {
		(*out)[i].key = r64(r);
		(*out)[i].tmpl = r32(r);
		if ((*out)[i].tmpl >= n_tmpl || (i && (*out)[i].key <= (*out)[i - 1].key))
			r->bad = 1;
	}
}

/* The header: magic, version, length and checksum, before anything is
 * read. 0 (*version set) or WEFT_EFORMAT with the message. */
static int
check_header(const unsigned char *p, size_t len, uint32_t *version, char *errstr,
             size_t errlen)
{
	if (len < HDR_SIZE || memcmp(p, MAGIC, 8)) {
		weft_errf(errstr, errlen, len < HDR_SIZE ? "not a weft model: too short (%zu bytes)"
		                                         : "not a weft model: bad magic (%zu bytes)", len);
		return WEFT_EFORMAT;
	}
	uint32_t ver, hs;
	uint64_t total, sum;
	memcpy(&ver, p + 8, 4);
	memcpy(&hs, p + 12, 4);
	memcpy(&total, p + 16, 8);
	memcpy(&sum, p + 24, 8);
	if (ver < CLUSTER_MODEL_VERSION_MIN || ver > CLUSTER_MODEL_VERSION) {
		weft_errf(errstr, errlen, "model format version %u, this weft reads versions %u to %u",
		          ver, CLUSTER_MODEL_VERSION_MIN, CLUSTER_MODEL_VERSION);
		return WEFT_EFORMAT;
	}
	*version = ver;
	if (hs != HDR_SIZE || total != len) {
		weft_errf(errstr, errlen, "model truncated or padded: header says %llu bytes, file has %zu",
		          (unsigned long long)total, len);
		return WEFT_EFORMAT;
	}
	if (XXH3_64bits(p + HDR_SIZE, len - HDR_SIZE) != sum) {
		weft_errf(errstr, errlen, "model checksum mismatch: the file is corrupt");
		return WEFT_EFORMAT;
	}
	return 0;
}

/* Parameters, then the training totals. */
static void
rparams(struct rbuf *r, struct cluster_model *m)
{
	struct cluster_model_params *pp = &m->params;
	cluster_model_params_default(pp);
	pp->threshold = rf64(r);
	pp->bloom_fpr = rf64(r);
	pp->slow_quantile = rf64(r);
	pp->slow_factor = rf64(r);
	pp->slow_min_samples = r32(r);
	(void)r32(r);
	pp->slow_floor_ns = r64(r);
	pp->seed = r64(r);
	m->traces = r64(r);
	m->shapes = r64(r);
	m->pieces = r64(r);
}

/* When and from what it was trained (version 2 on; before: unknown). */
static void
rorigin(struct rbuf *r, struct cluster_model *m, uint32_t version)
{
	if (version < 2)
		return;
	m->trained_at = r64(r);
	uint32_t n = r32(r);
	if (n >= sizeof m->trained_from || !rcount_ok(r, n, 1)) {
		r->bad = 1;
		return;
	}
	rget(r, m->trained_from, n);
	m->trained_from[n] = 0;
	if (memchr(m->trained_from, 0, n))
		r->bad = 1;
}

/* Label texts, sorted by symbol. */
static void
rlabels(struct rbuf *r, struct cluster_model *m)
{
	m->n_labels = r32(r);
	if (rcount_ok(r, m->n_labels, 12) &&
	    (m->labels = calloc(m->n_labels ? m->n_labels : 1, sizeof *m->labels))) {
		for (uint32_t i = 0; i < m->n_labels && !r->bad; i++) {
			m->labels[i].sym = r64(r);
			uint32_t n = r32(r);
			if (!rcount_ok(r, n, 1))
				break;
			if (!(m->labels[i].text = malloc((size_t)n + 1))) {
				r->bad = 2;
				break;
			}
			rget(r, m->labels[i].text, n);
			m->labels[i].text[n] = 0;
			if (i && m->labels[i].sym <= m->labels[i - 1].sym)
				r->bad = 1;
		}
	} else if (!r->bad) {
		r->bad = 2;
	}
	if (r->bad)
		m->n_labels = m->labels ? m->n_labels : 0;
}

/* One template: its symbols, its DAG (checked well formed) and its
 * profile. */
static void
rtemplate(struct rbuf *r, struct cluster_tmpl *tp)
{
	tp->weight = r64(r);
	tp->exact = r64(r);
	tp->signature = r64(r);
	tp->n_sym = r32(r);
	tp->sym = rarray(r, tp->n_sym, 8);
	uint32_t nn = r32(r);
	tp->label = rarray(r, nn, 8);
	uint32_t ne = r32(r);
	tp->par_off = rarray(r, (uint64_t)nn + 1, 4);
	tp->par = rarray(r, ne, 4);
	if (r->bad)
		return;
	tp->n_nodes = nn;
	/* the DAG must be well formed: offsets monotone up to ne,
	 * parents in range */
	if (tp->par_off[0] != 0 || tp->par_off[nn] != ne)
		r->bad = 1;
	for (uint32_t i = 0; i < nn && !r->bad; i++)
		if (tp->par_off[i + 1] < tp->par_off[i])
			r->bad = 1;
	for (uint32_t e = 0; e < ne && !r->bad; e++)
		if (tp->par[e] >= nn)
			r->bad = 1;
	rprofile(r, &tp->prof, 1);
}

static void
rtemplates(struct rbuf *r, struct cluster_model *m)
{
	uint32_t nt = r32(r);
	if (!r->bad && rcount_ok(r, nt, 40)) {
		if (!(m->t = calloc(nt ? nt : 1, sizeof *m->t)))
			r->bad = 2;
		else
			m->n_templates = nt;
	}
	for (uint32_t k = 0; k < m->n_templates && !r->bad; k++)
		rtemplate(r, &m->t[k]);
}

int
cluster_model_decode(const void *buf, size_t len, struct cluster_model **out,
                     char *errstr, size_t errlen)
{
	*out = NULL;
	const unsigned char *p = buf;
	uint32_t version = 0;
	int rc = check_header(p, len, &version, errstr, errlen);
	if (rc)
		return rc;
	struct cluster_model *m = calloc(1, sizeof *m);
	if (!m)
		return WEFT_ENOMEM;
	struct rbuf r = {p, len, HDR_SIZE, "parameters", 0};
	/* each section is read only while nothing before it broke, so the
	 * message names the section that did */
	rparams(&r, m);
	if (!r.bad && (r.what = "origin"))
		rorigin(&r, m, version);
	if (!r.bad && (r.what = "labels"))
		rlabels(&r, m);
	if (!r.bad && (r.what = "templates"))
		rtemplates(&r, m);
	if (!r.bad && (r.what = "profiles"))
		rprofile(&r, &m->global, 0);
	if (!r.bad && (r.what = "shape map"))
		rmap(&r, &m->exact_map, &m->n_exact, m->n_templates);
	if (!r.bad && (r.what = "signature map"))
		rmap(&r, &m->sig_map, &m->n_sig, m->n_templates);
	if (!r.bad)
		r.what = "filter";
	uint64_t bl = r.bad ? 0 : r64(&r);
	if (!r.bad && (bl != r.len - r.at))
		r.bad = 1;
	char berr[128] = "";
	if (!r.bad && bloom_deserialize(p + r.at, bl, &m->bloom, berr, sizeof berr))
		r.bad = 1;
	if (!r.bad && cluster_model_prepare(m))
		r.bad = 2;
	if (r.bad) {
		if (r.bad == 2)
			weft_errf(errstr, errlen, "out of memory loading the model");
		else
			weft_errf(errstr, errlen, "model is malformed in its %s section%s%s", r.what,
			          berr[0] ? ": " : "", berr);
		cluster_model_destroy(m);
		return r.bad == 2 ? WEFT_ENOMEM : WEFT_EFORMAT;
	}
	*out = m;
	return 0;
}

int
cluster_model_load(const char *path, struct cluster_model **out, char *errstr,
                   size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		weft_errf(errstr, errlen, "cannot open model '%s': %s", path, strerror(errno));
		return WEFT_EIO;
	}
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap && weft_grow((void **)&buf, &cap, len + 1, 1, 1 << 16)) {
			free(buf);
			fclose(f);
			return WEFT_ENOMEM;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		weft_errf(errstr, errlen, "cannot read model '%s'", path);
		return WEFT_EIO;
	}
	char e2[256];
	int rc = cluster_model_decode(buf, len, out, e2, sizeof e2);
	free(buf);
	if (rc)
		weft_errf(errstr, errlen, "%s: %s", path, e2);
	return rc;
}

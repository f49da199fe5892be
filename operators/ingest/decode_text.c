/*
 * decode_text.c — the stream splitter and the classic X-Trace text report
 * decoder.
 *
 * Splitter. A stream arrives in chunks that cut units anywhere. In line mode
 * a line that lies inside one chunk is handed out zero-copy (the JSON hot
 * path); only a line that straddles chunks is copied into the splitter's
 * buffer. Report mode copies every report (text reports are not the hot
 * path) and works line by line: a line that holds only blanks ends the
 * report in progress. Both modes keep at most max_unit bytes of a unit; a
 * longer one is consumed to its end and handed out once, flagged too long,
 * with its first bytes as excerpt — so a 10 MB line costs a bounded buffer
 * and one dead letter, and the next line decodes normally.
 *
 * Text reports look like
 *
 *   X-Trace Report ver 1.0
 *   X-Trace: 19A1B2C3D4E5F60708DEADBEEF01020304
 *   Edge: 0A0B0C0D01020304
 *   Timestamp: 1175645123.123
 *   Host: node1
 *   Agent: DataNode
 *   Label: writeBlock
 *   Key: value            (other keys, which may repeat, become pairs)
 *
 * X-Trace metadata (hex): flags byte — bits 0-1 task id length (4, 8, 12,
 * 20 bytes), bit 2 options present, bit 3 op id is 8 bytes (else 4), bits
 * 4-7 the metadata version (only version 1 is known) — then task id, op id,
 * and, with bit 2, one length byte and that many bytes of options (skipped).
 * The op id is the event id (big-endian value). Task ids: see decode.h.
 * X-Trace, Host, Agent, Label and Timestamp are single-valued: a repeat is a
 * duplicate_key reject. Edge may repeat, one parent op id per line (hex,
 * anything after a ',' or blank is ignored).
 */
#include "operators/ingest/decode_priv.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/common.h"

/* ---- splitter ------------------------------------------------------------ */

struct op_splitter {
	enum op_split_mode mode;
	uint32_t max;
	char *buf;          /* [max] kept bytes of the pending unit */
	size_t len;         /* bytes kept in buf */
	size_t unit_len;    /* full bytes of the pending unit so far */
	uint64_t offset;    /* stream offset of the next byte fed */
	uint64_t line;      /* line number of the next byte fed (1-based) */
	struct op_pos unit_pos;
	/* report mode: the line in progress */
	struct op_pos line_pos;
	size_t line_start_len, line_start_unit;
	int line_nonblank;
	int at_line_start;
	/* length-prefixed mode: the size prefix read so far */
	unsigned char lhdr[4];
	unsigned lhdr_n;
	uint64_t need;      /* size of the unit being read */
	op_line_end_fn line_end; /* op_splitter_set_line_end */
	void *line_end_arg;
};

void
op_splitter_set_line_end(struct op_splitter *s, op_line_end_fn fn, void *arg)
{
	s->line_end = s->mode == OP_SPLIT_LINES ? fn : NULL;
	s->line_end_arg = arg;
}

int
op_splitter_new(enum op_split_mode mode, uint32_t max_unit,
                struct op_splitter **out)
{
	*out = NULL;
	if (max_unit == 0 || (mode != OP_SPLIT_LINES && mode != OP_SPLIT_REPORTS &&
	                      mode != OP_SPLIT_LEN32))
		return WEFT_EINVAL;
	struct op_splitter *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->buf = malloc(max_unit);
	if (!s->buf) {
		free(s);
		return WEFT_ENOMEM;
	}
	s->mode = mode;
	s->max = max_unit;
	s->line = 1;
	s->at_line_start = 1;
	*out = s;
	return 0;
}

void
op_splitter_free(struct op_splitter *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

static int
blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

static void
keep(struct op_splitter *s, const char *p, size_t n)
{
	size_t room = s->max - s->len;
	size_t k = n < room ? n : room;
	memcpy(s->buf + s->len, p, k);
	s->len += k;
	s->unit_len += n;
}

/* Hands out a line [p, p + n) (n = full length, avail readable bytes). */
static int
emit_line(op_unit_fn fn, void *arg, const char *p, size_t n, size_t avail,
          struct op_pos pos, unsigned max, unsigned flags)
{
	if (n == avail && n > 0 && p[n - 1] == '\r')
		n = --avail;
	if (n == avail && blank(p, n))
		return 0;
	if (n > max)
		flags |= OP_UNIT_TOO_LONG;
	struct op_unit u = { p, n, avail, pos, flags };
	return fn(arg, &u);
}

static int
feed_lines(struct op_splitter *s, const char *buf, size_t n, op_unit_fn fn,
           void *arg)
{
	const char *p = buf, *end = buf + n;
	while (p < end) {
		const char *nl = NULL;
		if (s->line_end && s->unit_len == 0) {
			size_t k = s->line_end(s->line_end_arg, p, (size_t)(end - p));
			if (k && k < (size_t)(end - p) && p[k] == '\n')
				nl = p + k;
		}
		if (!nl)
			nl = memchr(p, '\n', (size_t)(end - p));
		const char *seg_end = nl ? nl : end;
		size_t seg = (size_t)(seg_end - p);
		int rc = 0;
		if (s->unit_len == 0 && nl) { /* the whole line is here */
			struct op_pos pos = { s->offset + (uint64_t)(p - buf), s->line };
			rc = emit_line(fn, arg, p, seg, seg, pos, s->max, 0);
		} else {
			if (s->unit_len == 0)
				s->unit_pos = (struct op_pos){
					s->offset + (uint64_t)(p - buf), s->line };
			keep(s, p, seg);
			if (nl) {
				rc = emit_line(fn, arg, s->buf, s->unit_len, s->len,
				               s->unit_pos, s->max, 0);
				s->len = s->unit_len = 0;
			}
		}
		if (nl)
			s->line++;
		p = nl ? nl + 1 : end;
		if (rc) {
			s->offset += (uint64_t)(p - buf);
			return rc;
		}
	}
	s->offset += n;
	return 0;
}

/* A report ended before the line starting at line_start_*: hand it out. */
static int
emit_report(struct op_splitter *s, op_unit_fn fn, void *arg, unsigned flags)
{
	size_t full = s->line_start_unit;
	size_t avail = s->line_start_len;
	int rc = 0;
	if (full > 0) {
		if (full > s->max)
			flags |= OP_UNIT_TOO_LONG;
		struct op_unit u = { s->buf, full, avail, s->unit_pos, flags };
		rc = fn(arg, &u);
	}
	s->len = s->unit_len = 0;
	s->line_start_len = s->line_start_unit = 0;
	return rc;
}

static int
feed_reports(struct op_splitter *s, const char *buf, size_t n, op_unit_fn fn,
             void *arg)
{
	const char *p = buf, *end = buf + n;
	while (p < end) {
		if (s->at_line_start) {
			s->line_pos = (struct op_pos){
				s->offset + (uint64_t)(p - buf), s->line };
			if (s->unit_len == 0)
				s->unit_pos = s->line_pos;
			s->line_start_len = s->len;
			s->line_start_unit = s->unit_len;
			s->line_nonblank = 0;
			s->at_line_start = 0;
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *seg_end = nl ? nl + 1 : end;
		size_t seg = (size_t)(seg_end - p);
		if (!s->line_nonblank && !blank(p, nl ? seg - 1 : seg))
			s->line_nonblank = 1;
		keep(s, p, seg);
		p = seg_end;
		if (!nl)
			break;
		s->line++;
		s->at_line_start = 1;
		if (!s->line_nonblank) {
			int rc = emit_report(s, fn, arg, 0);
			if (rc) {
				s->offset += (uint64_t)(p - buf);
				return rc;
			}
		}
	}
	s->offset += n;
	return 0;
}

/* Size-prefixed units (OP_SPLIT_LEN32): 4 bytes big-endian, then the
 * unit; a unit inside one chunk is passed in place. Empty units are
 * skipped like blank lines. */
static int
feed_len32(struct op_splitter *s, const char *buf, size_t n, op_unit_fn fn,
           void *arg)
{
	const char *p = buf, *end = buf + n;
	while (p < end) {
		if (s->lhdr_n < 4) {
			if (s->lhdr_n == 0) {
				s->unit_pos = (struct op_pos){
					s->offset + (uint64_t)(p - buf), 0, 0};
				s->len = s->unit_len = 0;
			}
			s->lhdr[s->lhdr_n++] = (unsigned char)*p++;
			if (s->lhdr_n < 4)
				continue;
			s->need = (uint64_t)s->lhdr[0] << 24 | (uint64_t)s->lhdr[1] << 16 |
			          (uint64_t)s->lhdr[2] << 8 | s->lhdr[3];
			if (s->need == 0) {
				s->lhdr_n = 0;
				continue;
			}
			if ((uint64_t)(end - p) >= s->need) { /* whole: in place */
				size_t k = (size_t)s->need;
				struct op_unit u = {p, k, k < s->max ? k : s->max,
				                    s->unit_pos,
				                    k > s->max ? OP_UNIT_TOO_LONG : 0};
				p += k;
				s->lhdr_n = 0;
				int rc = fn(arg, &u);
				if (rc) {
					s->offset += (uint64_t)(p - buf);
					return rc;
				}
				continue;
			}
		}
		size_t k = (size_t)(s->need - s->unit_len);
		if (k > (size_t)(end - p))
			k = (size_t)(end - p);
		keep(s, p, k);
		p += k;
		if (s->unit_len == s->need) {
			struct op_unit u = {s->buf, s->unit_len, s->len, s->unit_pos,
			                    s->unit_len > s->max ? OP_UNIT_TOO_LONG : 0};
			s->lhdr_n = 0;
			s->len = s->unit_len = 0;
			int rc = fn(arg, &u);
			if (rc) {
				s->offset += (uint64_t)(p - buf);
				return rc;
			}
		}
	}
	s->offset += n;
	return 0;
}

int
op_splitter_feed(struct op_splitter *s, const void *buf, size_t n,
                 op_unit_fn fn, void *arg)
{
	if (s->mode == OP_SPLIT_LINES)
		return feed_lines(s, buf, n, fn, arg);
	if (s->mode == OP_SPLIT_LEN32)
		return feed_len32(s, buf, n, fn, arg);
	return feed_reports(s, buf, n, fn, arg);
}

int
op_splitter_finish(struct op_splitter *s, op_unit_fn fn, void *arg)
{
	int rc = 0;
	if (s->mode == OP_SPLIT_LEN32) {
		if (s->lhdr_n > 0) { /* the stream ended inside a unit */
			if (s->lhdr_n < 4) {
				memcpy(s->buf, s->lhdr, s->lhdr_n < s->max ? s->lhdr_n : s->max);
				s->len = s->unit_len = s->lhdr_n;
			}
			struct op_unit u = {s->buf, s->unit_len, s->len, s->unit_pos,
			                    OP_UNIT_TRUNCATED};
			rc = fn(arg, &u);
		}
		s->lhdr_n = 0;
		s->len = s->unit_len = 0;
		return rc;
	}
	if (s->mode == OP_SPLIT_LINES) {
		if (s->unit_len > 0)
			rc = emit_line(fn, arg, s->buf, s->unit_len, s->len,
			               s->unit_pos, s->max, OP_UNIT_TRUNCATED);
		s->len = s->unit_len = 0;
		return rc;
	}
	if (!s->at_line_start) { /* the stream ended inside a line */
		if (s->line_nonblank) {
			s->line_start_unit = s->unit_len;
			s->line_start_len = s->len;
			rc = emit_report(s, fn, arg, OP_UNIT_TRUNCATED);
		} else {
			rc = emit_report(s, fn, arg, 0);
		}
	} else {
		s->line_start_unit = s->unit_len;
		s->line_start_len = s->len;
		rc = emit_report(s, fn, arg, 0);
	}
	s->at_line_start = 1;
	return rc;
}

/* ---- text report decoder ---------------------------------------------------- */

#define REPORT_HEADER "X-Trace Report ver 1.0"
#define REPORT_HEADER_PREFIX "X-Trace Report ver "

struct tp {
	struct op_decoder *d;
	const char *start;
	enum op_reject err;
	const char *err_at;
};

#define TFAIL(t, r, at)                 \
	do {                            \
		(t)->err = (r);         \
		(t)->err_at = (at);     \
		return -1;              \
	} while (0)

static uint64_t
be_value(const unsigned char *b, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

/* Parses X-Trace metadata hex v[0..n). */
static int
metadata(struct tp *t, const char *v, size_t n)
{
	static const size_t id_len[4] = { 4, 8, 12, 20 };
	unsigned char m[1 + 20 + 8 + 1 + 255];
	size_t nb = 0;
	if (n < 2)
		TFAIL(t, OP_REJECT_TRUNCATED, v);
	if (n % 2 || n / 2 > sizeof m)
		TFAIL(t, OP_REJECT_BAD_ID, v);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)v[i]), lo = hexval((unsigned char)v[i + 1]);
		if (hi < 0 || lo < 0)
			TFAIL(t, OP_REJECT_BAD_ID, v + i);
		m[nb++] = (unsigned char)(hi << 4 | lo);
	}
	unsigned flags = m[0];
	if ((flags >> 4) != 1)
		TFAIL(t, OP_REJECT_BAD_VERSION, v);
	size_t tl = id_len[flags & 3];
	size_t ol = (flags & 8) ? 8 : 4;
	size_t need = 1 + tl + ol;
	if (nb < need)
		TFAIL(t, OP_REJECT_TRUNCATED, v);
	if (flags & 4) {
		if (nb < need + 1 || nb < need + 1 + m[need])
			TFAIL(t, OP_REJECT_TRUNCATED, v);
		need += 1 + m[need];
	}
	if (nb != need)
		TFAIL(t, OP_REJECT_BAD_ID, v);
	struct op_event *h = &t->d->b.hdr;
	h->trace_id = tl <= 8 ? be_value(m + 1, tl) : XXH3_64bits(m + 1, tl);
	h->event_id = be_value(m + 1 + tl, ol);
	return 0;
}

static int
edge(struct tp *t, const char *v, size_t n)
{
	size_t k = 0;
	uint64_t id = 0;
	while (k < n && hexval((unsigned char)v[k]) >= 0) {
		id = id << 4 | (uint64_t)hexval((unsigned char)v[k]);
		k++;
	}
	if (k == 0 || k > 16 || (k < n && v[k] != ',' && v[k] != ' ' &&
	                         v[k] != '\t'))
		TFAIL(t, OP_REJECT_BAD_ID, v);
	if (op_event_builder_add_parent(&t->d->b, id))
		TFAIL(t, OP_REJECT_TOO_MANY_PARENTS, v);
	return 0;
}

/* "seconds[.fraction]" to ns and ms. */
static int
timestamp(struct tp *t, const char *v, size_t n)
{
	uint64_t sec = 0, frac = 0;
	size_t i = 0, fd = 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (i >= 11) /* beyond year 5000: not a timestamp */
			TFAIL(t, OP_REJECT_BAD_NUMBER, v);
		sec = sec * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == 0)
		TFAIL(t, OP_REJECT_BAD_NUMBER, v);
	if (i < n && v[i] == '.') {
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, fd++)
			if (fd < 9)
				frac = frac * 10 + (uint64_t)(v[i] - '0');
		if (fd == 0)
			TFAIL(t, OP_REJECT_BAD_NUMBER, v);
	}
	if (i != n)
		TFAIL(t, OP_REJECT_BAD_NUMBER, v + i);
	for (size_t k = fd < 9 ? fd : 9; k < 9; k++)
		frac *= 10;
	struct op_event *h = &t->d->b.hdr;
	h->start_ns = sec * 1000000000u + frac;
	h->wall_ms = (int64_t)(sec * 1000u + frac / 1000000u);
	h->flags |= OP_EV_HAS_START | OP_EV_HAS_WALL;
	return 0;
}

/* Checks the bytes of one line: UTF-8, no control characters but tab. */
static int
check_line(struct tp *t, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		if (*p >= 0x20 && *p < 0x7f) {
			p++;
		} else if (*p >= 0x80) {
			int k = op_utf8_seq(p, end);
			if (!k)
				TFAIL(t, OP_REJECT_BAD_UTF8, (const char *)p);
			p += k;
		} else if (*p == '\t') {
			p++;
		} else {
			TFAIL(t, OP_REJECT_SYNTAX, (const char *)p);
		}
	}
	return 0;
}

enum tkey { T_OTHER, T_XTRACE, T_EDGE, T_TIMESTAMP, T_HOST, T_AGENT, T_LABEL };

static enum tkey
tkey_id(const char *k, size_t n)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
	return IS("X-Trace") ? T_XTRACE : IS("Edge") ? T_EDGE :
	       IS("Timestamp") ? T_TIMESTAMP : IS("Host") ? T_HOST :
	       IS("Agent") ? T_AGENT : IS("Label") ? T_LABEL : T_OTHER;
#undef IS
}

static int
field(struct tp *t, const char *k, size_t kn, const char *v, size_t vn,
      unsigned *seen)
{
	struct op_event_builder *b = &t->d->b;
	enum tkey id = tkey_id(k, kn);
	if (id != T_OTHER && id != T_EDGE) {
		if (*seen & (1u << id))
			TFAIL(t, OP_REJECT_DUPLICATE_KEY, k);
		*seen |= 1u << id;
	}
	int rc = 0;
	switch (id) {
	case T_XTRACE: return metadata(t, v, vn);
	case T_EDGE: return edge(t, v, vn);
	case T_TIMESTAMP: return timestamp(t, v, vn);
	case T_HOST: rc = op_event_builder_set(b, OP_EV_HOST, v, vn); break;
	case T_AGENT: rc = op_event_builder_set(b, OP_EV_AGENT, v, vn); break;
	case T_LABEL: rc = op_event_builder_set(b, OP_EV_LABEL, v, vn); break;
	case T_OTHER:
		if (b->n_kv >= b->max_kv)
			TFAIL(t, OP_REJECT_TOO_MANY_KV, k);
		rc = op_event_builder_add_kv(b, k, kn, v, vn);
		if (op_text_names_exception(v, vn))
			b->hdr.flags |= OP_EV_EXCEPTION;
		break;
	}
	if (rc)
		TFAIL(t, OP_REJECT_RECORD_TOO_LARGE, k);
	return 0;
}

static int
report(struct tp *t, const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	unsigned seen = 0;
	size_t fmax = t->d->cfg.max_field_bytes;
	int first = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		while (le > p && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
			le--;
		if (check_line(t, p, (size_t)(le - p)))
			return -1;
		if (first) {
			size_t ln = (size_t)(le - p);
			if (ln == sizeof REPORT_HEADER - 1 &&
			    memcmp(p, REPORT_HEADER, ln) == 0) {
				first = 0;
				p = next;
				continue;
			}
			if (ln >= sizeof REPORT_HEADER_PREFIX - 1 &&
			    memcmp(p, REPORT_HEADER_PREFIX,
			           sizeof REPORT_HEADER_PREFIX - 1) == 0)
				TFAIL(t, OP_REJECT_BAD_VERSION, p);
			TFAIL(t, OP_REJECT_SYNTAX, p);
		}
		if (le == p) { /* blank line inside a report given directly */
			p = next;
			continue;
		}
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (!colon || colon == p)
			TFAIL(t, OP_REJECT_SYNTAX, p);
		const char *ke = colon;
		while (ke > p && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		const char *v = colon + 1;
		while (v < le && (*v == ' ' || *v == '\t'))
			v++;
		if ((size_t)(ke - p) > fmax)
			TFAIL(t, OP_REJECT_FIELD_TOO_LONG, p);
		if ((size_t)(le - v) > fmax)
			TFAIL(t, OP_REJECT_FIELD_TOO_LONG, v);
		if (field(t, p, (size_t)(ke - p), v, (size_t)(le - v), &seen))
			return -1;
		p = next;
	}
	if (first)
		TFAIL(t, OP_REJECT_TRUNCATED, end);
	if (!(seen & (1u << T_XTRACE)))
		TFAIL(t, OP_REJECT_MISSING_TRACE_ID, s);
	return 0;
}

int
op_decode_text(struct op_decoder *d, const char *s, size_t n,
               const struct op_pos *pos, void *out, uint32_t cap,
               uint32_t *len)
{
	int rc = op_decoder_begin(d, s, n, &pos, d->cfg.max_report_bytes);
	if (rc)
		return rc;
	struct tp t = { .d = d, .start = s };
	op_event_builder_reset(&d->b);
	if (report(&t, s, n))
		return op_decoder_reject(d, t.err, s, n, n, pos,
		                         (uint32_t)(t.err_at - t.start));
	return op_decoder_emit(d, s, n, pos, out, cap, len);
}

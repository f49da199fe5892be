/*
 * decode_json_line.c — an X-Trace v4 JSON line read against the decoder's
 * line template (json_scan.h, struct op_jtmpl), before decode_json.c's
 * general path.
 *
 * Why: producers write every line with the same keys in the same order,
 * and values of the same shapes. The general path (jobject) reads any
 * JSON object: it skips whitespace at every token, predicts each key,
 * checks it against the keys seen, dispatches on it, and keeps its
 * position in the parser's struct, which every byte stored into the
 * string scratch may alias, so the position goes through memory at each
 * step. Here the line is compared with the template's bytes between the
 * values ({"TaskID": ... ,"EventID": ...), each value is read by the
 * shape its key had ("quoted id", integer token, "plain string", [array
 * of quoted ids]), and the position stays in a register. A template is
 * only learned from a line the general path accepted (jobject calls
 * op_jtmpl_learn), so its keys are distinct, known where they should be,
 * within the pair limit, and TaskID and EventID are among them: the
 * checks the general path made on its keys hold for every line that has
 * the same bytes there. The values are read by the very fast paths the
 * general path tries first (id_plain, int_plain, scan_plain_copy,
 * scan_plain), so a line read here gives the same event, to the byte,
 * as the general path; anything else (whitespace, escapes, a null, a
 * number where a string was, a field past its limit, other keys) makes
 * this return NULL, and the general path reads the line from the start.
 * tests/operators/test_decode_json_paths.c and the JSON fuzz target check
 * the two against each other.
 */
#include "operators/ingest/decode_priv.h"

#include <string.h>

/* A plain string at p (no escape, control or non-ASCII byte) into the
 * string scratch as *out, within the field limit and the room left:
 * jtext's fast path. The byte after its closing quote, or NULL. */
static inline const unsigned char *
text_plain(struct op_event_builder *b, size_t fcap, const unsigned char *p,
           const unsigned char *end, const unsigned char *start,
           struct op_str *out)
{
	if (p >= end || *p != '"')
		return NULL;
	size_t room = b->str_cap > b->str_len ? b->str_cap - b->str_len - 1 : 0;
	char *dst = b->str + b->str_len;
	int hit;
	const unsigned char *q = scan_plain_copy(
	    p + 1, end, start, (unsigned char *)dst, room < fcap ? room : fcap,
	    &hit);
	if (!hit || *q != '"')
		return NULL;
	size_t n = (size_t)(q - p - 1);
	dst[n] = '\0';
	out->off = (uint16_t)b->str_len;
	out->len = (uint16_t)n;
	b->str_len += (uint32_t)n + 1;
	return q + 1;
}

/* The value of a member the record leaves out: a plain string within the
 * field limit, or an integer token (jpair_unkept's fast paths), with the
 * exception flag from a string. The byte after it, or NULL. */
static inline const unsigned char *
other_plain(struct op_event *h, size_t fcap, const unsigned char *p,
            const unsigned char *end, const unsigned char *start)
{
	if (p >= end)
		return NULL;
	if (*p == '"') {
		const unsigned char *v = p + 1, *q = scan_plain(v, end);
		size_t n = (size_t)(q - v);
		if (q >= end || *q != '"' || n > fcap)
			return NULL;
		if (op_text_names_exception((const char *)v, n))
			h->flags |= OP_EV_EXCEPTION;
		return q + 1;
	}
	int64_t v;
	const unsigned char *q = int_plain(p, end, start, &v);
	return q && (size_t)(q - p) <= fcap ? q : NULL;
}

/* An array of quoted ids (or none) into the builder's parents: jparents
 * without its whitespace and null cases. The byte after ']', or NULL. */
static inline const unsigned char *
parents_plain(struct op_event_builder *b, const unsigned char *p,
              const unsigned char *end, const unsigned char *start)
{
	if (p >= end || *p != '[')
		return NULL;
	if (++p < end && *p == ']')
		return p + 1;
	for (;;) {
		uint64_t id;
		if (!(p = id_plain(p, end, start, 0, &id)) ||
		    op_event_builder_add_parent(b, id) || p >= end)
			return NULL;
		if (*p == ']')
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

/* 1 when the avail bytes at p start with pre, the bytes before member m:
 * a 16-byte block compare when they fit one and the input has a block
 * there (as jkey_predicted), else key_match. */
static inline int
pre_match(struct op_jt_member m, const unsigned char *pre,
          const unsigned char *p, size_t avail)
{
#if defined(__SSE2__)
	if (m.past && avail >= 16)
		return ((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
		            _mm_loadu_si128((const __m128i *)(const void *)p),
		            _mm_loadu_si128((const __m128i *)(const void *)pre))) |
		        m.past) == 0xFFFFu;
#endif
	return avail >= m.len && key_match(p, pre, m.len);
}

const unsigned char *
op_jtmpl_read(struct op_decoder *d, const unsigned char *p,
              const unsigned char *end, int to_nl)
{
	const struct op_jtmpl *t = &d->jtmpl;
	struct op_event_builder *b = &d->b;
	struct op_event *h = &b->hdr;
	const unsigned char *start = p;
	size_t fcap = d->cfg.max_field_bytes;
	static const unsigned char field[] = {
		[K_HOST] = OP_EV_HOST, [K_AGENT] = OP_EV_AGENT,
		[K_PNAME] = OP_EV_PROCESS, [K_TNAME] = OP_EV_THREAD,
		[K_LABEL] = OP_EV_LABEL,
	};
	/* the template in locals: the builder's stores may alias it */
	const unsigned n = t->n;
	const struct op_jt_member *mv = t->m;
	for (unsigned i = 0; i < n; i++) {
		const struct op_jt_member m = mv[i];
		if (!pre_match(m, t->pre[i], p, (size_t)(end - p)))
			return NULL;
		p += m.len;
		int64_t v;
		switch ((enum jkey)m.id) {
		case K_TASKID:
			p = id_plain(p, end, start, 1, &h->trace_id);
			break;
		case K_EVENTID:
			p = id_plain(p, end, start, 0, &h->event_id);
			break;
		case K_PARENTS:
			p = parents_plain(b, p, end, start);
			break;
		case K_TIMESTAMP:
			if ((p = int_plain(p, end, start, &v))) {
				h->wall_ms = v;
				h->flags |= OP_EV_HAS_WALL;
			}
			break;
		case K_HRT:
			if ((p = int_plain(p, end, start, &v))) {
				h->start_ns = (uint64_t)v;
				h->flags |= OP_EV_HAS_START;
			}
			break;
		case K_ENDHRT:
			if ((p = int_plain(p, end, start, &v))) {
				h->end_ns = (uint64_t)v;
				h->flags |= OP_EV_HAS_END;
			}
			break;
		case K_PID:
			if ((p = int_plain(p, end, start, &v)) &&
			    (v < INT32_MIN || v > INT32_MAX))
				p = NULL;
			if (p)
				h->process_id = (int32_t)v;
			break;
		case K_TID:
			if ((p = int_plain(p, end, start, &v)))
				h->thread_id = v;
			break;
		case K_HOST: case K_AGENT: case K_PNAME: case K_TNAME:
		case K_LABEL:
			p = text_plain(b, fcap, p, end, start, &h->str[field[m.id]]);
			break;
		case K_OTHER:
			p = other_plain(h, fcap, p, end, start);
			break;
		}
		if (!p)
			return NULL;
	}
	/* the object's end at once, then the line's ('\n', a '\r' before it
	 * as whitespace) or the unit's */
	if (!n || p >= end || *p++ != '}')
		return NULL;
	if (to_nl) {
		if (p < end && *p == '\r')
			p++;
		if (p >= end || *p != '\n')
			return NULL;
	} else if (p != end) {
		return NULL;
	}
	if (!(h->flags & OP_EV_HAS_START) && (h->flags & OP_EV_HAS_WALL)) {
		h->start_ns = (uint64_t)h->wall_ms * 1000000u;
		h->flags |= OP_EV_HAS_START;
	}
	return p;
}

const unsigned char *
op_jtmpl_try(struct op_decoder *d, const unsigned char *p,
             const unsigned char *end, int to_nl, struct op_jtmpl_marks *buf,
             struct op_jtmpl_marks **marks)
{
	struct op_jtmpl *t = &d->jtmpl;
	*marks = NULL;
	op_event_builder_reset(&d->b);
	if (d->b.keep_kv)
		return NULL;
	if (t->rest) {
		t->rest--;
		return NULL;
	}
	if (t->n) {
		const unsigned char *q = op_jtmpl_read(d, p, end, to_nl);
		if (q) {
			t->misses = 0;
			d->st.templated++;
			return q;
		}
		op_event_builder_reset(&d->b);
		if (++t->misses >= OP_JT_MISSES) {
			t->misses = 0;
			t->rest = OP_JT_REST;
			return NULL;
		}
	}
	*marks = buf;
	return NULL;
}

void
op_jtmpl_learn(struct op_jtmpl *t, const unsigned char *line,
               const struct op_jtmpl_marks *m, unsigned n)
{
	t->n = 0;
	if (n == 0 || n > OP_JT_MEMBERS)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = m->value[i] - m->gap[i];
		const unsigned char *g = line + m->gap[i];
		/* no key that the general path unescapes (an escape or a
		 * non-ASCII byte: it copies such a key of a left-out pair into
		 * the string scratch, so into the record), no '\n' (a line's
		 * end where the decoder finds line ends) */
		if (len < 4 || len > OP_JT_PRE || memchr(g, '\\', len) ||
		    memchr(g, '\n', len))
			return;
		for (uint32_t k = 0; k < len; k++)
			if (g[k] >= 0x80)
				return;
		memcpy(t->pre[i], g, len);
		t->m[i].len = (uint8_t)len;
		t->m[i].id = m->id[i];
		t->m[i].past = len < 16 ? (uint16_t)(0xFFFFu << len) : 0;
	}
	t->n = (uint8_t)n;
}

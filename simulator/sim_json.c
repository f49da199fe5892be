/*
 * sim_json.c — the X-Trace v4 JSON line format the simulator writes and
 * reads back.
 *
 * One event per line, a flat object with fixed keys:
 *   {"TaskID":"48C83AD0179CEEA4","EventID":"-1234","ParentEventID":["567"],
 *    "Timestamp":1382999549000,"HRT":3548222746354433,"EndHRT":...,
 *    "Host":"namenode","Agent":"Namenode","Label":"getFileInfo",
 *    "Title":"fs -mkdir","Description":"Success: ..."}
 * TaskID is 16 upper-case hex digits; event ids are decimal strings of the
 * signed 64-bit value (JSON numbers lose precision past 2^53 in many
 * readers). Strings are escaped so the output is valid UTF-8 whatever the
 * input: control characters become \u00XX, invalid UTF-8 bytes become
 * U+FFFD.
 *
 * The writer formats integers by hand into a caller's growing buffer: it
 * sits on generate's hot path, where snprintf would cost more than the
 * rest of the event. The reader is not a general JSON parser: it accepts
 * exactly this shape (keys in any order, unknown scalar keys skipped), which
 * is all replay and generate --from need.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/sim_internal.h"

static char *
put_i64(char *p, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*p++ = '-';
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *
put_lit(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

/* Length of a valid UTF-8 sequence at s (max n bytes), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		len = 2;
		min = 0x80;
	} else if (c < 0xF0) {
		len = 3;
		min = 0x800;
	} else if (c < 0xF5) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	unsigned cp = c & (0x7F >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Append "s" escaped; reserves its own space (worst case 6x). */
static int
put_str(struct sim_buf *out, const char *str)
{
	size_t n = strlen(str);
	int rc = sim_buf_reserve(out, n * 6 + 2);
	if (rc)
		return rc;
	const unsigned char *s = (const unsigned char *)str;
	char *p = out->p + out->len;
	static const char hex[] = "0123456789abcdef";
	*p++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*p++ = (char)c;
			i++;
		} else if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			p = put_lit(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (l) {
				memcpy(p, s + i, l);
				p += l;
				i += l;
			} else {
				p = put_lit(p, "\\ufffd");
				i++;
			}
		}
	}
	*p++ = '"';
	out->len = (size_t)(p - out->p);
	return 0;
}

int
sim_json_event(struct sim_buf *out, const struct sim_run *r,
    const struct sim_event *e)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = sim_buf_reserve(out, 160 + (size_t)e->npar * 24);
	if (rc)
		return rc;
	char *p = out->p + out->len;
	p = put_lit(p, "{\"TaskID\":\"");
	for (int i = 15; i >= 0; i--)
		*p++ = hex[(e->task >> (i * 4)) & 15];
	p = put_lit(p, "\",\"EventID\":\"");
	p = put_i64(p, e->id);
	p = put_lit(p, "\",\"ParentEventID\":[");
	for (uint32_t i = 0; i < e->npar; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		p = put_i64(p, r->parents[e->par_off + i]);
		*p++ = '"';
	}
	p = put_lit(p, "],\"Timestamp\":");
	p = put_i64(p, e->ts_ms);
	p = put_lit(p, ",\"HRT\":");
	p = put_i64(p, e->hrt);
	p = put_lit(p, ",\"EndHRT\":");
	p = put_i64(p, e->end_hrt);
	p = put_lit(p, ",\"Host\":");
	out->len = (size_t)(p - out->p);
	static const char *const keys[] = {",\"Agent\":", ",\"Label\":",
	    ",\"Title\":", ",\"Description\":"};
	uint32_t offs[5] = {e->host, e->agent, e->label,
	    r->tr[e->trace].title, e->desc};
	for (int i = 0; i < 5; i++) {
		if (i && (rc = sim_buf_append(out, keys[i - 1],
		    strlen(keys[i - 1]))))
			return rc;
		if ((rc = put_str(out, sim_str(r, offs[i]))))
			return rc;
	}
	return sim_buf_append(out, "}\n", 2);
}

/* ---- reader ----------------------------------------------------------- */

/*
 * Task map: open addressing from TaskID to trace index, so that reading a
 * JSONL file with interleaved traces costs O(1) per line.
 */
struct sim_taskmap {
	uint64_t *keys;
	uint32_t *vals;   /* UINT32_MAX marks an empty slot */
	size_t cap, n;
	struct sim_buf tmp; /* string scratch reused across lines */
	uint32_t empty, none; /* offsets of "" and "none" in the run */
	int have_consts;
};

void
sim_taskmap_free(struct sim_taskmap *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->vals);
	sim_buf_free(&m->tmp);
	free(m);
}

static size_t
tm_slot(const struct sim_taskmap *m, uint64_t k)
{
	uint64_t h = k * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h >> 20) & (m->cap - 1);
	while (m->vals[i] != UINT32_MAX && m->keys[i] != k)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int
tm_rehash(struct sim_taskmap *m, size_t cap)
{
	struct sim_taskmap n = *m;
	n.keys = calloc(cap, 8);
	n.vals = malloc(cap * 4);
	n.cap = cap;
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return WEFT_ENOMEM;
	}
	memset(n.vals, 0xff, cap * 4);
	for (size_t i = 0; i < m->cap; i++) {
		if (m->vals[i] == UINT32_MAX)
			continue;
		size_t s = tm_slot(&n, m->keys[i]);
		n.keys[s] = m->keys[i];
		n.vals[s] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

/* Find or add the trace of task; title is set when the trace is new. */
static int
find_trace(struct sim_run *r, struct sim_taskmap **mp, uint64_t task,
    uint32_t *idx, int *fresh)
{
	struct sim_taskmap *m = *mp;
	int rc;
	if ((m->n + 1) * 2 > m->cap && (rc = tm_rehash(m, m->cap ? m->cap * 2 : 64)))
		return rc;
	size_t s = tm_slot(m, task);
	*fresh = m->vals[s] == UINT32_MAX;
	if (*fresh) {
		if ((rc = sim_grow((void **)&r->tr, &r->trcap, r->ntr + 1,
		    sizeof(*r->tr))))
			return rc;
		memset(&r->tr[r->ntr], 0, sizeof(r->tr[0]));
		r->tr[r->ntr].task = task;
		m->keys[s] = task;
		m->vals[s] = (uint32_t)r->ntr++;
		m->n++;
	}
	*idx = m->vals[s];
	return 0;
}

struct jcur {
	const char *p, *end;
	struct sim_buf tmp; /* unescaped string scratch (borrowed) */
};

static void
skip_ws(struct jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	    *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Parse a string into c->tmp (NUL-terminated, unescaped). */
static int
get_str(struct jcur *c)
{
	c->tmp.len = 0;
	if (c->p >= c->end || *c->p != '"')
		return WEFT_EFORMAT;
	c->p++;
	int rc;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;
		if (ch == '\\') {
			if (c->p >= c->end)
				return WEFT_EFORMAT;
			char e = *c->p++;
			static const char from[] = "\"\\/bfnrt";
			static const char to[] = "\"\\/\b\f\n\r\t";
			const char *f = strchr(from, e);
			if (e && f) {
				ch = to[f - from];
			} else if (e == 'u' && c->end - c->p >= 4) {
				unsigned cp = 0;
				for (int i = 0; i < 4; i++) {
					int h = hexval(c->p[i]);
					if (h < 0)
						return WEFT_EFORMAT;
					cp = cp << 4 | (unsigned)h;
				}
				c->p += 4;
				char u[3];
				size_t n;
				if (cp < 0x80) {
					u[0] = (char)cp;
					n = 1;
				} else if (cp < 0x800) {
					u[0] = (char)(0xC0 | cp >> 6);
					u[1] = (char)(0x80 | (cp & 0x3F));
					n = 2;
				} else {
					u[0] = (char)(0xE0 | cp >> 12);
					u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
					u[2] = (char)(0x80 | (cp & 0x3F));
					n = 3;
				}
				if ((rc = sim_buf_append(&c->tmp, u, n)))
					return rc;
				continue;
			} else {
				return WEFT_EFORMAT;
			}
		}
		if ((rc = sim_buf_append(&c->tmp, &ch, 1)))
			return rc;
	}
	if (c->p >= c->end)
		return WEFT_EFORMAT;
	c->p++;
	if ((rc = sim_buf_append(&c->tmp, "", 1)))
		return rc;
	c->tmp.len--;
	return 0;
}

static int
get_int(struct jcur *c, int64_t *v)
{
	const char *s = c->p;
	while (c->p < c->end && (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')))
		c->p++;
	return sim_parse_i64(s, (size_t)(c->p - s), v);
}

static int
intern(struct sim_run *r, struct jcur *c, uint32_t *off)
{
	return sim_buf_addstr(&r->strs, c->tmp.p, c->tmp.len, off);
}

int
sim_json_parse_event(struct sim_run *r, struct sim_taskmap **tmap,
    const char *line, size_t len)
{
	struct sim_taskmap *m = *tmap;
	if (!m) {
		if (!(m = calloc(1, sizeof(*m))))
			return WEFT_ENOMEM;
		*tmap = m;
	}
	int rc = 0;
	if (!m->have_consts) {
		if ((rc = sim_buf_addstr(&r->strs, "", 0, &m->empty)) ||
		    (rc = sim_buf_addstr(&r->strs, "none", 4, &m->none)))
			return rc;
		m->have_consts = 1;
	}
	struct jcur c = {line, line + len, m->tmp};
	struct sim_event e;
	memset(&e, 0, sizeof(e));
	uint32_t title = 0, empty = m->empty;
	int have_task = 0, have_title = 0;
	size_t par0 = r->npar;
	static const char *const strkeys[] = {"Host", "Agent", "Label",
	    "Description"};
	uint32_t *strdst[] = {&e.host, &e.agent, &e.label, &e.desc};
	e.host = e.agent = e.label = e.desc = title = empty;

	skip_ws(&c);
	if (c.p >= c.end || *c.p++ != '{') {
		rc = WEFT_EFORMAT;
		goto out;
	}
	for (;;) {
		skip_ws(&c);
		if (c.p < c.end && *c.p == '}')
			break;
		if ((rc = get_str(&c)))
			goto out;
		char key[32];
		snprintf(key, sizeof(key), "%s", c.tmp.p);
		skip_ws(&c);
		if (c.p >= c.end || *c.p++ != ':') {
			rc = WEFT_EFORMAT;
			goto out;
		}
		skip_ws(&c);
		int done = 0;
		if (!strcmp(key, "TaskID")) {
			if ((rc = get_str(&c)) ||
			    (rc = sim_parse_hex64(c.tmp.p, c.tmp.len, &e.task)))
				goto out;
			have_task = 1;
			done = 1;
		} else if (!strcmp(key, "EventID")) {
			if ((rc = get_str(&c)) ||
			    (rc = sim_parse_i64(c.tmp.p, c.tmp.len, &e.id)))
				goto out;
			done = 1;
		} else if (!strcmp(key, "ParentEventID")) {
			if (c.p >= c.end || *c.p++ != '[') {
				rc = WEFT_EFORMAT;
				goto out;
			}
			skip_ws(&c);
			while (c.p < c.end && *c.p != ']') {
				int64_t pid;
				if ((rc = get_str(&c)) ||
				    (rc = sim_parse_i64(c.tmp.p, c.tmp.len, &pid)))
					goto out;
				if ((rc = sim_grow((void **)&r->parents, &r->parcap,
				    r->npar + 1, sizeof(int64_t))))
					goto out;
				r->parents[r->npar++] = pid;
				skip_ws(&c);
				if (c.p < c.end && *c.p == ',')
					c.p++;
				skip_ws(&c);
			}
			if (c.p >= c.end) {
				rc = WEFT_EFORMAT;
				goto out;
			}
			c.p++;
			done = 1;
		} else if (!strcmp(key, "Timestamp")) {
			rc = get_int(&c, &e.ts_ms);
			done = 1;
		} else if (!strcmp(key, "HRT")) {
			rc = get_int(&c, &e.hrt);
			done = 1;
		} else if (!strcmp(key, "EndHRT")) {
			rc = get_int(&c, &e.end_hrt);
			done = 1;
		} else if (!strcmp(key, "Title")) {
			if ((rc = get_str(&c)) || (rc = intern(r, &c, &title)))
				goto out;
			have_title = 1;
			done = 1;
		}
		for (int i = 0; !done && i < 4; i++) {
			if (strcmp(key, strkeys[i]))
				continue;
			if ((rc = get_str(&c)) || (rc = intern(r, &c, strdst[i])))
				goto out;
			done = 1;
		}
		if (!done) { /* unknown key: skip a string or a scalar */
			if (c.p < c.end && *c.p == '"')
				rc = get_str(&c);
			else
				while (c.p < c.end && *c.p != ',' && *c.p != '}')
					c.p++;
		}
		if (rc)
			goto out;
		skip_ws(&c);
		if (c.p < c.end && *c.p == ',')
			c.p++;
	}
	if (!have_task) {
		rc = WEFT_EFORMAT;
		goto out;
	}
	uint32_t t;
	int fresh;
	if ((rc = find_trace(r, tmap, e.task, &t, &fresh)))
		goto out;
	if (fresh) {
		r->tr[t].title = have_title ? title : empty;
		r->tr[t].kind = m->none;
		r->tr[t].first_seen_ms = e.ts_ms;
	}
	r->tr[t].count++;
	if (sim_desc_is_failure(sim_str(r, e.desc)))
		r->tr[t].failure = 1;
	e.trace = t;
	e.par_off = (uint32_t)par0;
	e.npar = (uint32_t)(r->npar - par0);
	if ((rc = sim_grow((void **)&r->ev, &r->evcap, r->nev + 1,
	    sizeof(*r->ev))))
		goto out;
	r->ev[r->nev++] = e;
out:
	if (rc)
		r->npar = par0;
	m->tmp = c.tmp; /* keep the scratch for the next line */
	return rc;
}

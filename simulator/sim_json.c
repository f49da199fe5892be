/*
 * sim_json.c — the X-Trace v4 JSON line format the simulator writes.
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
 * rest of the event. There is no reader here: the simulator reads JSON
 * lines back through weft's ingest decoder (operators/ingest/decode.h;
 * sim_run.c), so what it learns from and replays is what weft ingests.
 * Every line written here decodes there (tests/simulator round-trips the
 * bundled runs).
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

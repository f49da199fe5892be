/*
 * event.c — building and checking the relocatable X-Trace event record.
 *
 * The builder collects strings in one scratch area whose first byte is a NUL:
 * an absent field is the reference {0, 0}, which after relocation points at
 * that shared NUL, so accessors never return NULL and need no branch. When
 * the event is complete, finish() writes header, parents, key/value table and
 * the string area in one pass (one memcpy for all strings) and shifts every
 * reference by the size of the tables in front of the strings. Parent ids
 * are de-duplicated on insert (a linear scan: events have one or two parents
 * and the count is bounded by max_parents).
 */
#include "operators/ingest/event.h"

#include <stdlib.h>
#include <string.h>

/* Three symbols per event: inlined, XXH3's short-input paths cost less
 * than the call through the PLT into the shared library. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/common.h"

uint64_t
op_symbol(const char *s, size_t len)
{
	return XXH3_64bits(s, len);
}

int
op_event_builder_init(struct op_event_builder *b, uint32_t max_record,
                      uint32_t max_parents, uint32_t max_kv)
{
	memset(b, 0, sizeof *b);
	if (max_record < sizeof(struct op_event) + 8 ||
	    max_record > OP_EVENT_MAX_BYTES || max_parents > UINT16_MAX ||
	    max_kv > UINT16_MAX)
		return WEFT_EINVAL;
	b->parents = malloc(sizeof *b->parents * (max_parents ? max_parents : 1));
	b->kv = malloc(sizeof *b->kv * (max_kv ? max_kv : 1));
	b->str = malloc(max_record);
	if (!b->parents || !b->kv || !b->str) {
		op_event_builder_free(b);
		return WEFT_ENOMEM;
	}
	b->max_parents = max_parents;
	b->max_kv = max_kv;
	b->str_cap = max_record;
	b->max_record = max_record;
	b->keep_kv = 1;
	op_event_builder_reset(b);
	return 0;
}

void
op_event_builder_free(struct op_event_builder *b)
{
	free(b->parents);
	free(b->kv);
	free(b->str);
	memset(b, 0, sizeof *b);
}

/* A zero header to copy: GCC compiles memset of the 112-byte header to
 * `rep stosq`, whose start-up cost was about 2 % of a replay (most of
 * op_decode_json's own samples); a copy of a constant is seven vector
 * stores. */
static const struct op_event zero_hdr;

void
op_event_builder_reset(struct op_event_builder *b)
{
	memcpy(&b->hdr, &zero_hdr, sizeof b->hdr);
	b->n_parents = 0;
	b->n_kv = 0;
	b->str[0] = '\0'; /* the shared empty string, see top comment */
	b->str_len = 1;
}

int
op_event_builder_add_parent(struct op_event_builder *b, uint64_t id)
{
	for (uint32_t i = 0; i < b->n_parents; i++)
		if (b->parents[i] == id)
			return 0;
	if (b->n_parents >= b->max_parents)
		return WEFT_ELIMIT;
	b->parents[b->n_parents++] = id;
	return 0;
}

int
op_event_builder_str(struct op_event_builder *b, const char *s, size_t len,
                     struct op_str *out)
{
	if (len >= b->str_cap - b->str_len)
		return WEFT_ELIMIT;
	memcpy(b->str + b->str_len, s, len);
	b->str[b->str_len + len] = '\0';
	out->off = (uint16_t)b->str_len;
	out->len = (uint16_t)len;
	b->str_len += (uint32_t)len + 1;
	return 0;
}

int
op_event_builder_set(struct op_event_builder *b, enum op_event_field f,
                     const char *s, size_t len)
{
	return op_event_builder_str(b, s, len, &b->hdr.str[f]);
}

int
op_event_builder_add_kv(struct op_event_builder *b, const char *k,
                        size_t klen, const char *v, size_t vlen)
{
	if (b->n_kv >= b->max_kv)
		return WEFT_ELIMIT;
	struct op_kv_ref *r = &b->kv[b->n_kv];
	int rc = op_event_builder_str(b, k, klen, &r->key);
	if (rc == 0)
		rc = op_event_builder_str(b, v, vlen, &r->val);
	if (rc == 0)
		b->n_kv++;
	return rc;
}

static inline struct op_str
shift(struct op_str s, uint32_t base)
{
	s.off = (uint16_t)(s.off + base);
	return s;
}

/* Bytes of the string scratch the record keeps: all of it, or without
 * the pairs, the part up to the end of the last field (the fields are
 * all that is referenced then; a pair's strings before it stay,
 * unreferenced). */
static inline uint32_t
kept_str(const struct op_event_builder *b)
{
	if (b->keep_kv || !b->n_kv)
		return b->str_len;
	uint32_t end = 1; /* the shared empty string */
	for (int f = 0; f < OP_EV_NFIELDS; f++) {
		struct op_str s = b->hdr.str[f];
		if (s.len && (uint32_t)s.off + s.len + 1 > end)
			end = (uint32_t)s.off + s.len + 1;
	}
	return end;
}

static inline uint32_t
record_size(const struct op_event_builder *b, uint32_t str_bytes)
{
	return (op_event_builder_tables(b) + str_bytes + 7u) & ~7u;
}

uint32_t
op_event_builder_size(const struct op_event_builder *b)
{
	return record_size(b, kept_str(b));
}

int
op_event_builder_finish(struct op_event_builder *b, void *out, uint32_t cap,
                        uint32_t *len)
{
	uint32_t base = op_event_builder_tables(b),
	         n_kv = op_event_builder_kept_kv(b), str = kept_str(b);
	uint32_t size = record_size(b, str);
	uint32_t lim = cap < b->max_record ? cap : b->max_record;
	if (size > lim)
		return WEFT_ELIMIT;
	for (uint32_t i = 0; i < b->n_parents; i++)
		if (b->parents[i] == b->hdr.event_id)
			return WEFT_EFORMAT;

	struct op_event *ev = out;
	*ev = b->hdr;
	ev->size = size;
	ev->n_parents = (uint16_t)b->n_parents;
	ev->n_kv = (uint16_t)n_kv;
	ev->reserved = 0;
	ev->src = 0; /* the decoder sets it from the unit's position */
	for (int f = 0; f < OP_EV_NFIELDS; f++)
		ev->str[f] = shift(b->hdr.str[f], base);
	const struct op_str *s = b->hdr.str;
	ev->label_sym = op_symbol(b->str + s[OP_EV_LABEL].off, s[OP_EV_LABEL].len);
	ev->host_sym = op_symbol(b->str + s[OP_EV_HOST].off, s[OP_EV_HOST].len);
	ev->agent_sym = op_symbol(b->str + s[OP_EV_AGENT].off, s[OP_EV_AGENT].len);

	/* one or two parents as a rule: a loop, not a memcpy call */
	uint64_t *par = (uint64_t *)(void *)(ev + 1);
	for (uint32_t i = 0; i < b->n_parents; i++)
		par[i] = b->parents[i];
	struct op_kv_ref *kv = (struct op_kv_ref *)(void *)(par + b->n_parents);
	for (uint32_t i = 0; i < n_kv; i++) {
		kv[i].key = shift(b->kv[i].key, base);
		kv[i].val = shift(b->kv[i].val, base);
	}
	/* The padding after the strings is zero: base and size are 8-byte
	 * multiples and str >= 1 (the shared NUL), so the last 8 bytes lie
	 * in the string area; zeroed first, then the strings over them. */
	memset((unsigned char *)out + size - 8, 0, 8);
	memcpy((unsigned char *)out + base, b->str, str);
	*len = size;
	return 0;
}

const char *
op_event_kv_find(const struct op_event *ev, const char *key, size_t klen,
                 size_t *vlen)
{
	const struct op_kv_ref *kv = op_event_kv_table(ev);
	for (unsigned i = 0; i < ev->n_kv; i++) {
		if (kv[i].key.len == klen &&
		    memcmp(op_event_strref(ev, kv[i].key), key, klen) == 0) {
			if (vlen)
				*vlen = kv[i].val.len;
			return op_event_strref(ev, kv[i].val);
		}
	}
	return NULL;
}

/* A reference is valid when it lies in the string area and is followed by
 * its NUL terminator. */
static int
str_ok(const unsigned char *rec, uint32_t lo, uint32_t size, struct op_str s)
{
	uint32_t end = (uint32_t)s.off + s.len;
	return s.off >= lo && end < size && rec[end] == '\0';
}

int
op_event_validate(const void *rec, size_t len)
{
	const struct op_event *ev = rec;
	const unsigned char *b = rec;
	if (len < sizeof *ev || ((uintptr_t)rec & 7u))
		return WEFT_ECORRUPT;
	if (ev->size != len || (ev->size & 7u) || ev->size > OP_EVENT_MAX_BYTES ||
	    ev->reserved != 0)
		return WEFT_ECORRUPT;
	uint32_t base = (uint32_t)sizeof *ev + 8u * ev->n_parents +
	                (uint32_t)sizeof(struct op_kv_ref) * ev->n_kv;
	if (base >= ev->size)
		return WEFT_ECORRUPT;
	const uint64_t *par = op_event_parents(ev);
	for (unsigned i = 0; i < ev->n_parents; i++)
		if (par[i] == ev->event_id)
			return WEFT_ECORRUPT;
	for (int f = 0; f < OP_EV_NFIELDS; f++)
		if (!str_ok(b, base, ev->size, ev->str[f]))
			return WEFT_ECORRUPT;
	const struct op_kv_ref *kv = op_event_kv_table(ev);
	for (unsigned i = 0; i < ev->n_kv; i++)
		if (!str_ok(b, base, ev->size, kv[i].key) ||
		    !str_ok(b, base, ev->size, kv[i].val))
			return WEFT_ECORRUPT;
	size_t l;
	const char *s = op_event_label(ev, &l);
	if (ev->label_sym != op_symbol(s, l))
		return WEFT_ECORRUPT;
	s = op_event_host(ev, &l);
	if (ev->host_sym != op_symbol(s, l))
		return WEFT_ECORRUPT;
	s = op_event_agent(ev, &l);
	if (ev->agent_sym != op_symbol(s, l))
		return WEFT_ECORRUPT;
	return 0;
}

/*
 * event.h — the in-memory X-Trace event: one contiguous, relocatable record.
 *
 * The engine moves variable-size records between worker threads by memcpy
 * (engine_batch_next()), so a decoded event is ONE block of bytes with no
 * pointers in it: a fixed 112-byte header, the parent id array, a table of
 * key/value references, then string bytes. Every reference inside is a
 * 16-bit offset from the start of the record, so a record may be copied
 * anywhere 8-byte aligned and stays valid. The price of 16-bit offsets is a
 * hard cap of OP_EVENT_MAX_BYTES (64 KiB - 8) per record; configurations
 * usually bound records far lower (op_decode_config.max_record_bytes).
 *
 *   offset 0    struct op_event (112 bytes, 8-byte aligned)
 *   112         uint64_t parents[n_parents]
 *   ...         struct op_kv_ref kv[n_kv]   (8 bytes each)
 *   ...         string bytes; every string is followed by a NUL byte
 *   size        (padded with zeros to a multiple of 8)
 *
 * Labels, hosts and agents also carry a 64-bit symbol, XXH3_64bits of the
 * text, so every worker agrees on them without a shared dictionary; the texts
 * stay in the record because output needs them.
 *
 * Building: struct op_event_builder is per-worker scratch allocated once;
 * a decoder fills the header fields, appends parents, strings and key/values,
 * and op_event_builder_finish() lays the record out into a caller-provided
 * buffer. No allocation per event.
 *
 * Thread model: records are plain bytes (any thread may read a copy); a
 * builder belongs to one thread.
 */
#ifndef WEFT_OP_EVENT_H
#define WEFT_OP_EVENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest record the layout can address (16-bit offsets, 8-byte padding). */
#define OP_EVENT_MAX_BYTES 65528u

/* The string fields of an event, in op_event.str[] order. */
enum op_event_field {
	OP_EV_HOST = 0,
	OP_EV_AGENT,
	OP_EV_PROCESS, /* process name */
	OP_EV_THREAD,  /* thread name */
	OP_EV_LABEL,
	OP_EV_NFIELDS
};

/* op_event.flags */
#define OP_EV_HAS_END   0x0001u /* end_ns is valid */
#define OP_EV_HAS_START 0x0002u /* start_ns came from the report */
#define OP_EV_HAS_WALL  0x0004u /* wall_ms came from the report */
#define OP_EV_ERROR     0x0008u /* a span with status ERROR or an
                                 * "exception" event (OTLP), or an "error"
                                 * tag (Zipkin) */
#define OP_EV_EXCEPTION 0x0010u /* a key/value value names an exception
                                 * ("Exception" in it; X-Trace decoders) */

/* A source tag: slot + 1 in the low 20 bits, a generation (mod 2048) in
 * the next 11, and OP_SRC_PRE on top. The generation of a slot changes when its partition is
 * revoked, so an event or a trace from before a revocation is told apart
 * from one read after the partition came back. */
#define OP_SRC_SLOTS ((1u << 20) - 1)
#define OP_SRC(slot, gen) ((((uint32_t)(gen) & 0x7ffu) << 20) | ((uint32_t)(slot) + 1u))
#define OP_SRC_SLOT(src) (((src) & 0xfffffu) - 1u) /* valid when src != 0 */
#define OP_SRC_GEN(src) (((uint32_t)(src) >> 20) & 0x7ffu)
/* The top bit: the event was read again below the partition's committed
 * offset, only to complete traces that reach past it (a trace made only
 * of such events was emitted before; see assemble.h). */
#define OP_SRC_PRE 0x80000000u
#define OP_SRC_GEN_MASK 0x7ffu

/* A string inside the record: bytes [off, off + len), NUL at off + len. */
struct op_str {
	uint16_t off;
	uint16_t len;
};

struct op_kv_ref {
	struct op_str key;
	struct op_str val;
};

/*
 * Record header. Invariants (checked by op_event_validate()):
 *   size % 8 == 0, 112 <= size <= OP_EVENT_MAX_BYTES;
 *   parents, kv table and every string lie inside [0, size);
 *   no parent equals event_id; *_sym == XXH3_64bits(text of that field).
 */
struct op_event {
	uint64_t trace_id;   /* X-Trace task id (longer ids hashed, see decode.h) */
	uint64_t event_id;   /* op id; negative v4 ids stored two's complement */
	uint64_t start_ns;   /* HRT (v4) or Timestamp (text), reporting host clock */
	uint64_t end_ns;     /* EndHRT, valid iff flags & OP_EV_HAS_END */
	int64_t wall_ms;     /* Timestamp, ms since epoch (0 if absent) */
	uint64_t label_sym;  /* XXH3_64bits(label) */
	uint64_t host_sym;   /* XXH3_64bits(host) */
	uint64_t agent_sym;  /* XXH3_64bits(agent) */
	int64_t thread_id;   /* ThreadID (0 if absent) */
	int32_t process_id;  /* ProcessID (0 if absent) */
	uint32_t size;       /* bytes of the whole record, multiple of 8 */
	uint16_t n_parents;
	uint16_t n_kv;
	uint16_t flags;      /* OP_EV_* */
	uint16_t reserved;   /* zero */
	struct op_str str[OP_EV_NFIELDS];
	uint32_t src;        /* op_pos.src of its unit: 0 a file, else OP_SRC() */
};

_Static_assert(sizeof(struct op_event) == 112, "op_event header layout");
_Static_assert(_Alignof(struct op_event) == 8, "op_event alignment");

/* ---- accessors (ev must be a valid record) ---------------------------- */

static inline const uint64_t *
op_event_parents(const struct op_event *ev)
{
	return (const uint64_t *)(const void *)(ev + 1);
}

static inline const struct op_kv_ref *
op_event_kv_table(const struct op_event *ev)
{
	return (const struct op_kv_ref *)(const void *)(op_event_parents(ev) +
	                                                ev->n_parents);
}

/* The bytes of s inside ev; NUL-terminated. */
static inline const char *
op_event_strref(const struct op_event *ev, struct op_str s)
{
	return (const char *)ev + s.off;
}

/* Text of field f (OP_EV_*); *len gets its length. Never NULL ("" absent). */
static inline const char *
op_event_field(const struct op_event *ev, enum op_event_field f, size_t *len)
{
	if (len)
		*len = ev->str[f].len;
	return op_event_strref(ev, ev->str[f]);
}

static inline const char *
op_event_label(const struct op_event *ev, size_t *len)
{
	return op_event_field(ev, OP_EV_LABEL, len);
}

static inline const char *
op_event_host(const struct op_event *ev, size_t *len)
{
	return op_event_field(ev, OP_EV_HOST, len);
}

static inline const char *
op_event_agent(const struct op_event *ev, size_t *len)
{
	return op_event_field(ev, OP_EV_AGENT, len);
}

/* Key/value pair i (< n_kv): key and value texts with their lengths. */
static inline void
op_event_kv(const struct op_event *ev, unsigned i, const char **key,
            size_t *klen, const char **val, size_t *vlen)
{
	const struct op_kv_ref *r = &op_event_kv_table(ev)[i];
	*key = op_event_strref(ev, r->key);
	*klen = r->key.len;
	*val = op_event_strref(ev, r->val);
	*vlen = r->val.len;
}

/* Value of the first pair whose key is key[0..klen), or NULL. */
const char *op_event_kv_find(const struct op_event *ev, const char *key,
                             size_t klen, size_t *vlen);

/*
 * Checks that rec[0..len) is a well-formed record (all invariants above).
 * Returns 0 or WEFT_ECORRUPT. Use on records of untrusted origin; records
 * produced by op_event_builder_finish() always pass.
 */
int op_event_validate(const void *rec, size_t len);

/* Symbol of a text: XXH3_64bits. */
uint64_t op_symbol(const char *s, size_t len);

/* ---- builder ---------------------------------------------------------- */

/*
 * Scratch space for one event under construction. Fields are public so the
 * decoders can append in their hot loops; use the functions below unless
 * you need that. Strings accumulate in str[] (offsets relative to str);
 * finish() relocates them behind the parent and key/value tables.
 */
struct op_event_builder {
	struct op_event hdr;     /* ids, times, flags; str[] relative to str */
	uint64_t *parents;       /* [max_parents] */
	struct op_kv_ref *kv;    /* [max_kv], offsets relative to str */
	char *str;               /* [str_cap] string scratch */
	uint32_t n_parents, max_parents;
	uint32_t n_kv, max_kv;
	uint32_t str_len, str_cap;
	uint32_t max_record;     /* bound on the finished record */
	uint32_t keep_kv;        /* 0: finish() leaves the key/value pairs out
	                          * (set after init; see finish) */
};

/*
 * Allocates the scratch for records of at most max_record bytes (<=
 * OP_EVENT_MAX_BYTES) with up to max_parents parents and max_kv pairs.
 * Returns 0, WEFT_EINVAL or WEFT_ENOMEM. Free with op_event_builder_free().
 */
int op_event_builder_init(struct op_event_builder *b, uint32_t max_record,
                          uint32_t max_parents, uint32_t max_kv);
void op_event_builder_free(struct op_event_builder *b);

/* Starts a new event: clears header, parents, pairs and strings. */
void op_event_builder_reset(struct op_event_builder *b);

/* Appends a parent id; a duplicate of an earlier one is ignored.
 * Returns 0 or WEFT_ELIMIT (max_parents reached). */
int op_event_builder_add_parent(struct op_event_builder *b, uint64_t id);

/* Copies s[0..len) + NUL into the string scratch; stores its reference in
 * *out. Returns 0 or WEFT_ELIMIT (would exceed max_record). */
int op_event_builder_str(struct op_event_builder *b, const char *s,
                         size_t len, struct op_str *out);

/* Sets field f to a copy of s[0..len). 0 or WEFT_ELIMIT. */
int op_event_builder_set(struct op_event_builder *b, enum op_event_field f,
                         const char *s, size_t len);

/* Appends a key/value pair (copies both). 0 or WEFT_ELIMIT (max_kv or
 * record size). */
int op_event_builder_add_kv(struct op_event_builder *b, const char *k,
                            size_t klen, const char *v, size_t vlen);

/*
 * Lays the event out into out[0..cap) (out 8-byte aligned), computing the
 * symbols. *len gets the record size. Returns 0, WEFT_ELIMIT (the record
 * would exceed min(cap, max_record)) or WEFT_EFORMAT (a parent equals the
 * event id). The builder is left intact (reset it for the next event).
 * Without keep_kv the record has no key/value pairs (n_kv 0), and the
 * pairs' strings that follow the last field's are left out too (in the
 * order the decoders write a usual report in, all of them); the pairs
 * were still added, so their limits and duplicates were checked as ever.
 */
int op_event_builder_finish(struct op_event_builder *b, void *out,
                            uint32_t cap, uint32_t *len);

/* The size finish() would give the record now (it may exceed the limits
 * finish() checks). */
uint32_t op_event_builder_size(const struct op_event_builder *b);

/* The key/value pairs the record keeps. */
static inline uint32_t
op_event_builder_kept_kv(const struct op_event_builder *b)
{
	return b->keep_kv ? b->n_kv : 0;
}

/* Bytes of the record in front of its strings: header, parents, the
 * key/value table it keeps. */
static inline uint32_t
op_event_builder_tables(const struct op_event_builder *b)
{
	return (uint32_t)sizeof(struct op_event) + 8u * b->n_parents +
	       (uint32_t)sizeof(struct op_kv_ref) * op_event_builder_kept_kv(b);
}

/* At least that size: the whole string scratch counted, so without the
 * scan of the fields that op_event_builder_size makes when the pairs are
 * left out. For reserving room before finish(). */
static inline uint32_t
op_event_builder_bound(const struct op_event_builder *b)
{
	return (op_event_builder_tables(b) + b->str_len + 7u) & ~7u;
}

#ifdef __cplusplus
}
#endif
#endif /* WEFT_OP_EVENT_H */

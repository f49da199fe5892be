/*
 * json_cur.h — a small pull cursor over one JSON document, for the span
 * decoders (decode_otlp_json.c, decode_zipkin.c). Private to the ingest
 * room.
 *
 * The X-Trace decoder (decode_json.c) is a flat, key-predicting scanner
 * for one object of scalars; OTLP and Zipkin nest objects in arrays in
 * objects, with keys in any order. The cursor walks such a document
 * without building a tree: the caller asks for the next member or element
 * and either reads its value (string, number token, nested container) or
 * skips it. Strings without escapes are returned in place; escaped ones
 * are decoded into a buffer the caller gives. A saved position (jc.p) can
 * be parsed again, which is how a resource's attributes are read before
 * its spans even when they come after them.
 *
 * Errors stop the walk: jc.err gets the reason (syntax, too_deep,
 * bad_utf8, field_too_long) and jc.at the offset; every function then
 * returns -1 and the caller unwinds.
 */
#ifndef WEFT_OP_JSON_CUR_H
#define WEFT_OP_JSON_CUR_H

#include <stddef.h>
#include <stdint.h>

#include "operators/ingest/decode.h"

struct op_jc {
	const unsigned char *s, *p, *end; /* document, position, end */
	uint32_t depth, max_depth;        /* containers open / allowed */
	enum op_reject err;               /* first error (NONE: none) */
	uint32_t at;                      /* its offset in the document */
};

void op_jc_init(struct op_jc *c, const void *data, size_t n,
                uint32_t max_depth);
/* Sets the error (the first one sticks) and returns -1. */
int op_jc_fail(struct op_jc *c, enum op_reject r);
/* The next non-blank byte (not consumed), or -1 at the end. */
int op_jc_peek(struct op_jc *c);
/* Opens an object: 0, or -1 when the value there is not one (BAD_TYPE
 * if it is another value, SYNTAX otherwise). */
int op_jc_obj(struct op_jc *c);
/* Next member of the open object: 1 with its key (decoded into kbuf of
 * kcap bytes when escaped) and the cursor on its value, 0 at the end of
 * the object (closed), -1 on error. */
int op_jc_member(struct op_jc *c, const char **key, size_t *klen,
                 char *kbuf, size_t kcap);
int op_jc_arr(struct op_jc *c);
/* Next element of the open array: 1 (cursor on it), 0 at its end, -1. */
int op_jc_elem(struct op_jc *c);
/* A string value: *out points into the document or, when it has escapes,
 * into buf (cap bytes; longer: FIELD_TOO_LONG). 0 or -1 (BAD_TYPE when
 * the value is not a string). */
int op_jc_str(struct op_jc *c, const char **out, size_t *len, char *buf,
              size_t cap);
/* Skips one value of any kind (containers up to max_depth). */
int op_jc_skip(struct op_jc *c);
/* A number or a string holding one: its unsigned integer value. 0, or -1
 * (BAD_NUMBER for a negative, fractional or too large number). */
int op_jc_u64(struct op_jc *c, uint64_t *v, char *buf, size_t cap);
/* The raw text of the next value (any kind), skipping it. */
int op_jc_raw(struct op_jc *c, const char **out, size_t *len);
/* Offset of the cursor in the document. */
static inline uint32_t
op_jc_off(const struct op_jc *c)
{
	return (uint32_t)(c->p - c->s);
}

#endif /* WEFT_OP_JSON_CUR_H */

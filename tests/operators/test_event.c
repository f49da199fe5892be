/*
 * test_event.c — the relocatable event record: builder layout, bounds,
 * validation of corrupted records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_util.h"

static void
build_sample(struct op_event_builder *b)
{
	op_event_builder_reset(b);
	b->hdr.trace_id = 11;
	b->hdr.event_id = 22;
	assert_int_equal(op_event_builder_add_parent(b, 5), 0);
	assert_int_equal(op_event_builder_add_parent(b, 6), 0);
	assert_int_equal(op_event_builder_set(b, OP_EV_LABEL, "lbl", 3), 0);
	assert_int_equal(op_event_builder_set(b, OP_EV_HOST, "h", 1), 0);
	assert_int_equal(op_event_builder_add_kv(b, "k", 1, "value", 5), 0);
}

static void
test_builder_lays_out_header_parents_pairs_strings(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 1024, 4, 4), 0);
	build_sample(&b);
	uint64_t out[128];
	uint32_t len;
	assert_int_equal(op_event_builder_finish(&b, out, sizeof out, &len), 0);
	const struct op_event *e = (const void *)out;
	assert_int_equal(len % 8, 0);
	assert_int_equal(e->size, len);
	assert_int_equal(op_event_validate(e, len), 0);
	assert_int_equal((const char *)op_event_parents(e) - (const char *)e, 112);
	assert_true(op_event_parents(e)[1] == 6);
	assert_string_equal(op_event_label(e, NULL), "lbl");
	assert_string_equal(op_event_agent(e, NULL), "");
	const char *k, *v;
	size_t kl, vl;
	op_event_kv(e, 0, &k, &kl, &v, &vl);
	assert_string_equal(k, "k");
	assert_int_equal(vl, 5);
	/* compact: header + 2 parents + 1 pair + strings, padded */
	assert_true(len <= 112 + 16 + 8 + 24);
	op_event_builder_free(&b);
}

static void
test_builder_enforces_parent_and_pair_bounds(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 1024, 1, 1), 0);
	assert_int_equal(op_event_builder_add_parent(&b, 1), 0);
	assert_int_equal(op_event_builder_add_parent(&b, 1), 0); /* duplicate */
	assert_int_equal(op_event_builder_add_parent(&b, 2), WEFT_ELIMIT);
	assert_int_equal(op_event_builder_add_kv(&b, "a", 1, "b", 1), 0);
	assert_int_equal(op_event_builder_add_kv(&b, "c", 1, "d", 1), WEFT_ELIMIT);
	op_event_builder_free(&b);
}

static void
test_finish_refuses_a_buffer_too_small(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 1024, 4, 4), 0);
	build_sample(&b);
	uint64_t out[16];
	uint32_t len;
	assert_int_equal(op_event_builder_finish(&b, out, 120, &len), WEFT_ELIMIT);
	op_event_builder_free(&b);
}

static void
test_finish_refuses_self_parent(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 1024, 4, 4), 0);
	build_sample(&b);
	op_event_builder_add_parent(&b, 22);
	uint64_t out[128];
	uint32_t len;
	assert_int_equal(op_event_builder_finish(&b, out, sizeof out, &len), WEFT_EFORMAT);
	op_event_builder_free(&b);
}

static void
test_strings_beyond_record_bound_are_refused(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 256, 4, 4), 0);
	char big[300];
	memset(big, 'x', sizeof big);
	assert_int_equal(op_event_builder_set(&b, OP_EV_LABEL, big, sizeof big), WEFT_ELIMIT);
	assert_int_equal(op_event_builder_set(&b, OP_EV_LABEL, big, 200), 0);
	uint64_t out[64];
	uint32_t len;
	/* 112 + 1 + 201 > 256 */
	assert_int_equal(op_event_builder_finish(&b, out, sizeof out, &len), WEFT_ELIMIT);
	op_event_builder_free(&b);
}

static void
test_init_rejects_bounds_the_layout_cannot_address(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, OP_EVENT_MAX_BYTES + 8, 4, 4), WEFT_EINVAL);
	assert_int_equal(op_event_builder_init(&b, 64, 4, 4), WEFT_EINVAL);
}

static void
test_validate_catches_corruption(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 1024, 4, 4), 0);
	build_sample(&b);
	uint64_t out[128], copy[128];
	uint32_t len;
	assert_int_equal(op_event_builder_finish(&b, out, sizeof out, &len), 0);
	struct op_event *e = (void *)copy;
	memcpy(copy, out, len);
	e->str[OP_EV_LABEL].off = 60000;
	assert_int_equal(op_event_validate(e, len), WEFT_ECORRUPT);
	memcpy(copy, out, len);
	e->n_parents = 1000;
	assert_int_equal(op_event_validate(e, len), WEFT_ECORRUPT);
	memcpy(copy, out, len);
	e->label_sym ^= 1;
	assert_int_equal(op_event_validate(e, len), WEFT_ECORRUPT);
	memcpy(copy, out, len);
	assert_int_equal(op_event_validate(e, len - 8), WEFT_ECORRUPT);
	op_event_builder_free(&b);
}

/* Without keep_kv the record has no pairs, and the pairs' strings after
 * the last field's are left out; a pair that came first keeps its
 * strings (unreferenced) and the fields are still right. The pairs'
 * limit is checked either way. */
static void
test_finish_without_pairs_keeps_the_fields(void **state)
{
	(void)state;
	struct op_event_builder b;
	assert_int_equal(op_event_builder_init(&b, 1024, 4, 2), 0);
	uint64_t full[128], lean[128];
	uint32_t full_len, lean_len;
	for (int kv_first = 0; kv_first <= 1; kv_first++) {
		b.keep_kv = 1;
		op_event_builder_reset(&b);
		b.hdr.trace_id = 11;
		b.hdr.event_id = 22;
		assert_int_equal(op_event_builder_add_parent(&b, 5), 0);
		if (kv_first)
			assert_int_equal(op_event_builder_add_kv(&b, "Title", 5,
			                 "a long title nobody reads", 25), 0);
		assert_int_equal(op_event_builder_set(&b, OP_EV_LABEL, "lbl", 3), 0);
		assert_int_equal(op_event_builder_set(&b, OP_EV_HOST, "host1", 5), 0);
		assert_int_equal(op_event_builder_add_kv(&b, "Description", 11,
		                 "a description nobody reads", 26), 0);
		assert_int_equal(op_event_builder_finish(&b, full, sizeof full,
		                                         &full_len), 0);
		b.keep_kv = 0;
		assert_int_equal(op_event_builder_size(&b) <= full_len, 1);
		assert_int_equal(op_event_builder_finish(&b, lean, sizeof lean,
		                                         &lean_len), 0);
		assert_int_equal(lean_len, op_event_builder_size(&b));
		const struct op_event *e = (const void *)lean;
		assert_int_equal(op_event_validate(e, lean_len), 0);
		assert_int_equal(e->n_kv, 0);
		assert_int_equal(e->n_parents, 1);
		assert_true(op_event_parents(e)[0] == 5);
		assert_string_equal(op_event_label(e, NULL), "lbl");
		assert_string_equal(op_event_host(e, NULL), "host1");
		assert_string_equal(op_event_agent(e, NULL), "");
		assert_true(e->label_sym == op_symbol("lbl", 3));
		/* pairs after the fields: their table and strings are gone */
		uint32_t want = (112 + 8 + 1 + 4 + 6 + 7) & ~7u;
		if (!kv_first)
			assert_int_equal(lean_len, want);
		else
			assert_true(lean_len > want && lean_len < full_len);
	}
	/* the limit on pairs holds without them in the record */
	b.keep_kv = 0;
	op_event_builder_reset(&b);
	assert_int_equal(op_event_builder_add_kv(&b, "a", 1, "1", 1), 0);
	assert_int_equal(op_event_builder_add_kv(&b, "b", 1, "2", 1), 0);
	assert_int_equal(op_event_builder_add_kv(&b, "c", 1, "3", 1), WEFT_ELIMIT);
	op_event_builder_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_lays_out_header_parents_pairs_strings),
		cmocka_unit_test(test_builder_enforces_parent_and_pair_bounds),
		cmocka_unit_test(test_finish_refuses_a_buffer_too_small),
		cmocka_unit_test(test_finish_refuses_self_parent),
		cmocka_unit_test(test_strings_beyond_record_bound_are_refused),
		cmocka_unit_test(test_init_rejects_bounds_the_layout_cannot_address),
		cmocka_unit_test(test_validate_catches_corruption),
		cmocka_unit_test(test_finish_without_pairs_keeps_the_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

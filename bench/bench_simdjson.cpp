/*
 * bench_simdjson.cpp — the simdjson row of `weft bench decode`.
 *
 * Why C++ in a C project: simdjson has no C API, and the project brief asks
 * that weft's v4 JSON decoder be compared with it. This shim is the only C++
 * in weft; it is built only when a C++ compiler and libsimdjson-dev are
 * found (WEFT_HAVE_SIMDJSON), and it is linked only into the bench code.
 *
 * It does the same job as run_jsonc() in bench_decode.c: parse one line,
 * walk its fields, fill the shared op_event_builder (same key dispatch, the
 * same strtoull id conversion, the same snprintf for unknown integer keys,
 * raw JSON text for unknown arrays) and op_event_builder_finish(). It uses
 * the On-Demand API with one parser reused for every line, which is how
 * simdjson is meant to be used for many small documents.
 *
 * Padding: simdjson reads up to SIMDJSON_PADDING bytes past the end of the
 * input; their content does not matter, only that they are allocated. The
 * corpus (bench_decode.c, corpus_fill) is one buffer holding all lines with
 * at least BENCH_CORPUS_SLACK (64) allocated bytes after the last line, and
 * every other line is followed by the lines after it; so each line is
 * iterated in place, with no copy. Copying each line into a padded buffer
 * would charge simdjson a memcpy the other decoders do not pay.
 */
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <simdjson.h>

/* event.h is C11: it has its own extern "C" guard, but its layout checks use
 * _Static_assert and _Alignof, which C++ spells static_assert and alignof.
 * Map them for this one include rather than edit the header (the checks
 * then also hold in C++). */
#define _Static_assert static_assert
#define _Alignof alignof
extern "C" {
#include "operators/ingest/event.h"
}
#undef _Static_assert
#undef _Alignof

/* Must match BENCH_CORPUS_SLACK in bench_decode.c. */
static_assert(simdjson::SIMDJSON_PADDING <= 64, "corpus slack < SIMDJSON_PADDING");

extern "C" unsigned bench_simdjson_run(const char *text, const uint32_t *off,
                                       const uint32_t *len, unsigned n,
                                       struct op_event_builder *b,
                                       uint64_t *rec, uint32_t rec_cap);
extern "C" const char *bench_simdjson_version(void);

namespace {

namespace od = simdjson::ondemand;

/* id_from_text() of bench_decode.c; simdjson strings are not NUL-ended, so
 * the (at most 31-byte) id is copied to the stack for strtoull. */
uint64_t
id_from_text(std::string_view v, int hex)
{
	char s[32];
	size_t n = v.size() < sizeof s - 1 ? v.size() : sizeof s - 1;
	memcpy(s, v.data(), n);
	s[n] = '\0';
	if (s[0] == '-')
		return (uint64_t)0 - strtoull(s + 1, nullptr, hex ? 16 : 10);
	return strtoull(s, nullptr, hex ? 16 : 10);
}

/* set_text() of bench_decode.c. */
int
set_text(struct op_event_builder *b, std::string_view k, std::string_view v)
{
	struct op_event *h = &b->hdr;
	if (k == "Host") return op_event_builder_set(b, OP_EV_HOST, v.data(), v.size());
	if (k == "Agent") return op_event_builder_set(b, OP_EV_AGENT, v.data(), v.size());
	if (k == "Label") return op_event_builder_set(b, OP_EV_LABEL, v.data(), v.size());
	if (k == "ProcessName") return op_event_builder_set(b, OP_EV_PROCESS, v.data(), v.size());
	if (k == "ThreadName") return op_event_builder_set(b, OP_EV_THREAD, v.data(), v.size());
	if (k == "TaskID") { h->trace_id = id_from_text(v, 1); return 0; }
	if (k == "EventID") { h->event_id = id_from_text(v, 0); return 0; }
	return op_event_builder_add_kv(b, k.data(), k.size(), v.data(), v.size());
}

/* set_int() of bench_decode.c. */
int
set_int(struct op_event_builder *b, std::string_view k, int64_t v)
{
	struct op_event *h = &b->hdr;
	char num[24];
	if (k == "HRT") { h->start_ns = (uint64_t)v; return 0; }
	if (k == "Timestamp") { h->wall_ms = v; return 0; }
	if (k == "ProcessID") { h->process_id = (int32_t)v; return 0; }
	if (k == "ThreadID") { h->thread_id = v; return 0; }
	int nn = snprintf(num, sizeof num, "%" PRId64, v);
	return op_event_builder_add_kv(b, k.data(), k.size(), num, (size_t)nn);
}

/* One line into the builder; 0 or nonzero (parse error or builder limit).
 * Like run_jsonc(): strings, integers and arrays are used; floats, bools,
 * null and nested objects are skipped. */
int
decode_line(od::parser &p, const char *line, size_t n, struct op_event_builder *b)
{
	od::document doc;
	od::object obj;
	if (p.iterate(line, n, n + simdjson::SIMDJSON_PADDING).get(doc) ||
	    doc.get_object().get(obj))
		return -1;
	op_event_builder_reset(b);
	int rc = 0;
	for (auto field : obj) {
		std::string_view k;
		od::value v;
		od::json_type t;
		if (field.unescaped_key().get(k) || field.value().get(v) ||
		    v.type().get(t))
			return -1;
		switch (t) {
		case od::json_type::string: {
			std::string_view s;
			if (v.get_string().get(s))
				return -1;
			rc |= set_text(b, k, s);
			break;
		}
		case od::json_type::number: {
			int64_t i;
			if (!v.get_int64().get(i))
				rc |= set_int(b, k, i);
			break;
		}
		case od::json_type::array: {
			od::array a;
			if (v.get_array().get(a))
				return -1;
			if (k == "ParentEventID") {
				for (auto e : a) {
					std::string_view s;
					if (e.get_string().get(s))
						return -1;
					rc |= op_event_builder_add_parent(b, id_from_text(s, 0));
				}
			} else {
				std::string_view raw;
				if (a.raw_json().get(raw))
					return -1;
				rc |= op_event_builder_add_kv(b, k.data(), k.size(), raw.data(),
				                              raw.size());
			}
			break;
		}
		default:
			break;
		}
	}
	/* simdjson 3.0's document has no at_end(): like json_tokener_parse_ex,
	 * bytes after the object are not checked (the line ends there anyway). */
	return rc;
}

} // namespace

extern "C" unsigned
bench_simdjson_run(const char *text, const uint32_t *off, const uint32_t *len,
                   unsigned n, struct op_event_builder *b, uint64_t *rec,
                   uint32_t rec_cap)
{
	od::parser p; /* one parser for all lines; buffers sized on first use */
	unsigned ok = 0;
	uint32_t rlen;
	for (unsigned i = 0; i < n; i++)
		if (decode_line(p, text + off[i], len[i], b) == 0 &&
		    op_event_builder_finish(b, rec, rec_cap, &rlen) == 0)
			ok++;
	return ok;
}

/* builtin_implementation() would name the library's own build (fallback on
 * a plain x86-64 distro package), not the kernel this file's On-Demand code
 * was compiled for: take that from the macro. */
#define SJ_STR_(x) #x
#define SJ_STR(x) SJ_STR_(x)

extern "C" const char *
bench_simdjson_version(void)
{
	/* "3.0.1, haswell": header version and the kernel On-Demand was compiled
	 * for (On-Demand does not dispatch at run time; see meson.build). */
	static char v[64];
	if (!v[0])
		snprintf(v, sizeof v, "%d.%d.%d, %s", simdjson::SIMDJSON_VERSION_MAJOR,
		         simdjson::SIMDJSON_VERSION_MINOR,
		         simdjson::SIMDJSON_VERSION_REVISION,
		         SJ_STR(SIMDJSON_BUILTIN_IMPLEMENTATION));
	return v;
}

/*
 * test_opt.c — the one option parser (common/opt.h): both value forms,
 * strict numbers and ranges, errors that name the option, configuration
 * keys through the same table, generated help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "common/opt.h"

struct o {
	uint32_t n;
	uint64_t big;
	uint64_t bytes;
	unsigned w;
	int neg;
	double ratio;
	int full;
	int fmt;
	const char *out;
	int fn_calls;
	const char *fn_last;
};

static const char *const fmts[] = {"auto", "json", "text", NULL};

static int
count_fn(void *target, const char *v, char *err, size_t errlen)
{
	struct o *x = target;
	if (v && !strcmp(v, "bad")) {
		weft_errf(err, errlen, "'bad' is refused");
		return WEFT_EINVAL;
	}
	x->fn_calls++;
	x->fn_last = v;
	return 0;
}

#define OFF(f) offsetof(struct o, f)
static const struct weft_opt opts[] = {
	{.name = "n", .kind = WEFT_OPT_U32, .off = OFF(n), .meta = "N",
	 .help = "a count", .lo = 1, .hi = 100, .key = "count.n"},
	{.name = "big", .kind = WEFT_OPT_U64, .off = OFF(big), .meta = "N",
	 .help = "a big count"},
	{.name = "bytes", .kind = WEFT_OPT_BYTES, .off = OFF(bytes), .meta = "SIZE",
	 .help = "a size", .key = "size"},
	{.name = "workers", .kind = WEFT_OPT_UINT, .off = OFF(w), .meta = "W",
	 .help = "workers", .hi = 64},
	{.name = "neg", .kind = WEFT_OPT_INT, .off = OFF(neg), .meta = "I",
	 .help = "signed", .slo = -5, .shi = 5},
	{.name = "ratio", .kind = WEFT_OPT_DOUBLE, .off = OFF(ratio), .meta = "R",
	 .help = "a ratio", .dlo = 0, .dhi = 1},
	{.name = "full", .kind = WEFT_OPT_FLAG, .off = OFF(full),
	 .help = "a flag", .key = "full"},
	{.name = "format", .kind = WEFT_OPT_CHOICE, .off = OFF(fmt), .meta = "F",
	 .help = "a format", .choices = fmts},
	{.name = "out", .kind = WEFT_OPT_STR, .off = OFF(out), .meta = "PATH",
	 .help = "a path", .flags = WEFT_OPT_CLI_ONLY, .key = "out", .alias = 'o'},
	{.name = "dot", .kind = WEFT_OPT_FN, .off = 0, .meta = "ID",
	 .help = "repeatable", .fn = count_fn},
	{.name = "secret", .kind = WEFT_OPT_STR, .off = OFF(out), .meta = "S",
	 .help = "config only", .key = "secret", .flags = WEFT_OPT_CONF_ONLY},
	{0},
};
static const struct weft_cmd cmd = {
	.name = "weft t", .usage = "[options] FILE", .about = "a test command",
	.opts = opts, .min_pos = 1, .max_pos = 2,
};

static char err[256];
static char *pos[32];
static int npos;

/* Parses the NULL-terminated arguments after the command name. */
static int
parse(struct o *x, ...)
{
	char *argv[32] = {"t"};
	int argc = 1;
	va_list ap;
	va_start(ap, x);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	memset(x, 0, sizeof *x);
	err[0] = 0;
	npos = -1;
	return weft_opt_parse(&cmd, x, argc, argv, pos, &npos, err, sizeof err);
}

static void
test_both_value_forms_mean_the_same(void **state)
{
	(void)state;
	struct o a, b;
	assert_int_equal(parse(&a, "--n", "7", "--bytes", "2k", "--ratio", "0.5",
	                       "--format", "text", "--out", "x", "F", NULL), 0);
	assert_int_equal(parse(&b, "--n=7", "--bytes=2k", "--ratio=0.5",
	                       "--format=text", "--out=x", "F", NULL), 0);
	assert_int_equal(a.n, 7);
	assert_int_equal(b.n, 7);
	assert_int_equal(a.bytes, 2048);
	assert_int_equal(b.bytes, 2048);
	assert_true(a.ratio == 0.5 && b.ratio == 0.5);
	assert_int_equal(a.fmt, 2);
	assert_int_equal(b.fmt, 2);
	assert_string_equal(a.out, "x");
	assert_string_equal(b.out, "x");
	assert_int_equal(npos, 1);
	assert_string_equal(pos[0], "F");
}

static void
test_unknown_option_is_named_even_last(void **state)
{
	(void)state;
	struct o x;
	assert_int_equal(parse(&x, "F", "--bogus", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "unknown option --bogus"));
	assert_int_equal(parse(&x, "--bogus=3", "F", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "unknown option --bogus"));
	assert_int_equal(parse(&x, "-x", "F", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "unknown option -x"));
	/* an alias is the option itself; -oVALUE is not a form */
	assert_int_equal(parse(&x, "-o", "p", "F", NULL), 0);
	assert_string_equal(x.out, "p");
	assert_int_equal(parse(&x, "-op", "F", NULL), WEFT_EINVAL);
	assert_int_equal(parse(&x, "F", "-o", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "-o (--out) needs a value"));
}

static void
test_missing_and_bad_values_name_the_option(void **state)
{
	(void)state;
	struct o x;
	assert_int_equal(parse(&x, "F", "--n", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "--n needs a value"));
	const char *bad[] = {"0", "101", "-1", "7x", "", " 7", "1e3"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char arg[32];
		snprintf(arg, sizeof arg, "--n=%s", bad[i]);
		assert_int_equal(parse(&x, arg, "F", NULL), WEFT_EINVAL);
		assert_non_null(strstr(err, "--n:"));
		assert_non_null(strstr(err, "1..100"));
	}
	assert_int_equal(parse(&x, "--neg=-6", "F", NULL), WEFT_EINVAL);
	assert_int_equal(parse(&x, "--neg=-5", "F", NULL), 0);
	assert_int_equal(x.neg, -5);
	assert_int_equal(parse(&x, "--ratio=1.5", "F", NULL), WEFT_EINVAL);
	assert_int_equal(parse(&x, "--ratio=nan", "F", NULL), WEFT_EINVAL);
	assert_int_equal(parse(&x, "--workers=65", "F", NULL), WEFT_EINVAL);
	assert_int_equal(parse(&x, "--format=xml", "F", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "auto, json, text"));
	assert_int_equal(parse(&x, "--big=18446744073709551616", "F", NULL),
	                 WEFT_EINVAL);
	assert_int_equal(parse(&x, "--big=18446744073709551615", "F", NULL), 0);
	assert_true(x.big == UINT64_MAX);
	assert_int_equal(parse(&x, "--bytes=17179869184g", "F", NULL), WEFT_EINVAL);
	assert_int_equal(parse(&x, "--bytes=1MiB", "F", NULL), 0);
	assert_int_equal(x.bytes, 1u << 20);
}

static void
test_flags_and_functions(void **state)
{
	(void)state;
	struct o x;
	assert_int_equal(parse(&x, "--full", "F", NULL), 0);
	assert_int_equal(x.full, 1);
	assert_int_equal(parse(&x, "--full=no", "F", NULL), 0);
	assert_int_equal(x.full, 0);
	assert_int_equal(parse(&x, "--full=maybe", "F", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "--full"));
	assert_int_equal(parse(&x, "--dot", "a", "--dot=b", "F", NULL), 0);
	assert_int_equal(x.fn_calls, 2);
	assert_string_equal(x.fn_last, "b");
	assert_int_equal(parse(&x, "--dot=bad", "F", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "--dot: 'bad' is refused"));
}

static void
test_positional_arguments(void **state)
{
	(void)state;
	struct o x;
	assert_int_equal(parse(&x, NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "missing argument"));
	assert_int_equal(parse(&x, "a", "b", "c", NULL), WEFT_EINVAL);
	assert_non_null(strstr(err, "'c'"));
	assert_int_equal(parse(&x, "-", "--", "--n", NULL), 0);
	assert_int_equal(npos, 2);
	assert_string_equal(pos[0], "-");
	assert_string_equal(pos[1], "--n");
	/* pos needs room for max_pos only, however many are given (ASan
	 * would see a write past this array) */
	char *small[2];
	char *many[] = {"t", "p1", "p2", "p3", "p4", "p5"};
	int n = -1;
	memset(&x, 0, sizeof x);
	assert_int_equal(weft_opt_parse(&cmd, &x, 6, many, small, &n, err, sizeof err),
	                 WEFT_EINVAL);
	assert_non_null(strstr(err, "'p3'"));
	/* no room asked for: the parser keeps its own */
	assert_int_equal(weft_opt_run(&cmd, &x, 3, many, NULL, NULL), -1);
	/* a config-only key is no command-line option */
	assert_int_equal(parse(&x, "--secret=s", "F", NULL), WEFT_EINVAL);
}

static void
test_config_keys_use_the_same_table(void **state)
{
	(void)state;
	struct o x = {0};
	assert_int_equal(weft_opt_set(opts, &x, "count.n", "9", 1, err, sizeof err), 0);
	assert_int_equal(x.n, 9);
	assert_int_equal(weft_opt_set(opts, &x, "count.n", "900", 1, err, sizeof err),
	                 WEFT_EINVAL);
	assert_non_null(strstr(err, "count.n:"));
	assert_int_equal(weft_opt_set(opts, &x, "size", "3m", 1, err, sizeof err), 0);
	assert_int_equal(x.bytes, 3u << 20);
	assert_int_equal(weft_opt_set(opts, &x, "secret", "s", 1, err, sizeof err), 0);
	assert_string_equal(x.out, "s");
	/* a command-line-only option has no key */
	assert_int_equal(weft_opt_set(opts, &x, "out", "p", 1, err, sizeof err),
	                 WEFT_ENOTFOUND);
	assert_int_equal(weft_opt_set(opts, &x, "nope", "1", 1, err, sizeof err),
	                 WEFT_ENOTFOUND);
	assert_non_null(strstr(err, "nope"));
}

static char *
capture(void (*fn)(FILE *f, const void *arg), const void *arg)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	assert_non_null(f);
	fn(f, arg);
	fclose(f);
	return text;
}

static void
help_of(FILE *f, const void *arg)
{
	weft_opt_help(&cmd, arg, f);
}

static void
keys_of(FILE *f, const void *arg)
{
	(void)arg;
	weft_opt_keys(opts, f);
}

static void
test_help_and_keys_are_generated(void **state)
{
	(void)state;
	struct o x = {.n = 42, .fmt = 1, .out = "o.jsonl"};
	char *h = capture(help_of, &x);
	assert_non_null(strstr(h, "usage: weft t [options] FILE"));
	assert_non_null(strstr(h, "--n N"));
	assert_non_null(strstr(h, "[42]"));          /* the current default */
	assert_non_null(strstr(h, "auto|json|text"));
	assert_non_null(strstr(h, "[json]"));
	assert_non_null(strstr(h, "[o.jsonl]"));
	assert_null(strstr(h, "--secret"));          /* config only */
	free(h);
	char *k = capture(keys_of, NULL);
	assert_non_null(strstr(k, "count.n\tN\ta count\n"));
	assert_non_null(strstr(k, "secret\tS\t"));
	assert_null(strstr(k, "out\t"));             /* command line only */
	free(k);
}

static int
verb_ok(int argc, char **argv)
{
	return argc == 2 && !strcmp(argv[0], "go") && !strcmp(argv[1], "x") ? 7 : 1;
}

static void
test_verbs(void **state)
{
	(void)state;
	static const struct weft_verb verbs[] = {{"go", "goes", verb_ok}, {0}};
	char *a1[] = {"g", "go", "x"};
	assert_int_equal(weft_verb_run("g", NULL, verbs, 3, a1), 7);
	char *a2[] = {"g", "stop"};
	assert_int_equal(weft_verb_run("g", NULL, verbs, 2, a2), WEFT_OPT_EXIT_USAGE);
	char *a3[] = {"g"};
	assert_int_equal(weft_verb_run("g", NULL, verbs, 1, a3), WEFT_OPT_EXIT_USAGE);
	FILE *saved = stdout;
	stdout = fopen("/dev/null", "w");
	char *a4[] = {"g", "--help"};
	int rc = weft_verb_run("g", NULL, verbs, 2, a4);
	fclose(stdout);
	stdout = saved;
	assert_int_equal(rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_value_forms_mean_the_same),
		cmocka_unit_test(test_unknown_option_is_named_even_last),
		cmocka_unit_test(test_missing_and_bad_values_name_the_option),
		cmocka_unit_test(test_flags_and_functions),
		cmocka_unit_test(test_positional_arguments),
		cmocka_unit_test(test_config_keys_use_the_same_table),
		cmocka_unit_test(test_help_and_keys_are_generated),
		cmocka_unit_test(test_verbs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

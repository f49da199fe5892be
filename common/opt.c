/*
 * opt.c — the one option parser (opt.h): argv and configuration-file keys
 * against a command's table, and the help generated from it.
 *
 * Numbers are parsed strictly: the whole text must be the number (no
 * trailing junk, no sign for unsigned kinds, no empty value), in base 10
 * (or 0x hex for unsigned kinds), and in the option's range; every error
 * names the option and says what it expected, so a user never has to
 * guess which of many options was wrong.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/opt.h"

static void *
field(void *target, const struct weft_opt *o)
{
	return (char *)target + o->off;
}

static const void *
cfield(const void *target, const struct weft_opt *o)
{
	return (const char *)target + o->off;
}

static uint64_t
kind_max(enum weft_opt_kind k)
{
	switch (k) {
	case WEFT_OPT_U32: return UINT32_MAX;
	case WEFT_OPT_UINT: return UINT_MAX;
	default: return UINT64_MAX;
	}
}

/* Unsigned number with optional 1024^n suffix (bytes). */
static int
parse_unsigned(const char *v, int suffix, uint64_t *out)
{
	if (!*v || *v == '-' || *v == '+' || *v == ' ')
		return -1;
	errno = 0;
	char *end;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || end == v)
		return -1;
	if (suffix && *end) {
		unsigned shift;
		switch (*end | 0x20) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		default: return -1;
		}
		end++;
		if ((*end | 0x20) == 'i')
			end++;
		if ((*end | 0x20) == 'b')
			end++;
		if (x > (UINT64_MAX >> shift))
			return -1;
		x <<= shift;
	}
	if (*end)
		return -1;
	*out = x;
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(v, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
set_unsigned(const struct weft_opt *o, void *target, const char *label,
             const char *v, char *err, size_t errlen)
{
	uint64_t hi = o->hi ? o->hi : kind_max(o->kind);
	uint64_t x;
	if (parse_unsigned(v, o->kind == WEFT_OPT_BYTES, &x) || x < o->lo ||
	    x > hi) {
		weft_errf(err, errlen,
		          "%s: '%s' is not %s in %" PRIu64 "..%" PRIu64, label, v,
		          o->kind == WEFT_OPT_BYTES ? "a size (k/m/g suffix allowed)"
		                                    : "a whole number",
		          o->lo, hi);
		return WEFT_EINVAL;
	}
	void *f = field(target, o);
	switch (o->kind) {
	case WEFT_OPT_U32: *(uint32_t *)f = (uint32_t)x; break;
	case WEFT_OPT_UINT: *(unsigned *)f = (unsigned)x; break;
	default: *(uint64_t *)f = x; break;
	}
	return 0;
}

static int
set_int(const struct weft_opt *o, void *target, const char *label,
        const char *v, char *err, size_t errlen)
{
	int64_t lo = o->slo, hi = o->shi;
	if (!lo && !hi) {
		lo = INT_MIN;
		hi = INT_MAX;
	}
	errno = 0;
	char *end;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi) {
		weft_errf(err, errlen, "%s: '%s' is not a whole number in %" PRId64
		          "..%" PRId64, label, v, lo, hi);
		return WEFT_EINVAL;
	}
	*(int *)field(target, o) = (int)x;
	return 0;
}

static int
set_double(const struct weft_opt *o, void *target, const char *label,
           const char *v, char *err, size_t errlen)
{
	double lo = o->dlo, hi = o->dhi;
	if (lo == 0 && hi == 0) {
		lo = -DBL_MAX;
		hi = DBL_MAX;
	}
	errno = 0;
	char *end;
	double x = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
		weft_errf(err, errlen, "%s: '%s' is not a number in %g..%g", label,
		          v, lo, hi);
		return WEFT_EINVAL;
	}
	*(double *)field(target, o) = x;
	return 0;
}

static int
set_choice(const struct weft_opt *o, void *target, const char *label,
           const char *v, char *err, size_t errlen)
{
	for (int i = 0; o->choices && o->choices[i]; i++) {
		if (!strcmp(o->choices[i], v)) {
			*(int *)field(target, o) = i;
			return 0;
		}
	}
	char list[256] = "";
	size_t n = 0;
	for (int i = 0; o->choices && o->choices[i] && n < sizeof list; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
		                      i ? ", " : "", o->choices[i]);
	weft_errf(err, errlen, "%s: '%s' is not one of %s", label, v, list);
	return WEFT_EINVAL;
}

/* Applies value v (NULL: a flag given without a value) to option o. */
static int
apply(const struct weft_opt *o, void *target, const char *label,
      const char *v, char *err, size_t errlen)
{
	switch (o->kind) {
	case WEFT_OPT_FLAG: {
		int b = 1;
		if (v && parse_bool(v, &b)) {
			weft_errf(err, errlen, "%s: '%s' is not true or false", label, v);
			return WEFT_EINVAL;
		}
		*(int *)field(target, o) = b;
		return 0;
	}
	case WEFT_OPT_STR:
		*(const char **)field(target, o) = v;
		return 0;
	case WEFT_OPT_U32:
	case WEFT_OPT_U64:
	case WEFT_OPT_UINT:
	case WEFT_OPT_BYTES:
		return set_unsigned(o, target, label, v, err, errlen);
	case WEFT_OPT_INT:
		return set_int(o, target, label, v, err, errlen);
	case WEFT_OPT_DOUBLE:
		return set_double(o, target, label, v, err, errlen);
	case WEFT_OPT_CHOICE:
		return set_choice(o, target, label, v, err, errlen);
	case WEFT_OPT_FN: {
		char msg[200] = "";
		int rc = o->fn(target, v, msg, sizeof msg);
		if (rc)
			weft_errf(err, errlen, "%s: %s", label,
			          msg[0] ? msg : "bad value");
		return rc ? WEFT_EINVAL : 0;
	}
	}
	weft_errf(err, errlen, "%s: option of unknown kind", label);
	return WEFT_EINVAL;
}

static int
takes_value(const struct weft_opt *o)
{
	return o->kind != WEFT_OPT_FLAG && !(o->kind == WEFT_OPT_FN && !o->meta);
}

static const struct weft_opt *
find_name(const struct weft_opt *opts, const char *name, size_t n)
{
	for (const struct weft_opt *o = opts; o && o->name; o++)
		if (!(o->flags & WEFT_OPT_CONF_ONLY) && strlen(o->name) == n &&
		    !memcmp(o->name, name, n))
			return o;
	return NULL;
}

/* One "--name[=value]" at argv[*i]; may consume argv[*i + 1]. */
static int
parse_long(const struct weft_cmd *cmd, void *target, int argc, char **argv,
           int *i, char *err, size_t errlen)
{
	const char *arg = argv[*i] + 2;
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct weft_opt *o = find_name(cmd->opts, arg, n);
	if (!o) {
		weft_errf(err, errlen, "unknown option --%.*s", (int)n, arg);
		return WEFT_EINVAL;
	}
	char label[96];
	snprintf(label, sizeof label, "--%s", o->name);
	const char *v = eq ? eq + 1 : NULL;
	if (!v && takes_value(o)) {
		if (*i + 1 >= argc) {
			weft_errf(err, errlen, "%s needs a value (%s)", label,
			          o->meta ? o->meta : "VALUE");
			return WEFT_EINVAL;
		}
		v = argv[++*i];
	} else if (v && !takes_value(o) && o->kind == WEFT_OPT_FN) {
		weft_errf(err, errlen, "%s takes no value", label);
		return WEFT_EINVAL;
	}
	return apply(o, target, label, v, err, errlen);
}

/* One "-x VALUE" (or a flag "-x") at argv[*i]. */
static int
parse_short(const struct weft_cmd *cmd, void *target, int argc, char **argv,
            int *i, char *err, size_t errlen)
{
	const char *a = argv[*i];
	const struct weft_opt *o = NULL;
	if (!a[2])
		for (const struct weft_opt *x = cmd->opts; x && x->name; x++)
			if (x->alias == a[1] && !(x->flags & WEFT_OPT_CONF_ONLY))
				o = x;
	if (!o) {
		weft_errf(err, errlen, "unknown option %s", a);
		return WEFT_EINVAL;
	}
	char label[96];
	snprintf(label, sizeof label, "-%c (--%s)", o->alias, o->name);
	const char *v = NULL;
	if (takes_value(o)) {
		if (*i + 1 >= argc) {
			weft_errf(err, errlen, "%s needs a value (%s)", label,
			          o->meta ? o->meta : "VALUE");
			return WEFT_EINVAL;
		}
		v = argv[++*i];
	}
	return apply(o, target, label, v, err, errlen);
}

int
weft_opt_parse(const struct weft_cmd *cmd, void *target, int argc,
               char **argv, char **pos, int *npos, char *err, size_t errlen)
{
	int np = 0, only_pos = 0;
	const char *extra = NULL; /* the first positional past max_pos */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || !a[1]) {
			if ((unsigned)np < cmd->max_pos)
				pos[np] = argv[i];
			else if (!extra)
				extra = argv[i];
			np++;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			weft_opt_help(cmd, target, stdout);
			return WEFT_OPT_HELP;
		}
		if (a[1] != '-') {
			int rc = parse_short(cmd, target, argc, argv, &i, err, errlen);
			if (rc)
				return rc;
			continue;
		}
		int rc = parse_long(cmd, target, argc, argv, &i, err, errlen);
		if (rc)
			return rc;
	}
	*npos = np;
	if ((unsigned)np < cmd->min_pos) {
		weft_errf(err, errlen, "missing argument: %s", cmd->usage);
		return WEFT_EINVAL;
	}
	if ((unsigned)np > cmd->max_pos) {
		weft_errf(err, errlen, "unexpected argument '%s'", extra);
		return WEFT_EINVAL;
	}
	return 0;
}

int
weft_opt_usage(const struct weft_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(%s --help lists the options)\n", cmd->name);
	return WEFT_OPT_EXIT_USAGE;
}

int
weft_opt_run(const struct weft_cmd *cmd, void *target, int argc, char **argv,
             char **pos, int *npos)
{
	char err[512];
	char **own = NULL;
	int own_n = 0;
	if (!pos) {
		if (!(own = calloc((size_t)cmd->max_pos + 1, sizeof *own))) {
			fprintf(stderr, "%s: out of memory\n", cmd->name);
			return 1;
		}
		pos = own;
	}
	if (!npos)
		npos = &own_n;
	int rc = weft_opt_parse(cmd, target, argc, argv, pos, npos, err, sizeof err);
	free(own);
	if (rc == WEFT_OPT_HELP)
		return 0;
	if (rc)
		return weft_opt_usage(cmd, "%s", err);
	return -1;
}

int
weft_opt_set(const struct weft_opt *opts, void *target, const char *name,
             const char *value, int by_key, char *err, size_t errlen)
{
	for (const struct weft_opt *o = opts; o && o->name; o++) {
		const char *n = by_key ? o->key : o->name;
		if (!n || strcmp(n, name))
			continue;
		if (by_key && (o->flags & WEFT_OPT_CLI_ONLY))
			continue;
		if (!value && takes_value(o)) {
			weft_errf(err, errlen, "%s needs a value", name);
			return WEFT_EINVAL;
		}
		return apply(o, target, name, value, err, errlen);
	}
	weft_errf(err, errlen, "unknown key '%s'", name);
	return WEFT_ENOTFOUND;
}

/* The current value of o in target, as text ("" when not shown). */
static void
current(const struct weft_opt *o, const void *target, char *out, size_t n)
{
	out[0] = 0;
	if (o->flags & WEFT_OPT_NO_DEFAULT)
		return;
	const void *f = cfield(target, o);
	switch (o->kind) {
	case WEFT_OPT_FLAG:
		if (*(const int *)f)
			snprintf(out, n, "on");
		return;
	case WEFT_OPT_STR:
		if (*(const char *const *)f)
			snprintf(out, n, "%s", *(const char *const *)f);
		return;
	case WEFT_OPT_U32: snprintf(out, n, "%" PRIu32, *(const uint32_t *)f); return;
	case WEFT_OPT_UINT: snprintf(out, n, "%u", *(const unsigned *)f); return;
	case WEFT_OPT_U64:
	case WEFT_OPT_BYTES: snprintf(out, n, "%" PRIu64, *(const uint64_t *)f); return;
	case WEFT_OPT_INT: snprintf(out, n, "%d", *(const int *)f); return;
	case WEFT_OPT_DOUBLE: snprintf(out, n, "%g", *(const double *)f); return;
	case WEFT_OPT_CHOICE: {
		int i = *(const int *)f;
		if (o->choices && i >= 0)
			snprintf(out, n, "%s", o->choices[i]);
		return;
	}
	case WEFT_OPT_FN:
		return;
	}
}

void
weft_opt_help(const struct weft_cmd *cmd, const void *target, FILE *f)
{
	fprintf(f, "usage: %s %s\n", cmd->name, cmd->usage ? cmd->usage : "");
	if (cmd->about)
		fprintf(f, "\n%s\n", cmd->about);
	fprintf(f, "\noptions (--name VALUE or --name=VALUE):\n");
	for (const struct weft_opt *o = cmd->opts; o && o->name; o++) {
		if (o->flags & WEFT_OPT_CONF_ONLY)
			continue;
		char head[96], cur[160];
		char al[8] = "";
		if (o->alias)
			snprintf(al, sizeof al, "-%c, ", o->alias);
		snprintf(head, sizeof head, "%s--%s%s%s", al, o->name, o->meta ? " " : "",
		         o->meta ? o->meta : "");
		current(o, target, cur, sizeof cur);
		fprintf(f, "  %-26s %s", head, o->help ? o->help : "");
		if (o->kind == WEFT_OPT_CHOICE && o->choices) {
			fprintf(f, " (");
			for (int i = 0; o->choices[i]; i++)
				fprintf(f, "%s%s", i ? "|" : "", o->choices[i]);
			fprintf(f, ")");
		}
		if (cur[0])
			fprintf(f, " [%s]", cur);
		fputc('\n', f);
	}
	fprintf(f, "  %-26s %s\n", "--help", "this help");
	if (cmd->epilog)
		fprintf(f, "\n%s\n", cmd->epilog);
	fprintf(f, "\nexit status: 0 done, 1 runtime failure, 2 usage error\n");
}

void
weft_opt_keys(const struct weft_opt *opts, FILE *f)
{
	for (const struct weft_opt *o = opts; o && o->name; o++)
		if (o->key && !(o->flags & WEFT_OPT_CLI_ONLY))
			fprintf(f, "%s\t%s\t%s\n", o->key, o->meta ? o->meta : "",
			        o->help ? o->help : "");
}

int
weft_verb_run(const char *group, const char *about,
              const struct weft_verb *verbs, int argc, char **argv)
{
	const char *v = argc > 1 ? argv[1] : NULL;
	int help = v && (!strcmp(v, "--help") || !strcmp(v, "-h") ||
	                 !strcmp(v, "help"));
	if (v && !help) {
		for (const struct weft_verb *x = verbs; x->name; x++)
			if (!strcmp(x->name, v))
				return x->main(argc - 1, argv + 1);
	}
	FILE *f = help ? stdout : stderr;
	if (v && !help)
		fprintf(f, "%s: unknown command '%s'\n\n", group, v);
	fprintf(f, "usage: %s COMMAND [options]\n", group);
	if (about)
		fprintf(f, "\n%s\n", about);
	fprintf(f, "\ncommands (%s COMMAND --help for each):\n", group);
	for (const struct weft_verb *x = verbs; x->name; x++)
		fprintf(f, "  %-18s %s\n", x->name, x->help);
	fprintf(f, "\nexit status: 0 done, 1 runtime failure, 2 usage error\n");
	return help ? 0 : WEFT_OPT_EXIT_USAGE;
}

/*
 * opt.h — one option table per command, read by one parser.
 *
 * Every `weft` command and subcommand describes its options in a table of
 * struct weft_opt: the name (--name on the command line, and, where set,
 * a key in a configuration file), the kind of value, its range, the field
 * of the command's option struct it sets (an offset), a metavariable and
 * a help line. One parser reads argv against that table, the same code
 * applies configuration-file keys, and --help is generated from it, so
 * parsing, ranges, defaults and help cannot drift apart (redis's
 * static_configs[] is the model).
 *
 * The defaults are not in the table: they are whatever the command's
 * option struct holds before parsing (its *_init/_default functions set
 * them), and --help prints the struct's current value as the default. So
 * one place sets a default and the help cannot lie about it.
 *
 * Conventions the parser enforces for every command:
 *   --name value and --name=value mean the same; "--" ends the options;
 *   "-" alone is a positional argument (standard input); an option may
 *   have a one-letter alias, used as -x VALUE (no bundling, no -xVALUE);
 *   a flag takes no value, or =1/0/true/false/yes/no with '=';
 *   an unknown option, a missing or bad value, or a wrong number of
 *   positional arguments is a usage error naming the option: the command
 *   prints it and exits 2 (WEFT_OPT_EXIT_USAGE); --help prints the help to
 *   stdout and exits 0. Runtime failures exit 1.
 *
 * Strings are not copied: a WEFT_OPT_STR field points into argv, or into
 * the buffer the caller passed to weft_opt_set(), which must outlive it.
 */
#ifndef WEFT_COMMON_OPT_H
#define WEFT_COMMON_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum weft_opt_kind {
	WEFT_OPT_FLAG = 1, /* int: set to 1 (or 0 with =0/false/no) */
	WEFT_OPT_STR,      /* const char *: the text */
	WEFT_OPT_U32,      /* uint32_t in [lo, hi] */
	WEFT_OPT_U64,      /* uint64_t in [lo, hi] */
	WEFT_OPT_UINT,     /* unsigned in [lo, hi] */
	WEFT_OPT_INT,      /* int in [slo, shi] */
	WEFT_OPT_DOUBLE,   /* double in [dlo, dhi] */
	WEFT_OPT_BYTES,    /* uint64_t with an optional k/m/g suffix (1024^n) */
	WEFT_OPT_CHOICE,   /* int: the index of the value in choices */
	WEFT_OPT_FN,       /* fn(target, value) parses it */
};

/* Option is only a configuration-file key / only a command-line option. */
#define WEFT_OPT_CONF_ONLY 1u
#define WEFT_OPT_CLI_ONLY 2u
/* Say nothing of the current value in --help (e.g. a list being built). */
#define WEFT_OPT_NO_DEFAULT 4u

struct weft_opt {
	const char *name;  /* long name without "--" (NULL ends a table) */
	enum weft_opt_kind kind;
	size_t off;        /* offset of the field in the command's struct */
	const char *meta;  /* value's name in help ("N", "FILE"); flags: NULL */
	const char *help;  /* one line */
	uint64_t lo, hi;   /* unsigned kinds: inclusive range (hi 0: kind max) */
	int64_t slo, shi;  /* WEFT_OPT_INT: inclusive range (both 0: any int) */
	double dlo, dhi;   /* WEFT_OPT_DOUBLE: inclusive range (both 0: any) */
	const char *const *choices; /* WEFT_OPT_CHOICE: NULL-terminated */
	/* WEFT_OPT_FN: parses value (NULL for a flag-like option given
	 * without a value: only when meta is NULL) into target; 0, or
	 * WEFT_EINVAL with a message (the parser prefixes the option). */
	int (*fn)(void *target, const char *value, char *err, size_t errlen);
	const char *key;   /* configuration-file key (NULL: none) */
	unsigned flags;    /* WEFT_OPT_* flags above */
	char alias;        /* a one-letter form: -x VALUE (0: none) */
};

/* A command: its name as typed ("weft replay"), what follows the name in
 * the usage line, a paragraph for --help, its table (ended by a zeroed
 * entry) and how many positional arguments it takes. */
struct weft_cmd {
	const char *name;
	const char *usage;
	const char *about;
	const struct weft_opt *opts;
	unsigned min_pos, max_pos; /* max_pos 0 with min_pos 0: none */
	const char *epilog;        /* printed after the options (or NULL) */
};

#define WEFT_OPT_HELP 1        /* weft_opt_parse(): --help was printed */
#define WEFT_OPT_EXIT_USAGE 2  /* exit status of a usage error */

/*
 * Parses argv[1..argc-1] (argv[0] is the command's name) into target.
 * Positional arguments are stored, in order, into pos (room for
 * cmd->max_pos pointers) and counted in *npos. Returns 0; WEFT_OPT_HELP after printing
 * the help to stdout; or WEFT_EINVAL with a message naming the option in
 * err (the command prints "NAME: err" and exits WEFT_OPT_EXIT_USAGE).
 */
int weft_opt_parse(const struct weft_cmd *cmd, void *target, int argc,
                   char **argv, char **pos, int *npos, char *err,
                   size_t errlen);

/* A usage error found after parsing (options that conflict, ...): prints
 * "NAME: message" and the --help hint to stderr; returns
 * WEFT_OPT_EXIT_USAGE. */
int weft_opt_usage(const struct weft_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Like weft_opt_parse(), and on a usage error prints "NAME: err" and a
 * hint to stderr. pos may be NULL when the caller wants no positional
 * arguments back (npos too); the parser then keeps its own room. Returns -1 when the command should go on, else the exit
 * status for the caller to return at once: 0 after --help,
 * WEFT_OPT_EXIT_USAGE after a usage error.
 */
int weft_opt_run(const struct weft_cmd *cmd, void *target, int argc,
                 char **argv, char **pos, int *npos);

/* Sets the option whose configuration key (by_key) or name is `name` from
 * the text value. 0, WEFT_ENOTFOUND for an unknown name, or WEFT_EINVAL
 * with a message naming the key. */
int weft_opt_set(const struct weft_opt *opts, void *target, const char *name,
                 const char *value, int by_key, char *err, size_t errlen);

/* Writes the generated help of cmd to f, with target's current values as
 * the defaults. */
void weft_opt_help(const struct weft_cmd *cmd, const void *target, FILE *f);

/* Writes the configuration keys of opts, one "key<TAB>meta<TAB>help" line
 * each (what docs check their key lists against). */
void weft_opt_keys(const struct weft_opt *opts, FILE *f);

/* A verb table for commands made of subcommands (weft, weft sim, weft
 * bench): name, one line of help, and the main to call with argv starting
 * at the verb. */
struct weft_verb {
	const char *name;
	const char *help;
	int (*main)(int argc, char **argv);
};

/* Runs the verb named by argv[1] (argv[0] is the group's name, e.g.
 * "weft sim"). --help or no verb prints the verb list (exit 0 for --help,
 * WEFT_OPT_EXIT_USAGE without a verb); an unknown verb is a usage error
 * naming it. Returns the exit status. */
int weft_verb_run(const char *group, const char *about,
                  const struct weft_verb *verbs, int argc, char **argv);

#endif /* WEFT_COMMON_OPT_H */

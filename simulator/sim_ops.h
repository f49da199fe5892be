/* sim_ops.h — private: subcommand entry points and flag helpers. */
#ifndef WEFT_SIM_OPS_H
#define WEFT_SIM_OPS_H

#include <stdint.h>

#include "common/opt.h"

/* `weft sim replay ...` / `weft sim generate ...`; argv[0] is the
 * subcommand (as struct weft_verb's main gets it). Return a process exit
 * status (2: usage). */
int sim_cmd_replay(int argc, char **argv);
int sim_cmd_generate(int argc, char **argv);

/* weft_opt_run() for a sim verb, which also takes -o and -X for --out
 * and --producer-X where its table has them. pos has room for
 * cmd->max_pos arguments. -1: go on; else the exit status to return. */
int sim_opt_run(const struct weft_cmd *cmd, void *target, int argc,
    char **argv, char **pos, int *npos);
/* A usage error found after parsing: prints "NAME: message" and the
 * --help hint to stderr; returns WEFT_OPT_EXIT_USAGE. */
int sim_usage_error(const struct weft_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

/* sim_ops.h — private: subcommand entry points and flag helpers. */
#ifndef WEFT_SIM_OPS_H
#define WEFT_SIM_OPS_H

#include <stdint.h>

/* `weft sim replay ...` / `weft sim generate ...`; argv[1] is the
 * subcommand. Return a process exit status (2: usage). */
int sim_cmd_replay(int argc, char **argv);
int sim_cmd_generate(int argc, char **argv);

/* Parse a whole string as a number; 0 or WEFT_EINVAL. */
int sim_arg_double(const char *s, double *v);
int sim_arg_u64(const char *s, uint64_t *v);

#endif

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

#endif

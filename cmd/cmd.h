/*
 * cmd.h — the command layer: one main per `weft` command. Only this
 * layer includes bench/ and simulator/.
 */
#ifndef WEFT_CMD_H
#define WEFT_CMD_H

#include "engine/engine.h"

struct op_check_config;

/* `weft train`: sample files -> model file. */
int cmd_train_main(int argc, char **argv);

/* `weft replay`: file -> decode -> exchange(trace id) -> assemble -> sink. */
int cmd_replay_main(int argc, char **argv);

/* Signals of the long-running commands (signal.c): SIGINT/SIGTERM stop
 * e; with a check config, SIGHUP asks it to reload its model and the model
 * watcher is started (its result is returned: 0 or WEFT_E*; the signals
 * are installed either way). restore() puts the defaults back and stops
 * the watcher. One engine at a time per process. */
int cmd_signals_install(struct engine *e, struct op_check_config *check);
void cmd_signals_restore(void);

/* `weft serve`: the Kafka consumer service (operators/serve/op_serve.c). */
int op_serve_main(int argc, char **argv);

/* `weft rekey`: consume a topic, re-produce each report keyed by its trace
 * id into a repartition topic (operators/serve/op_rekey.c). */
int op_rekey_main(int argc, char **argv);


#endif /* WEFT_CMD_H */

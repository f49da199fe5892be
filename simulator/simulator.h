/* simulator.h — recorded-trace import, workload generation, replay. */
#ifndef WEFT_SIMULATOR_H
#define WEFT_SIMULATOR_H
/* `weft sim ...`: argv[0] is "sim". Returns a process exit status. */
int sim_main(int argc, char **argv);
#endif

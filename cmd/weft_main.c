/*
 * weft_main.c — the `weft` binary: one program, one subcommand per use.
 * Each part owns its subcommands' code; this file only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "engine/engine.h"
#include "cmd/cmd.h"
#include "simulator/simulator.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: weft <command> [options]\n"
	        "\n"
	        "commands:\n"
	        "  replay    run recorded X-Trace reports through the engine\n"
	        "  serve     the Kafka consumer service (consume, assemble, check, produce)\n"
	        "  rekey     re-produce a topic's reports keyed by trace id\n"
	        "  train     learn a model of normal traces from replay samples\n"
	        "  sim       recorded-trace import, workload generation, replay\n"
	        "  bench     benchmarks (weft bench engine, ...)\n"
	        "  version   print the version\n"
	        "\n"
	        "Run `weft <command> --help` for a command's options.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "sim"))
		return sim_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "train"))
		return cmd_train_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return cmd_replay_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return op_serve_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "rekey"))
		return op_rekey_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return bench_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("weft %s\n", WEFT_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "weft: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}

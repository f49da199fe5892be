/*
 * weft_main.c — the `weft` binary: one program, one subcommand per use.
 * Each command is a file of cmd/ (or, for sim and bench, their group's
 * main); this file only dispatches (common/opt.h's weft_verb_run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "common/opt.h"
#include "engine/engine.h"
#include "cmd/cmd.h"
#include "simulator/simulator.h"

/* jemalloc (the process allocator when linked; the symbol means nothing
 * to another malloc) returns freed memory to the system after a second
 * instead of its default ten, with no second "muzzy" stage: after a burst
 * of open traces, memory goes back soon after the traces are emitted
 * (bench/burst_memory.py). Allocations over 8 MiB are not special
 * (oversize_threshold:0): by default they come from an arena that
 * unmaps them as soon as they are freed, and librdkafka's fetch
 * responses (then up to 8 MiB per partition, fetch.max.bytes 64 MiB)
 * were paged in and zeroed afresh on every fetch: a third of weft
 * serve's page faults (137 K -> 86-111 K per million events, CPU
 * -10 %; op_kafka_fetch.c now fetches 1 MiB per response). Their
 * decay, like all decay, is then up to jemalloc's background thread
 * (background_thread): without it, decay runs only when the arena is
 * used again, and after a burst the big blocks freed in the quiet that
 * follows (the open-trace table) stayed: RSS 15 s after the burst was
 * 198 MiB instead of 104 (with the thread: 83). */
const char *malloc_conf =
    "dirty_decay_ms:1000,muzzy_decay_ms:0,oversize_threshold:0,background_thread:true";

static const struct weft_cmd version_cmd = {
	.name = "weft version",
	.usage = "",
	.about = "Prints the version.",
};

static int
version_main(int argc, char **argv)
{
	if (argc > 1) {
		int rc = weft_opt_run(&version_cmd, NULL, argc, argv, NULL, NULL);
		if (rc >= 0)
			return rc;
	}
	printf("weft %s\n", WEFT_VERSION);
	return 0;
}

static const struct weft_verb verbs[] = {
	{"replay", "run recorded X-Trace reports through the engine", cmd_replay_main},
	{"serve", "the Kafka consumer service (consume, assemble, check, produce)",
	 cmd_serve_main},
	{"rekey", "re-produce a topic's reports keyed by trace id", cmd_rekey_main},
	{"train", "learn a model of normal traces from replay samples", cmd_train_main},
	{"model", "the model files kept beside a model: versions, rollback", cmd_model_main},
	{"sim", "recorded-trace import, workload generation, replay", sim_main},
	{"bench", "benchmarks (weft bench engine, ...)", bench_main},
	{"version", "print the version", version_main},
	{NULL, NULL, NULL},
};

int
main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--version"))
		return version_main(1, argv + 1);
	return weft_verb_run("weft", NULL, verbs, argc, argv);
}

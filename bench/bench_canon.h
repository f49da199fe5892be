/*
 * bench_canon.h — `weft bench canon`: cost of the canonical form
 * (cluster_canon_compute) per trace and per node, on generated HDFS-shaped
 * DAGs and on recorded TraceBench runs, plus how many distinct signatures
 * and exact shapes each recorded run has per Title.
 */
#ifndef WEFT_BENCH_CANON_H
#define WEFT_BENCH_CANON_H

/* Runs the benchmark; options: --runs R (7), --traces N (20000 generated
 * traces), --tracebench DIR (repeatable; default: the bundled normal runs
 * under data/tracebench, found from WEFT_SOURCE_ROOT or the current
 * directory), --markdown FILE. Prints Markdown tables on stdout. Returns a
 * process exit status. */
int bench_canon_main(int argc, char **argv);

#endif

/*
 * sim_internal.h — private types shared by the simulator's files.
 *
 * (The run model and its invariants are public: simulator/simulator.h.)
 */
#ifndef WEFT_SIM_INTERNAL_H
#define WEFT_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"
#include "simulator/simulator.h"

/* ---- deterministic random numbers (xoshiro256**) ----------------------- */
struct sim_rng {
	uint64_t s[4];
};
void sim_rng_seed(struct sim_rng *g, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *g);
/* Uniform in [0, n); n > 0. */
uint64_t sim_rng_below(struct sim_rng *g, uint64_t n);
/* Uniform in [0, 1). */
double sim_rng_unit(struct sim_rng *g);

/* ---- X-Trace JSON in --------------------------------------------------- */
/*
 * A JSON-lines decoder (operators/ingest/decode.h) with the simulator's
 * limits: the widest the decoder allows (records up to OP_EVENT_MAX_BYTES,
 * lines up to 1 MiB, 4096 parents and key/value pairs), since a recorded
 * file is input we chose. No dead-letter sink: rejects are only counted.
 * source names the input. Returns 0 or WEFT_ENOMEM; free with
 * op_decoder_free(). (sim_run.c)
 */
struct op_decoder;
int sim_decoder_new(const char *source, struct op_decoder **out);

/* ---- output files (sim_util.c) ------------------------------------------ */
/*
 * The file at path ("-" or NULL: stdout) opened for a workload a reader
 * will map: written in huge-page blocks (weft_write_in_blocks); *vbuf is
 * what sim_out_close frees. NULL when it cannot be opened.
 */
FILE *sim_out_open(const char *path, void **vbuf);
/* Closes (stdout: flushes) f and frees vbuf: rc, or WEFT_EIO when rc is 0
 * and that fails. */
int sim_out_close(FILE *f, void *vbuf, int rc);

/* ---- parsing helpers ----------------------------------------------------- */
int sim_parse_hex64(const char *s, size_t n, uint64_t *out);
int sim_parse_i64(const char *s, size_t n, int64_t *out);
/* "YYYY-MM-DD HH:MM:SS" (UTC) -> ms since epoch. */
int sim_parse_datetime_ms(const char *s, size_t n, int64_t *out);

#endif

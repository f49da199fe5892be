/* sim_csv.h — private: TraceBench CSV line reader (see sim_csv.c). */
#ifndef WEFT_SIM_CSV_H
#define WEFT_SIM_CSV_H

#include <stddef.h>
#include <zlib.h>

#include "simulator/sim_internal.h"

struct sim_csv {
	gzFile g;
	char *buf;     /* owned; the line returned by sim_csv_next lives here */
	size_t cap;
	size_t lineno;
};

struct sim_field {
	const char *p;
	size_t n;
};

/* Open DIR/NAME.csv.gz, else DIR/NAME.csv. Close with sim_csv_close(). */
int sim_csv_open(struct sim_csv *c, const char *dir, const char *name);
/* 1: a line (valid until the next call), 0: end of file, <0: error. */
int sim_csv_next(struct sim_csv *c, const char **line, size_t *len);
void sim_csv_close(struct sim_csv *c);
/* Split on commas into at most nf fields; the last keeps the rest of the
 * line (commas included). Returns the number of fields found. */
size_t sim_csv_split(const char *line, size_t len, struct sim_field *f,
    size_t nf);

#endif

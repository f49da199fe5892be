/*
 * sim_csv.c — line-by-line reading of TraceBench CSV files, gzip or plain.
 *
 * zlib's gzopen reads an uncompressed file transparently, so one reader
 * serves both "event.csv.gz" and "event.csv". TraceBench CSV has no quoting:
 * the last column (Description, Title) may itself contain commas, so callers
 * split a fixed number of fields and keep the rest of the line as the last.
 *
 * One buffer per reader, grown only when a line is longer than any before:
 * no allocation per line.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/sim_csv.h"

int
sim_csv_open(struct sim_csv *c, const char *dir, const char *name)
{
	char path[4096];
	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "%s/%s.csv.gz", dir, name);
	c->g = gzopen(path, "rb");
	if (!c->g) {
		snprintf(path, sizeof(path), "%s/%s.csv", dir, name);
		c->g = gzopen(path, "rb");
	}
	if (!c->g)
		return WEFT_ENOTFOUND;
	gzbuffer(c->g, 1u << 17);
	c->cap = 4096;
	c->buf = malloc(c->cap);
	if (!c->buf) {
		gzclose(c->g);
		c->g = NULL;
		return WEFT_ENOMEM;
	}
	return 0;
}

int
sim_csv_next(struct sim_csv *c, const char **line, size_t *len)
{
	size_t n = 0;
	for (;;) {
		if (!gzgets(c->g, c->buf + n, (int)(c->cap - n))) {
			int err = 0;
			gzerror(c->g, &err);
			if (err < 0)
				return WEFT_EIO;
			if (n == 0)
				return 0;
			break;
		}
		n += strlen(c->buf + n);
		if (n && c->buf[n - 1] == '\n')
			break;
		if (n == c->cap - 1) {
			char *b = realloc(c->buf, c->cap * 2);
			if (!b)
				return WEFT_ENOMEM;
			c->buf = b;
			c->cap *= 2;
		}
	}
	while (n && (c->buf[n - 1] == '\n' || c->buf[n - 1] == '\r'))
		n--;
	c->buf[n] = '\0';
	c->lineno++;
	*line = c->buf;
	*len = n;
	return 1;
}

void
sim_csv_close(struct sim_csv *c)
{
	if (c->g)
		gzclose(c->g);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

size_t
sim_csv_split(const char *line, size_t len, struct sim_field *f, size_t nf)
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i < len && k + 1 < nf; i++) {
		if (line[i] == ',') {
			f[k].p = line + start;
			f[k].n = i - start;
			k++;
			start = i + 1;
		}
	}
	f[k].p = line + start;
	f[k].n = len - start;
	return k + 1;
}

/*
 * sim_run.c — a run's lifetime and its files: JSON lines out and in, and
 * the ground-truth TSV.
 *
 * Output goes through one reusable buffer flushed in 1 MiB chunks, so
 * writing a run costs one fwrite per megabyte, not one per event. Input is
 * read with zlib's gzgets, which reads plain files as they are, so a
 * .jsonl.gz works wherever a .jsonl does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "simulator/sim_internal.h"

void
sim_run_init(struct sim_run *r)
{
	memset(r, 0, sizeof(*r));
}

void
sim_run_free(struct sim_run *r)
{
	free(r->ev);
	free(r->parents);
	free(r->tr);
	sim_buf_free(&r->strs);
	memset(r, 0, sizeof(*r));
}

static FILE *
open_out(const char *path)
{
	if (!path || !strcmp(path, "-"))
		return stdout;
	return fopen(path, "w");
}

static int
close_out(FILE *f, int rc)
{
	if (f == stdout) {
		if (fflush(f) && !rc)
			rc = WEFT_EIO;
	} else if (fclose(f) && !rc) {
		rc = WEFT_EIO;
	}
	return rc;
}

int
sim_run_write_jsonl(const struct sim_run *r, const char *path)
{
	FILE *f = open_out(path);
	if (!f)
		return WEFT_EIO;
	struct sim_buf b = {0};
	int rc = 0;
	for (size_t i = 0; i < r->nev && !rc; i++) {
		rc = sim_json_event(&b, r, &r->ev[i]);
		if (!rc && (b.len >= (1u << 20) || i + 1 == r->nev)) {
			if (fwrite(b.p, 1, b.len, f) != b.len)
				rc = WEFT_EIO;
			b.len = 0;
		}
	}
	sim_buf_free(&b);
	return close_out(f, rc);
}

int
sim_run_write_truth(const struct sim_run *r, const char *path)
{
	FILE *f = open_out(path);
	if (!f)
		return WEFT_EIO;
	int rc = 0;
	for (size_t t = 0; t < r->ntr; t++) {
		const struct sim_trace *tr = &r->tr[t];
		if (fprintf(f, "%016llX\t%s\t%s\t%s\n",
		    (unsigned long long)tr->task,
		    tr->failure ? "failure" : "normal", sim_str(r, tr->kind),
		    sim_str(r, tr->title)) < 0) {
			rc = WEFT_EIO;
			break;
		}
	}
	return close_out(f, rc);
}

int
sim_run_read_jsonl(struct sim_run *r, const char *path)
{
	gzFile g = gzopen(path, "rb");
	if (!g)
		return WEFT_EIO;
	gzbuffer(g, 1u << 17);
	struct sim_taskmap *tm = NULL;
	char *line = NULL;
	size_t cap = 1 << 16;
	int rc = 0;
	if (!(line = malloc(cap))) {
		gzclose(g);
		return WEFT_ENOMEM;
	}
	size_t len = 0;
	for (;;) {
		if (!gzgets(g, line + len, (int)(cap - len))) {
			if (len == 0)
				break;
		} else {
			len += strlen(line + len);
			if (len == cap - 1 && line[len - 1] != '\n') {
				char *n = realloc(line, cap * 2);
				if (!n) {
					rc = WEFT_ENOMEM;
					break;
				}
				line = n;
				cap *= 2;
				continue;
			}
		}
		size_t n = len;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n && (rc = sim_json_parse_event(r, &tm, line, n)))
			break;
		len = 0;
	}
	int err = 0;
	gzerror(g, &err);
	if (!rc && err < 0)
		rc = WEFT_EIO;
	gzclose(g);
	free(line);
	sim_taskmap_free(tm);
	return rc;
}

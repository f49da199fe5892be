/*
 * sim_sink.c — where replayed lines go. Only the file sink lives here; a
 * Kafka sink implements the same three calls (write keyed by task id,
 * flush before the replay sleeps, close) and slots into sim_replay.c's
 * sink selection without touching the schedule or the pacing.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/sim_internal.h"
#include "simulator/sim_replay.h"

struct file_sink {
	struct sim_sink base; /* first: the sink pointer is the file_sink */
	FILE *f;
	void *vbuf; /* f's buffer (sim_out_open) */
};

static int
file_write(struct sim_sink *s, const char *line, size_t len, uint64_t task)
{
	struct file_sink *fs = (struct file_sink *)s;
	(void)task;
	return fwrite(line, 1, len, fs->f) == len ? 0 : WEFT_EIO;
}

static int
file_flush(struct sim_sink *s)
{
	struct file_sink *fs = (struct file_sink *)s;
	return fflush(fs->f) ? WEFT_EIO : 0;
}

static int
file_close(struct sim_sink *s)
{
	struct file_sink *fs = (struct file_sink *)s;
	int rc = sim_out_close(fs->f, fs->vbuf, 0);
	free(fs);
	return rc;
}

struct sim_sink *
sim_sink_file_open(const char *path)
{
	struct file_sink *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	if (!(fs->f = sim_out_open(path, &fs->vbuf))) {
		free(fs);
		return NULL;
	}
	fs->base.write = file_write;
	fs->base.flush = file_flush;
	fs->base.close = file_close;
	return &fs->base;
}

/*
 * util.c — checks that an output can be written, made before a run
 * starts so a bad path fails at once (exit 1) rather than as a write
 * error at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "cmd/cmd.h"

int
cmd_check_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st)) {
		weft_errf(err, errlen, "'%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		weft_errf(err, errlen, "'%s': not a directory", path);
		return -1;
	}
	if (access(path, W_OK | X_OK)) {
		weft_errf(err, errlen, "'%s': directory not writable: %s", path,
		          strerror(errno));
		return -1;
	}
	return 0;
}

int
cmd_check_writable(const char *path, char *err, size_t errlen)
{
	if (!strcmp(path, "-"))
		return 0;
	struct stat st;
	if (!stat(path, &st)) {
		if (S_ISDIR(st.st_mode)) {
			weft_errf(err, errlen, "'%s': is a directory", path);
			return -1;
		}
		if (access(path, W_OK)) {
			weft_errf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		weft_errf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		return -1;
	}
	/* a new file: its directory must take it */
	const char *slash = strrchr(path, '/');
	char dir[4096];
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	char why[4200];
	if (cmd_check_dir(dir, why, sizeof why)) {
		weft_errf(err, errlen, "cannot write '%s' (%s)", path, why);
		return -1;
	}
	return 0;
}

char *
cmd_strs_push(struct cmd_strs *s, char *c)
{
	if (c && s->n == s->cap && WEFT_GROW(s->p, s->cap, s->n + 1, 64)) {
		free(c);
		return NULL;
	}
	if (c)
		s->p[s->n++] = c;
	return c;
}

char *
cmd_strs_keep(struct cmd_strs *s, const char *text, size_t n)
{
	return cmd_strs_push(s, strndup(text, n));
}

char *
cmd_strs_keep_kv(struct cmd_strs *s, const char *prop, size_t plen, const char *v)
{
	size_t n = plen + 1 + strlen(v) + 1;
	char *kv = malloc(n);
	if (kv)
		snprintf(kv, n, "%.*s=%s", (int)plen, prop, v);
	return cmd_strs_push(s, kv);
}

void
cmd_strs_free(struct cmd_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->p[i]);
	free(s->p);
	s->p = NULL;
	s->n = s->cap = 0;
}

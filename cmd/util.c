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

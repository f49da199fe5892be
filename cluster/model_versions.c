/*
 * model_versions.c — earlier model files kept beside the current one
 * (model.h): MODEL.v1, MODEL.v2, ... (higher is newer), the last K kept.
 *
 * Before a new model replaces MODEL, the current file gets the next
 * version number as a hard link (a copy where links are refused), so the
 * path itself is never missing: a running `weft serve` watching it only
 * ever sees the old file or the new one. A rollback validates the chosen
 * version (it must load), keeps the current file as a version too (a
 * rollback can itself be undone), and puts the version's bytes in place
 * through a temporary file and a rename, which the watcher then swaps in.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "common/common.h"

/* dir and base name of path (into caller buffers). */
static void
split_path(const char *path, char *dir, size_t dlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, dlen, ".");
		*base = path;
		return;
	}
	snprintf(dir, dlen, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
	*base = slash + 1;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int
cluster_model_versions(const char *path, uint32_t **out, size_t *n)
{
	char dir[4096];
	const char *base;
	split_path(path, dir, sizeof dir, &base);
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : WEFT_EIO;
	size_t bl = strlen(base), cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		if (strncmp(s, base, bl) || strncmp(s + bl, ".v", 2) || !s[bl + 2])
			continue;
		char *end;
		unsigned long v = strtoul(s + bl + 2, &end, 10);
		if (*end || !v || v > UINT32_MAX)
			continue;
		if (WEFT_GROW(*out, cap, *n + 1, 16)) {
			rc = WEFT_ENOMEM;
			break;
		}
		(*out)[(*n)++] = (uint32_t)v;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof **out, cmp_u32);
	return rc;
}

/* Copies src to dst through dst.tmp.PID and a rename. */
static int
copy_file(const char *src, const char *dst, char *errstr, size_t errlen)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dst, (long)getpid());
	FILE *in = fopen(src, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
	int ok = in && out;
	char buf[65536];
	size_t k;
	while (ok && (k = fread(buf, 1, sizeof buf, in)) > 0)
		ok = fwrite(buf, 1, k, out) == k;
	ok = ok && !ferror(in);
	if (in)
		fclose(in);
	if (out && fclose(out))
		ok = 0;
	if (!ok || rename(tmp, dst)) {
		weft_errf(errstr, errlen, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
		unlink(tmp);
		return WEFT_EIO;
	}
	return 0;
}

int
cluster_model_keep_version(const char *path, unsigned keep, uint32_t *version,
                           char *errstr, size_t errlen)
{
	struct stat st;
	if (version)
		*version = 0;
	if (!keep || stat(path, &st))
		return 0; /* nothing to keep */
	uint32_t *v;
	size_t n;
	int rc = cluster_model_versions(path, &v, &n);
	if (rc) {
		weft_errf(errstr, errlen, "cannot list the versions of '%s'", path);
		return rc;
	}
	uint32_t next = n ? v[n - 1] + 1 : 1;
	char vp[4200];
	snprintf(vp, sizeof vp, "%s.v%" PRIu32, path, next);
	if (link(path, vp) && (rc = copy_file(path, vp, errstr, errlen))) {
		free(v);
		return rc;
	}
	/* the last `keep` versions stay, the new one among them */
	for (size_t i = 0; i + keep < n + 1; i++) {
		snprintf(vp, sizeof vp, "%s.v%" PRIu32, path, v[i]);
		unlink(vp);
	}
	free(v);
	if (version)
		*version = next;
	return 0;
}

int
cluster_model_rollback(const char *path, uint32_t version, unsigned keep, uint32_t *used,
                       char *errstr, size_t errlen)
{
	uint32_t *v;
	size_t n;
	int rc = cluster_model_versions(path, &v, &n);
	if (rc || !n) {
		free(v);
		weft_errf(errstr, errlen, "'%s' has no earlier version to roll back to", path);
		return rc ? rc : WEFT_ENOTFOUND;
	}
	uint32_t want = version ? version : v[n - 1];
	int found = 0;
	for (size_t i = 0; i < n; i++)
		found |= v[i] == want;
	free(v);
	char vp[4200];
	snprintf(vp, sizeof vp, "%s.v%" PRIu32, path, want);
	if (!found) {
		weft_errf(errstr, errlen, "'%s' does not exist", vp);
		return WEFT_ENOTFOUND;
	}
	struct cluster_model *m;
	char lerr[512];
	if ((rc = cluster_model_load(vp, &m, lerr, sizeof lerr))) {
		weft_errf(errstr, errlen, "refusing to roll back to a bad model: %s", lerr);
		return rc;
	}
	cluster_model_unref(m);
	/* keep at least one more than now, so the version rolled back to
	 * survives the current file being kept */
	if ((rc = cluster_model_keep_version(path, keep + 1, NULL, errstr, errlen)))
		return rc;
	if ((rc = copy_file(vp, path, errstr, errlen)))
		return rc;
	if (used)
		*used = want;
	return 0;
}

/*
 * cores.c — the CPUs this process has, and the defaults that follow them:
 * the worker count, and whether a helper thread runs beside the workers.
 *
 * The count is the affinity mask (a container's cpuset, `taskset`), as
 * nproc counts it, capped by a CPU quota on the process's cgroup: a pod
 * limited to 2 CPUs on a 64-core node sees all 64 in its mask but gets
 * the time of 2, so it gets 2 workers, as Go's runtime and the JVM count
 * it. The quota is read where the kernel keeps it — cgroup v2's cpu.max
 * ("max 100000" or "QUOTA PERIOD"), v1's cpu.cfs_quota_us (-1: none) over
 * cpu.cfs_period_us — on the process's cgroup and every parent up to the
 * hierarchy's mount, the smallest winning, rounded up to whole CPUs.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

/* Copies the mountinfo field at *s up to the next space into out
 * (octal escapes such as \040 undone); *s is left past the space. */
static void
mi_field(const char **s, char *out, size_t cap)
{
	const char *p = *s;
	size_t n = 0;
	while (*p && *p != ' ' && *p != '\n') {
		char c = *p++;
		if (c == '\\' && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' &&
		    p[1] <= '7' && p[2] >= '0' && p[2] <= '7') {
			c = (char)((p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0'));
			p += 3;
		}
		if (n + 1 < cap)
			out[n++] = c;
	}
	out[n] = 0;
	if (*p == ' ')
		p++;
	*s = p;
}

/* 1 when the comma-separated list has the item. */
static int
has_item(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, item, n) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* The quota in the directory, in whole CPUs rounded up; 0: none there. */
static unsigned
quota_in(const char *dir, int v2)
{
	char path[PATH_MAX + 32], buf[64];
	long long quota = -1, period = 0;
	snprintf(path, sizeof path, "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (v2) {
		if (fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3) != 0 &&
		    sscanf(buf, "%lld %lld", &quota, &period) != 2)
			quota = -1;
	} else if (fscanf(f, "%lld", &quota) != 1) {
		quota = -1;
	}
	fclose(f);
	if (!v2) {
		snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
		f = fopen(path, "r");
		if (!f)
			return 0;
		if (fscanf(f, "%lld", &period) != 1)
			period = 0;
		fclose(f);
	}
	if (quota <= 0 || period <= 0)
		return 0;
	long long cpus = (quota + period - 1) / period;
	return cpus > 0 && cpus < UINT_MAX ? (unsigned)cpus : 0;
}

/* The smallest quota from mnt + rel up to mnt (0: none). root is the
 * mount's root within the hierarchy: a cgroup path under it is taken
 * relative to it (a bind-mounted subtree); any other is taken as is (a
 * cgroup namespace, whose paths start at the mount). */
static unsigned
quota_up(const char *mnt, const char *root, const char *cg, int v2)
{
	char dir[PATH_MAX];
	size_t rl = strlen(root);
	const char *rel = cg;
	if (rl > 1 && strncmp(cg, root, rl) == 0 && (cg[rl] == '/' || cg[rl] == 0))
		rel = cg + rl;
	if (snprintf(dir, sizeof dir, "%s%s", mnt, rel) >= (int)sizeof dir)
		return 0;
	size_t ml = strlen(mnt);
	unsigned best = 0;
	for (;;) {
		size_t dl = strlen(dir);
		while (dl > ml && dir[dl - 1] == '/') /* "mnt/" from rel "/" */
			dir[--dl] = 0;
		unsigned q = quota_in(dir, v2);
		if (q && (!best || q < best))
			best = q;
		if (dl <= ml)
			return best;
		char *slash = strrchr(dir + ml, '/');
		if (!slash)
			return best;
		*slash = 0;
	}
}

unsigned
weft_cgroup_cpus(const char *mountinfo, const char *cgroup)
{
	char v1_path[PATH_MAX] = "", v2_path[PATH_MAX] = "";
	int v1 = 0, v2 = 0;
	char line[PATH_MAX + 256];
	FILE *f = fopen(cgroup, "r");
	if (!f)
		return 0;
	/* "ID:CONTROLLERS:PATH"; v2 is "0::PATH" */
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
		if (!b)
			continue;
		*b = 0;
		if (strcmp(line, "0:") == 0 && a + 1 == b) {
			snprintf(v2_path, sizeof v2_path, "%s", b + 1);
			v2 = 1;
		} else if (has_item(a + 1, "cpu")) {
			snprintf(v1_path, sizeof v1_path, "%s", b + 1);
			v1 = 1;
		}
	}
	fclose(f);
	if (!v1 && !v2)
		return 0;
	f = fopen(mountinfo, "r");
	if (!f)
		return 0;
	unsigned best = 0;
	char root[PATH_MAX], mnt[PATH_MAX], skip[PATH_MAX], fstype[64], super[512];
	while (fgets(line, sizeof line, f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		const char *p = line;
		for (int i = 0; i < 3; i++)
			mi_field(&p, skip, sizeof skip);
		mi_field(&p, root, sizeof root);
		mi_field(&p, mnt, sizeof mnt);
		const char *dash = strstr(p, " - ");
		if (!dash)
			continue;
		p = dash + 3;
		mi_field(&p, fstype, sizeof fstype);
		mi_field(&p, skip, sizeof skip);
		mi_field(&p, super, sizeof super);
		unsigned q = 0;
		if (v2 && strcmp(fstype, "cgroup2") == 0)
			q = quota_up(mnt, root, v2_path, 1);
		else if (v1 && strcmp(fstype, "cgroup") == 0 && has_item(super, "cpu"))
			q = quota_up(mnt, root, v1_path, 0);
		if (q && (!best || q < best))
			best = q;
	}
	fclose(f);
	return best;
}

/* The process's quota, read once: weft_cores is asked by every worker's
 * file source and assembler as they start, and a quota set from outside
 * while the process runs changes nothing it has already sized. */
static pthread_once_t quota_once = PTHREAD_ONCE_INIT;
static unsigned quota_cpus;

static void
quota_read(void)
{
	quota_cpus = weft_cgroup_cpus("/proc/self/mountinfo", "/proc/self/cgroup");
}

unsigned
weft_cores(void)
{
	unsigned n = 0;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		n = (unsigned)CPU_COUNT(&set);
	if (!n) { /* more CPUs than CPU_SETSIZE */
		long on = sysconf(_SC_NPROCESSORS_ONLN);
		n = on > 0 ? (unsigned)on : 1;
	}
	pthread_once(&quota_once, quota_read);
	return quota_cpus && quota_cpus < n ? quota_cpus : n;
}

unsigned
weft_workers_for(unsigned workers)
{
	return workers ? workers : weft_cores();
}

const char *const weft_helper_names[] = {"auto", "on", "off", NULL};

int
weft_helper_wanted(int h, unsigned workers, unsigned cores)
{
	if (h == WEFT_HELPER_ON)
		return 1;
	if (h == WEFT_HELPER_OFF)
		return 0;
	return (uint64_t)workers * 2 <= cores;
}

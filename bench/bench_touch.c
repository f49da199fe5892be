/*
 * bench_touch.c — `weft bench touch`: how fast this machine hands a
 * process fresh memory. Every round maps --mib MiB of anonymous memory,
 * advised for 2 MiB pages as the assembler's slabs are (--pages 2m) or
 * not (4k), writes one byte per 4 KiB page (the first touch: page faults
 * and the kernel's zeroing of each page), then writes the whole of it
 * again (the memory's own write rate), and unmaps it.
 *
 * Round 1 gets what the kernel has free; the later rounds get what the
 * round before just freed. On bare metal they are alike. On a virtual
 * machine whose free pages go back to the host (virtio-balloon free page
 * reporting, which reports free blocks of 2 MiB and more), round 1 after
 * an idle spell touches pages the host must back again, and is slower by
 * an order of magnitude: a weft replay run, which maps its slabs fresh,
 * pays that on every 2 MiB slab. The benchmark script runs this after an
 * idle spell, so the machine's figure sits beside the others.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/bench.h"
#include "common/opt.h"

#define TOUCH_ALIGN (2u << 20)

struct bt_opts {
	uint32_t mib;
	uint32_t rounds;
	int pages; /* 0: 2 MiB advised, 1: 4 KiB */
	const char *md;
};

static const char *const bt_pages[] = {"2m", "4k", NULL};

#define O(f) offsetof(struct bt_opts, f)
static const struct weft_opt bt_opts_tab[] = {
	{.name = "mib", .kind = WEFT_OPT_U32, .off = O(mib), .meta = "N",
	 .lo = 2, .hi = 65536, .help = "MiB mapped and touched per round"},
	{.name = "rounds", .kind = WEFT_OPT_U32, .off = O(rounds), .meta = "R",
	 .lo = 1, .hi = 1000, .help = "rounds in this process"},
	{.name = "pages", .kind = WEFT_OPT_CHOICE, .off = O(pages), .meta = "P",
	 .choices = bt_pages, .help = "2m: advised for transparent huge pages "
	 "(as the slabs are); 4k: advised against"},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = O(md), .meta = "FILE",
	 .help = "also write the table to FILE, with the command and machine"},
	{0},
};
#undef O

static const struct weft_cmd bt_cmd = {
	.name = "weft bench touch",
	.usage = "[options]",
	.about = "First touch of fresh anonymous memory (page faults and "
	    "zeroing), GB/s, per round\nin one process: round 1 gets what the "
	    "kernel has free, later rounds what the\nround before freed.",
	.opts = bt_opts_tab,
};

/* One round: GB/s of the first touch and of the write after it, or -1. */
static int
bt_round(size_t bytes, int small, double *first, double *again)
{
	size_t span = bytes + TOUCH_ALIGN;
	unsigned char *m = mmap(NULL, span, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	unsigned char *p = (unsigned char *)(((uintptr_t)m + TOUCH_ALIGN - 1) &
	                                     ~(uintptr_t)(TOUCH_ALIGN - 1));
	(void)madvise(p, bytes, small ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	uint64_t t0 = bench_now_ns();
	for (size_t i = 0; i < bytes; i += 4096)
		((volatile unsigned char *)p)[i] = 1;
	uint64_t t1 = bench_now_ns();
	memset(p, 2, bytes);
	__asm__ volatile("" : : "r"(p) : "memory"); /* the writes happen */
	uint64_t t2 = bench_now_ns();
	munmap(m, span);
	*first = (double)bytes / (double)(t1 - t0 ? t1 - t0 : 1);
	*again = (double)bytes / (double)(t2 - t1 ? t2 - t1 : 1);
	return 0;
}

int
bench_touch_main(int argc, char **argv)
{
	struct bt_opts o = {.mib = 64, .rounds = 3};
	int urc = weft_opt_run(&bt_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	char title[256];
	snprintf(title, sizeof title, "First touch of %u MiB of fresh anonymous "
	         "memory, %s pages, GB/s; round 1: what the kernel had free, "
	         "later rounds: what the round before freed", o.mib,
	         o.pages ? "4 KiB" : "2 MiB (advised)");
	struct bench_table *t = bench_table_new(title);
	if (!t)
		return 1;
	bench_table_columns(t, "round|first touch (fault and zero)|write after");
	for (uint32_t r = 1; r <= o.rounds; r++) {
		double first, again;
		if (bt_round((size_t)o.mib << 20, o.pages, &first, &again)) {
			fprintf(stderr, "weft bench touch: mmap of %u MiB failed\n",
			        o.mib);
			bench_table_free(t);
			return 1;
		}
		char row[128];
		snprintf(row, sizeof row, "%u|%.2f|%.2f", r, first, again);
		bench_table_row(t, row);
	}
	bench_table_print(t, stdout);
	int rc = o.md && bench_write_markdown(
	    o.md, "weft bench touch", argc, argv, "",
	    (const struct bench_table *[]){t, NULL});
	bench_table_free(t);
	return rc;
}

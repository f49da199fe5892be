/*
 * fout.c — files weft writes for a reader to map again (workloads the
 * simulator generates or converts): written in whole 2 MiB blocks at
 * 2 MiB offsets.
 *
 * Why: a kernel whose page cache keeps large folios (ext4 and xfs on
 * Linux 6.x) sizes a file's cached folios by the writes that made it, and
 * a reader that maps it (op_map.c) pays a page-table entry, a reference
 * and an unmapping per page of each folio size. Mapping, populating and
 * unmapping the bench's 345 MB file in 8 MiB windows took, on the 2-vCPU
 * AMD host: 33-47 ms written 4 KiB at a time, 20-23 ms written 64 KiB at
 * a time, 16-18 ms as the generator wrote it before (odd-sized writes of
 * about a megabyte), 2-6 ms written in 2 MiB blocks at 2 MiB offsets,
 * which the page cache holds in 2 MiB folios, mapped with one entry each.
 * weft replay of the last against the first ran 1.10x faster at two
 * workers and 1.12x on one pinned core (BENCHMARKS.md, baseline part,
 * 12 rounds). A stdio buffer of that size is all it takes: glibc writes a
 * full buffer at once, and a larger write in whole buffers ("to maintain
 * alignment"), so every write but the last is whole blocks at block
 * offsets of a stream opened at offset 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"

void *
weft_write_in_blocks(FILE *f)
{
	void *buf = malloc(WEFT_WRITE_BLOCK);
	if (buf && setvbuf(f, buf, _IOFBF, WEFT_WRITE_BLOCK)) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

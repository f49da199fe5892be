/*
 * op_map.c — a plain regular file read through read-only mappings, a
 * window at a time, instead of read().
 *
 * Why: read() copies every byte out of the page cache (_copy_to_iter and
 * filemap_get_read_batch were 11-14 % of a replay's profile at one
 * worker). Here the decoder reads the page cache itself. Each window's
 * page table entries are filled in one call (MADV_POPULATE_READ) rather
 * than by a page fault per 16 pages. Only a file already in the page
 * cache is worth it: faulting a cold file in through a mapping was slower
 * than read()'s readahead, which overlaps the disk with decoding (replay
 * at W=1, caches dropped: 2.0 against 2.8 M events/s). So a window with
 * more than a sixteenth of its pages not resident (mincore) is not
 * mapped: op_map_next says OP_MAP_COLD, and the caller reads on from
 * op_map_pos() with an op_reader. A window with fewer holes is mapped,
 * its holes read in first (POSIX_FADV_WILLNEED): a file the kernel has
 * evicted single pages of here and there (this VM did, about 2 % of a
 * 330 MB file read minutes before) would otherwise never be mapped past
 * its first hole.
 *
 * The trap: a mapped file that shrinks (truncated by someone while weft
 * reads it) raises SIGBUS on the next access past its new end, which
 * would kill the process where read() just returns fewer bytes. So the
 * reading thread guards the bytes it hands out (op_map_guard_begin/end):
 * a SIGBUS at an address inside the guarded window maps a page of zeros
 * over the faulting page (the access then completes), and notes it; the
 * caller asks after each slice and stops with an I/O error. A SIGBUS
 * anywhere else goes to the handler that was there before (by default it
 * kills the process, as before). The guard is per thread, and SIGBUS is
 * delivered to the faulting thread, so the handler reads only its own
 * thread's variables; mmap() in a handler is a plain system call on
 * Linux.
 *
 * Thread model: an op_map belongs to one thread; the handler is the
 * process's (installed under a lock, at each open, when it is not the
 * current one).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operators/ingest/ingest.h"

/* Bytes mapped at a time. A window's pages count in the process's RSS
 * while it is mapped: 64 MiB windows read no faster than 8 MiB ones and
 * added up to 64 MiB to a replay's peak RSS. */
#define WINDOW (8u << 20)
#define SLACK (64u << 10)  /* past the caller's end: its last unit's tail */

struct op_map {
	int fd;
	unsigned char *vec; /* mincore's answer for a window */
	uint64_t size;     /* the file's size when opened */
	uint64_t pos;      /* next byte handed out */
	uint64_t want_end; /* the caller needs bytes up to here, likely */
	unsigned char *win;
	uint64_t win_off;  /* file offset of win (page aligned) */
	size_t win_len;
};

static long g_page;
static struct sigaction g_prev; /* the handler ours was installed over */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_page_once = PTHREAD_ONCE_INIT;

static void
page_size(void)
{
	g_page = sysconf(_SC_PAGESIZE);
}

static _Thread_local const unsigned char *t_lo, *t_hi;
static _Thread_local volatile sig_atomic_t t_fault;

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	const unsigned char *a = si->si_addr;
	if (a >= t_lo && a < t_hi) {
		void *page = (void *)((uintptr_t)a & ~(uintptr_t)(g_page - 1));
		if (mmap(page, (size_t)g_page, PROT_READ,
		         MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
			t_fault = 1;
			return; /* the access is retried and reads zeros */
		}
	}
	if (g_prev.sa_flags & SA_SIGINFO) {
		g_prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != SIG_IGN) {
		g_prev.sa_handler(sig);
		return;
	}
	/* the default: returning retries the access, which now kills */
	signal(sig, SIG_DFL);
}

/* Installs on_sigbus unless it is the handler now. Checked at every
 * open, not once: code that sets its own SIGBUS handler later (a test
 * harness does, per test) would otherwise turn a shrinking file back
 * into a crash. 1 when it is installed. */
static int
ensure_handler(void)
{
	pthread_mutex_lock(&g_lock);
	struct sigaction cur;
	int ok = sigaction(SIGBUS, NULL, &cur) == 0;
	if (ok && !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		ok = sigaction(SIGBUS, &sa, &g_prev) == 0;
	}
	pthread_mutex_unlock(&g_lock);
	return ok;
}

int
op_map_open(const char *path, uint64_t begin, uint64_t want_end,
            struct op_map **out)
{
	*out = NULL;
	pthread_once(&g_page_once, page_size);
	if (g_page <= 0 || WINDOW % (uint64_t)g_page)
		return WEFT_EIO;
	if (!ensure_handler())
		return WEFT_EIO; /* no guard, no mapping */
	struct op_map *m = calloc(1, sizeof *m);
	if (!m)
		return WEFT_ENOMEM;
	struct stat st;
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0 || fstat(m->fd, &st) || !S_ISREG(st.st_mode)) {
		op_map_free(m);
		return WEFT_EIO;
	}
	m->size = (uint64_t)st.st_size;
	m->pos = begin < m->size ? begin : m->size;
	m->want_end = want_end;
	if (!(m->vec = malloc(WINDOW / (size_t)g_page))) {
		op_map_free(m);
		return WEFT_ENOMEM;
	}
	*out = m;
	return 0;
}

uint64_t
op_map_pos(const struct op_map *m)
{
	return m->pos;
}

/* How many of the pages of [p, p + len) are not in the page cache (all
 * of them when mincore fails). */
static size_t
holes(struct op_map *m, void *p, size_t len, size_t pages)
{
	size_t n = 0;
	if (mincore(p, len, m->vec))
		return pages;
	for (size_t i = 0; i < pages; i++)
		n += !(m->vec[i] & 1);
	return n;
}

/* Maps the window that holds m->pos; OP_MAP_COLD when more than a
 * sixteenth of its pages are not in the page cache. */
static int
window(struct op_map *m)
{
	if (m->win)
		munmap(m->win, m->win_len);
	m->win = NULL;
	uint64_t off = m->pos & ~(uint64_t)(g_page - 1);
	uint64_t want = m->want_end > m->pos ? m->want_end : m->pos;
	uint64_t end = want < m->size ? want + SLACK : m->size;
	if (end < off + (1u << 20))
		end = off + (1u << 20);
	if (end > off + WINDOW)
		end = off + WINDOW;
	if (end > m->size)
		end = m->size;
	size_t len = (size_t)(end - off);
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, m->fd, (off_t)off);
	if (p == MAP_FAILED)
		return WEFT_EIO;
	size_t pages = (len + (size_t)g_page - 1) / (size_t)g_page,
	       cold = holes(m, p, len, pages);
	if (cold * 16 > pages) {
		munmap(p, len);
		return OP_MAP_COLD;
	}
	if (cold) /* read the holes in together, not a fault at a time */
		(void)posix_fadvise(m->fd, (off_t)off, (off_t)len,
		                    POSIX_FADV_WILLNEED);
#ifdef MADV_POPULATE_READ
	/* what MAP_POPULATE does, on the mapping mincore looked at (a kernel
	 * before 5.14 refuses: then page faults map the pages) */
	(void)madvise(p, len, MADV_POPULATE_READ);
#endif
	m->win = p;
	m->win_off = off;
	m->win_len = len;
	return 0;
}

ssize_t
op_map_next(struct op_map *m, size_t cap, const unsigned char **data)
{
	if (m->pos >= m->size)
		return 0;
	if (!m->win || m->pos >= m->win_off + m->win_len) {
		int rc = window(m);
		if (rc)
			return rc;
	}
	uint64_t left = m->win_off + m->win_len - m->pos;
	size_t n = left < cap ? (size_t)left : cap;
	*data = m->win + (m->pos - m->win_off);
	m->pos += n;
	return (ssize_t)n;
}

void
op_map_guard_begin(const struct op_map *m)
{
	t_fault = 0;
	t_lo = m->win;
	t_hi = m->win ? m->win + m->win_len : NULL;
}

int
op_map_guard_end(void)
{
	t_lo = t_hi = NULL;
	return t_fault != 0;
}

void
op_map_free(struct op_map *m)
{
	if (!m)
		return;
	if (m->win)
		munmap(m->win, m->win_len);
	if (m->fd >= 0)
		close(m->fd);
	free(m->vec);
	free(m);
}

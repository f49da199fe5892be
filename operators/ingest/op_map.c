/*
 * op_map.c — a plain regular file read through read-only mappings, a
 * window at a time, instead of read(); or, for a file one thread reads
 * whole, read ahead of that thread by a helper (see "Read ahead" below).
 *
 * Why: read() copies every byte out of the page cache (_copy_to_iter and
 * filemap_get_read_batch were 11-14 % of a replay's profile at one
 * worker). Here the decoder reads the page cache itself. Each window's
 * page table entries are filled in one call (MADV_POPULATE_READ) rather
 * than by a page fault per 16 pages. Only a file already in the page
 * cache is worth it: faulting a cold file in through a mapping was slower
 * than read()'s readahead, which overlaps the disk with decoding (replay
 * at W=1, caches dropped: 2.0 against 2.8 M events/s). So a window with
 * more than a sixteenth of its pages not resident (op_map_cold_pages) is
 * not mapped: op_map_next says OP_MAP_COLD, and the caller reads on from
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
 * Read ahead (op_map_open's ahead), for a file one thread reads whole: a
 * helper thread makes each window ready while the reader decodes the one
 * before (see ahead_main): it maps and populates a window in the page
 * cache, reads a colder one with pread() into one of two buffers on huge
 * pages (the disk then overlaps decoding), and unmaps the window the
 * reader is done with. The reading thread makes no system call. A file
 * cut short is a short read or, mapped, the SIGBUS above: an I/O error
 * either way.
 *
 * Thread model: an op_map belongs to one thread (and its helper, which
 * writes only the buffer the reader is not reading, and maps and unmaps
 * only windows the reader does not hold); the handler is the
 * process's (installed under a lock, at each open, when it is not the
 * current one).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "operators/ingest/ingest.h"

/* Bytes mapped at a time. A window's pages count in the process's RSS
 * while it is mapped: 64 MiB windows read no faster than 8 MiB ones and
 * added up to 64 MiB to a replay's peak RSS. Read ahead, there are two
 * windows (the one read, the next), so each is half as big and the
 * buffers take what a mapped window did. */
#define WINDOW (8u << 20)
#define AHEAD_WINDOW (WINDOW / 2)
#define HUGE_PAGE (2u << 20) /* the buffers' alignment, for huge pages */
#define SLACK (64u << 10)  /* past the caller's end: its last unit's tail */

struct win {
	unsigned char *p;
	uint64_t off; /* file offset of p (page aligned when mapped) */
	size_t len;
	int mapped;   /* 1: a mapping (to unmap), 0: a read-ahead buffer */
};

/* The helper thread of a map read ahead, and what it shares with the
 * reading thread (under lock). */
enum { AHEAD_IDLE, AHEAD_ASKED, AHEAD_DONE };
struct ahead {
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cv;      /* the helper waits for a job, the reader for it */
	unsigned char *area;    /* the buffers' mapping, area_len bytes */
	size_t area_len;
	unsigned char *buf[2];  /* AHEAD_WINDOW bytes each, huge page aligned */
	int state, stop;
	unsigned fill;          /* the buffer the job asked for fills */
	uint64_t ask;           /* the position of the window asked for */
	int rc;                 /* AHEAD_DONE: how making it went */
	struct win next;        /* AHEAD_DONE, rc 0: the window at ask */
	struct win unmap;       /* a mapped window the reader is done with,
	                         * for the helper to unmap (p NULL: none) */
};

struct op_map {
	int fd;
	unsigned char *vec; /* mincore's answer for a window (where cachestat
	                     * cannot count; the helper's, read ahead) */
	uint64_t size;     /* the file's size when opened */
	uint64_t pos;      /* next byte handed out */
	uint64_t want_end; /* the caller needs bytes up to here, likely */
	size_t cap;        /* window size: WINDOW, or AHEAD_WINDOW */
	struct win cur;
	struct ahead *ahead; /* NULL: the reader maps each window itself */
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

static void *ahead_main(void *arg);

/* Starts m's helper, asked at once for the window at m->pos; NULL when
 * it cannot (the reader then maps). */
static struct ahead *
ahead_start(struct op_map *m)
{
	struct ahead *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->area_len = 2 * (size_t)AHEAD_WINDOW + HUGE_PAGE;
	a->area = mmap(NULL, a->area_len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a->area == MAP_FAILED) {
		free(a);
		return NULL;
	}
	a->buf[0] = (unsigned char *)(((uintptr_t)a->area + HUGE_PAGE - 1) &
	                              ~(uintptr_t)(HUGE_PAGE - 1));
	a->buf[1] = a->buf[0] + AHEAD_WINDOW;
#ifdef MADV_HUGEPAGE
	/* advice only: without huge pages it is 4 KiB pages */
	(void)madvise(a->buf[0], 2 * (size_t)AHEAD_WINDOW, MADV_HUGEPAGE);
#endif
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->ask = m->pos;
	a->state = AHEAD_ASKED;
	m->ahead = a; /* before the thread reads it */
	if (pthread_create(&a->thr, NULL, ahead_main, m)) {
		m->ahead = NULL;
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->lock);
		munmap(a->area, a->area_len);
		free(a);
	}
	return m->ahead;
}

int
op_map_open(const char *path, uint64_t begin, uint64_t want_end, int ahead,
            struct op_map **out)
{
	*out = NULL;
	pthread_once(&g_page_once, page_size);
	if (g_page <= 0 || AHEAD_WINDOW % (uint64_t)g_page)
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
	m->cap = WINDOW;
	if (!(m->vec = malloc(WINDOW / (size_t)g_page))) { /* before a helper */
		op_map_free(m);
		return WEFT_ENOMEM;
	}
	if (ahead) {
		m->cap = AHEAD_WINDOW; /* before the helper reads it */
		if (!ahead_start(m))
			m->cap = WINDOW;
	}
	*out = m;
	return 0;
}

uint64_t
op_map_pos(const struct op_map *m)
{
	return m->pos;
}

int
op_map_reads_ahead(const struct op_map *m)
{
	return m->ahead != NULL;
}

int
op_map_window_mapped(const struct op_map *m)
{
	return m->cur.p && m->cur.mapped;
}

/*
 * Residency. cachestat(2) (Linux 6.5) counts a file range's pages in the
 * page cache from the cache's own tree, a step per folio, with no mapping.
 * mincore(2) needs the range mapped and looks each 4 KiB page up: it was
 * 2-3 % of a replay's samples at one worker per core (filemap_get_entry),
 * a third of what mapping a window costs; over the same 345 MB file it
 * took 11 ms against cachestat's 3 ms. The kernel headers of older
 * distributions lack it, so its number and structs are spelled out here
 * (for the architectures that share the syscall table's numbers); a
 * kernel without it (ENOSYS), or a sandbox that refuses it (EPERM), is
 * remembered, and mincore does the count from then on.
 */
#if defined(SYS_cachestat)
#define NR_CACHESTAT SYS_cachestat
#elif defined(__linux__) && (defined(__x86_64__) || defined(__i386__) || \
                             defined(__aarch64__) || defined(__arm__) || \
                             defined(__riscv) || defined(__powerpc__) || \
                             defined(__s390__) || defined(__loongarch__))
#define NR_CACHESTAT 451 /* the number shared from 424 on (not alpha, mips) */
#endif
struct cs_range {
	uint64_t off, len;
};
struct cs_stat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted,
	    nr_recently_evicted;
};
static atomic_int g_no_cachestat; /* 1: the kernel has none, or refuses */

/* The pages of [off, off + len) of fd not in the page cache, by
 * cachestat, into *cold: 0, or -1 when it cannot tell. */
static int
cold_by_cachestat(int fd, uint64_t off, size_t len, size_t pages,
                  size_t *cold)
{
#ifdef NR_CACHESTAT
	if (atomic_load_explicit(&g_no_cachestat, memory_order_relaxed))
		return -1;
	struct cs_range r = {off, len};
	struct cs_stat cs;
	if (syscall(NR_CACHESTAT, fd, &r, &cs, 0) != 0) {
		if (errno == ENOSYS || errno == EPERM || errno == EOPNOTSUPP)
			atomic_store_explicit(&g_no_cachestat, 1, memory_order_relaxed);
		return -1;
	}
	*cold = cs.nr_cache < pages ? pages - (size_t)cs.nr_cache : 0;
	return 0;
#else
	(void)fd, (void)off, (void)len, (void)pages, (void)cold;
	return -1;
#endif
}

/* The pages of the mapping [p, p + len) not in the page cache, by mincore
 * into vec (a byte per page): all of them when it fails. */
static size_t
cold_by_mincore(void *p, size_t len, size_t pages, unsigned char *vec)
{
	size_t n = 0;
	if (mincore(p, len, vec))
		return pages;
	for (size_t i = 0; i < pages; i++)
		n += !(vec[i] & 1);
	return n;
}

size_t
op_map_cold_pages(int fd, uint64_t off, size_t len, int by_mincore)
{
	pthread_once(&g_page_once, page_size);
	uint64_t first = off & ~(uint64_t)(g_page - 1);
	len += (size_t)(off - first);
	size_t pages = (len + (size_t)g_page - 1) / (size_t)g_page, cold = pages;
	if (!len || (!by_mincore && !cold_by_cachestat(fd, first, len, pages,
	                                                &cold)))
		return len ? cold : 0;
	unsigned char *vec = malloc(pages);
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)first);
	if (vec && p != MAP_FAILED)
		cold = cold_by_mincore(p, len, pages, vec);
	if (p != MAP_FAILED)
		munmap(p, len);
	free(vec);
	return cold;
}

/* The end of the window that starts at off and holds pos. */
static uint64_t
win_end(const struct op_map *m, uint64_t off, uint64_t pos)
{
	uint64_t want = m->want_end > pos ? m->want_end : pos;
	uint64_t end = want < m->size ? want + SLACK : m->size;
	if (end < off + (1u << 20))
		end = off + (1u << 20);
	if (end > off + m->cap)
		end = off + m->cap;
	return end < m->size ? end : m->size;
}

/* Maps the window that holds pos into *w: 0, OP_MAP_COLD (nothing
 * mapped) when more than a sixteenth of its pages are not in the page
 * cache, or WEFT_EIO. */
static int
win_map(struct op_map *m, uint64_t pos, struct win *w)
{
	uint64_t off = pos & ~(uint64_t)(g_page - 1);
	size_t len = (size_t)(win_end(m, off, pos) - off),
	       pages = (len + (size_t)g_page - 1) / (size_t)g_page, cold;
	/* counted before mapping where cachestat can: a cold window is then
	 * never mapped; else on the mapping, by mincore */
	int counted = cold_by_cachestat(m->fd, off, len, pages, &cold) == 0;
	if (counted && cold * 16 > pages)
		return OP_MAP_COLD;
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, m->fd, (off_t)off);
	if (p == MAP_FAILED)
		return WEFT_EIO;
	if (!counted)
		cold = cold_by_mincore(p, len, pages, m->vec);
	if (cold * 16 > pages) {
		munmap(p, len);
		return OP_MAP_COLD;
	}
	if (cold) /* read the holes in together, not a fault at a time */
		(void)posix_fadvise(m->fd, (off_t)off, (off_t)len,
		                    POSIX_FADV_WILLNEED);
#ifdef MADV_POPULATE_READ
	/* what MAP_POPULATE does, on the window just counted (a kernel
	 * before 5.14 refuses: then page faults map the pages). A file cut
	 * short meanwhile makes it fail (EFAULT), not raise SIGBUS. */
	(void)madvise(p, len, MADV_POPULATE_READ);
#endif
	w->p = p;
	w->off = off;
	w->len = len;
	w->mapped = 1;
	return 0;
}

/* Reads the window that starts at pos into buf, *w: 0, or WEFT_EIO when
 * the file ends before the size it had when opened (cut short) or a read
 * fails. Reads only what op_map_open set (the helper runs it). */
static int
win_read(const struct op_map *m, unsigned char *buf, uint64_t pos,
         struct win *w)
{
	size_t len = (size_t)(win_end(m, pos, pos) - pos), got = 0;
	while (got < len) {
		ssize_t r = pread(m->fd, buf + got, len - got, (off_t)(pos + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return WEFT_EIO;
		got += (size_t)r;
	}
	w->p = buf;
	w->off = pos;
	w->len = len;
	w->mapped = 0;
	return 0;
}

/* Unmaps w where it is a mapping (a buffer stays), and forgets it. */
static void
win_release(struct win *w)
{
	if (w->p && w->mapped)
		munmap(w->p, w->len);
	w->p = NULL;
}

/*
 * The helper of a map read ahead: makes ready the window it is asked for
 * while the reader decodes the one before, and unmaps the one the reader
 * is done with. A window in the page cache is mapped and populated
 * (win_map); a colder one is read with pread() into the buffer it is
 * told (win_read), which overlaps the disk with decoding. Mapping each
 * window on the reading thread (cachestat or mincore, mmap, populating
 * and unmapping its page table) was about a tenth of that thread's time
 * at one worker on a file cached in 4 KiB folios (2026-12-06,
 * bench/results/notes-profile.md); here it costs the helper's core. The
 * helper first copied every window instead: the reader's read then came
 * from a buffer another core had just written, and the copy streamed
 * twice the file through the caches the assembler's slabs live in.
 * Mapping instead, weft replay W=1 ran 1.027x as fast with the file in
 * 2 MiB folios and 1.018x in 4 KiB ones (20 rounds, 2026-12-07).
 */
static void *
ahead_main(void *arg)
{
	struct op_map *m = arg;
	struct ahead *a = m->ahead;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->stop && a->state != AHEAD_ASKED)
			pthread_cond_wait(&a->cv, &a->lock);
		if (a->stop)
			break;
		uint64_t pos = a->ask;
		unsigned char *buf = a->buf[a->fill];
		struct win w = {0}, done = a->unmap;
		a->unmap.p = NULL;
		pthread_mutex_unlock(&a->lock);
		win_release(&done);
		int rc = win_map(m, pos, &w);
		if (rc == OP_MAP_COLD)
			rc = win_read(m, buf, pos, &w);
		pthread_mutex_lock(&a->lock);
		a->rc = rc;
		a->next = w;
		a->state = AHEAD_DONE;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* The reader's next window, at m->pos, into m->cur; the reader is done
 * with the one before. Read ahead: the helper's (waiting for it if need
 * be), which is then asked for the window after it (into the other
 * buffer, if it is read), and to unmap the one before. Else mapped here,
 * the one before unmapped. */
static int
next_window(struct op_map *m)
{
	struct ahead *a = m->ahead;
	struct win w = {0}, old = m->cur;
	int rc;
	m->cur.p = NULL;
	if (!a) {
		win_release(&old);
		rc = win_map(m, m->pos, &w);
		if (rc == 0)
			m->cur = w;
		return rc;
	}
	pthread_mutex_lock(&a->lock);
	for (;;) { /* the window at m->pos (always the one asked for) */
		while (a->state == AHEAD_ASKED)
			pthread_cond_wait(&a->cv, &a->lock);
		if (a->state == AHEAD_DONE && a->ask == m->pos)
			break;
		if (a->state == AHEAD_DONE && a->rc == 0)
			win_release(&a->next);
		a->ask = m->pos;
		a->state = AHEAD_ASKED;
		pthread_cond_broadcast(&a->cv);
	}
	a->state = AHEAD_IDLE;
	rc = a->rc;
	w = a->next;
	if (rc == 0 && w.off + w.len < m->size) {
		a->fill ^= 1;
		a->ask = w.off + w.len;
		a->state = AHEAD_ASKED;
		if (old.p && old.mapped) {
			a->unmap = old;
			old.p = NULL;
		}
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->lock);
	win_release(&old); /* no job after it: unmapped here */
	if (rc == 0)
		m->cur = w;
	return rc;
}

ssize_t
op_map_next(struct op_map *m, size_t cap, const unsigned char **data)
{
	if (m->pos >= m->size)
		return 0;
	if (!m->cur.p || m->pos >= m->cur.off + m->cur.len) {
		int rc = next_window(m);
		if (rc)
			return rc;
	}
	uint64_t left = m->cur.off + m->cur.len - m->pos;
	size_t n = left < cap ? (size_t)left : cap;
	*data = m->cur.p + (m->pos - m->cur.off);
	m->pos += n;
	return (ssize_t)n;
}

void
op_map_guard_begin(const struct op_map *m)
{
	t_fault = 0;
	t_lo = m->cur.p;
	t_hi = m->cur.p ? m->cur.p + m->cur.len : NULL;
}

int
op_map_guard_end(void)
{
	t_lo = t_hi = NULL;
	return t_fault != 0;
}

/* Stops m's helper and frees its buffers, and any window it made ready
 * or was to unmap. */
static void
ahead_stop(struct ahead *a)
{
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thr, NULL);
	if (a->state == AHEAD_DONE && a->rc == 0)
		win_release(&a->next);
	win_release(&a->unmap);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->lock);
	munmap(a->area, a->area_len);
	free(a);
}

void
op_map_free(struct op_map *m)
{
	if (!m)
		return;
	if (m->ahead)
		ahead_stop(m->ahead);
	win_release(&m->cur);
	if (m->fd >= 0)
		close(m->fd);
	free(m->vec);
	free(m);
}

/*
 * op_reader.c — byte input for sources: a file descriptor, plain or
 * compressed (gzip/zlib via zlib, zstd via libzstd), detected by magic
 * bytes, optionally restricted to a byte range.
 *
 * The reader owns the raw reads, and decompressors are fed from its own
 * input buffer, so a live stream (a pipe, a terminal) can be read without
 * blocking whatever its compression: op_reader_read() returns
 * OP_READ_AGAIN when the descriptor has nothing now, and the source turns
 * that into ENGINE_POLL_IDLE instead of stalling its worker.
 *
 * Ranges (for sharded plain files) are byte ranges of the raw file; they
 * make no sense for compressed input, and op_reader_open_range() refuses
 * them there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "operators/ingest/ingest.h"

#define RD_IN_CAP (128u * 1024u)

struct op_reader {
	int fd;
	int own_fd;
	int nonblock;
	enum op_compression comp;
	uint64_t remaining; /* raw bytes left in the range (UINT64_MAX: all) */
	unsigned char *in;
	size_t in_len, in_pos;
	int raw_eof;
	int stream_end; /* decompressor finished the last frame/member */
	z_stream zs;
	int zs_init;
	ZSTD_DStream *zd;
	uint64_t raw_bytes; /* read from the descriptor */
};

/* One read() of up to want raw bytes into dst, counted against the range.
 * Returns >0 bytes, 0 at EOF (remembered), OP_READ_AGAIN when a
 * non-blocking read found nothing, or WEFT_EIO. */
static ssize_t
raw_read(struct op_reader *r, void *dst, size_t want)
{
	if (r->remaining < want)
		want = (size_t)r->remaining;
	ssize_t n;
	do
		n = read(r->fd, dst, want);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? OP_READ_AGAIN : WEFT_EIO;
	if (n == 0) {
		r->raw_eof = 1;
		return 0;
	}
	r->raw_bytes += (uint64_t)n;
	if (r->remaining != UINT64_MAX)
		r->remaining -= (uint64_t)n;
	return n;
}

/* Refills in[] from the descriptor. Returns >0 bytes, 0 at EOF,
 * OP_READ_AGAIN when a non-blocking read found nothing, or WEFT_EIO. */
static ssize_t
fill(struct op_reader *r)
{
	if (r->in_pos < r->in_len)
		return (ssize_t)(r->in_len - r->in_pos);
	if (r->raw_eof || r->remaining == 0) {
		r->raw_eof = 1;
		return 0;
	}
	if (r->nonblock) {
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int pr = poll(&p, 1, 0);
		if (pr == 0)
			return OP_READ_AGAIN;
	}
	ssize_t n = raw_read(r, r->in, RD_IN_CAP);
	if (n > 0) {
		r->in_len = (size_t)n;
		r->in_pos = 0;
	}
	return n;
}

static int
detect(struct op_reader *r, enum op_compression want)
{
	if (want != OP_COMP_AUTO) {
		r->comp = want;
	} else {
		/* Peek at the first bytes; a pipe may deliver them in pieces. */
		while (r->in_len < 4) {
			if (r->raw_eof)
				break;
			ssize_t n;
			do
				n = read(r->fd, r->in + r->in_len, 4 - r->in_len);
			while (n < 0 && errno == EINTR);
			if (n < 0)
				return WEFT_EIO;
			if (n == 0)
				r->raw_eof = 1;
			r->in_len += (size_t)n;
			r->raw_bytes += (uint64_t)n;
			if (r->remaining != UINT64_MAX)
				r->remaining -= (uint64_t)n;
		}
		const unsigned char *m = r->in;
		if (r->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b)
			r->comp = OP_COMP_GZIP;
		else if (r->in_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 &&
		         m[2] == 0x2f && m[3] == 0xfd)
			r->comp = OP_COMP_ZSTD;
		else
			r->comp = OP_COMP_NONE;
	}
	if (r->comp == OP_COMP_GZIP) {
		memset(&r->zs, 0, sizeof r->zs);
		if (inflateInit2(&r->zs, 15 + 32) != Z_OK) /* gzip or zlib */
			return WEFT_ENOMEM;
		r->zs_init = 1;
	} else if (r->comp == OP_COMP_ZSTD) {
		r->zd = ZSTD_createDStream();
		if (!r->zd || ZSTD_isError(ZSTD_initDStream(r->zd)))
			return WEFT_ENOMEM;
	}
	return 0;
}

static int
reader_new(int fd, int own, int nonblock, uint64_t length,
           enum op_compression comp, struct op_reader **out)
{
	struct op_reader *r = calloc(1, sizeof *r);
	if (!r)
		return WEFT_ENOMEM;
	r->fd = fd;
	r->own_fd = own;
	r->nonblock = nonblock;
	r->remaining = length;
	r->in = malloc(RD_IN_CAP);
	if (!r->in) {
		op_reader_free(r);
		return WEFT_ENOMEM;
	}
	int rc = detect(r, comp);
	if (rc) {
		op_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int
op_reader_open(const char *path, enum op_compression comp, int nonblock,
               struct op_reader **out)
{
	int fd = 0, own = 0;
	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return WEFT_EIO;
		own = 1;
	}
	int rc = reader_new(fd, own, nonblock, UINT64_MAX, comp, out);
	if (rc && own)
		close(fd);
	return rc;
}

int
op_reader_open_range(const char *path, uint64_t begin, uint64_t end,
                     struct op_reader **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return WEFT_EIO;
	if (lseek(fd, (off_t)begin, SEEK_SET) < 0) {
		close(fd);
		return WEFT_EIO;
	}
	int rc = reader_new(fd, 1, 0, end > begin ? end - begin : 0,
	                    OP_COMP_NONE, out);
	if (rc)
		close(fd);
	return rc;
}

int
op_reader_file_info(const char *path, uint64_t *size, int *regular,
                    enum op_compression *comp)
{
	struct stat st;
	if (strcmp(path, "-") == 0) {
		*size = 0;
		*regular = 0;
		*comp = OP_COMP_AUTO;
		return 0;
	}
	if (stat(path, &st) != 0)
		return WEFT_EIO;
	*size = (uint64_t)st.st_size;
	*regular = S_ISREG(st.st_mode);
	*comp = OP_COMP_NONE;
	unsigned char m[4] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return WEFT_EIO;
	ssize_t n = read(fd, m, sizeof m);
	close(fd);
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		*comp = OP_COMP_GZIP;
	else if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f &&
	         m[3] == 0xfd)
		*comp = OP_COMP_ZSTD;
	return 0;
}

ssize_t
op_reader_read(struct op_reader *r, void *buf, size_t cap)
{
	if (cap == 0)
		return 0;
	if (r->comp == OP_COMP_NONE) {
		if (r->in_pos >= r->in_len && !r->nonblock && !r->raw_eof &&
		    r->remaining != 0)
			/* Nothing buffered: read straight into the caller's
			 * buffer instead of into in[] and then copying. */
			return raw_read(r, buf, cap);
		ssize_t n = fill(r);
		if (n <= 0)
			return n;
		size_t k = r->in_len - r->in_pos;
		if (k > cap)
			k = cap;
		memcpy(buf, r->in + r->in_pos, k);
		r->in_pos += k;
		return (ssize_t)k;
	}
	for (;;) {
		ssize_t n = fill(r);
		if (n < 0)
			return n;
		if (n == 0) {
			/* Raw EOF: a compressed stream must have ended cleanly. */
			return r->stream_end || r->raw_bytes == 0 ? 0 : WEFT_EFORMAT;
		}
		size_t produced;
		if (r->comp == OP_COMP_GZIP) {
			if (r->stream_end) {
				/* Another gzip member follows (concatenated files). */
				inflateReset(&r->zs);
				r->stream_end = 0;
			}
			r->zs.next_in = r->in + r->in_pos;
			r->zs.avail_in = (uInt)(r->in_len - r->in_pos);
			r->zs.next_out = buf;
			r->zs.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
			int zr = inflate(&r->zs, Z_NO_FLUSH);
			r->in_pos = r->in_len - r->zs.avail_in;
			produced = (size_t)((unsigned char *)r->zs.next_out -
			                    (unsigned char *)buf);
			if (zr == Z_STREAM_END)
				r->stream_end = 1;
			else if (zr != Z_OK && zr != Z_BUF_ERROR)
				return WEFT_EFORMAT;
		} else {
			ZSTD_inBuffer ib = {r->in, r->in_len, r->in_pos};
			ZSTD_outBuffer ob = {buf, cap, 0};
			size_t zr = ZSTD_decompressStream(r->zd, &ob, &ib);
			if (ZSTD_isError(zr))
				return WEFT_EFORMAT;
			r->in_pos = ib.pos;
			produced = ob.pos;
			r->stream_end = zr == 0; /* a frame is complete */
		}
		if (produced) {
			return (ssize_t)produced;
		}
	}
}

void
op_reader_free(struct op_reader *r)
{
	if (!r)
		return;
	if (r->zs_init)
		inflateEnd(&r->zs);
	if (r->zd)
		ZSTD_freeDStream(r->zd);
	if (r->own_fd)
		close(r->fd);
	free(r->in);
	free(r);
}

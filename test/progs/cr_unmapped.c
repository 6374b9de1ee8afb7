// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_unmapped: registered buffers whose memory was unmapped after
 * registration, checkpointed and restored (zdtm style).  Only the ring's
 * pinned pages hold their contents.
 *
 * Ring A (plain, or with --single-issuer SINGLE_ISSUER|DEFER_TASKRUN, or
 * with --sqpoll SQPOLL): a dense table of 4 buffers, each filled by
 * READ_FIXED from a data file:
 *   0: 8 KiB, still mapped;
 *   1: 3 MiB + 100 bytes (several dump chunks), unmapped;
 *   2: 5000 bytes at offset 100 of a two-page mapping, unmapped;
 *   3: 1000 bytes inside buffer 2's pages (they share pinned pages), unmapped.
 * Ring B (plain): a sparse table of 8 with buffer 1 (6000 bytes, unmapped)
 * and buffer 6 (4 KiB, still mapped).  With --slot-only, ring B is then
 * held only through registered-ring slot 2 of the main thread (its fd
 * closed, IORING_REGISTER_RING_FDS).
 * Both rings are moved past slot 0 with NOPs, and each keeps one
 * unreaped CQE.  With --partial, only the second page of buffer 2's
 * mapping is unmapped (buffer 2 partly mapped: the dump must refuse it).
 *
 * After SIGUSR1: the unreaped CQEs are still there at the same index; every
 * unmapped buffer, written with WRITE_FIXED to a file, gives back exactly
 * what was read into it; a READ_FIXED of new data into buffer 3 shows in
 * buffer 2 (shared pages); a READ_FIXED of new data into each unmapped
 * buffer then WRITE_FIXED back returns the new data; the CQ indices move
 * by one per request.  Exit 0 with "verified" only then.
 */
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include "lib/uring.h"

#define KIB 1024
#define MIB (1024 * 1024)

struct buf {
	struct ring *r;
	unsigned int index;
	uint8_t *addr;
	size_t len;
	bool unmap;
	uint8_t seed;		/* contents: pattern(seed) */
};

static struct ring a, b;
static int data_fd, out_fd;
static uint8_t *map_a1, *map_a2, *map_b1;
static struct buf bufs[6];
static unsigned int nbufs;
static uint32_t cq_tail_a, cq_tail_b;

static uint8_t pattern(uint8_t seed, size_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + (i >> 12));
}

/* The data file: at seed * 4 MiB, 4 MiB of pattern(seed). */
static void write_data(uint8_t seed)
{
	static uint8_t chunk[64 * KIB];

	for (size_t off = 0; off < 4 * MIB; off += sizeof(chunk)) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = pattern(seed, off + i);
		if (pwrite(data_fd, chunk, sizeof(chunk), (off_t)seed * 4 * MIB + off) != (ssize_t)sizeof(chunk))
			die("write the data file");
	}
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes", len);
	return p;
}

/* One fixed-buffer request on r, waited for; its CQE must be the next one and carry len. */
static void fixed_io(struct ring *r, int op, int fd, unsigned int index, void *addr, size_t len,
		     uint64_t off, uint64_t ud, const char *what)
{
	uint32_t tail = *r->cq_tail;
	struct io_uring_sqe *sqe = ring_get_sqe(r);
	struct io_uring_cqe *cqe;
	unsigned int ready = ring_cq_ready(r);

	sqe_rw(sqe, op, fd, addr, len, off, ud);
	sqe->buf_index = index;
	if (ring_submit_and_wait(r, ready + 1) < 0)
		die("%s", what);
	cqe = ring_cqe_at(r, ready);
	if (!cqe || cqe->user_data != ud)
		die_err(EIO, "%s: no completion", what);
	if (cqe->res != (int)len)
		die_err(cqe->res < 0 ? -cqe->res : EIO, "%s: result %d, expected %zu", what, cqe->res, len);
	if (*r->cq_tail != tail + 1)
		die_err(EIO, "%s: CQ tail moved from %u to %u", what, tail, *r->cq_tail);
	/* keep the CQEs before it: consume only this one when it is the only one */
	if (ready == 0)
		ring_cq_advance(r, 1);
}

static void add(struct ring *r, unsigned int index, uint8_t *addr, size_t len, bool unmap, uint8_t seed)
{
	bufs[nbufs++] = (struct buf){ r, index, addr, len, unmap, seed };
}

static void register_a(void)
{
	struct iovec iov[4];

	map_a1 = map(3 * MIB + 4096);
	map_a2 = map(2 * 4096);
	add(&a, 0, map(8 * KIB), 8 * KIB, false, 1);
	add(&a, 1, map_a1, 3 * MIB + 100, true, 2);
	add(&a, 2, map_a2 + 100, 5000, true, 3);
	add(&a, 3, map_a2 + 6000, 1000, true, 3);
	for (int i = 0; i < 4; i++) {
		iov[i].iov_base = bufs[i].addr;
		iov[i].iov_len = bufs[i].len;
	}
	reg_or_die(a.fd, IORING_REGISTER_BUFFERS, iov, 4, "register ring A's buffers");
}

static void register_b(void)
{
	struct io_uring_rsrc_register rr = { .nr = 8, .flags = IORING_RSRC_REGISTER_SPARSE };

	reg_or_die(b.fd, IORING_REGISTER_BUFFERS2, &rr, sizeof(rr), "register ring B's sparse table");
	map_b1 = map(2 * 4096);
	add(&b, 1, map_b1, 6000, true, 4);
	add(&b, 6, map(4096), 4096, false, 5);
	for (unsigned int i = 4; i < 6; i++) {
		struct iovec iov = { bufs[i].addr, bufs[i].len };
		struct io_uring_rsrc_update2 up = { .offset = bufs[i].index, .data = (uintptr_t)&iov, .nr = 1 };

		reg_or_die(b.fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up), "register a buffer of ring B");
	}
}

/* Buffer 3 lies inside buffer 2, at the same offset of the data as its address. */
static uint64_t data_off(const struct buf *x)
{
	if (x->r == &a && x->index == 3)
		return (uint64_t)x->seed * 4 * MIB + (x->addr - bufs[2].addr);
	return (uint64_t)x->seed * 4 * MIB;
}

static void setup(unsigned int flags_a, bool partial, bool slot_only)
{
	struct io_uring_params p = { .flags = flags_a };

	data_fd = open(scratch_path("cr_unmapped.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	out_fd = open(scratch_path("cr_unmapped.check"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0 || out_fd < 0)
		die("scratch files");
	for (uint8_t seed = 1; seed <= 7; seed++)
		write_data(seed);
	ring_create_or_die(&a, 8, &p);
	ring_create_or_die(&b, 8, NULL);
	register_a();
	register_b();
	for (unsigned int i = 0; i < nbufs; i++)
		fixed_io(bufs[i].r, IORING_OP_READ_FIXED, data_fd, bufs[i].index, bufs[i].addr, bufs[i].len,
			 data_off(&bufs[i]), 0x100 + i, "fill a buffer with READ_FIXED");
	munmap(map_a1, 3 * MIB + 4096);
	if (partial)
		munmap(map_a2 + 4096, 4096);
	else
		munmap(map_a2, 2 * 4096);
	munmap(map_b1, 2 * 4096);
	ring_advance_by_nops(&a, 77);
	ring_advance_by_nops(&b, 13);
	/* one unreaped CQE on each ring: it must come back at the same index */
	sqe_nop(ring_get_sqe(&a), 0xC0FFEE);
	sqe_nop(ring_get_sqe(&b), 0xBEEF);
	if (ring_submit_and_wait(&a, 1) < 0 || ring_submit_and_wait(&b, 1) < 0)
		die("the unreaped NOPs");
	cq_tail_a = *a.cq_tail;
	cq_tail_b = *b.cq_tail;
	if (slot_only) {
		struct io_uring_rsrc_update slot = { .offset = 2, .data = b.fd };

		reg_or_die(b.fd, IORING_REGISTER_RING_FDS, &slot, 1, "register ring B in slot 2");
		ring_close_fd(&b);
		b.fd = 2;
		b.registered = true;
	}
}

/* Write buffer x to the check file with WRITE_FIXED; its bytes must be pattern(seed) from data offset off. */
static void check_contents(const struct buf *x, uint8_t seed, uint64_t off, const char *when)
{
	static uint8_t got[4 * MIB];

	fixed_io(x->r, IORING_OP_WRITE_FIXED, out_fd, x->index, x->addr, x->len, 0, 0x200 + x->index, "WRITE_FIXED");
	if (pread(out_fd, got, x->len, 0) != (ssize_t)x->len)
		die("read back the check file");
	for (size_t i = 0; i < x->len; i++)
		if (got[i] != pattern(seed, off % (4 * MIB) + i))
			die_err(EIO, "ring %s buffer %u, %s: byte %zu is %u, expected %u", x->r == &a ? "A" : "B",
				x->index, when, i, got[i], pattern(seed, off % (4 * MIB) + i));
}

static void check_kept_cqe(struct ring *r, uint64_t ud, uint32_t tail)
{
	struct io_uring_cqe *cqe = ring_cqe_at(r, 0);

	if (*r->cq_tail != tail || ring_cq_ready(r) != 1 || !cqe || cqe->user_data != ud)
		die_err(EIO, "the unreaped CQE %#" PRIx64 " is not where it was (tail %u, expected %u)", ud, *r->cq_tail, tail);
	ring_cq_advance(r, 1);
}

static void verify(void)
{
	check_kept_cqe(&a, 0xC0FFEE, cq_tail_a);
	check_kept_cqe(&b, 0xBEEF, cq_tail_b);
	for (unsigned int i = 0; i < nbufs; i++)
		check_contents(&bufs[i], bufs[i].seed, data_off(&bufs[i]), "as read before the dump");
	/* buffer 3 shares buffer 2's pages: new data in 3 shows in 2 */
	fixed_io(&a, IORING_OP_READ_FIXED, data_fd, 3, bufs[3].addr, bufs[3].len, 6ull * 4 * MIB, 0x300, "READ_FIXED into buffer 3");
	check_contents(&bufs[3], 6, 0, "after new data");
	fixed_io(&a, IORING_OP_WRITE_FIXED, out_fd, 2, bufs[2].addr, bufs[2].len, 0, 0x301, "WRITE_FIXED of buffer 2");
	{
		uint8_t got[5000];
		size_t at = bufs[3].addr - bufs[2].addr;

		if (pread(out_fd, got, sizeof(got), 0) != (ssize_t)sizeof(got))
			die("read back buffer 2");
		for (size_t i = 0; i < sizeof(got); i++) {
			bool in3 = i >= at && i < at + bufs[3].len;
			uint8_t want = in3 ? pattern(6, i - at) : pattern(3, i);

			if (got[i] != want)
				die_err(EIO, "buffer 2 byte %zu is %u, expected %u (%s)", i, got[i], want,
					in3 ? "buffer 3's new data: pages not shared" : "its own data");
		}
	}
	/* new data into every unmapped buffer, and back out */
	for (unsigned int i = 0; i < nbufs; i++) {
		if (!bufs[i].unmap || (bufs[i].r == &a && bufs[i].index == 3))
			continue;
		fixed_io(bufs[i].r, IORING_OP_READ_FIXED, data_fd, bufs[i].index, bufs[i].addr, bufs[i].len,
			 7ull * 4 * MIB, 0x400 + i, "READ_FIXED of new data");
		check_contents(&bufs[i], 7, 0, "after new data");
	}
}

int main(int argc, char **argv)
{
	bool partial = false, slot_only = false;
	unsigned int flags_a = 0;
	struct truth *t;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--single-issuer"))
			flags_a = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
		else if (!strcmp(argv[i], "--sqpoll"))
			flags_a = IORING_SETUP_SQPOLL;
		else if (!strcmp(argv[i], "--slot-only"))
			slot_only = true;
		else if (!strcmp(argv[i], "--partial"))
			partial = true;
		else
			die_err(EINVAL, "unknown option %s", argv[i]);
	}
	stop_signals_init(argv[0]);
	setup(flags_a, partial, slot_only);
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "inode_a", a.inode);
	truth_int(t, "inode_b", b.inode);
	truth_write(t);
	wait_for_stop();
	verify();
	printf("verified\n");
	return 0;
}

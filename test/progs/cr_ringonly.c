// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_ringonly: state only the ring holds, checkpointed and restored
 * (zdtm style).
 *
 * Ring A (plain): registered files [-, data file, -, directory] whose fds
 * were closed (the data file at position 4096), a sparse registered-buffer
 * table of 8 with buffers at 2 and 5, an eventfd registered and closed,
 * and the ring itself registered in slot 3 of the main thread
 * (IORING_REGISTER_RING_FDS).  Ring B: held only through slot 5 and its
 * mapping (its fd closed).
 *
 * After SIGUSR1: a READ through fixed file 1 at the file position returns
 * the block written at 4096 and moves the position; a READ_FIXED into
 * buffer 5 returns block 0; NOPs through IORING_ENTER_REGISTERED_RING on
 * slots 3 and 5 complete on A and B.  Exit 0 with "verified" only then.
 */
#include <inttypes.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include "lib/uring.h"

#define BLK 4096

static struct ring a, b;
static uint8_t *bufs[2];

static void fill(uint8_t *p, uint8_t tag)
{
	for (int i = 0; i < BLK; i++)
		p[i] = (uint8_t)(tag + i * 7);
}

static bool same(const uint8_t *p, uint8_t tag)
{
	for (int i = 0; i < BLK; i++)
		if (p[i] != (uint8_t)(tag + i * 7))
			return false;
	return true;
}

static struct io_uring_cqe *reap(struct ring *r, uint64_t ud, const char *what)
{
	struct io_uring_cqe *cqe = ring_cqe_at(r, 0);

	if (!cqe || cqe->user_data != ud)
		die_err(EIO, "%s: no completion %" PRIu64, what, ud);
	return cqe;
}

static void setup_a(void)
{
	int files[4] = { -1, -1, -1, -1 };
	struct io_uring_rsrc_register rr = { .nr = 8, .flags = IORING_RSRC_REGISTER_SPARSE };
	struct iovec iov[2];
	uint8_t blk[BLK];
	int data, dir, efd;

	ring_create_or_die(&a, 8, NULL);
	data = open(scratch_path("cr_ringonly.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data < 0)
		die("data file");
	fill(blk, 1);
	if (pwrite(data, blk, BLK, 0) != BLK)
		die("write block 0");
	fill(blk, 2);
	if (pwrite(data, blk, BLK, BLK) != BLK)
		die("write block 1");
	if (lseek(data, BLK, SEEK_SET) != BLK)
		die("lseek");
	dir = open(scratch_path(""), O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die("directory");
	files[1] = data;
	files[3] = dir;
	reg_or_die(a.fd, IORING_REGISTER_FILES, files, 4, "register files");
	close(data);
	close(dir);

	reg_or_die(a.fd, IORING_REGISTER_BUFFERS2, &rr, sizeof(rr), "register a sparse buffer table");
	for (int i = 0; i < 2; i++) {
		bufs[i] = mmap(NULL, BLK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (bufs[i] == MAP_FAILED)
			die("buffer");
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = BLK;
		struct io_uring_rsrc_update2 up = { .offset = i ? 5 : 2, .data = (uintptr_t)&iov[i], .nr = 1 };
		reg_or_die(a.fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up), "update buffer");
	}

	efd = eventfd(0, 0);
	if (efd < 0)
		die("eventfd");
	reg_or_die(a.fd, IORING_REGISTER_EVENTFD, &efd, 1, "register eventfd");
	close(efd);

	struct io_uring_rsrc_update slot = { .offset = 3, .data = a.fd };
	reg_or_die(a.fd, IORING_REGISTER_RING_FDS, &slot, 1, "register ring A in slot 3");
	ring_advance_by_nops(&a, 50);
}

static void setup_b(void)
{
	ring_create_or_die(&b, 8, NULL);
	struct io_uring_rsrc_update slot = { .offset = 5, .data = b.fd };
	reg_or_die(b.fd, IORING_REGISTER_RING_FDS, &slot, 1, "register ring B in slot 5");
	ring_advance_by_nops(&b, 20);
	ring_close_fd(&b);
}

static void nop_registered(struct ring *r, int slot, uint64_t ud)
{
	sqe_nop(ring_get_sqe(r), ud);
	ring_commit(r);
	if (sys_io_uring_enter(slot, 1, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING, NULL, 0) != 1)
		die("NOP through registered ring slot %d", slot);
	if (reap(r, ud, "registered-ring NOP")->res != 0)
		die_err(EIO, "registered-ring NOP failed");
	ring_cq_advance(r, 1);
}

static void verify(void)
{
	struct io_uring_sqe *sqe;

	/* fixed file 1 at its own position (offset -1): block 1, then the position moved */
	sqe = ring_get_sqe(&a);
	sqe_rw(sqe, IORING_OP_READ, 1, bufs[0], BLK, (uint64_t)-1, 0xF11E);
	sqe->flags |= IOSQE_FIXED_FILE;
	if (ring_submit_and_wait(&a, 1) < 0)
		die("read through fixed file 1");
	if (reap(&a, 0xF11E, "fixed file read")->res != BLK || !same(bufs[0], 2))
		die_err(EIO, "fixed file 1 did not read block 1 at its position");
	ring_cq_advance(&a, 1);
	sqe = ring_get_sqe(&a);
	sqe_rw(sqe, IORING_OP_READ, 1, bufs[0], BLK, (uint64_t)-1, 0xF12E);
	sqe->flags |= IOSQE_FIXED_FILE;
	if (ring_submit_and_wait(&a, 1) < 0)
		die("second read");
	if (reap(&a, 0xF12E, "second fixed file read")->res != 0)
		die_err(EIO, "fixed file 1 position was not at the end after reading block 1");
	ring_cq_advance(&a, 1);

	/* sparse buffer 5 */
	sqe = ring_get_sqe(&a);
	sqe_rw(sqe, IORING_OP_READ_FIXED, 1, bufs[1], BLK, 0, 0xB0F5);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->buf_index = 5;
	if (ring_submit_and_wait(&a, 1) < 0)
		die("read into buffer 5");
	if (reap(&a, 0xB0F5, "READ_FIXED")->res != BLK || !same(bufs[1], 1))
		die_err(EIO, "registered buffer 5 did not receive block 0");
	ring_cq_advance(&a, 1);

	nop_registered(&a, 3, 0xA3);
	nop_registered(&b, 5, 0xB5);
}

int main(int argc, char **argv)
{
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	setup_a();
	setup_b();
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

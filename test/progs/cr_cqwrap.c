// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_cqwrap [--pbuf]: a nearly full CQ whose unconsumed CQEs wrap around
 * the end of the CQE array.  8-entry CQ, CQ head 6, tail 12: user_data
 * 7..12 wait in slots 6, 7, 0, 1, 2, 3, and only slots 4 and 5 are free.
 *
 * After the checkpoint the program submits three NOPs.  The kernel must
 * put two of them in slots 4 and 5 and the third on its overflow list
 * (FEAT_NODROP); none may land on an unconsumed CQE.  The kernel keeps a
 * cache of free CQ slots computed from the CQ head at the time it was
 * filled, and a restore that fills it while the CQ is empty and then
 * writes back the dumped head would let new completions overwrite slots
 * 6 and 7.
 *
 * --pbuf: the CQEs are reads that took buffers from a buffer ring, so the
 * restore must move the ring's head (by reads it reaps) before its index
 * advance.  Reads 1..8 fill the CQ, 1 and 2 are consumed, read 9 follows:
 * CQ head 2, tail 9, user_data 3..9 in slots 2..7 and 0, only slot 1
 * free; buffer ring head 9.  A restore whose head move reaped its reads
 * up to 9 left the kernel's free-slot cache at slots 1..7.  After the
 * checkpoint: three NOPs (one in slot 1, two on the overflow list), the
 * reads checked (bid = user_data - 1, the file's bytes), then one more
 * read must take bid 9.
 *
 * Prints "verified", else one line on stderr and exit 1.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include "lib/uring.h"

#define BGID		1
#define NR_BUFS		16
#define BUF_LEN		64

static struct ring r;
static struct io_uring_buf_ring *br;
static uint8_t *bufs;
static int data_fd = -1;

static uint8_t file_byte(unsigned int off)
{
	return (uint8_t)(off * 7 + 3);
}

static void pbuf_setup(void)
{
	struct io_uring_buf_reg reg = { .ring_entries = NR_BUFS, .bgid = BGID };
	uint8_t data[NR_BUFS * BUF_LEN];

	data_fd = open(scratch_path("cr_cqwrap.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0)
		die("data file");
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = file_byte(i);
	if (pwrite(data_fd, data, sizeof(data), 0) != (ssize_t)sizeof(data))
		die("writing the data file");
	br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = mmap(NULL, NR_BUFS * BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED || bufs == MAP_FAILED)
		die("buffer ring memory");
	reg.ring_addr = (uintptr_t)br;
	reg_or_die(r.fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING");
	for (uint16_t bid = 0; bid < NR_BUFS; bid++) {
		struct io_uring_buf *b = &br->bufs[bid];

		b->addr = (uintptr_t)(bufs + bid * BUF_LEN);
		b->len = BUF_LEN;
		b->bid = bid;
	}
	__atomic_store_n(&br->tail, NR_BUFS, __ATOMIC_RELEASE);
}

/* Reads user_data @first.. of the file at offset (user_data - 1) * BUF_LEN, each into a selected buffer. */
static void submit_reads(uint64_t first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = ring_get_sqe(&r);

		sqe_rw(sqe, IORING_OP_READ, data_fd, NULL, BUF_LEN, (first + i - 1) * BUF_LEN, first + i);
		sqe->flags = IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	}
	if (ring_submit(&r, 0) != (int)n)
		die("submitting %u reads", n);
}

static void submit_nops(uint64_t first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(&r), first + i);
	if (ring_submit(&r, 0) != (int)n)
		die("submitting %u NOPs", n);
}

static struct io_uring_cqe *next_cqe(uint64_t ud);

/* Consume one CQE, which must carry @ud with res 0. */
static void expect(uint64_t ud)
{
	struct io_uring_cqe *cqe = next_cqe(ud);

	if (cqe->res != 0)
		die_err(EIO, "CQE at head %u: user_data %llu res %d, expected res 0",
			*r.cq_head, (unsigned long long)ud, cqe->res);
	ring_cq_advance(&r, 1);
}

/* Consume the CQE of read @ud, which must have filled buffer @bid with the file's bytes at its offset. */
static void expect_read(uint64_t ud, uint16_t bid)
{
	struct io_uring_cqe *cqe = next_cqe(ud);
	unsigned int off = (unsigned int)(ud - 1) * BUF_LEN;

	if (cqe->res != BUF_LEN || !(cqe->flags & IORING_CQE_F_BUFFER) ||
	    cqe->flags >> IORING_CQE_BUFFER_SHIFT != bid)
		die_err(EIO, "read %llu: res %d flags 0x%x, expected res %d with bid %u",
			(unsigned long long)ud, cqe->res, cqe->flags, BUF_LEN, bid);
	for (unsigned int i = 0; i < BUF_LEN; i++)
		if (bufs[bid * BUF_LEN + i] != file_byte(off + i))
			die_err(EIO, "read %llu: bid %u does not hold the file's bytes", (unsigned long long)ud, bid);
	ring_cq_advance(&r, 1);
}

static int main_pbuf(void)
{
	struct truth *t;

	pbuf_setup();
	submit_reads(1, 4);
	submit_reads(5, 4);
	expect_read(1, 0);
	expect_read(2, 1);
	submit_reads(9, 1);
	while (ring_cq_ready(&r) < 7)
		if (sys_io_uring_enter(r.fd, 0, 7 - ring_cq_ready(&r), IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("io_uring_enter(GETEVENTS)");
	if (*r.cq_head != 2 || *r.cq_tail != 9)
		die_err(EIO, "CQ head %u tail %u, expected 2 and 9", *r.cq_head, *r.cq_tail);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);
	wait_for_stop();

	submit_nops(100, 3);
	for (uint64_t ud = 3; ud <= 9; ud++)
		expect_read(ud, (uint16_t)(ud - 1));
	expect(100);
	expect(101);	/* from the overflow list */
	expect(102);
	submit_reads(10, 1);	/* the buffer ring's head went on at 9 */
	expect_read(10, 9);
	if (ring_cq_ready(&r))
		die_err(EIO, "%u unexpected CQEs left", ring_cq_ready(&r));
	printf("verified\n");
	return 0;
}

/* The CQE at the head, which must carry @ud (the overflow list flushed if the CQ is empty); not consumed. */
static struct io_uring_cqe *next_cqe(uint64_t ud)
{
	struct io_uring_cqe *cqe = ring_cqe_at(&r, 0);

	if (!cqe) {
		if (sys_io_uring_enter(r.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("io_uring_enter(GETEVENTS)");
		cqe = ring_cqe_at(&r, 0);
	}
	if (!cqe)
		die_err(EIO, "no CQE where user_data %llu was expected (CQ head %u tail %u)",
			(unsigned long long)ud, *r.cq_head, *r.cq_tail);
	if (cqe->user_data != ud)
		die_err(EIO, "CQE at head %u: user_data %llu res %d, expected user_data %llu",
			*r.cq_head, (unsigned long long)cqe->user_data, cqe->res, (unsigned long long)ud);
	return cqe;
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 8 };
	struct truth *t;

	stop_signals_init(argv[0]);
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--pbuf")))
		die_err(EINVAL, "usage: cr_cqwrap [--pbuf]");
	ring_create_or_die(&r, 4, &p);
	if (r.p.cq_entries != 8 || !(r.p.features & IORING_FEAT_NODROP))
		die_err(EINVAL, "need an 8-entry CQ and FEAT_NODROP");
	if (argc == 2)
		return main_pbuf();
	submit_nops(1, 4);
	submit_nops(5, 4);
	for (uint64_t ud = 1; ud <= 6; ud++)
		expect(ud);
	submit_nops(9, 4);
	if (*r.cq_head != 6 || *r.cq_tail != 12)
		die_err(EIO, "CQ head %u tail %u, expected 6 and 12", *r.cq_head, *r.cq_tail);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);
	wait_for_stop();

	submit_nops(100, 3);
	for (uint64_t ud = 7; ud <= 12; ud++)
		expect(ud);
	expect(100);
	expect(101);
	expect(102);	/* from the overflow list */
	if (ring_cq_ready(&r))
		die_err(EIO, "%u unexpected CQEs left", ring_cq_ready(&r));
	printf("verified\n");
	return 0;
}

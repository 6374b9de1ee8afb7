// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_pending: SQEs written and published (SQ tail moved) but never
 * submitted, and CQEs posted but not consumed, all with known contents.
 *
 *   6 NOPs submitted (user_data 1001..1006; 1003 injects res 77), the
 *   first 2 CQEs consumed: 4 CQEs stay in the ring.  Then 3 SQEs (NOP,
 *   READ, WRITE with distinct fields) are published without io_uring_enter.
 */
#define _GNU_SOURCE
#include "uring.h"

#define NR_SUBMITTED	6
#define NR_CONSUMED	2

static char buf[64];

static void submit_nops(struct ring *r)
{
	unsigned int i;
	int ret;

	for (i = 0; i < NR_SUBMITTED; i++) {
		struct io_uring_sqe *sqe = ring_get_sqe(r);

		sqe_nop(sqe, 1001 + i);
		if (i == 2) {
			sqe->nop_flags = IORING_NOP_INJECT_RESULT;
			sqe->len = 77;
		}
	}
	ret = ring_submit_and_wait(r, NR_SUBMITTED);
	if (ret != NR_SUBMITTED)
		die_err(ret < 0 ? -ret : EIO, "submit %d NOPs (got %d)", NR_SUBMITTED, ret);
	ring_cq_advance(r, NR_CONSUMED);
}

static void publish_unsubmitted(struct ring *r, int fd)
{
	struct io_uring_sqe *sqe;

	sqe = ring_get_sqe(r);
	sqe_nop(sqe, 2001);
	sqe->flags = IOSQE_IO_LINK;

	sqe = ring_get_sqe(r);
	sqe_rw(sqe, IORING_OP_READ, fd, buf, sizeof(buf), 4096, 2002);
	sqe->rw_flags = 0x10;	/* RWF_APPEND: a recognisable value */

	sqe = ring_get_sqe(r);
	sqe_rw(sqe, IORING_OP_WRITE, fd, buf, 17, 123456789, 0xfedcba9876543210ULL);
	sqe->ioprio = 0;
	sqe->buf_index = 0;
	ring_commit(r);
}

int main(int argc, char **argv)
{
	struct truth *t;
	struct ring r;
	unsigned int i, head, tail;
	int fd;

	(void)argc;
	stop_signals_init(argv[0]);
	fd = open(scratch_path("pending.dat"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open %s", scratch_path("pending.dat"));
	ring_create_or_die(&r, 8, NULL);
	submit_nops(&r);
	publish_unsubmitted(&r, fd);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, NR_SUBMITTED, NR_SUBMITTED);
	truth_arr(t, "pending_sqes");
	head = *r.sq_head;
	tail = *r.sq_tail;
	for (i = head; i != tail; i++) {
		unsigned int slot = i & *r.sq_mask;

		truth_sqe(t, (struct io_uring_sqe *)((char *)r.sqe_mem + slot * r.sqe_size), slot);
	}
	truth_end(t);
	truth_arr(t, "cqes");
	for (i = 0; i < ring_cq_ready(&r); i++)
		truth_cqe(t, ring_cqe_at(&r, i));
	truth_end(t);
	truth_arr(t, "overflow_cqes");
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_bigidx: indices in the millions.  3,000,000 NOPs are run and
 * reaped in batches, then 3 more leave unconsumed CQEs and 2 SQEs are
 * published without submitting, so head, tail and the cached values are
 * all different, large, and wrapped many times around the 64-entry ring.
 */
#define _GNU_SOURCE
#include "uring.h"

#define ADVANCE		3000000UL
#define ENTRIES		64

int main(int argc, char **argv)
{
	struct truth *t;
	struct ring r;
	unsigned int i, head;
	int ret;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, ENTRIES, NULL);
	ring_advance_by_nops(&r, ADVANCE);
	for (i = 0; i < 3; i++)
		sqe_nop(ring_get_sqe(&r), ADVANCE + i);
	ret = ring_submit_and_wait(&r, 3);
	if (ret != 3)
		die_err(ret < 0 ? -ret : EIO, "submit 3 NOPs");
	for (i = 0; i < 2; i++)
		sqe_nop(ring_get_sqe(&r), 0xabc0 + i);
	ring_commit(&r);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, ADVANCE + 3, ADVANCE + 3);
	truth_arr(t, "cqes");
	for (i = 0; i < 3; i++)
		truth_cqe(t, ring_cqe_at(&r, i));
	truth_end(t);
	truth_arr(t, "pending_sqes");
	head = *r.sq_head;
	for (i = head; i != *r.sq_tail; i++) {
		unsigned int slot = i & *r.sq_mask;

		truth_sqe(t, (struct io_uring_sqe *)((char *)r.sqe_mem + slot * r.sqe_size), slot);
	}
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_overflow: a CQ with 4 slots, 4 unconsumed CQEs in it and 3 more
 * waiting in the kernel's overflow list (user_data 501..503), so
 * IORING_SQ_CQ_OVERFLOW is set and the CQ tail stops at 4.
 */
#define _GNU_SOURCE
#include "uring.h"

#define CQ_SLOTS	4
#define NR_OVERFLOW	3

static void submit_nops(struct ring *r, unsigned int n, uint64_t first_ud)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(r), first_ud + i);
	ret = ring_submit(r, 0);
	if (ret != (int)n)
		die_err(ret < 0 ? -ret : EIO, "submit %u NOPs (got %d)", n, ret);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_SLOTS };
	struct truth *t;
	struct ring r;
	unsigned int i;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 4, &p);
	submit_nops(&r, CQ_SLOTS, 401);
	submit_nops(&r, NR_OVERFLOW, 501);
	if (ring_cq_ready(&r) != CQ_SLOTS || !(*r.sq_flags & IORING_SQ_CQ_OVERFLOW))
		die_err(EPROTO, "CQ did not overflow (ready %u, sq flags 0x%x)", ring_cq_ready(&r), *r.sq_flags);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, CQ_SLOTS + NR_OVERFLOW, CQ_SLOTS);
	truth_arr(t, "cqes");
	for (i = 0; i < CQ_SLOTS; i++)
		truth_cqe(t, ring_cqe_at(&r, i));
	truth_end(t);
	truth_arr(t, "overflow_cqes");
	for (i = 0; i < NR_OVERFLOW; i++) {
		struct io_uring_cqe c = { .user_data = 501 + i };

		truth_cqe(t, &c);
	}
	truth_end(t);
	truth_arr(t, "pending_sqes");
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

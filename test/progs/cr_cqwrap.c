// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_cqwrap: a nearly full CQ whose unconsumed CQEs wrap around the end of
 * the CQE array.  8-entry CQ, CQ head 6, tail 12: user_data 7..12 wait in
 * slots 6, 7, 0, 1, 2, 3, and only slots 4 and 5 are free.
 *
 * After the checkpoint the program submits three NOPs.  The kernel must
 * put two of them in slots 4 and 5 and the third on its overflow list
 * (FEAT_NODROP); none may land on an unconsumed CQE.  The kernel keeps a
 * cache of free CQ slots computed from the CQ head at the time it was
 * filled, and a restore that fills it while the CQ is empty and then
 * writes back the dumped head would let new completions overwrite slots
 * 6 and 7.  Prints "verified", else one line on stderr and exit 1.
 */
#include "lib/uring.h"

static struct ring r;

static void submit_nops(uint64_t first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(&r), first + i);
	if (ring_submit(&r, 0) != (int)n)
		die("submitting %u NOPs", n);
}

/* Consume one CQE, which must carry @ud; flush the overflow list if the CQ is empty. */
static void expect(uint64_t ud)
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
	if (cqe->user_data != ud || cqe->res != 0)
		die_err(EIO, "CQE at head %u: user_data %llu res %d, expected user_data %llu res 0",
			*r.cq_head, (unsigned long long)cqe->user_data, cqe->res, (unsigned long long)ud);
	ring_cq_advance(&r, 1);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 8 };
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 4, &p);
	if (r.p.cq_entries != 8 || !(r.p.features & IORING_FEAT_NODROP))
		die_err(EINVAL, "need an 8-entry CQ and FEAT_NODROP");
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

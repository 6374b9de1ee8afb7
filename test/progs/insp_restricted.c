// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_restricted: two rings with REGISTER_RESTRICTIONS.
 *   ring A: still disabled (R_DISABLED, never enabled); allows register
 *           ops EVENTFD and PERSONALITY, SQE ops NOP/READ/WRITE, flags
 *           FIXED_FILE|IO_LINK, and requires FIXED_FILE
 *   ring B: enabled; allows only NOP.  2 NOPs ran, then a READ that the
 *           restriction refused (its -EACCES CQE was consumed).
 */
#define _GNU_SOURCE
#include "uring.h"

static void restrict_ring(struct ring *r, const struct io_uring_restriction *res, unsigned int n)
{
	reg_or_die(r->fd, IORING_REGISTER_RESTRICTIONS, res, n, "RESTRICTIONS");
}

static void run_b(struct ring *b)
{
	struct io_uring_sqe *sqe;
	int ret;

	ring_advance_by_nops(b, 2);
	sqe = ring_get_sqe(b);
	sqe_rw(sqe, IORING_OP_READ, 0, NULL, 0, 0, 0xbad);
	ret = ring_submit_and_wait(b, 1);
	if (ret != 1 || ring_cqe_at(b, 0)->res != -EACCES)
		die_err(EPROTO, "restricted READ was not refused with EACCES");
	ring_cq_advance(b, 1);
}

static void truth_restrictions(struct truth *t, const int *reg_ops, int nreg, const int *sqe_ops,
			       int nsqe, int allowed, int required)
{
	int i;

	truth_obj(t, "restrictions");
	truth_arr(t, "register_ops");
	for (i = 0; i < nreg; i++)
		truth_int(t, NULL, reg_ops[i]);
	truth_end(t);
	truth_arr(t, "sqe_ops");
	for (i = 0; i < nsqe; i++)
		truth_int(t, NULL, sqe_ops[i]);
	truth_end(t);
	truth_int(t, "sqe_flags_allowed", allowed);
	truth_int(t, "sqe_flags_required", required);
	truth_end(t);
}

int main(int argc, char **argv)
{
	static const int a_reg[] = { IORING_REGISTER_EVENTFD, IORING_REGISTER_PERSONALITY };
	static const int a_sqe[] = { IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE };
	static const int b_sqe[] = { IORING_OP_NOP };
	struct io_uring_restriction ra[] = {
		{ .opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_REGISTER_EVENTFD },
		{ .opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_REGISTER_PERSONALITY },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_NOP },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITE },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_FIXED_FILE | IOSQE_IO_LINK },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = IOSQE_FIXED_FILE },
	};
	struct io_uring_restriction rb[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_NOP },
	};
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	struct ring a, b;
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&a, 8, &p);
	restrict_ring(&a, ra, sizeof(ra) / sizeof(ra[0]));
	ring_create_or_die(&b, 8, &p);
	restrict_ring(&b, rb, 1);
	ring_enable(&b);
	run_b(&b);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &a, &a.fd, 1, 0, 0);
	truth_restrictions(t, a_reg, 2, a_sqe, 3, IOSQE_FIXED_FILE | IOSQE_IO_LINK, IOSQE_FIXED_FILE);
	truth_end(t);
	truth_obj(t, NULL);
	truth_ring_common(t, &b, &b.fd, 1, 3, 3);
	truth_restrictions(t, NULL, 0, b_sqe, 1, 0, 0);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

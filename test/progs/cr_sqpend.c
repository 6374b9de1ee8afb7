// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_sqpend [--flags HEX] [--msg]: an SQPOLL ring whose SQ thread went
 * idle, with one SQE published (the SQ tail moved) but no wakeup yet — the
 * state an application is in between publishing and calling io_uring_enter
 * with IORING_ENTER_SQ_WAKEUP.  --flags adds setup flags (e.g. NO_MMAP).
 * --msg: the pending SQE is a MSG_RING to a second, plain ring set up after
 * the first (so a restore rebuilds it later), with NOPs behind it.
 *
 * After SIGUSR1: the program wakes the thread if it asks for it, and the
 * pending SQE must complete exactly once with its own user_data and
 * result 0 (a restore that let the new SQ thread run a leftover NOP from
 * the index advance in its slot loses it; one that let the thread submit
 * before the rest of the process was rebuilt sends the message to the
 * placeholder fd of the second ring: -EBADFD), the message must be on the
 * second ring exactly once, then more NOPs run.  "verified", or one line
 * on stderr and exit 1.
 */
#include <inttypes.h>
#include <time.h>
#include "lib/uring.h"

#define UD_PENDING	0x1234u
#define UD_MSG		0x5678u
#define MSG_RES		4242

static struct ring r, to;

/*
 * Until the SQ thread has published its head for everything submitted
 * (it does so after posting the CQEs) and gone idle: NEED_WAKEUP may still
 * be set from an earlier idle period while the woken thread runs.
 */
static void wait_idle(void)
{
	for (int i = 0; i < 300; i++) {
		if (__atomic_load_n(r.sq_head, __ATOMIC_ACQUIRE) == *r.sq_tail &&
		    __atomic_load_n(r.sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)
			return;
		usleep(10000);
	}
	die_err(ETIMEDOUT, "the SQ thread did not go idle");
}

static struct io_uring_cqe *wait_cqe(struct ring *on)
{
	for (int i = 0; i < 300; i++) {
		if (ring_cq_ready(on))
			return ring_cqe_at(on, 0);
		usleep(10000);
	}
	return NULL;
}

/* The one CQE @on must get: @ud with @res, and nothing after it. */
static void expect_one(struct ring *on, const char *which, uint64_t ud, int res)
{
	struct io_uring_cqe *cqe = wait_cqe(on);

	if (!cqe)
		die_err(ETIMEDOUT, "no completion on %s", which);
	if (cqe->user_data != ud || cqe->res != res)
		die_err(EIO, "completion on %s user_data 0x%" PRIx64 " res %d, expected 0x%" PRIx64 " res %d",
			which, (uint64_t)cqe->user_data, cqe->res, ud, res);
	ring_cq_advance(on, 1);
	usleep(50000);
	if (ring_cq_ready(on))
		die_err(EIO, "an extra completion on %s, user_data 0x%" PRIx64, which,
			(uint64_t)ring_cqe_at(on, 0)->user_data);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 50 };
	struct io_uring_params plain = { 0 };
	struct io_uring_sqe *sqe;
	struct truth *t;
	bool msg = false;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags |= strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--msg"))
			msg = true;
		else
			die_err(EINVAL, "usage: cr_sqpend [--flags HEX] [--msg]");
	}
	ring_create_or_die(&r, 8, &p);
	if (msg) {
		ring_create_or_die(&to, 8, &plain);
		ring_advance_by_nops(&to, 300);
	}
	ring_advance_by_nops(&r, 1000);
	wait_idle();
	usleep(100000);	/* and stays idle */
	wait_idle();
	sqe = ring_get_sqe(&r);
	if (!sqe)
		die_err(ENOSPC, "no free SQE after the SQ thread went idle");
	if (msg) {
		/* MSG_RING: the target gets a CQE with user_data = off and res = len */
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_MSG_RING;
		sqe->fd = to.fd;
		sqe->len = MSG_RES;
		sqe->off = UD_MSG;
		sqe->user_data = UD_PENDING;
	} else {
		sqe_nop(sqe, UD_PENDING);
	}
	ring_commit(&r);	/* published; the idle thread is not woken */
	t = truth_new();
	truth_int(t, "sq_tail", *r.sq_tail);
	truth_write(t);
	wait_for_stop();
	if (__atomic_load_n(r.sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)
		sys_io_uring_enter(r.fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
	expect_one(&r, "the SQPOLL ring", UD_PENDING, 0);
	if (msg) {
		expect_one(&to, "the ring the message went to", UD_MSG, MSG_RES);
		ring_advance_by_nops(&to, 100);
	}
	ring_advance_by_nops(&r, 100);
	printf("verified\n");
	return 0;
}

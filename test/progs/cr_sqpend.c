// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_sqpend [--flags HEX]: an SQPOLL ring whose SQ thread went idle, with
 * one SQE published (the SQ tail moved) but no wakeup yet — the state an
 * application is in between publishing and calling io_uring_enter with
 * IORING_ENTER_SQ_WAKEUP.  --flags adds setup flags (e.g. NO_MMAP).
 *
 * After SIGUSR1: the program wakes the thread if it asks for it, and the
 * pending SQE must complete exactly once with its own user_data (a
 * restore that let the new SQ thread run a leftover NOP from the index
 * advance in its slot loses it), then more NOPs run.  "verified", or one
 * line on stderr and exit 1.
 */
#include <inttypes.h>
#include <time.h>
#include "lib/uring.h"

#define UD_PENDING	0x1234u

static struct ring r;

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

static struct io_uring_cqe *wait_cqe(void)
{
	for (int i = 0; i < 300; i++) {
		if (ring_cq_ready(&r))
			return ring_cqe_at(&r, 0);
		usleep(10000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 50 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct truth *t;

	stop_signals_init(argv[0]);
	if (argc == 3 && !strcmp(argv[1], "--flags"))
		p.flags |= strtoul(argv[2], NULL, 16);
	else if (argc != 1)
		die_err(EINVAL, "usage: cr_sqpend [--flags HEX]");
	ring_create_or_die(&r, 8, &p);
	ring_advance_by_nops(&r, 1000);
	wait_idle();
	usleep(100000);	/* and stays idle */
	wait_idle();
	sqe = ring_get_sqe(&r);
	if (!sqe)
		die_err(ENOSPC, "no free SQE after the SQ thread went idle");
	sqe_nop(sqe, UD_PENDING);
	ring_commit(&r);	/* published; the idle thread is not woken */
	t = truth_new();
	truth_int(t, "sq_tail", *r.sq_tail);
	truth_write(t);
	wait_for_stop();
	if (__atomic_load_n(r.sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)
		sys_io_uring_enter(r.fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
	cqe = wait_cqe();
	if (!cqe)
		die_err(ETIMEDOUT, "no completion for the pending SQE");
	if (cqe->user_data != UD_PENDING || cqe->res != 0)
		die_err(EIO, "completion user_data 0x%" PRIx64 " res %d, expected 0x%x res 0",
			(uint64_t)cqe->user_data, cqe->res, UD_PENDING);
	ring_cq_advance(&r, 1);
	usleep(50000);
	if (ring_cq_ready(&r))
		die_err(EIO, "an extra completion, user_data 0x%" PRIx64, (uint64_t)ring_cqe_at(&r, 0)->user_data);
	ring_advance_by_nops(&r, 100);
	printf("verified\n");
	return 0;
}

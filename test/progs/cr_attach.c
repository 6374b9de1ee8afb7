// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_attach: two SQPOLL rings sharing one poller thread (ATTACH_WQ)
 * across a checkpoint.  Ring A is created with SQPOLL, ring B with
 * SQPOLL|ATTACH_WQ on A.  Both complete NOPs before the checkpoint; after
 * SIGUSR1 both must still complete NOPs with the right user_data, served by
 * one iou-sqp thread.  Prints "verified" and exits 0, else one line on
 * stderr and exit 1.
 */
#include "lib/uring.h"

static struct ring a, b;

static void nop(struct ring *r, uint64_t ud)
{
	struct io_uring_cqe *cqe;

	sqe_nop(ring_get_sqe(r), ud);
	if (ring_submit(r, 1) < 0)
		die("submit");
	while (!ring_cq_ready(r))
		if (sys_io_uring_enter(r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("wait");
	cqe = ring_cqe_at(r, 0);
	if (cqe->user_data != ud)
		die_err(EIO, "completion %llu, expected %llu", (unsigned long long)cqe->user_data, (unsigned long long)ud);
	ring_cq_advance(r, 1);
}

int main(int argc, char **argv)
{
	struct io_uring_params pa = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 100 };
	struct io_uring_params pb = { .flags = IORING_SETUP_SQPOLL | IORING_SETUP_ATTACH_WQ, .sq_thread_idle = 100 };
	pid_t sqp[4];
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&a, 8, &pa);
	pb.wq_fd = a.fd;
	ring_create_or_die(&b, 8, &pb);
	for (uint64_t i = 1; i <= 10; i++) {
		nop(&a, i);
		nop(&b, 100 + i);
	}
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);

	wait_for_stop();
	for (uint64_t i = 11; i <= 20; i++) {
		nop(&a, i);
		nop(&b, 100 + i);
	}
	if (find_threads("iou-sqp", sqp, 4) != 1)
		die_err(EIO, "%d SQPOLL threads, expected one shared thread", find_threads("iou-sqp", sqp, 4));
	printf("verified\n");
	return 0;
}

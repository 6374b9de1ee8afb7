// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_taskwork --flags HEX
 *
 * A completion that exists only as task work at the checkpoint: a read
 * forced to io-wq (IOSQE_ASYNC) finishes in a kernel worker, and its CQE is
 * queued as task work — DEFER_TASKRUN local work (flags 3000) or
 * COOP_TASKRUN task work (flags 100) — which runs only when this thread
 * next enters the kernel for events.  The program then sleeps without
 * doing so until SIGUSR1, so the checkpoint happens with the CQE not yet
 * posted.  After SIGUSR1 the CQE must arrive with the right user_data,
 * result and data.  Prints "verified", else one line on stderr, exit 1.
 */
#include "lib/uring.h"

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	char path[] = "/tmp/cr_taskwork.XXXXXX", want[4096], got[4096];
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct ring r;
	struct truth *t;
	int fd;

	stop_signals_init(argv[0]);
	if (argc == 3 && !strcmp(argv[1], "--flags"))
		p.flags = strtoul(argv[2], NULL, 16);
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);
	for (unsigned int i = 0; i < sizeof(want); i++)
		want[i] = (char)(i * 7 + 3);
	if (write(fd, want, sizeof(want)) != sizeof(want))
		die("write");
	ring_create_or_die(&r, 8, &p);
	sqe = ring_get_sqe(&r);
	sqe_rw(sqe, IORING_OP_READ, fd, got, sizeof(got), 0, 0x7a5c);
	sqe->flags |= IOSQE_ASYNC;
	if (ring_submit(&r, 0) != 1)
		die("submit");
	/* let io-wq finish the read; its CQE now waits in task work */
	usleep(200 * 1000);
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "cq_ready_before", ring_cq_ready(&r));
	truth_write(t);

	wait_for_stop();
	while (!ring_cq_ready(&r))
		if (sys_io_uring_enter(r.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("waiting for the read");
	cqe = ring_cqe_at(&r, 0);
	if (cqe->user_data != 0x7a5c || cqe->res != (int)sizeof(got))
		die_err(EIO, "completion user_data %#llx res %d", (unsigned long long)cqe->user_data, cqe->res);
	if (memcmp(got, want, sizeof(got)))
		die_err(EIO, "the read returned the wrong bytes");
	ring_cq_advance(&r, 1);
	if (ring_cq_ready(&r))
		die_err(EIO, "%u extra completions", ring_cq_ready(&r));
	printf("verified\n");
	return 0;
}

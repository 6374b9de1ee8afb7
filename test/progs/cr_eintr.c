// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_eintr: a thread waits in io_uring_enter(GETEVENTS) and, like many
 * liburing users, treats -EINTR as fatal.  No signal is ever sent to it,
 * so a checkpoint (dump, --leave-running or restore) must not make its
 * wait fail.  After SIGUSR1 (taken by the main thread) main posts the
 * waiter a NOP; the waiter checks it.  Prints "verified", else one line on
 * stderr and exit 1.
 */
#include <pthread.h>
#include "lib/uring.h"

static struct ring r;

static void *waiter_main(void *arg)
{
	struct io_uring_cqe *cqe;

	(void)arg;
	if (sys_io_uring_enter(r.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("waiter: io_uring_enter");	/* EINTR included: that is the point */
	cqe = ring_cqe_at(&r, 0);
	if (!cqe || cqe->user_data != 0xe1)
		die_err(EIO, "waiter: woken without its completion");
	ring_cq_advance(&r, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t waiter;
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 8, NULL);
	if (pthread_create(&waiter, NULL, waiter_main, NULL))
		die("pthread_create");
	usleep(100 * 1000);
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);
	wait_for_stop();
	sqe_nop(ring_get_sqe(&r), 0xe1);
	if (ring_submit(&r, 0) != 1)
		die("submit");
	pthread_join(waiter, NULL);
	printf("verified\n");
	return 0;
}

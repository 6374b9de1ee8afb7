// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_sqpoll_shared: SQPOLL rings A and B share one poller thread
 * (B is created with IORING_SETUP_ATTACH_WQ, wq_fd = A); ring C has a
 * thread of its own.  Idle times are multiples of 4 ms so they survive
 * the kernel's conversion to jiffies (HZ=250) unchanged.
 */
#define _GNU_SOURCE
#include "uring.h"

#define IDLE_AB	500
#define IDLE_C	2000

/* The one iou-sqp thread that is not @known (or any, if @known is 0). */
static pid_t new_sqp_thread(pid_t known)
{
	pid_t tids[8];
	int tries, n = 0, i;

	/* The thread names itself once it runs: give it up to 2 s. */
	for (tries = 0; tries < 200; tries++) {
		n = find_threads("iou-sqp-", tids, 8);
		for (i = 0; i < n && i < 8; i++)
			if (tids[i] != known)
				return tids[i];
		usleep(10000);
	}
	die_err(ESRCH, "no new iou-sqp thread (found %d)", n);
}

static void sqpoll_ring(struct ring *r, unsigned int idle, int attach_to)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = idle };

	if (attach_to >= 0) {
		p.flags |= IORING_SETUP_ATTACH_WQ;
		p.wq_fd = (__u32)attach_to;
	}
	ring_create_or_die(r, 8, &p);
}

static void truth_sqpoll_ring(struct truth *t, struct ring *r, unsigned int nops, pid_t tid,
			      unsigned int idle, const struct ring *peer)
{
	truth_obj(t, NULL);
	truth_ring_common(t, r, &r->fd, 1, nops, nops);
	truth_obj(t, "sqpoll");
	truth_int(t, "thread_pid", tid);
	truth_null(t, "cpu");
	truth_int(t, "idle_ms", idle);
	truth_arr(t, "shared_with");
	if (peer)
		truth_int(t, NULL, (long long)peer->inode);
	truth_end(t);
	truth_end(t);
	truth_end(t);
}

int main(int argc, char **argv)
{
	struct ring a, b, c;
	pid_t tid_ab, tid_c, tids[8];
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	sqpoll_ring(&a, IDLE_AB, -1);
	tid_ab = new_sqp_thread(0);
	sqpoll_ring(&b, IDLE_AB, a.fd);
	if (find_threads("iou-sqp-", tids, 8) != 1)
		die_err(EPROTO, "ATTACH_WQ created a second poller thread");
	sqpoll_ring(&c, IDLE_C, -1);
	tid_c = new_sqp_thread(tid_ab);
	ring_advance_by_nops(&a, 2);
	ring_advance_by_nops(&b, 4);
	ring_advance_by_nops(&c, 6);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_sqpoll_ring(t, &a, 2, tid_ab, IDLE_AB, &b);
	truth_sqpoll_ring(t, &b, 4, tid_ab, IDLE_AB, &a);
	truth_sqpoll_ring(t, &c, 6, tid_c, IDLE_C, NULL);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

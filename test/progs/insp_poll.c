// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_poll: requests parked on poll waitqueues: a READ on an empty pipe
 * (the kernel arms async poll for it) and a POLL_ADD for POLLIN on
 * another empty pipe.  Neither can complete until the program exits.
 */
#define _GNU_SOURCE
#include <poll.h>
#include "uring.h"

static char buf[32];

int main(int argc, char **argv)
{
	struct io_uring_sqe *sqe;
	struct truth *t;
	struct ring r;
	int p1[2], p2[2], ret;

	(void)argc;
	stop_signals_init(argv[0]);
	if (pipe(p1) < 0 || pipe(p2) < 0)
		die("pipe");
	ring_create_or_die(&r, 8, NULL);

	sqe = ring_get_sqe(&r);
	sqe_rw(sqe, IORING_OP_READ, p1[0], buf, sizeof(buf), (uint64_t)-1, 0x7001);
	sqe = ring_get_sqe(&r);
	sqe->opcode = IORING_OP_POLL_ADD;
	sqe->fd = p2[0];
	sqe->poll32_events = POLLIN;
	sqe->user_data = 0x7002;
	ret = ring_submit(&r, 0);
	if (ret != 2)
		die_err(ret < 0 ? -ret : EIO, "submit READ + POLL_ADD (got %d)", ret);
	if (ring_cq_ready(&r))
		die_err(EPROTO, "a poll-armed request completed early");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 2, 0);
	truth_arr(t, "inflight");
	truth_obj(t, NULL);
	truth_str(t, "opcode", "READ");
	truth_u64s(t, "user_data", 0x7001);
	truth_int(t, "fd", p1[0]);
	truth_bool(t, "fixed", false);
	truth_str(t, "state", "poll");
	truth_end(t);
	truth_obj(t, NULL);
	truth_str(t, "opcode", "POLL_ADD");
	truth_u64s(t, "user_data", 0x7002);
	truth_int(t, "fd", p2[0]);
	truth_bool(t, "fixed", false);
	truth_str(t, "state", "poll");
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

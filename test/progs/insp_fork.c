// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_fork: a ring shared by two processes.  The parent sets it up (4
 * NOPs, 2 unconsumed CQEs), then forks; the child inherits the fd and
 * both mappings and just waits.  Both must show the same ring (same
 * inode, same indices).  The truth names the child as "child_pid".
 */
#define _GNU_SOURCE
#include <sys/wait.h>
#include "uring.h"

int main(int argc, char **argv)
{
	struct truth *t;
	struct ring r;
	int ready[2], i, ret;
	pid_t child;
	char c;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 8, NULL);
	ring_advance_by_nops(&r, 2);
	for (i = 0; i < 2; i++)
		sqe_nop(ring_get_sqe(&r), 0xf00 + i);
	ret = ring_submit_and_wait(&r, 2);
	if (ret != 2)
		die_err(ret < 0 ? -ret : EIO, "submit 2 NOPs");
	if (pipe(ready) < 0)
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(ready[0]);
		if (write(ready[1], "x", 1) != 1)
			die("child: write ready");
		close(ready[1]);
		wait_for_stop();
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("child did not start");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "_child_pid", child);
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 4, 4);
	truth_arr(t, "cqes");
	for (i = 0; i < 2; i++)
		truth_cqe(t, ring_cqe_at(&r, i));
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_iowq: io-wq worker limits.  Ring A sets IOWQ_MAX_WORKERS to
 * bounded 3 / unbounded 7 (after one NOP, so the task has an io-wq);
 * ring B never sets any (null).
 */
#define _GNU_SOURCE
#include "uring.h"

#define MAX_BOUND	3
#define MAX_UNBOUND	7

int main(int argc, char **argv)
{
	__u32 limits[2] = { MAX_BOUND, MAX_UNBOUND };
	struct ring a, b;
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&a, 8, NULL);
	ring_create_or_die(&b, 8, NULL);
	ring_advance_by_nops(&a, 1);
	reg_or_die(a.fd, IORING_REGISTER_IOWQ_MAX_WORKERS, limits, 2, "IOWQ_MAX_WORKERS");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &a, &a.fd, 1, 1, 1);
	truth_arr(t, "iowq_max_workers");
	truth_int(t, NULL, MAX_BOUND);
	truth_int(t, NULL, MAX_UNBOUND);
	truth_end(t);
	truth_end(t);
	truth_obj(t, NULL);
	truth_ring_common(t, &b, &b.fd, 1, 0, 0);
	truth_null(t, "iowq_max_workers");
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

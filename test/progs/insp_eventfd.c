// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_eventfd: ring A has an eventfd registered with REGISTER_EVENTFD,
 * ring B one with REGISTER_EVENTFD_ASYNC whose fd is also dup'ed, and
 * ring C has none.
 */
#define _GNU_SOURCE
#include <sys/eventfd.h>
#include "uring.h"

static void truth_evfd(struct truth *t, const int *fds, int n, bool async)
{
	int i;

	truth_obj(t, "eventfd");
	truth_arr(t, "fds");
	for (i = 0; i < n; i++)
		truth_int(t, NULL, fds[i]);
	truth_end(t);
	truth_bool(t, "async", async);
	truth_end(t);
}

int main(int argc, char **argv)
{
	struct ring a, b, c;
	struct truth *t;
	int ea, eb[2];

	(void)argc;
	stop_signals_init(argv[0]);
	ea = eventfd(0, EFD_CLOEXEC);
	eb[0] = eventfd(0, 0);
	if (ea < 0 || eb[0] < 0)
		die("eventfd");
	eb[1] = dup(eb[0]);
	ring_create_or_die(&a, 8, NULL);
	ring_create_or_die(&b, 8, NULL);
	ring_create_or_die(&c, 8, NULL);
	reg_or_die(a.fd, IORING_REGISTER_EVENTFD, &ea, 1, "EVENTFD");
	reg_or_die(b.fd, IORING_REGISTER_EVENTFD_ASYNC, &eb[0], 1, "EVENTFD_ASYNC");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &a, &a.fd, 1, 0, 0);
	truth_evfd(t, &ea, 1, false);
	truth_end(t);
	truth_obj(t, NULL);
	truth_ring_common(t, &b, &b.fd, 1, 0, 0);
	truth_evfd(t, eb, 2, true);
	truth_end(t);
	truth_obj(t, NULL);
	truth_ring_common(t, &c, &c.fd, 1, 0, 0);
	truth_null(t, "eventfd");
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

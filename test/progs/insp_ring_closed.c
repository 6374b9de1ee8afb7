// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_ring_closed: a ring whose fd was closed while its SQ/CQ and SQE
 * mappings stay: the mappings alone keep it alive, and inspect must still
 * find it (through /proc/PID/maps).
 */
#define _GNU_SOURCE
#include "uring.h"

#define NR_NOPS 5

int main(int argc, char **argv)
{
	struct truth *t;
	struct ring r;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 8, NULL);
	ring_advance_by_nops(&r, NR_NOPS);
	ring_close_fd(&r);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, NULL, 0, NR_NOPS, NR_NOPS);
	truth_ring_mappings(t, &r);
	truth_arr(t, "registered_slots");
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

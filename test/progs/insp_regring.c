// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_regring: a ring reachable only through a registered-ring slot of
 * the main thread (IORING_REGISTER_RING_FDS at offset 5): its fd is closed
 * and its mappings are gone.  Nothing in procfs shows it.  The program
 * still uses it through the slot to prove it is alive.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include "uring.h"

#define SLOT	5
#define NR_NOPS	7

static void register_in_slot(struct ring *r)
{
	struct io_uring_rsrc_update upd = { .offset = SLOT, .data = (__u64)r->fd };
	int ret = reg_or_die(r->fd, IORING_REGISTER_RING_FDS, &upd, 1, "RING_FDS");

	if (ret != 1 || upd.offset != SLOT)
		die_err(EPROTO, "RING_FDS registered %d ring(s) at %u, wanted 1 at %d", ret, upd.offset, SLOT);
}

/* A NOP-free proof of life: a register call through the slot. */
static void probe_through_slot(void)
{
	__u32 counts[2] = { 0, 0 };

	if (sys_io_uring_register(SLOT, IORING_REGISTER_IOWQ_MAX_WORKERS | IORING_REGISTER_USE_REGISTERED_RING,
				  counts, 2) < 0)
		die("io_uring_register(IOWQ_MAX_WORKERS via registered slot %d)", SLOT);
}

int main(int argc, char **argv)
{
	struct truth *t;
	struct ring r;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 8, NULL);
	ring_advance_by_nops(&r, NR_NOPS);
	register_in_slot(&r);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, NULL, 0, NR_NOPS, NR_NOPS);
	ring_unmap(&r);
	ring_close_fd(&r);
	probe_through_slot();
	truth_arr(t, "mappings");
	truth_end(t);
	truth_arr(t, "registered_slots");
	truth_obj(t, NULL);
	truth_int(t, "tid", (int)syscall(SYS_gettid));
	truth_int(t, "index", SLOT);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

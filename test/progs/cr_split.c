// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_split: a ring whose SQE mapping was split and partly unmapped by the
 * application — page 1 made read-only (mprotect splits the VMA), the last
 * page unmapped.  After a checkpoint the mapping must come back exactly so
 * (the test compares inspect's mappings), and the ring must still work
 * through the pages that are left: the program only ever uses SQE slots in
 * page 0.  Prints "verified", else one line on stderr and exit 1.
 */
#include <sys/mman.h>
#include "lib/uring.h"

#define ENTRIES	256	/* 4 pages of SQEs */

static struct ring r;

static void nops(int n, uint64_t base)
{
	struct io_uring_cqe *cqe;

	for (int i = 0; i < n; i++) {
		sqe_nop(ring_get_sqe(&r), base + i);
		if (ring_submit(&r, 1) != 1)
			die("submit");
		cqe = ring_cqe_at(&r, 0);
		if (!cqe || cqe->user_data != base + i)
			die_err(EIO, "NOP %d: wrong or no completion", i);
		ring_cq_advance(&r, 1);
	}
}

int main(int argc, char **argv)
{
	uint8_t *sqes;
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, ENTRIES, NULL);
	sqes = r.sqe_mem;
	if (r.sqe_len != 4 * 4096)
		die_err(EINVAL, "SQE region is %zu bytes, expected 4 pages", r.sqe_len);
	nops(10, 100);
	if (mprotect(sqes + 4096, 4096, PROT_READ))
		die("mprotect");
	if (munmap(sqes + 3 * 4096, 4096))
		die("munmap");
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);
	wait_for_stop();
	nops(10, 200); /* slots 10..19: still page 0 */
	printf("verified\n");
	return 0;
}

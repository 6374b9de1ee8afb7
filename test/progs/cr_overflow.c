// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_overflow [--flags HEX] [--advance N] [--consume K] [--big]
 *
 * A checkpoint/restore test for the kernel's CQ overflow list.  One ring
 * (4 SQ entries, 8 CQ entries, setup flags from --flags), indices moved
 * by --advance NOPs, then the CQ filled with 8 NOP completions (user_data
 * 401..408) and 5 more CQEs that must overflow: two NOPs (601, 602; one
 * with an injected result) and three MSG_RING posts to itself with chosen
 * res and flags (701..703).  --consume K then reaps K of the 8 CQEs by
 * moving cq.head only (no syscall, so nothing is flushed and the list
 * stays while the CQ has room again).  --big (CQE32 rings) adds a sixth
 * overflowed CQE with extra1/extra2 set (NOP IORING_NOP_CQE32, user_data
 * 801), which the dump must refuse.
 *
 * After SIGUSR1 the program checks: indices, cq_overflow and
 * IORING_SQ_CQ_OVERFLOW are as before; the CQ still holds 401+K..408; a
 * GETEVENTS then flushes the overflow list into the CQ, and the program
 * reaps every overflowed CQE with exactly its user_data, res and flags, in
 * the original order; the overflow flag clears; a new NOP completes
 * normally.  Prints "verified" and exits 0, or one line on stderr, exit 1.
 */
#include <inttypes.h>
#include "lib/uring.h"

#define SQ_ENTRIES	4
#define CQ_ENTRIES	8
#define NR_OVERFLOW	5
#define BIG_UD		801
#define BIG_EXTRA1	0x1111222233334444ull
#define BIG_EXTRA2	0x5555666677778888ull

struct want {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

static struct ring ring;
static bool big;
static const struct want overflowed[NR_OVERFLOW] = {
	{ 601, 0, 0 },
	{ 602, -110, 0 },		/* NOP INJECT_RESULT: -ETIMEDOUT */
	{ 701, 42, 0x8003 },		/* MSG_RING FLAGS_PASS */
	{ 702, -125, 0x10 },
	{ 703, 0x7fffffff, 0xffff },
};

static void submit_nops(unsigned int n, uint64_t first_ud)
{
	for (unsigned int i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(&ring), first_ud + i);
	if (ring_submit(&ring, 0) != (int)n)
		die("submitting %u NOPs", n);
}

static void nop_with_result(uint64_t ud, int32_t res)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe_nop(sqe, ud);
	sqe->nop_flags = IORING_NOP_INJECT_RESULT;
	sqe->len = (uint32_t)res;
	if (ring_submit(&ring, 0) != 1)
		die("submitting a NOP with an injected result");
}

/* MSG_RING to ourselves through the ring-less register (fd -1). */
static void msg_self(const struct want *w)
{
	struct io_uring_sqe sqe = { 0 };

	sqe.opcode = IORING_OP_MSG_RING;
	sqe.fd = ring.fd;
	sqe.addr = IORING_MSG_DATA;
	sqe.off = w->user_data;
	sqe.len = (uint32_t)w->res;
	sqe.msg_ring_flags = IORING_MSG_RING_FLAGS_PASS;
	sqe.file_index = w->flags;
	if (sys_io_uring_register(-1, IORING_REGISTER_SEND_MSG_RING, &sqe, 1) < 0)
		die("IORING_REGISTER_SEND_MSG_RING");
	/* DEFER_TASKRUN: the post is task work for us; run it (min 0 waits for nothing) */
	if (ring.flags & IORING_SETUP_DEFER_TASKRUN &&
	    sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("running task work");
}

/* A NOP whose big CQE carries extra1 = off and extra2 = addr. */
static void nop_big(void)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe_nop(sqe, BIG_UD);
	sqe->nop_flags = IORING_NOP_CQE32;
	sqe->off = BIG_EXTRA1;
	sqe->addr = BIG_EXTRA2;
	if (ring_submit(&ring, 0) != 1)
		die("submitting a NOP with a big CQE");
}

static void overflow_cq(void)
{
	submit_nops(SQ_ENTRIES, 401);
	submit_nops(CQ_ENTRIES - SQ_ENTRIES, 401 + SQ_ENTRIES);
	if (ring_cq_ready(&ring) != CQ_ENTRIES)
		die_err(EPROTO, "CQ not full (%u ready)", ring_cq_ready(&ring));
	submit_nops(1, overflowed[0].user_data);
	nop_with_result(overflowed[1].user_data, overflowed[1].res);
	for (int i = 2; i < NR_OVERFLOW; i++)
		msg_self(&overflowed[i]);
	if (big)
		nop_big();
	if (ring_cq_ready(&ring) != CQ_ENTRIES || !(*ring.sq_flags & IORING_SQ_CQ_OVERFLOW))
		die_err(EPROTO, "CQ did not overflow (ready %u, sq flags 0x%x)", ring_cq_ready(&ring), *ring.sq_flags);
}

static void expect(const struct io_uring_cqe *c, uint64_t ud, int32_t res, uint32_t flags, const char *what)
{
	if (!c)
		die_err(EIO, "%s: no CQE where user_data %" PRIu64 " was expected", what, ud);
	if (c->user_data != ud || c->res != res || c->flags != flags)
		die_err(EIO, "%s: CQE user_data %llu res %d flags 0x%x, expected %" PRIu64 " res %d flags 0x%x", what,
			(unsigned long long)c->user_data, c->res, c->flags, ud, res, flags);
}

static void verify(unsigned int consumed, uint32_t sq_head, uint32_t cq_head, uint32_t cq_tail, uint32_t cq_overflow)
{
	unsigned int got = 0;

	if (*ring.sq_head != sq_head || *ring.cq_head != cq_head || *ring.cq_tail != cq_tail)
		die_err(EIO, "indices sq head %u cq %u..%u, expected %u %u..%u", *ring.sq_head, *ring.cq_head,
			*ring.cq_tail, sq_head, cq_head, cq_tail);
	if (!(*ring.sq_flags & IORING_SQ_CQ_OVERFLOW))
		die_err(EIO, "IORING_SQ_CQ_OVERFLOW is not set after the restore");
	if (*ring.cq_overflow != cq_overflow)
		die_err(EIO, "cq_overflow %u, expected %u", *ring.cq_overflow, cq_overflow);
	for (unsigned int i = consumed; i < CQ_ENTRIES; i++) {
		expect(ring_cqe_at(&ring, 0), 401 + i, 0, 0, "CQ ring");
		ring_cq_advance(&ring, 1);
	}
	if (ring_cq_ready(&ring))
		die_err(EIO, "%u CQEs more than dumped in the CQ ring", ring_cq_ready(&ring));
	while (got < NR_OVERFLOW) {
		/* GETEVENTS flushes the overflow list into the CQ, as far as it fits */
		if (sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("flushing the overflow list");
		if (!ring_cq_ready(&ring))
			die_err(EIO, "overflow list ran dry after %u of %d CQEs", got, NR_OVERFLOW);
		while (ring_cq_ready(&ring) && got < NR_OVERFLOW) {
			const struct want *w = &overflowed[got++];

			expect(ring_cqe_at(&ring, 0), w->user_data, w->res, w->flags, "overflow list");
			ring_cq_advance(&ring, 1);
		}
	}
	if (big) {
		const struct io_uring_cqe *c;

		if (!ring_cq_ready(&ring) && sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("flushing the overflow list");
		c = ring_cqe_at(&ring, 0);
		expect(c, BIG_UD, 0, 0, "big overflowed CQE");
		if (c->big_cqe[0] != BIG_EXTRA1 || c->big_cqe[1] != BIG_EXTRA2)
			die_err(EIO, "big CQE extras 0x%llx 0x%llx changed", (unsigned long long)c->big_cqe[0],
				(unsigned long long)c->big_cqe[1]);
		ring_cq_advance(&ring, 1);
	}
	if (ring_cq_ready(&ring))
		die_err(EIO, "%u CQEs more than dumped on the overflow list", ring_cq_ready(&ring));
	if (*ring.sq_flags & IORING_SQ_CQ_OVERFLOW)
		die_err(EIO, "IORING_SQ_CQ_OVERFLOW still set with the list drained");
	submit_nops(1, 999);
	if (ring_cq_ready(&ring) != 1 && sys_io_uring_enter(ring.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("waiting for a new NOP");
	expect(ring_cqe_at(&ring, 0), 999, 0, 0, "new NOP");
	ring_cq_advance(&ring, 1);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES };
	unsigned long advance = 0;
	unsigned int consume = 0;
	uint32_t sq_head, cq_head, cq_tail, cq_overflow;
	struct truth *t;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags |= strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--consume") && i + 1 < argc)
			consume = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--big"))
			big = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	if (consume > CQ_ENTRIES)
		die_err(EINVAL, "--consume %u: the CQ has %d entries", consume, CQ_ENTRIES);
	ring_create_or_die(&ring, SQ_ENTRIES, &p);
	if (advance)
		ring_advance_by_nops(&ring, advance);
	overflow_cq();
	ring_cq_advance(&ring, consume);
	sq_head = *ring.sq_head;
	cq_head = *ring.cq_head;
	cq_tail = *ring.cq_tail;
	cq_overflow = *ring.cq_overflow;

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "sq_head", sq_head);
	truth_int(t, "cq_head", cq_head);
	truth_int(t, "cq_tail", cq_tail);
	truth_arr(t, "overflow_cqes");
	for (int i = 0; i < NR_OVERFLOW; i++) {
		struct io_uring_cqe c = { .user_data = overflowed[i].user_data, .res = overflowed[i].res,
					  .flags = overflowed[i].flags };

		truth_cqe(t, &c);
	}
	truth_end(t);
	truth_write(t);

	wait_for_stop();
	verify(consume, sq_head, cq_head, cq_tail, cq_overflow);
	printf("verified\n");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_setups --flags HEX [--advance N] [--cqes N]
 * cr_setups --flags HEX --fd-only
 *
 * A checkpoint/restore test for ring setups that change where the ring
 * lives or how it completes: NO_MMAP (ring and SQEs in our own anonymous
 * memory), IOPOLL / HYBRID_IOPOLL (only NOP, which supports polling, can
 * run without a polled block device), CQE_MIXED (16- and 32-byte CQEs in
 * one CQ ring).
 *
 * State: one ring with the given setup flags, indices moved by --advance
 * NOPs, then --cqes unconsumed CQEs (user_data 0x5e700 + i, res i; on
 * CQE_MIXED rings every odd one is a 32-byte CQE from NOP_CQE32 with
 * extra1 = ~i and extra2 = i << 32, so the CQ ring wraps with a mix of
 * sizes and, when a big one would straddle the end, a kernel filler) and,
 * unless SQPOLL, one SQE published but not submitted (a NOP, 0xBEEF).
 *
 * --fd-only: the flags must hold NO_MMAP|REGISTERED_FD_ONLY; the ring is
 * only created (it has no fd, only a registered-ring index), and after
 * SIGUSR1 one NOP goes through that index.  Dump refuses such rings.
 *
 * After SIGUSR1: the CQEs come out in order with exact contents and sizes,
 * the pending SQE completes, a batch of NOPs runs with the indices moving
 * on from where they were, and "verified" is printed.  Any failure: one
 * line on stderr, exit 1.
 */
#include <inttypes.h>
#include "lib/uring.h"

#define UD_BASE		0x5e700ull
#define UD_PENDING	0xbeefull
#define MORE_NOPS	100

static struct ring ring;
static unsigned int nr_cqes;

static bool mixed(void)
{
	return ring.flags & IORING_SETUP_CQE_MIXED;
}

static bool big(unsigned int i)
{
	return mixed() && (i & 1);
}

/* Post the CQEs we leave unconsumed for the checkpoint. */
static void post_cqes(void)
{
	for (unsigned int i = 0; i < nr_cqes; i++) {
		struct io_uring_sqe *sqe = ring_get_sqe(&ring);

		sqe_nop(sqe, UD_BASE + i);
		sqe->nop_flags = IORING_NOP_INJECT_RESULT;
		sqe->len = i;
		if (big(i)) {
			sqe->nop_flags |= IORING_NOP_CQE32;
			sqe->off = ~(uint64_t)i;
			sqe->addr = (uint64_t)i << 32;
		}
		if (ring_submit(&ring, 0) < 0)
			die("submitting CQE %u", i);
	}
}

/* CQEs (not slots: fillers skipped, big ones counted once) in the CQ ring. */
static unsigned int cqes_ready(void)
{
	unsigned int n = 0, at = 0;
	struct io_uring_cqe *cqe;

	while ((cqe = ring_cqe_at(&ring, at))) {
		if (mixed() && (cqe->flags & IORING_CQE_F_SKIP)) {
			at++;
			continue;
		}
		at += mixed() && (cqe->flags & IORING_CQE_F_32) ? 2 : 1;
		n++;
	}
	return n;
}

static void wait_cqes(unsigned int n)
{
	while (cqes_ready() < n)
		if (sys_io_uring_enter(ring.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("waiting for completions");
}

/* The CQE at the head; skips CQE_MIXED fillers; returns its slot count. */
static struct io_uring_cqe *head_cqe(unsigned int *slots)
{
	struct io_uring_cqe *cqe;

	for (;;) {
		cqe = ring_cqe_at(&ring, 0);
		if (!cqe)
			die_err(EIO, "the CQ ring is empty at head %u", *ring.cq_head);
		if (!(mixed() && (cqe->flags & IORING_CQE_F_SKIP)))
			break;
		ring_cq_advance(&ring, 1);
	}
	*slots = mixed() && (cqe->flags & IORING_CQE_F_32) ? 2 : 1;
	return cqe;
}

static void expect(unsigned int i)
{
	unsigned int slots;
	struct io_uring_cqe *cqe = head_cqe(&slots);

	if (cqe->user_data != UD_BASE + i || cqe->res != (int)i)
		die_err(EIO, "CQE %u: user_data 0x%llx res %d, expected 0x%llx res %u", i,
			(unsigned long long)cqe->user_data, cqe->res, UD_BASE + i, i);
	if ((slots == 2) != big(i))
		die_err(EIO, "CQE %u: %u bytes, expected %u", i, slots * 16, big(i) ? 32 : 16);
	if (big(i) && (cqe->big_cqe[0] != ~(uint64_t)i || cqe->big_cqe[1] != (uint64_t)i << 32))
		die_err(EIO, "CQE %u: extra1 0x%llx extra2 0x%llx differ", i,
			(unsigned long long)cqe->big_cqe[0], (unsigned long long)cqe->big_cqe[1]);
	ring_cq_advance(&ring, slots);
}

static void expect_pending(void)
{
	unsigned int slots;
	struct io_uring_cqe *cqe;

	if (sys_io_uring_enter(ring.fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) != 1)
		die("submitting the pending SQE");
	wait_cqes(1);
	cqe = head_cqe(&slots);
	if (cqe->user_data != UD_PENDING || cqe->res != 0)
		die_err(EIO, "pending SQE: user_data 0x%llx res %d", (unsigned long long)cqe->user_data, cqe->res);
	ring_cq_advance(&ring, slots);
}

static void verify(unsigned int sq_head, unsigned int cq_tail, bool pending)
{
	for (unsigned int i = 0; i < nr_cqes; i++)
		expect(i);
	if (*ring.cq_head != cq_tail)
		die_err(EIO, "CQ head %u after the old CQEs, expected %u", *ring.cq_head, cq_tail);
	if (pending) {
		expect_pending();
		sq_head++;
	}
	if (*ring.sq_head != sq_head)
		die_err(EIO, "SQ head %u, expected %u", *ring.sq_head, sq_head);
	cq_tail = *ring.cq_head;
	ring_advance_by_nops(&ring, MORE_NOPS);
	if (*ring.sq_head != sq_head + MORE_NOPS || *ring.cq_tail != cq_tail + MORE_NOPS)
		die_err(EIO, "indices %u/%u after %d NOPs, expected %u/%u", *ring.sq_head, *ring.cq_tail,
			MORE_NOPS, sq_head + MORE_NOPS, cq_tail + MORE_NOPS);
}

static void write_truth(unsigned int sq_head, unsigned int cq_tail)
{
	struct truth *t = truth_new();

	truth_ring_common(t, &ring, &ring.fd, 1, sq_head, cq_tail);
	if (ring.user_mem) {
		truth_obj(t, "user_memory");
		truth_u64s(t, "rings", (uintptr_t)ring.ring_mem);
		truth_u64s(t, "sqes", (uintptr_t)ring.sqe_mem);
		truth_end(t);
	}
	truth_write(t);
}

/*
 * A ring reachable only through a registered-ring index: everything goes
 * through io_uring_enter with IORING_ENTER_REGISTERED_RING.
 */
static int fd_only(struct io_uring_params *p)
{
	struct truth *t;
	int index;

	ring.ring_len = ring.sqe_len = 16384;
	ring.ring_mem = aligned_alloc(4096, ring.ring_len);
	ring.sqe_mem = aligned_alloc(4096, ring.sqe_len);
	if (!ring.ring_mem || !ring.sqe_mem)
		die("allocating ring memory");
	memset(ring.ring_mem, 0, ring.ring_len);
	memset(ring.sqe_mem, 0, ring.sqe_len);
	p->cq_off.user_addr = (uintptr_t)ring.ring_mem;
	p->sq_off.user_addr = (uintptr_t)ring.sqe_mem;
	index = sys_io_uring_setup(8, p);
	if (index < 0)
		die("io_uring_setup(REGISTERED_FD_ONLY)");
	t = truth_new();
	truth_int(t, "registered_index", index);
	truth_write(t);
	wait_for_stop();
	/* the ring still answers through its index: one NOP, SQ slot 0 of a fresh ring */
	ring.p = *p;
	sqe_nop((struct io_uring_sqe *)ring.sqe_mem, UD_PENDING);
	if (!(p->flags & IORING_SETUP_NO_SQARRAY))
		((unsigned int *)((char *)ring.ring_mem + p->sq_off.array))[0] = 0;
	__atomic_store_n((unsigned int *)((char *)ring.ring_mem + p->sq_off.tail), 1, __ATOMIC_RELEASE);
	if (sys_io_uring_enter(index, 1, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING, NULL, 0) != 1)
		die("a NOP through registered ring %d", index);
	printf("verified\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	unsigned long advance = 0;
	unsigned int sq_head, cq_tail;
	bool pending, only_fd = false;

	stop_signals_init(argv[0]);
	memset(&p, 0, sizeof(p));
	nr_cqes = 5;
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(argv[i], "--fd-only")) {
			only_fd = true;
			continue;
		}
		if (!strcmp(argv[i], "--flags"))
			p.flags = strtoul(val, NULL, 16);
		else if (!strcmp(argv[i], "--advance"))
			advance = strtoul(val, NULL, 0);
		else if (!strcmp(argv[i], "--cqes"))
			nr_cqes = strtoul(val, NULL, 0);
		else
			die_err(EINVAL, "unknown option %s", argv[i]);
		i++;
	}
	if (only_fd)
		return fd_only(&p);
	if (p.flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 10;
	ring_create_or_die(&ring, 8, &p);
	ring_advance_by_nops(&ring, advance);
	post_cqes();
	wait_cqes(nr_cqes);
	/* the truth's SQ head: an SQ thread may publish it after the CQEs */
	ring_wait_sq_consumed(&ring);
	pending = !(ring.flags & IORING_SETUP_SQPOLL);
	sq_head = *ring.sq_head;
	cq_tail = *ring.cq_tail;
	if (pending) {
		sqe_nop(ring_get_sqe(&ring), UD_PENDING);
		ring_commit(&ring);
	}
	write_truth(sq_head, cq_tail);
	wait_for_stop();
	verify(sq_head, cq_tail, pending);
	printf("verified\n");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_overflow [--flags HEX] [--advance N] [--consume K] [--big] [--more M]
 *             [--pending P]
 *
 * A checkpoint/restore test for the kernel's CQ overflow list.  One ring
 * (4 SQ entries, 8 CQ entries, setup flags from --flags), indices moved
 * by --advance NOPs, then the CQ filled with 8 NOP completions (user_data
 * 401..408) and more CQEs that must overflow: two NOPs (601, 602; one
 * with an injected result) and three MSG_RING posts to itself with chosen
 * res and flags (701..703).  --big (CQE32 or CQE_MIXED rings) mixes three
 * big CQEs in between: NOPs with IORING_NOP_CQE32 and an injected result,
 * extras (a, b), (c, 0) and (0, 0) (801..803; on CQE_MIXED they carry
 * IORING_CQE_F_32).  On CQE_MIXED, 701 and 703 are big CQEs too: their
 * flags include IORING_CQE_F_32, so the kernel gives them two slots.
 * --more M appends M more overflowed CQEs (900..), MSG_RING posts
 * alternating with big NOP CQEs with extras (plain NOPs without --big).
 * --consume K then reaps K of the 8 CQEs by moving cq.head only (no
 * syscall, so nothing is flushed and the list stays while the CQ has room
 * again).  --pending P leaves P NOPs (501..) in the SQ, published but not
 * submitted.  On REGISTERED_FD_ONLY rings there is no fd to aim MSG_RING
 * at: the MSG_RING CQEs are left out.
 *
 * After SIGUSR1 the program checks: indices, cq_overflow and
 * IORING_SQ_CQ_OVERFLOW are as before; the CQ still holds 401+K..408; a
 * GETEVENTS then flushes the overflow list into the CQ, and the program
 * reaps every overflowed CQE with exactly its user_data, res, flags and
 * extras, in the original order (CQE_MIXED filler CQEs skipped, as an
 * application does); the overflow flag clears; the pending NOPs are still
 * in the SQ, and complete in order once submitted; a new NOP completes
 * normally, and a write and a read of a file through the ring give back
 * the bytes.  Prints "verified" and exits 0, or one line on stderr, exit 1.
 */
#include <inttypes.h>
#include <sched.h>
#include "lib/uring.h"

#define SQ_ENTRIES	4
#define CQ_ENTRIES	8
#define PENDING_UD	501

enum kind { NOP, NOP_RES, MSG, BIG };

struct want {
	enum kind kind;
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
	uint64_t extra1, extra2;
};

static struct ring ring;
static bool big, mixed, fdonly;
static const struct want all[] = {
	{ NOP, 601, 0, 0, 0, 0 },
	{ NOP_RES, 602, -110, 0, 0, 0 },	/* NOP INJECT_RESULT: -ETIMEDOUT */
	{ BIG, 801, -5, 0, 0x1111222233334444ull, 0x5555666677778888ull },
	{ MSG, 701, 42, 0x8003, 0, 0 },		/* MSG_RING FLAGS_PASS */
	{ MSG, 702, -125, 0x10, 0, 0 },
	{ BIG, 802, 4096, 0, 0xfedcba9876543210ull, 0 },
	{ BIG, 803, 0, 0, 0, 0 },		/* big with zero extras */
	{ MSG, 703, 0x7fffffff, 0xffdf, 0, 0 },	/* all but CQE_MIXED's SKIP */
};
static struct want *overflowed;
static int nr_overflow;
static unsigned int pending;

/*
 * Submit what ring_get_sqe() handed out (@n SQEs).  SQPOLL: the enter only
 * wakes the SQ thread; wait until it took them (it posts their CQEs before
 * it moves the SQ head).
 */
static void submit(unsigned int n, const char *what)
{
	bool sqpoll = ring.flags & IORING_SETUP_SQPOLL;
	int spins = 0;

	if (ring_submit(&ring, 0) != (sqpoll ? 0 : (int)n))
		die("submitting %s", what);
	while (*(volatile unsigned int *)ring.sq_head != ring.sq_local_tail) {
		if (++spins > 5000000)
			die_err(ETIMEDOUT, "the SQ thread did not take %s", what);
		sched_yield();
	}
}

/* io_uring_enter(GETEVENTS), through the registered index on a REGISTERED_FD_ONLY ring */
static int getevents(unsigned int min_complete)
{
	unsigned int flags = IORING_ENTER_GETEVENTS;

	if (ring.registered)
		flags |= IORING_ENTER_REGISTERED_RING;
	return sys_io_uring_enter(ring.fd, 0, min_complete, flags, NULL, 0);
}

static void submit_nops(unsigned int n, uint64_t first_ud)
{
	for (unsigned int i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(&ring), first_ud + i);
	submit(n, "NOPs");
}

/* A NOP with an injected result; a big CQE with extra1 = off, extra2 = addr if @cqe32. */
static void nop_with_result(const struct want *w, bool cqe32)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe_nop(sqe, w->user_data);
	sqe->nop_flags = IORING_NOP_INJECT_RESULT;
	sqe->len = (uint32_t)w->res;
	if (cqe32) {
		sqe->nop_flags |= IORING_NOP_CQE32;
		sqe->off = w->extra1;
		sqe->addr = w->extra2;
	}
	submit(1, "a NOP with an injected result");
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
	    getevents(0) < 0)
		die("running task work");
}

static void add_overflow(const struct want *w)
{
	overflowed[nr_overflow] = *w;
	if (w->kind == BIG && mixed)
		overflowed[nr_overflow].flags |= IORING_CQE_F_32;
	nr_overflow++;
}

/* The overflow list this run builds, with the flags each CQE gets on this ring. */
static void choose_overflow(unsigned int more)
{
	const size_t nr_all = sizeof(all) / sizeof(all[0]);

	overflowed = calloc(nr_all + more, sizeof(*overflowed));
	if (!overflowed)
		die("allocating the overflow list");
	for (size_t i = 0; i < nr_all; i++)
		if ((all[i].kind != BIG || big) && (all[i].kind != MSG || !fdonly))
			add_overflow(&all[i]);
	for (unsigned int i = 0; i < more; i++) {
		struct want w = { .user_data = 900 + i };

		if (i % 2 && !fdonly) {
			/* no IORING_CQE_F_32 or F_SKIP among the flags: a 16-byte CQE everywhere */
			w.kind = MSG;
			w.res = -(int32_t)i;
			w.flags = i & 0x7fdf;
		} else if (big) {
			w.kind = BIG;
			w.res = (int32_t)i;
			w.extra1 = (uint64_t)i << 32 | 0xabc;
			w.extra2 = ~(uint64_t)i;
		} else {
			w.kind = NOP;
		}
		add_overflow(&w);
	}
}

static void overflow_cq(void)
{
	submit_nops(SQ_ENTRIES, 401);
	submit_nops(CQ_ENTRIES - SQ_ENTRIES, 401 + SQ_ENTRIES);
	if (ring_cq_ready(&ring) != CQ_ENTRIES)
		die_err(EPROTO, "CQ not full (%u ready)", ring_cq_ready(&ring));
	for (int i = 0; i < nr_overflow; i++) {
		const struct want *w = &overflowed[i];

		switch (w->kind) {
		case NOP: submit_nops(1, w->user_data); break;
		case NOP_RES: nop_with_result(w, false); break;
		case BIG: nop_with_result(w, true); break;
		case MSG: msg_self(w); break;
		}
	}
	if (ring_cq_ready(&ring) != CQ_ENTRIES || !(*ring.sq_flags & IORING_SQ_CQ_OVERFLOW))
		die_err(EPROTO, "CQ did not overflow (ready %u, sq flags 0x%x)", ring_cq_ready(&ring), *ring.sq_flags);
}

/* Whether a CQE of this ring with these flags is 32 bytes. */
static bool is_big(uint32_t flags)
{
	return ring.flags & IORING_SETUP_CQE32 || (mixed && flags & IORING_CQE_F_32);
}

static void expect(const struct io_uring_cqe *c, const struct want *w, const char *what)
{
	if (!c)
		die_err(EIO, "%s: no CQE where user_data %" PRIu64 " was expected", what, w->user_data);
	if (c->user_data != w->user_data || c->res != w->res || c->flags != w->flags)
		die_err(EIO, "%s: CQE user_data %llu res %d flags 0x%x, expected %" PRIu64 " res %d flags 0x%x", what,
			(unsigned long long)c->user_data, c->res, c->flags, w->user_data, w->res, w->flags);
	if (is_big(c->flags) && (c->big_cqe[0] != w->extra1 || c->big_cqe[1] != w->extra2))
		die_err(EIO, "%s: CQE %" PRIu64 " extras 0x%llx 0x%llx, expected 0x%" PRIx64 " 0x%" PRIx64, what,
			w->user_data, (unsigned long long)c->big_cqe[0], (unsigned long long)c->big_cqe[1],
			w->extra1, w->extra2);
}

/* The next CQE an application would look at: CQE_MIXED fillers skipped. */
static struct io_uring_cqe *next_cqe(void)
{
	struct io_uring_cqe *c;

	while ((c = ring_cqe_at(&ring, 0)) && mixed && c->flags & IORING_CQE_F_SKIP)
		ring_cq_advance(&ring, 1);
	return c;
}

static void consume(const struct io_uring_cqe *c)
{
	ring_cq_advance(&ring, mixed && c->flags & IORING_CQE_F_32 ? 2 : 1);
}

static void drain_overflow(void)
{
	struct io_uring_cqe *c;
	int got = 0;

	while (got < nr_overflow) {
		/* GETEVENTS flushes the overflow list into the CQ, as far as it fits */
		if (getevents(0) < 0)
			die("flushing the overflow list");
		if (!next_cqe())
			die_err(EIO, "overflow list ran dry after %d of %d CQEs", got, nr_overflow);
		while ((c = next_cqe()) && got < nr_overflow) {
			expect(c, &overflowed[got++], "overflow list");
			consume(c);
		}
	}
	if (next_cqe())
		die_err(EIO, "%u CQEs more than dumped on the overflow list", ring_cq_ready(&ring));
	if (*ring.sq_flags & IORING_SQ_CQ_OVERFLOW)
		die_err(EIO, "IORING_SQ_CQ_OVERFLOW still set with the list drained");
}

/* Submit one SQE and reap its CQE, which must have result @res. */
static void run_one(const struct want *w)
{
	struct io_uring_cqe *c;

	if (ring_submit(&ring, 1) < 0)
		die("submitting request %" PRIu64, w->user_data);
	while (!(c = next_cqe()))
		if (getevents(1) < 0)
			die("waiting for request %" PRIu64, w->user_data);
	expect(c, w, "after the overflow list");
	consume(c);
}

/* The ring keeps working: a NOP, then a file written and read back through it (not on IOPOLL rings). */
static void keep_working(void)
{
	static const char text[] = "written after the overflow list drained";
	const struct want nop = { NOP, 999, 0, 0, 0, 0 };
	const struct want wr = { NOP, 1001, sizeof(text), 0, 0, 0 }, rd = { NOP, 1002, sizeof(text), 0, 0, 0 };
	char back[sizeof(text)] = { 0 };
	int fd = open(scratch_path("cr_overflow.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		die("creating %s", scratch_path("cr_overflow.data"));
	sqe_nop(ring_get_sqe(&ring), nop.user_data);
	run_one(&nop);
	/* IOPOLL rings do file I/O only with O_DIRECT on a polling block device */
	if (ring.flags & IORING_SETUP_IOPOLL) {
		close(fd);
		return;
	}
	sqe_rw(ring_get_sqe(&ring), IORING_OP_WRITE, fd, (void *)text, sizeof(text), 0, wr.user_data);
	run_one(&wr);
	sqe_rw(ring_get_sqe(&ring), IORING_OP_READ, fd, back, sizeof(back), 0, rd.user_data);
	run_one(&rd);
	if (memcmp(back, text, sizeof(text)))
		die_err(EIO, "the file read back through the ring differs from what it wrote");
	close(fd);
}

/* Publish @n NOPs without submitting them. */
static void leave_pending(unsigned int n)
{
	if (n > SQ_ENTRIES || (n && ring.flags & IORING_SETUP_SQPOLL))
		die_err(EINVAL, "--pending %u: at most %d, and not on SQPOLL rings (the SQ thread takes them)", n, SQ_ENTRIES);
	for (unsigned int i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(&ring), PENDING_UD + i);
	ring_commit(&ring);
}

/* The pending NOPs are still in the SQ; submitted now, they complete in order. */
static void check_pending(uint32_t sq_head)
{
	struct io_uring_cqe *c;

	for (unsigned int i = 0; i < pending; i++) {
		unsigned int slot = (sq_head + i) & *ring.sq_mask;
		const struct io_uring_sqe *sqe = (const void *)((char *)ring.sqe_mem + (size_t)slot * ring.sqe_size);

		if ((ring.sq_array && ring.sq_array[slot] != slot) || sqe->opcode != IORING_OP_NOP ||
		    sqe->user_data != PENDING_UD + i)
			die_err(EIO, "pending SQE %u: opcode %u user_data %llu", i, sqe->opcode,
				(unsigned long long)sqe->user_data);
	}
	if (!pending)
		return;
	if (ring_submit(&ring, pending) != (int)pending)
		die("submitting the pending NOPs");
	for (unsigned int i = 0; i < pending; i++) {
		const struct want w = { NOP, PENDING_UD + i, 0, 0, 0, 0 };

		while (!(c = next_cqe()))
			if (getevents(1) < 0)
				die("waiting for the pending NOPs");
		expect(c, &w, "pending NOP");
		consume(c);
	}
}

static void verify(unsigned int consumed, uint32_t sq_head, uint32_t cq_head, uint32_t cq_tail, uint32_t cq_overflow)
{
	if (*ring.sq_head != sq_head || *ring.sq_tail != sq_head + pending || *ring.cq_head != cq_head ||
	    *ring.cq_tail != cq_tail)
		die_err(EIO, "indices sq %u..%u cq %u..%u, expected %u..%u %u..%u", *ring.sq_head, *ring.sq_tail,
			*ring.cq_head, *ring.cq_tail, sq_head, sq_head + pending, cq_head, cq_tail);
	if (!(*ring.sq_flags & IORING_SQ_CQ_OVERFLOW))
		die_err(EIO, "IORING_SQ_CQ_OVERFLOW is not set after the restore");
	if (*ring.cq_overflow != cq_overflow)
		die_err(EIO, "cq_overflow %u, expected %u", *ring.cq_overflow, cq_overflow);
	for (unsigned int i = consumed; i < CQ_ENTRIES; i++) {
		const struct want w = { NOP, 401 + i, 0, 0, 0, 0 };

		expect(ring_cqe_at(&ring, 0), &w, "CQ ring");
		ring_cq_advance(&ring, 1);
	}
	if (ring_cq_ready(&ring))
		die_err(EIO, "%u CQEs more than dumped in the CQ ring", ring_cq_ready(&ring));
	drain_overflow();
	check_pending(sq_head);
	keep_working();
}

static void write_truth(uint32_t sq_head, uint32_t cq_head, uint32_t cq_tail)
{
	struct truth *t = truth_new();

	truth_int(t, "pid", getpid());
	truth_int(t, "sq_head", sq_head);
	truth_int(t, "cq_head", cq_head);
	truth_int(t, "cq_tail", cq_tail);
	truth_arr(t, "overflow_cqes");
	for (int i = 0; i < nr_overflow; i++) {
		const struct want *w = &overflowed[i];

		truth_obj(t, NULL);
		truth_u64s(t, "user_data", w->user_data);
		truth_int(t, "res", w->res);
		truth_int(t, "flags", w->flags);
		if (is_big(w->flags)) {
			truth_u64s(t, "extra1", w->extra1);
			truth_u64s(t, "extra2", w->extra2);
		}
		truth_end(t);
	}
	truth_end(t);
	truth_write(t);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES };
	unsigned long advance = 0;
	unsigned int consumed = 0, more = 0;
	uint32_t sq_head, cq_head, cq_tail, cq_overflow;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags |= strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--consume") && i + 1 < argc)
			consumed = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--big"))
			big = true;
		else if (!strcmp(argv[i], "--more") && i + 1 < argc)
			more = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--pending") && i + 1 < argc)
			pending = strtoul(argv[++i], NULL, 0);
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	if (consumed > CQ_ENTRIES)
		die_err(EINVAL, "--consume %u: the CQ has %d entries", consumed, CQ_ENTRIES);
	mixed = p.flags & IORING_SETUP_CQE_MIXED;
	fdonly = p.flags & IORING_SETUP_REGISTERED_FD_ONLY;
	if (big && !(p.flags & (IORING_SETUP_CQE32 | IORING_SETUP_CQE_MIXED)))
		die_err(EINVAL, "--big needs CQE32 (800) or CQE_MIXED (40000) in --flags");
	choose_overflow(more);
	ring_create_or_die(&ring, SQ_ENTRIES, &p);
	if (advance)
		ring_advance_by_nops(&ring, advance);
	overflow_cq();
	ring_cq_advance(&ring, consumed);
	leave_pending(pending);
	sq_head = *ring.sq_head;
	cq_head = *ring.cq_head;
	cq_tail = *ring.cq_tail;
	cq_overflow = *ring.cq_overflow;
	write_truth(sq_head, cq_head, cq_tail);

	wait_for_stop();
	verify(consumed, sq_head, cq_head, cq_tail, cq_overflow);
	printf("verified\n");
	return 0;
}

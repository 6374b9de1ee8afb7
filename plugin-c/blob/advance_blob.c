// SPDX-License-Identifier: GPL-2.0
/*
 * In-task io_uring index advance.  Freestanding, position independent:
 * built with -fPIC -nostdlib -ffreestanding -mgeneral-regs-only, linked
 * to a flat binary whose first byte is blob_entry, and copied into
 * scratch memory of the restored task by advance.c.  It runs on the
 * task's owner thread (required for SINGLE_ISSUER / DEFER_TASKRUN
 * rings) with rdi = struct blob_args * and rsp = a scratch stack, and
 * reports back only through int3 traps: one every progress_every ops and
 * one at the end.  No libc, no globals (so no relocations), no FPU/SSE
 * registers (so the task's vector state is never touched).
 *
 * Index arithmetic is u32 like the kernel's, so wrap-around at 2^32 is
 * just ordinary arithmetic.
 */
#include <stdbool.h>

#include "ring_abi.h"
#include "advance_abi.h"

#define SYS_sched_yield	24
#define EBUSY		16
#define ETIMEDOUT	110
#define ETIME		62
#define EINTR		4
#define EAGAIN		11
#define EINVAL		22
#define SPIN_LIMIT	(50u * 1000 * 1000)
#define STALL_LIMIT	1000

__asm__(".section .text.entry,\"ax\",@progbits\n"
	".globl blob_entry\n"
	"blob_entry:\n"
	"	and $-16, %rsp\n"
	"	call blob_main\n"
	"1:	int3\n"
	"	jmp 1b\n"
	".previous\n");

static long sys6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static long ring_enter(const struct blob_ring *t, uint32_t submit, uint32_t wait,
		       uint32_t flags)
{
	return sys6(RING_NR_ENTER, t->fd, submit, wait, flags | t->enter_flags, 0, 8);
}

static uint32_t load_acq(uint64_t addr)
{
	return __atomic_load_n((uint32_t *)addr, __ATOMIC_ACQUIRE);
}

static void store_rel(uint64_t addr, uint32_t v)
{
	__atomic_store_n((uint32_t *)addr, v, __ATOMIC_RELEASE);
}

static int failed(struct blob_args *a, long err, uint32_t where)
{
	a->err = err;
	a->err_where = where;
	return -1;
}

static void trap(struct blob_args *a, uint32_t state)
{
	a->state = state;
	__asm__ volatile("int3" ::: "memory");
	a->state = BLOB_RUNNING;
}

static void count_done(struct blob_args *a, uint32_t n)
{
	a->done += n;
	if (a->progress_every && a->done >= a->next_report) {
		a->next_report = a->done + a->progress_every;
		trap(a, BLOB_PROGRESS);
	}
}

static void fill_sqes(struct blob_ring *t, uint8_t opcode, uint8_t flags,
		      int32_t fd)
{
	uint32_t i, j;

	for (i = 0; i < t->sq_entries; i++) {
		volatile uint8_t *b = (uint8_t *)(t->sqes + (uint64_t)i * t->sqe_size);
		struct ring_sqe *sqe = (struct ring_sqe *)b;

		for (j = 0; j < t->sqe_size; j++)
			b[j] = 0;
		sqe->opcode = opcode;
		sqe->flags = flags;
		sqe->fd = fd;
		if (t->sq_array)
			((volatile uint32_t *)t->sq_array)[i] = i;
	}
}


static bool is_sqpoll(const struct blob_ring *t)
{
	return t->setup_flags & RING_SETUP_SQPOLL;
}

/*
 * SQPOLL: the kernel thread consumes; wake it if it went idle and wait
 * until it moved sq.head up to our tail.
 */
static int kick_sqpoll(struct blob_args *a, struct blob_ring *t, uint32_t tail)
{
	uint32_t spins = 0;
	long ret;

	while (load_acq(t->sq_head) != tail) {
		if (load_acq(t->sq_flags) & RING_SQ_NEED_WAKEUP) {
			ret = ring_enter(t, 0, 0, RING_ENTER_SQ_WAKEUP);
			if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
				return failed(a, ret, BLOB_AT_SUBMIT);
		}
		if (++spins > SPIN_LIMIT)
			return failed(a, -ETIMEDOUT, BLOB_AT_SQPOLL);
		sys6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	}
	return 0;
}

/* Submit everything between sq.head and @tail from this thread. */
static int kick_enter(struct blob_args *a, struct blob_ring *t, uint32_t tail)
{
	uint32_t head, stalls = 0;
	long ret;

	while ((head = load_acq(t->sq_head)) != tail) {
		ret = ring_enter(t, tail - head, 0, 0);
		if (ret > 0)
			continue;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return failed(a, ret, BLOB_AT_SUBMIT);
		if (++stalls > STALL_LIMIT)
			return failed(a, ret ? ret : -EBUSY, BLOB_AT_SUBMIT);
	}
	return 0;
}

static int push_and_kick(struct blob_args *a, struct blob_ring *t, uint32_t n)
{
	uint32_t tail = *(volatile uint32_t *)t->sq_tail + n;

	store_rel(t->sq_tail, tail);
	return is_sqpoll(t) ? kick_sqpoll(a, t, tail) : kick_enter(a, t, tail);
}

/*
 * The CQEs up to @seen are checked: free their slots.  The kernel keeps a
 * cache of free CQ slots, computed from the CQ head when it is refilled
 * and never re-checked against a later head.  The restored ring gets the
 * dumped head H back; a cache filled while the head was past H would let
 * the application's next completions overwrite its unconsumed CQEs once
 * they wrap around the CQE array.  So with keep_cq_head the head stops
 * at H (the CQ then holds at most tail - H <= cq_entries CQEs, so posting
 * never overflows); the plan's earlier submit steps stop there too
 * (plugin-c/plan.c), so the head may start at H with CQEs after it.  A
 * limit behind the head from the start is out of reach and the head
 * follows @seen as before.
 */
static void free_slots(struct blob_args *a, struct blob_ring *t, uint32_t seen)
{
	uint32_t head = *(volatile uint32_t *)t->cq_head;

	a->cq_seen = seen;
	if (t == &a->target && a->keep_cq_head && a->cq_head_limit - head <= seen - head)
		seen = a->cq_head_limit;
	store_rel(t->cq_head, seen);
}

/* Where checking CQEs resumes: the target's seen index, else the head. */
static uint32_t checked_up_to(struct blob_args *a, struct blob_ring *t)
{
	return t == &a->target ? a->cq_seen : *(volatile uint32_t *)t->cq_head;
}

/*
 * Wait until @want CQEs are ready, check every one succeeded, and free
 * the slots so the CQ can never overflow (free_slots()).
 * GETEVENTS also runs task work: DEFER_TASKRUN rings only get MSG_RING
 * posts that way, from their owner (this thread).
 */
static int reap(struct blob_args *a, struct blob_ring *t, uint32_t want)
{
	uint32_t head = checked_up_to(a, t), tail, i, stalls = 0;
	const struct ring_cqe *cqe;
	long ret;

	while ((tail = load_acq(t->cq_tail)) - head < want) {
		ret = ring_enter(t, 0, want - (tail - head), RING_ENTER_GETEVENTS);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
		    ret != -ETIMEDOUT)
			return failed(a, ret, BLOB_AT_WAIT);
		if (++stalls > STALL_LIMIT)
			return failed(a, -ETIMEDOUT, BLOB_AT_WAIT);
	}
	if (tail - head != want)
		return failed(a, tail - head, BLOB_AT_STRAY_CQE);
	for (i = head; i != tail; i++) {
		cqe = (const struct ring_cqe *)(t->cqes +
			(uint64_t)(i & (t->cq_entries - 1)) * t->cqe_size);
		if (cqe->res < 0)
			return failed(a, cqe->res, BLOB_AT_CQE);
	}
	free_slots(a, t, tail);
	return 0;
}

static uint32_t min_u32(uint64_t a, uint32_t b)
{
	return a < b ? (uint32_t)a : b;
}

/* NOPs that post a CQE: advance the SQ head and the CQ tail together. */
static int run_plain(struct blob_args *a, uint64_t count)
{
	struct blob_ring *t = &a->target;
	uint32_t batch = t->sq_entries < t->cq_entries ? t->sq_entries : t->cq_entries;
	uint32_t n;

	fill_sqes(t, RING_OP_NOP, 0, 0);
	while (count) {
		n = min_u32(count, batch);
		if (push_and_kick(a, t, n) || reap(a, t, n))
			return -1;
		count -= n;
		count_done(a, n);
	}
	return 0;
}

/* NOPs with CQE_SKIP_SUCCESS: advance only the SQ head. */
static int run_sq_only(struct blob_args *a, uint64_t count)
{
	struct blob_ring *t = &a->target;
	uint32_t n;

	fill_sqes(t, RING_OP_NOP, RING_SQE_CQE_SKIP_SUCCESS, 0);
	while (count) {
		n = min_u32(count, t->sq_entries);
		if (push_and_kick(a, t, n))
			return -1;
		if (load_acq(t->cq_tail) != a->cq_seen)
			return reap(a, t, 0) ? -1 : failed(a, 0, BLOB_AT_STRAY_CQE);
		count -= n;
		count_done(a, n);
	}
	return 0;
}

/*
 * MSG_RING from the helper ring: each posts one CQE to the target
 * without touching the target's SQ.  The helper's own CQEs are skipped
 * on success, so anything in its CQ is an error.
 */
static int run_cq_only(struct blob_args *a, uint64_t count)
{
	struct blob_ring *t = &a->target, *h = &a->helper;
	uint32_t batch = h->sq_entries < t->cq_entries ? h->sq_entries : t->cq_entries;
	uint32_t n, hh;

	if (!count)
		return 0;
	fill_sqes(h, RING_OP_MSG_RING, RING_SQE_CQE_SKIP_SUCCESS, t->fd);
	while (count) {
		n = min_u32(count, batch);
		if (push_and_kick(a, h, n))
			return -1;
		hh = *(volatile uint32_t *)h->cq_head;
		if (load_acq(h->cq_tail) != hh)
			return failed(a, ((const struct ring_cqe *)(h->cqes +
				(uint64_t)(hh & (h->cq_entries - 1)) * h->cqe_size))->res,
				BLOB_AT_CQE);
		if (reap(a, t, n))
			return -1;
		count -= n;
		count_done(a, n);
	}
	return 0;
}

/* Write one multishot timeout SQE at the SQ tail: up to @count CQEs, one per tick. */
static void queue_tick_timeout(struct blob_args *a, uint64_t count)
{
	struct blob_ring *t = &a->target;
	uint32_t idx = *(volatile uint32_t *)t->sq_tail & (t->sq_entries - 1);
	volatile uint8_t *b = (uint8_t *)(t->sqes + (uint64_t)idx * t->sqe_size);
	struct ring_sqe *sqe = (struct ring_sqe *)b;
	uint32_t j;

	for (j = 0; j < t->sqe_size; j++)
		b[j] = 0;
	sqe->opcode = RING_OP_TIMEOUT;
	sqe->addr = (uint64_t)&a->tick;
	sqe->len = 1;
	sqe->off = count;
	sqe->op_flags = RING_TIMEOUT_MULTISHOT;
	if (t->sq_array)
		((volatile uint32_t *)t->sq_array)[idx] = idx;
}

/*
 * Reap the CQEs of the multishot timeout up to its last one (no
 * IORING_CQE_F_MORE); every tick completes with -ETIME.  Returns how
 * many it posted, or -1.
 */
static int64_t reap_ticks(struct blob_args *a)
{
	struct blob_ring *t = &a->target;
	const struct ring_cqe *cqe;
	uint32_t head, tail, i, stalls;
	int64_t posted = 0;
	bool more = true;
	long ret;

	while (more) {
		/* a stall is a wait that brought nothing; every tick resets the count */
		stalls = 0;
		head = a->cq_seen;
		while ((tail = load_acq(t->cq_tail)) == head) {
			ret = ring_enter(t, 0, 1, RING_ENTER_GETEVENTS);
			if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
			    ret != -ETIMEDOUT)
				return failed(a, ret, BLOB_AT_SELF_POST);
			if (++stalls > STALL_LIMIT)
				return failed(a, -ETIMEDOUT, BLOB_AT_SELF_POST);
		}
		for (i = head; i != tail; i++) {
			cqe = (const struct ring_cqe *)(t->cqes +
				(uint64_t)(i & (t->cq_entries - 1)) * t->cqe_size);
			if (cqe->res != -ETIME || !more)
				return failed(a, cqe->res, BLOB_AT_SELF_POST);
			if (!(cqe->flags & RING_CQE_F_MORE))
				more = false;
			posted++;
		}
		free_slots(a, t, tail);
	}
	return posted;
}

/*
 * CQ-only posts without a helper ring: a target named by its registered
 * index (IORING_SETUP_REGISTERED_FD_ONLY) has no fd a MSG_RING could aim
 * at.  A multishot timeout on the target itself posts up to COUNT CQEs
 * for a single SQE, so each round moves the SQ head by one and the CQ
 * tail by what it posted.  The kernel ends the request early when a tick
 * finds the CQ full, so rounds repeat until the CQ's distance no longer
 * leads the SQ's; plain and SQ-only NOPs do the rest.  Only an SQ head
 * that must not move at all costs a full 2^32 lap of it.
 */
static int run_cq_self(struct blob_args *a, uint64_t *ds, uint64_t *dc)
{
	uint64_t count;
	int64_t posted;

	while (*dc > *ds) {
		if (!*ds) {
			*ds += 1ull << 32;
			continue;
		}
		count = *dc - *ds + 1;
		if (count > (1ull << 31))
			count = 1ull << 31;
		queue_tick_timeout(a, count);
		if (push_and_kick(a, &a->target, 1))
			return -1;
		*ds -= 1;
		posted = reap_ticks(a);
		if (posted < 0)
			return -1;
		*dc -= (uint64_t)posted;
		count_done(a, (uint32_t)posted + 1);
	}
	return 0;
}

static int check_final(struct blob_args *a, uint32_t head_start)
{
	struct blob_ring *t = &a->target;
	uint32_t head = a->cq_target;

	/* the head stopped at the limit if the advance passed it, or started there (free_slots()) */
	if (a->keep_cq_head && a->cq_target - a->cq_head_limit <= a->cq_target - head_start)
		head = a->cq_head_limit;
	if (load_acq(t->sq_head) != a->sq_target ||
	    load_acq(t->sq_tail) != a->sq_target ||
	    a->cq_seen != a->cq_target ||
	    load_acq(t->cq_head) != head ||
	    load_acq(t->cq_tail) != a->cq_target)
		return failed(a, -EBUSY, BLOB_AT_FINAL);
	return 0;
}

/*
 * Work out the three kinds of op from the distances to the targets:
 * min(dS, dC) plain NOPs do both at once, the rest is SQ-only or
 * CQ-only.  Ops are counted in 64 bits; the distances fit in 32.
 */
__attribute__((used)) void blob_main(struct blob_args *a)
{
	struct blob_ring *t = &a->target;
	uint32_t sq_head = load_acq(t->sq_head), cq_tail = load_acq(t->cq_tail);
	uint32_t cq_head = load_acq(t->cq_head);
	uint64_t ds, dc, plain;

	a->state = BLOB_RUNNING;
	a->err = 0;
	a->err_where = BLOB_AT_NONE;
	a->done = 0;
	a->next_report = a->progress_every;
	a->cq_seen = cq_tail;
	/*
	 * Nothing pending; CQEs only where a plan step before (provided
	 * buffers: "submit ... head H") left the head at the limit already,
	 * and those stay (they fit: tail - H <= cq_entries).
	 */
	if (load_acq(t->sq_tail) != sq_head ||
	    (cq_head != cq_tail && !(a->keep_cq_head && cq_head == a->cq_head_limit &&
				     cq_tail - cq_head <= t->cq_entries))) {
		failed(a, -EBUSY, BLOB_AT_NOT_EMPTY);
		goto out;
	}
	ds = (uint32_t)(a->sq_target - sq_head);
	dc = (uint32_t)(a->cq_target - cq_tail);
	if (dc > ds && a->helper.fd < 0 && run_cq_self(a, &ds, &dc))
		goto out;
	plain = ds < dc ? ds : dc;
	a->total = a->done + ds + dc - plain;
	if (dc > plain && a->helper.fd < 0) {
		failed(a, -EINVAL, BLOB_AT_SUBMIT);
		goto out;
	}
	if (!run_plain(a, plain) && !run_sq_only(a, ds - plain) &&
	    !run_cq_only(a, dc - plain))
		check_final(a, cq_head);
out:
	a->state = BLOB_DONE;
}

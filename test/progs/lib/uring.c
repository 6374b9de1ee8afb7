// SPDX-License-Identifier: GPL-2.0-only
/*
 * Raw io_uring ring handling for the test programs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "uring.h"

int sys_io_uring_setup(unsigned int entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

int sys_io_uring_enter(int fd, unsigned int to_submit, unsigned int min_complete,
		       unsigned int flags, const void *arg, size_t argsz)
{
	return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
}

int sys_io_uring_register(int fd, unsigned int op, const void *arg, unsigned int nr)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, nr);
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) & ~(pg - 1);
}

static unsigned int round_pow2(unsigned int n)
{
	unsigned int v = 1;

	while (v < n)
		v <<= 1;
	return v;
}

/*
 * NO_MMAP rings live in memory we provide.  The kernel only needs it page
 * aligned and large enough; overestimating the ring header is harmless.
 */
static int alloc_user_rings(struct ring *r, unsigned int entries, struct io_uring_params *p)
{
	unsigned int sq = round_pow2(entries);
	unsigned int cq = (p->flags & IORING_SETUP_CQSIZE) ? round_pow2(p->cq_entries) : 2 * sq;
	size_t sqe_size = (p->flags & IORING_SETUP_SQE128) ? 128 : 64;
	size_t cqe_size = (p->flags & IORING_SETUP_CQE32) ? 32 : 16;

	r->ring_len = page_round(4096 + cq * cqe_size + sq * sizeof(__u32));
	r->sqe_len = page_round(sq * sqe_size);
	r->ring_mem = mmap(NULL, r->ring_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->ring_mem == MAP_FAILED)
		return -errno;
	r->sqe_mem = mmap(NULL, r->sqe_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->sqe_mem == MAP_FAILED) {
		int err = -errno;

		munmap(r->ring_mem, r->ring_len);
		return err;
	}
	r->user_mem = true;
	p->cq_off.user_addr = (__u64)(uintptr_t)r->ring_mem;
	p->sq_off.user_addr = (__u64)(uintptr_t)r->sqe_mem;
	return 0;
}

/* mmap the kernel's rings: one mapping covers SQ and CQ (FEAT_SINGLE_MMAP). */
static int map_kernel_rings(struct ring *r)
{
	const struct io_uring_params *p = &r->p;
	size_t sq_len = p->sq_off.array + p->sq_entries * sizeof(__u32);
	size_t cq_len = p->cq_off.cqes + (size_t)p->cq_entries * r->cqe_size;

	if (p->flags & IORING_SETUP_NO_SQARRAY)
		sq_len = p->sq_off.dropped + sizeof(__u32);
	r->ring_len = sq_len > cq_len ? sq_len : cq_len;
	r->ring_mem = mmap(NULL, r->ring_len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (r->ring_mem == MAP_FAILED)
		return -errno;
	r->sqe_len = (size_t)p->sq_entries * r->sqe_size;
	r->sqe_mem = mmap(NULL, r->sqe_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqe_mem == MAP_FAILED) {
		int err = -errno;

		munmap(r->ring_mem, r->ring_len);
		return err;
	}
	return 0;
}

static void point_into_rings(struct ring *r)
{
	char *base = r->ring_mem;
	const struct io_uring_params *p = &r->p;

	r->sq_head = (unsigned int *)(base + p->sq_off.head);
	r->sq_tail = (unsigned int *)(base + p->sq_off.tail);
	r->sq_mask = (unsigned int *)(base + p->sq_off.ring_mask);
	r->sq_flags = (unsigned int *)(base + p->sq_off.flags);
	r->sq_dropped = (unsigned int *)(base + p->sq_off.dropped);
	r->sq_array = (p->flags & IORING_SETUP_NO_SQARRAY) ? NULL :
		      (unsigned int *)(base + p->sq_off.array);
	r->cq_head = (unsigned int *)(base + p->cq_off.head);
	r->cq_tail = (unsigned int *)(base + p->cq_off.tail);
	r->cq_mask = (unsigned int *)(base + p->cq_off.ring_mask);
	r->cq_overflow = (unsigned int *)(base + p->cq_off.overflow);
	r->cq_flags = (unsigned int *)(base + p->cq_off.flags);
	r->cqes = base + p->cq_off.cqes;
	r->sq_local_tail = *r->sq_tail;
}

int ring_create(struct ring *r, unsigned int entries, const struct io_uring_params *in)
{
	struct io_uring_params p;
	int err;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	if (in)
		p = *in;
	r->flags = p.flags;
	if (p.flags & IORING_SETUP_NO_MMAP) {
		err = alloc_user_rings(r, entries, &p);
		if (err)
			return err;
	}
	r->fd = sys_io_uring_setup(entries, &p);
	if (r->fd < 0) {
		err = -errno;
		if (r->user_mem) {
			munmap(r->ring_mem, r->ring_len);
			munmap(r->sqe_mem, r->sqe_len);
		}
		return err;
	}
	r->p = p;
	r->registered = p.flags & IORING_SETUP_REGISTERED_FD_ONLY;
	r->sqe_size = (p.flags & IORING_SETUP_SQE128) ? 128 : 64;
	r->cqe_size = (p.flags & IORING_SETUP_CQE32) ? 32 : 16;
	if (!r->user_mem) {
		err = map_kernel_rings(r);
		if (err) {
			close(r->fd);
			return err;
		}
	}
	point_into_rings(r);
	/* a REGISTERED_FD_ONLY ring has no fd: the caller finds its inode otherwise */
	r->inode = r->registered ? 0 : fd_inode(r->fd);
	return 0;
}

void ring_enable(struct ring *r)
{
	reg_or_die(r->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0, "ENABLE_RINGS");
	/* The kernel drops R_DISABLED from the ring's flags once enabled. */
	r->flags &= ~IORING_SETUP_R_DISABLED;
}

void ring_create_or_die(struct ring *r, unsigned int entries, const struct io_uring_params *p)
{
	int err = ring_create(r, entries, p);

	if (err)
		die_err(-err, "io_uring_setup(entries=%u, flags=0x%x)", entries, p ? p->flags : 0);
}

void ring_unmap(struct ring *r)
{
	if (r->ring_mem)
		munmap(r->ring_mem, r->ring_len);
	if (r->sqe_mem)
		munmap(r->sqe_mem, r->sqe_len);
	r->ring_mem = r->sqe_mem = NULL;
}

void ring_close_fd(struct ring *r)
{
	close(r->fd);
	r->fd = -1;
}

struct io_uring_sqe *ring_get_sqe(struct ring *r)
{
	unsigned int head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	unsigned int slot;
	struct io_uring_sqe *sqe;

	if (r->sq_local_tail - head >= r->p.sq_entries)
		return NULL;
	slot = r->sq_local_tail & *r->sq_mask;
	sqe = (struct io_uring_sqe *)((char *)r->sqe_mem + (size_t)slot * r->sqe_size);
	memset(sqe, 0, r->sqe_size);
	/* With an SQ array, slot i of the ring names SQE i: keep them equal. */
	if (r->sq_array)
		r->sq_array[slot] = slot;
	r->sq_local_tail++;
	return sqe;
}

void ring_commit(struct ring *r)
{
	__atomic_store_n(r->sq_tail, r->sq_local_tail, __ATOMIC_RELEASE);
}

static int enter(struct ring *r, unsigned int to_submit, unsigned int wait_nr)
{
	unsigned int flags = wait_nr ? IORING_ENTER_GETEVENTS : 0;
	int ret;

	if (r->registered)
		flags |= IORING_ENTER_REGISTERED_RING;
	if ((r->flags & IORING_SETUP_SQPOLL) &&
	    (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP))
		flags |= IORING_ENTER_SQ_WAKEUP;
	do {
		ret = sys_io_uring_enter(r->fd, to_submit, wait_nr, flags, NULL, 0);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

int ring_submit(struct ring *r, unsigned int wait_nr)
{
	unsigned int pending = r->sq_local_tail - *r->sq_head;

	ring_commit(r);
	if (r->flags & IORING_SETUP_SQPOLL)
		pending = 0;	/* the thread picks them up; enter only wakes it */
	return enter(r, pending, wait_nr);
}

int ring_submit_and_wait(struct ring *r, unsigned int wait_nr)
{
	return ring_submit(r, wait_nr);
}

unsigned int ring_cq_ready(struct ring *r)
{
	return __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE) - *r->cq_head;
}

struct io_uring_cqe *ring_cqe_at(struct ring *r, unsigned int i)
{
	unsigned int idx;

	if (i >= ring_cq_ready(r))
		return NULL;
	idx = (*r->cq_head + i) & *r->cq_mask;
	return (struct io_uring_cqe *)((char *)r->cqes + (size_t)idx * r->cqe_size);
}

void ring_cq_advance(struct ring *r, unsigned int n)
{
	__atomic_store_n(r->cq_head, *r->cq_head + n, __ATOMIC_RELEASE);
}

void sqe_nop(struct io_uring_sqe *sqe, uint64_t user_data)
{
	sqe->opcode = IORING_OP_NOP;
	sqe->fd = -1;
	sqe->user_data = user_data;
}

void sqe_rw(struct io_uring_sqe *sqe, int op, int fd, void *buf, unsigned int len,
	    uint64_t off, uint64_t user_data)
{
	sqe->opcode = (__u8)op;
	sqe->fd = fd;
	sqe->addr = (__u64)(uintptr_t)buf;
	sqe->len = len;
	sqe->off = off;
	sqe->user_data = user_data;
}

int reg_or_die(int fd, unsigned int op, const void *arg, unsigned int nr, const char *what)
{
	int ret = sys_io_uring_register(fd, op, arg, nr);

	if (ret < 0)
		die("io_uring_register(%s)", what);
	return ret;
}

unsigned long fd_inode(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die("fstat(%d)", fd);
	return (unsigned long)st.st_ino;
}

/*
 * Advance SQ and CQ indices by @n: NOPs in batches of the SQ size, each
 * batch reaped before the next, so the CQ never overflows.
 */
/*
 * An SQ thread publishes its SQ head after posting the CQEs of what it
 * consumed: until then the SQ looks fuller, and a head read right after
 * the CQEs arrived is stale.  Wait until every SQE handed out is consumed.
 */
void ring_wait_sq_consumed(struct ring *r)
{
	while (__atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) != r->sq_local_tail)
		usleep(100);
}

void ring_advance_by_nops(struct ring *r, unsigned long n)
{
	while (n) {
		unsigned int batch = n < r->p.sq_entries ? (unsigned int)n : r->p.sq_entries;
		unsigned int i;
		int ret;

		if (batch > r->p.cq_entries)
			batch = r->p.cq_entries;
		for (i = 0; i < batch; i++)
			sqe_nop(ring_get_sqe(r), 0);
		ret = ring_submit_and_wait(r, batch);
		if (ret < 0)
			die_err(-ret, "io_uring_enter(%u NOPs)", batch);
		while (ring_cq_ready(r) < batch)
			enter(r, 0, batch - ring_cq_ready(r));
		ring_cq_advance(r, batch);
		ring_wait_sq_consumed(r);
		n -= batch;
	}
}

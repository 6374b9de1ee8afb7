// SPDX-License-Identifier: GPL-2.0-only
/*
 * ring_min PROGRESS_FILE
 *
 * A minimal io_uring user, on raw system calls only: one ring set up with
 * io_uring_setup(2) and mapped with mmap(2) (SQ ring, CQ ring unless the
 * kernel shares one mapping, SQE array).  Every 20 ms it submits a NOP
 * tagged with a counter, waits for its completion, checks the tag and only
 * then appends "PID COUNT" to PROGRESS_FILE.  A growing file therefore
 * proves the ring still works, e.g. after a dump attempt that failed.
 *
 * Built with -Iinclude so our <linux/io_uring.h> is the one used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/io_uring.h>

struct min_ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void die(const char *what)
{
	fprintf(stderr, "ring_min: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *map_ring_region(int fd, size_t len, off_t offset, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);

	if (p == MAP_FAILED)
		die(what);
	return p;
}

static void setup_ring(struct min_ring *r)
{
	struct io_uring_params p;
	size_t sq_len, cq_len;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, 8, &p);
	if (r->fd < 0)
		die("io_uring_setup");

	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (cq_len > sq_len)
			sq_len = cq_len;
		sq = map_ring_region(r->fd, sq_len, IORING_OFF_SQ_RING, "mmap SQ/CQ ring");
		cq = sq;
	} else {
		sq = map_ring_region(r->fd, sq_len, IORING_OFF_SQ_RING, "mmap SQ ring");
		cq = map_ring_region(r->fd, cq_len, IORING_OFF_CQ_RING, "mmap CQ ring");
	}
	r->sqes = map_ring_region(r->fd, p.sq_entries * sizeof(struct io_uring_sqe),
				  IORING_OFF_SQES, "mmap SQEs");

	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

/* Submit one NOP tagged @tag and wait for it; exit on any mismatch. */
static void nop_round_trip(struct min_ring *r, unsigned long tag)
{
	unsigned int tail = *r->sq_tail, idx = tail & *r->sq_mask;
	unsigned int head;
	struct io_uring_cqe *cqe;

	memset(&r->sqes[idx], 0, sizeof(r->sqes[idx]));
	r->sqes[idx].opcode = IORING_OP_NOP;
	r->sqes[idx].user_data = tag;
	r->sq_array[idx] = idx;
	/* The kernel may read the SQE as soon as it sees the new tail. */
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);

	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) != 1)
		die("io_uring_enter");

	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
		errno = EPROTO;
		die("no completion after io_uring_enter");
	}
	cqe = &r->cqes[head & *r->cq_mask];
	if (cqe->user_data != tag || cqe->res != 0) {
		errno = EPROTO;
		die("unexpected completion");
	}
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
}

static void append_progress(int fd, unsigned long count)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%d %lu\n", getpid(), count);

	if (write(fd, line, len) != len)
		die("write progress");
}

int main(int argc, char **argv)
{
	const struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };
	struct min_ring ring;
	unsigned long count;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: ring_min PROGRESS_FILE\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		die(argv[1]);

	setup_ring(&ring);
	for (count = 0;; count++) {
		nop_round_trip(&ring, count);
		append_progress(fd, count);
		nanosleep(&tick, NULL);
	}
}

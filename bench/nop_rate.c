// SPDX-License-Identifier: GPL-2.0-only
/*
 * nop_rate ENTRIES OPS: the kernel's raw NOP rate, the baseline for the
 * index advance (bench/restore.ts compiles and runs it).  One ring of
 * ENTRIES SQ entries, SQEs prepared once, then batches of ENTRIES NOPs
 * submitted and waited for with one io_uring_enter each and reaped by
 * moving cq.head, like the advance blob does.  Prints "OPS SECONDS".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	unsigned int entries, *sq_tail, *cq_head, *cq_tail, *array, tail = 0;
	unsigned long long ops, done = 0;
	struct io_uring_sqe *sqes;
	size_t ring_len;
	double t0;
	char *ring;
	int fd;

	if (argc != 3)
		return fprintf(stderr, "usage: nop_rate ENTRIES OPS\n"), 2;
	entries = strtoul(argv[1], NULL, 0);
	ops = strtoull(argv[2], NULL, 0);
	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, entries, &p);
	if (fd < 0)
		return perror("nop_rate: io_uring_setup"), 1;
	ring_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.sq_off.array + entries * 4 > ring_len)
		ring_len = p.sq_off.array + entries * 4;
	ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	sqes = mmap(NULL, entries * sizeof(*sqes), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (ring == MAP_FAILED || sqes == MAP_FAILED)
		return perror("nop_rate: mmap"), 1;
	sq_tail = (unsigned int *)(ring + p.sq_off.tail);
	array = (unsigned int *)(ring + p.sq_off.array);
	cq_head = (unsigned int *)(ring + p.cq_off.head);
	cq_tail = (unsigned int *)(ring + p.cq_off.tail);
	for (unsigned int i = 0; i < entries; i++) {
		memset(&sqes[i], 0, sizeof(sqes[i]));
		sqes[i].opcode = IORING_OP_NOP;
		array[i] = i;
	}
	t0 = now();
	while (done < ops) {
		unsigned int n = ops - done < entries ? ops - done : entries;

		tail += n;
		__atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
		if (syscall(__NR_io_uring_enter, fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0) != n)
			return perror("nop_rate: io_uring_enter"), 1;
		__atomic_store_n(cq_head, __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
		done += n;
	}
	printf("%llu %.6f\n", done, now() - t0);
	return 0;
}

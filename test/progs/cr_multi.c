// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_multi: several rings kept busy with random, verified I/O while the
 * process is checkpointed and restored at random moments.
 *
 * Three rings of different kinds (plain, SINGLE_ISSUER|DEFER_TASKRUN,
 * SQPOLL), each with its own data file registered at a fixed index and
 * its own registered buffer.  Each round picks a ring and an operation at
 * random: write a block with a fresh tag through the fixed file and
 * buffer, read back a random block and compare it with what was last
 * written there, or a NOP.  Every completion must carry the user_data of
 * its request and the expected result.  Until SIGUSR1; then prints
 * "N verified rounds" and exits 0, or a one-line reason and exit 1.
 */
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include "lib/uring.h"

#define NR_RINGS	3
#define BLOCK		4096
#define NR_BLOCKS	32

struct busy_ring {
	struct ring r;
	int data_fd;
	uint8_t *buf;
	uint32_t tags[NR_BLOCKS];
	uint64_t seq;
};

static struct busy_ring rings[NR_RINGS];

static void fill(uint8_t *buf, uint32_t tag)
{
	for (unsigned int i = 0; i < BLOCK / 4; i++)
		((uint32_t *)buf)[i] = tag * 2246822519u + i;
}

static int same(const uint8_t *buf, uint32_t tag)
{
	for (unsigned int i = 0; i < BLOCK / 4; i++)
		if (((const uint32_t *)buf)[i] != tag * 2246822519u + i)
			return 0;
	return 1;
}

static void complete(struct busy_ring *b, int i, uint64_t ud, int res)
{
	struct io_uring_cqe *cqe;

	while (!ring_cq_ready(&b->r))
		if (sys_io_uring_enter(b->r.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("ring %d: wait", i);
	cqe = ring_cqe_at(&b->r, 0);
	if (cqe->user_data != ud || cqe->res != res)
		die_err(EIO, "ring %d: completion user_data %llu res %d, expected %llu res %d", i,
			(unsigned long long)cqe->user_data, cqe->res, (unsigned long long)ud, res);
	ring_cq_advance(&b->r, 1);
	if (ring_cq_ready(&b->r))
		die_err(EIO, "ring %d: %u unexpected completions", i, ring_cq_ready(&b->r));
}

static void submit(struct busy_ring *b, int i, int op, unsigned int block)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&b->r);
	uint64_t ud = ((uint64_t)i << 56) | ++b->seq;

	if (op == IORING_OP_NOP) {
		sqe_nop(sqe, ud);
	} else {
		sqe_rw(sqe, op, 0, b->buf, BLOCK, (uint64_t)block * BLOCK, ud);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->buf_index = 0;
	}
	if (ring_submit(&b->r, 0) < 0)
		die("ring %d: submit", i);
	complete(b, i, ud, op == IORING_OP_NOP ? 0 : BLOCK);
}

static void round_once(void)
{
	int i = rand() % NR_RINGS;
	struct busy_ring *b = &rings[i];
	unsigned int block = rand() % NR_BLOCKS;

	switch (rand() % 3) {
	case 0:
		b->tags[block] = (uint32_t)rand() | 1;
		fill(b->buf, b->tags[block]);
		submit(b, i, IORING_OP_WRITE_FIXED, block);
		break;
	case 1:
		submit(b, i, IORING_OP_READ_FIXED, block);
		if (!same(b->buf, b->tags[block]))
			die_err(EIO, "ring %d: block %u read back wrong data", i, block);
		break;
	default:
		submit(b, i, IORING_OP_NOP, 0);
	}
}

static void setup(int i, unsigned int flags)
{
	struct io_uring_params p = { .flags = flags, .sq_thread_idle = 50 };
	struct busy_ring *b = &rings[i];
	char name[32];
	struct iovec iov;

	ring_create_or_die(&b->r, 8, &p);
	snprintf(name, sizeof(name), "cr_multi.%d", i);
	b->data_fd = open(scratch_path(name), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (b->data_fd < 0)
		die("data file");
	reg_or_die(b->r.fd, IORING_REGISTER_FILES, &b->data_fd, 1, "register files");
	b->buf = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->buf == MAP_FAILED)
		die("buffer");
	iov.iov_base = b->buf;
	iov.iov_len = BLOCK;
	reg_or_die(b->r.fd, IORING_REGISTER_BUFFERS, &iov, 1, "register buffers");
	for (unsigned int blk = 0; blk < NR_BLOCKS; blk++) {
		b->tags[blk] = blk + 1 + 100 * i;
		fill(b->buf, b->tags[blk]);
		submit(b, i, IORING_OP_WRITE_FIXED, blk);
	}
}

int main(int argc, char **argv)
{
	unsigned long rounds = 0;
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	srand(time(NULL) ^ getpid());
	setup(0, 0);
	setup(1, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	setup(2, IORING_SETUP_SQPOLL);
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);
	while (!stop_requested()) {
		round_once();
		rounds++;
		if (!(rounds % 64)) {
			struct timespec ts = { 0, 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	printf("%lu verified rounds\n", rounds);
	return 0;
}

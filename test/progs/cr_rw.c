// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_rw [--flags HEX] [--entries N] [--advance N] [--busy]
 *
 * A checkpoint/restore test in the style of CRIU's zdtm: set up ring state,
 * wait for the checkpoint, then verify itself.
 *
 * State: one ring (setup flags from --flags), a sparse registered-file
 * table of 4 with a data file at index 2, one registered buffer, a
 * registered eventfd, indices moved by --advance NOPs, then one unconsumed
 * CQE (user_data 0xC0FFEE) and, unless SQPOLL, one SQE written and
 * published but not submitted (a NOP, user_data 0xBEEF).
 *
 * Quiet mode (default): write the truth file, wait for SIGUSR1, then
 * verify: the CQE is still there, the pending SQE completes, the indices
 * continue where they were, and fixed-buffer writes and reads through the
 * registered file and buffer work, with the eventfd counting completions.
 *
 * --busy: the same verified I/O in a loop, from the start, until SIGUSR1:
 * dumps and restores happen at random moments in between.
 *
 * Exit 0 only when every check passed; otherwise a one-line reason on
 * stderr and exit 1.
 */
#include <inttypes.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include "lib/uring.h"

#define FILE_SLOT	2
#define BUF_LEN		4096
#define NR_BLOCKS	16

static struct ring ring;
static int data_fd, event_fd;
static uint8_t *buf;
static uint64_t seq;		/* user_data of the last request we submitted */
static uint64_t completions;	/* CQEs we reaped (for the eventfd check) */
static uint32_t blocks_written[NR_BLOCKS];

static void fill(uint32_t tag)
{
	for (unsigned int i = 0; i < BUF_LEN / 4; i++)
		((uint32_t *)buf)[i] = tag * 2654435761u + i;
}

static bool check(uint32_t tag)
{
	for (unsigned int i = 0; i < BUF_LEN / 4; i++)
		if (((uint32_t *)buf)[i] != tag * 2654435761u + i)
			return false;
	return true;
}

/* Reap exactly one CQE and check it is the one we expect. */
static void expect_cqe(uint64_t user_data, int res)
{
	struct io_uring_cqe *cqe;

	if (!ring_cq_ready(&ring) && sys_io_uring_enter(ring.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("waiting for a completion");
	cqe = ring_cqe_at(&ring, 0);
	if (!cqe)
		die_err(EIO, "no completion for user_data %" PRIu64, user_data);
	if (cqe->user_data != user_data || cqe->res != res)
		die_err(EIO, "completion user_data %llu res %d, expected %" PRIu64 " res %d",
			(unsigned long long)cqe->user_data, cqe->res, user_data, res);
	ring_cq_advance(&ring, 1);
	completions++;
}

static void fixed_rw(int op, unsigned int block)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe_rw(sqe, op, FILE_SLOT, buf, BUF_LEN, (uint64_t)block * BUF_LEN, ++seq);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->buf_index = 0;
	if (ring_submit(&ring, 0) < 0)
		die("submit");
	expect_cqe(seq, BUF_LEN);
}

/*
 * What the eventfd counted, waiting up to a second until it reaches @want:
 * the kernel wakes CQ waiters before it signals the eventfd, so a
 * completion can be reaped before its count lands (seen: "counted 1,
 * expected 2" about once a minute, without any checkpoint).
 */
static uint64_t eventfd_count(uint64_t want)
{
	struct pollfd pfd = { .fd = event_fd, .events = POLLIN };
	uint64_t total = 0, c;

	for (;;) {
		int ready;

		if (total >= want)
			break;
		ready = poll(&pfd, 1, 1000);
		/* a checkpoint interrupts the wait: wait again */
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready != 1)
			break;
		if (read(event_fd, &c, sizeof(c)) != sizeof(c))
			die("reading the eventfd");
		total += c;
	}
	return total;
}

/*
 * Back to 0, for counting from here: what the eventfd counted so far, and
 * the signals of completions already reaped that land late (see above),
 * until it stays quiet for 50 ms.
 */
static void eventfd_reset(void)
{
	struct pollfd pfd = { .fd = event_fd, .events = POLLIN };
	uint64_t c;
	int ready;

	while ((ready = poll(&pfd, 1, 50)) != 0) {
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0 || read(event_fd, &c, sizeof(c)) != sizeof(c))
			die("reading the eventfd");
	}
}

/* Write a block with a fresh tag, read back an older one: both verified. */
static void io_round(void)
{
	unsigned int w = seq % NR_BLOCKS, r = (seq * 7 + 3) % NR_BLOCKS;
	uint64_t count;

	fill((uint32_t)seq + 1);
	blocks_written[w] = (uint32_t)seq + 1;
	fixed_rw(IORING_OP_WRITE_FIXED, w);
	fixed_rw(IORING_OP_READ_FIXED, r);
	if (!check(blocks_written[r]))
		die_err(EIO, "block %u read back wrong data", r);
	/*
	 * The kernel promises a signal only when the CQ tail moved since the
	 * last one, not one signal per CQE: when an io-wq worker posts the
	 * write's CQE and we submit the read before the worker signals, the
	 * read's signal covers both and the worker's is skipped. So two
	 * completions give one or two signals; none, or more than two, is
	 * a lost or invented signal. DEFER_TASKRUN also signals when
	 * completions are queued as task work, so it only gives a floor.
	 */
	count = eventfd_count(ring.flags & IORING_SETUP_DEFER_TASKRUN ? 1 : 2);
	if (count < 1 || (!(ring.flags & IORING_SETUP_DEFER_TASKRUN) && count > 2))
		die_err(EIO, "eventfd counted %" PRIu64 " completions, expected 1 or 2", count);
}

static void setup(unsigned int flags, unsigned int entries)
{
	struct io_uring_params p = { .flags = flags, .sq_thread_idle = 1000 };
	int files[4] = { -1, -1, -1, -1 };
	struct iovec iov;

	ring_create_or_die(&ring, entries, &p);
	if (flags & IORING_SETUP_R_DISABLED)
		ring_enable(&ring);
	data_fd = open(scratch_path("cr_rw.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0 || ftruncate(data_fd, BUF_LEN * NR_BLOCKS))
		die("data file");
	files[FILE_SLOT] = data_fd;
	reg_or_die(ring.fd, IORING_REGISTER_FILES, files, 4, "register files");
	buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("buffer");
	iov.iov_base = buf;
	iov.iov_len = BUF_LEN;
	reg_or_die(ring.fd, IORING_REGISTER_BUFFERS, &iov, 1, "register buffers");
	event_fd = eventfd(0, 0);
	if (event_fd < 0)
		die("eventfd");
	reg_or_die(ring.fd, IORING_REGISTER_EVENTFD, &event_fd, 1, "register eventfd");
	for (unsigned int b = 0; b < NR_BLOCKS; b++) {
		seq = b; /* io_round derives blocks from seq */
		fill(b + 1);
		blocks_written[b] = b + 1;
		fixed_rw(IORING_OP_WRITE_FIXED, b);
	}
	eventfd_reset();
}

/* A NOP completed but not reaped, and one published but not submitted. */
static void leave_pending(bool sqpoll)
{
	sqe_nop(ring_get_sqe(&ring), 0xC0FFEE);
	if (ring_submit(&ring, 0) < 0)
		die("submit");
	while (!ring_cq_ready(&ring))
		sys_io_uring_enter(ring.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
	if (sqpoll) {
		/* the SQ thread publishes its head after posting the CQE */
		while (__atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE) != *ring.sq_tail)
			usleep(1000);
		return;
	}
	sqe_nop(ring_get_sqe(&ring), 0xBEEF);
	ring_commit(&ring);
}

static void verify_pending(bool sqpoll)
{
	uint64_t c;

	expect_cqe(0xC0FFEE, 0);
	if (!sqpoll) {
		if (sys_io_uring_enter(ring.fd, 1, 0, 0, NULL, 0) != 1)
			die("submitting the pending SQE");
		expect_cqe(0xBEEF, 0);
	}
	/* one signal per completion since the dump: CRIU restored the counter, the restore added none */
	c = eventfd_count(sqpoll ? 1 : 2);
	if (c != (sqpoll ? 1 : 2))
		die_err(EIO, "eventfd counted %" PRIu64 ", expected %d", c, sqpoll ? 1 : 2);
}

int main(int argc, char **argv)
{
	unsigned int flags = 0, entries = 8;
	unsigned long advance = 0;
	bool busy = false, sqpoll;
	struct truth *t;
	uint32_t sq_head, cq_tail;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--entries") && i + 1 < argc)
			entries = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--busy"))
			busy = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	sqpoll = flags & IORING_SETUP_SQPOLL;
	setup(flags, entries);
	if (advance)
		ring_advance_by_nops(&ring, advance);
	seq = 1000;
	if (advance)
		eventfd_reset();
	if (!busy)
		leave_pending(sqpoll);
	sq_head = *ring.sq_head;
	cq_tail = *ring.cq_tail;

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "inode", ring.inode);
	truth_int(t, "fd", ring.fd);
	truth_int(t, "sq_head", sq_head);
	truth_int(t, "cq_tail", cq_tail);
	truth_hex(t, "ring_addr", (uintptr_t)ring.ring_mem);
	truth_hex(t, "sqes_addr", (uintptr_t)ring.sqe_mem);
	truth_write(t);

	if (busy) {
		unsigned long rounds = 0;

		while (!stop_requested()) {
			io_round();
			rounds++;
			struct timespec ts = { 0, 2 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		printf("%lu verified rounds\n", rounds);
		return 0;
	}
	wait_for_stop();
	/* after the restore: nothing lost, nothing invented, indices continue */
	if (*ring.sq_head != sq_head || *ring.cq_tail != cq_tail)
		die_err(EIO, "indices sq head %u cq tail %u, expected %u %u", *ring.sq_head, *ring.cq_tail, sq_head, cq_tail);
	verify_pending(sqpoll);
	for (int i = 0; i < 32; i++)
		io_round();
	if (ring_cq_ready(&ring))
		die_err(EIO, "%u unexpected completions", ring_cq_ready(&ring));
	printf("verified\n");
	return 0;
}

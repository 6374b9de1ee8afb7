// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_combo_overflow [--flags HEX] [--busy]
 *
 * A reviewer-style checkpoint/restore test written with liburing: a big
 * ring (4096 SQ entries, CQSIZE 8192) whose CQ is deliberately overflowed,
 * so that at the checkpoint the CQ is full and the kernel's overflow list
 * holds more completions (IORING_FEAT_NODROP: nothing is dropped).  The
 * ring also has a sparse registered-file table updated after creation and
 * a registered buffer, used for verified writes and reads.
 *
 * Every NOP carries a sequence number as user_data and a result derived
 * from it (NOP INJECT_RESULT), so any completion lost, duplicated,
 * reordered or invented across the restore is caught.
 *
 * Quiet mode (default): submit 8192 + OVERFLOW NOPs without reaping, write
 * the truth file, wait for SIGUSR1; then check that the CQ is full and
 * flagged as overflowed, reap every completion in order (the kernel
 * flushes the overflow list as room appears), check nothing was dropped,
 * and do verified fixed-buffer I/O through the registered file.
 *
 * --busy: from the start until SIGUSR1, random bursts of NOPs (often
 * overflowing the CQ) and random partial reaps, with verified I/O rounds
 * whenever the CQ has been emptied; dumps happen at random moments.
 *
 * Exit 0 and "verified" only when every check passed; otherwise a one-line
 * reason on stderr and exit 1.
 */
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
/* first: our 6.18 ABI header, which liburing 2.3's older copy then defers to */
#include "lib/uring.h"
#include <liburing.h>

#define SQ_ENTRIES	4096
#define CQ_ENTRIES	8192
#define OVERFLOW	300
#define FILE_SLOT	5
#define NR_FILES	8
#define BLOCK		4096
#define NR_BLOCKS	8
#define IO_TAG		(1ULL << 62)	/* user_data of I/O requests, above any NOP sequence */

static struct io_uring ring;
static int data_fd;
static uint8_t *buf;
static uint64_t next_submit = 1, next_reap = 1;	/* NOP sequence numbers */
static uint32_t block_tag[NR_BLOCKS];

static int32_t nop_result(uint64_t seq)
{
	return (int32_t)((seq * 2654435761u) & 0x7fffffff);
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		int ret = io_uring_submit(&ring);

		if (ret < 0)
			die_err(-ret, "submit with a full SQ");
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			die_err(EBUSY, "no SQE after submitting a full SQ");
	}
	return sqe;
}

/* @n NOPs, each completing with its sequence number and derived result. */
static void submit_nops(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = get_sqe();

		io_uring_prep_nop(sqe);
		sqe->nop_flags = IORING_NOP_INJECT_RESULT;
		sqe->len = (uint32_t)nop_result(next_submit);
		io_uring_sqe_set_data64(sqe, next_submit++);
	}
	int ret = io_uring_submit(&ring);

	if (ret < 0)
		die_err(-ret, "submitting %u NOPs", n);
}

/* Reap one completion, which must be the next NOP in sequence. */
static void reap_one_nop(void)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe(&ring, &cqe);

	if (ret < 0)
		die_err(-ret, "waiting for NOP %" PRIu64, next_reap);
	if (cqe->user_data != next_reap || cqe->res != nop_result(next_reap) || cqe->flags)
		die_err(EIO, "completion user_data %llu res %d flags %x, expected NOP %" PRIu64 " res %d",
			(unsigned long long)cqe->user_data, cqe->res, cqe->flags, next_reap, nop_result(next_reap));
	io_uring_cqe_seen(&ring, cqe);
	next_reap++;
}

static void reap_nops(uint64_t n)
{
	while (n--)
		reap_one_nop();
}

static void fill(uint32_t tag)
{
	for (unsigned int i = 0; i < BLOCK / 4; i++)
		((uint32_t *)buf)[i] = tag * 2246822519u + i;
}

static bool holds(uint32_t tag)
{
	for (unsigned int i = 0; i < BLOCK / 4; i++)
		if (((uint32_t *)buf)[i] != tag * 2246822519u + i)
			return false;
	return true;
}

/* One fixed-buffer request on the registered file, on an empty CQ. */
static void fixed_io(bool write, unsigned int block)
{
	struct io_uring_sqe *sqe = get_sqe();
	struct io_uring_cqe *cqe;
	int ret;

	if (write)
		io_uring_prep_write_fixed(sqe, FILE_SLOT, buf, BLOCK, (uint64_t)block * BLOCK, 0);
	else
		io_uring_prep_read_fixed(sqe, FILE_SLOT, buf, BLOCK, (uint64_t)block * BLOCK, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, IO_TAG | block);
	ret = io_uring_submit_and_wait(&ring, 1);
	if (ret < 0)
		die_err(-ret, "submitting a fixed %s", write ? "write" : "read");
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret < 0)
		die_err(-ret, "waiting for a fixed %s", write ? "write" : "read");
	if (cqe->user_data != (IO_TAG | block) || cqe->res != BLOCK)
		die_err(EIO, "fixed %s of block %u: user_data %llx res %d", write ? "write" : "read",
			block, (unsigned long long)cqe->user_data, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
}

/* Write a fresh tag to one block and read back another: both checked. */
static void io_round(uint32_t tag)
{
	unsigned int w = tag % NR_BLOCKS, r = (tag * 5 + 1) % NR_BLOCKS;

	if (io_uring_cq_ready(&ring) || next_reap != next_submit)
		die_err(EPROTO, "I/O round with %" PRIu64 " NOPs unreaped", next_submit - next_reap);
	fill(tag);
	block_tag[w] = tag;
	fixed_io(true, w);
	fixed_io(false, r);
	if (!holds(block_tag[r]))
		die_err(EIO, "block %u read back wrong data (tag %u expected)", r, block_tag[r]);
}

static void setup(unsigned int flags)
{
	struct io_uring_params p = { .flags = flags | IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES };
	int ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	struct iovec iov;

	if (ret < 0)
		die_err(-ret, "io_uring_queue_init_params flags %#x", flags);
	if (!(p.features & IORING_FEAT_NODROP))
		die_err(ENOTSUP, "kernel without IORING_FEAT_NODROP");
	if (p.cq_entries != CQ_ENTRIES)
		die_err(EINVAL, "CQ has %u entries, asked for %u", p.cq_entries, CQ_ENTRIES);
	ret = io_uring_register_files_sparse(&ring, NR_FILES);
	if (ret < 0)
		die_err(-ret, "registering a sparse file table");
	data_fd = open(scratch_path("cr_combo_overflow.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0 || ftruncate(data_fd, BLOCK * NR_BLOCKS))
		die("data file");
	ret = io_uring_register_files_update(&ring, FILE_SLOT, &data_fd, 1);
	if (ret != 1)
		die_err(ret < 0 ? -ret : EIO, "updating file slot %d", FILE_SLOT);
	buf = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("buffer");
	iov.iov_base = buf;
	iov.iov_len = BLOCK;
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (ret < 0)
		die_err(-ret, "registering the buffer");
	for (unsigned int b = 0; b < NR_BLOCKS; b++) {
		fill(b + 1);
		block_tag[b] = b + 1;
		fixed_io(true, b);
	}
}

static unsigned long ring_inode(void)
{
	struct stat st;

	if (fstat(ring.ring_fd, &st))
		die("fstat ring");
	return st.st_ino;
}

static void write_truth(void)
{
	struct truth *t = truth_new();

	truth_int(t, "pid", getpid());
	truth_int(t, "inode", ring_inode());
	truth_int(t, "fd", ring.ring_fd);
	truth_int(t, "cq_ready", io_uring_cq_ready(&ring));
	truth_int(t, "overflowed", (long long)(next_submit - next_reap) - (long long)io_uring_cq_ready(&ring));
	truth_write(t);
}

static void check_nothing_dropped(void)
{
	if (*ring.cq.koverflow)
		die_err(EIO, "the kernel dropped %u completions", *ring.cq.koverflow);
}

static int quiet(void)
{
	submit_nops(CQ_ENTRIES + OVERFLOW);
	if (io_uring_cq_ready(&ring) != CQ_ENTRIES)
		die_err(EPROTO, "%u CQEs after overflowing, expected %u", io_uring_cq_ready(&ring), CQ_ENTRIES);
	write_truth();
	wait_for_stop();

	if (io_uring_cq_ready(&ring) != CQ_ENTRIES)
		die_err(EIO, "%u CQEs after the restore, expected a full CQ of %u", io_uring_cq_ready(&ring), CQ_ENTRIES);
	if (!(IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		die_err(EIO, "the ring no longer says its CQ overflowed");
	reap_nops(next_submit - next_reap);
	if (io_uring_cq_ready(&ring))
		die_err(EIO, "%u completions after the last NOP", io_uring_cq_ready(&ring));
	if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		die_err(EIO, "the overflow flag is still set after reaping everything");
	check_nothing_dropped();
	for (uint32_t tag = 100; tag < 132; tag++)
		io_round(tag);
	/* and the ring overflows and recovers again as before */
	submit_nops(CQ_ENTRIES + 17);
	reap_nops(next_submit - next_reap);
	check_nothing_dropped();
	printf("verified\n");
	return 0;
}

static int busy(void)
{
	unsigned long rounds = 0;
	uint32_t tag = 1000;

	srandom(getpid());
	write_truth();
	while (!stop_requested()) {
		uint64_t unreaped = next_submit - next_reap;
		unsigned int burst = 1 + random() % 2500;

		if (unreaped + burst > CQ_ENTRIES + 1500)
			burst = 0;
		submit_nops(burst);
		unreaped = next_submit - next_reap;
		reap_nops(rounds % 4 == 3 ? unreaped : random() % (unreaped + 1));
		if (next_reap == next_submit)
			io_round(tag++);
		rounds++;
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	reap_nops(next_submit - next_reap);
	if (io_uring_cq_ready(&ring))
		die_err(EIO, "%u completions after the last NOP", io_uring_cq_ready(&ring));
	check_nothing_dropped();
	io_round(tag);
	printf("%lu verified rounds, %" PRIu64 " NOPs\n", rounds, next_reap - 1);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int flags = 0;
	bool is_busy = false;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--busy"))
			is_busy = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	setup(flags);
	return is_busy ? busy() : quiet();
}

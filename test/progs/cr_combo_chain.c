// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_combo_chain [--flags HEX] [--busy]
 *
 * A reviewer-style checkpoint/restore test written with liburing, the way
 * a threaded application uses a ring: the main thread submits, a worker
 * thread reaps.
 *
 * State: one ring (setup flags from --flags, e.g. SINGLE_ISSUER|
 * DEFER_TASKRUN or COOP_TASKRUN|TASKRUN_FLAG or SQPOLL) whose fd the main
 * thread registered (io_uring_register_ring_fd: every enter goes through
 * the registered index), a sparse registered-file table of 16 filled
 * afterwards with io_uring_register_files_update (the data file at slot
 * 3), two registered buffers (write and read areas, one block per chain
 * slot), a registered eventfd and io-wq worker limits (IOWQ_MAX_WORKERS,
 * checked again at the end).
 *
 * Work: chains of three linked requests, write -> fsync -> read, on the
 * registered file with the registered buffers; the fsync has
 * IOSQE_CQE_SKIP_SUCCESS, so a chain posts exactly two CQEs.  Up to
 * NR_SLOTS chains are in flight.  The main thread submits (and, for
 * DEFER_TASKRUN, runs the ring's task work with io_uring_get_events); the
 * worker waits on the eventfd (poll with a short timeout: DEFER_TASKRUN
 * signals when work is queued, not only when CQEs appear) and reaps in
 * user space only (io_uring_for_each_cqe), checking every CQE: write and
 * read results, the data read back, no CQE for the fsync, no duplicate,
 * nothing unknown.
 *
 * Quiet mode (default): 40 chains, the worker stopped, two NOPs left
 * unreaped in the CQ; truth file; wait for SIGUSR1; then the two NOPs must
 * be there, the worker restarts, 100 more chains run, and the file holds
 * what every chain wrote.  --busy: chains from the start until SIGUSR1,
 * with dumps at random moments.
 *
 * Exit 0 with "verified" ("N verified rounds" with --busy) only when every
 * check passed; otherwise a one-line reason on stderr and exit 1.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
/* first: our 6.18 ABI header, which liburing 2.3's older copy then defers to */
#include "lib/uring.h"
#include "lib/combo.h"

#define ENTRIES		64
#define NR_FILES	16
#define FILE_SLOT	3
#define NR_SLOTS	8		/* chains in flight at most */
#define BLOCKS_PER_SLOT	4
#define BLOCK		4096
#define NOP_TAG		(1ULL << 62)
#define IOWQ_BOUNDED	3		/* io-wq worker limits set with IOWQ_MAX_WORKERS */
#define IOWQ_UNBOUNDED	5

enum kind { K_WRITE = 1, K_FSYNC = 2, K_READ = 3 };

static struct io_uring ring;
static unsigned int ring_flags;
static int data_fd, event_fd;
static uint8_t *wbufs, *rbufs;

/* chain slots: seq of the chain using it (0 = free) and CQEs still due */
static uint64_t slot_seq[NR_SLOTS];
static int slot_due[NR_SLOTS];
static uint32_t block_tag[NR_SLOTS * BLOCKS_PER_SLOT];	/* written by the submitter */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static volatile bool worker_stop;
static uint64_t chains_done, eventfd_wakeups;

static unsigned int block_of(unsigned int slot, uint64_t seq)
{
	return slot * BLOCKS_PER_SLOT + seq % BLOCKS_PER_SLOT;
}

static void worker_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void worker_fail(const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	die_err(EIO, "reaper: %s", why);
}

/* One CQE of a chain: check it, free the slot after its last one. */
static void take_cqe(const struct io_uring_cqe *cqe)
{
	uint64_t seq = cqe->user_data >> 2;
	unsigned int kind = cqe->user_data & 3, slot = seq % NR_SLOTS;

	if (cqe->user_data & NOP_TAG)
		worker_fail("NOP %llx reaped by the chain reaper", (unsigned long long)cqe->user_data);
	pthread_mutex_lock(&lock);
	if (slot_seq[slot] != seq || slot_due[slot] <= 0)
		worker_fail("CQE for chain %" PRIu64 " kind %u, which is not in flight", seq, kind);
	if (kind == K_FSYNC)
		worker_fail("the fsync of chain %" PRIu64 " posted a CQE (res %d) despite CQE_SKIP_SUCCESS", seq, cqe->res);
	if (cqe->res != BLOCK)
		worker_fail("chain %" PRIu64 " %s returned %d", seq, kind == K_WRITE ? "write" : "read", cqe->res);
	if (kind == K_READ && slot_due[slot] != 1)
		worker_fail("chain %" PRIu64 ": read completed before its write", seq);
	if (kind == K_READ && !block_holds(rbufs + slot * BLOCK, (uint32_t)seq))
		worker_fail("chain %" PRIu64 " read back other data than it wrote", seq);
	if (--slot_due[slot] == 0) {
		slot_seq[slot] = 0;
		chains_done++;
		pthread_cond_signal(&slot_freed);
	}
	pthread_mutex_unlock(&lock);
}

static void *reaper(void *arg)
{
	struct pollfd pfd = { .fd = event_fd, .events = POLLIN };

	(void)arg;
	while (!worker_stop) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		uint64_t count;

		if (poll(&pfd, 1, 10) > 0 && read(event_fd, &count, sizeof(count)) == sizeof(count))
			eventfd_wakeups++;
		io_uring_for_each_cqe(&ring, head, cqe) {
			take_cqe(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
	return NULL;
}

static pthread_t worker;

static void start_reaper(void)
{
	worker_stop = false;
	errno = pthread_create(&worker, NULL, reaper, NULL);
	if (errno)
		die("starting the reaper thread");
}

static void stop_reaper(void)
{
	worker_stop = true;
	errno = pthread_join(worker, NULL);
	if (errno)
		die("joining the reaper thread");
}

/* DEFER_TASKRUN completions are posted only when the submitter asks. */
static void run_task_work(void)
{
	int ret = io_uring_get_events(&ring);

	if (ret < 0 && ret != -EINTR)
		die_err(-ret, "io_uring_get_events");
}

/* Called and returns with the lock held. */
static void wait_slot_free(unsigned int slot)
{
	while (slot_seq[slot]) {
		struct timespec ts;

		pthread_mutex_unlock(&lock);
		run_task_work();
		pthread_mutex_lock(&lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (slot_seq[slot])
			pthread_cond_timedwait(&slot_freed, &lock, &ts);
	}
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe)
		die_err(EBUSY, "SQ full with at most %d chains in flight", NR_SLOTS);
	return sqe;
}

/* write -> fsync (no CQE on success) -> read back, linked */
static void submit_chain(uint64_t seq)
{
	unsigned int slot = seq % NR_SLOTS, block = block_of(slot, seq);
	uint64_t off = (uint64_t)block * BLOCK;
	struct io_uring_sqe *sqe;
	int ret;

	pthread_mutex_lock(&lock);
	wait_slot_free(slot);
	slot_seq[slot] = seq;
	slot_due[slot] = 2;
	pthread_mutex_unlock(&lock);
	block_fill(wbufs + slot * BLOCK, (uint32_t)seq);
	memset(rbufs + slot * BLOCK, 0, BLOCK);
	block_tag[block] = (uint32_t)seq;

	sqe = get_sqe();
	io_uring_prep_write_fixed(sqe, FILE_SLOT, wbufs + slot * BLOCK, BLOCK, off, 0);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE | IOSQE_IO_LINK);
	io_uring_sqe_set_data64(sqe, seq << 2 | K_WRITE);
	sqe = get_sqe();
	io_uring_prep_fsync(sqe, FILE_SLOT, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
	io_uring_sqe_set_data64(sqe, seq << 2 | K_FSYNC);
	sqe = get_sqe();
	io_uring_prep_read_fixed(sqe, FILE_SLOT, rbufs + slot * BLOCK, BLOCK, off, 1);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, seq << 2 | K_READ);
	ret = io_uring_submit(&ring);
	if (ret < 0)
		die_err(-ret, "submitting chain %" PRIu64, seq);
}

/* Wait until every chain has posted its CQEs and been reaped. */
static void drain_chains(uint64_t submitted)
{
	for (int i = 0; chains_done != submitted; i++) {
		if (i > 20000)
			die_err(ETIMEDOUT, "%" PRIu64 " of %" PRIu64 " chains completed after 20 s", chains_done, submitted);
		run_task_work();
		usleep(1000);
	}
}

/* The file holds what the last chain of each block wrote. */
static void verify_file(void)
{
	uint8_t *b = wbufs; /* no chain in flight: reuse the write area */

	for (unsigned int blk = 0; blk < NR_SLOTS * BLOCKS_PER_SLOT; blk++) {
		if (!block_tag[blk])
			continue;
		if (pread(data_fd, b, BLOCK, (off_t)blk * BLOCK) != BLOCK)
			die("reading block %u back", blk);
		if (!block_holds(b, block_tag[blk]))
			die_err(EIO, "block %u does not hold chain %u's data", blk, block_tag[blk]);
	}
}

static void setup(unsigned int flags)
{
	struct io_uring_params p = { .flags = flags, .sq_thread_idle = 500 };
	struct iovec iov[2];
	int ret;

	ring_flags = flags;
	ret = io_uring_queue_init_params(ENTRIES, &ring, &p);
	if (ret < 0)
		die_err(-ret, "io_uring_queue_init_params flags %#x", flags);
	ret = io_uring_register_ring_fd(&ring);
	if (ret != 1)
		die_err(ret < 0 ? -ret : EIO, "io_uring_register_ring_fd");
	ret = io_uring_register_files_sparse(&ring, NR_FILES);
	if (ret < 0)
		die_err(-ret, "registering a sparse file table");
	data_fd = open(scratch_path("cr_combo_chain.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0 || ftruncate(data_fd, (off_t)BLOCK * NR_SLOTS * BLOCKS_PER_SLOT))
		die("data file");
	ret = io_uring_register_files_update(&ring, FILE_SLOT, &data_fd, 1);
	if (ret != 1)
		die_err(ret < 0 ? -ret : EIO, "updating file slot %d", FILE_SLOT);
	wbufs = mmap(NULL, 2 * NR_SLOTS * BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (wbufs == MAP_FAILED)
		die("buffers");
	rbufs = wbufs + NR_SLOTS * BLOCK;
	iov[0] = (struct iovec){ wbufs, NR_SLOTS * BLOCK };
	iov[1] = (struct iovec){ rbufs, NR_SLOTS * BLOCK };
	ret = io_uring_register_buffers(&ring, iov, 2);
	if (ret < 0)
		die_err(-ret, "registering buffers");
	event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (event_fd < 0)
		die("eventfd");
	ret = io_uring_register_eventfd(&ring, event_fd);
	if (ret < 0)
		die_err(-ret, "registering the eventfd");
	ret = io_uring_register_iowq_max_workers(&ring, (unsigned int[2]){ IOWQ_BOUNDED, IOWQ_UNBOUNDED });
	if (ret < 0)
		die_err(-ret, "limiting the io-wq workers");
}

/* The io-wq limits set at setup still hold ({0, 0} only reads them). */
static void check_iowq_limits(void)
{
	unsigned int now[2] = { 0, 0 };
	int ret = io_uring_register_iowq_max_workers(&ring, now);

	if (ret < 0)
		die_err(-ret, "reading the io-wq limits");
	if (now[0] != IOWQ_BOUNDED || now[1] != IOWQ_UNBOUNDED)
		die_err(EIO, "io-wq limits %u/%u, expected %u/%u", now[0], now[1], IOWQ_BOUNDED, IOWQ_UNBOUNDED);
}

/* NOPs completed but not reaped (the reaper is stopped). */
static void leave_nops(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = get_sqe();

		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, NOP_TAG | i);
	}
	int ret = io_uring_submit_and_wait(&ring, n);

	if (ret < 0)
		die_err(-ret, "submitting NOPs");
	while (io_uring_cq_ready(&ring) < n)
		run_task_work();
}

static void reap_nops(unsigned int n)
{
	struct io_uring_cqe *cqe;
	unsigned int head, i = 0;

	if (io_uring_cq_ready(&ring) != n)
		die_err(EIO, "%u CQEs in the CQ, expected the %u NOPs", io_uring_cq_ready(&ring), n);
	io_uring_for_each_cqe(&ring, head, cqe) {
		if (cqe->user_data != (NOP_TAG | i) || cqe->res)
			die_err(EIO, "CQE %u: user_data %llx res %d, expected NOP %u", i,
				(unsigned long long)cqe->user_data, cqe->res, i);
		i++;
	}
	io_uring_cq_advance(&ring, n);
}

static void write_truth(void)
{
	struct truth *t = truth_new();
	struct stat st;

	if (fstat(ring.ring_fd, &st))
		die("fstat ring");
	truth_int(t, "pid", getpid());
	truth_int(t, "inode", st.st_ino);
	truth_int(t, "fd", ring.ring_fd);
	truth_int(t, "registered_index", ring.enter_ring_fd);
	truth_write(t);
}

static int quiet(void)
{
	uint64_t seq = 1, wakeups;

	start_reaper();
	for (; seq <= 40; seq++)
		submit_chain(seq);
	drain_chains(seq - 1);
	stop_reaper();
	leave_nops(2);
	write_truth();
	wait_for_stop();

	reap_nops(2);
	wakeups = eventfd_wakeups;
	start_reaper();
	for (; seq <= 140; seq++)
		submit_chain(seq);
	drain_chains(seq - 1);
	stop_reaper();
	if (eventfd_wakeups == wakeups)
		die_err(EIO, "the eventfd never signalled after the restore");
	verify_file();
	check_iowq_limits();
	printf("verified\n");
	return 0;
}

static int busy(void)
{
	uint64_t seq = 1;

	write_truth();
	start_reaper();
	while (!stop_requested())
		submit_chain(seq++);
	drain_chains(seq - 1);
	stop_reaper();
	if (io_uring_cq_ready(&ring))
		die_err(EIO, "%u unexpected CQEs", io_uring_cq_ready(&ring));
	verify_file();
	check_iowq_limits();
	printf("%" PRIu64 " verified rounds (chains)\n", seq - 1);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int flags = 0;
	bool is_busy = false;

	stop_signals_init(argv[0]);	/* before any thread: they inherit the mask */
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

// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_fdonly [--flags HEX] [--advance N] [--extra-cqes N] [--skips N] [--thread]
 *           [--personality] [--tick-ns N]
 *
 * A checkpoint/restore test for IORING_SETUP_REGISTERED_FD_ONLY rings
 * (zdtm style): rings that have no fd at all, only an index in the
 * registered-ring table of the thread that created them.
 *
 * State:
 *  - ring B, a plain ring with an fd, registered in slot 0;
 *  - ring A: NO_MMAP|REGISTERED_FD_ONLY plus --flags (e.g. SINGLE_ISSUER|
 *    DEFER_TASKRUN), created while slot 1 held another fd-only ring C, so
 *    A sits in slot 2; C is unregistered (and so destroyed), leaving slot
 *    1 free: the restore has to land A in slot 2 anyway.  With --thread,
 *    A and C are created, used and verified by a second thread (which
 *    registers B in slot 0 of its own table first).
 *  - A has registered files [data, -] and buffers [0, 1], an eventfd,
 *    indices moved by --advance NOPs, then by --extra-cqes CQEs beyond its
 *    SQEs (a multishot timeout: the CQ tail leads the SQ head) or --skips
 *    SQEs without CQEs (CQE_SKIP_SUCCESS NOPs: the SQ head leads), and it
 *    is left with two unconsumed CQEs and (unless SQPOLL) one SQE published
 *    but not submitted.  Real I/O goes through the fixed file and fixed buffers.
 *    --personality also registers personality 1 (which the dump refuses
 *    on such rings).  --tick-ns sets the multishot timeout's period
 *    (default 1 ms); the truth file reports the ticks per second it saw.
 *
 * After SIGUSR1: the shared indices are the dumped ones, the two CQEs
 * come out in order, the pending SQE completes, fixed-file/fixed-buffer
 * I/O writes and reads back known data, the eventfd counted the
 * completions, slot 1 is still empty and slot 0 still runs ring B; then
 * "verified".  Any failure: one line on stderr, exit 1.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include "lib/uring.h"

#define BLK		4096
#define SLOT_B		0
#define SLOT_C		1
#define SLOT_A		2
#define UD_LEFT		0xc0ffee00ull
#define UD_PENDING	0xbeefull
#define UD_IO		0x10ull

static struct ring a, b;
static unsigned int a_flags;
static unsigned long advance = 1000;
static unsigned int extra_cqes, skips;
static bool personality;
static long tick_ns = 1000000;
static double ticks_per_sec;
static uint8_t *bufs[2];
static int efd;
static unsigned int saved_sq_head, saved_cq_tail;

static void fill(uint8_t *p, uint8_t tag)
{
	for (int i = 0; i < BLK; i++)
		p[i] = (uint8_t)(tag + i * 13);
}

static bool same(const uint8_t *p, uint8_t tag)
{
	for (int i = 0; i < BLK; i++)
		if (p[i] != (uint8_t)(tag + i * 13))
			return false;
	return true;
}

static bool sqpoll(void)
{
	return a_flags & IORING_SETUP_SQPOLL;
}

static void register_b(unsigned int index)
{
	struct io_uring_rsrc_update slot = { .offset = index, .data = b.fd };

	reg_or_die(b.fd, IORING_REGISTER_RING_FDS, &slot, 1, "register ring B");
}

/* io_uring_register on a ring named by its registered index */
static void reg_a(unsigned int op, const void *arg, unsigned int nr, const char *what)
{
	reg_or_die(a.fd, op | IORING_REGISTER_USE_REGISTERED_RING, arg, nr, what);
}

static struct io_uring_cqe *expect_cqe(uint64_t ud, const char *what)
{
	struct io_uring_cqe *cqe = ring_cqe_at(&a, 0);

	if (!cqe)
		die_err(EIO, "%s: no completion", what);
	if (cqe->user_data != ud)
		die_err(EIO, "%s: completion 0x%" PRIx64 " instead of 0x%" PRIx64, what,
			(uint64_t)cqe->user_data, ud);
	return cqe;
}

/* One fixed-buffer read or write through fixed file 0, waited for. */
static void fixed_io(int op, int buf, uint64_t off, uint64_t ud)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&a);
	struct io_uring_cqe *cqe;
	int ret;

	sqe_rw(sqe, op, 0, bufs[buf], BLK, off, ud);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->buf_index = buf;
	ret = ring_submit_and_wait(&a, 1);
	if (ret < 0)
		die_err(-ret, "fixed I/O 0x%" PRIx64, ud);
	cqe = expect_cqe(ud, "fixed I/O");
	if (cqe->res != BLK)
		die_err(cqe->res < 0 ? -cqe->res : EIO, "fixed I/O 0x%" PRIx64 " returned %d", ud, cqe->res);
	ring_cq_advance(&a, 1);
}

static void create_fd_only(struct ring *r, unsigned int flags, int want_slot)
{
	struct io_uring_params p = { .flags = flags | IORING_SETUP_NO_MMAP | IORING_SETUP_REGISTERED_FD_ONLY };

	ring_create_or_die(r, 8, &p);
	if (r->fd != want_slot)
		die_err(EIO, "fd-only ring created in slot %d, expected %d", r->fd, want_slot);
}

/* Multishot timeouts posting @n CQEs, for one SQE unless the CQ filled up: the CQ tail moves ahead of the SQ head. */
static void multishot_cqes(unsigned int n)
{
	struct __kernel_timespec ts = { .tv_nsec = tick_ns };
	struct timespec t0, t1;
	unsigned int got = 0;
	bool armed = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < n) {
		struct io_uring_cqe *cqe;

		/* the kernel ends a multishot early when a tick finds the CQ full: arm it again */
		if (!armed) {
			struct io_uring_sqe *sqe = ring_get_sqe(&a);

			sqe->opcode = IORING_OP_TIMEOUT;
			sqe->addr = (uintptr_t)&ts;
			sqe->len = 1;
			sqe->off = n - got;
			sqe->timeout_flags = IORING_TIMEOUT_MULTISHOT;
			sqe->user_data = 0x7117;
			armed = true;
		}
		if (ring_submit_and_wait(&a, 1) < 0)
			die("wait for timeout CQEs");
		while ((cqe = ring_cqe_at(&a, 0))) {
			if (cqe->user_data != 0x7117 || cqe->res != -ETIME)
				die_err(EIO, "multishot timeout CQE %" PRIx64 " res %d", (uint64_t)cqe->user_data, cqe->res);
			if (!(cqe->flags & IORING_CQE_F_MORE))
				armed = false;
			ring_cq_advance(&a, 1);
			got++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ticks_per_sec = got / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static void skip_nops(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = ring_get_sqe(&a);

		sqe_nop(sqe, 0x5c1b);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		if (ring_submit(&a, 0) != 1)
			die("submit a CQE_SKIP_SUCCESS NOP");
	}
	if (ring_cq_ready(&a))
		die_err(EIO, "a CQE_SKIP_SUCCESS NOP posted a CQE");
}

static void setup_resources(int data)
{
	int files[2] = { data, -1 };
	struct iovec iov[2];

	for (int i = 0; i < 2; i++) {
		bufs[i] = mmap(NULL, BLK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (bufs[i] == MAP_FAILED)
			die("buffer %d", i);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = BLK;
	}
	reg_a(IORING_REGISTER_FILES, files, 2, "register files");
	reg_a(IORING_REGISTER_BUFFERS, iov, 2, "register buffers");
	efd = eventfd(0, EFD_NONBLOCK);
	if (efd < 0)
		die("eventfd");
	reg_a(IORING_REGISTER_EVENTFD, &efd, 1, "register eventfd");
	if (personality && sys_io_uring_register(a.fd, IORING_REGISTER_PERSONALITY |
						  IORING_REGISTER_USE_REGISTERED_RING, NULL, 0) != 1)
		die("register personality 1");
}

static void leave_work(void)
{
	for (int i = 0; i < 2; i++)
		sqe_nop(ring_get_sqe(&a), UD_LEFT + i);
	if (ring_submit_and_wait(&a, 2) < 0)
		die("post the CQEs left for the checkpoint");
	ring_wait_sq_consumed(&a);
	/* an SQ thread would submit it at once */
	if (!sqpoll()) {
		sqe_nop(ring_get_sqe(&a), UD_PENDING);
		ring_commit(&a);
	}
	saved_sq_head = *a.sq_head;
	saved_cq_tail = *a.cq_tail;
}

static void build_a(void)
{
	struct ring c;
	int data;

	data = open(scratch_path("cr_fdonly.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data < 0)
		die("data file");
	create_fd_only(&c, 0, SLOT_C);
	create_fd_only(&a, a_flags, SLOT_A);
	struct io_uring_rsrc_update drop = { .offset = SLOT_C };
	reg_or_die(b.fd, IORING_UNREGISTER_RING_FDS, &drop, 1, "unregister ring C");
	if (a_flags & IORING_SETUP_R_DISABLED) {
		reg_a(IORING_REGISTER_ENABLE_RINGS, NULL, 0, "enable ring A");
		a.flags &= ~IORING_SETUP_R_DISABLED;
	}
	setup_resources(data);
	fill(bufs[0], 1);
	fixed_io(IORING_OP_WRITE_FIXED, 0, 0, UD_IO);
	fixed_io(IORING_OP_READ_FIXED, 1, 0, UD_IO + 1);
	if (!same(bufs[1], 1))
		die_err(EIO, "fixed read before the checkpoint returned other data");
	close(data);	/* the ring holds it */
	ring_advance_by_nops(&a, advance);
	if (extra_cqes)
		multishot_cqes(extra_cqes + 1);
	skip_nops(skips);
	leave_work();
}

static void verify_a(void)
{
	uint64_t count = 0;

	if (*a.sq_head != saved_sq_head || *a.cq_tail != saved_cq_tail)
		die_err(EIO, "indices %u/%u after restore, dumped %u/%u", *a.sq_head, *a.cq_tail,
			saved_sq_head, saved_cq_tail);
	for (int i = 0; i < 2; i++) {
		if (expect_cqe(UD_LEFT + i, "a CQE left unconsumed")->res != 0)
			die_err(EIO, "CQE %d changed", i);
		ring_cq_advance(&a, 1);
	}
	if (!sqpoll()) {
		if (ring_submit_and_wait(&a, 1) != 1)
			die("submit the pending SQE");
		expect_cqe(UD_PENDING, "the pending SQE");
		ring_cq_advance(&a, 1);
	}
	if (*a.sq_head != saved_sq_head + !sqpoll() || *a.cq_tail != saved_cq_tail + !sqpoll())
		die_err(EIO, "indices did not continue from %u/%u", saved_sq_head, saved_cq_tail);
	if (read(efd, &count, sizeof(count)) != sizeof(count) || !count)
		die_err(EIO, "the eventfd did not count the completions");
	fill(bufs[0], 2);
	fixed_io(IORING_OP_WRITE_FIXED, 0, BLK, UD_IO + 2);
	memset(bufs[1], 0, BLK);
	fixed_io(IORING_OP_READ_FIXED, 1, BLK, UD_IO + 3);
	if (!same(bufs[1], 2))
		die_err(EIO, "fixed buffer 1 did not read back what fixed buffer 0 wrote");
	fixed_io(IORING_OP_READ_FIXED, 1, 0, UD_IO + 4);
	if (!same(bufs[1], 1))
		die_err(EIO, "the block written before the checkpoint changed");
	if (sys_io_uring_enter(SLOT_C, 0, 0, IORING_ENTER_REGISTERED_RING, NULL, 0) >= 0)
		die_err(EIO, "registered-ring slot %d is not empty", SLOT_C);
	ring_advance_by_nops(&a, 100);
}

static void write_truth(pid_t tid)
{
	struct truth *t = truth_new();

	truth_int(t, "slot", SLOT_A);
	truth_int(t, "tid", tid);
	truth_u64s(t, "sq_head", saved_sq_head);
	truth_u64s(t, "cq_tail", saved_cq_tail);
	truth_int(t, "ticks_per_sec", (long long)ticks_per_sec);
	truth_write(t);
}

/* The thread that created ring A must be the one that uses it. */
static pid_t a_tid;

static void *thread_run(void *arg)
{
	(void)arg;
	a_tid = (pid_t)syscall(SYS_gettid);
	/* this thread's own table: B in slot 0 here too, so C and A land in 1 and 2 */
	register_b(SLOT_B);
	build_a();
	write_truth(a_tid);
	wait_for_stop();
	verify_a();
	return NULL;
}

int main(int argc, char **argv)
{
	bool threaded = false;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			a_flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--extra-cqes") && i + 1 < argc)
			extra_cqes = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--skips") && i + 1 < argc)
			skips = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--tick-ns") && i + 1 < argc)
			tick_ns = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--personality"))
			personality = true;
		else if (!strcmp(argv[i], "--thread"))
			threaded = true;
		else
			die_err(EINVAL, "usage: cr_fdonly [--flags HEX] [--advance N] [--extra-cqes N] [--skips N] [--thread] [--personality] [--tick-ns N]");
	}
	ring_create_or_die(&b, 8, NULL);
	register_b(SLOT_B);
	ring_advance_by_nops(&b, 7);
	if (threaded) {
		pthread_t th;

		/* signals stay blocked in both threads; the worker takes SIGUSR1 in wait_for_stop() */
		if (pthread_create(&th, NULL, thread_run, NULL))
			die("pthread_create");
		pthread_join(th, NULL);
	} else {
		build_a();
		write_truth((pid_t)syscall(SYS_gettid));
		wait_for_stop();
		verify_a();
	}
	if (sys_io_uring_enter(SLOT_B, 0, 0, IORING_ENTER_REGISTERED_RING, NULL, 0) < 0)
		die("ring B through registered-ring slot %d", SLOT_B);
	printf("verified\n");
	return 0;
}

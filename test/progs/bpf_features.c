// SPDX-License-Identifier: GPL-2.0-only
/*
 * bpf_features: rings exercising what only the BPF capture can see, with
 * large tables, for test/bpf-capture.test.ts.
 *
 *   big      SQE128|CQE32, 4 SQ / 32768 CQ entries: 32768 unconsumed
 *            CQEs (NOP CQE32 extras), 2 pending SQEs, 3000 registered
 *            files (sparse table of 4096), restrictions-free
 *   timers   a pending TIMEOUT, a READ on a pipe linked to a LINK_TIMEOUT,
 *            an OPENAT of a FIFO without writer (blocks in io-wq), io-wq
 *            limits [3, 7], registered clock BOOTTIME
 *   sqp      SQPOLL (idle 2000 ms) and a second ring attached to its thread
 *   locked   created R_DISABLED with restrictions (register op 0, sqe ops
 *            NOP and READ, allowed flags 0x1), left disabled
 *
 * Truth keys follow the inspect model; "_name" labels rings.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "uring.h"

#define BIG_CQ		32768
#define BIG_FILES	4096
#define BIG_USED	3000

static void setup_big(struct truth *t, int dev_null)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 | IORING_SETUP_CQE32 |
					      IORING_SETUP_CQSIZE, .cq_entries = BIG_CQ };
	static int files[BIG_FILES];
	struct ring r;
	unsigned int done = 0, i;

	ring_create_or_die(&r, 4, &p);
	for (i = 0; i < BIG_FILES; i++)
		files[i] = (i % 4 == 3 || i >= 4000) ? -1 : dev_null;
	reg_or_die(r.fd, IORING_REGISTER_FILES, files, BIG_FILES, "register files");

	/* Fill the CQ completely with NOP CQE32s carrying extras. */
	while (done < BIG_CQ) {
		unsigned int n = 0;
		struct io_uring_sqe *sqe;

		while (n < 4 && done + n < BIG_CQ && (sqe = ring_get_sqe(&r))) {
			sqe_nop(sqe, 1000000 + done + n);
			sqe->nop_flags = IORING_NOP_INJECT_RESULT | IORING_NOP_CQE32;
			sqe->len = done + n;
			sqe->off = 7;			/* extra1 */
			sqe->addr = done + n;		/* extra2 */
			n++;
		}
		if (ring_submit(&r, 0) != (int)n)
			die("big: submit");
		done += n;
	}
	/* Two SQEs left pending (tail moved, never submitted). */
	sqe_nop(ring_get_sqe(&r), 42);
	sqe_nop(ring_get_sqe(&r), 43);
	ring_commit(&r);

	truth_obj(t, NULL);
	truth_str(t, "_name", "big");
	truth_int(t, "inode", fd_inode(r.fd));
	truth_int(t, "setup_flags", r.flags);
	truth_int(t, "sq_entries", 4);
	truth_int(t, "cq_entries", BIG_CQ);
	truth_obj(t, "cq");
	truth_int(t, "head", 0);
	truth_int(t, "tail", BIG_CQ);
	truth_end(t);
	truth_int(t, "_cqes", BIG_CQ);
	truth_int(t, "_pending", 2);
	truth_int(t, "_files_used", BIG_USED);
	truth_obj(t, "registered_files");
	truth_int(t, "size", BIG_FILES);
	truth_end(t);
	truth_end(t);
}

static void inflight_fields(struct truth *t, const char *op, uint64_t user_data, int fd,
			    const char *state)
{
	truth_str(t, "opcode", op);
	truth_u64s(t, "user_data", user_data);
	if (fd >= 0)
		truth_int(t, "fd", fd);
	else
		truth_null(t, "fd");
	truth_bool(t, "fixed", false);
	truth_str(t, "state", state);
}

static void inflight(struct truth *t, const char *op, uint64_t user_data, int fd,
		     const char *state)
{
	truth_obj(t, NULL);
	inflight_fields(t, op, user_data, fd, state);
	truth_end(t);
}

static void setup_timers(struct truth *t, const char *fifo)
{
	struct ring r;
	struct io_uring_sqe *sqe;
	static struct __kernel_timespec ts = { .tv_sec = 3600 };
	static char buf[16];
	unsigned int limits[2] = { 3, 7 };
	struct io_uring_clock_register clk = { .clockid = CLOCK_BOOTTIME };
	int pfd[2];

	ring_create_or_die(&r, 8, NULL);
	if (pipe(pfd))
		die("pipe");
	reg_or_die(r.fd, IORING_REGISTER_IOWQ_MAX_WORKERS, limits, 2, "iowq max workers");
	reg_or_die(r.fd, IORING_REGISTER_CLOCK, &clk, 0, "clock");

	sqe = ring_get_sqe(&r);
	sqe_nop(sqe, 501);
	sqe->opcode = IORING_OP_TIMEOUT;
	sqe->fd = -1;
	sqe->addr = (uint64_t)(uintptr_t)&ts;
	sqe->len = 1;

	sqe = ring_get_sqe(&r);
	sqe_rw(sqe, IORING_OP_READ, pfd[0], buf, sizeof(buf), 0, 502);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = ring_get_sqe(&r);
	sqe_nop(sqe, 503);
	sqe->opcode = IORING_OP_LINK_TIMEOUT;
	sqe->fd = -1;
	sqe->addr = (uint64_t)(uintptr_t)&ts;
	sqe->len = 1;

	sqe = ring_get_sqe(&r);
	sqe_nop(sqe, 504);
	sqe->opcode = IORING_OP_OPENAT;
	sqe->fd = AT_FDCWD;
	sqe->addr = (uint64_t)(uintptr_t)fifo;
	sqe->open_flags = O_RDONLY;
	sqe->flags |= IOSQE_ASYNC;	/* straight to io-wq, where open() blocks */
	if (ring_submit(&r, 0) != 4)
		die("timers: submit");

	truth_obj(t, NULL);
	truth_str(t, "_name", "timers");
	truth_int(t, "inode", fd_inode(r.fd));
	truth_arr(t, "iowq_max_workers");
	truth_int(t, NULL, 3);
	truth_int(t, NULL, 7);
	truth_end(t);
	truth_obj(t, "clock");
	truth_int(t, "clockid", CLOCK_BOOTTIME);
	truth_end(t);
	/* the model's order: by state, then user_data */
	truth_arr(t, "inflight");
	/* the LINK_TIMEOUT guarding the READ is a link of its chain */
	truth_obj(t, NULL);
	inflight_fields(t, "READ", 502, pfd[0], "poll");
	truth_arr(t, "links");
	inflight(t, "LINK_TIMEOUT", 503, -1, "linked");
	truth_end(t);
	truth_end(t);
	inflight(t, "TIMEOUT", 501, -1, "timeout");
	inflight(t, "OPENAT", 504, -1, "iowq");
	truth_end(t);
	truth_end(t);
}

static void setup_sqpoll(struct truth *t)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 2000 };
	struct io_uring_params q = { .flags = IORING_SETUP_SQPOLL | IORING_SETUP_ATTACH_WQ };
	struct ring a, b;

	ring_create_or_die(&a, 8, &p);
	q.wq_fd = a.fd;
	ring_create_or_die(&b, 8, &q);

	truth_obj(t, NULL);
	truth_str(t, "_name", "sqp");
	truth_int(t, "inode", fd_inode(a.fd));
	truth_obj(t, "sqpoll");
	truth_int(t, "idle_ms", 2000);
	truth_arr(t, "shared_with");
	truth_int(t, NULL, fd_inode(b.fd));
	truth_end(t);
	truth_end(t);
	truth_end(t);

	truth_obj(t, NULL);
	truth_str(t, "_name", "sqp_attached");
	truth_int(t, "inode", fd_inode(b.fd));
	truth_obj(t, "sqpoll");
	truth_arr(t, "shared_with");
	truth_int(t, NULL, fd_inode(a.fd));
	truth_end(t);
	truth_end(t);
	truth_end(t);
}

static void setup_locked(struct truth *t)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	struct io_uring_restriction res[4] = {
		{ .opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_REGISTER_BUFFERS },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_NOP },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_FIXED_FILE },
	};
	struct ring r;

	ring_create_or_die(&r, 8, &p);
	reg_or_die(r.fd, IORING_REGISTER_RESTRICTIONS, res, 4, "restrictions");

	truth_obj(t, NULL);
	truth_str(t, "_name", "locked");
	truth_int(t, "inode", fd_inode(r.fd));
	truth_bool(t, "disabled", true);
	truth_obj(t, "restrictions");
	truth_arr(t, "register_ops");
	truth_int(t, NULL, IORING_REGISTER_BUFFERS);
	truth_end(t);
	truth_arr(t, "sqe_ops");
	truth_int(t, NULL, IORING_OP_NOP);
	truth_int(t, NULL, IORING_OP_READ);
	truth_end(t);
	truth_int(t, "sqe_flags_allowed", IOSQE_FIXED_FILE);
	truth_int(t, "sqe_flags_required", 0);
	truth_end(t);
	truth_end(t);
}

int main(int argc, char **argv)
{
	struct truth *t;
	const char *fifo;
	int dev_null;

	stop_signals_init(argv[0]);
	dev_null = open("/dev/null", O_RDWR);
	if (dev_null < 0)
		die("open /dev/null");
	fifo = scratch_path("fifo");
	unlink(fifo);
	if (mkfifo(fifo, 0600))
		die("mkfifo %s", fifo);

	t = truth_new();
	truth_arr(t, "rings");
	setup_big(t, dev_null);
	setup_timers(t, fifo);
	setup_sqpoll(t);
	setup_locked(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	/* let the io-wq worker blocked in open(fifo) finish */
	close(open(fifo, O_WRONLY | O_NONBLOCK));
	return 0;
}

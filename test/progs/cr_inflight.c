// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_inflight [--flags HEX] --expect cancelled|armed
 *
 * Three requests that never complete by themselves are left in flight:
 * a READ on an empty pipe (poll-armed, user_data 0xA1), a one-hour
 * TIMEOUT (0xA2) and a multishot POLL_ADD on another empty pipe (0xA3).
 * Then the truth file is written and the program waits for SIGUSR1.
 *
 * --expect cancelled (dumped with CRIU_URING_CANCEL_INFLIGHT=1, restored):
 * the CQ holds exactly three CQEs, one per request, each -ECANCELED; the
 * program then re-arms all three and sees them complete normally (the
 * READ returns the byte written, the short TIMEOUT -ETIME, the poll POLLIN
 * with IORING_CQE_F_MORE).
 *
 * --expect armed (the dump failed and left the process alone): no CQE is
 * there; the READ and the poll complete when their pipes get data, and the
 * TIMEOUT is still armed (cancelling it yields -ECANCELED plus the cancel's
 * own 0).
 *
 * Exit 0 with "verified", or one line on stderr and exit 1.
 */
#include <inttypes.h>
#include <poll.h>
#include "lib/uring.h"

#define UD_READ		0xA1
#define UD_TIMEOUT	0xA2
#define UD_POLL		0xA3
#define UD_CANCEL	0xC1

static struct ring ring;
static int pipe_a[2], pipe_b[2];
static char rbuf[16];
static struct __kernel_timespec long_ts = { .tv_sec = 3600 }, short_ts = { .tv_nsec = 10 * 1000 * 1000 };

static void arm_read(void)
{
	sqe_rw(ring_get_sqe(&ring), IORING_OP_READ, pipe_a[0], rbuf, sizeof(rbuf), 0, UD_READ);
}

static void arm_timeout(struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe->opcode = IORING_OP_TIMEOUT;
	sqe->fd = -1;
	sqe->addr = (uintptr_t)ts;
	sqe->len = 1;
	sqe->user_data = UD_TIMEOUT;
}

static void arm_poll(void)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe->opcode = IORING_OP_POLL_ADD;
	sqe->fd = pipe_b[0];
	sqe->poll32_events = POLLIN;
	sqe->len = IORING_POLL_ADD_MULTI;
	sqe->user_data = UD_POLL;
}

static void submit(int n)
{
	int ret = ring_submit(&ring, 0);

	if (ret != n)
		die_err(ret < 0 ? -ret : EIO, "submitting %d requests (got %d)", n, ret);
}

/* Wait for exactly @n CQEs; copy them out and consume them. */
static void reap(struct io_uring_cqe *out, unsigned int n, const char *what)
{
	for (int tries = 0; ring_cq_ready(&ring) < n; tries++) {
		if (tries > 100)
			die_err(ETIMEDOUT, "%s: %u of %u CQEs", what, ring_cq_ready(&ring), n);
		usleep(10000);
		sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	}
	for (unsigned int i = 0; i < n; i++)
		out[i] = *ring_cqe_at(&ring, i);
	ring_cq_advance(&ring, n);
}

static const struct io_uring_cqe *find(const struct io_uring_cqe *c, unsigned int n, uint64_t ud, const char *what)
{
	const struct io_uring_cqe *hit = NULL;

	for (unsigned int i = 0; i < n; i++) {
		if (c[i].user_data != ud)
			continue;
		if (hit)
			die_err(EIO, "%s: two CQEs for user_data 0x%" PRIx64, what, ud);
		hit = &c[i];
	}
	if (!hit)
		die_err(EIO, "%s: no CQE for user_data 0x%" PRIx64, what, ud);
	return hit;
}

static void expect_res(const struct io_uring_cqe *c, int res, const char *what)
{
	if (c->res != res)
		die_err(EIO, "%s: user_data 0x%llx res %d, expected %d", what, (unsigned long long)c->user_data, c->res, res);
}

static void expect_nothing_more(const char *what)
{
	sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	if (ring_cq_ready(&ring))
		die_err(EIO, "%s: unexpected CQE user_data 0x%llx res %d", what,
			(unsigned long long)ring_cqe_at(&ring, 0)->user_data, ring_cqe_at(&ring, 0)->res);
}

/* The READ and the poll fire once their pipes get a byte. */
static void feed_pipes(const char *what)
{
	struct io_uring_cqe c[2];

	if (write(pipe_a[1], "r", 1) != 1 || write(pipe_b[1], "p", 1) != 1)
		die("writing to the pipes");
	reap(c, 2, what);
	expect_res(find(c, 2, UD_READ, what), 1, what);
	if (rbuf[0] != 'r')
		die_err(EIO, "%s: READ delivered '%c'", what, rbuf[0]);
	if (!(find(c, 2, UD_POLL, what)->res & POLLIN) || !(find(c, 2, UD_POLL, what)->flags & IORING_CQE_F_MORE))
		die_err(EIO, "%s: poll CQE res 0x%x flags 0x%x, expected POLLIN with F_MORE", what,
			find(c, 2, UD_POLL, what)->res, find(c, 2, UD_POLL, what)->flags);
}

static void verify_cancelled(void)
{
	struct io_uring_cqe c[3];

	if (ring_cq_ready(&ring) != 3)
		die_err(EIO, "%u CQEs after the restore, expected the 3 cancellations", ring_cq_ready(&ring));
	reap(c, 3, "cancellations");
	expect_res(find(c, 3, UD_READ, "cancellations"), -ECANCELED, "cancelled READ");
	expect_res(find(c, 3, UD_TIMEOUT, "cancellations"), -ECANCELED, "cancelled TIMEOUT");
	expect_res(find(c, 3, UD_POLL, "cancellations"), -ECANCELED, "cancelled multishot poll");
	expect_nothing_more("after the cancellations");
	/* re-arm and complete every one */
	arm_read();
	arm_poll();
	arm_timeout(&short_ts);
	submit(3);
	reap(c, 1, "re-armed TIMEOUT");
	expect_res(find(c, 1, UD_TIMEOUT, "re-armed TIMEOUT"), -ETIME, "re-armed TIMEOUT");
	feed_pipes("re-armed READ and poll");
}

static void verify_armed(void)
{
	struct io_uring_cqe c[2];
	struct io_uring_sqe *sqe;

	expect_nothing_more("requests still armed");
	feed_pipes("still-armed READ and poll");
	sqe = ring_get_sqe(&ring);
	sqe->opcode = IORING_OP_ASYNC_CANCEL;
	sqe->fd = -1;
	sqe->addr = UD_TIMEOUT;
	sqe->user_data = UD_CANCEL;
	submit(1);
	reap(c, 2, "cancelling the still-armed TIMEOUT");
	expect_res(find(c, 2, UD_TIMEOUT, "timeout"), -ECANCELED, "still-armed TIMEOUT");
	expect_res(find(c, 2, UD_CANCEL, "cancel"), 0, "ASYNC_CANCEL");
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	const char *expect = NULL;
	struct truth *t;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect = argv[++i];
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	if (!expect || (strcmp(expect, "cancelled") && strcmp(expect, "armed")))
		die_err(EINVAL, "--expect cancelled|armed is required");
	if (pipe(pipe_a) || pipe(pipe_b))
		die("pipe");
	ring_create_or_die(&ring, 8, &p);
	arm_read();
	arm_timeout(&long_ts);
	arm_poll();
	submit(3);
	expect_nothing_more("right after arming");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "ring_fd", ring.fd);
	truth_write(t);

	wait_for_stop();
	if (!strcmp(expect, "cancelled"))
		verify_cancelled();
	else
		verify_armed();
	expect_nothing_more("at the end");
	printf("verified\n");
	return 0;
}

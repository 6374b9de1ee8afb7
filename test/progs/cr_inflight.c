// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_inflight [--flags HEX] --expect cancelled|armed
 *
 * Four requests that never complete by themselves are left in flight:
 * a READ on an empty pipe (poll-armed, user_data 0xA1), a one-hour
 * TIMEOUT (0xA2), a multishot POLL_ADD on another empty pipe (0xA3) and a
 * SENDMSG with MSG_WAITALL of 256 KiB on a unix stream socket with a
 * small send buffer (0xA4): it sent part of its message and waits for
 * room to send the rest.  The restore re-arms the first three; a SENDMSG
 * that already sent part of a MSG_WAITALL message it cannot (its result
 * would lack those bytes), so the dump fails by default.
 * Then the truth file is written and the program waits for SIGUSR1.
 *
 * --expect cancelled (dumped with CRIU_URING_CANCEL_INFLIGHT=1, restored):
 * the CQ holds one CQE for each request the dump could not re-arm, and
 * nothing for the re-armed ones: the SENDMSG's result is what it sent
 * (the kernel reports a cancelled partial send by its count), which the
 * peer reads; the program re-arms a SENDMSG of the rest itself.
 *
 * --expect armed (the dump failed and left the process alone): no CQE is
 * there.
 *
 * Then, in both cases, every request is completed exactly once: the READ
 * and the poll (POLL_IN with IORING_CQE_F_MORE) when their pipes get
 * data, the SENDMSG (all it had to send) once the peer has read the
 * message, every byte once and in order, the TIMEOUT (-ECANCELED) when
 * cancelled.
 *
 * Exit 0 with "verified", or one line on stderr and exit 1.
 */
#include <inttypes.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include "lib/uring.h"

#define UD_READ		0xA1
#define UD_TIMEOUT	0xA2
#define UD_POLL		0xA3
#define UD_SENDMSG	0xA4
#define UD_CANCEL	0xC1

static struct ring ring;
static int pipe_a[2], pipe_b[2];
static char rbuf[16];
static int sk[2];
static struct __kernel_timespec long_ts = { .tv_sec = 3600 };

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

/*
 * A MSG_WAITALL SENDMSG of MSG_LEN bytes from @off of the message on a
 * socket with a small send buffer: its first try sends what fits and it
 * waits in poll to send the rest.
 */
#define MSG_LEN		(256u << 10)
static char *message;
static size_t msg_off;		/* where the armed SENDMSG starts in the message */
static size_t consumed;		/* message bytes the peer has read */
static struct iovec siov[2];
static struct msghdr smsg = { .msg_iov = siov, .msg_iovlen = 2 };

static void make_socket(void)
{
	int small = 16384;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk))
		die("socketpair");
	if (setsockopt(sk[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) || fcntl(sk[1], F_SETFL, O_NONBLOCK))
		die("setting up the socket");
	message = malloc(MSG_LEN);
	if (!message)
		die("malloc");
	for (size_t i = 0; i < MSG_LEN; i++)
		message[i] = (char)(i * 13 + i / 1000);
}

static void arm_sendmsg(size_t off)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);
	size_t half = (MSG_LEN - off) / 2;

	msg_off = off;
	siov[0] = (struct iovec){ message + off, half };
	siov[1] = (struct iovec){ message + off + half, MSG_LEN - off - half };
	sqe->opcode = IORING_OP_SENDMSG;
	sqe->fd = sk[0];
	sqe->addr = (uintptr_t)&smsg;
	sqe->msg_flags = MSG_WAITALL;
	sqe->user_data = UD_SENDMSG;
}

/*
 * The peer reads the message up to @upto (as it comes: on a DEFER_TASKRUN
 * ring the SENDMSG sends only when the owner asks for events), checking
 * every byte.  @upto 0: only what is there now.
 */
static void read_message(size_t upto, const char *what)
{
	static char buf[65536];

	while (!upto || consumed < upto) {
		size_t want = (upto ? upto : MSG_LEN) - consumed;
		ssize_t n = read(sk[1], buf, want < sizeof(buf) ? want : sizeof(buf));

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = sk[1], .events = POLLIN };

			if (!upto)
				return;
			sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
			if (poll(&p, 1, 10000) != 1 && !ring_cq_ready(&ring))
				die_err(ETIMEDOUT, "%s: %zu of %zu bytes of the message came", what, consumed, upto);
			continue;
		}
		if (n <= 0)
			die("%s: reading the socket", what);
		if (memcmp(buf, message + consumed, (size_t)n))
			die_err(EIO, "%s: the peer read wrong bytes at %zu of the message", what, consumed);
		consumed += (size_t)n;
	}
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

/* The re-armed or still-armed requests, each completed once. */
static void complete_all(const char *what)
{
	struct io_uring_cqe c[2];
	struct io_uring_sqe *sqe;

	/* the peer reads the whole message, once and in order; the SENDMSG reports all it had to send */
	read_message(MSG_LEN, what);
	reap(c, 1, "SENDMSG");
	expect_res(find(c, 1, UD_SENDMSG, what), (int)(MSG_LEN - msg_off), "SENDMSG");
	feed_pipes(what);
	sqe = ring_get_sqe(&ring);
	sqe->opcode = IORING_OP_ASYNC_CANCEL;
	sqe->fd = -1;
	sqe->addr = UD_TIMEOUT;
	sqe->user_data = UD_CANCEL;
	submit(1);
	reap(c, 2, "cancelling the TIMEOUT");
	expect_res(find(c, 2, UD_TIMEOUT, "timeout"), -ECANCELED, "cancelled TIMEOUT");
	expect_res(find(c, 2, UD_CANCEL, "cancel"), 0, "ASYNC_CANCEL");
}

/* Dumped with the cancel option: the requests it could not re-arm were cancelled; arm them again. */
static void rearm_cancelled(void)
{
	struct io_uring_cqe c[4];
	unsigned int n = ring_cq_ready(&ring);
	int again = 0;

	if (n == 0 || n > 2)
		die_err(EIO, "%u CQEs after the restore, expected the cancellations (1 or 2)", n);
	reap(c, n, "cancellations");
	for (unsigned int i = 0; i < n; i++) {
		if (c[i].user_data == UD_SENDMSG) {
			/* the part it sent is in the peer's queue (CRIU restored it): its result */
			read_message(0, "after the restore");
			if (c[i].res <= 0 || (size_t)c[i].res != consumed)
				die_err(EIO, "the cancelled SENDMSG reports %d bytes sent, the peer has %zu", c[i].res, consumed);
			arm_sendmsg(consumed);
			again++;
			continue;
		}
		if (c[i].res != -ECANCELED)
			die_err(EIO, "user_data 0x%llx res %d after the restore, expected -ECANCELED",
				(unsigned long long)c[i].user_data, c[i].res);
		if (c[i].user_data == UD_POLL)
			arm_poll();
		else
			die_err(EIO, "user_data 0x%llx was cancelled, but the restore re-arms it",
				(unsigned long long)c[i].user_data);
		again++;
	}
	find(c, n, UD_SENDMSG, "cancellations");
	submit(again);
	/* the SENDMSG may complete at once (room after the restore): complete_all() reaps it */
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
	make_socket();
	ring_create_or_die(&ring, 8, &p);
	arm_read();
	arm_timeout(&long_ts);
	arm_poll();
	arm_sendmsg(0);
	submit(4);
	expect_nothing_more("right after arming");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "ring_fd", ring.fd);
	truth_write(t);

	wait_for_stop();
	if (!strcmp(expect, "cancelled"))
		rearm_cancelled();
	else
		expect_nothing_more("requests still armed");
	complete_all(expect);
	expect_nothing_more("at the end");
	printf("verified\n");
	return 0;
}

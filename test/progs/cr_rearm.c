// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_rearm [--flags HEX] [--sets basic,multishot,accept,count] [--fork-first]
 *
 * Arms requests that only an outside event completes, writes the truth
 * file and waits for SIGUSR1 (after a restore, or in the original after
 * criu dump --leave-running).  Then it triggers each event and checks
 * that every request completes exactly once, with its own user_data and
 * the right result, and that nothing else arrives.
 *
 * basic:     READ on a pipe (0xB1), RECV on a unix socket (0xB2), single
 *            POLL_ADD (0xB3), a 2.5 s TIMEOUT that must fire (0xB4), a
 *            one-hour TIMEOUT cancelled at the end (0xB5), RECV on a fixed
 *            file (0xB6).
 * multishot: multishot POLL_ADD (0xC1), multishot RECV on a buffer ring
 *            (0xC2), READ_MULTISHOT on a buffer ring (0xC3); each fires
 *            twice with IORING_CQE_F_MORE, then is cancelled.
 * accept:    ACCEPT (0xD1), a multishot ACCEPT that accepted one
 *            connection before the checkpoint (0xD2), and an ACCEPT into a
 *            registered-file slot the kernel picks (0xD3, direct
 *            descriptor), on unix listeners.
 * recvmsg:   RECVMSG on a unix datagram socket (0xF1) and a multishot
 *            RECVMSG on a buffer ring (0xF2, fires twice with F_MORE).
 * count:     on a second ring, a TIMEOUT waiting for 3 completions of
 *            which one happened before the checkpoint (0xE1); after it,
 *            two NOPs complete it (res 0).
 * chain:     linked chains: RECV -> WRITE -> NOP (0x101..0x103: the data
 *            received, then the WRITE and the NOP run); POLL_ADD guarded
 *            by a one-hour LINK_TIMEOUT (0x111, 0x112: the poll fires, the
 *            LINK_TIMEOUT is cancelled); RECV guarded by a 5 s
 *            LINK_TIMEOUT, then a NOP (0x121..0x123: the timeout fires
 *            5 s after arming in the process's time, the RECV and the NOP
 *            are cancelled); a hard-linked POLL_ADD -> READ (0x131, 0x132).
 * abs:       timeouts 20 s (--abs-after S) after arming: absolute on CLOCK_MONOTONIC (0x141),
 *            CLOCK_BOOTTIME (0x142) and CLOCK_REALTIME (0x143), relative on
 *            CLOCK_REALTIME (0x144); each fires once, not before its deadline
 *            as the process's clock reads it, and not long after.  Multishot
 *            timeouts: 1.5 s period, 4 firings (0x145: three with F_MORE,
 *            then the last), and unlimited (0x146: two more after the
 *            checkpoint, then cancelled).
 * send:      SENDs on full unix stream sockets (nothing sent yet), with
 *            IORING_RECVSEND_POLL_FIRST (0x151) and without (0x152): once
 *            the peer reads what filled the socket, each completes with
 *            its whole length, and the peer reads it after the filler.
 *            CRIU restores the queued filler in fewer, bigger buffers, so
 *            the socket may have room at once: the SEND without
 *            POLL_FIRST, which tries before it polls, may complete right
 *            after the restore (POLL_FIRST waits for the socket to drain
 *            to a quarter of its buffer).
 * futex:     FUTEX_WAIT on a private futex (0x161) and on a shared one in
 *            MAP_SHARED memory (0x162, with a mask); each completes
 *            (res 0) once the word changes and FUTEX_WAKE wakes it.
 * drain:     a POLL_ADD on a pipe submitted with IOSQE_IO_DRAIN (0x1A1),
 *            alone on the ring (use this set alone); after SIGUSR1 a NOP
 *            (0x1A2) must wait behind it, and complete only after it, once
 *            the pipe is written.
 * waitv:     FUTEX_WAITV on two private futexes (0x171); the program
 *            overwrites its futex_waitv array right after submitting (the
 *            kernel copied it: what comes back must be that copy); once
 *            the second word changes and FUTEX_WAKE wakes it: res 1.
 * msgring:   a ring waiting for a MSG_RING from this one: POLL_ADD on a pipe
 *            (0x191) linked to a MSG_RING (0x193) that posts user_data
 *            0x192, res 42 to a second ring; once the pipe is written,
 *            the POLL_ADD and the MSG_RING complete here and the second
 *            ring gets its CQE.
 * waitid:    WAITID(P_PID, WEXITED) for a child forked before the ring
 *            (0x181; its pid is "child_pid" in the truth: it is part of the
 *            checkpointed tree); the child exits with status 7 once it
 *            reads a byte from a pipe: res 0, and the siginfo names the
 *            child, CLD_EXITED, status 7.
 *
 * --fork-first: a child is forked right after the ring is created, before
 * any request's file is opened: it holds the ring (fd and mappings) but
 * none of those files, and never touches the ring.  It exits when the
 * parent does (EOF on a pipe only the parent writes).
 *
 * After SIGUSR1 the kernel's SQ head must be where it was after arming.
 *
 * Exit 0 with "verified", or one line on stderr and exit 1.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include "lib/uring.h"

#define UD_CANCEL	0xCA00
#define NSLOTS		8

static struct ring ring, ring2;
static bool set_basic, set_multi, set_accept, set_count, set_recvmsg, set_chain, set_abs, set_send, set_futex, set_waitid;
static bool set_msgring, set_waitv, set_drain;

static int pipe_a[2], pipe_b[2], pipe_c[2], pipe_d[2];
static int sock_a[2], sock_b[2], sock_c[2];
static int lis_a, lis_b, lis_c;
static char buf_read[16], buf_recv[16], buf_fixed[16];
static struct __kernel_timespec short_ts = { .tv_sec = 2, .tv_nsec = 500 * 1000 * 1000 };
static struct __kernel_timespec long_ts = { .tv_sec = 3600 };

#define NBUF	8
#define BUFSZ	64
static struct io_uring_buf_ring *br_recv, *br_read;
static char bufs_recv[NBUF][BUFSZ], bufs_read[NBUF][BUFSZ];

/* ---- plumbing ---------------------------------------------------------- */

static void submit(struct ring *r, int n)
{
	int ret = ring_submit(r, 0);

	/* SQPOLL: the SQ thread takes them; wait until it has */
	for (int tries = 0; r->flags & IORING_SETUP_SQPOLL; tries++) {
		if (ret < 0)
			die_err(-ret, "waking the SQ thread");
		if (__atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) == r->sq_local_tail)
			return;
		if (tries > 5000)
			die_err(ETIMEDOUT, "the SQ thread did not take %d requests", n);
		usleep(1000);
		ret = sys_io_uring_enter(r->fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
	}
	if (ret != n)
		die_err(ret < 0 ? -ret : EIO, "submitting %d requests (got %d)", n, ret);
}

static struct io_uring_sqe *sqe_for(struct ring *r, int op, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = ring_get_sqe(r);

	sqe->opcode = (__u8)op;
	sqe->fd = fd;
	sqe->user_data = ud;
	return sqe;
}

/*
 * Timeouts fire on their own clock, whenever that is: the CQEs of these
 * user_data are set aside wherever they show up, with the time (the
 * process's CLOCK_MONOTONIC) they were reaped at; the 2.5 s TIMEOUT
 * (0xB4) must come once.
 */
#define MAX_ASIDE	16
#define MAX_SEEN	64
struct aside {
	uint64_t ud;
	int n;
	struct io_uring_cqe c[MAX_SEEN];
	double at[MAX_SEEN];
};
static struct aside asides[MAX_ASIDE];
static int nr_asides;

static double mono_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct aside *aside_of(uint64_t ud)
{
	for (int i = 0; i < nr_asides; i++)
		if (asides[i].ud == ud)
			return &asides[i];
	return NULL;
}

static void aside_add(uint64_t ud)
{
	asides[nr_asides++].ud = ud;
}

static bool set_aside(struct ring *r, const struct io_uring_cqe *c)
{
	struct aside *a = r == &ring ? aside_of(c->user_data) : NULL;

	if (!a)
		return false;
	if (a->n == MAX_SEEN || (c->user_data == 0xB4 && a->n))
		die_err(EIO, "too many CQEs for user_data 0x%llx (res %d)", (unsigned long long)c->user_data, c->res);
	a->at[a->n] = mono_now(CLOCK_MONOTONIC);
	a->c[a->n++] = *c;
	return true;
}

/* Wait for exactly @n CQEs (10 s at most); copy them out and consume them. */
static void reap(struct ring *r, struct io_uring_cqe *out, unsigned int n, const char *what)
{
	unsigned int got = 0;

	for (int tries = 0; got < n; ) {
		if (ring_cq_ready(r)) {
			struct io_uring_cqe c = *ring_cqe_at(r, 0);

			ring_cq_advance(r, 1);
			if (!set_aside(r, &c))
				out[got++] = c;
			continue;
		}
		if (tries++ > 1000)
			die_err(ETIMEDOUT, "%s: %u of %u CQEs", what, got, n);
		usleep(10000);
		sys_io_uring_enter(r->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	}
}

static void expect_cqe(const struct io_uring_cqe *c, uint64_t ud, int res, unsigned int flags_mask,
		       unsigned int flags, const char *what)
{
	if (c->user_data != ud)
		die_err(EIO, "%s: CQE user_data 0x%llx, expected 0x%" PRIx64, what,
			(unsigned long long)c->user_data, ud);
	if (c->res != res)
		die_err(EIO, "%s: user_data 0x%" PRIx64 " res %d, expected %d", what, ud, c->res, res);
	if ((c->flags & flags_mask) != flags)
		die_err(EIO, "%s: user_data 0x%" PRIx64 " flags 0x%x, expected 0x%x under 0x%x", what, ud,
			c->flags, flags, flags_mask);
}

/* One event, one CQE: trigger, reap exactly one, check it. */
static struct io_uring_cqe one(struct ring *r, const char *what)
{
	struct io_uring_cqe c;

	reap(r, &c, 1, what);
	return c;
}

static void expect_nothing_more(struct ring *r, const char *what)
{
	usleep(50000);
	sys_io_uring_enter(r->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	while (ring_cq_ready(r) && set_aside(r, ring_cqe_at(r, 0)))
		ring_cq_advance(r, 1);
	if (ring_cq_ready(r))
		die_err(EIO, "%s: unexpected CQE user_data 0x%llx res %d", what,
			(unsigned long long)ring_cqe_at(r, 0)->user_data, ring_cqe_at(r, 0)->res);
}

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("writing to fd %d", fd);
}

static void cancel(struct ring *r, uint64_t ud, int n_target, const char *what)
{
	struct io_uring_cqe c[2];
	struct io_uring_sqe *sqe = sqe_for(r, IORING_OP_ASYNC_CANCEL, -1, UD_CANCEL);

	sqe->addr = ud;
	submit(r, 1);
	reap(r, c, 2, what);
	for (int i = 0; i < 2; i++) {
		if (c[i].user_data == UD_CANCEL && c[i].res != 0)
			die_err(EIO, "%s: ASYNC_CANCEL res %d", what, c[i].res);
		else if (c[i].user_data == ud && c[i].res != -ECANCELED)
			die_err(EIO, "%s: user_data 0x%" PRIx64 " res %d, expected -ECANCELED", what, ud, c[i].res);
		else if (c[i].user_data != UD_CANCEL && c[i].user_data != ud)
			die_err(EIO, "%s: unexpected user_data 0x%llx", what, (unsigned long long)c[i].user_data);
	}
	(void)n_target;
}

static struct io_uring_buf_ring *buf_ring(int bgid, char (*bufs)[BUFSZ])
{
	struct io_uring_buf_reg reg = { .ring_entries = NBUF, .bgid = bgid };
	struct io_uring_buf_ring *br;

	br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		die("mmap buffer ring");
	reg.ring_addr = (uintptr_t)br;
	reg_or_die(ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING");
	for (int i = 0; i < NBUF; i++) {
		br->bufs[i].addr = (uintptr_t)bufs[i];
		br->bufs[i].len = BUFSZ;
		br->bufs[i].bid = i;
	}
	__atomic_store_n(&br->tail, NBUF, __ATOMIC_RELEASE);
	return br;
}

static int unix_listener(const char *tag)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "cr_rearm-%d-%s", getpid(), tag);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8))
		die("unix listener %s", tag);
	return fd;
}

static int unix_connect(const char *tag, pid_t owner)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "cr_rearm-%d-%s", owner, tag);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connecting to %s", tag);
	return fd;
}

/* ---- basic ------------------------------------------------------------- */

static void arm_basic(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_files_update up = { .offset = 0 };
	int fixed[1];

	if (pipe(pipe_a) || pipe(pipe_b) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_a) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sock_b))
		die("pipes and sockets");
	fixed[0] = sock_b[0];
	up.fds = (uintptr_t)fixed;
	reg_or_die(ring.fd, IORING_REGISTER_FILES_UPDATE, &up, 1, "FILES_UPDATE slot 0");
	sqe_rw(ring_get_sqe(&ring), IORING_OP_READ, pipe_a[0], buf_read, sizeof(buf_read), 0, 0xB1);
	sqe = sqe_for(&ring, IORING_OP_RECV, sock_a[0], 0xB2);
	sqe->addr = (uintptr_t)buf_recv;
	sqe->len = sizeof(buf_recv);
	sqe = sqe_for(&ring, IORING_OP_POLL_ADD, pipe_b[0], 0xB3);
	sqe->poll32_events = POLLIN;
	aside_add(0xB4);
	sqe = sqe_for(&ring, IORING_OP_TIMEOUT, -1, 0xB4);
	sqe->addr = (uintptr_t)&short_ts;
	sqe->len = 1;
	sqe = sqe_for(&ring, IORING_OP_TIMEOUT, -1, 0xB5);
	sqe->addr = (uintptr_t)&long_ts;
	sqe->len = 1;
	sqe = sqe_for(&ring, IORING_OP_RECV, 0, 0xB6);
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->addr = (uintptr_t)buf_fixed;
	sqe->len = sizeof(buf_fixed);
	submit(&ring, 6);
}

static void verify_basic(const struct timespec *armed)
{
	struct io_uring_cqe c;
	struct timespec now;
	double waited;

	put(pipe_a[1], "r");
	expect_cqe((c = one(&ring, "READ"), &c), 0xB1, 1, 0, 0, "READ");
	if (buf_read[0] != 'r')
		die_err(EIO, "READ delivered '%c'", buf_read[0]);
	put(sock_a[1], "hello");
	expect_cqe((c = one(&ring, "RECV"), &c), 0xB2, 5, 0, 0, "RECV");
	if (memcmp(buf_recv, "hello", 5))
		die_err(EIO, "RECV delivered '%.5s'", buf_recv);
	put(pipe_b[1], "p");
	expect_cqe((c = one(&ring, "POLL_ADD"), &c), 0xB3, POLLIN, IORING_CQE_F_MORE, 0, "POLL_ADD");
	put(sock_b[1], "fixed");
	expect_cqe((c = one(&ring, "fixed-file RECV"), &c), 0xB6, 5, 0, 0, "fixed-file RECV");
	if (memcmp(buf_fixed, "fixed", 5))
		die_err(EIO, "fixed-file RECV delivered '%.5s'", buf_fixed);
	struct aside *s = aside_of(0xB4);

	for (int tries = 0; !s->n; tries++) {
		if (tries > 1000)
			die_err(ETIMEDOUT, "the 2.5 s TIMEOUT did not fire");
		expect_nothing_more(&ring, "waiting for the 2.5 s TIMEOUT");
	}
	expect_cqe(&s->c[0], 0xB4, -ETIME, 0, 0, "2.5 s TIMEOUT");
	clock_gettime(CLOCK_MONOTONIC, &now);
	waited = (now.tv_sec - armed->tv_sec) + (now.tv_nsec - armed->tv_nsec) / 1e9;
	if (waited < 2.4)
		die_err(EIO, "the 2.5 s TIMEOUT fired %.2f s after it was armed (process time)", waited);
	cancel(&ring, 0xB5, 1, "one-hour TIMEOUT");
}

/* ---- multishot --------------------------------------------------------- */

static void arm_multi(void)
{
	struct io_uring_sqe *sqe;

	if (pipe(pipe_c) || pipe(pipe_d) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_c))
		die("pipes and sockets");
	br_recv = buf_ring(1, bufs_recv);
	br_read = buf_ring(2, bufs_read);
	sqe = sqe_for(&ring, IORING_OP_POLL_ADD, pipe_c[0], 0xC1);
	sqe->poll32_events = POLLIN;
	sqe->len = IORING_POLL_ADD_MULTI;
	sqe = sqe_for(&ring, IORING_OP_RECV, sock_c[0], 0xC2);
	sqe->ioprio = IORING_RECV_MULTISHOT;
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = 1;
	sqe = sqe_for(&ring, IORING_OP_READ_MULTISHOT, pipe_d[0], 0xC3);
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = 2;
	submit(&ring, 3);
}

static void check_buf(const struct io_uring_cqe *c, char (*bufs)[BUFSZ], const char *want, const char *what)
{
	unsigned int bid = c->flags >> IORING_CQE_BUFFER_SHIFT;

	if (!(c->flags & IORING_CQE_F_BUFFER) || bid >= NBUF || memcmp(bufs[bid], want, strlen(want)))
		die_err(EIO, "%s: flags 0x%x, buffer %u does not hold '%s'", what, c->flags, bid, want);
}

static void verify_multi(void)
{
	struct io_uring_cqe c;
	char drain[8];

	for (int i = 0; i < 2; i++) {
		put(pipe_c[1], "x");
		expect_cqe((c = one(&ring, "multishot POLL_ADD"), &c), 0xC1, POLLIN, IORING_CQE_F_MORE,
			   IORING_CQE_F_MORE, "multishot POLL_ADD");
		if (read(pipe_c[0], drain, sizeof(drain)) != 1)
			die("draining the poll pipe");
	}
	put(sock_c[1], "one");
	c = one(&ring, "multishot RECV 1");
	expect_cqe(&c, 0xC2, 3, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "multishot RECV 1");
	check_buf(&c, bufs_recv, "one", "multishot RECV 1");
	put(sock_c[1], "two!");
	c = one(&ring, "multishot RECV 2");
	expect_cqe(&c, 0xC2, 4, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "multishot RECV 2");
	check_buf(&c, bufs_recv, "two!", "multishot RECV 2");
	put(pipe_d[1], "abc");
	c = one(&ring, "READ_MULTISHOT 1");
	expect_cqe(&c, 0xC3, 3, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "READ_MULTISHOT 1");
	check_buf(&c, bufs_read, "abc", "READ_MULTISHOT 1");
	put(pipe_d[1], "de");
	c = one(&ring, "READ_MULTISHOT 2");
	expect_cqe(&c, 0xC3, 2, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "READ_MULTISHOT 2");
	check_buf(&c, bufs_read, "de", "READ_MULTISHOT 2");
	cancel(&ring, 0xC1, 1, "multishot POLL_ADD");
	cancel(&ring, 0xC2, 1, "multishot RECV");
	cancel(&ring, 0xC3, 1, "READ_MULTISHOT");
}

/* ---- accept ------------------------------------------------------------ */

static pid_t listener_pid;

static void arm_accept(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe c;
	int cl;

	listener_pid = getpid();
	lis_a = unix_listener("a");
	lis_b = unix_listener("b");
	lis_c = unix_listener("c");
	sqe_for(&ring, IORING_OP_ACCEPT, lis_a, 0xD1);
	sqe = sqe_for(&ring, IORING_OP_ACCEPT, lis_b, 0xD2);
	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe = sqe_for(&ring, IORING_OP_ACCEPT, lis_c, 0xD3);
	sqe->file_index = IORING_FILE_INDEX_ALLOC;
	submit(&ring, 3);
	/* the multishot ACCEPT takes one connection before the checkpoint */
	cl = unix_connect("b", listener_pid);
	c = one(&ring, "multishot ACCEPT before");
	expect_cqe(&c, 0xD2, c.res, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "multishot ACCEPT before");
	if (c.res < 0)
		die_err(-c.res, "multishot ACCEPT before the checkpoint");
	close(c.res);
	close(cl);
}

static void verify_accept(void)
{
	struct io_uring_cqe c;
	int cl;

	cl = unix_connect("a", listener_pid);
	c = one(&ring, "ACCEPT");
	expect_cqe(&c, 0xD1, c.res, IORING_CQE_F_MORE, 0, "ACCEPT");
	if (c.res < 0)
		die_err(-c.res, "ACCEPT after the checkpoint");
	close(c.res);
	close(cl);
	for (int i = 0; i < 2; i++) {
		cl = unix_connect("b", listener_pid);
		c = one(&ring, "multishot ACCEPT");
		expect_cqe(&c, 0xD2, c.res, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "multishot ACCEPT");
		if (c.res < 0)
			die_err(-c.res, "multishot ACCEPT after the checkpoint");
		close(c.res);
		close(cl);
	}
	cancel(&ring, 0xD2, 1, "multishot ACCEPT");
	/* the direct ACCEPT: its result is the slot it filled (slot 0 is the basic set's, if armed) */
	cl = unix_connect("c", listener_pid);
	c = one(&ring, "direct ACCEPT");
	expect_cqe(&c, 0xD3, c.res, IORING_CQE_F_MORE, 0, "direct ACCEPT");
	if (c.res < (set_basic ? 1 : 0) || c.res >= NSLOTS)
		die_err(EIO, "direct ACCEPT res %d, expected a free registered-file slot", c.res);
	close(cl);
}

/* ---- recvmsg ----------------------------------------------------------- */

static int dgram_a[2], dgram_b[2];
static char buf_msg[16];
static struct iovec msg_iov = { .iov_base = buf_msg, .iov_len = sizeof(buf_msg) };
static struct msghdr msg_single = { .msg_iov = &msg_iov, .msg_iovlen = 1 };
static struct msghdr msg_multi;
static char bufs_msg[NBUF][BUFSZ];

static void arm_recvmsg(void)
{
	struct io_uring_sqe *sqe;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram_a) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram_b))
		die("datagram sockets");
	buf_ring(3, bufs_msg);
	sqe = sqe_for(&ring, IORING_OP_RECVMSG, dgram_a[0], 0xF1);
	sqe->addr = (uintptr_t)&msg_single;
	sqe->len = 1;
	sqe = sqe_for(&ring, IORING_OP_RECVMSG, dgram_b[0], 0xF2);
	sqe->addr = (uintptr_t)&msg_multi;
	sqe->len = 1;
	sqe->ioprio = IORING_RECV_MULTISHOT;
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = 3;
	sqe->msg_flags = MSG_TRUNC;
	submit(&ring, 2);
}

static void verify_recvmsg(void)
{
	struct io_uring_cqe c;
	const char *want[2] = { "first", "second!" };

	put(dgram_a[1], "dgram");
	expect_cqe((c = one(&ring, "RECVMSG"), &c), 0xF1, 5, 0, 0, "RECVMSG");
	if (memcmp(buf_msg, "dgram", 5))
		die_err(EIO, "RECVMSG delivered '%.5s'", buf_msg);
	for (int i = 0; i < 2; i++) {
		struct io_uring_recvmsg_out *o;
		unsigned int bid;

		put(dgram_b[1], want[i]);
		c = one(&ring, "multishot RECVMSG");
		/* the header, name, control and payload are laid out in the buffer */
		expect_cqe(&c, 0xF2, c.res, IORING_CQE_F_MORE | IORING_CQE_F_BUFFER,
			   IORING_CQE_F_MORE | IORING_CQE_F_BUFFER, "multishot RECVMSG");
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		o = (struct io_uring_recvmsg_out *)bufs_msg[bid % NBUF];
		if (bid >= NBUF || o->payloadlen != strlen(want[i]) ||
		    memcmp((char *)(o + 1), want[i], strlen(want[i])))
			die_err(EIO, "multishot RECVMSG %d: buffer %u payload %u bytes, expected '%s'", i, bid,
				o->payloadlen, want[i]);
	}
	cancel(&ring, 0xF2, 1, "multishot RECVMSG");
}

/* ---- count ------------------------------------------------------------- */

static void nop2(uint64_t ud)
{
	sqe_nop(ring_get_sqe(&ring2), ud);
	submit(&ring2, 1);
}

static void arm_count(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe c;
	struct io_uring_params p = { 0 };

	ring_create_or_die(&ring2, 8, &p);
	sqe = sqe_for(&ring2, IORING_OP_TIMEOUT, -1, 0xE1);
	sqe->addr = (uintptr_t)&long_ts;
	sqe->len = 1;
	sqe->off = 3;
	submit(&ring2, 1);
	nop2(0xE2);
	expect_cqe((c = one(&ring2, "NOP before"), &c), 0xE2, 0, 0, 0, "NOP before");
}

static void verify_count(void)
{
	struct io_uring_cqe c[2];

	nop2(0xE3);
	reap(&ring2, c, 1, "NOP 2");
	expect_cqe(&c[0], 0xE3, 0, 0, 0, "NOP 2");
	expect_nothing_more(&ring2, "the count TIMEOUT after 2 of 3 completions");
	nop2(0xE4);
	reap(&ring2, c, 2, "NOP 3 and the count TIMEOUT");
	expect_cqe(&c[0], 0xE4, 0, 0, 0, "NOP 3");
	expect_cqe(&c[1], 0xE1, 0, 0, 0, "count TIMEOUT");
	expect_nothing_more(&ring2, "at the end");
}

/* ---- chain ------------------------------------------------------------- */

static int sock_l1[2], pipe_l1[2], pipe_l2[2], sock_l3[2], pipe_l4[2], pipe_l5[2];
static char buf_l1[16], buf_l3[16], buf_l5[16];
static const char wmsg[] = "chained";
static struct __kernel_timespec lt_ts = { .tv_sec = 5 };

static void arm_chain(void)
{
	struct io_uring_sqe *sqe;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sock_l1) || pipe(pipe_l1) || pipe(pipe_l2) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sock_l3) || pipe(pipe_l4) || pipe(pipe_l5))
		die("pipes and sockets");
	/* RECV -> WRITE -> NOP */
	sqe = sqe_for(&ring, IORING_OP_RECV, sock_l1[0], 0x101);
	sqe->addr = (uintptr_t)buf_l1;
	sqe->len = sizeof(buf_l1);
	sqe->flags = IOSQE_IO_LINK;
	sqe = ring_get_sqe(&ring);
	sqe_rw(sqe, IORING_OP_WRITE, pipe_l1[1], (void *)wmsg, strlen(wmsg), 0, 0x102);
	sqe->flags = IOSQE_IO_LINK;
	sqe_nop(ring_get_sqe(&ring), 0x103);
	/* POLL_ADD guarded by a one-hour LINK_TIMEOUT */
	sqe = sqe_for(&ring, IORING_OP_POLL_ADD, pipe_l2[0], 0x111);
	sqe->poll32_events = POLLIN;
	sqe->flags = IOSQE_IO_LINK;
	sqe = sqe_for(&ring, IORING_OP_LINK_TIMEOUT, -1, 0x112);
	sqe->addr = (uintptr_t)&long_ts;
	sqe->len = 1;
	/* RECV guarded by a 5 s LINK_TIMEOUT, then a NOP */
	aside_add(0x121);
	aside_add(0x122);
	aside_add(0x123);
	sqe = sqe_for(&ring, IORING_OP_RECV, sock_l3[0], 0x121);
	sqe->addr = (uintptr_t)buf_l3;
	sqe->len = sizeof(buf_l3);
	sqe->flags = IOSQE_IO_LINK;
	sqe = sqe_for(&ring, IORING_OP_LINK_TIMEOUT, -1, 0x122);
	sqe->addr = (uintptr_t)&lt_ts;
	sqe->len = 1;
	sqe->flags = IOSQE_IO_LINK;
	sqe_nop(ring_get_sqe(&ring), 0x123);
	/* hard-linked POLL_ADD -> READ */
	sqe = sqe_for(&ring, IORING_OP_POLL_ADD, pipe_l4[0], 0x131);
	sqe->poll32_events = POLLIN;
	sqe->flags = IOSQE_IO_HARDLINK;
	sqe_rw(ring_get_sqe(&ring), IORING_OP_READ, pipe_l5[0], buf_l5, sizeof(buf_l5), 0, 0x132);
	submit(&ring, 10);
}

static int by_ud(const void *a, const void *b)
{
	const struct io_uring_cqe *x = a, *y = b;

	return x->user_data < y->user_data ? -1 : x->user_data > y->user_data;
}

static void verify_chain(const struct timespec *armed)
{
	struct io_uring_cqe c[3];
	char got[16] = { 0 };
	double t0 = armed->tv_sec + armed->tv_nsec / 1e9;

	put(sock_l1[1], "data");
	reap(&ring, c, 3, "RECV -> WRITE -> NOP");
	expect_cqe(&c[0], 0x101, 4, 0, 0, "chained RECV");
	expect_cqe(&c[1], 0x102, strlen(wmsg), 0, 0, "linked WRITE");
	expect_cqe(&c[2], 0x103, 0, 0, 0, "linked NOP");
	if (memcmp(buf_l1, "data", 4) || read(pipe_l1[0], got, sizeof(got)) != (ssize_t)strlen(wmsg) ||
	    strcmp(got, wmsg))
		die_err(EIO, "the chain received '%.4s' and wrote '%s'", buf_l1, got);
	put(pipe_l2[1], "p");
	reap(&ring, c, 2, "POLL_ADD and its LINK_TIMEOUT");
	qsort(c, 2, sizeof(c[0]), by_ud);
	expect_cqe(&c[0], 0x111, POLLIN, 0, 0, "POLL_ADD under a LINK_TIMEOUT");
	expect_cqe(&c[1], 0x112, -ECANCELED, 0, 0, "LINK_TIMEOUT of a POLL_ADD that fired");
	/* the hard link: the READ runs after the poll, and reads what is there */
	put(pipe_l5[1], "hard");
	expect_nothing_more(&ring, "a hard-linked READ before its POLL_ADD fired");
	put(pipe_l4[1], "q");
	reap(&ring, c, 2, "POLL_ADD -> READ");
	expect_cqe(&c[0], 0x131, POLLIN, 0, 0, "hard-linked POLL_ADD");
	expect_cqe(&c[1], 0x132, 4, 0, 0, "READ after the POLL_ADD");
	if (memcmp(buf_l5, "hard", 4))
		die_err(EIO, "the linked READ delivered '%.4s'", buf_l5);
	/* the 5 s LINK_TIMEOUT: the RECV it guards and the NOP after it are cancelled */
	for (int tries = 0; !aside_of(0x121)->n || !aside_of(0x122)->n || !aside_of(0x123)->n; tries++) {
		if (tries > 200)
			die_err(ETIMEDOUT, "the 5 s LINK_TIMEOUT chain did not complete");
		expect_nothing_more(&ring, "waiting for the 5 s LINK_TIMEOUT");
	}
	expect_cqe(&aside_of(0x121)->c[0], 0x121, -ECANCELED, 0, 0, "RECV its LINK_TIMEOUT cancelled");
	expect_cqe(&aside_of(0x122)->c[0], 0x122, -ETIME, 0, 0, "5 s LINK_TIMEOUT");
	expect_cqe(&aside_of(0x123)->c[0], 0x123, -ECANCELED, 0, 0, "NOP after a cancelled RECV");
	if (aside_of(0x122)->at[0] - t0 < 4.9)
		die_err(EIO, "the 5 s LINK_TIMEOUT fired %.2f s after it was armed (process time)",
			aside_of(0x122)->at[0] - t0);
	for (int i = 0x121; i <= 0x123; i++)
		if (aside_of(i)->n != 1)
			die_err(EIO, "user_data 0x%x completed %d times", i, aside_of(i)->n);
}

/* ---- abs ---------------------------------------------------------------- */

static int abs_after = 20;	/* --abs-after S */
#define ABS_AFTER	abs_after
static struct __kernel_timespec abs_mono, abs_boot, abs_real, rel_8;
static struct __kernel_timespec period = { .tv_sec = 1, .tv_nsec = 500 * 1000 * 1000 };
static double abs_armed_real, resumed;
static int unlimited_before;

static struct __kernel_timespec deadline(clockid_t clk)
{
	struct timespec now;

	clock_gettime(clk, &now);
	return (struct __kernel_timespec){ .tv_sec = now.tv_sec + ABS_AFTER, .tv_nsec = now.tv_nsec };
}

static void timeout_sqe(uint64_t ud, struct __kernel_timespec *ts, unsigned int flags, unsigned int off)
{
	struct io_uring_sqe *sqe = sqe_for(&ring, IORING_OP_TIMEOUT, -1, ud);

	sqe->addr = (uintptr_t)ts;
	sqe->len = 1;
	sqe->off = off;
	sqe->timeout_flags = flags;
	aside_add(ud);
}

static void arm_abs(void)
{
	rel_8.tv_sec = ABS_AFTER;
	abs_mono = deadline(CLOCK_MONOTONIC);
	abs_boot = deadline(CLOCK_BOOTTIME);
	abs_real = deadline(CLOCK_REALTIME);
	abs_armed_real = mono_now(CLOCK_REALTIME);
	timeout_sqe(0x141, &abs_mono, IORING_TIMEOUT_ABS, 0);
	timeout_sqe(0x142, &abs_boot, IORING_TIMEOUT_ABS | IORING_TIMEOUT_BOOTTIME, 0);
	timeout_sqe(0x143, &abs_real, IORING_TIMEOUT_ABS | IORING_TIMEOUT_REALTIME, 0);
	timeout_sqe(0x144, &rel_8, IORING_TIMEOUT_REALTIME, 0);
	timeout_sqe(0x145, &period, IORING_TIMEOUT_MULTISHOT, 4);
	timeout_sqe(0x146, &period, IORING_TIMEOUT_MULTISHOT, 0);
	submit(&ring, 6);
}

static double ts_of(const struct __kernel_timespec *ts)
{
	return ts->tv_sec + ts->tv_nsec / 1e9;
}

/* A timeout that fired once: not before @due on @clk (reaped at @at on CLOCK_MONOTONIC), nor long after. */
static void check_fired(uint64_t ud, double due_mono, const char *what)
{
	struct aside *a = aside_of(ud);

	if (a->n != 1)
		die_err(EIO, "%s: %d CQEs", what, a->n);
	expect_cqe(&a->c[0], ud, -ETIME, 0, 0, what);
	if (a->at[0] < due_mono)
		die_err(EIO, "%s fired %.3f s before its deadline (process time)", what, due_mono - a->at[0]);
	if (a->at[0] > resumed + 0.2 && a->at[0] > due_mono + 1.5)
		die_err(EIO, "%s fired %.3f s after its deadline (process time)", what, a->at[0] - due_mono);
}

static void verify_abs(const struct timespec *armed)
{
	double t0 = armed->tv_sec + armed->tv_nsec / 1e9;
	double boot_minus_mono = mono_now(CLOCK_BOOTTIME) - mono_now(CLOCK_MONOTONIC);
	double real_minus_mono = mono_now(CLOCK_REALTIME) - mono_now(CLOCK_MONOTONIC);
	struct aside *m = aside_of(0x145), *u = aside_of(0x146);

	for (int tries = 0; aside_of(0x141)->n + aside_of(0x142)->n + aside_of(0x143)->n + aside_of(0x144)->n < 4 ||
			    m->n < 4 || u->n < unlimited_before + 2; tries++) {
		if (tries > 2000)
			die_err(ETIMEDOUT, "the timeouts did not fire: %d %d %d %d, multishot %d and %d",
				aside_of(0x141)->n, aside_of(0x142)->n, aside_of(0x143)->n, aside_of(0x144)->n, m->n, u->n);
		expect_nothing_more(&ring, "waiting for the timeouts");
	}
	check_fired(0x141, ts_of(&abs_mono), "absolute CLOCK_MONOTONIC TIMEOUT");
	check_fired(0x142, ts_of(&abs_boot) - boot_minus_mono, "absolute CLOCK_BOOTTIME TIMEOUT");
	/* the realtime clock went on while the process was checkpointed: its deadline is the wall clock's */
	if (aside_of(0x143)->n != 1 || aside_of(0x143)->at[0] + real_minus_mono < ts_of(&abs_real))
		die_err(EIO, "absolute CLOCK_REALTIME TIMEOUT: %d CQEs, fired before its deadline", aside_of(0x143)->n);
	expect_cqe(&aside_of(0x143)->c[0], 0x143, -ETIME, 0, 0, "absolute CLOCK_REALTIME TIMEOUT");
	check_fired(0x144, t0 + ABS_AFTER, "relative CLOCK_REALTIME TIMEOUT");
	/* multishot with a count: three with F_MORE, the fourth ends it */
	if (m->n != 4)
		die_err(EIO, "multishot TIMEOUT of 4: %d CQEs", m->n);
	for (int i = 0; i < 4; i++)
		expect_cqe(&m->c[i], 0x145, -ETIME, IORING_CQE_F_MORE, i < 3 ? IORING_CQE_F_MORE : 0, "multishot TIMEOUT of 4");
	for (int i = 0; i < u->n; i++)
		expect_cqe(&u->c[i], 0x146, -ETIME, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "unlimited multishot TIMEOUT");
	/* right after a firing (the next is 1.5 s away): its CQEs are reaped as they come again */
	u->ud = ~0ULL;
	cancel(&ring, 0x146, 1, "unlimited multishot TIMEOUT");
	(void)abs_armed_real;
}

/* ---- send --------------------------------------------------------------- */

static int sock_s1[2], sock_s2[2];
static size_t filled_s1, filled_s2;
static const char smsg1[] = "after the filler, polled first", smsg2[] = "after the filler";

/* Write to @fd (non-blocking) until the socket takes no more. */
static size_t fill(int fd)
{
	static char junk[4096];
	size_t total = 0;
	ssize_t n;
	int fl = fcntl(fd, F_GETFL);

	memset(junk, 'f', sizeof(junk));
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while ((n = write(fd, junk, sizeof(junk))) > 0)
		total += n;
	if (errno != EAGAIN)
		die("filling a socket");
	/* single bytes until even those do not fit */
	while ((n = write(fd, junk, 1)) > 0)
		total += n;
	fcntl(fd, F_SETFL, fl);
	return total;
}

static void arm_send(void)
{
	struct io_uring_sqe *sqe;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sock_s1) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_s2))
		die("sockets");
	filled_s1 = fill(sock_s1[0]);
	filled_s2 = fill(sock_s2[0]);
	aside_add(0x152);
	sqe = sqe_for(&ring, IORING_OP_SEND, sock_s1[0], 0x151);
	sqe->addr = (uintptr_t)smsg1;
	sqe->len = strlen(smsg1);
	sqe->ioprio = IORING_RECVSEND_POLL_FIRST;
	sqe = sqe_for(&ring, IORING_OP_SEND, sock_s2[0], 0x152);
	sqe->addr = (uintptr_t)smsg2;
	sqe->len = strlen(smsg2);
	submit(&ring, 2);
}

/* Read everything the peer has: the filler, then @want. */
static void drain_and_check(int fd, size_t filled, const char *want, uint64_t ud)
{
	static char buf[1 << 16];
	size_t got = 0, need = filled + strlen(want);
	struct io_uring_cqe c;

	for (int waits = 0; got < need; ) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) != 1) {
			/* DEFER_TASKRUN: the SEND goes out in task work that only io_uring_enter runs */
			if (waits++ > 100)
				die_err(ETIMEDOUT, "SEND 0x%" PRIx64 ": the peer got %zu of %zu bytes", ud, got, need);
			sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
			continue;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			die("reading the peer of SEND 0x%" PRIx64, ud);
		for (ssize_t i = 0; i < n; i++, got++) {
			char w = got < filled ? 'f' : want[got - filled];

			if (buf[i] != w)
				die_err(EIO, "SEND 0x%" PRIx64 ": byte %zu is '%c', expected '%c'", ud, got, buf[i], w);
		}
		/* the SEND completes once it went out */
		if (got == need)
			break;
	}
	if (!aside_of(ud)) {
		c = one(&ring, "SEND");
	} else {
		for (int tries = 0; !aside_of(ud)->n; tries++) {
			if (tries > 200)
				die_err(ETIMEDOUT, "SEND 0x%" PRIx64 " did not complete", ud);
			expect_nothing_more(&ring, "waiting for a SEND");
		}
		c = aside_of(ud)->c[0];
	}
	expect_cqe(&c, ud, strlen(want), IORING_CQE_F_MORE, 0, "SEND on a full socket");
}

static void verify_send(void)
{
	drain_and_check(sock_s1[1], filled_s1, smsg1, 0x151);
	drain_and_check(sock_s2[1], filled_s2, smsg2, 0x152);
	expect_nothing_more(&ring, "after the SENDs");
	if (aside_of(0x152)->n != 1)
		die_err(EIO, "SEND 0x152 completed %d times", aside_of(0x152)->n);
}

/* ---- futex -------------------------------------------------------------- */

static uint32_t fword = 7;
static uint32_t *shared_word;

static void futex_wait_sqe(uint64_t ud, void *addr, uint64_t val, uint64_t mask, uint32_t flags2)
{
	struct io_uring_sqe *sqe = sqe_for(&ring, IORING_OP_FUTEX_WAIT, (int)flags2, ud);

	sqe->addr = (uintptr_t)addr;
	sqe->off = val;
	sqe->addr3 = mask;
}

static void arm_futex(void)
{
	shared_word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared_word == MAP_FAILED)
		die("mmap shared");
	shared_word[3] = 0x1234;
	futex_wait_sqe(0x161, &fword, 7, 0xffffffffu, 0x02 | 0x80);	/* FUTEX2_SIZE_U32 | FUTEX2_PRIVATE */
	futex_wait_sqe(0x162, &shared_word[3], 0x1234, 0x5, 0x02);	/* FUTEX2_SIZE_U32, shared */
	submit(&ring, 2);
}

static void verify_futex(void)
{
	struct io_uring_cqe c;

	__atomic_store_n(&fword, 8, __ATOMIC_RELEASE);
	if (syscall(SYS_futex, &fword, 1 | 128 /* FUTEX_WAKE_PRIVATE */, 1, NULL, NULL, 0) != 1)
		die_err(EIO, "FUTEX_WAKE woke no waiter on the private futex");
	expect_cqe((c = one(&ring, "private FUTEX_WAIT"), &c), 0x161, 0, 0, 0, "private FUTEX_WAIT");
	/* io_uring's FUTEX_WAKE, shared too, with a bitset that matches the waiter's mask */
	__atomic_store_n(&shared_word[3], 0x4321, __ATOMIC_RELEASE);
	{
		struct io_uring_sqe *sqe = sqe_for(&ring, IORING_OP_FUTEX_WAKE, 0x02, 0x163);
		struct io_uring_cqe w[2];

		sqe->addr = (uintptr_t)&shared_word[3];
		sqe->off = 1;		/* wake one */
		sqe->addr3 = 0x4;	/* bitset */
		submit(&ring, 1);
		reap(&ring, w, 2, "FUTEX_WAKE and the shared FUTEX_WAIT");
		qsort(w, 2, sizeof(w[0]), by_ud);
		expect_cqe(&w[0], 0x162, 0, 0, 0, "shared FUTEX_WAIT");
		expect_cqe(&w[1], 0x163, 1, 0, 0, "FUTEX_WAKE (one waiter woken)");
	}
}

/* ---- drain ------------------------------------------------------------- */

static int pipe_dr[2];

static void arm_drain(void)
{
	struct io_uring_sqe *sqe;

	if (pipe(pipe_dr))
		die("pipe");
	sqe = sqe_for(&ring, IORING_OP_POLL_ADD, pipe_dr[0], 0x1A1);
	sqe->poll32_events = POLLIN;
	sqe->flags |= IOSQE_IO_DRAIN;
	submit(&ring, 1);
}

static void verify_drain(void)
{
	struct io_uring_cqe c[2];

	sqe_nop(ring_get_sqe(&ring), 0x1A2);
	submit(&ring, 1);
	expect_nothing_more(&ring, "a NOP submitted after the draining POLL_ADD");
	put(pipe_dr[1], "d");
	reap(&ring, c, 2, "the draining POLL_ADD, then the NOP");
	expect_cqe(&c[0], 0x1A1, POLLIN, 0, 0, "the draining POLL_ADD (first)");
	expect_cqe(&c[1], 0x1A2, 0, 0, 0, "the NOP held behind it (second)");
}

/* ---- waitv ------------------------------------------------------------- */

static uint32_t vwords[2] = { 11, 22 };
static struct futex_waitv vwait[2];

static void arm_waitv(void)
{
	struct io_uring_sqe *sqe = sqe_for(&ring, IORING_OP_FUTEX_WAITV, 0, 0x171);

	for (int i = 0; i < 2; i++) {
		vwait[i].val = vwords[i];
		vwait[i].uaddr = (uintptr_t)&vwords[i];
		vwait[i].flags = 0x02 | 0x80;	/* FUTEX2_SIZE_U32 | FUTEX2_PRIVATE */
	}
	sqe->addr = (uintptr_t)vwait;
	sqe->len = 2;
	submit(&ring, 1);
	/* reused by the application: the kernel waits on its own copy */
	memset(vwait, 0xff, sizeof(vwait));
}

static void verify_waitv(void)
{
	struct io_uring_cqe c;

	__atomic_store_n(&vwords[1], 23, __ATOMIC_RELEASE);
	if (syscall(SYS_futex, &vwords[1], 1 | 128 /* FUTEX_WAKE_PRIVATE */, 1, NULL, NULL, 0) != 1)
		die_err(EIO, "FUTEX_WAKE woke no waiter on the vector's second futex");
	expect_cqe((c = one(&ring, "FUTEX_WAITV"), &c), 0x171, 1, 0, 0, "FUTEX_WAITV (woken on futex 1)");
}

/* ---- msgring ----------------------------------------------------------- */

static struct ring ring_m;
static int pipe_m[2];

static void arm_msgring(void)
{
	struct io_uring_params p = { 0 };
	struct io_uring_sqe *sqe;

	if (pipe(pipe_m))
		die("pipe");
	ring_create_or_die(&ring_m, 8, &p);
	sqe = sqe_for(&ring, IORING_OP_POLL_ADD, pipe_m[0], 0x191);
	sqe->poll32_events = POLLIN;
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sqe_for(&ring, IORING_OP_MSG_RING, ring_m.fd, 0x193);
	sqe->addr = IORING_MSG_DATA;
	sqe->off = 0x192;
	sqe->len = 42;
	submit(&ring, 2);
}

static void verify_msgring(void)
{
	struct io_uring_cqe c[2];

	if (ring_cq_ready(&ring_m))
		die_err(EIO, "the second ring got a CQE before the POLL_ADD fired");
	put(pipe_m[1], "m");
	reap(&ring, c, 2, "POLL_ADD -> MSG_RING");
	expect_cqe(&c[0], 0x191, POLLIN, 0, 0, "the POLL_ADD before the MSG_RING");
	expect_cqe(&c[1], 0x193, 0, 0, 0, "the linked MSG_RING");
	expect_cqe((c[0] = one(&ring_m, "the message"), &c[0]), 0x192, 42, 0, 0, "the message on the second ring");
	expect_nothing_more(&ring_m, "after the message");
}

/* ---- waitid ------------------------------------------------------------ */

static pid_t child;
static int child_pipe[2];
static siginfo_t child_info;

/* Before the ring exists: the child shares nothing of it. */
static void fork_child(void)
{
	char c;

	if (pipe(child_pipe))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(child_pipe[1]);
		while (read(child_pipe[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(7);
	}
	close(child_pipe[0]);
}

static void arm_waitid(void)
{
	struct io_uring_sqe *sqe = sqe_for(&ring, IORING_OP_WAITID, child, 0x181);

	sqe->len = P_PID;
	sqe->file_index = WEXITED;
	sqe->addr2 = (uintptr_t)&child_info;
	submit(&ring, 1);
}

static void verify_waitid(void)
{
	struct io_uring_cqe c;

	put(child_pipe[1], "x");
	expect_cqe((c = one(&ring, "WAITID"), &c), 0x181, 0, 0, 0, "WAITID");
	if (child_info.si_pid != child || child_info.si_code != CLD_EXITED || child_info.si_status != 7)
		die_err(EIO, "WAITID: siginfo pid %d code %d status %d, expected %d CLD_EXITED 7",
			child_info.si_pid, child_info.si_code, child_info.si_status, child);
}

/* ---- main -------------------------------------------------------------- */

/* A child that holds the ring and nothing opened after it, until the parent exits. */
static void fork_holder(void)
{
	int alive[2];
	char c;

	if (pipe(alive))
		die("pipe");
	switch (fork()) {
	case -1:
		die("fork");
	case 0:
		close(alive[1]);
		while (read(alive[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(alive[0]);
}

int main(int argc, char **argv)
{
	bool fork_first = false;
	struct io_uring_params p = { 0 };
	const char *sets = "basic";
	struct timespec armed;
	struct truth *t;
	unsigned int sq_head;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--sets") && i + 1 < argc)
			sets = argv[++i];
		else if (!strcmp(argv[i], "--abs-after") && i + 1 < argc)
			abs_after = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--fork-first"))
			fork_first = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	set_basic = strstr(sets, "basic") != NULL;
	set_multi = strstr(sets, "multishot") != NULL;
	set_accept = strstr(sets, "accept") != NULL;
	set_count = strstr(sets, "count") != NULL;
	set_recvmsg = strstr(sets, "recvmsg") != NULL;
	set_chain = strstr(sets, "chain") != NULL;
	set_abs = strstr(sets, "abs") != NULL;
	set_send = strstr(sets, "send") != NULL;
	set_futex = strstr(sets, "futex") != NULL;
	set_waitid = strstr(sets, "waitid") != NULL;
	set_msgring = strstr(sets, "msgring") != NULL;
	set_waitv = strstr(sets, "waitv") != NULL;
	set_drain = strstr(sets, "drain") != NULL;
	if (set_waitid)
		fork_child();
	ring_create_or_die(&ring, 16, &p);
	/* a sparse registered-file table: the basic set's fixed-file RECV, the direct ACCEPT */
	{
		int none[NSLOTS];

		memset(none, 0xff, sizeof(none));
		reg_or_die(ring.fd, IORING_REGISTER_FILES, none, NSLOTS, "FILES");
	}
	if (fork_first)
		fork_holder();
	clock_gettime(CLOCK_MONOTONIC, &armed);
	if (set_basic)
		arm_basic();
	if (set_multi)
		arm_multi();
	if (set_accept)
		arm_accept();
	if (set_count)
		arm_count();
	if (set_recvmsg)
		arm_recvmsg();
	if (set_chain)
		arm_chain();
	if (set_abs)
		arm_abs();
	if (set_send)
		arm_send();
	if (set_futex)
		arm_futex();
	if (set_waitid)
		arm_waitid();
	if (set_msgring)
		arm_msgring();
	if (set_waitv)
		arm_waitv();
	if (set_drain)
		arm_drain();
	expect_nothing_more(&ring, "right after arming");
	sq_head = __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "ring_fd", ring.fd);
	if (set_waitid)
		truth_int(t, "child_pid", child);
	truth_write(t);

	wait_for_stop();
	resumed = mono_now(CLOCK_MONOTONIC);
	if (set_abs) {
		expect_nothing_more(&ring, "collecting timeouts that fired before the checkpoint");
		unlimited_before = aside_of(0x146)->n;
	}
	if (__atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE) != sq_head || *ring.sq_tail != sq_head)
		die_err(EIO, "SQ head %u tail %u after the checkpoint, expected %u", *ring.sq_head, *ring.sq_tail, sq_head);
	expect_nothing_more(&ring, "before any event");
	if (set_multi)
		verify_multi();
	if (set_accept)
		verify_accept();
	if (set_recvmsg)
		verify_recvmsg();
	if (set_send)
		verify_send();
	if (set_futex)
		verify_futex();
	if (set_waitid)
		verify_waitid();
	if (set_msgring)
		verify_msgring();
	if (set_waitv)
		verify_waitv();
	if (set_drain)
		verify_drain();
	if (set_chain)
		verify_chain(&armed);
	if (set_basic)
		verify_basic(&armed);
	if (set_abs)
		verify_abs(&armed);
	if (set_count)
		verify_count();
	expect_nothing_more(&ring, "at the end");
	printf("verified\n");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_rearm [--flags HEX] [--sets basic,multishot,accept,count]
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
 *
 * Exit 0 with "verified", or one line on stderr and exit 1.
 */
#include <inttypes.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include "lib/uring.h"

#define UD_CANCEL	0xCA00
#define NSLOTS		8

static struct ring ring, ring2;
static bool set_basic, set_multi, set_accept, set_count, set_recvmsg;

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
 * The short TIMEOUT (0xB4) fires on its own clock, whenever that is: its
 * CQE is set aside wherever it shows up (twice is an error).
 */
static struct io_uring_cqe short_cqe;
static int short_seen;

static bool set_aside(struct ring *r, const struct io_uring_cqe *c)
{
	if (r != &ring || c->user_data != 0xB4)
		return false;
	if (short_seen++)
		die_err(EIO, "a second CQE for the 2.5 s TIMEOUT (res %d)", c->res);
	short_cqe = *c;
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
	if (ring_cq_ready(r) && set_aside(r, ring_cqe_at(r, 0)))
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
	for (int tries = 0; !short_seen; tries++) {
		if (tries > 1000)
			die_err(ETIMEDOUT, "the 2.5 s TIMEOUT did not fire");
		expect_nothing_more(&ring, "waiting for the 2.5 s TIMEOUT");
	}
	expect_cqe(&short_cqe, 0xB4, -ETIME, 0, 0, "2.5 s TIMEOUT");
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

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	const char *sets = "basic";
	struct timespec armed;
	struct truth *t;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--sets") && i + 1 < argc)
			sets = argv[++i];
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	set_basic = strstr(sets, "basic") != NULL;
	set_multi = strstr(sets, "multishot") != NULL;
	set_accept = strstr(sets, "accept") != NULL;
	set_count = strstr(sets, "count") != NULL;
	set_recvmsg = strstr(sets, "recvmsg") != NULL;
	ring_create_or_die(&ring, 16, &p);
	/* a sparse registered-file table: the basic set's fixed-file RECV, the direct ACCEPT */
	{
		int none[NSLOTS];

		memset(none, 0xff, sizeof(none));
		reg_or_die(ring.fd, IORING_REGISTER_FILES, none, NSLOTS, "FILES");
	}
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
	expect_nothing_more(&ring, "right after arming");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "ring_fd", ring.fd);
	truth_write(t);

	wait_for_stop();
	expect_nothing_more(&ring, "before any event");
	if (set_multi)
		verify_multi();
	if (set_accept)
		verify_accept();
	if (set_recvmsg)
		verify_recvmsg();
	if (set_basic)
		verify_basic(&armed);
	if (set_count)
		verify_count();
	expect_nothing_more(&ring, "at the end");
	printf("verified\n");
	return 0;
}

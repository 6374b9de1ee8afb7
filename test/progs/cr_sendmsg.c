// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_sendmsg [--flags HEX] --sock stream|dgram|tcp [--port N] [--partial] [--op send] [--chain]
 *
 * A SENDMSG (user_data 0x201) waiting in poll for room in a full socket,
 * re-armed at restore from the header its preparation copied: right
 * after submitting, the program overwrites its msghdr, its iovec array
 * and its destination address with 0xff (the kernel copied them; what
 * comes back must be those copies).  The data and the control buffer stay
 * as they were, as an application must keep them until the completion.
 *
 * stream: a unix stream socket pair filled up; three iovecs and an
 *         SCM_RIGHTS control message carrying a pipe's read end.
 * dgram:  a unix datagram socket connected to a receiver (abstract
 *         address), its send buffer full of datagrams the receiver has
 *         not read; the SENDMSG names the receiver's address in
 *         msg_name, two iovecs and SCM_RIGHTS.
 * tcp:    a TCP connection within the process (127.0.0.1:N, small
 *         buffers) filled up; three iovecs and MSG_WAITALL.  CRIU restores
 *         it with --tcp-established.
 * --op send (dgram): a SEND to the receiver's address (sendto: addr2 and
 *         addr_len) of the same bytes instead (0x201 too; no fd passed);
 *         the program overwrites the address after submitting.
 * --chain (stream): the SENDMSG is the link of a POLL_ADD on a pipe (0x202,
 *         IOSQE_IO_LINK) and the socket is not filled: it was prepared at
 *         submission and is issued only once the poll fires, after SIGUSR1
 *         (POLLIN, then the SENDMSG's CQE).
 * --partial (stream): a MSG_WAITALL SENDMSG of 1 MiB on an empty socket
 *         with a small send buffer: it sent part of the message and waits
 *         for room to send the rest, which the dump refuses to re-arm.
 *
 * The truth file, written once the SENDMSG waits: {"pid", "ring_fd"}.
 * After SIGUSR1 (after a restore, or in the original after criu dump
 * --leave-running) the peer reads what filled the socket, the SENDMSG
 * completes exactly once with its whole length (it may already have, when
 * the restored socket had room at once), the peer reads its bytes exactly
 * once and in order right after the filler (and the passed fd, which must
 * be the pipe), and nothing else arrives on the ring or the socket.
 *
 * Exit 0 with "verified", or one line on stderr and exit 1.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "lib/uring.h"

#define UD_SENDMSG	0x201
#define UD_POLL		0x202
#define PARTIAL_LEN	(1u << 20)
#define DGRAM_FILL	1024

enum mode { STREAM, DGRAM, TCP };

static struct ring ring;
static enum mode mode;
static bool partial, use_send, chain;
static int gate[2];		/* --chain: the pipe the POLL_ADD waits on */
static int tx = -1, rx = -1;	/* the SENDMSG's socket, and its peer */
static int pipefd[2];
static size_t filled;		/* bytes (datagrams for dgram) that filled the socket */

/* What the application keeps: the data and the control buffer. */
static char part0[] = "alpha-", part1[] = "bravo-bravo-", part2[] = "charlie!";
static char sendbuf[] = "alpha-bravo-bravo-";	/* --op send: part0 and part1 */
static char *big;
static union {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int))];
} control;

/* What it may reuse once the SENDMSG is submitted: header, iovecs, address. */
static struct msghdr msg;
static struct iovec iov[3];
static struct sockaddr_un dest;
static socklen_t dest_len;
static size_t nr_iov;		/* msg.msg_iovlen, which the program overwrites */

static size_t payload_len(void)
{
	size_t n = 0;

	if (partial)
		return PARTIAL_LEN;
	n = strlen(part0) + strlen(part1);
	return nr_iov == 3 ? n + strlen(part2) : n;
}

/* The bytes the peer must read after the filler. */
static void expected_payload(char *out)
{
	size_t n = 0;

	if (partial) {
		memcpy(out, big, PARTIAL_LEN);
		return;
	}
	memcpy(out + n, part0, strlen(part0));
	n += strlen(part0);
	memcpy(out + n, part1, strlen(part1));
	n += strlen(part1);
	if (mode != DGRAM)
		memcpy(out + n, part2, strlen(part2));
}

static void set_bufs(int fd, int snd, int rcv)
{
	if (snd && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)))
		die("SO_SNDBUF");
	if (rcv && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)))
		die("SO_RCVBUF");
}

static void make_sockets(int port)
{
	int sk[2];

	switch (mode) {
	case STREAM:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk))
			die("socketpair");
		tx = sk[0];
		rx = sk[1];
		if (partial)
			set_bufs(tx, 16384, 0);
		break;
	case DGRAM:
		rx = socket(AF_UNIX, SOCK_DGRAM, 0);
		tx = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (rx < 0 || tx < 0)
			die("socket");
		dest.sun_family = AF_UNIX;
		/* abstract: "\0cr_sendmsg-PID" */
		dest_len = offsetof(struct sockaddr_un, sun_path) + 1 +
			   snprintf(dest.sun_path + 1, sizeof(dest.sun_path) - 1, "cr_sendmsg-%d", getpid());
		if (bind(rx, (struct sockaddr *)&dest, dest_len) || connect(tx, (struct sockaddr *)&dest, dest_len))
			die("binding and connecting the datagram sockets");
		/*
		 * The sender's own buffer fills before the receiver's queue
		 * (max_dgram_qlen): its SENDMSG waits with its data untouched.
		 * (6.18's unix datagram sendmsg copies the data before it finds
		 * a receiver's queue full, and the request then sends an empty
		 * datagram once there is room.)
		 */
		set_bufs(tx, 4096, 0);
		break;
	case TCP: {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int one = 1, lis = socket(AF_INET, SOCK_STREAM, 0);

		tx = socket(AF_INET, SOCK_STREAM, 0);
		if (lis < 0 || tx < 0)
			die("socket");
		set_bufs(tx, 8192, 0);
		set_bufs(lis, 0, 8192);
		if (setsockopt(lis, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(lis, (struct sockaddr *)&a, sizeof(a)) || listen(lis, 1) ||
		    connect(tx, (struct sockaddr *)&a, sizeof(a)))
			die("connecting to 127.0.0.1:%d", port);
		rx = accept(lis, NULL, NULL);
		if (rx < 0)
			die("accept");
		close(lis);
		break;
	}
	}
	if (fcntl(rx, F_SETFL, O_NONBLOCK))
		die("O_NONBLOCK");
}

/* Send @chunk-byte pieces until the socket takes no more; returns what it took. */
static size_t fill_with(size_t chunk)
{
	static char junk[4096];
	size_t took = 0;

	memset(junk, 'f', sizeof(junk));
	for (;;) {
		ssize_t n = send(tx, junk, chunk, MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			return took;
		if (n < 0)
			die("filling the socket");
		took += mode == DGRAM ? 1 : (size_t)n;
	}
}

/* Fill the socket until it stays full (a TCP ACK may free room for a moment). */
static void fill(void)
{
	size_t round;

	do {
		round = fill_with(mode == DGRAM ? DGRAM_FILL : 4096);
		if (mode != DGRAM)
			round += fill_with(1);
		filled += round;
		usleep(50000);
	} while (round);
	if (!filled)
		die_err(EIO, "the socket took nothing");
}

/* Submit the one SQE; on an SQPOLL ring, until its thread has taken it. */
static void submit_one(const char *what)
{
	int ret = ring_submit(&ring, 0);

	if (ring.flags & IORING_SETUP_SQPOLL)
		ring_wait_sq_consumed(&ring);
	else if (ret != (chain ? 2 : 1))
		die_err(ret < 0 ? -ret : EIO, "submitting %s", what);
}

static void arm_sendmsg(void)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);
	struct cmsghdr *cm;

	if (partial) {
		big = malloc(PARTIAL_LEN);
		if (!big)
			die("malloc");
		for (size_t i = 0; i < PARTIAL_LEN; i++)
			big[i] = (char)(i * 7 + i / 4096);
		iov[0] = (struct iovec){ big, PARTIAL_LEN / 2 };
		iov[1] = (struct iovec){ big + PARTIAL_LEN / 2, PARTIAL_LEN / 2 };
		msg.msg_iovlen = 2;
	} else {
		iov[0] = (struct iovec){ part0, strlen(part0) };
		iov[1] = (struct iovec){ part1, strlen(part1) };
		iov[2] = (struct iovec){ part2, strlen(part2) };
		msg.msg_iovlen = mode == DGRAM ? 2 : 3;
	}
	msg.msg_iov = iov;
	nr_iov = msg.msg_iovlen;
	if (mode == DGRAM) {
		msg.msg_name = &dest;
		msg.msg_namelen = dest_len;
	}
	if (mode != TCP && !partial) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pipefd[0], sizeof(int));
	}
	if (use_send) {
		sqe->opcode = IORING_OP_SEND;
		sqe->fd = tx;
		sqe->addr = (uintptr_t)sendbuf;
		sqe->len = strlen(sendbuf);
		sqe->addr2 = (uintptr_t)&dest;
		sqe->addr_len = dest_len;
		sqe->user_data = UD_SENDMSG;
		submit_one("the SEND");
		return;
	}
	if (chain) {
		struct io_uring_sqe *poll = sqe;

		poll->opcode = IORING_OP_POLL_ADD;
		poll->fd = gate[0];
		poll->poll32_events = POLLIN;
		poll->flags = IOSQE_IO_LINK;
		poll->user_data = UD_POLL;
		sqe = ring_get_sqe(&ring);
	}
	sqe->opcode = IORING_OP_SENDMSG;
	sqe->fd = tx;
	sqe->addr = (uintptr_t)&msg;
	sqe->len = 1;
	sqe->msg_flags = mode == TCP || partial ? MSG_WAITALL : 0;
	sqe->user_data = UD_SENDMSG;
	submit_one("the SENDMSG");
}

/* The kernel copied the header, the iovecs and the address: the application may reuse them. */
static void scribble(void)
{
	memset(&msg, 0xff, sizeof(msg));
	memset(iov, 0xff, sizeof(iov));
	memset(&dest, 0xff, sizeof(dest));
}

static void expect_nothing_more(const char *what)
{
	sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	if (ring_cq_ready(&ring))
		die_err(EIO, "%s: unexpected CQE user_data 0x%llx res %d", what,
			(unsigned long long)ring_cqe_at(&ring, 0)->user_data, ring_cqe_at(&ring, 0)->res);
}

/* Wait for the SENDMSG's one CQE; consume it. */
static struct io_uring_cqe reap(const char *what)
{
	struct io_uring_cqe c;

	for (int tries = 0; !ring_cq_ready(&ring); tries++) {
		if (tries > 500)
			die_err(ETIMEDOUT, "%s: no CQE", what);
		usleep(10000);
		sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	}
	c = *ring_cqe_at(&ring, 0);
	ring_cq_advance(&ring, 1);
	return c;
}

/* Read exactly @want bytes from the peer (NULL: discard them), as the data comes. */
static void read_stream(char *buf, size_t want, const char *what)
{
	static char junk[65536];

	for (size_t got = 0; got < want; ) {
		size_t chunk = want - got < sizeof(junk) ? want - got : sizeof(junk);
		ssize_t n = read(rx, buf ? buf + got : junk, chunk);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = rx, .events = POLLIN };

			/* on a DEFER_TASKRUN ring the SENDMSG sends only when the owner asks for events */
			sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
			if (poll(&p, 1, 10000) != 1 && !ring_cq_ready(&ring))
				die_err(ETIMEDOUT, "%s: %zu of %zu bytes came", what, got, want);
			continue;
		}
		if (n <= 0)
			die("%s: reading the socket", what);
		got += (size_t)n;
	}
}

/* One datagram from the peer, with the fd it passed (or -1). */
static ssize_t read_dgram(char *buf, size_t len, int *fd, const char *what)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec v = { buf, len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
	struct pollfd p = { .fd = rx, .events = POLLIN };
	struct cmsghdr *cm;
	ssize_t n;

	for (int tries = 0; (n = recvmsg(rx, &m, 0)) < 0 && errno == EAGAIN; tries++) {
		if (tries > 1000)
			die_err(ETIMEDOUT, "%s: no datagram", what);
		sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
		poll(&p, 1, 10);
	}
	if (n < 0)
		die("%s: recvmsg", what);
	*fd = -1;
	cm = CMSG_FIRSTHDR(&m);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

/* The fd the peer received is the pipe's read end: a byte written into the pipe comes out of it. */
static void check_passed_fd(int fd, const char *what)
{
	char c = 0;

	if (fd < 0)
		die_err(EIO, "%s: no fd came with the SENDMSG's data", what);
	if (write(pipefd[1], "z", 1) != 1 || read(fd, &c, 1) != 1 || c != 'z')
		die_err(EIO, "%s: the passed fd is not the pipe", what);
	close(fd);
}

static void recv_stream_payload(const char *what)
{
	size_t len = payload_len();
	char *got = malloc(len), *want = malloc(len);
	int fd = -1;

	if (!got || !want)
		die("malloc");
	expected_payload(want);
	if (mode == STREAM && !partial) {
		/* the first byte brings the fd (SCM_RIGHTS rides on the first skb of the message) */
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} cbuf;
		struct iovec v = { got, len };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		struct pollfd p = { .fd = rx, .events = POLLIN };
		struct cmsghdr *cm;
		ssize_t n;

		for (int tries = 0; (n = recvmsg(rx, &m, 0)) < 0 && errno == EAGAIN; tries++) {
			if (tries > 1000)
				die_err(ETIMEDOUT, "%s: the SENDMSG's data did not come", what);
			sys_io_uring_enter(ring.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
			poll(&p, 1, 10);
		}
		if (n <= 0)
			die("%s: recvmsg", what);
		cm = CMSG_FIRSTHDR(&m);
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		read_stream(got + n, len - (size_t)n, what);
		check_passed_fd(fd, what);
	} else {
		read_stream(got, len, what);
	}
	if (memcmp(got, want, len))
		die_err(EIO, "%s: the peer read '%.*s', not the SENDMSG's data", what, (int)(len < 40 ? len : 40), got);
	free(got);
	free(want);
}

static void complete(const char *what)
{
	struct io_uring_cqe c;
	char buf[DGRAM_FILL];
	int fd;

	/* --chain: the poll fires, then its link is issued */
	if (chain) {
		if (write(gate[1], "g", 1) != 1)
			die("writing to the pipe");
		c = reap(what);
		if (c.user_data != UD_POLL || !(c.res & POLLIN))
			die_err(EIO, "%s: CQE user_data 0x%llx res 0x%x, expected the POLL_ADD's POLLIN", what,
				(unsigned long long)c.user_data, c.res);
	}
	/* what filled the socket first: then the SENDMSG has room */
	if (mode == DGRAM) {
		for (size_t i = 0; i < filled; i++) {
			ssize_t n = read_dgram(buf, sizeof(buf), &fd, what);

			if (n != DGRAM_FILL || fd >= 0 || buf[0] != 'f')
				die_err(EIO, "%s: filler datagram %zu is %zd bytes", what, i, n);
		}
		c = reap(what);
	} else if (!partial) {
		read_stream(NULL, filled, what);
	}
	if (mode == DGRAM) {
		char want[64];
		ssize_t n = read_dgram(buf, sizeof(buf), &fd, what);

		expected_payload(want);
		if (n != (ssize_t)payload_len() || memcmp(buf, want, payload_len()))
			die_err(EIO, "%s: the SENDMSG's datagram is %zd bytes '%.*s'", what, n, (int)(n > 0 ? n : 0), buf);
		if (!use_send)
			check_passed_fd(fd, what);
		else if (fd >= 0)
			die_err(EIO, "%s: an fd came with the SEND's datagram", what);
	} else {
		recv_stream_payload(what);
		c = reap(what);
	}
	if (c.user_data != UD_SENDMSG || c.res != (int)payload_len())
		die_err(EIO, "%s: CQE user_data 0x%llx res %d, expected 0x%x res %zu", what,
			(unsigned long long)c.user_data, c.res, UD_SENDMSG, payload_len());
	expect_nothing_more(what);
	if (mode == DGRAM ? recv(rx, buf, sizeof(buf), MSG_DONTWAIT) >= 0 : read(rx, buf, 1) >= 0)
		die_err(EIO, "%s: the peer got more than the SENDMSG's data", what);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	const char *sock = NULL;
	struct truth *t;
	int port = 0;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--sock") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--partial"))
			partial = true;
		else if (!strcmp(argv[i], "--chain"))
			chain = true;
		else if (!strcmp(argv[i], "--op") && i + 1 < argc && !strcmp(argv[i + 1], "send") && ++i)
			use_send = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	if (!sock)
		die_err(EINVAL, "--sock stream|dgram|tcp is required");
	mode = !strcmp(sock, "stream") ? STREAM : !strcmp(sock, "dgram") ? DGRAM : !strcmp(sock, "tcp") ? TCP : -1;
	if ((int)mode < 0 || (mode == TCP && !port) || (partial && mode != STREAM) || (use_send && mode != DGRAM) || (chain && (mode != STREAM || partial)))
		die_err(EINVAL, "--sock stream|dgram|tcp (tcp with --port, --partial with stream, --op send with dgram)");
	if (pipe(pipefd) || pipe(gate))
		die("pipe");
	make_sockets(port);
	if (!partial && !chain)
		fill();
	ring_create_or_die(&ring, 8, &p);
	arm_sendmsg();
	scribble();
	expect_nothing_more("right after arming");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "ring_fd", ring.fd);
	truth_write(t);

	wait_for_stop();
	complete("after SIGUSR1");
	printf("verified\n");
	return 0;
}

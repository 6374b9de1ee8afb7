// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_tcpserver [--flags HEX] [--port N]
 *
 * A TCP echo server on io_uring, written the way event-loop servers are:
 * one multishot ACCEPT on a listening socket on 127.0.0.1 (port N, or an
 * ephemeral one), one multishot RECV per connection on a provided-buffer ring
 * (buffer group 1, shared by every connection, each buffer handed back
 * as soon as its data is parsed), and a SEND for each reply.  At any
 * moment every connection has its RECV armed: a checkpoint always finds
 * the ACCEPT and one RECV per connection in flight.
 *
 * Protocol (lines): a client sends its sequence numbers "0\n", "1\n", ...
 * on each connection; the server checks that each connection's numbers
 * arrive exactly in order (nothing lost, nothing twice) and answers
 * "echo N\n" to each.  "stats\n" answers one line of JSON with the
 * server's counters; "quit\n" makes it answer "bye\n" and exit 0 printing
 * "verified" and its counters.  Anything wrong (a sequence number out of
 * order, a CQE with an unexpected error such as -ECANCELED, a multishot
 * request ending without IORING_CQE_F_MORE, which it counts as "rearms"
 * and arms again as a real server would) is counted; any error ends the
 * server with one line on stderr and exit 1.
 *
 * The truth file: {"pid", "port", "ring_fd"}, written once it listens.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "lib/uring.h"

#define TAG_SEND	1
#define TAG_ACCEPT	2
#define TAG_RECV	3
#define TAG_MASK	7

#define BGID		1
#define NBUF		1024	/* buffers in the ring, shared by all connections */
#define BUFSZ		512
#define LINE_MAX_LEN	32

struct conn {
	bool open;
	uint64_t next_seq;	/* the sequence number the next line must carry */
	char line[LINE_MAX_LEN];
	unsigned int llen;
};

struct send_req {
	int fd;
	unsigned int len, off;
	char data[];
};

static struct ring ring;
static struct conn *conns;
static unsigned int nconns_max;
static int lis;
static struct io_uring_buf_ring *br;
static char *bufs;
static bool quitting;

/* counters, reported by "stats" and at the end */
static uint64_t n_accepted, n_open, n_closed, n_msgs, n_bytes, n_rearms, n_enobufs, n_resets, n_sends, n_sends_inflight;

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = ring_get_sqe(&ring))) {
		int ret = ring_submit(&ring, 0);

		if (ret < 0)
			die_err(-ret, "io_uring_enter (SQ full)");
	}
	return sqe;
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	sqe->opcode = IORING_OP_ACCEPT;
	sqe->fd = lis;
	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe->accept_flags = SOCK_CLOEXEC;
	sqe->user_data = TAG_ACCEPT;
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();

	sqe->opcode = IORING_OP_RECV;
	sqe->fd = fd;
	sqe->ioprio = IORING_RECV_MULTISHOT;
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = ((uint64_t)fd << 3) | TAG_RECV;
}

static void queue_send(struct send_req *s)
{
	struct io_uring_sqe *sqe = get_sqe();

	sqe->opcode = IORING_OP_SEND;
	sqe->fd = s->fd;
	sqe->addr = (uintptr_t)(s->data + s->off);
	sqe->len = s->len - s->off;
	sqe->msg_flags = MSG_NOSIGNAL;
	sqe->user_data = (uintptr_t)s | TAG_SEND;
}

static void send_text(int fd, const char *text, size_t len)
{
	struct send_req *s;

	if (!len)
		return;
	s = malloc(sizeof(*s) + len);
	if (!s)
		die("malloc");
	s->fd = fd;
	s->len = (unsigned int)len;
	s->off = 0;
	memcpy(s->data, text, len);
	n_sends++;
	n_sends_inflight++;
	queue_send(s);
}

static void give_back(unsigned int bid)
{
	unsigned short tail = br->tail;
	struct io_uring_buf *b = &br->bufs[tail & (NBUF - 1)];

	b->addr = (uintptr_t)(bufs + (size_t)bid * BUFSZ);
	b->len = BUFSZ;
	b->bid = (unsigned short)bid;
	__atomic_store_n(&br->tail, (unsigned short)(tail + 1), __ATOMIC_RELEASE);
}

static void close_conn(int fd)
{
	conns[fd].open = false;
	n_open--;
	n_closed++;
	close(fd);
}

/* One complete line from @fd: append the reply to @out. */
static void handle_line(int fd, struct conn *c, char *out, size_t *olen)
{
	char *end;
	unsigned long long seq;

	if (!strcmp(c->line, "stats")) {
		*olen += (size_t)sprintf(out + *olen,
			"{\"pid\":%d,\"accepted\":%" PRIu64 ",\"open\":%" PRIu64 ",\"closed\":%" PRIu64
			",\"msgs\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"rearms\":%" PRIu64 ",\"enobufs\":%" PRIu64
			",\"resets\":%" PRIu64 ",\"sends\":%" PRIu64 "}\n",
			getpid(), n_accepted, n_open, n_closed, n_msgs, n_bytes, n_rearms, n_enobufs, n_resets, n_sends);
		return;
	}
	if (!strcmp(c->line, "quit")) {
		*olen += (size_t)sprintf(out + *olen, "bye\n");
		quitting = true;
		return;
	}
	errno = 0;
	seq = strtoull(c->line, &end, 10);
	if (errno || end == c->line || *end)
		die_err(EPROTO, "connection fd %d: bad line '%s'", fd, c->line);
	if (seq != c->next_seq)
		die_err(EPROTO, "connection fd %d: sequence number %llu, expected %" PRIu64 " (%s)", fd, seq,
			c->next_seq, seq < c->next_seq ? "a duplicate" : "one was lost");
	c->next_seq++;
	n_msgs++;
	*olen += (size_t)sprintf(out + *olen, "echo %llu\n", seq);
}

static void on_data(int fd, const char *data, int len)
{
	struct conn *c = &conns[fd];
	/* each input byte yields at most a few output bytes; "stats" is the longest reply */
	char out[BUFSZ * 8 + 512];
	size_t olen = 0;

	n_bytes += (uint64_t)len;
	for (int i = 0; i < len; i++) {
		if (data[i] != '\n') {
			if (c->llen + 1 >= LINE_MAX_LEN)
				die_err(EPROTO, "connection fd %d: line too long", fd);
			c->line[c->llen++] = data[i];
			continue;
		}
		c->line[c->llen] = '\0';
		handle_line(fd, c, out, &olen);
		c->llen = 0;
	}
	send_text(fd, out, olen);
}

static void on_cqe(const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	bool more = cqe->flags & IORING_CQE_F_MORE;

	switch (ud & TAG_MASK) {
	case TAG_ACCEPT:
		if (cqe->res < 0)
			die_err(-cqe->res, "multishot ACCEPT completed with %d", cqe->res);
		if ((unsigned int)cqe->res >= nconns_max)
			die_err(EMFILE, "accepted fd %d beyond the table", cqe->res);
		conns[cqe->res] = (struct conn){ .open = true };
		n_accepted++;
		n_open++;
		arm_recv(cqe->res);
		if (!more) {
			n_rearms++;
			arm_accept();
		}
		break;
	case TAG_RECV: {
		int fd = (int)(ud >> 3);

		if ((unsigned int)fd >= nconns_max || !conns[fd].open)
			die_err(EIO, "RECV CQE for fd %d, which is not an open connection (res %d)", fd, cqe->res);
		if (cqe->res > 0) {
			unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

			if (!(cqe->flags & IORING_CQE_F_BUFFER) || bid >= NBUF)
				die_err(EIO, "RECV on fd %d: res %d without a buffer (flags 0x%x)", fd, cqe->res, cqe->flags);
			on_data(fd, bufs + (size_t)bid * BUFSZ, cqe->res);
			give_back(bid);
			if (!more) {
				n_rearms++;
				arm_recv(fd);
			}
		} else if (cqe->res == 0) {
			close_conn(fd);		/* the client closed: EOF ends the multishot RECV */
		} else if (cqe->res == -ENOBUFS) {
			n_enobufs++;
			if (!more)
				arm_recv(fd);
		} else if (cqe->res == -ECONNRESET) {
			n_resets++;
			close_conn(fd);
		} else {
			die_err(-cqe->res, "RECV on fd %d completed with %d", fd, cqe->res);
		}
		break;
	}
	case TAG_SEND: {
		struct send_req *s = (struct send_req *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);

		if (cqe->res == -EPIPE || cqe->res == -ECONNRESET) {
			n_resets++;
		} else if (cqe->res < 0) {
			die_err(-cqe->res, "SEND on fd %d completed with %d", s->fd, cqe->res);
		} else if (s->off + (unsigned int)cqe->res < s->len) {
			s->off += (unsigned int)cqe->res;	/* a short send: the rest again */
			queue_send(s);
			break;
		}
		n_sends_inflight--;
		free(s);
		break;
	}
	default:
		die_err(EIO, "CQE with unknown user_data 0x%" PRIx64 " res %d", ud, cqe->res);
	}
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 16384 };
	struct io_uring_buf_reg reg = { .ring_entries = NBUF, .bgid = BGID };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct rlimit rl;
	struct truth *t;
	int one = 1;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags |= (unsigned int)strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			a.sin_port = htons((uint16_t)atoi(argv[++i]));
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	nconns_max = rl.rlim_cur > 1u << 20 ? 1u << 20 : (unsigned int)rl.rlim_cur;
	conns = calloc(nconns_max, sizeof(*conns));
	if (!conns)
		die("calloc");

	ring_create_or_die(&ring, 256, &p);
	br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	bufs = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED || bufs == MAP_FAILED)
		die("mmap buffers");
	reg.ring_addr = (uintptr_t)br;
	reg_or_die(ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING");
	for (unsigned int i = 0; i < NBUF; i++)
		give_back(i);

	lis = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lis < 0 || setsockopt(lis, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lis, (struct sockaddr *)&a, sizeof(a)) || listen(lis, 4096) ||
	    getsockname(lis, (struct sockaddr *)&a, &alen))
		die("listening on 127.0.0.1");
	arm_accept();
	if (ring_submit(&ring, 0) != 1)
		die("submitting the ACCEPT");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "port", ntohs(a.sin_port));
	truth_int(t, "ring_fd", ring.fd);
	truth_write(t);

	for (;;) {
		int ret = ring_submit(&ring, 1);
		unsigned int n;

		if (ret < 0 && ret != -EBUSY)
			die_err(-ret, "io_uring_enter");
		n = ring_cq_ready(&ring);
		for (unsigned int i = 0; i < n; i++) {
			struct io_uring_cqe cqe = *ring_cqe_at(&ring, i);

			on_cqe(&cqe);
		}
		ring_cq_advance(&ring, n);
		if (quitting && !n_sends_inflight)
			break;
	}
	printf("verified: accepted %" PRIu64 ", closed %" PRIu64 ", messages %" PRIu64 ", re-armed by the server %" PRIu64
	       ", ENOBUFS %" PRIu64 ", resets %" PRIu64 "\n",
	       n_accepted, n_closed, n_msgs, n_rearms, n_enobufs, n_resets);
	return 0;
}

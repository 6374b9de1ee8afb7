// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_pbuf [--flags HEX] [--advance N]
 *
 * A checkpoint/restore test in the style of CRIU's zdtm for provided
 * buffers: set up buffer groups of every kind part-way through their use,
 * wait for the checkpoint, then check that buffer selection continues
 * exactly where it was.
 *
 * State, on one ring (setup flags from --flags, indices moved by --advance
 * NOPs first):
 *   bgid 1: buffer ring in our memory, 8 entries; 8 buffers added, 5 used,
 *           3 more added (the tail wraps): head 5, tail 11
 *   bgid 2: kernel-allocated ring (IOU_PBUF_RING_MMAP | IOU_PBUF_RING_INC),
 *           16 entries, mapped by us; 4 buffers, the first used up, the
 *           second used for 16 of its 64 bytes: head 1, tail 4
 *   bgid 3: buffer ring in our memory with IOU_PBUF_RING_INC, 4 entries;
 *           3 buffers, the first used up, the second used for 40 bytes
 *   bgid 4: legacy PROVIDE_BUFFERS: bids 40..43 in one request, bid 50,
 *           then bid 60 placed before 40 in memory; bid 40 used
 *
 * The program keeps its own model of each group (which buffer comes next
 * and where its unused bytes start).  After SIGUSR1 it drains every group
 * with 8-byte BUFFER_SELECT reads from a pipe and checks each completion
 * against the model: buffer id, IORING_CQE_F_BUF_MORE on incremental
 * rings, and the bytes landing at the address the model expects.  The
 * last read of each group must fail with ENOBUFS.
 *
 * Exit 0 and "verified" only when every check passed; otherwise a
 * one-line reason on stderr and exit 1.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <sys/mman.h>
#include "lib/uring.h"

#define BUF_LEN		64
#define READ_LEN	8
#define MAX_BUFS	16

enum { U_BGID = 1, K_BGID = 2, UI_BGID = 3, L_BGID = 4, NR_GROUPS = 4 };

/* What the program expects each group to hand out next, in order. */
struct model {
	int bgid;
	bool inc;
	unsigned int n;			/* buffers still to come */
	uint16_t bid[MAX_BUFS];
	uint8_t *addr[MAX_BUFS];	/* next unused byte */
	unsigned int left[MAX_BUFS];	/* unused bytes */
};

static struct ring ring;
static uint8_t data[4 * MAX_BUFS][BUF_LEN];
static struct model groups[NR_GROUPS];
static int pipe_fd[2];
static uint64_t seq = 1;

static void model_add(struct model *m, uint16_t bid, uint8_t *addr)
{
	if (m->n == MAX_BUFS)
		die_err(EINVAL, "group %d: model full", m->bgid);
	m->bid[m->n] = bid;
	m->addr[m->n] = addr;
	m->left[m->n] = BUF_LEN;
	m->n++;
}

/* The kernel took @len bytes from the group's next buffer. */
static void model_take(struct model *m, unsigned int len)
{
	if (m->inc && m->left[0] > len) {
		m->addr[0] += len;
		m->left[0] -= len;
		return;
	}
	m->n--;
	memmove(m->bid, m->bid + 1, m->n * sizeof(m->bid[0]));
	memmove(m->addr, m->addr + 1, m->n * sizeof(m->addr[0]));
	memmove(m->left, m->left + 1, m->n * sizeof(m->left[0]));
}

static void ring_add(struct io_uring_buf_ring *br, unsigned int entries, struct model *m,
		     uint16_t bid, uint8_t *addr)
{
	struct io_uring_buf *b = &br->bufs[br->tail & (entries - 1)];

	b->addr = (uintptr_t)addr;
	b->len = BUF_LEN;
	b->bid = bid;
	__atomic_store_n(&br->tail, br->tail + 1, __ATOMIC_RELEASE);
	model_add(m, bid, addr);
}

static struct io_uring_buf_ring *user_ring(int bgid, unsigned int entries, unsigned int flags)
{
	struct io_uring_buf_reg reg = { .ring_entries = entries, .bgid = bgid, .flags = flags };
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		die("mmap buffer ring");
	reg.ring_addr = (uintptr_t)mem;
	reg_or_die(ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING (user)");
	return mem;
}

static struct io_uring_buf_ring *kernel_ring(int bgid, unsigned int entries, unsigned int flags)
{
	struct io_uring_buf_reg reg = { .ring_entries = entries, .bgid = bgid, .flags = IOU_PBUF_RING_MMAP | flags };
	void *mem;

	reg_or_die(ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING (kernel-allocated)");
	mem = mmap(NULL, entries * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_SHARED, ring.fd,
		   IORING_OFF_PBUF_RING | ((__u64)bgid << IORING_OFF_PBUF_SHIFT));
	if (mem == MAP_FAILED)
		die("mmap kernel buffer ring");
	return mem;
}

static void provide(struct model *m, unsigned int nbufs, uint16_t bid, uint8_t *addr)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);
	int ret;

	sqe->opcode = IORING_OP_PROVIDE_BUFFERS;
	sqe->fd = nbufs;
	sqe->addr = (uintptr_t)addr;
	sqe->len = BUF_LEN;
	sqe->off = bid;
	sqe->buf_group = m->bgid;
	ret = ring_submit_and_wait(&ring, 1);
	if (ret < 0 || !ring_cq_ready(&ring) || ring_cqe_at(&ring, 0)->res < 0)
		die_err(EIO, "PROVIDE_BUFFERS (ret %d, res %d)", ret, ring_cq_ready(&ring) ? ring_cqe_at(&ring, 0)->res : 0);
	ring_cq_advance(&ring, 1);
	for (unsigned int i = 0; i < nbufs; i++)
		model_add(m, bid + i, addr + i * BUF_LEN);
}

/*
 * One BUFFER_SELECT read of @len bytes from the pipe (which holds @len
 * tagged bytes); returns the CQE's res and flags.
 */
static int select_read(int bgid, unsigned int len, uint8_t tag, uint32_t *flags)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	uint8_t bytes[BUF_LEN];
	int ret, res;

	memset(bytes, tag, len);
	if (write(pipe_fd[1], bytes, len) != (ssize_t)len)
		die("write to the pipe");
	sqe = ring_get_sqe(&ring);
	sqe_rw(sqe, IORING_OP_READ, pipe_fd[0], NULL, len, 0, seq++);
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = bgid;
	ret = ring_submit_and_wait(&ring, 1);
	if (ret < 0 || !(cqe = ring_cqe_at(&ring, 0)))
		die_err(ret < 0 ? -ret : EIO, "BUFFER_SELECT read from group %d", bgid);
	res = cqe->res;
	*flags = cqe->flags;
	ring_cq_advance(&ring, 1);
	if (res < 0) { /* nothing read: empty the pipe again */
		if (read(pipe_fd[0], bytes, len) != (ssize_t)len)
			die("draining the pipe");
	}
	return res;
}

/* Take @len bytes from the group and check they went where the model says. */
static void take_checked(struct model *m, unsigned int len, uint8_t tag)
{
	uint32_t flags;
	int res;

	if (!m->n)
		die_err(EINVAL, "group %d: model empty", m->bgid);
	res = select_read(m->bgid, len, tag, &flags);
	if (res != (int)len)
		die_err(res < 0 ? -res : EIO, "group %d: read of %u bytes returned %d, expected buffer %u",
			m->bgid, len, res, m->bid[0]);
	if (!(flags & IORING_CQE_F_BUFFER) || flags >> IORING_CQE_BUFFER_SHIFT != m->bid[0])
		die_err(EIO, "group %d: got buffer %u (flags %#x), expected %u", m->bgid,
			flags >> IORING_CQE_BUFFER_SHIFT, flags, m->bid[0]);
	if (m->inc && !!(flags & IORING_CQE_F_BUF_MORE) != (m->left[0] > len))
		die_err(EIO, "group %d buffer %u: BUF_MORE %s with %u of %u bytes left", m->bgid, m->bid[0],
			flags & IORING_CQE_F_BUF_MORE ? "set" : "clear", m->left[0] - len, BUF_LEN);
	for (unsigned int i = 0; i < len; i++)
		if (m->addr[0][i] != tag)
			die_err(EIO, "group %d buffer %u: data not at %p (offset %td)", m->bgid, m->bid[0],
				(void *)m->addr[0], m->addr[0] - (uint8_t *)data);
	model_take(m, len);
}

static void drain_checked(struct model *m)
{
	uint8_t tag = 0x10 * m->bgid;
	uint32_t flags;
	int res;

	while (m->n)
		take_checked(m, READ_LEN, ++tag);
	res = select_read(m->bgid, READ_LEN, 0xee, &flags);
	if (res != -ENOBUFS)
		die_err(EIO, "group %d: read after the last buffer returned %d (flags %#x), expected ENOBUFS",
			m->bgid, res, flags);
}

static void setup_groups(void)
{
	struct model *u = &groups[0], *k = &groups[1], *ui = &groups[2], *l = &groups[3];
	struct io_uring_buf_ring *br;
	int i;

	u->bgid = U_BGID;
	br = user_ring(U_BGID, 8, 0);
	for (i = 0; i < 8; i++)
		ring_add(br, 8, u, i, data[i]);
	for (i = 0; i < 5; i++)
		take_checked(u, READ_LEN, 0xa0 + i);
	for (i = 8; i < 11; i++)
		ring_add(br, 8, u, i, data[i]);

	k->bgid = K_BGID;
	k->inc = true;
	br = kernel_ring(K_BGID, 16, IOU_PBUF_RING_INC);
	for (i = 0; i < 4; i++)
		ring_add(br, 16, k, 20 + i, data[16 + i]);
	take_checked(k, BUF_LEN, 0xb0);
	take_checked(k, 16, 0xb1);

	ui->bgid = UI_BGID;
	ui->inc = true;
	br = user_ring(UI_BGID, 4, IOU_PBUF_RING_INC);
	for (i = 0; i < 3; i++)
		ring_add(br, 4, ui, 30 + i, data[24 + i]);
	take_checked(ui, BUF_LEN, 0xc0);
	take_checked(ui, 40, 0xc1);

	l->bgid = L_BGID;
	provide(l, 4, 40, data[41]);
	provide(l, 1, 50, data[48]);
	provide(l, 1, 60, data[40]);
	take_checked(l, READ_LEN, 0xd0);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	unsigned long advance = 0;
	struct truth *t;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			p.flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 0);
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	if (pipe(pipe_fd))
		die("pipe");
	ring_create_or_die(&ring, 8, &p);
	ring_advance_by_nops(&ring, advance);
	setup_groups();

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "inode", ring.inode);
	truth_arr(t, "heads");
	truth_int(t, NULL, 5);
	truth_int(t, NULL, 1);
	truth_int(t, NULL, 1);
	truth_end(t);
	truth_arr(t, "legacy_bids");
	for (unsigned int i = 0; i < groups[3].n; i++)
		truth_int(t, NULL, groups[3].bid[i]);
	truth_end(t);
	truth_write(t);

	wait_for_stop();
	for (int g = 0; g < NR_GROUPS; g++)
		drain_checked(&groups[g]);
	if (ring_cq_ready(&ring))
		die_err(EIO, "%u unexpected completions", ring_cq_ready(&ring));
	printf("verified\n");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_pbuf: provided buffers of both kinds on one ring.
 *   bgid 3: a buffer ring in our memory, 8 entries, 5 buffers added, one
 *           consumed by a BUFFER_SELECT read of /dev/zero (head 1, tail 5)
 *   bgid 5: a kernel-allocated ring (IOU_PBUF_RING_MMAP | IOU_PBUF_RING_INC),
 *           16 entries, mapped at IORING_OFF_PBUF_RING | 5 << 16, 2 buffers
 *   bgid 7: legacy PROVIDE_BUFFERS: 4 buffers (bids 10..13) then 1 more
 *           (bid 100), in the order the kernel hands them out
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include "uring.h"

#define RING_BGID	3
#define RING_ENTRIES	8
#define MMAP_BGID	5
#define MMAP_ENTRIES	16
#define LEGACY_BGID	7
#define BUF_LEN		128

static char data[64][BUF_LEN];

static void add_bufs(struct io_uring_buf_ring *br, unsigned int entries, unsigned int n, int first)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct io_uring_buf *b = &br->bufs[(br->tail + i) & (entries - 1)];

		b->addr = (__u64)(uintptr_t)data[first + i];
		b->len = BUF_LEN;
		b->bid = (__u16)(first + i);
	}
	__atomic_store_n(&br->tail, br->tail + n, __ATOMIC_RELEASE);
}

static struct io_uring_buf_ring *user_ring(struct ring *r)
{
	struct io_uring_buf_reg reg = { .ring_entries = RING_ENTRIES, .bgid = RING_BGID };
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		die("mmap buffer ring");
	reg.ring_addr = (__u64)(uintptr_t)mem;
	reg_or_die(r->fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING bgid 3");
	return mem;
}

static struct io_uring_buf_ring *kernel_ring(struct ring *r, size_t *len)
{
	struct io_uring_buf_reg reg = {
		.ring_entries = MMAP_ENTRIES, .bgid = MMAP_BGID,
		.flags = IOU_PBUF_RING_MMAP | IOU_PBUF_RING_INC,
	};
	void *mem;

	reg_or_die(r->fd, IORING_REGISTER_PBUF_RING, &reg, 1, "PBUF_RING bgid 5 (mmap, inc)");
	*len = MMAP_ENTRIES * sizeof(struct io_uring_buf);
	mem = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		   IORING_OFF_PBUF_RING | ((__u64)MMAP_BGID << IORING_OFF_PBUF_SHIFT));
	if (mem == MAP_FAILED)
		die("mmap kernel buffer ring");
	return mem;
}

static void provide(struct ring *r, int nbufs, int first_bid, int first_data)
{
	struct io_uring_sqe *sqe = ring_get_sqe(r);
	int ret;

	sqe->opcode = IORING_OP_PROVIDE_BUFFERS;
	sqe->fd = nbufs;
	sqe->addr = (__u64)(uintptr_t)data[first_data];
	sqe->len = BUF_LEN;
	sqe->off = (__u64)first_bid;
	sqe->buf_group = LEGACY_BGID;
	ret = ring_submit_and_wait(r, 1);
	if (ret != 1 || ring_cqe_at(r, 0)->res < 0)
		die_err(ret < 0 ? -ret : EIO, "PROVIDE_BUFFERS (res %d)", ring_cq_ready(r) ? ring_cqe_at(r, 0)->res : 0);
	ring_cq_advance(r, 1);
}

/* Take one buffer from the user ring: a 64-byte read of /dev/zero. */
static void consume_one(struct ring *r)
{
	struct io_uring_sqe *sqe = ring_get_sqe(r);
	int zero = open("/dev/zero", O_RDONLY), ret;

	if (zero < 0)
		die("open /dev/zero");
	sqe_rw(sqe, IORING_OP_READ, zero, NULL, 64, 0, 0x900);
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = RING_BGID;
	ret = ring_submit_and_wait(r, 1);
	if (ret != 1 || ring_cqe_at(r, 0)->res != 64)
		die_err(EIO, "BUFFER_SELECT read (res %d)", ring_cq_ready(r) ? ring_cqe_at(r, 0)->res : 0);
	ring_cq_advance(r, 1);
	close(zero);
}

static void truth_pbuf_ring(struct truth *t, int bgid, int entries, const void *addr,
			    bool mmapped, int head, int tail, bool inc)
{
	truth_obj(t, NULL);
	truth_int(t, "bgid", bgid);
	truth_str(t, "kind", "ring");
	truth_int(t, "entries", entries);
	if (addr)
		truth_u64s(t, "addr", (uintptr_t)addr);
	else
		truth_null(t, "addr");
	truth_bool(t, "mmap", mmapped);
	truth_int(t, "head", head);
	truth_int(t, "tail", tail);
	truth_bool(t, "inc", inc);
	truth_end(t);
}

static void truth_legacy(struct truth *t)
{
	int i;

	truth_obj(t, NULL);
	truth_int(t, "bgid", LEGACY_BGID);
	truth_str(t, "kind", "legacy");
	truth_arr(t, "buffers");
	for (i = 0; i < 5; i++) {
		truth_obj(t, NULL);
		truth_int(t, "bid", i < 4 ? 10 + i : 100);
		truth_u64s(t, "addr", (uintptr_t)data[20 + i]);
		truth_int(t, "len", BUF_LEN);
		truth_end(t);
	}
	truth_end(t);
	truth_end(t);
}

int main(int argc, char **argv)
{
	struct io_uring_buf_ring *ur, *kr;
	size_t kr_len;
	struct truth *t;
	struct ring r;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, 8, NULL);
	ur = user_ring(&r);
	add_bufs(ur, RING_ENTRIES, 5, 0);
	consume_one(&r);
	kr = kernel_ring(&r, &kr_len);
	add_bufs(kr, MMAP_ENTRIES, 2, 10);
	provide(&r, 4, 10, 20);
	provide(&r, 1, 100, 24);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 3, 3);
	truth_arr(t, "mappings");
	truth_mapping(t, r.ring_mem, r.ring_len, IORING_OFF_SQ_RING, "rings", -1);
	truth_mapping(t, r.sqe_mem, r.sqe_len, IORING_OFF_SQES, "sqes", -1);
	truth_mapping(t, kr, kr_len, IORING_OFF_PBUF_RING | ((__u64)MMAP_BGID << IORING_OFF_PBUF_SHIFT), "pbuf_ring", MMAP_BGID);
	truth_end(t);
	truth_arr(t, "provided_buffers");
	truth_pbuf_ring(t, RING_BGID, RING_ENTRIES, ur, false, 1, 5, false);
	truth_pbuf_ring(t, MMAP_BGID, MMAP_ENTRIES, NULL, true, 0, 2, true);
	truth_legacy(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

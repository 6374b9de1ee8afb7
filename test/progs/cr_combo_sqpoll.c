// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_combo_sqpoll [--busy]
 *
 * A reviewer-style checkpoint/restore test written with liburing: two
 * SQPOLL rings sharing one SQ thread (ring B is set up with ATTACH_WQ to
 * ring A), MSG_RING between them in both directions (so each ring's CQ
 * tail runs ahead of its SQ head), and a provided-buffer ring on B (16
 * buffers of 256 bytes in the program's memory, io_uring_register_buf_ring)
 * used by IORING_OP_READ with IOSQE_BUFFER_SELECT from a data file.
 *
 * The program keeps its own copy of the buffer ring's queue (which bids,
 * in which order, from head to tail): every read must get the bid at the
 * front, with the file's bytes at the read's offset in that buffer; the
 * buffer is then given back at the tail (io_uring_buf_ring_add), so the
 * head and tail move around the ring.  Every MSG_RING completion must
 * carry exactly the user_data and result sent.
 *
 * Quiet mode (default): some reads and messages, then leave on B three
 * unreaped message CQEs and a read CQE whose buffer is not given back yet,
 * and on A one unreaped message CQE; truth file; wait for SIGUSR1; then
 * check those CQEs, and go on reading (buffer selection continues with
 * the right bids) and messaging.  --busy: random reads (in batches) and
 * messages from the start until SIGUSR1, dumps at random moments.
 *
 * Exit 0 with "verified" ("N verified rounds" with --busy) only when every
 * check passed; otherwise a one-line reason on stderr and exit 1.
 */
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
/* first: our 6.18 ABI header, which liburing 2.3's older copy then defers to */
#include "lib/uring.h"
#include "lib/combo.h"

#define ENTRIES		32
#define BGID		7
#define NR_BUFS		16
#define BUF_LEN		256
#define FILE_LEN	65536
#define MSG_TAG		(1ULL << 60)
#define READ_TAG	(1ULL << 61)

static struct io_uring ring_a, ring_b;
static int data_fd;
static struct io_uring_buf_ring *br;
static uint8_t *bufs;
static uint16_t fifo[NR_BUFS];		/* bids from head to tail, as given to the kernel */
static unsigned int fifo_head, fifo_len;
static uint64_t msg_seq;

static uint8_t file_byte(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 8) * 7 + 1);
}

static void give_back(uint16_t bid)
{
	io_uring_buf_ring_add(br, bufs + bid * BUF_LEN, BUF_LEN, bid, io_uring_buf_ring_mask(NR_BUFS), 0);
	io_uring_buf_ring_advance(br, 1);
	if (fifo_len == NR_BUFS)
		die_err(EPROTO, "giving back bid %u to a full buffer ring", bid);
	fifo[(fifo_head + fifo_len++) % NR_BUFS] = bid;
}

static uint16_t take_front(void)
{
	uint16_t bid;

	if (!fifo_len)
		die_err(EPROTO, "a read got a buffer while none was provided");
	bid = fifo[fifo_head];
	fifo_head = (fifo_head + 1) % NR_BUFS;
	fifo_len--;
	return bid;
}

static struct io_uring_sqe *get_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe)
		die_err(EBUSY, "SQ full");
	return sqe;
}

static void submit(struct io_uring *r, const char *what)
{
	int ret = io_uring_submit(r);

	if (ret < 0)
		die_err(-ret, "submitting %s", what);
}

/* MSG_RING from @from to @to: @to gets a CQE it never submitted. */
static uint64_t send_msg(struct io_uring *from, struct io_uring *to)
{
	uint64_t tag = MSG_TAG | ++msg_seq;
	struct io_uring_sqe *sqe = get_sqe(from);

	io_uring_prep_msg_ring(sqe, to->ring_fd, (uint32_t)(msg_seq * 3 + 1), tag, 0);
	io_uring_sqe_set_data64(sqe, tag);
	submit(from, "MSG_RING");
	return tag;
}

/* The sender's own CQE for a message. */
static void reap_sent(struct io_uring *from, uint64_t tag)
{
	struct io_uring_cqe *cqe = wait_cqe(from, "a MSG_RING completion");

	if (cqe->user_data != tag || cqe->res != 0)
		die_err(EIO, "sender CQE user_data %llx res %d, expected %llx res 0",
			(unsigned long long)cqe->user_data, cqe->res, (unsigned long long)tag);
	io_uring_cqe_seen(from, cqe);
}

static void reap_received(struct io_uring *to, uint64_t tag)
{
	struct io_uring_cqe *cqe = wait_cqe(to, "a message");
	uint64_t seq = tag & ~MSG_TAG;

	if (cqe->user_data != tag || cqe->res != (int)(seq * 3 + 1) || cqe->flags)
		die_err(EIO, "received CQE user_data %llx res %d flags %x, expected %llx res %d",
			(unsigned long long)cqe->user_data, cqe->res, cqe->flags,
			(unsigned long long)tag, (int)(seq * 3 + 1));
	io_uring_cqe_seen(to, cqe);
}

static void message_round(struct io_uring *from, struct io_uring *to)
{
	uint64_t tag = send_msg(from, to);

	reap_sent(from, tag);
	reap_received(to, tag);
}

static void queue_read(uint64_t off)
{
	struct io_uring_sqe *sqe = get_sqe(&ring_b);

	io_uring_prep_read(sqe, data_fd, NULL, BUF_LEN, off);
	io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT);
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, READ_TAG | off);
}

/*
 * Check one read completion and return its bid (not given back yet).
 * @bids: the bids this batch may take (the next ones of the queue).
 */
static uint16_t check_read(const struct io_uring_cqe *cqe, const uint16_t *bids, bool *taken, unsigned int n)
{
	uint64_t off = cqe->user_data & ~READ_TAG;
	uint16_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	unsigned int i;

	if (!(cqe->user_data & READ_TAG) || cqe->res != BUF_LEN || !(cqe->flags & IORING_CQE_F_BUFFER))
		die_err(EIO, "read CQE user_data %llx res %d flags %x", (unsigned long long)cqe->user_data,
			cqe->res, cqe->flags);
	for (i = 0; i < n; i++)
		if (bids[i] == bid && !taken[i])
			break;
	if (i == n)
		die_err(EIO, "a read got bid %u, not one of the next %u of the buffer ring (next: %u)", bid, n, bids[0]);
	taken[i] = true;
	for (unsigned int b = 0; b < BUF_LEN; b++)
		if (bufs[bid * BUF_LEN + b] != file_byte(off + b))
			die_err(EIO, "bid %u does not hold the file's bytes at %" PRIu64, bid, off);
	memset(bufs + bid * BUF_LEN, 0, BUF_LEN);
	return bid;
}

/* @n reads at random offsets in one submission; buffers given back unless @keep_last. */
static void read_batch(unsigned int n, bool keep_last)
{
	uint16_t bids[NR_BUFS];
	bool taken[NR_BUFS] = { false };
	uint16_t got[NR_BUFS];

	if (n > fifo_len)
		die_err(EPROTO, "%u reads with %u buffers provided", n, fifo_len);
	for (unsigned int i = 0; i < n; i++) {
		bids[i] = take_front();
		queue_read((uint64_t)(random() % (FILE_LEN / BUF_LEN - 1)) * BUF_LEN + random() % BUF_LEN);
	}
	submit(&ring_b, "reads");
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_cqe *cqe = wait_cqe(&ring_b, "a read");

		if (keep_last && i == n - 1)
			return; /* left in the CQ unchecked, its buffer not given back */
		got[i] = check_read(cqe, bids, taken, n);
		io_uring_cqe_seen(&ring_b, cqe);
	}
	for (unsigned int i = 0; i < n; i++)
		give_back(got[i]);
}

static void setup(void)
{
	struct io_uring_params pa = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 100 };
	struct io_uring_params pb = { .flags = IORING_SETUP_SQPOLL | IORING_SETUP_ATTACH_WQ, .sq_thread_idle = 100 };
	struct io_uring_buf_reg reg = { 0 };
	uint8_t page[4096];
	int ret;

	ret = io_uring_queue_init_params(ENTRIES, &ring_a, &pa);
	if (ret < 0)
		die_err(-ret, "setting up SQPOLL ring A");
	pb.wq_fd = ring_a.ring_fd;
	ret = io_uring_queue_init_params(ENTRIES, &ring_b, &pb);
	if (ret < 0)
		die_err(-ret, "setting up ring B attached to A");

	data_fd = open(scratch_path("cr_combo_sqpoll.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0)
		die("data file");
	for (uint64_t off = 0; off < FILE_LEN; off += sizeof(page)) {
		for (unsigned int i = 0; i < sizeof(page); i++)
			page[i] = file_byte(off + i);
		if (pwrite(data_fd, page, sizeof(page), (off_t)off) != sizeof(page))
			die("writing the data file");
	}

	br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = mmap(NULL, NR_BUFS * BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED || bufs == MAP_FAILED)
		die("buffer ring memory");
	io_uring_buf_ring_init(br);
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = NR_BUFS;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&ring_b, &reg, 0);
	if (ret < 0)
		die_err(-ret, "registering buffer ring %d", BGID);
	for (uint16_t bid = 0; bid < NR_BUFS; bid++)
		give_back(bid);
}

static unsigned long inode_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat");
	return st.st_ino;
}

static void write_truth(void)
{
	struct truth *t = truth_new();

	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_int(t, "inode", inode_of(ring_a.ring_fd));
	truth_end(t);
	truth_obj(t, NULL);
	truth_int(t, "inode", inode_of(ring_b.ring_fd));
	truth_end(t);
	truth_end(t);
	truth_write(t);
}

static int quiet(void)
{
	uint64_t to_b[3], to_a;
	struct io_uring_cqe *cqe;
	uint16_t kept, bid;
	bool taken[1] = { false };

	for (int i = 0; i < 5; i++) {
		read_batch(1 + i % 3, false);
		message_round(&ring_a, &ring_b);
		message_round(&ring_b, &ring_a);
	}
	read_batch(2, false);
	kept = fifo[fifo_head];
	read_batch(1, true);	/* leaves one read CQE, its buffer out */
	for (int i = 0; i < 3; i++) {
		to_b[i] = send_msg(&ring_a, &ring_b);
		reap_sent(&ring_a, to_b[i]);
	}
	to_a = send_msg(&ring_b, &ring_a);
	/* B's own CQE for that message lands after the read and the three messages */
	while (io_uring_cq_ready(&ring_b) < 5 || io_uring_cq_ready(&ring_a) < 1)
		usleep(1000);
	write_truth();
	wait_for_stop();

	if (io_uring_cq_ready(&ring_b) != 5 || io_uring_cq_ready(&ring_a) != 1)
		die_err(EIO, "%u CQEs on B and %u on A after the restore, expected 5 and 1",
			io_uring_cq_ready(&ring_b), io_uring_cq_ready(&ring_a));
	cqe = wait_cqe(&ring_b, "the unreaped read");
	bid = check_read(cqe, &kept, taken, 1);
	io_uring_cqe_seen(&ring_b, cqe);
	for (int i = 0; i < 3; i++)
		reap_received(&ring_b, to_b[i]);
	reap_sent(&ring_b, to_a);
	reap_received(&ring_a, to_a);
	give_back(bid);
	/* buffer selection goes on with the right bids, wrapping the ring twice */
	for (int i = 0; i < 24; i++) {
		read_batch(1 + i % 4, false);
		message_round(i % 2 ? &ring_a : &ring_b, i % 2 ? &ring_b : &ring_a);
	}
	if (io_uring_cq_ready(&ring_a) || io_uring_cq_ready(&ring_b))
		die_err(EIO, "unexpected CQEs: %u on A, %u on B", io_uring_cq_ready(&ring_a), io_uring_cq_ready(&ring_b));
	printf("verified\n");
	return 0;
}

static int busy(void)
{
	unsigned long rounds = 0;

	write_truth();
	while (!stop_requested()) {
		switch (random() % 3) {
		case 0:
			read_batch(1 + random() % 6, false);
			break;
		case 1:
			message_round(&ring_a, &ring_b);
			break;
		default:
			message_round(&ring_b, &ring_a);
		}
		rounds++;
		if (rounds % 16 == 0) {
			struct timespec ts = { 0, 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	if (io_uring_cq_ready(&ring_a) || io_uring_cq_ready(&ring_b))
		die_err(EIO, "unexpected CQEs: %u on A, %u on B", io_uring_cq_ready(&ring_a), io_uring_cq_ready(&ring_b));
	printf("%lu verified rounds\n", rounds);
	return 0;
}

int main(int argc, char **argv)
{
	bool is_busy = false;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--busy"))
			is_busy = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	srandom(getpid());
	setup();
	return is_busy ? busy() : quiet();
}

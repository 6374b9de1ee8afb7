// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_combo_direct [--flags HEX] [--sparse-buffers] [--alloc-hint]
 *
 * A reviewer-style checkpoint/restore test written with liburing: direct
 * descriptors and resource tags, the way an application that never keeps
 * normal fds uses them.
 *
 * State: a sparse registered-file table of 16 with the allocation range
 * [4, 12) (io_uring_register_file_alloc_range); slot 2 updated with a
 * tag (io_uring_register_files_update_tag) from an fd the program keeps;
 * the data file opened into the table with io_uring_prep_openat_direct(
 * IORING_FILE_INDEX_ALLOC) four times (slots 4-7), at the explicit slot 9,
 * then slot 5 closed again with io_uring_prep_close_direct, which points
 * the kernel's next allocation (its allocation hint) at slot 5, below
 * slot 9; two registered buffers, the first with a tag
 * (io_uring_register_buffers_tags; with --sparse-buffers: a sparse table
 * of 4 filled with io_uring_register_buffers_update_tag).
 *
 * After the restore (SIGUSR1): verified writes and reads through every
 * direct descriptor; with --alloc-hint, the next two IORING_FILE_INDEX_ALLOC
 * opens must get slots 5 and 8, as they do without a checkpoint (without
 * it: some free slot of the range); removing the tagged file
 * and the tagged buffer must post their tags as CQEs (that is how an
 * application learns it may reuse the memory or close the file).
 *
 * Exit 0 with "verified" only when every check passed; otherwise a
 * one-line reason on stderr and exit 1.
 */
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
/* first: our 6.18 ABI header, which liburing 2.3's older copy then defers to */
#include "lib/uring.h"
#include "lib/combo.h"

#define NR_FILES	16
#define ALLOC_START	4
#define ALLOC_LEN	8
#define TAGGED_SLOT	2
#define FILE_TAG	0xF11E7A6ULL
#define BUF_TAG		0xB0F7A6ULL
#define BLOCK		4096
#define NR_BLOCKS	8
/* liburing 2.3 adds 1 to the slot it is given: this makes IORING_FILE_INDEX_ALLOC */
#define ALLOC_SLOT	(IORING_FILE_INDEX_ALLOC - 1)

static struct io_uring ring;
static char data_path[4096];
static int kept_fd;
static uint8_t *bufs;		/* two registered buffers of BLOCK bytes */
static uint64_t seq;
static bool sparse_buffers;

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe)
		die_err(EBUSY, "SQ full");
	return sqe;
}

/* Submit what is queued and return the one CQE, which must be @ud's. */
static int complete_one(uint64_t ud, const char *what)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit_and_wait(&ring, 1);

	if (ret < 0)
		die_err(-ret, "submitting %s", what);
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret < 0)
		die_err(-ret, "waiting for %s", what);
	if (cqe->user_data != ud)
		die_err(EIO, "%s: CQE user_data %llx, expected %" PRIx64, what, (unsigned long long)cqe->user_data, ud);
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return ret;
}

static int open_direct(unsigned int slot_or_alloc)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_openat_direct(sqe, AT_FDCWD, data_path, O_RDWR, 0, slot_or_alloc);
	io_uring_sqe_set_data64(sqe, ++seq);
	return complete_one(seq, "openat_direct");
}

static int close_direct(unsigned int slot)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_close_direct(sqe, slot);
	io_uring_sqe_set_data64(sqe, ++seq);
	return complete_one(seq, "close_direct");
}

/* Write a block through @wslot from buffer 0, read it back through @rslot into buffer 1. */
static void io_through(unsigned int wslot, unsigned int rslot, uint32_t tag)
{
	uint64_t off = (uint64_t)(tag % NR_BLOCKS) * BLOCK;
	struct io_uring_sqe *sqe;
	int res;

	block_fill(bufs, tag);
	memset(bufs + BLOCK, 0, BLOCK);
	sqe = get_sqe();
	io_uring_prep_write_fixed(sqe, wslot, bufs, BLOCK, off, 0);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, ++seq);
	res = complete_one(seq, "fixed write");
	if (res != BLOCK)
		die_err(res < 0 ? -res : EIO, "write through slot %u returned %d", wslot, res);
	sqe = get_sqe();
	io_uring_prep_read_fixed(sqe, rslot, bufs + BLOCK, BLOCK, off, 1);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, ++seq);
	res = complete_one(seq, "fixed read");
	if (res != BLOCK)
		die_err(res < 0 ? -res : EIO, "read through slot %u returned %d", rslot, res);
	if (!block_holds(bufs + BLOCK, tag))
		die_err(EIO, "slot %u read back other data than slot %u wrote", rslot, wslot);
}

static void expect(int got, int want, const char *what)
{
	if (got != want)
		die_err(got < 0 ? -got : EIO, "%s returned %d, expected %d", what, got, want);
}

static void setup(unsigned int flags)
{
	struct io_uring_params p = { .flags = flags };
	__u64 buf_tags[2] = { BUF_TAG, 0 }, file_tag = FILE_TAG;
	struct iovec iov[2];
	int ret, fd;

	ret = io_uring_queue_init_params(16, &ring, &p);
	if (ret < 0)
		die_err(-ret, "io_uring_queue_init_params flags %#x", flags);
	snprintf(data_path, sizeof(data_path), "%s", scratch_path("cr_combo_direct.data"));
	fd = open(data_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, BLOCK * NR_BLOCKS))
		die("data file");
	close(fd);
	kept_fd = open(data_path, O_RDWR);
	if (kept_fd < 0)
		die("data file");

	ret = io_uring_register_files_sparse(&ring, NR_FILES);
	if (ret < 0)
		die_err(-ret, "registering a sparse file table");
	ret = io_uring_register_file_alloc_range(&ring, ALLOC_START, ALLOC_LEN);
	if (ret < 0)
		die_err(-ret, "setting the file allocation range");
	ret = io_uring_register_files_update_tag(&ring, TAGGED_SLOT, &kept_fd, &file_tag, 1);
	expect(ret, 1, "tagged update of slot 2");
	for (int slot = 4; slot < 8; slot++)
		expect(open_direct(ALLOC_SLOT), slot, "allocated open");
	expect(open_direct(9), 0, "open at slot 9");
	expect(close_direct(5), 0, "close_direct of slot 5");	/* the next allocation starts there */

	bufs = mmap(NULL, 2 * BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufs == MAP_FAILED)
		die("buffers");
	iov[0] = (struct iovec){ bufs, BLOCK };
	iov[1] = (struct iovec){ bufs + BLOCK, BLOCK };
	if (sparse_buffers) {
		/* a sparse table of 4, the buffers put in one by one, the first with its tag */
		ret = io_uring_register_buffers_sparse(&ring, 4);
		if (ret < 0)
			die_err(-ret, "registering a sparse buffer table");
		for (int i = 0; i < 2; i++) {
			ret = io_uring_register_buffers_update_tag(&ring, i, &iov[i], &buf_tags[i], 1);
			expect(ret, 1, "tagged buffer update");
		}
	} else {
		ret = io_uring_register_buffers_tags(&ring, iov, buf_tags, 2);
		if (ret < 0)
			die_err(-ret, "registering tagged buffers");
	}
	io_through(4, 9, 1);
	io_through(TAGGED_SLOT, 6, 2);
}

/* Removing a tagged resource posts its tag once the kernel let go of it. */
static void expect_tag_cqe(uint64_t tag, const char *what)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe(&ring, &cqe);	/* enters the kernel: runs the task work that posts it */

	if (ret < 0)
		die_err(-ret, "waiting for the tag of %s", what);
	if (cqe->user_data != tag || cqe->res != 0)
		die_err(EIO, "removing %s posted user_data %llx res %d, expected its tag %" PRIx64,
			what, (unsigned long long)cqe->user_data, cqe->res, tag);
	io_uring_cqe_seen(&ring, cqe);
}

static void write_truth(void)
{
	struct truth *t = truth_new();
	struct stat st;

	if (fstat(ring.ring_fd, &st))
		die("fstat ring");
	truth_int(t, "pid", getpid());
	truth_int(t, "inode", st.st_ino);
	truth_write(t);
}

int main(int argc, char **argv)
{
	unsigned int flags = 0;
	struct iovec none = { NULL, 0 };
	__u64 zero = 0;
	int minus_one = -1, ret;
	bool check_alloc_hint = false;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flags") && i + 1 < argc)
			flags = strtoul(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--sparse-buffers"))
			sparse_buffers = true;
		else if (!strcmp(argv[i], "--alloc-hint"))
			check_alloc_hint = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	setup(flags);
	write_truth();
	wait_for_stop();

	for (uint32_t tag = 10; tag < 20; tag++) {
		io_through(4, 6, tag);
		io_through(9, TAGGED_SLOT, tag + 100);
		io_through(7, 9, tag + 200);
	}
	if (check_alloc_hint) {
		expect(open_direct(ALLOC_SLOT), 5, "the first allocated open after the restore");
		expect(open_direct(ALLOC_SLOT), 8, "the second allocated open after the restore");
		io_through(5, 8, 300);
	} else {
		/* whatever the hint: a free slot of the range that works */
		int slot = open_direct(ALLOC_SLOT);

		if (slot < ALLOC_START || slot >= ALLOC_START + ALLOC_LEN || slot == 6 || slot == 7 || slot == 9)
			die_err(EIO, "allocated open after the restore returned %d", slot);
		io_through(slot, 4, 300);
	}
	ret = io_uring_register_files_update(&ring, TAGGED_SLOT, &minus_one, 1);
	expect(ret, 1, "removing the tagged file");
	expect_tag_cqe(FILE_TAG, "the tagged file");
	ret = io_uring_register_buffers_update_tag(&ring, 0, &none, &zero, 1);
	expect(ret, 1, "removing the tagged buffer");
	expect_tag_cqe(BUF_TAG, "the tagged buffer");
	if (io_uring_cq_ready(&ring))
		die_err(EIO, "%u unexpected CQEs", io_uring_cq_ready(&ring));
	printf("verified\n");
	return 0;
}

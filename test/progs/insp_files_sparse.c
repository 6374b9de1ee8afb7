// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_files_sparse: a sparse registered-file table of 64 slots (FILES2
 * with IORING_RSRC_REGISTER_SPARSE), filled at slots 3 (regular file),
 * 40 (pipe read end) and 41 (socket) with FILES_UPDATE2 and tags, and
 * an allocation range of [10, 30) for direct descriptors.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include "uring.h"

#define TABLE_SIZE	64
#define RANGE_OFF	10
#define RANGE_LEN	20

static void update_slot(struct ring *r, unsigned int slot, int fd, __u64 tag)
{
	struct io_uring_rsrc_update2 up = {
		.offset = slot, .data = (__u64)(uintptr_t)&fd,
		.tags = (__u64)(uintptr_t)&tag, .nr = 1,
	};

	if (sys_io_uring_register(r->fd, IORING_REGISTER_FILES_UPDATE2, &up, sizeof(up)) != 1)
		die("io_uring_register(FILES_UPDATE2 slot %u)", slot);
}

static void truth_entry(struct truth *t, int index, int fd, const char *type, __u64 tag)
{
	truth_obj(t, NULL);
	truth_int(t, "index", index);
	truth_arr(t, "fds");
	truth_int(t, NULL, fd);
	truth_end(t);
	truth_str(t, "path", fd_path(fd));
	truth_str(t, "type", type);
	truth_u64s(t, "tag", tag);
	truth_end(t);
}

int main(int argc, char **argv)
{
	struct io_uring_rsrc_register reg = { .nr = TABLE_SIZE, .flags = IORING_RSRC_REGISTER_SPARSE };
	struct io_uring_file_index_range range = { .off = RANGE_OFF, .len = RANGE_LEN };
	int file, pipefd[2], sv[2];
	struct truth *t;
	struct ring r;

	(void)argc;
	stop_signals_init(argv[0]);
	file = open(scratch_path("sparse.dat"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (file < 0)
		die("open %s", scratch_path("sparse.dat"));
	if (pipe(pipefd) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("pipe/socketpair");
	ring_create_or_die(&r, 8, NULL);
	reg_or_die(r.fd, IORING_REGISTER_FILES2, &reg, sizeof(reg), "FILES2 sparse");
	update_slot(&r, 3, file, 0x3333);
	update_slot(&r, 40, pipefd[0], 0x4040);
	update_slot(&r, 41, sv[0], 0x4141);
	reg_or_die(r.fd, IORING_REGISTER_FILE_ALLOC_RANGE, &range, 0, "FILE_ALLOC_RANGE");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 0, 0);
	truth_obj(t, "registered_files");
	truth_int(t, "size", TABLE_SIZE);
	truth_arr(t, "alloc_range");
	truth_int(t, NULL, RANGE_OFF);
	truth_int(t, NULL, RANGE_OFF + RANGE_LEN);
	truth_end(t);
	truth_arr(t, "entries");
	truth_entry(t, 3, file, "file", 0x3333);
	truth_entry(t, 40, pipefd[0], "pipe", 0x4040);
	truth_entry(t, 41, sv[0], "socket", 0x4141);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

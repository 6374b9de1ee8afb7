// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_files: registered files that must be told apart by identity, not
 * by path.  Three opens of the same file are registered in slots 0..2:
 *   slot 0: fd a, which also has a dup (so two fds share its description)
 *   slot 1: fd b, a second open of the same path (same path, other file)
 *   slot 2: fd c, O_RDONLY|O_NONBLOCK at offset 1234, closed after
 *           registration: only the ring holds it now
 *   slot 3: empty
 */
#define _GNU_SOURCE
#include "uring.h"

#define TABLE_SIZE	4
#define CLOSED_POS	1234

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags, 0600);

	if (fd < 0)
		die("open %s", path);
	return fd;
}

static void truth_file(struct truth *t, int index, const int *fds, int nfds, const char *path)
{
	int i;

	truth_obj(t, NULL);
	truth_int(t, "index", index);
	truth_arr(t, "fds");
	for (i = 0; i < nfds; i++)
		truth_int(t, NULL, fds[i]);
	truth_end(t);
	truth_str(t, "path", path);
	truth_str(t, "type", "file");
}

int main(int argc, char **argv)
{
	const char *path = scratch_path("shared-name.dat");
	unsigned int c_flags;
	int a, a2, b, c, table[TABLE_SIZE];
	char real[4096];
	struct truth *t;
	struct ring r;

	(void)argc;
	stop_signals_init(argv[0]);
	a = open_or_die(path, O_RDWR | O_CREAT | O_TRUNC);
	if (ftruncate(a, 8192) < 0)
		die("ftruncate %s", path);
	a2 = dup(a);
	b = open_or_die(path, O_RDWR);
	c = open_or_die(path, O_RDONLY | O_NONBLOCK);
	if (lseek(c, CLOSED_POS, SEEK_SET) != CLOSED_POS)
		die("lseek");
	c_flags = fd_file_flags(c);
	snprintf(real, sizeof(real), "%s", fd_path(a));

	ring_create_or_die(&r, 8, NULL);
	table[0] = a;
	table[1] = b;
	table[2] = c;
	table[3] = -1;
	reg_or_die(r.fd, IORING_REGISTER_FILES, table, TABLE_SIZE, "FILES");
	close(c);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 0, 0);
	truth_obj(t, "registered_files");
	truth_int(t, "size", TABLE_SIZE);
	truth_arr(t, "alloc_range");
	truth_int(t, NULL, 0);
	truth_int(t, NULL, TABLE_SIZE);
	truth_end(t);
	truth_arr(t, "entries");
	truth_file(t, 0, (int[]){ a, a2 }, 2, real);
	truth_end(t);
	truth_file(t, 1, &b, 1, real);
	truth_end(t);
	truth_file(t, 2, NULL, 0, real);
	truth_int(t, "flags", c_flags);
	truth_u64s(t, "pos", CLOSED_POS);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

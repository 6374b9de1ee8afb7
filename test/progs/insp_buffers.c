// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_buffers: three registered buffers of different sizes; the memory of
 * the middle one is munmapped after registration (the kernel keeps its
 * pages pinned, the process no longer maps them: mapped = false).
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/uio.h>
#include "uring.h"

#define NR_BUFS 3

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes", len);
	memset(p, 0x5a, len);
	return p;
}

int main(int argc, char **argv)
{
	struct iovec iov[NR_BUFS];
	struct truth *t;
	struct ring r;
	int i;

	(void)argc;
	stop_signals_init(argv[0]);
	iov[0].iov_base = map_anon(4096);
	iov[0].iov_len = 4096;
	iov[1].iov_base = map_anon(3 * 4096);
	iov[1].iov_len = 3 * 4096 - 100;
	iov[2].iov_base = (char *)map_anon(2 * 4096) + 512;
	iov[2].iov_len = 1000;
	ring_create_or_die(&r, 8, NULL);
	reg_or_die(r.fd, IORING_REGISTER_BUFFERS, iov, NR_BUFS, "BUFFERS");
	if (munmap(iov[1].iov_base, 3 * 4096) < 0)
		die("munmap registered buffer 1");

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 0, 0);
	truth_obj(t, "registered_buffers");
	truth_int(t, "size", NR_BUFS);
	truth_arr(t, "entries");
	for (i = 0; i < NR_BUFS; i++) {
		truth_obj(t, NULL);
		truth_int(t, "index", i);
		truth_u64s(t, "addr", (uintptr_t)iov[i].iov_base);
		truth_int(t, "len", (long long)iov[i].iov_len);
		truth_bool(t, "mapped", i != 1);
		truth_end(t);
	}
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

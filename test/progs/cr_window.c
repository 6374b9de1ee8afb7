// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_window [--flags HEX] --fifo PATH --expect TEXT
 *
 * A READ armed on a FIFO (user_data 0x3A1) whose writer is outside the
 * process: the test writes TEXT into the FIFO at a moment it chooses (in
 * test/window.test.ts: just after the plugin captured the ring, the
 * window in which an event's completion used to be lost).  The program
 * writes its truth file and waits for SIGUSR1; then the READ must
 * complete exactly once, with its user_data and TEXT, within 10 s, and
 * nothing else may arrive.
 *
 * Exit 0 with "verified", or one line on stderr and exit 1.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include "lib/uring.h"

#define UD_READ 0x3A1

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	const char *fifo = NULL, *expect = NULL;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	static char buf[256];
	struct ring r;
	struct truth *t;
	int fd, i;

	stop_signals_init(argv[0]);
	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--flags"))
			p.flags = strtoul(argv[i + 1], NULL, 16);
		else if (!strcmp(argv[i], "--fifo"))
			fifo = argv[i + 1];
		else if (!strcmp(argv[i], "--expect"))
			expect = argv[i + 1];
	}
	if (!fifo || !expect || i != argc)
		die_err(EINVAL, "usage: cr_window [--flags HEX] --fifo PATH --expect TEXT");
	if (mkfifo(fifo, 0600) && errno != EEXIST)
		die("mkfifo %s", fifo);
	/* read and write: the open does not wait for a writer, and the FIFO never reports EOF */
	fd = open(fifo, O_RDWR);
	if (fd < 0)
		die("open %s", fifo);
	ring_create_or_die(&r, 8, &p);
	sqe = ring_get_sqe(&r);
	sqe_rw(sqe, IORING_OP_READ, fd, buf, sizeof(buf), 0, UD_READ);
	sqe->off = (__u64)-1;
	if (ring_submit(&r, 0) != 1)
		die("submit");
	usleep(50 * 1000);
	if (ring_cq_ready(&r))
		die_err(EIO, "the READ completed before anything was written");
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);

	wait_for_stop();
	for (i = 0; i < 1000 && !ring_cq_ready(&r); i++) {
		/* runs task work (a DEFER_TASKRUN ring's local work too) without waiting */
		if (sys_io_uring_enter(r.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("io_uring_enter");
		usleep(10 * 1000);
	}
	if (!ring_cq_ready(&r))
		die_err(EIO, "the READ's completion never came (10 s)");
	cqe = ring_cqe_at(&r, 0);
	if (cqe->user_data != UD_READ || cqe->res != (int)strlen(expect))
		die_err(EIO, "completion user_data %#llx res %d, expected %#x res %zu",
			(unsigned long long)cqe->user_data, cqe->res, UD_READ, strlen(expect));
	if (memcmp(buf, expect, strlen(expect)))
		die_err(EIO, "the READ returned '%.*s', expected '%s'", cqe->res, buf, expect);
	ring_cq_advance(&r, 1);
	usleep(100 * 1000);
	sys_io_uring_enter(r.fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	if (ring_cq_ready(&r))
		die_err(EIO, "%u extra completions", ring_cq_ready(&r));
	printf("verified\n");
	return 0;
}

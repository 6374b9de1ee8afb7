// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_fork: one ring shared by a parent and its forked child, checkpointed
 * and restored as a tree (zdtm style).
 *
 * State: a plain ring advanced by 100 NOPs, held by the parent through its
 * setup fd (close-on-exec) and a second fd without close-on-exec, plus the
 * mappings; the child inherits all of them, and a registered file table
 * of 2 (the data file at index 1), which inspect compares.
 *
 * After SIGUSR1 the parent tells the child to verify: the child checks its
 * fds' close-on-exec flags, that both fds are one ring, the indices, and
 * submits a NOP (user_data 0xC41D) which it reaps through its own mapping.
 * Then the parent checks the child's NOP moved the ring it sees (one ring,
 * shared memory), its own fd flags, and that its own NOP completes.
 * Exit 0 with "verified" only if everything held.
 */
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "lib/uring.h"

static struct ring ring;
static int nocloexec_fd;

static void expect_flags(int fd, int want, const char *who)
{
	int got = fcntl(fd, F_GETFD);

	if (got < 0)
		die("%s: F_GETFD of fd %d", who, fd);
	if ((got & FD_CLOEXEC) != want)
		die_err(EIO, "%s: fd %d close-on-exec is %d, expected %d", who, fd, got & FD_CLOEXEC, want);
}

static void expect_one_ring(const char *who)
{
	struct stat a, b;

	if (fstat(ring.fd, &a) || fstat(nocloexec_fd, &b))
		die("%s: fstat", who);
	if (a.st_ino != b.st_ino)
		die_err(EIO, "%s: fds %d and %d are different rings", who, ring.fd, nocloexec_fd);
}

static void nop_and_reap(uint64_t user_data, const char *who)
{
	struct io_uring_cqe *cqe;

	sqe_nop(ring_get_sqe(&ring), user_data);
	if (ring_submit_and_wait(&ring, 1) < 0)
		die("%s: submit", who);
	cqe = ring_cqe_at(&ring, 0);
	if (!cqe || cqe->user_data != user_data || cqe->res != 0)
		die_err(EIO, "%s: no completion for user_data %" PRIu64, who, user_data);
	ring_cq_advance(&ring, 1);
}

static int child_main(uint32_t sq_head, uint32_t cq_tail)
{
	prog_name = "cr_fork(child)";
	wait_for_stop();
	expect_flags(ring.fd, FD_CLOEXEC, "child");
	expect_flags(nocloexec_fd, 0, "child");
	expect_one_ring("child");
	if (*ring.sq_head != sq_head || *ring.cq_tail != cq_tail)
		die_err(EIO, "child: indices %u %u, expected %u %u", *ring.sq_head, *ring.cq_tail, sq_head, cq_tail);
	/* the child's view of the SQ tail must include nothing the parent added */
	ring.sq_local_tail = *ring.sq_tail;
	nop_and_reap(0xC41D, "child");
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t sq_head, cq_tail;
	int files[2] = { -1, -1 }, data_fd, status;
	struct truth *t;
	pid_t child;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&ring, 8, NULL);
	nocloexec_fd = fcntl(ring.fd, F_DUPFD, 10);
	if (nocloexec_fd < 0)
		die("dup of the ring fd");
	data_fd = open(scratch_path("cr_fork.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0)
		die("data file");
	files[1] = data_fd;
	reg_or_die(ring.fd, IORING_REGISTER_FILES, files, 2, "register files");
	ring_advance_by_nops(&ring, 100);
	sq_head = *ring.sq_head;
	cq_tail = *ring.cq_tail;

	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0)
		return child_main(sq_head, cq_tail);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "child", child);
	truth_int(t, "inode", ring.inode);
	truth_int(t, "fd", ring.fd);
	truth_int(t, "fd_nocloexec", nocloexec_fd);
	truth_int(t, "sq_head", sq_head);
	truth_int(t, "cq_tail", cq_tail);
	truth_write(t);

	wait_for_stop();
	kill(child, SIGUSR1);
	if (waitpid(child, &status, 0) != child)
		die("waiting for the child");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die_err(EIO, "the child failed its checks (status %#x)", status);
	expect_flags(ring.fd, FD_CLOEXEC, "parent");
	expect_flags(nocloexec_fd, 0, "parent");
	expect_one_ring("parent");
	if (*ring.sq_head != sq_head + 1 || *ring.cq_tail != cq_tail + 1)
		die_err(EIO, "parent: indices %u %u, expected the child's NOP to make them %u %u",
			*ring.sq_head, *ring.cq_tail, sq_head + 1, cq_tail + 1);
	if (*ring.cq_head != cq_tail + 1)
		die_err(EIO, "parent: the child's reap did not move the shared CQ head");
	ring.sq_local_tail = *ring.sq_tail;
	nop_and_reap(0xBA5E, "parent");
	printf("verified\n");
	return 0;
}

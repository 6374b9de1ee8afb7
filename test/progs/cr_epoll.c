// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_epoll: rings watched by epoll sets, checkpointed and restored as a
 * tree (zdtm style), as event loops (libuv) watch theirs.
 *
 * State: ring A (plain, fds a and a2 = dup of a without close-on-exec)
 * and ring B (SQPOLL, fds b and b2 = dup of b), both drained (no CQE),
 * and four epoll sets, each entry with its own data:
 *   E1 (shared with the forked child)  A at a  EPOLLIN            0xA1
 *                                      B at b  EPOLLIN|EPOLLET    0xB1
 *   E2 (parent)                        A at a2 EPOLLIN|ONESHOT    0xA2 (armed)
 *                                      B at b2 EPOLLIN|ONESHOT    0xB2 (fired: disarmed)
 *   E3 (parent)                        A at a  EPOLLIN|EXCLUSIVE  0xA3
 *   E4 (made by the child after fork)  B at b  EPOLLIN            0xC4
 * The child's E4 is at fd CHILD_EPFD; the child also holds E1, E2, E3.
 * Every set is drained before the truth is written: nothing is ready at
 * the checkpoint.  The truth lists each process's entries (epfd, tfd,
 * events as the kernel keeps them, data).
 *
 * After SIGUSR1 the parent checks, through its own epoll_wait:
 *  - nothing is ready in E1, E2, E3 (no stale or placeholder entry);
 *  - a NOP on A: E1 reports 0xA1 twice (level), E2 0xA2 once (the
 *    oneshot fires, then stays disarmed), E3 0xA3; after the reap E1 is
 *    quiet again;
 *  - a NOP on B, not waited for (the SQ thread completes it): epoll_wait
 *    on E1 wakes with 0xB1, then reports nothing although the CQE is
 *    still there (edge); E2 says nothing (B's oneshot is disarmed);
 *  - EPOLL_CTL_MOD re-arms B at b2 in E2 (the entry exists, on the ring),
 *    and the next NOP on B wakes E2 with 0xB2;
 *  - the fd flags of a (close-on-exec) and a2 (none).
 * Then it tells the child, which checks E1 (0xA1 level on a NOP of A,
 * 0xB1 edge on a NOP of B) and its own E4 (0xC4 for B).  Exit 0 with
 * "verified" only if everything held; any failure is one line on stderr.
 *
 * "cr_epoll moved": one ring added to an epoll set under fd a, which is
 * then closed (the ring stays open at fd b = dup of a): an entry the dump
 * refuses.  After SIGUSR1 the set must still report a NOP of the ring.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include "lib/uring.h"

#define CHILD_EPFD 40

static struct ring ra, rb;
static int a2, b2, e1, e2, e3;

static void add(int ep, int fd, uint32_t events, uint64_t data, const char *what)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl ADD %s", what);
}

/*
 * Every event epoll_wait(@ep) reports within @ms, as data values; fails
 * unless they are exactly @want (in any order, each once).
 */
static void expect_events(int ep, int ms, const uint64_t *want, int n, const char *what)
{
	struct epoll_event evs[8];
	int got, i, j;

	do
		got = epoll_wait(ep, evs, 8, ms);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		die("epoll_wait: %s", what);
	if (got != n)
		die_err(EIO, "%s: %d event(s), expected %d (first data %#" PRIx64 ")", what, got, n,
			got ? (uint64_t)evs[0].data.u64 : 0);
	for (i = 0; i < n; i++) {
		for (j = 0; j < got; j++)
			if (evs[j].data.u64 == want[i] && (evs[j].events & EPOLLIN))
				break;
		if (j == got)
			die_err(EIO, "%s: no EPOLLIN event with data %#" PRIx64, what, want[i]);
	}
}

static void quiet(int ep, const char *what)
{
	expect_events(ep, 0, NULL, 0, what);
}

static void one(int ep, int ms, uint64_t data, const char *what)
{
	expect_events(ep, ms, &data, 1, what);
}

/* Queue a NOP; @wait: until its CQE is there (else the SQ thread does it later). */
static void nop(struct ring *r, uint64_t user_data, bool wait)
{
	int ret;

	sqe_nop(ring_get_sqe(r), user_data);
	ret = ring_submit(r, wait ? 1 : 0);
	if (ret < 0)
		die_err(-ret, "submitting NOP %#" PRIx64, user_data);
}

/* Reap exactly one CQE, the NOP @user_data (waiting for it if need be). */
static void reap(struct ring *r, uint64_t user_data)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (!ring_cq_ready(r)) {
		ret = ring_submit(r, 1);
		if (ret < 0)
			die_err(-ret, "waiting for NOP %#" PRIx64, user_data);
	}
	cqe = ring_cqe_at(r, 0);
	if (!cqe || cqe->user_data != user_data || cqe->res != 0 || ring_cq_ready(r) != 1)
		die_err(EIO, "expected exactly the CQE of NOP %#" PRIx64, user_data);
	ring_cq_advance(r, 1);
}

static void expect_cloexec(int fd, int want)
{
	int got = fcntl(fd, F_GETFD);

	if (got < 0)
		die("F_GETFD of fd %d", fd);
	if ((got & FD_CLOEXEC) != want)
		die_err(EIO, "fd %d close-on-exec is %d, expected %d", fd, got & FD_CLOEXEC, want);
}

static int child_main(int ready)
{
	int e4;

	prog_name = "cr_epoll(child)";
	e4 = epoll_create1(EPOLL_CLOEXEC);
	if (e4 < 0 || dup3(e4, CHILD_EPFD, O_CLOEXEC) != CHILD_EPFD)
		die("child epoll set");
	close(e4);
	add(CHILD_EPFD, rb.fd, EPOLLIN, 0xC4, "B to E4");
	quiet(CHILD_EPFD, "E4 before the checkpoint");
	if (write(ready, "", 1) != 1)
		die("telling the parent");
	close(ready);

	wait_for_stop();
	quiet(e1, "child: E1 after the restore");
	quiet(CHILD_EPFD, "child: E4 after the restore");
	/* the CQ memory is shared with the parent, whose reaps moved the head */
	ra.sq_local_tail = *ra.sq_tail;
	rb.sq_local_tail = *rb.sq_tail;
	nop(&ra, 0xC0A, true);
	one(e1, 0, 0xA1, "child: E1 on a NOP of A");
	one(e1, 0, 0xA1, "child: E1 again (level-triggered)");
	reap(&ra, 0xC0A);
	quiet(e1, "child: E1 after reaping A");
	nop(&rb, 0xC0B, false);
	one(e1, 2000, 0xB1, "child: E1 on a NOP of B");
	one(CHILD_EPFD, 2000, 0xC4, "child: E4 on a NOP of B");
	quiet(e1, "child: E1 again (edge-triggered)");
	reap(&rb, 0xC0B);
	quiet(CHILD_EPFD, "child: E4 after reaping B");
	return 0;
}

/* epoll adds EPOLLERR | EPOLLHUP to every entry; a fired oneshot keeps only its flag bits */
static void truth_watch(struct truth *t, int ep, int fd, uint32_t events, uint64_t data)
{
	if (events & ~(EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE))
		events |= EPOLLERR | EPOLLHUP;
	truth_obj(t, NULL);
	truth_int(t, "epfd", ep);
	truth_int(t, "tfd", fd);
	truth_int(t, "events", events);
	truth_u64s(t, "data", data);
	truth_end(t);
}

static void truth_watches(struct truth *t)
{
	truth_watch(t, e1, ra.fd, EPOLLIN, 0xA1);
	truth_watch(t, e1, rb.fd, EPOLLIN | EPOLLET, 0xB1);
	truth_watch(t, e2, a2, EPOLLIN | EPOLLONESHOT, 0xA2);
	truth_watch(t, e2, b2, EPOLLONESHOT, 0xB2);
	truth_watch(t, e3, ra.fd, EPOLLIN | EPOLLEXCLUSIVE, 0xA3);
}

static int moved_main(void)
{
	struct truth *t;
	int b;

	ring_create_or_die(&ra, 8, NULL);
	b = fcntl(ra.fd, F_DUPFD_CLOEXEC, 20);
	e1 = epoll_create1(EPOLL_CLOEXEC);
	if (b < 0 || e1 < 0)
		die("fds");
	add(e1, ra.fd, EPOLLIN, 0xA1, "A to E1");
	close(ra.fd);
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "closed_fd", ra.fd);
	truth_int(t, "fd", b);
	truth_int(t, "epfd", e1);
	truth_write(t);
	ra.fd = b;
	wait_for_stop();
	nop(&ra, 0xA0, true);
	one(e1, 0, 0xA1, "E1 on a NOP of A");
	reap(&ra, 0xA0);
	printf("verified\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct io_uring_params pb = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 50 };
	struct epoll_event ev;
	int sync[2], status;
	struct truth *t;
	pid_t child;
	char c;

	stop_signals_init(argv[0]);
	if (argc > 1 && !strcmp(argv[1], "moved"))
		return moved_main();
	ring_create_or_die(&ra, 8, NULL);
	ring_create_or_die(&rb, 8, &pb);
	a2 = fcntl(ra.fd, F_DUPFD, 20);
	b2 = fcntl(rb.fd, F_DUPFD, 20);
	e1 = epoll_create1(EPOLL_CLOEXEC);
	e2 = epoll_create1(EPOLL_CLOEXEC);
	e3 = epoll_create1(EPOLL_CLOEXEC);
	if (a2 < 0 || b2 < 0 || e1 < 0 || e2 < 0 || e3 < 0)
		die("fds");
	add(e1, ra.fd, EPOLLIN, 0xA1, "A to E1");
	add(e1, rb.fd, EPOLLIN | EPOLLET, 0xB1, "B to E1");
	add(e2, a2, EPOLLIN | EPOLLONESHOT, 0xA2, "A to E2");
	add(e2, b2, EPOLLIN | EPOLLONESHOT, 0xB2, "B to E2");
	add(e3, ra.fd, EPOLLIN | EPOLLEXCLUSIVE, 0xA3, "A to E3");

	/* fire B's oneshot, then drain everything: nothing is ready at the checkpoint */
	nop(&rb, 0xF1, false);
	one(e2, 2000, 0xB2, "E2 on B before the checkpoint");
	one(e1, 0, 0xB1, "E1 on B before the checkpoint");
	reap(&rb, 0xF1);
	nop(&ra, 0xF2, true);
	reap(&ra, 0xF2);
	/* A's NOP was reaped: E1 (level) is quiet, E2's A (armed oneshot) and E3 drop the stale wakeups */
	while (epoll_wait(e2, &ev, 1, 0) > 0 || epoll_wait(e3, &ev, 1, 0) > 0)
		die_err(EIO, "E2/E3 report ring A with an empty CQ");
	quiet(e1, "E1 before the checkpoint");

	if (pipe(sync))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(sync[0]);
		return child_main(sync[1]);
	}
	close(sync[1]);
	if (read(sync[0], &c, 1) != 1)
		die("the child did not set up its epoll set");
	close(sync[0]);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "child", child);
	truth_int(t, "inode_a", ra.inode);
	truth_int(t, "inode_b", rb.inode);
	truth_int(t, "child_epfd", CHILD_EPFD);
	/* what each epoll set holds, as the kernel keeps it (a fired oneshot: flag bits only) */
	truth_arr(t, "watches");
	truth_watches(t);
	truth_end(t);
	/* the child inherited E1, E2 and E3 */
	truth_arr(t, "child_watches");
	truth_watches(t);
	truth_watch(t, CHILD_EPFD, rb.fd, EPOLLIN, 0xC4);
	truth_end(t);
	truth_write(t);

	wait_for_stop();
	quiet(e1, "E1 after the restore");
	quiet(e2, "E2 after the restore");
	quiet(e3, "E3 after the restore");

	nop(&ra, 0xA0, true);
	one(e1, 0, 0xA1, "E1 on a NOP of A");
	one(e1, 0, 0xA1, "E1 again (level-triggered)");
	one(e2, 0, 0xA2, "E2 on a NOP of A (armed oneshot)");
	quiet(e2, "E2 again (the oneshot fired)");
	one(e3, 0, 0xA3, "E3 on a NOP of A (exclusive)");
	reap(&ra, 0xA0);
	quiet(e1, "E1 after reaping A");

	nop(&rb, 0xB0, false);
	one(e1, 2000, 0xB1, "E1 on a NOP of B");
	quiet(e1, "E1 again (edge-triggered)");
	quiet(e2, "E2 on a NOP of B (disarmed oneshot)");
	reap(&rb, 0xB0);

	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 0xB2;
	if (epoll_ctl(e2, EPOLL_CTL_MOD, b2, &ev))
		die("re-arming B's oneshot in E2");
	quiet(e2, "E2 after re-arming B");
	nop(&rb, 0xB3, false);
	one(e2, 2000, 0xB2, "E2 on a NOP of B (re-armed oneshot)");
	reap(&rb, 0xB3);

	expect_cloexec(ra.fd, FD_CLOEXEC);
	expect_cloexec(a2, 0);
	expect_cloexec(b2, 0);

	kill(child, SIGUSR1);
	if (waitpid(child, &status, 0) != child)
		die("waiting for the child");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die_err(EIO, "the child failed its checks (status %#x)", status);
	printf("verified\n");
	return 0;
}

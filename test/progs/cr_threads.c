// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_threads: rings and threads across a checkpoint.
 *
 *  - thread "owner": creates a SINGLE_ISSUER|DEFER_TASKRUN ring and is the
 *    only thread that submits to it (the kernel's submitter_task);
 *  - threads "shared-0" and "shared-1": submit to one plain ring, taking
 *    turns under a mutex;
 *  - thread "waiter": blocked in io_uring_enter(GETEVENTS) on a third ring
 *    with nothing in flight, until main posts it a NOP after the restore.
 *
 * Every request carries (thread << 32 | sequence) and every completion is
 * checked against it.  Writes TRUTH_FILE when all threads run, then loops
 * until SIGUSR1: main then wakes the waiter, stops the others and exits 0
 * only if no thread saw a lost, duplicated or foreign completion (one-line
 * reason on stderr otherwise).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include "lib/uring.h"

static struct ring owned, shared, waited;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;
static atomic_int ready;
static pid_t owner_tid;

static void fail(const char *who, const char *what, uint64_t got, uint64_t want)
{
	fprintf(stderr, "cr_threads: %s: %s: got %llu, expected %llu\n", who, what,
		(unsigned long long)got, (unsigned long long)want);
	exit(1);
}

/* Submit one NOP and reap exactly its completion. */
static void nop_round(struct ring *r, const char *who, uint64_t ud)
{
	struct io_uring_cqe *cqe;

	sqe_nop(ring_get_sqe(r), ud);
	if (ring_submit(r, 1) < 0)
		die("%s: submit", who);
	while (!ring_cq_ready(r))
		if (sys_io_uring_enter(r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("%s: wait", who);
	cqe = ring_cqe_at(r, 0);
	if (cqe->user_data != ud)
		fail(who, "completion", cqe->user_data, ud);
	if (ring_cq_ready(r) != 1)
		fail(who, "completions ready", ring_cq_ready(r), 1);
	ring_cq_advance(r, 1);
}

static void *owner_main(void *arg)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
	uint64_t seq = 0;

	(void)arg;
	owner_tid = syscall(SYS_gettid);
	ring_create_or_die(&owned, 8, &p);
	ready++;
	while (!stopping)
		nop_round(&owned, "owner", (1ULL << 32) | ++seq);
	printf("owner: %llu rounds\n", (unsigned long long)seq);
	return NULL;
}

static void *shared_main(void *arg)
{
	uint64_t me = (uintptr_t)arg, seq = 0;

	ready++;
	while (!stopping) {
		pthread_mutex_lock(&shared_lock);
		nop_round(&shared, me == 2 ? "shared-0" : "shared-1", (me << 32) | ++seq);
		pthread_mutex_unlock(&shared_lock);
	}
	printf("shared-%llu: %llu rounds\n", (unsigned long long)me - 2, (unsigned long long)seq);
	return NULL;
}

/* Blocks in the kernel for as long as it takes; restarts after EINTR. */
static void *waiter_main(void *arg)
{
	struct io_uring_cqe *cqe;

	(void)arg;
	ready++;
	while (!ring_cq_ready(&waited))
		if (sys_io_uring_enter(waited.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			die("waiter: wait");
	cqe = ring_cqe_at(&waited, 0);
	if (cqe->user_data != 0x5555)
		fail("waiter", "completion", cqe->user_data, 0x5555);
	ring_cq_advance(&waited, 1);
	printf("waiter: woken\n");
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t owner, s0, s1, waiter;
	struct truth *t;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&shared, 8, NULL);
	ring_create_or_die(&waited, 8, NULL);
	if (pthread_create(&owner, NULL, owner_main, NULL) || pthread_create(&s0, NULL, shared_main, (void *)2) ||
	    pthread_create(&s1, NULL, shared_main, (void *)3) || pthread_create(&waiter, NULL, waiter_main, NULL))
		die("pthread_create");
	while (ready < 4)
		usleep(1000);
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_int(t, "owner_tid", owner_tid);
	truth_int(t, "owned_inode", owned.inode);
	truth_write(t);

	wait_for_stop();
	/* the waiter is still blocked in the kernel: post it its completion */
	sqe_nop(ring_get_sqe(&waited), 0x5555);
	if (ring_submit(&waited, 0) < 0)
		die("waking the waiter");
	pthread_join(waiter, NULL);
	stopping = true;
	pthread_join(owner, NULL);
	pthread_join(s0, NULL);
	pthread_join(s1, NULL);
	printf("verified\n");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_hammer: proves that inspecting a process does not disturb it.
 *
 * It submits NOPs in batches of 1..32 in a loop, forever, each with the
 * next user_data of a sequence, and checks after every batch that
 *   - the kernel consumed exactly the SQEs it published (SQ head == tail),
 *   - exactly one CQE per NOP arrived (CQ tail == head + batch), carrying
 *     the expected user_data in order and res 0, and nothing else;
 *   - no index moved that it did not move (the SQ tail and CQ head are
 *     only ever written here).
 * Meanwhile a test inspects it many times.  On SIGTERM or SIGUSR1 it
 * rewrites its truth file with a verdict and exits 0 only if it saw
 * nothing foreign.
 *
 * The initial truth names the ring (inode, fds, setup flags, sizes) but
 * not its indices, which change all the time.
 */
#define _GNU_SOURCE
#include "uring.h"

#define ENTRIES		32
#define MAX_REPORTS	8

struct verdict {
	uint64_t batches;
	uint64_t cqes;
	uint64_t foreign;
	char reports[MAX_REPORTS][160];
};

static void report(struct verdict *v, const char *what, uint64_t a, uint64_t b)
{
	if (v->foreign < MAX_REPORTS)
		snprintf(v->reports[v->foreign], sizeof(v->reports[0]),
			 "batch %llu: %s (saw %llu, expected %llu)",
			 (unsigned long long)v->batches, what,
			 (unsigned long long)a, (unsigned long long)b);
	v->foreign++;
}

/* One batch: publish, submit, wait, then check every index and CQE. */
static void run_batch(struct ring *r, struct verdict *v, uint64_t *next_ud, unsigned int n)
{
	unsigned int sq_tail, cq_head, i;
	int ret;

	for (i = 0; i < n; i++)
		sqe_nop(ring_get_sqe(r), *next_ud + i);
	sq_tail = r->sq_local_tail;
	cq_head = *r->cq_head;
	ret = ring_submit_and_wait(r, n);
	if (ret != (int)n)
		report(v, "io_uring_enter submitted a different count", (uint64_t)ret, n);
	if (*r->sq_tail != sq_tail)
		report(v, "SQ tail moved by someone else", *r->sq_tail, sq_tail);
	if (*r->sq_head != sq_tail)
		report(v, "SQ head is not at our tail", *r->sq_head, sq_tail);
	if (*r->cq_head != cq_head)
		report(v, "CQ head moved by someone else", *r->cq_head, cq_head);
	if (ring_cq_ready(r) != n)
		report(v, "CQ holds a different number of CQEs", ring_cq_ready(r), n);
	for (i = 0; i < n && i < ring_cq_ready(r); i++) {
		struct io_uring_cqe *cqe = ring_cqe_at(r, i);

		if (cqe->user_data != *next_ud + i)
			report(v, "CQE with foreign user_data", cqe->user_data, *next_ud + i);
		if (cqe->res != 0 || cqe->flags != 0)
			report(v, "CQE with unexpected res/flags", (uint64_t)(int64_t)cqe->res, 0);
	}
	v->cqes += ring_cq_ready(r);
	ring_cq_advance(r, ring_cq_ready(r));
	*next_ud += n;
	v->batches++;
}

static void write_verdict(struct ring *r, const struct verdict *v)
{
	struct truth *t = truth_new();
	uint64_t i;

	truth_int(t, "pid", getpid());
	truth_str(t, "verdict", v->foreign ? "foreign" : "clean");
	truth_u64s(t, "batches", v->batches);
	truth_u64s(t, "cqes", v->cqes);
	truth_u64s(t, "foreign", v->foreign);
	truth_arr(t, "reports");
	for (i = 0; i < v->foreign && i < MAX_REPORTS; i++)
		truth_str(t, NULL, v->reports[i]);
	truth_end(t);
	truth_int(t, "sq_head", *r->sq_head);
	truth_int(t, "cq_tail", *r->cq_tail);
	truth_write(t);
}

int main(int argc, char **argv)
{
	static struct verdict v;
	uint64_t next_ud = 1;
	struct truth *t;
	struct ring r;
	unsigned int n = 1;

	(void)argc;
	stop_signals_init(argv[0]);
	ring_create_or_die(&r, ENTRIES, NULL);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_int(t, "inode", (long long)r.inode);
	truth_arr(t, "fds");
	truth_int(t, NULL, r.fd);
	truth_end(t);
	truth_int(t, "setup_flags", r.flags);
	truth_int(t, "sq_entries", r.p.sq_entries);
	truth_int(t, "cq_entries", r.p.cq_entries);
	truth_end(t);
	truth_end(t);
	truth_write(t);

	while (!stop_requested()) {
		run_batch(&r, &v, &next_ud, n);
		n = n % ENTRIES + 1;
	}
	wait_for_stop();
	write_verdict(&r, &v);
	return v.foreign ? 1 : 0;
}

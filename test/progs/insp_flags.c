// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_flags: one process, one ring per interesting set of setup flags.
 * Ring i (counting from 1) runs i*3 NOPs, all reaped, so every ring has
 * its own indices.  The disabled ring runs nothing.
 */
#define _GNU_SOURCE
#include "uring.h"

#define SQPOLL_CPU	1
#define SQPOLL_IDLE_MS	1500

struct flag_case {
	const char *name;
	unsigned int flags;
	unsigned int entries;
	unsigned int cq_entries;
};

static const struct flag_case cases[] = {
	{ "cqsize", IORING_SETUP_CQSIZE, 8, 64 },
	{ "sqpoll_aff", IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, 16, 0 },
	{ "coop_taskrun_flag", IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 8, 0 },
	{ "single_issuer_defer", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 8, 0 },
	{ "sqe128", IORING_SETUP_SQE128, 8, 0 },
	{ "cqe32", IORING_SETUP_CQE32, 8, 0 },
	{ "no_sqarray", IORING_SETUP_NO_SQARRAY, 8, 0 },
	{ "submit_all", IORING_SETUP_SUBMIT_ALL, 4, 0 },
	{ "no_mmap", IORING_SETUP_NO_MMAP, 8, 0 },
	{ "cqe_mixed", IORING_SETUP_CQE_MIXED, 8, 0 },
	{ "clamp", IORING_SETUP_CLAMP | IORING_SETUP_CQSIZE, 8, 1 << 24 },
	{ "r_disabled", IORING_SETUP_R_DISABLED, 32, 0 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void create_case(struct ring *r, const struct flag_case *c)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = c->flags;
	p.cq_entries = c->cq_entries;
	if (c->flags & IORING_SETUP_SQ_AFF)
		p.sq_thread_cpu = SQPOLL_CPU;
	if (c->flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = SQPOLL_IDLE_MS;
	ring_create_or_die(r, c->entries, &p);
}

static void write_sqpoll(struct truth *t)
{
	pid_t tid;

	if (find_threads("iou-sqp-", &tid, 1) != 1)
		die_err(ESRCH, "expected exactly one iou-sqp thread");
	truth_obj(t, "sqpoll");
	truth_int(t, "thread_pid", tid);
	truth_int(t, "cpu", SQPOLL_CPU);
	truth_int(t, "idle_ms", SQPOLL_IDLE_MS);
	truth_arr(t, "shared_with");
	truth_end(t);
	truth_end(t);
}

int main(int argc, char **argv)
{
	struct ring rings[NCASES];
	struct truth *t;
	unsigned int i;

	(void)argc;
	stop_signals_init(argv[0]);
	for (i = 0; i < NCASES; i++) {
		create_case(&rings[i], &cases[i]);
		if (!(cases[i].flags & IORING_SETUP_R_DISABLED))
			ring_advance_by_nops(&rings[i], (i + 1) * 3);
	}

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	for (i = 0; i < NCASES; i++) {
		struct ring *r = &rings[i];
		unsigned int n = (r->flags & IORING_SETUP_R_DISABLED) ? 0 : (i + 1) * 3;

		truth_obj(t, NULL);
		truth_str(t, "_name", cases[i].name);
		truth_ring_common(t, r, &r->fd, 1, n, n);
		if (r->flags & IORING_SETUP_SQPOLL)
			write_sqpoll(t);
		else
			truth_null(t, "sqpoll");
		truth_end(t);
	}
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}

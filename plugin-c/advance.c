// SPDX-License-Identifier: GPL-2.0
/*
 * Index advance for restored io_uring rings.  See advance.h.
 *
 * Up to 2^32 ops can be needed, so the loop runs inside the task: the
 * freestanding blob from plugin-c/blob/advance_blob.c is copied into
 * scratch memory and runs until it traps (int3) back, once per
 * progress_every ops and once at the end.  A ptrace round trip per batch
 * would cost more than the batch itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "advance.h"
#include "blob/advance_abi.h"
#include "advance_blob.h"	/* generated: make -C plugin-c/blob */

#define PAGE_SZ		4096ul
#define BLOB_STACK	(64 * 1024ul)
#define HELPER_ENTRIES	4096u

struct view {
	unsigned long addr;	/* temporary mapping, 0 if none */
	unsigned long len;
};

struct advance_ctx {
	struct remote *r;
	const struct advance_opts *opts;
	struct advance_stats *stats;
	unsigned long code, data;	/* scratch areas */
	unsigned long args;		/* struct blob_args in data */
	struct view ring_view, sqes_view, h_ring_view, h_sqes_view;
	int helper_fd;
	struct ring_params helper;
	struct timespec start;
};

static unsigned long page_up(unsigned long v)
{
	return (v + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
}

static unsigned int cqe_size(const struct ring_params *p)
{
	return p->flags & RING_SETUP_CQE32 ? 32 : 16;
}

static unsigned int sqe_size(const struct ring_params *p)
{
	return p->flags & RING_SETUP_SQE128 ? 128 : 64;
}

unsigned long advance_ring_region_len(const struct ring_params *p)
{
	unsigned long cq = p->cq_off.cqes + (unsigned long)p->cq_entries * cqe_size(p);
	unsigned long sq = 0;

	if (!(p->flags & RING_SETUP_NO_SQARRAY))
		sq = p->sq_off.array + (unsigned long)p->sq_entries * 4;
	return page_up(cq > sq ? cq : sq);
}

unsigned long advance_sqes_region_len(const struct ring_params *p)
{
	return page_up((unsigned long)p->sq_entries * sqe_size(p));
}

/*
 * Period of the multishot timeout a ring without an fd posts its CQ-only
 * completions with (run_cq_self in the blob).  DEFER_TASKRUN rings post a
 * tick only while the blob waits in GETEVENTS, so ticks can be as fast as
 * the kernel goes.  Other rings run the tick's task work on every return
 * to user space, where a 1 ns timer re-fires inside the same task-work
 * loop and fills the CQ before the blob can reap it (the kernel then ends
 * the multishot, which costs the blob one more SQE to re-arm): give them
 * time to reap between ticks.
 */
static long tick_ns(const struct ring_params *p)
{
	return p->flags & RING_SETUP_DEFER_TASKRUN ? 1 : 20000;
}

static int errmsg(struct remote *r, int err, const char *what)
{
	snprintf(r->err, sizeof(r->err), "index advance: %s: %s", what, strerror(-err));
	return err;
}

static long sys_err(long ret)
{
	return ret < 0 && ret > -4096 ? ret : 0;
}

static int map_view(struct remote *r, int fd, unsigned long len,
		    unsigned long long off, struct view *v)
{
	long ret;

	ret = remote_syscall(r, SYS_mmap, 0, len, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_POPULATE, fd, off);
	if (sys_err(ret))
		return (int)ret;
	v->addr = ret;
	v->len = len;
	return 0;
}

static void unmap_view(struct remote *r, struct view *v)
{
	if (v->addr)
		remote_syscall(r, SYS_munmap, v->addr, v->len, 0, 0, 0, 0);
	v->addr = 0;
}

static void describe(struct blob_ring *b, const struct ring_params *p, int fd,
		     bool registered, unsigned long ring, unsigned long sqes)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->enter_flags = registered ? RING_ENTER_REGISTERED_RING : 0;
	b->setup_flags = p->flags;
	b->sq_entries = p->sq_entries;
	b->cq_entries = p->cq_entries;
	b->sqe_size = sqe_size(p);
	b->cqe_size = cqe_size(p);
	b->sq_head = ring + p->sq_off.head;
	b->sq_tail = ring + p->sq_off.tail;
	b->sq_flags = ring + p->sq_off.flags;
	b->sq_array = p->flags & RING_SETUP_NO_SQARRAY ? 0 : ring + p->sq_off.array;
	b->sqes = sqes;
	b->cq_head = ring + p->cq_off.head;
	b->cq_tail = ring + p->cq_off.tail;
	b->cqes = ring + p->cq_off.cqes;
}

/*
 * Copy the blob in and make it executable (never writable and
 * executable), once per remote_open(): every ring of the task runs the
 * same code with a fresh argument block, and remote_close() unmaps it.
 */
static int load_blob(struct advance_ctx *c)
{
	struct remote *r = c->r;
	unsigned long code = 0, data = 0;
	long ret;
	int err;

	if (r->blob_code && r->blob_data) {
		c->code = r->blob_code;
		c->data = r->blob_data;
		return 0;
	}
	err = remote_alloc(r, sizeof(advance_blob), 0, &code);
	if (!err)
		err = remote_write(r, code, advance_blob, sizeof(advance_blob));
	if (!err) {
		ret = remote_syscall(r, SYS_mprotect, code, page_up(sizeof(advance_blob)),
				     PROT_READ | PROT_EXEC, 0, 0, 0);
		if (ret)
			err = errmsg(r, (int)ret, "mprotect of the blob");
	}
	if (!err)
		err = remote_alloc(r, PAGE_SZ + BLOB_STACK, 0, &data);
	if (err) {
		if (code)
			remote_free(r, code);
		return err;
	}
	c->code = r->blob_code = code;
	c->data = r->blob_data = data;
	return 0;
}

/*
 * A second, plain ring in the task whose MSG_RING SQEs post CQEs to the
 * target without consuming target SQEs.  Created only when the CQ tail
 * must move further than the SQ head.
 */
static int create_helper(struct advance_ctx *c, const struct advance_ring *ring)
{
	struct remote *r = c->r;
	unsigned long params_at = c->data + sizeof(struct blob_args);
	unsigned int entries = ring->params.cq_entries < HELPER_ENTRIES ?
			       ring->params.cq_entries : HELPER_ENTRIES;
	long fd;
	int err;

	memset(&c->helper, 0, sizeof(c->helper));
	err = remote_write(r, params_at, &c->helper, sizeof(c->helper));
	if (err)
		return err;
	fd = remote_syscall(r, RING_NR_SETUP, entries, params_at, 0, 0, 0, 0);
	if (fd < 0)
		return errmsg(r, (int)fd, "creating the helper ring");
	c->helper_fd = (int)fd;
	err = remote_read(r, params_at, &c->helper, sizeof(c->helper));
	if (err)
		return err;
	err = map_view(r, c->helper_fd, advance_ring_region_len(&c->helper),
		       RING_OFF_SQ_RING, &c->h_ring_view);
	if (!err)
		err = map_view(r, c->helper_fd, advance_sqes_region_len(&c->helper),
			       RING_OFF_SQES, &c->h_sqes_view);
	return err ? errmsg(r, err, "mapping the helper ring") : 0;
}

static int map_target(struct advance_ctx *c, const struct advance_ring *ring,
		      unsigned long *ring_addr, unsigned long *sqes_addr)
{
	int err = 0;

	*ring_addr = ring->ring_addr;
	*sqes_addr = ring->sqes_addr;
	if (!*ring_addr) {
		err = map_view(c->r, ring->fd, advance_ring_region_len(&ring->params),
			       RING_OFF_SQ_RING, &c->ring_view);
		*ring_addr = c->ring_view.addr;
	}
	if (!err && !*sqes_addr) {
		err = map_view(c->r, ring->fd, advance_sqes_region_len(&ring->params),
			       RING_OFF_SQES, &c->sqes_view);
		*sqes_addr = c->sqes_view.addr;
	}
	return err ? errmsg(c->r, err, "mapping the target ring") : 0;
}

static double elapsed(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
}

/* remote_run() callback: true once the blob reports it finished. */
static bool blob_finished(struct remote *r, void *priv)
{
	struct advance_ctx *c = priv;
	struct blob_args a;
	double secs;

	if (remote_read(r, c->args, &a, sizeof(a)))
		return true;
	if (a.state != BLOB_PROGRESS)
		return true;
	c->stats->progress_traps++;
	secs = elapsed(&c->start);
	if (c->opts && c->opts->progress)
		c->opts->progress(c->opts->priv, a.done, a.total,
				  secs > 0 ? a.done / secs : 0);
	return false;
}

static const char *where_name(uint32_t where)
{
	static const char *const names[] = {
		[BLOB_AT_NONE] = "no stage",
		[BLOB_AT_NOT_EMPTY] = "ring not empty at start",
		[BLOB_AT_SUBMIT] = "submitting",
		[BLOB_AT_SQPOLL] = "waiting for the SQ thread",
		[BLOB_AT_WAIT] = "waiting for CQEs",
		[BLOB_AT_CQE] = "an op completed with an error",
		[BLOB_AT_STRAY_CQE] = "unexpected CQE count",
		[BLOB_AT_FINAL] = "final indices differ from targets",
		[BLOB_AT_SELF_POST] = "posting CQEs with the ring's own multishot timeout",
	};

	return where < sizeof(names) / sizeof(names[0]) ? names[where] : "?";
}

static int run_blob(struct advance_ctx *c, struct blob_args *a)
{
	struct remote *r = c->r;
	int err;

	c->args = c->data;
	err = remote_write(r, c->args, a, sizeof(*a));
	if (err)
		return err;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	err = remote_run(r, c->code, c->args, c->data + PAGE_SZ + BLOB_STACK,
			 blob_finished, c);
	c->stats->seconds = elapsed(&c->start);
	if (err)
		return err;
	err = remote_read(r, c->args, a, sizeof(*a));
	if (err)
		return err;
	if (a->state != BLOB_DONE) {
		snprintf(r->err, sizeof(r->err), "index advance: blob trapped in unknown state %u",
			 a->state);
		return -EFAULT;
	}
	c->stats->ops = a->done;
	c->stats->ops_per_sec = c->stats->seconds > 0 ? a->done / c->stats->seconds : 0;
	if (a->err || a->err_where) {
		snprintf(r->err, sizeof(r->err),
			 "index advance failed after %llu of %llu ops while %s: %lld (%s)",
			 (unsigned long long)a->done, (unsigned long long)a->total,
			 where_name(a->err_where), (long long)a->err,
			 a->err < 0 ? strerror((int)-a->err) : "count");
		return a->err < 0 ? (int)a->err : -EPROTO;
	}
	return 0;
}

static bool need_helper(struct advance_ctx *c, unsigned long ring_addr,
			const struct ring_params *p, uint32_t sq_head,
			uint32_t cq_tail, int *err)
{
	uint32_t cur_sq = 0, cur_cq = 0;

	*err = remote_read(c->r, ring_addr + p->sq_off.head, &cur_sq, 4);
	if (!*err)
		*err = remote_read(c->r, ring_addr + p->cq_off.tail, &cur_cq, 4);
	return (uint32_t)(cq_tail - cur_cq) > (uint32_t)(sq_head - cur_sq);
}

static void cleanup(struct advance_ctx *c)
{
	struct remote *r = c->r;

	unmap_view(r, &c->h_sqes_view);
	unmap_view(r, &c->h_ring_view);
	if (c->helper_fd >= 0)
		remote_syscall(r, SYS_close, c->helper_fd, 0, 0, 0, 0, 0);
	unmap_view(r, &c->sqes_view);
	unmap_view(r, &c->ring_view);
	/* the blob stays loaded for the task's next ring (load_blob) */
}

int advance_ring(struct remote *r, const struct advance_ring *ring,
		 uint32_t sq_head, uint32_t cq_tail,
		 const struct advance_opts *opts, struct advance_stats *stats)
{
	struct advance_stats local_stats;
	struct advance_ctx c = { .r = r, .opts = opts, .helper_fd = -1 };
	unsigned long ring_addr, sqes_addr;
	struct blob_args a;
	char saved_err[REMOTE_ERR_LEN];
	int err;

	c.stats = stats ? stats : &local_stats;
	memset(c.stats, 0, sizeof(*c.stats));
	memset(&a, 0, sizeof(a));
	err = load_blob(&c);
	if (!err)
		err = map_target(&c, ring, &ring_addr, &sqes_addr);
	/* a ring named by its registered index has no fd to MSG_RING: the blob posts on its own */
	if (!err && !ring->registered &&
	    need_helper(&c, ring_addr, &ring->params, sq_head, cq_tail, &err))
		err = create_helper(&c, ring);
	if (!err) {
		describe(&a.target, &ring->params, ring->fd, ring->registered,
			 ring_addr, sqes_addr);
		describe(&a.helper, &c.helper, c.helper_fd, false, c.h_ring_view.addr,
			 c.h_sqes_view.addr);
		a.tick.tv_nsec = tick_ns(&ring->params);
		a.sq_target = sq_head;
		a.cq_target = cq_tail;
		a.keep_cq_head = ring->keep_cq_head;
		a.cq_head_limit = ring->cq_head;
		a.progress_every = opts ? opts->progress_every : 0;
		err = run_blob(&c, &a);
	}
	/* cleanup must not overwrite the reason for the failure */
	snprintf(saved_err, sizeof(saved_err), "%s", r->err);
	cleanup(&c);
	snprintf(r->err, sizeof(r->err), "%s", err ? saved_err : "");
	return err;
}

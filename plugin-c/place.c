// SPDX-License-Identifier: GPL-2.0
/*
 * Exact placement of io_uring mappings.  See place.h for why.
 *
 * The kernel's choice for mmap(NULL, len) on x86_64 (6.18, verified by
 * the harness): top-down from mmap_base, the highest free gap below
 * mmap_base that holds len bytes, at that gap's top end; only if none
 * fits, bottom-up from TASK_UNMAPPED_BASE.  So:
 *
 *   attempt 1: fill the target's own gap except the target range, and
 *              every gap above it that could hold len bytes.  Enough
 *              whenever the target lies below mmap_base (the normal
 *              case: the ring was placed by the same allocator).
 *   attempt 2: if the kernel chose another address (the restored task's
 *              randomized mmap_base lies below the target), also fill
 *              every gap below the target, leaving the target as the
 *              only fitting hole for either search direction.
 *
 * Placeholders are PROT_NONE, MAP_NORESERVE anonymous mappings: they
 * cost a VMA each and no memory or commit charge.  They are placed with
 * MAP_FIXED_NOREPLACE, so a race with another mapping fails instead of
 * clobbering it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "place.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE_SZ	4096ul

#define fill_list place_keep

static int fill_add(struct fill_list *fl, unsigned long start, unsigned long end)
{
	struct remote_range *tmp;

	if (start >= end)
		return 0;
	if (fl->nr == fl->cap) {
		fl->cap = fl->cap ? fl->cap * 2 : 64;
		tmp = realloc(fl->r, fl->cap * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		fl->r = tmp;
	}
	fl->r[fl->nr].start = start;
	fl->r[fl->nr].end = end;
	fl->nr++;
	return 0;
}

static long sys_err(long ret)
{
	return ret < 0 && ret > -4096 ? ret : 0;
}

/* Remove placeholders [from, fl->nr); keep going on errors. */
static int unfill(struct remote *r, struct fill_list *fl, int from)
{
	int i, ret = 0;
	long err;

	for (i = fl->nr - 1; i >= from; i--) {
		err = remote_syscall(r, SYS_munmap, fl->r[i].start,
				     fl->r[i].end - fl->r[i].start, 0, 0, 0, 0);
		if (err && !ret)
			ret = (int)err;
	}
	fl->nr = from;
	return ret;
}

static int fill_one(struct remote *r, unsigned long start, unsigned long end)
{
	long ret;

	ret = remote_syscall(r, SYS_mmap, start, end - start, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			     MAP_FIXED_NOREPLACE, -1, 0);
	if (sys_err(ret))
		return (int)ret;
	if ((unsigned long)ret != start) {
		remote_syscall(r, SYS_munmap, ret, end - start, 0, 0, 0, 0);
		return -EEXIST;
	}
	return 0;
}

/*
 * Which free ranges to fill.  @below: also fill the gaps beneath the
 * target (attempt 2).  Gaps too small for the region need no filling:
 * the allocator cannot choose them.
 */
static int plan_fill(struct remote *r, const struct place_req *req,
		     bool below, struct fill_list *fl)
{
	/*
	 * From the first page, not from mmap_min_addr: the allocator searches
	 * down to PAGE_SIZE and only then asks whether the caller may map
	 * there, which a task with CAP_SYS_RAWIO may (seen on Linux 6.1: a
	 * ring placed at 0xf000).  Fills the task may not make there are
	 * dropped by try_place(): the kernel cannot place the ring there either.
	 */
	unsigned long lo = PAGE_SZ, t_end = req->addr + req->len;
	unsigned long gs, ge;
	const struct remote_range *v = NULL;
	int nr, i, ret = 0;

	nr = remote_ranges(r, &v);
	if (nr < 0)
		return nr;
	gs = lo;
	for (i = 0; i <= nr && !ret; i++) {
		ge = i < nr && v[i].start < REMOTE_TASK_TOP ? v[i].start : REMOTE_TASK_TOP;
		if (i < nr && req->addr < v[i].end && v[i].start < t_end) {
			ret = -EEXIST;
			break;
		}
		if (ge > gs && req->addr >= gs && t_end <= ge) {
			/* the target's own gap: everything but the target */
			ret = fill_add(fl, gs, req->addr);
			if (!ret)
				ret = fill_add(fl, t_end, ge);
		} else if (ge > gs && ge - gs >= req->len && (below || gs >= t_end)) {
			ret = fill_add(fl, gs, ge);
		}
		if (i < nr && v[i].end > gs)
			gs = v[i].end;
		if (gs >= REMOTE_TASK_TOP)
			break;
	}
	return ret;
}

static int try_place(struct remote *r, const struct place_req *req, bool below,
		     struct fill_list *fl, unsigned long *got)
{
	int ret, i, start = fl->nr;
	long addr;

	ret = plan_fill(r, req, below, fl);
	if (ret == -EEXIST)
		return -EEXIST;
	if (ret)
		return ret;
	for (i = start; i < fl->nr; i++) {
		ret = fill_one(r, fl->r[i].start, fl->r[i].end);
		if ((ret == -EPERM || ret == -EACCES) && fl->r[i].start < remote_mmap_min_addr()) {
			/* below mmap_min_addr without CAP_SYS_RAWIO: closed to the ring too */
			memmove(&fl->r[i], &fl->r[i + 1], (fl->nr - i - 1) * sizeof(fl->r[0]));
			fl->nr--;
			i--;
			continue;
		}
		if (ret) {
			/* fl->r[i] was not mapped: drop it before unfilling */
			memmove(&fl->r[i], &fl->r[i + 1], (fl->nr - i - 1) * sizeof(fl->r[0]));
			fl->nr--;
			return ret;
		}
	}
	addr = remote_syscall(r, SYS_mmap, 0, req->len, req->prot, req->flags,
			      req->fd, req->offset);
	if (sys_err(addr))
		return (int)addr;
	*got = (unsigned long)addr;
	if (*got != req->addr)
		remote_syscall(r, SYS_munmap, *got, req->len, 0, 0, 0, 0);
	return 0;
}

static const struct place_part *part_at(const struct place_req *req,
					unsigned long a)
{
	int i;

	for (i = 0; i < req->nr_parts; i++)
		if (a >= req->parts[i].start && a < req->parts[i].end)
			return &req->parts[i];
	return NULL;
}

/*
 * Recreate a split or partly unmapped VMA from the full mapping: the
 * driver ignores the low bits of the offset, so a piece cannot be mapped
 * on its own; unmap what was not mapped and re-protect what differs.
 */
static int trim_to_parts(struct remote *r, const struct place_req *req)
{
	unsigned long a, end = req->addr + req->len;
	const struct place_part *p;
	long ret;

	for (a = req->addr; a < end; a += PAGE_SZ) {
		p = part_at(req, a);
		if (!p)
			ret = remote_syscall(r, SYS_munmap, a, PAGE_SZ, 0, 0, 0, 0);
		else if (p->prot != req->prot)
			ret = remote_syscall(r, SYS_mprotect, a, PAGE_SZ, p->prot, 0, 0, 0);
		else
			ret = 0;
		if (ret)
			return (int)ret;
	}
	return 0;
}

static int check_req(struct remote *r, const struct place_req *req)
{
	int i;

	if (!req->addr || (req->addr | req->len) & (PAGE_SZ - 1) || !req->len)
		return -EINVAL;
	if (req->addr < remote_mmap_min_addr() || req->addr + req->len > REMOTE_TASK_TOP)
		return -EINVAL;
	for (i = 0; i < req->nr_parts; i++)
		if (req->parts[i].start < req->addr ||
		    req->parts[i].end > req->addr + req->len ||
		    (req->parts[i].start | req->parts[i].end) & (PAGE_SZ - 1))
			return -EINVAL;
	(void)r;
	return 0;
}

bool place_keep_overlaps(const struct place_keep *keep, unsigned long start,
			 unsigned long end)
{
	int i;

	for (i = 0; keep && i < keep->nr; i++)
		if (keep->r[i].start < end && start < keep->r[i].end)
			return true;
	return false;
}

/*
 * Cut [start, end) out of the kept placeholders: the next target may lie
 * in a gap an earlier placement filled.  Anything else mapped there is
 * left for plan_fill() to find (-EEXIST).
 */
static int uncover(struct remote *r, struct place_keep *fl, unsigned long start,
		   unsigned long end)
{
	unsigned long s, e, ps, pe;
	int i, ret;
	long err;

	for (i = 0; i < fl->nr; i++) {
		ps = fl->r[i].start;
		pe = fl->r[i].end;
		if (pe <= start || ps >= end)
			continue;
		s = ps > start ? ps : start;
		e = pe < end ? pe : end;
		err = remote_syscall(r, SYS_munmap, s, e - s, 0, 0, 0, 0);
		if (err)
			return (int)err;
		if (ps < s && pe > e) {
			fl->r[i].end = s;
			ret = fill_add(fl, e, pe);	/* may move fl->r */
			if (ret) {
				/* still mapped, no longer listed: unmap it now */
				remote_syscall(r, SYS_munmap, e, pe - e, 0, 0, 0, 0);
				return ret;
			}
		} else if (ps < s) {
			fl->r[i].end = s;
		} else if (pe > e) {
			fl->r[i].start = e;
		} else {
			fl->r[i] = fl->r[--fl->nr];
			i--;
		}
	}
	return 0;
}

int place_release(struct remote *r, struct place_keep *keep)
{
	int ret = unfill(r, keep, 0);

	free(keep->r);
	keep->r = NULL;
	keep->cap = 0;
	keep->below = false;
	return ret;
}

int place_mapping(struct remote *r, const struct place_req *req,
		  struct place_stats *stats)
{
	return place_mapping_keep(r, req, stats, NULL);
}

int place_mapping_keep(struct remote *r, const struct place_req *req,
		       struct place_stats *stats, struct place_keep *keep)
{
	struct place_keep own = { 0 };
	struct place_keep *fl = keep ? keep : &own;
	unsigned long got = 0;
	int ret, attempt, cleanup = 0, first;

	ret = check_req(r, req);
	if (ret) {
		snprintf(r->err, sizeof(r->err), "bad placement request for %#lx+%#lx",
			 req->addr, req->len);
		return ret;
	}
	ret = uncover(r, fl, req->addr, req->addr + req->len);
	first = fl->nr;
	for (attempt = 1; !ret && attempt <= 2; attempt++) {
		ret = try_place(r, req, attempt == 2 || fl->below, fl, &got);
		if (ret || got == req->addr)
			break;
	}
	if (stats) {
		stats->placeholders = fl->nr;
		stats->new_placeholders = fl->nr - first;
		stats->attempts = attempt > 2 ? 2 : attempt;
	}
	if (!keep || ret || got != req->addr)
		cleanup = place_release(r, fl);
	else if (attempt > 1)
		fl->below = true;
	if (ret == -EEXIST) {
		snprintf(r->err, sizeof(r->err),
			 "cannot place ring at %#lx+%#lx: the range is not free in task %d",
			 req->addr, req->len, r->tgid);
		return ret;
	}
	if (ret) {
		snprintf(r->err, sizeof(r->err),
			 "placing ring at %#lx+%#lx in task %d failed: %s",
			 req->addr, req->len, r->tgid, strerror(-ret));
		return ret;
	}
	if (got != req->addr) {
		snprintf(r->err, sizeof(r->err),
			 "kernel placed the ring at %#lx, not %#lx, with every other gap filled",
			 got, req->addr);
		return -EADDRNOTAVAIL;
	}
	if (cleanup) {
		remote_syscall(r, SYS_munmap, req->addr, req->len, 0, 0, 0, 0);
		snprintf(r->err, sizeof(r->err), "removing placeholders in task %d failed: %s",
			 r->tgid, strerror(-cleanup));
		return cleanup;
	}
	if (req->nr_parts) {
		ret = trim_to_parts(r, req);
		if (ret) {
			remote_syscall(r, SYS_munmap, req->addr, req->len, 0, 0, 0, 0);
			snprintf(r->err, sizeof(r->err), "trimming ring at %#lx to its recorded parts failed: %s",
				 req->addr, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

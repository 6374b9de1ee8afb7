/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Map an io_uring region (or any mapping whose driver refuses address
 * hints) at an exact address inside a remote task.
 *
 * io_uring's get_unmapped_area rejects every non-zero address (hint,
 * MAP_FIXED, MAP_FIXED_NOREPLACE, mremap), so the only way to choose the
 * address is to leave the kernel no other choice: fill every free gap it
 * could pick with temporary PROT_NONE placeholders, mmap(NULL), then
 * remove the placeholders.
 */
#ifndef CRIU_URING_PLACE_H
#define CRIU_URING_PLACE_H

#include "inject.h"

/* A sub-range of the region that must stay mapped, with its protection. */
struct place_part {
	unsigned long start;	/* absolute address, page aligned */
	unsigned long end;	/* exclusive */
	int prot;
};

struct place_req {
	unsigned long addr;	/* where the region's first page must land */
	unsigned long len;	/* bytes mapped from the region's start */
	int prot;		/* PROT_* as recorded */
	int flags;		/* MAP_SHARED or MAP_PRIVATE, optionally MAP_POPULATE */
	int fd;			/* ring fd inside the task */
	unsigned long long offset;	/* mmap offset: IORING_OFF_* */
	/*
	 * Optional: the recorded VMA was split or partly unmapped.  Then
	 * only these ranges stay mapped (each with its own protection) and
	 * the rest of [addr, addr + len) is unmapped again.  The unmapped
	 * parts must be free in the task now.
	 */
	const struct place_part *parts;
	int nr_parts;
};

/* Placement statistics, for logs and tests. */
struct place_stats {
	int placeholders;	/* placeholders in place when the region was mapped */
	int new_placeholders;	/* of them, made by this placement */
	int attempts;		/* 1: gaps above the target sufficed; 2: all gaps */
};

int place_mapping(struct remote *r, const struct place_req *req,
		  struct place_stats *stats);

/*
 * Placeholders kept between placements in one task.  Rings of a process
 * usually lie next to each other: the gaps one placement fills are the
 * gaps the next one needs filled, so a caller that places several
 * mappings in a row keeps them (place_mapping_keep()) and removes them
 * with place_release() before anything that may map or unmap runs in
 * the task, and always before the task resumes.  A later target inside a
 * kept placeholder is cut out of it first.  After a second attempt, which
 * fills every gap that could hold the region (an mmap(NULL) or a scratch
 * area of the task may then find no room), @below is set: the caller
 * keeps them only for the placements that come next.
 */
struct place_keep {
	struct remote_range *r;
	int nr;
	int cap;
	bool below;	/* a second attempt's placeholders too: release before anything but a placement */
};

int place_mapping_keep(struct remote *r, const struct place_req *req,
		       struct place_stats *stats, struct place_keep *keep);
/* Remove every kept placeholder; the first error, after trying them all. */
int place_release(struct remote *r, struct place_keep *keep);
/* Does [start, end) meet a kept placeholder? */
bool place_keep_overlaps(const struct place_keep *keep, unsigned long start,
			 unsigned long end);

#endif

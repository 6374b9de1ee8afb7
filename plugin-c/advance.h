/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bring a freshly created ring's kernel-private cached SQ head and cached
 * CQ tail to exact 32-bit values.  No kernel API sets them: they only
 * move when SQEs are consumed and CQEs posted, so the engine consumes
 * and posts, inside the task (see docs/restore-engine.md).
 *
 * Afterwards the ring's shared memory holds SQ head == tail == sq_head
 * and CQ head == tail == cq_tail, no CQE pending and nothing on the
 * overflow list; the caller then overwrites the shared memory it has to
 * (SQ array, SQEs, unconsumed CQEs, sq_dropped, cq_overflow, flags) with
 * remote_write().
 *
 * With keep_cq_head, the CQ head stops at cq_head (the head the caller
 * writes back) once the advance reaches it, and the CQEs from there to
 * cq_tail stay in the CQ; the CQ may then also hold CQEs at the start,
 * from a head already at cq_head (a plan's submit step with "head H").  The kernel computes its cache of free CQ slots
 * from the head when it refills the cache and does not look at the head
 * again until the cache is used up: a cache filled while the head was
 * further on would let new completions overwrite unconsumed CQEs of the
 * restored ring (test/progs/cr_cqwrap.c).
 */
#ifndef CRIU_URING_ADVANCE_H
#define CRIU_URING_ADVANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "inject.h"
#include "blob/ring_abi.h"

struct advance_ring {
	int fd;				/* ring fd inside the task, or: */
	bool registered;		/* fd is a registered-ring index of the task */
	struct ring_params params;	/* as filled in by io_uring_setup */
	/*
	 * Where the ring (SQ/CQ region) and the SQE array are mapped in the
	 * task; 0 = not mapped, advance maps a temporary view and unmaps it.
	 * NO_MMAP rings must pass both (their user memory).
	 */
	unsigned long ring_addr;
	unsigned long sqes_addr;
	bool keep_cq_head;		/* never move the CQ head past cq_head */
	uint32_t cq_head;
};

struct advance_opts {
	uint64_t progress_every;	/* ops between progress reports; 0 = none */
	void (*progress)(void *priv, uint64_t done, uint64_t total,
			 double ops_per_sec);
	void *priv;
};

struct advance_stats {
	uint64_t ops;			/* SQEs consumed + CQ-only posts */
	double seconds;
	double ops_per_sec;
	unsigned int progress_traps;
};

/*
 * Must run in the ring's owner thread @r (SINGLE_ISSUER/DEFER_TASKRUN);
 * the ring must be enabled (not R_DISABLED) and empty (SQ head == tail,
 * CQ head == tail).  Works from any current index values.
 */
int advance_ring(struct remote *r, const struct advance_ring *ring,
		 uint32_t sq_head, uint32_t cq_tail,
		 const struct advance_opts *opts, struct advance_stats *stats);

/* Sizes of the two io_uring regions as the kernel lays them out. */
unsigned long advance_ring_region_len(const struct ring_params *p);
unsigned long advance_sqes_region_len(const struct ring_params *p);

#endif

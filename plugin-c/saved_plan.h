/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef CRIU_URING_SAVED_PLAN_H
#define CRIU_URING_SAVED_PLAN_H

/*
 * The restore plan the dump saved next to the images (saved_plan.c).
 *
 * saved_plan_load(): at restore init, with CRIU's image directory: 0 if
 * the plan is there and was made for these images on this kernel (then
 * @ids gets the CRIU file ids that are ring fds), 1 if not (the reason is
 * logged; the helper plans the restore as without a saved plan).
 */
int saved_plan_load(int dirfd, int *ids, int max_ids, int *nr_ids);

/*
 * RESUME_DEVICES_LATE of host pid @pid: run its saved plan.  0: done,
 * -ENOTSUP: it had no rings, -1: failed (logged).
 */
int saved_plan_execute(int pid);

#endif

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

/*
 * The io_uring images "writeimg" steps copy ring bytes from: those the
 * saved plan names (checked by saved_plan_load()), or those a "file"
 * step of the helper's plan names.  saved_plan_add_file(): image @name of
 * @dirfd, kept if its envelope header is @header (hex) and its payload
 * has the length and SHA-256 the header records: 0, or -ESTALE (another
 * file, or damaged), -EINVAL.  saved_plan_file_bytes(): its bytes, 0 or -1.
 */
#include <stddef.h>
#include <stdint.h>
int saved_plan_add_file(int dirfd, const char *name, const char *header);
int saved_plan_file_bytes(const char *name, const uint8_t **data, size_t *len);

#endif

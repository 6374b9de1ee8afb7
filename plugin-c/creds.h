/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Registering an io_uring personality under credentials other than the
 * caller's: the kernel only ever records the registering task's creds.
 */
#ifndef CRIU_URING_CREDS_H
#define CRIU_URING_CREDS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CREDS_MAX_GROUPS	65536

struct creds {
	uid_t uid, euid, suid, fsuid;
	gid_t gid, egid, sgid, fsgid;
	uint64_t cap_effective;		/* also the permitted set */
	int nr_groups;
	gid_t *groups;
};

/*
 * Register a personality with @c on ring @fd of process @pid (the ring
 * must still be disabled, so that a task other than its owner may
 * register).  Returns the new personality id, or -errno with @err set.
 */
long creds_register_personality(pid_t pid, int fd, const struct creds *c, char *err, size_t errlen);

#endif

// SPDX-License-Identifier: GPL-2.0-only
/*
 * A personality is the registering task's credentials.  Becoming another
 * user inside the restored task would throw away its capabilities for
 * good, so CRIU's master (root) takes a copy of the ring fd from the task
 * and a short-lived child of the master takes on the recorded credentials
 * and registers.  The ring is still disabled, so any task may register.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "creds.h"

#define IORING_REGISTER_PERSONALITY	9

static int set_caps(uint64_t effective, uint64_t permitted)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {
		{ .effective = (uint32_t)effective, .permitted = (uint32_t)permitted },
		{ .effective = (uint32_t)(effective >> 32), .permitted = (uint32_t)(permitted >> 32) },
	};

	return syscall(SYS_capset, &hdr, data);
}

/* Effective = permitted: what KEEPCAPS kept through the uid change. */
static int raise_permitted(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective = data[0].permitted;
	data[1].effective = data[1].permitted;
	return syscall(SYS_capset, &hdr, data);
}

/* fsuid/fsgid only follow euid/egid unless set: set them once caps allow. */
static int set_fs_ids(const struct creds *c)
{
	setfsgid(c->fsgid);
	if ((gid_t)setfsgid(-1) != c->fsgid)
		return -1;
	setfsuid(c->fsuid);
	if ((uid_t)setfsuid(-1) != c->fsuid)
		return -1;
	return 0;
}

/*
 * In the child: groups and gids first (they need CAP_SETGID), then uids
 * with KEEPCAPS so the permitted set survives, then the fs ids under a
 * full effective set, and last the recorded capability set.
 */
static int become(const struct creds *c, const char **step)
{
	*step = "setgroups";
	if (setgroups(c->nr_groups, c->groups))
		return -1;
	*step = "setresgid";
	if (setresgid(c->gid, c->egid, c->sgid))
		return -1;
	*step = "prctl(PR_SET_KEEPCAPS)";
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -1;
	*step = "setresuid";
	if (setresuid(c->uid, c->euid, c->suid))
		return -1;
	*step = "raising the kept capabilities";
	if (raise_permitted())
		return -1;
	*step = "setfsuid/setfsgid";
	if (set_fs_ids(c))
		return errno = EPERM, -1;
	*step = "prctl(PR_SET_KEEPCAPS, 0)";
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0))
		return -1;
	*step = "capset";
	if (set_caps(c->cap_effective, c->cap_effective))
		return -1;
	return 0;
}

struct child_result {
	long ret;
	char step[64];
};

static void __attribute__((noreturn)) register_as(int ring, const struct creds *c, int out)
{
	struct child_result res = { 0 };
	const char *step = "";

	if (become(c, &step)) {
		res.ret = -errno;
		snprintf(res.step, sizeof(res.step), "%s", step);
	} else {
		res.ret = syscall(__NR_io_uring_register, ring, IORING_REGISTER_PERSONALITY, NULL, 0);
		if (res.ret < 0)
			res.ret = -errno;
		snprintf(res.step, sizeof(res.step), "IORING_REGISTER_PERSONALITY");
	}
	if (write(out, &res, sizeof(res)) != sizeof(res))
		_exit(1);
	_exit(0);
}

static int steal_fd(pid_t pid, int fd)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0), ret;

	if (pidfd < 0)
		return -1;
	ret = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	return ret;
}

static long run_child(int ring, const struct creds *c, char *err, size_t errlen)
{
	struct child_result res = { .ret = -EPROTO };
	int p[2], status;
	pid_t child;

	if (pipe2(p, O_CLOEXEC))
		return snprintf(err, errlen, "pipe: %s", strerror(errno)), -errno;
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return snprintf(err, errlen, "fork: %s", strerror(errno)), -errno;
	}
	if (child == 0) {
		close(p[0]);
		register_as(ring, c, p[1]);
	}
	close(p[1]);
	if (read(p[0], &res, sizeof(res)) != sizeof(res))
		snprintf(res.step, sizeof(res.step), "the registering child died");
	close(p[0]);
	waitpid(child, &status, 0);
	if (res.ret < 0)
		snprintf(err, errlen, "%s: %s", res.step, strerror(-res.ret));
	return res.ret;
}

long creds_register_personality(pid_t pid, int fd, const struct creds *c, char *err, size_t errlen)
{
	int ring = steal_fd(pid, fd);
	long ret;

	if (ring < 0) {
		ret = -errno;
		snprintf(err, errlen, "taking fd %d of %d: %s", fd, pid, strerror(errno));
		return ret;
	}
	ret = run_child(ring, c, err, errlen);
	close(ring);
	return ret;
}

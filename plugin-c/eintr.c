// SPDX-License-Identifier: GPL-2.0-only
/*
 * Waits interrupted by the freeze.
 *
 * CRIU stops tasks with PTRACE_INTERRUPT, which makes signal_pending()
 * true for a moment.  A thread sleeping in io_uring_enter(GETEVENTS) then
 * returns -EINTR — not one of the -ERESTART* codes that CRIU (like the
 * kernel's signal code) turns back into the same system call — so after a
 * dump with --leave-running, or after a restore, the application sees an
 * EINTR no signal ever caused.  liburing's callers often treat that as
 * fatal (io_uring-cp exits "Interrupted system call").
 *
 * Here, while the thread is still stopped and before CRIU reads its
 * registers, such a return is rewound exactly as the kernel would rewind
 * -ERESTARTSYS: rax = the system call number, rip back over the 2-byte
 * syscall instruction; the argument registers are preserved by the
 * system call ABI.  Only when the call was a pure wait (nothing submitted:
 * the result would otherwise be the submitted count, not -EINTR) and the
 * thread has no signal of its own pending (a real signal's EINTR is left
 * alone).
 */
#define LOG_PREFIX "io_uring: "

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "criu-plugin.h"
#include "criu-log.h"
#include "eintr.h"

#define IORING_ENTER_GETEVENTS	1U
#define PF_IO_WORKER		0x10
#define SYSCALL_INSN_LEN	2

/* Pending signals of the thread itself or of its process, from status. */
static int own_signal_pending(pid_t pid, pid_t tid)
{
	char path[64], line[256];
	int pending = 1;	/* when in doubt, leave the thread alone */
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	pending = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "SigPnd:", 7) && strncmp(line, "ShdPnd:", 7))
			continue;
		if (strtoull(line + 7, NULL, 16))
			pending = 1;
	}
	fclose(f);
	return pending;
}

static int is_io_worker(pid_t pid, pid_t tid)
{
	char path[64], buf[1024], *p;
	unsigned long flags = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return 1;
	/* after "comm)": state ppid pgrp session tty_nr tpgid flags */
	for (i = 0, p += 2; i < 6 && p; i++)
		p = strchr(p + 1, ' ');
	if (p)
		flags = strtoul(p + 1, NULL, 10);
	return !!(flags & PF_IO_WORKER);
}

static int rewind_thread(pid_t pid, pid_t tid)
{
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs))
		return 0; /* not stopped by us: nothing to do */
	if ((long)regs.orig_rax != SYS_io_uring_enter || (long)regs.rax != -EINTR ||
	    !(regs.r10 & IORING_ENTER_GETEVENTS) || own_signal_pending(pid, tid))
		return 0;
	regs.rax = regs.orig_rax;
	regs.rip -= SYSCALL_INSN_LEN;
	if (ptrace(PTRACE_SETREGS, tid, NULL, &regs)) {
		pr_perror("rewinding the interrupted io_uring wait of %d", tid);
		return -1;
	}
	pr_info("thread %d: io_uring_enter wait interrupted by the freeze, will be re-issued\n", tid);
	return 1;
}

int rewind_interrupted_waits(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0, ret;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		if (tid <= 0 || is_io_worker(pid, tid))
			continue;
		ret = rewind_thread(pid, tid);
		if (ret < 0) {
			n = -1;
			break;
		}
		n += ret;
	}
	closedir(d);
	return n;
}

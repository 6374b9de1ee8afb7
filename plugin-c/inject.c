// SPDX-License-Identifier: GPL-2.0
/*
 * Remote-task engine: system calls and code run inside a ptrace-stopped
 * task.  See inject.h for the contract.
 *
 * How a syscall is injected: point rip at a "syscall" instruction that is
 * already mapped executable in the task (the vDSO has several), load the
 * syscall number and arguments into the registers, PTRACE_SINGLESTEP,
 * and read rax at the resulting SIGTRAP.  Nothing is written into the
 * task's code, so there is nothing to undo but the registers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inject.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

/* Kernel-internal restart codes a stop may expose in rax. */
#define ERESTARTSYS		512
#define ERESTARTNOINTR		513
#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516

#define X86_EFLAGS_TF	0x100ul
#define X86_EFLAGS_DF	0x400ul

#define XSTATE_BUF_MAX	(64 * 1024)
#define SYSCALL_RETRIES	32
#define PAGE_SZ		4096ul

static int fail(struct remote *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

const char *remote_error(const struct remote *r)
{
	return r->err;
}

static pid_t tgid_of(pid_t tid)
{
	char path[64], line[256];
	pid_t tgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

/* ---------------------------------------------------------------- maps */

static int parse_maps_line(const char *line, struct remote_vma *v)
{
	int name_at = 0;

	memset(v, 0, sizeof(*v));
	if (sscanf(line, "%lx-%lx %4s %llx %*s %*u %n", &v->start, &v->end,
		   v->perms, &v->pgoff, &name_at) < 4)
		return -1;
	if (name_at > 0) {
		snprintf(v->name, sizeof(v->name), "%s", line + name_at);
		v->name[strcspn(v->name, "\n")] = '\0';
	}
	return 0;
}

int remote_read_maps(struct remote *r, struct remote_vma **vmas)
{
	struct remote_vma *arr = NULL, *tmp;
	int nr = 0, cap = 0;
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", r->tgid);
	f = fopen(path, "re");
	if (!f)
		return fail(r, errno, "cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (nr == cap) {
			cap = cap ? cap * 2 : 256;
			tmp = realloc(arr, cap * sizeof(*arr));
			if (!tmp) {
				free(arr);
				fclose(f);
				return fail(r, ENOMEM, "out of memory reading maps");
			}
			arr = tmp;
		}
		if (parse_maps_line(line, &arr[nr]) == 0)
			nr++;
	}
	fclose(f);
	*vmas = arr;
	return nr;
}

/*
 * The kept list of mapped ranges (inject.h, remote_ranges()).  Only
 * where mappings are matters to its users (placement gaps, scratch
 * addresses), not their protection or name, so mprotect keeps it.
 */
static int ranges_reserve(struct remote *r, int extra)
{
	struct remote_range *tmp;
	int cap;

	if (r->nr_ranges + extra <= r->cap_ranges)
		return 0;
	cap = r->cap_ranges ? r->cap_ranges : 256;
	while (cap < r->nr_ranges + extra)
		cap *= 2;
	tmp = realloc(r->ranges, cap * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	r->ranges = tmp;
	r->cap_ranges = cap;
	return 0;
}

static int ranges_load(struct remote *r)
{
	struct remote_vma *v;
	int nr, i;

	nr = remote_read_maps(r, &v);
	if (nr < 0)
		return nr;
	r->nr_ranges = 0;
	if (ranges_reserve(r, nr)) {
		free(v);
		return fail(r, ENOMEM, "out of memory reading maps");
	}
	for (i = 0; i < nr; i++) {
		r->ranges[i].start = v[i].start;
		r->ranges[i].end = v[i].end;
	}
	r->nr_ranges = nr;
	r->ranges_valid = true;
	free(v);
	return 0;
}

/* [start, end) is no longer mapped. */
static void ranges_remove(struct remote *r, unsigned long start, unsigned long end)
{
	struct remote_range *g;
	int i;

	for (i = 0; i < r->nr_ranges; i++) {
		g = &r->ranges[i];
		if (g->end <= start || g->start >= end)
			continue;
		if (g->start < start && g->end > end) {
			/* a hole in the middle: split */
			if (ranges_reserve(r, 1)) {
				r->ranges_valid = false;
				return;
			}
			g = &r->ranges[i];
			memmove(g + 2, g + 1, (r->nr_ranges - i - 1) * sizeof(*g));
			g[1].start = end;
			g[1].end = g->end;
			g->end = start;
			r->nr_ranges++;
			return;
		}
		if (g->start < start) {
			g->end = start;
		} else if (g->end > end) {
			g->start = end;
		} else {
			memmove(g, g + 1, (r->nr_ranges - i - 1) * sizeof(*g));
			r->nr_ranges--;
			i--;
		}
	}
}

/* [start, end) is mapped now (replacing whatever was there). */
static void ranges_add(struct remote *r, unsigned long start, unsigned long end)
{
	int i;

	ranges_remove(r, start, end);
	if (!r->ranges_valid || ranges_reserve(r, 1)) {
		r->ranges_valid = false;
		return;
	}
	for (i = 0; i < r->nr_ranges && r->ranges[i].start < start; i++)
		;
	memmove(&r->ranges[i + 1], &r->ranges[i], (r->nr_ranges - i) * sizeof(r->ranges[0]));
	r->ranges[i].start = start;
	r->ranges[i].end = end;
	r->nr_ranges++;
}

/*
 * After an injected system call: keep the list up to date, or drop it
 * when the call may have changed the address space in a way not tracked.
 */
static void ranges_after_syscall(struct remote *r, long nr, unsigned long a1,
				 unsigned long a2, long ret)
{
	unsigned long len = (a2 + PAGE_SZ - 1) & ~(PAGE_SZ - 1);

	if (!r->ranges_valid)
		return;
	switch (nr) {
	case SYS_mmap:
		if (ret < 0 && ret > -4096)
			r->ranges_valid = false;	/* a failed MAP_FIXED may have unmapped */
		else
			ranges_add(r, (unsigned long)ret, (unsigned long)ret + len);
		return;
	case SYS_munmap:
		if (ret)
			r->ranges_valid = false;
		else
			ranges_remove(r, a1, a1 + len);
		return;
	/* never map or unmap anything */
	case SYS_mprotect:
	case SYS_io_uring_setup:
	case SYS_io_uring_enter:
	case SYS_io_uring_register:
	case SYS_close:
	case SYS_dup3:
	case SYS_fcntl:
	case SYS_openat:
	case SYS_lseek:
	case SYS_read:
	case SYS_write:
	case SYS_epoll_ctl:
	case SYS_eventfd2:
	case SYS_pipe2:
	case SYS_pidfd_open:
	case SYS_pidfd_getfd:
	case SYS_sched_yield:
	case SYS_getpid:
	case SYS_gettid:
		return;
	default:
		r->ranges_valid = false;
	}
}

int remote_ranges(struct remote *r, const struct remote_range **ranges)
{
	int err;

	if (!r->ranges_valid) {
		err = ranges_load(r);
		if (err)
			return err;
	}
	*ranges = r->ranges;
	return r->nr_ranges;
}

/* Adjacent ranges count as one: the kernel may merge what was mapped in pieces. */
static int next_merged(const struct remote_range *g, int nr, int i, struct remote_range *out)
{
	if (i >= nr)
		return nr;
	*out = g[i++];
	while (i < nr && g[i].start == out->end)
		out->end = g[i++].end;
	return i;
}

int remote_ranges_check(struct remote *r)
{
	struct remote_range *fresh, a, b;
	int nr_kept, nr_fresh, i = 0, j = 0, err;

	if (!r->ranges_valid)
		return 0;
	nr_kept = r->nr_ranges;
	fresh = r->ranges;
	r->ranges = NULL;
	r->nr_ranges = r->cap_ranges = 0;
	err = ranges_load(r);
	if (err) {
		free(r->ranges);
		r->ranges = fresh;
		r->nr_ranges = r->cap_ranges = nr_kept;
		return err;
	}
	/* fresh: the kept list; r->ranges: what the kernel says now */
	nr_fresh = r->nr_ranges;
	while (i < nr_kept || j < nr_fresh) {
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		i = next_merged(fresh, nr_kept, i, &a);
		j = next_merged(r->ranges, nr_fresh, j, &b);
		if (a.start != b.start || a.end != b.end) {
			err = fail(r, EPROTO, "kept address-space list of task %d differs from its maps: %#lx-%#lx kept, %#lx-%#lx mapped",
				   r->tgid, a.start, a.end, b.start, b.end);
			break;
		}
	}
	free(fresh);
	return err;
}

/* ---------------------------------------------------------- memory I/O */

static int mem_fd(struct remote *r)
{
	char path[64];

	if (r->mem_fd >= 0)
		return r->mem_fd;
	snprintf(path, sizeof(path), "/proc/%d/mem", r->tid);
	r->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	return r->mem_fd;
}

/*
 * process_vm_readv/writev honour page protections; /proc/PID/mem uses
 * FOLL_FORCE, so it also reaches read-only pages (e.g. a PROT_READ ring
 * mapping the caller has to fix up).  Use the fast path first.
 */
static int mem_xfer(struct remote *r, unsigned long addr, void *buf,
		    size_t len, bool write)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
	ssize_t n;
	int fd;

	n = write ? process_vm_writev(r->tid, &local, 1, &remote, 1, 0)
		  : process_vm_readv(r->tid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	fd = mem_fd(r);
	if (fd < 0)
		return fail(r, errno, "cannot open /proc/%d/mem: %s", r->tid,
			    strerror(errno));
	n = write ? pwrite(fd, buf, len, (off_t)addr)
		  : pread(fd, buf, len, (off_t)addr);
	if (n == (ssize_t)len)
		return 0;
	return fail(r, n < 0 ? errno : EIO, "cannot %s %zu bytes at %#lx in task %d: %s",
		    write ? "write" : "read", len, addr, r->tid,
		    n < 0 ? strerror(errno) : "short transfer");
}

int remote_read(struct remote *r, unsigned long addr, void *buf, size_t len)
{
	return mem_xfer(r, addr, buf, len, false);
}

static int perms_to_prot(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
}

/*
 * Write through a read-only *shared* mapping (a ring mapped PROT_READ):
 * FOLL_FORCE only breaks COW for private mappings, so /proc/PID/mem gets
 * EIO there.  Add PROT_WRITE for the duration of the write, one VMA at a
 * time, and put the recorded protection back.
 */
static int write_via_mprotect(struct remote *r, unsigned long addr,
			      const uint8_t *buf, size_t len)
{
	unsigned long end = addr + len, s, e, ps, pe;
	struct remote_vma *v;
	int nr, i, ret = 0, prot;
	long err;

	nr = remote_read_maps(r, &v);
	if (nr < 0)
		return nr;
	for (i = 0; i < nr && !ret; i++) {
		s = v[i].start > addr ? v[i].start : addr;
		e = v[i].end < end ? v[i].end : end;
		if (s >= e)
			continue;
		prot = perms_to_prot(v[i].perms);
		ps = s & ~(PAGE_SZ - 1);
		pe = (e + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
		err = prot & PROT_WRITE ? 0 :
		      remote_syscall(r, SYS_mprotect, ps, pe - ps, prot | PROT_WRITE, 0, 0, 0);
		if (err) {
			ret = fail(r, err, "cannot make %#lx writable in task %d: %s", ps,
				   r->tid, strerror((int)-err));
			break;
		}
		ret = mem_xfer(r, s, (void *)(buf + (s - addr)), e - s, true);
		if (!(prot & PROT_WRITE)) {
			err = remote_syscall(r, SYS_mprotect, ps, pe - ps, prot, 0, 0, 0);
			if (err && !ret)
				ret = fail(r, err, "cannot restore protection of %#lx in task %d: %s",
					   ps, r->tid, strerror((int)-err));
		}
	}
	free(v);
	return ret;
}

int remote_write(struct remote *r, unsigned long addr, const void *buf,
		 size_t len)
{
	int ret = mem_xfer(r, addr, (void *)buf, len, true);

	if (ret == -EIO && r->opened)
		ret = write_via_mprotect(r, addr, buf, len);
	if (!ret)
		r->err[0] = '\0';	/* an earlier path's failure is not the answer */
	return ret;
}

/* ------------------------------------------------------ locate syscall */

static unsigned long find_syscall_insn(struct remote *r, unsigned long start,
				       unsigned long end)
{
	uint8_t buf[PAGE_SZ + 1];
	unsigned long at = 0;
	size_t i, n;

	for (at = start; at < end; at += PAGE_SZ) {
		n = end - at > PAGE_SZ ? PAGE_SZ : end - at;
		if (remote_read(r, at, buf, n))
			return 0;
		/* one byte of the next page catches a split 0f|05 pair */
		buf[n] = 0;
		if (at + n < end && remote_read(r, at + n, &buf[n], 1))
			buf[n] = 0;
		for (i = 0; i < n; i++)
			if (buf[i] == 0x0f && buf[i + 1] == 0x05)
				return at + i;
	}
	return 0;
}

/*
 * Prefer the vDSO: it is always executable, never unmapped by CRIU's
 * restore, and not under the application's control.  Fall back to any
 * executable mapping for kernels booted with vdso=0.
 */
static int locate_syscall(struct remote *r)
{
	struct remote_vma *v;
	int nr, i, pass;

	nr = remote_read_maps(r, &v);
	if (nr < 0)
		return nr;
	for (pass = 0; pass < 2 && !r->syscall_ip; pass++) {
		for (i = 0; i < nr && !r->syscall_ip; i++) {
			if (v[i].perms[2] != 'x')
				continue;
			if (pass == 0 && strcmp(v[i].name, "[vdso]"))
				continue;
			if (!strcmp(v[i].name, "[vsyscall]"))
				continue;
			r->syscall_ip = find_syscall_insn(r, v[i].start, v[i].end);
		}
	}
	free(v);
	if (!r->syscall_ip)
		return fail(r, ENOEXEC, "no syscall instruction found in task %d's executable mappings",
			    r->tid);
	r->err[0] = '\0';
	return 0;
}

/* ------------------------------------------------------- stop handling */

static int set_regs(struct remote *r, struct user_regs_struct *regs)
{
	if (ptrace(PTRACE_SETREGS, r->tid, NULL, regs))
		return fail(r, errno, "PTRACE_SETREGS on %d: %s", r->tid, strerror(errno));
	return 0;
}

static int get_regs(struct remote *r, struct user_regs_struct *regs)
{
	if (ptrace(PTRACE_GETREGS, r->tid, NULL, regs))
		return fail(r, errno, "PTRACE_GETREGS on %d: %s", r->tid, strerror(errno));
	return 0;
}

/*
 * Resume with @req and wait for the SIGTRAP our code causes.  Other stops
 * are stepped over: group-stops and event stops are resumed with the same
 * request; a signal that got through our all-blocked mask (only SIGSTOP
 * can) is suppressed now and re-sent by remote_close(), so the task
 * still sees it, after we are gone.
 */
static int resume_until_trap(struct remote *r, int req,
			     struct user_regs_struct *out)
{
	int status, sig, event;
	pid_t pid;

	if (ptrace(req, r->tid, NULL, NULL))
		return fail(r, errno, "ptrace resume of %d: %s", r->tid, strerror(errno));
	for (;;) {
		pid = waitpid(r->tid, &status, __WALL);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return fail(r, errno, "waitpid(%d): %s", r->tid, strerror(errno));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return fail(r, ESRCH, "task %d died while running injected code",
				    r->tid);
		sig = WSTOPSIG(status);
		event = (unsigned int)status >> 16;
		if (sig == SIGTRAP && event == 0)
			return get_regs(r, out);
		if (event == 0 && sig != SIGTRAP && !(sig & 0x80))
			r->deferred_sig = sig;
		if (ptrace(req, r->tid, NULL, NULL))
			return fail(r, errno, "ptrace resume of %d: %s", r->tid,
				    strerror(errno));
	}
}

static bool is_restart_code(unsigned long rax)
{
	long v = (long)rax;

	return v == -ERESTARTSYS || v == -ERESTARTNOINTR ||
	       v == -ERESTARTNOHAND || v == -ERESTART_RESTARTBLOCK;
}

/*
 * Registers for injected work start from the saved ones (cs/ss/fs_base
 * stay those of the task), with orig_rax = -1 so that the kernel's
 * syscall-restart logic on our stops never rewinds rip into our
 * instruction, and with TF/DF clear as the ABI requires.
 */
static void injection_regs(struct remote *r, struct user_regs_struct *regs)
{
	*regs = r->saved_regs;
	regs->orig_rax = (unsigned long)-1;
	regs->eflags &= ~(X86_EFLAGS_TF | X86_EFLAGS_DF);
}

/* Scratch areas whose protection changed are unmapped when freed, never reused. */
static void no_spare(struct remote *r, unsigned long start, unsigned long end)
{
	for (int i = 0; i < r->nr_allocs; i++)
		if (r->allocs[i].start < end && start < r->allocs[i].end)
			r->alloc_prot[i] = -1;
}

long remote_syscall(struct remote *r, long nr, unsigned long a1,
		    unsigned long a2, unsigned long a3, unsigned long a4,
		    unsigned long a5, unsigned long a6)
{
	struct user_regs_struct regs, out;
	int tries, ret;

	if (!r->opened)
		return fail(r, EBADF, "remote_syscall on a closed remote");
	for (tries = 0; tries < SYSCALL_RETRIES; tries++) {
		injection_regs(r, &regs);
		regs.rax = nr;
		regs.rdi = a1;
		regs.rsi = a2;
		regs.rdx = a3;
		regs.r10 = a4;
		regs.r8 = a5;
		regs.r9 = a6;
		regs.rip = r->syscall_ip;
		ret = set_regs(r, &regs);
		if (ret)
			return ret;
		ret = resume_until_trap(r, PTRACE_SINGLESTEP, &out);
		if (ret)
			return ret;
		if (out.rip != r->syscall_ip + 2)
			return fail(r, EFAULT, "injected syscall %ld in %d stopped at %#llx, not after the syscall instruction",
				    nr, r->tid, out.rip);
		/* interrupted before it did anything: just run it again */
		if (!is_restart_code(out.rax)) {
			ranges_after_syscall(r, nr, a1, a2, (long)out.rax);
			if (nr == SYS_mprotect)
				no_spare(r, a1, a1 + a2);
			return (long)out.rax;
		}
	}
	return fail(r, EINTR, "injected syscall %ld in %d kept being interrupted", nr, r->tid);
}

int remote_run(struct remote *r, unsigned long entry, unsigned long arg,
	       unsigned long sp, bool (*done)(struct remote *r, void *priv),
	       void *priv)
{
	struct user_regs_struct regs, out;
	int ret;

	injection_regs(r, &regs);
	regs.rip = entry;
	regs.rdi = arg;
	regs.rsp = sp;
	ret = set_regs(r, &regs);
	if (ret)
		return ret;
	for (;;) {
		ret = resume_until_trap(r, PTRACE_CONT, &out);
		if (ret)
			return ret;
		if (done(r, priv))
			return 0;
	}
}

/* ----------------------------------------------------- open and close */

static int save_xstate(struct remote *r)
{
	struct iovec iov;

	r->saved_xstate = malloc(XSTATE_BUF_MAX);
	if (!r->saved_xstate)
		return fail(r, ENOMEM, "out of memory for the FPU state");
	iov.iov_base = r->saved_xstate;
	iov.iov_len = XSTATE_BUF_MAX;
	if (ptrace(PTRACE_GETREGSET, r->tid, (void *)NT_X86_XSTATE, &iov))
		return fail(r, errno, "PTRACE_GETREGSET(XSTATE) on %d: %s", r->tid,
			    strerror(errno));
	r->saved_xstate_len = iov.iov_len;
	return 0;
}

static int restore_xstate(struct remote *r)
{
	struct iovec iov = {
		.iov_base = r->saved_xstate,
		.iov_len = r->saved_xstate_len,
	};

	if (ptrace(PTRACE_SETREGSET, r->tid, (void *)NT_X86_XSTATE, &iov))
		return fail(r, errno, "PTRACE_SETREGSET(XSTATE) on %d: %s", r->tid,
			    strerror(errno));
	return 0;
}

/*
 * Block every signal while we work, so that no handler runs on our
 * registers and no signal-delivery-stop interrupts a single step.  The
 * original mask goes back in remote_close().
 */
static int block_signals(struct remote *r)
{
	uint64_t all = ~0ull;

	if (ptrace(PTRACE_GETSIGMASK, r->tid, (void *)sizeof(r->saved_sigmask),
		   &r->saved_sigmask))
		return fail(r, errno, "PTRACE_GETSIGMASK on %d: %s", r->tid,
			    strerror(errno));
	if (ptrace(PTRACE_SETSIGMASK, r->tid, (void *)sizeof(all), &all))
		return fail(r, errno, "PTRACE_SETSIGMASK on %d: %s", r->tid,
			    strerror(errno));
	return 0;
}

static void release(struct remote *r)
{
	free(r->saved_xstate);
	r->saved_xstate = NULL;
	free(r->ranges);
	r->ranges = NULL;
	r->nr_ranges = r->cap_ranges = 0;
	r->ranges_valid = false;
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	r->mem_fd = -1;
	r->opened = false;
}

int remote_open(struct remote *r, pid_t tid)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->mem_fd = -1;
	r->tgid = tgid_of(tid);
	if (r->tgid < 0)
		return fail(r, ESRCH, "task %d not found in /proc", tid);
	ret = get_regs(r, &r->saved_regs);
	if (!ret)
		ret = save_xstate(r);
	if (!ret)
		ret = locate_syscall(r);
	if (!ret)
		ret = block_signals(r);
	if (ret) {
		release(r);
		return ret;
	}
	r->opened = true;
	return 0;
}

static int unmap_scratch(struct remote *r, unsigned long start, unsigned long end);

/*
 * Undo everything: unmap leftover scratch memory (needs injection, so it
 * comes first), then registers, FPU state and signal mask.  Every step
 * runs even if an earlier one failed; the first error is returned.
 */
int remote_close(struct remote *r)
{
	char first_err[REMOTE_ERR_LEN] = "";
	int ret = 0, err;

	if (!r->opened)
		return 0;
	while (r->nr_allocs > 0) {
		err = unmap_scratch(r, r->allocs[r->nr_allocs - 1].start,
				    r->allocs[r->nr_allocs - 1].end);
		if (err && !ret) {
			snprintf(first_err, sizeof(first_err), "%s", r->err);
			ret = err;
		}
		r->nr_allocs--;
	}
	while (r->nr_spare > 0) {
		err = unmap_scratch(r, r->spare[r->nr_spare - 1].start,
				    r->spare[r->nr_spare - 1].end);
		if (err && !ret) {
			snprintf(first_err, sizeof(first_err), "%s", r->err);
			ret = err;
		}
		r->nr_spare--;
	}
	err = set_regs(r, &r->saved_regs);
	if (err && !ret) {
		ret = err;
		snprintf(first_err, sizeof(first_err), "%s", r->err);
	}
	err = restore_xstate(r);
	if (err && !ret) {
		ret = err;
		snprintf(first_err, sizeof(first_err), "%s", r->err);
	}
	if (ptrace(PTRACE_SETSIGMASK, r->tid, (void *)sizeof(r->saved_sigmask),
		   &r->saved_sigmask) && !ret) {
		ret = fail(r, errno, "PTRACE_SETSIGMASK restore on %d: %s", r->tid,
			   strerror(errno));
		snprintf(first_err, sizeof(first_err), "%s", r->err);
	}
	if (r->deferred_sig)
		syscall(SYS_tgkill, r->tgid, r->tid, r->deferred_sig);
	release(r);
	snprintf(r->err, sizeof(r->err), "%s", first_err);
	return ret;
}

/* ------------------------------------------------------------- scratch */

int remote_avoid(struct remote *r, unsigned long start, unsigned long len)
{
	if (r->nr_avoid >= REMOTE_MAX_AVOID)
		return fail(r, ENOSPC, "more than %d avoided ranges", REMOTE_MAX_AVOID);
	r->avoid[r->nr_avoid].start = start;
	r->avoid[r->nr_avoid].end = start + len;
	r->nr_avoid++;
	return 0;
}

static bool overlaps_avoided(struct remote *r, unsigned long start,
			     unsigned long end)
{
	int i;

	for (i = 0; i < r->nr_avoid; i++)
		if (start < r->avoid[i].end && r->avoid[i].start < end)
			return true;
	return false;
}

unsigned long remote_mmap_min_addr(void)
{
	static unsigned long cached;
	unsigned long v = 65536;
	FILE *f;

	if (cached)
		return cached;
	f = fopen("/proc/sys/vm/mmap_min_addr", "re");
	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 65536;
		fclose(f);
	}
	cached = v < PAGE_SZ ? PAGE_SZ : (v + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
	return cached;
}

/*
 * Scratch memory is placed explicitly, lowest free address first, with
 * MAP_FIXED_NOREPLACE: mmap(NULL) would let the kernel's top-down
 * allocator pick the highest gap, which is exactly where a recorded ring
 * hole usually is.  Low addresses are where nothing of the restored
 * process's own lives that we must recreate.
 */
static int pick_scratch_addr(struct remote *r, size_t len, unsigned long *addr)
{
	unsigned long lo = remote_mmap_min_addr(), gap_start, gap_end, a;
	const struct remote_range *v = NULL;
	int nr, i;

	nr = remote_ranges(r, &v);
	if (nr < 0)
		return nr;
	gap_start = lo;
	for (i = 0; i <= nr; i++) {
		gap_end = i < nr && v[i].start < REMOTE_TASK_TOP ?
			  v[i].start : REMOTE_TASK_TOP;
		for (a = gap_start; a + len <= gap_end && a + len > a; a += len) {
			if (!overlaps_avoided(r, a, a + len)) {
				*addr = a;
				return 0;
			}
		}
		if (i < nr && v[i].end > gap_start)
			gap_start = v[i].end;
	}
	return fail(r, ENOMEM, "no free range of %zu bytes for scratch memory in %d", len,
		    r->tgid);
}

static int unmap_scratch(struct remote *r, unsigned long start, unsigned long end)
{
	long ret = remote_syscall(r, SYS_munmap, start, end - start, 0, 0, 0, 0);

	if (ret)
		return fail(r, ret, "injected munmap of scratch %#lx failed: %s", start,
			    strerror((int)-ret));
	return 0;
}

/* A spare area of at least @len bytes, zeroed as a new one would be; 0: none. */
static unsigned long take_spare(struct remote *r, size_t len, unsigned long *end)
{
	static const uint8_t zeros[PAGE_SZ];
	unsigned long a, p;
	int best = -1, i;

	for (i = 0; i < r->nr_spare; i++)
		if (r->spare[i].end - r->spare[i].start >= len &&
		    (best < 0 || r->spare[i].end - r->spare[i].start <
				 r->spare[best].end - r->spare[best].start))
			best = i;
	if (best < 0)
		return 0;
	a = r->spare[best].start;
	*end = r->spare[best].end;
	r->spare[best] = r->spare[--r->nr_spare];
	for (p = a; p < *end; p += PAGE_SZ) {
		if (remote_write(r, p, zeros, PAGE_SZ)) {
			/* not writable any more: a fresh area instead */
			unmap_scratch(r, a, *end);
			r->err[0] = '\0';
			return 0;
		}
	}
	return a;
}

int remote_alloc(struct remote *r, size_t len, int prot, unsigned long *addr)
{
	unsigned long at = 0, end;
	long ret;
	int err;

	if (r->nr_allocs >= REMOTE_MAX_ALLOCS)
		return fail(r, ENOSPC, "more than %d scratch areas", REMOTE_MAX_ALLOCS);
	len = (len + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
	at = prot ? 0 : take_spare(r, len, &end);
	if (at)
		goto found;
	err = pick_scratch_addr(r, len, &at);
	if (err)
		return err;
	ret = remote_syscall(r, SYS_mmap, at, len, prot | PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (ret < 0 && ret > -4096)
		return fail(r, ret, "injected mmap of %zu scratch bytes at %#lx failed: %s",
			    len, at, strerror((int)-ret));
	if ((unsigned long)ret != at) {
		/* an old kernel treating NOREPLACE as a hint: do not keep it */
		remote_syscall(r, SYS_munmap, ret, len, 0, 0, 0, 0);
		return fail(r, EEXIST, "scratch mmap landed at %#lx instead of %#lx", ret, at);
	}
	end = at + len;
found:
	r->allocs[r->nr_allocs].start = at;
	r->allocs[r->nr_allocs].end = end;
	r->alloc_prot[r->nr_allocs] = prot;
	r->nr_allocs++;
	*addr = at;
	return 0;
}

/* Scratch memory is kept mapped for the next remote_alloc() (a few of them), or unmapped. */
int remote_free(struct remote *r, unsigned long addr)
{
	int i, err;

	for (i = 0; i < r->nr_allocs; i++)
		if (r->allocs[i].start == addr)
			break;
	if (i == r->nr_allocs)
		return fail(r, EINVAL, "%#lx is not a scratch area", addr);
	if (!r->alloc_prot[i] && r->nr_spare < REMOTE_MAX_SPARE) {
		r->spare[r->nr_spare++] = r->allocs[i];
	} else {
		err = unmap_scratch(r, addr, r->allocs[i].end);
		if (err)
			return err;
	}
	r->nr_allocs--;
	r->allocs[i] = r->allocs[r->nr_allocs];
	r->alloc_prot[i] = r->alloc_prot[r->nr_allocs];
	return 0;
}

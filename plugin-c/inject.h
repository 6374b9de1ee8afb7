/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Remote-task API: run system calls and code inside a task that the
 * calling process already holds in a ptrace-stop (as CRIU's master holds
 * every restored task during RESUME_DEVICES_LATE).
 *
 * Contract: remote_open() snapshots the task (registers, extended FPU
 * state, signal mask); everything after it may change the task; and
 * remote_close() puts every snapshotted item back and unmaps every
 * scratch area still allocated, on success and on every error path.
 * All functions return 0 / a value >= 0 on success and a negative errno
 * on failure; remote_error() then holds a one-line explanation.
 */
#ifndef CRIU_URING_INJECT_H
#define CRIU_URING_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define REMOTE_MAX_ALLOCS	16
#define REMOTE_MAX_SPARE	4
#define REMOTE_MAX_AVOID	64
#define REMOTE_ERR_LEN		256

/* End of the 47-bit user address window mmap(NULL) allocates from. */
#define REMOTE_TASK_TOP		0x7ffffffff000ul

struct remote_range {
	unsigned long start;
	unsigned long end;		/* exclusive */
};

/* One line of /proc/PID/maps. */
struct remote_vma {
	unsigned long start;
	unsigned long end;
	char perms[5];
	unsigned long long pgoff;
	char name[128];
};

struct remote {
	pid_t tid;
	pid_t tgid;
	bool opened;
	struct user_regs_struct saved_regs;
	uint8_t *saved_xstate;		/* PTRACE_GETREGSET(NT_X86_XSTATE) */
	size_t saved_xstate_len;
	uint64_t saved_sigmask;
	unsigned long syscall_ip;	/* address of a "syscall" instruction */
	int mem_fd;			/* /proc/PID/mem, opened on demand */
	int deferred_sig;		/* unblockable signal seen while injecting */
	struct remote_range allocs[REMOTE_MAX_ALLOCS];
	int alloc_prot[REMOTE_MAX_ALLOCS];	/* the extra_prot of each */
	int nr_allocs;
	/*
	 * Scratch areas freed but still mapped: the next remote_alloc() that
	 * fits takes one (zeroed) instead of an injected mmap, and
	 * remote_close() unmaps them.  A plan allocates and frees a few
	 * bytes per ring.
	 */
	struct remote_range spare[REMOTE_MAX_SPARE];
	int nr_spare;
	struct remote_range avoid[REMOTE_MAX_AVOID];
	int nr_avoid;
	/*
	 * The task's mapped ranges, sorted: read from /proc/TGID/maps once
	 * and kept up to date by the mmap/munmap injected here (remote_ranges()).
	 */
	struct remote_range *ranges;
	int nr_ranges, cap_ranges;
	bool ranges_valid;
	/* the index-advance blob (advance.c): loaded once, unmapped by remote_close() */
	unsigned long blob_code, blob_data;
	char err[REMOTE_ERR_LEN];
};

/* Why the last call failed; empty string if it did not. */
const char *remote_error(const struct remote *r);

int remote_open(struct remote *r, pid_t tid);
int remote_close(struct remote *r);

long remote_syscall(struct remote *r, long nr, unsigned long a1,
		    unsigned long a2, unsigned long a3, unsigned long a4,
		    unsigned long a5, unsigned long a6);

int remote_read(struct remote *r, unsigned long addr, void *buf, size_t len);
int remote_write(struct remote *r, unsigned long addr, const void *buf,
		 size_t len);

/*
 * Ranges scratch allocations must never use (e.g. the addresses where
 * rings will be placed).  Call before remote_alloc().
 */
int remote_avoid(struct remote *r, unsigned long start, unsigned long len);

/* Scratch memory inside the task, PROT_READ|PROT_WRITE plus @prot. */
int remote_alloc(struct remote *r, size_t len, int prot, unsigned long *addr);
int remote_free(struct remote *r, unsigned long addr);

/* vm.mmap_min_addr rounded up to a page: nothing can be mapped below. */
unsigned long remote_mmap_min_addr(void);

/* Parse /proc/TGID/maps into a malloc()ed array; returns the count. */
int remote_read_maps(struct remote *r, struct remote_vma **vmas);

/*
 * The task's mapped ranges, sorted by address (valid until the next
 * call into this engine); returns the count.  /proc/TGID/maps is read
 * once per remote_open(), not per call: mmap and munmap injected with
 * remote_syscall() update the list, system calls known not to change
 * the address space keep it, and any other one makes the next call read
 * the file again.  Code run with remote_run() must not map or unmap.
 * Reading the file per placement made restoring N rings O(N^2).
 */
int remote_ranges(struct remote *r, const struct remote_range **ranges);

/*
 * Compare the kept list with /proc/TGID/maps (a self-check for tests:
 * CRIU_URING_CHECK_MAPS=1, plan.c); 0 if they agree.
 */
int remote_ranges_check(struct remote *r);

/*
 * Run position-independent code at @entry with rdi = @arg and rsp = @sp
 * until it executes int3.  @done() is asked after every trap; while it
 * returns false the code is resumed (a progress trap).
 */
int remote_run(struct remote *r, unsigned long entry, unsigned long arg,
	       unsigned long sp, bool (*done)(struct remote *r, void *priv),
	       void *priv);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tiny raw-syscall io_uring helpers for the test programs (no liburing):
 * the programs must control every index, flag and mapping themselves,
 * so that what they write to their truth file is exactly what the kernel
 * holds.
 */
#ifndef TEST_PROGS_URING_H
#define TEST_PROGS_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <linux/io_uring.h>

/* One ring as the program sees it: fd, mappings, and pointers into them. */
struct ring {
	int fd;
	unsigned int flags;		/* setup flags as passed */
	struct io_uring_params p;	/* as returned by the kernel */

	void *ring_mem;			/* SQ/CQ ring mapping (or user memory) */
	size_t ring_len;
	void *sqe_mem;			/* SQE array mapping (or user memory) */
	size_t sqe_len;
	bool user_mem;			/* NO_MMAP: we own ring_mem/sqe_mem */
	bool registered;		/* REGISTERED_FD_ONLY: fd is a registered-ring index */

	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_dropped;
	unsigned int *sq_array;		/* NULL with NO_SQARRAY */
	unsigned int *cq_head, *cq_tail, *cq_mask, *cq_overflow, *cq_flags;
	void *cqes;

	unsigned int sqe_size;		/* 64 or 128 */
	unsigned int cqe_size;		/* 16 or 32 */
	unsigned int sq_local_tail;	/* SQEs handed out by ring_get_sqe() */
	unsigned long inode;		/* of the ring fd, kept after close */
};

/* Raw system calls; return -1 and set errno on failure, like libc. */
int sys_io_uring_setup(unsigned int entries, struct io_uring_params *p);
int sys_io_uring_enter(int fd, unsigned int to_submit, unsigned int min_complete,
		       unsigned int flags, const void *arg, size_t argsz);
int sys_io_uring_register(int fd, unsigned int op, const void *arg, unsigned int nr);

/*
 * Create a ring with @entries SQ entries and the flags (and cq_entries,
 * sq_thread_cpu, sq_thread_idle, wq_fd) in @p, then map it.  @p may be
 * NULL for a plain ring.  Returns 0 or -errno; nothing is left behind on
 * failure.
 */
int ring_create(struct ring *r, unsigned int entries, const struct io_uring_params *p);
/* Same, exiting the program with a one-line message on failure. */
void ring_create_or_die(struct ring *r, unsigned int entries, const struct io_uring_params *p);
/* REGISTER_ENABLE_RINGS, and forget R_DISABLED like the kernel does. */
void ring_enable(struct ring *r);
/* Unmap the rings (the fd stays open unless ring_close_fd() is called). */
void ring_unmap(struct ring *r);
void ring_close_fd(struct ring *r);

/* Next free SQE, zeroed, or NULL when the SQ is full. Not yet visible. */
struct io_uring_sqe *ring_get_sqe(struct ring *r);
/* Publish every SQE handed out so far by moving the shared SQ tail. */
void ring_commit(struct ring *r);
/* Publish and submit; returns what io_uring_enter returned (or -errno). */
int ring_submit(struct ring *r, unsigned int wait_nr);
/* Submit and wait for @wait_nr completions. */
int ring_submit_and_wait(struct ring *r, unsigned int wait_nr);

/* Unconsumed CQEs in the CQ ring. */
unsigned int ring_cq_ready(struct ring *r);
/* The CQE at head + @i (no consumption), or NULL if there are fewer. */
struct io_uring_cqe *ring_cqe_at(struct ring *r, unsigned int i);
/* Consume @n CQEs by moving the shared CQ head. */
void ring_cq_advance(struct ring *r, unsigned int n);

/* Convenience SQE preparation. */
void sqe_nop(struct io_uring_sqe *sqe, uint64_t user_data);
void sqe_rw(struct io_uring_sqe *sqe, int op, int fd, void *buf, unsigned int len,
	    uint64_t off, uint64_t user_data);

/* Register wrappers: exit with a one-line message on failure. */
int reg_or_die(int fd, unsigned int op, const void *arg, unsigned int nr, const char *what);

/* Inode number of a ring fd: how inspect identifies rings. */
unsigned long fd_inode(int fd);

/* Wait until the kernel consumed every SQE handed out (an SQ thread publishes its head late). */
void ring_wait_sq_consumed(struct ring *r);

/* Submit NOPs until the SQ and CQ indices have moved by @n (CQEs reaped). */
void ring_advance_by_nops(struct ring *r, unsigned long n);

/* ---- process conventions ---- */

/* "name: what: strerror(errno)" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Same, with an explicit error number (positive). */
void die_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Program name for messages (set by stop_signals_init). */
extern const char *prog_name;

/*
 * Block SIGUSR1/SIGTERM so that they are only taken in wait_for_stop();
 * call first thing in main().
 */
void stop_signals_init(const char *argv0);
/* Sleep until SIGUSR1 or SIGTERM arrives; returns the signal. */
int wait_for_stop(void);
/* Non-blocking: true once SIGUSR1 or SIGTERM is pending (for work loops). */
bool stop_requested(void);

/* Threads of this process whose comm starts with @prefix; returns count. */
int find_threads(const char *prefix, pid_t *out, int max);

/* A file name in the per-run scratch dir (the truth file's directory). */
const char *scratch_path(const char *name);

/* readlink of /proc/self/fd/@fd; f_flags of its file (no O_CLOEXEC). */
const char *fd_path(int fd);
unsigned int fd_file_flags(int fd);

/* ---- truth: one JSON object written to $TRUTH_FILE ---- */

/*
 * The writer nests objects and arrays; keys are ignored inside arrays.
 * 64-bit values that may exceed 2^53 go out as decimal strings (as in the
 * inspect JSON).
 */
struct truth;
struct truth *truth_new(void);
void truth_obj(struct truth *t, const char *key);	/* open an object */
void truth_arr(struct truth *t, const char *key);	/* open an array */
void truth_end(struct truth *t);			/* close the innermost */
void truth_int(struct truth *t, const char *key, long long v);
void truth_bool(struct truth *t, const char *key, bool v);
void truth_null(struct truth *t, const char *key);
void truth_str(struct truth *t, const char *key, const char *s);
void truth_u64s(struct truth *t, const char *key, uint64_t v);	/* "123" */
void truth_hex(struct truth *t, const char *key, uint64_t v);	/* "0x7b" */
/* Close everything, write to $TRUTH_FILE.tmp and rename it into place. */
void truth_write(struct truth *t);

/* One CQE / SQE as the inspect model spells them (SQE: "_slot" = ring slot). */
void truth_cqe(struct truth *t, const struct io_uring_cqe *cqe);
void truth_sqe(struct truth *t, const struct io_uring_sqe *sqe, unsigned int slot);

/* A mapping of a ring fd, and a ring's own two mappings (in address order
 * as mmap placed them: rings first, then SQEs, below it). */
void truth_mapping(struct truth *t, const void *start, size_t len, uint64_t off,
		   const char *kind, int bgid /* pbuf_ring only, else -1 */);
void truth_ring_mappings(struct truth *t, const struct ring *r);

/* Common ring fields: inode, fds, setup_flags, disabled, sizes, sq/cq indices. */
void truth_ring_common(struct truth *t, struct ring *r, const int *fds, int nfds,
		       unsigned int cached_sq_head, unsigned int cached_cq_tail);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Argument block shared by advance.c (plugin side) and the in-task
 * advance blob.  All pointers are addresses inside the task.  Layout is
 * fixed-width so both sides agree without any ABI surprises.
 */
#ifndef CRIU_URING_ADVANCE_ABI_H
#define CRIU_URING_ADVANCE_ABI_H

#include <stdint.h>

enum blob_state {
	BLOB_RUNNING = 0,
	BLOB_PROGRESS = 1,	/* trapped to report progress; resume */
	BLOB_DONE = 2,		/* finished; err says how */
};

/* Where the blob stopped on error (blob_args.err_where). */
enum blob_where {
	BLOB_AT_NONE = 0,
	BLOB_AT_NOT_EMPTY,	/* ring had unconsumed SQEs/CQEs at the start */
	BLOB_AT_SUBMIT,		/* io_uring_enter submit failed / stalled */
	BLOB_AT_SQPOLL,		/* SQ thread did not consume in time */
	BLOB_AT_WAIT,		/* waiting for CQEs failed / stalled */
	BLOB_AT_CQE,		/* a NOP or MSG_RING completed with an error */
	BLOB_AT_STRAY_CQE,	/* a CQE appeared where none was expected */
	BLOB_AT_FINAL,		/* final indices differ from the targets */
	BLOB_AT_SELF_POST,	/* the target's own multishot timeout failed */
};

struct blob_ring {
	uint64_t sq_head;	/* address of the shared u32 */
	uint64_t sq_tail;
	uint64_t sq_flags;
	uint64_t sq_array;	/* 0 for IORING_SETUP_NO_SQARRAY */
	uint64_t sqes;
	uint64_t cq_head;
	uint64_t cq_tail;
	uint64_t cqes;
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t sqe_size;	/* 64, or 128 with SQE128 */
	uint32_t cqe_size;	/* 16, or 32 with CQE32 */
	uint32_t setup_flags;
	int32_t fd;		/* an fd, or a registered-ring index (enter_flags) */
	uint32_t enter_flags;	/* RING_ENTER_REGISTERED_RING when fd is an index */
	uint32_t pad;
};

/* struct __kernel_timespec */
struct blob_timespec {
	int64_t tv_sec;
	int64_t tv_nsec;
};

struct blob_args {
	struct blob_ring target;
	struct blob_ring helper;	/* fd -1: none; CQ-only posts then come from the target itself */
	struct blob_timespec tick;	/* period of the target's own multishot timeouts */
	uint32_t sq_target;
	uint32_t cq_target;
	uint64_t progress_every;	/* ops between progress traps */
	/*
	 * keep_cq_head: the CQ head never moves past cq_head_limit (the
	 * dumped CQ head), so the kernel's cache of free CQ slots is never
	 * filled from a head the restored ring will not have (advance.h).
	 */
	uint32_t keep_cq_head;
	uint32_t cq_head_limit;
	/* written by the blob */
	uint64_t total;			/* ops this run needs */
	uint64_t done;			/* ops completed */
	uint64_t next_report;
	int64_t err;			/* 0 or -errno (or CQE res) */
	uint32_t err_where;		/* enum blob_where */
	uint32_t state;			/* enum blob_state */
	uint32_t cq_seen;		/* CQEs checked up to here; the head may lag (keep_cq_head) */
	uint32_t pad2;
};

#endif

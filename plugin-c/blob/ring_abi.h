/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few io_uring ABI values and layouts the restore engine needs,
 * written down here so that both the freestanding in-task blob (which
 * cannot include system headers) and the plugin use one definition,
 * independent of the age of the build machine's <linux/io_uring.h>.
 * Values are the Linux 6.18 UAPI.
 */
#ifndef CRIU_URING_RING_ABI_H
#define CRIU_URING_RING_ABI_H

#include <stdint.h>

#define RING_NR_SETUP		425
#define RING_NR_ENTER		426
#define RING_NR_REGISTER	427

/* io_uring_setup() flags */
#define RING_SETUP_IOPOLL		(1u << 0)
#define RING_SETUP_SQPOLL		(1u << 1)
#define RING_SETUP_SQ_AFF		(1u << 2)
#define RING_SETUP_CQSIZE		(1u << 3)
#define RING_SETUP_CLAMP		(1u << 4)
#define RING_SETUP_R_DISABLED		(1u << 6)
#define RING_SETUP_SQE128		(1u << 10)
#define RING_SETUP_CQE32		(1u << 11)
#define RING_SETUP_SINGLE_ISSUER	(1u << 12)
#define RING_SETUP_DEFER_TASKRUN	(1u << 13)
#define RING_SETUP_NO_MMAP		(1u << 14)
#define RING_SETUP_NO_SQARRAY		(1u << 16)
#define RING_SETUP_CQE_MIXED		(1u << 18)

/* io_uring_enter() flags */
#define RING_ENTER_GETEVENTS	(1u << 0)
#define RING_ENTER_SQ_WAKEUP	(1u << 1)
#define RING_ENTER_SQ_WAIT	(1u << 2)
#define RING_ENTER_REGISTERED_RING	(1u << 4)

/* sq_flags bits in the shared ring */
#define RING_SQ_NEED_WAKEUP	(1u << 0)
#define RING_SQ_CQ_OVERFLOW	(1u << 1)

/* mmap offsets */
#define RING_OFF_SQ_RING	0x0ull
#define RING_OFF_CQ_RING	0x8000000ull
#define RING_OFF_SQES		0x10000000ull

/* opcodes and SQE flags used by the index advance */
#define RING_OP_NOP		0
#define RING_OP_TIMEOUT		11
#define RING_OP_MSG_RING	40
#define RING_TIMEOUT_MULTISHOT	(1u << 6)
#define RING_CQE_F_MORE		(1u << 1)
#define RING_MSG_DATA		0
#define RING_SQE_CQE_SKIP_SUCCESS	(1u << 6)

#define RING_FEAT_SINGLE_MMAP	(1u << 0)

struct ring_sqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array;
	uint32_t resv1;
	uint64_t user_addr;
};

struct ring_cqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags;
	uint32_t resv1;
	uint64_t user_addr;
};

struct ring_params {
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t flags;
	uint32_t sq_thread_cpu;
	uint32_t sq_thread_idle;
	uint32_t features;
	uint32_t wq_fd;
	uint32_t resv[3];
	struct ring_sqring_offsets sq_off;
	struct ring_cqring_offsets cq_off;
};

/* The 64-byte SQE; only the fields the advance writes are named. */
struct ring_sqe {
	uint8_t opcode;
	uint8_t flags;
	uint16_t ioprio;
	int32_t fd;
	uint64_t off;
	uint64_t addr;
	uint32_t len;
	uint32_t op_flags;
	uint64_t user_data;
	uint8_t rest[24];
};

struct ring_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

_Static_assert(sizeof(struct ring_params) == 120, "io_uring_params size");
_Static_assert(sizeof(struct ring_sqe) == 64, "io_uring_sqe size");

#endif

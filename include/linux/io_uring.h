/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * criu-uring's own description of the io_uring user ABI, current to
 * Linux 6.18.  Debian 12 ships 6.1 uapi headers, which lack most of what
 * we need to read and rebuild rings (NO_SQARRAY, CQE_MIXED, registered
 * rings, memory regions, clone buffers, query, ...).  Put `-I<repo>/include`
 * first on the include path and this file shadows the system one.
 *
 * Values and layouts were written down from the running kernel's BTF and
 * the kernel's documented uapi; sizes are checked by static asserts in
 * test/progs/insp_abi.c.  This header deliberately does not include
 * <linux/fs.h>, so it mixes freely with <sys/mman.h>, <sys/mount.h>, ...
 */
#ifndef CRIU_URING_LINUX_IO_URING_H
#define CRIU_URING_LINUX_IO_URING_H

/* The system header uses this guard: make sure it never comes in too. */
#ifndef LINUX_IO_URING_H
#define LINUX_IO_URING_H
#endif

#include <linux/types.h>
#include <linux/time_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* System calls (x86_64 and every architecture using the generic table) */

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup		425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter		426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register		427
#endif

/* ------------------------------------------------------------------ */
/* io_uring_setup(2): flags, parameters and ring offsets */

#define IORING_SETUP_IOPOLL		(1U << 0)  /* busy-poll completions */
#define IORING_SETUP_SQPOLL		(1U << 1)  /* kernel thread polls the SQ */
#define IORING_SETUP_SQ_AFF		(1U << 2)  /* pin that thread to sq_thread_cpu */
#define IORING_SETUP_CQSIZE		(1U << 3)  /* cq_entries is given */
#define IORING_SETUP_CLAMP		(1U << 4)  /* clamp sizes instead of EINVAL */
#define IORING_SETUP_ATTACH_WQ		(1U << 5)  /* share wq_fd's io-wq / sq thread */
#define IORING_SETUP_R_DISABLED		(1U << 6)  /* created disabled, see ENABLE_RINGS */
#define IORING_SETUP_SUBMIT_ALL		(1U << 7)  /* keep submitting after an error */
#define IORING_SETUP_COOP_TASKRUN	(1U << 8)  /* no IPI to run task work */
#define IORING_SETUP_TASKRUN_FLAG	(1U << 9)  /* set IORING_SQ_TASKRUN when work waits */
#define IORING_SETUP_SQE128		(1U << 10) /* 128-byte SQEs */
#define IORING_SETUP_CQE32		(1U << 11) /* 32-byte CQEs */
#define IORING_SETUP_SINGLE_ISSUER	(1U << 12) /* one task submits */
#define IORING_SETUP_DEFER_TASKRUN	(1U << 13) /* task work only on GETEVENTS */
#define IORING_SETUP_NO_MMAP		(1U << 14) /* rings live in user memory */
#define IORING_SETUP_REGISTERED_FD_ONLY	(1U << 15) /* return a registered ring index */
#define IORING_SETUP_NO_SQARRAY		(1U << 16) /* SQ tail indexes the SQEs directly */
#define IORING_SETUP_HYBRID_IOPOLL	(1U << 17) /* sleep a while before polling */
#define IORING_SETUP_CQE_MIXED		(1U << 18) /* 16- and 32-byte CQEs in one ring */

/* Where the kernel put each field inside the SQ ring mapping. */
struct io_sqring_offsets {
	__u32 head;
	__u32 tail;
	__u32 ring_mask;
	__u32 ring_entries;
	__u32 flags;
	__u32 dropped;
	__u32 array;
	__u32 resv1;
	__u64 user_addr;	/* NO_MMAP: address of the user's memory */
};

/* Where the kernel put each field inside the CQ ring mapping. */
struct io_cqring_offsets {
	__u32 head;
	__u32 tail;
	__u32 ring_mask;
	__u32 ring_entries;
	__u32 overflow;
	__u32 cqes;
	__u32 flags;
	__u32 resv1;
	__u64 user_addr;	/* NO_MMAP: address of the user's memory */
};

/* In and out argument of io_uring_setup(2): 120 bytes. */
struct io_uring_params {
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 flags;
	__u32 sq_thread_cpu;
	__u32 sq_thread_idle;	/* milliseconds */
	__u32 features;		/* out: IORING_FEAT_* */
	__u32 wq_fd;		/* ATTACH_WQ: the ring to attach to */
	__u32 resv[3];
	struct io_sqring_offsets sq_off;
	struct io_cqring_offsets cq_off;
};

/* params.features, reported by the kernel */
#define IORING_FEAT_SINGLE_MMAP		(1U << 0)
#define IORING_FEAT_NODROP		(1U << 1)
#define IORING_FEAT_SUBMIT_STABLE	(1U << 2)
#define IORING_FEAT_RW_CUR_POS		(1U << 3)
#define IORING_FEAT_CUR_PERSONALITY	(1U << 4)
#define IORING_FEAT_FAST_POLL		(1U << 5)
#define IORING_FEAT_POLL_32BITS		(1U << 6)
#define IORING_FEAT_SQPOLL_NONFIXED	(1U << 7)
#define IORING_FEAT_EXT_ARG		(1U << 8)
#define IORING_FEAT_NATIVE_WORKERS	(1U << 9)
#define IORING_FEAT_RSRC_TAGS		(1U << 10)
#define IORING_FEAT_CQE_SKIP		(1U << 11)
#define IORING_FEAT_LINKED_FILE		(1U << 12)
#define IORING_FEAT_REG_REG_RING	(1U << 13)
#define IORING_FEAT_RECVSEND_BUNDLE	(1U << 14)
#define IORING_FEAT_MIN_TIMEOUT		(1U << 15)
#define IORING_FEAT_RW_ATTR		(1U << 16)
#define IORING_FEAT_NO_IOWAIT		(1U << 17)

/* mmap(2) offsets on a ring fd */
#define IORING_OFF_SQ_RING		0ULL
#define IORING_OFF_CQ_RING		0x8000000ULL
#define IORING_OFF_SQES			0x10000000ULL
#define IORING_OFF_PARAM_REGION		0x20000000ULL
#define IORING_OFF_ZCRX_REGION		0x30000000ULL	/* | id << IORING_OFF_ZCRX_SHIFT */
#define IORING_OFF_ZCRX_SHIFT		16
#define IORING_OFF_PBUF_RING		0x80000000ULL	/* | bgid << IORING_OFF_PBUF_SHIFT */
#define IORING_OFF_PBUF_SHIFT		16
#define IORING_OFF_MMAP_MASK		0xf8000000ULL

/* Shared SQ ring flags word (written by the kernel) */
#define IORING_SQ_NEED_WAKEUP		(1U << 0)  /* SQPOLL thread sleeps */
#define IORING_SQ_CQ_OVERFLOW		(1U << 1)  /* CQEs wait in the overflow list */
#define IORING_SQ_TASKRUN		(1U << 2)  /* task work is pending */

/* Shared CQ ring flags word (written by the application) */
#define IORING_CQ_EVENTFD_DISABLED	(1U << 0)

/* ------------------------------------------------------------------ */
/* The submission queue entry: 64 bytes, or 128 with SETUP_SQE128 */

struct io_uring_sqe {
	__u8	opcode;		/* IORING_OP_* */
	__u8	flags;		/* IOSQE_* */
	__u16	ioprio;		/* priority, or per-opcode flags (accept, recv) */
	__s32	fd;		/* file, or registered-file index with FIXED_FILE */
	union {
		__u64	off;	/* file offset */
		__u64	addr2;
		struct {
			__u32	cmd_op;
			__u32	__pad1;
		};
	};
	union {
		__u64	addr;	/* buffer or iovec array */
		__u64	splice_off_in;
		struct {
			__u32	level;
			__u32	optname;
		};
	};
	__u32	len;		/* length, iovec count, or per-opcode value */
	union {			/* per-opcode flags */
		__u32	rw_flags;
		__u32	fsync_flags;
		__u16	poll_events;
		__u32	poll32_events;
		__u32	sync_range_flags;
		__u32	msg_flags;
		__u32	timeout_flags;
		__u32	accept_flags;
		__u32	cancel_flags;
		__u32	open_flags;
		__u32	statx_flags;
		__u32	fadvise_advice;
		__u32	splice_flags;
		__u32	rename_flags;
		__u32	unlink_flags;
		__u32	hardlink_flags;
		__u32	xattr_flags;
		__u32	msg_ring_flags;
		__u32	uring_cmd_flags;
		__u32	waitid_flags;
		__u32	futex_flags;
		__u32	install_fd_flags;
		__u32	nop_flags;
		__u32	pipe_flags;
	};
	__u64	user_data;	/* returned untouched in the CQE */
	union {
		__u16	buf_index;	/* registered buffer */
		__u16	buf_group;	/* provided-buffer group */
	} __attribute__((packed));
	__u16	personality;	/* registered credentials, 0 = none */
	union {
		__s32	splice_fd_in;
		__u32	file_index;	/* direct-descriptor slot + 1 */
		__u32	zcrx_ifq_idx;
		__u32	optlen;
		struct {
			__u16	addr_len;
			__u16	__pad3[1];
		};
		struct {
			__u8	write_stream;
			__u8	__pad4[3];
		};
	};
	union {
		struct {
			__u64	addr3;
			__u64	__pad2[1];
		};
		struct {
			__u64	attr_ptr;	/* RW_ATTR: struct io_uring_attr_pi * */
			__u64	attr_type_mask;
		};
		__u64	optval;
		__u8	cmd[0];		/* uring_cmd payload, runs into SQE128 space */
	};
};

/* Bit numbers of sqe->flags */
enum io_uring_sqe_flags_bit {
	IOSQE_FIXED_FILE_BIT		= 0,
	IOSQE_IO_DRAIN_BIT		= 1,
	IOSQE_IO_LINK_BIT		= 2,
	IOSQE_IO_HARDLINK_BIT		= 3,
	IOSQE_ASYNC_BIT			= 4,
	IOSQE_BUFFER_SELECT_BIT		= 5,
	IOSQE_CQE_SKIP_SUCCESS_BIT	= 6,
};

#define IOSQE_FIXED_FILE	(1U << IOSQE_FIXED_FILE_BIT)	 /* fd is a slot */
#define IOSQE_IO_DRAIN		(1U << IOSQE_IO_DRAIN_BIT)	 /* wait for all before */
#define IOSQE_IO_LINK		(1U << IOSQE_IO_LINK_BIT)	 /* chain the next SQE */
#define IOSQE_IO_HARDLINK	(1U << IOSQE_IO_HARDLINK_BIT)	 /* chain, even on error */
#define IOSQE_ASYNC		(1U << IOSQE_ASYNC_BIT)		 /* punt to io-wq */
#define IOSQE_BUFFER_SELECT	(1U << IOSQE_BUFFER_SELECT_BIT)	 /* pick from buf_group */
#define IOSQE_CQE_SKIP_SUCCESS	(1U << IOSQE_CQE_SKIP_SUCCESS_BIT) /* no CQE on success */

/* Request opcodes: 63 of them on 6.18 */
enum io_uring_op {
	IORING_OP_NOP			= 0,
	IORING_OP_READV			= 1,
	IORING_OP_WRITEV		= 2,
	IORING_OP_FSYNC			= 3,
	IORING_OP_READ_FIXED		= 4,
	IORING_OP_WRITE_FIXED		= 5,
	IORING_OP_POLL_ADD		= 6,
	IORING_OP_POLL_REMOVE		= 7,
	IORING_OP_SYNC_FILE_RANGE	= 8,
	IORING_OP_SENDMSG		= 9,
	IORING_OP_RECVMSG		= 10,
	IORING_OP_TIMEOUT		= 11,
	IORING_OP_TIMEOUT_REMOVE	= 12,
	IORING_OP_ACCEPT		= 13,
	IORING_OP_ASYNC_CANCEL		= 14,
	IORING_OP_LINK_TIMEOUT		= 15,
	IORING_OP_CONNECT		= 16,
	IORING_OP_FALLOCATE		= 17,
	IORING_OP_OPENAT		= 18,
	IORING_OP_CLOSE			= 19,
	IORING_OP_FILES_UPDATE		= 20,
	IORING_OP_STATX			= 21,
	IORING_OP_READ			= 22,
	IORING_OP_WRITE			= 23,
	IORING_OP_FADVISE		= 24,
	IORING_OP_MADVISE		= 25,
	IORING_OP_SEND			= 26,
	IORING_OP_RECV			= 27,
	IORING_OP_OPENAT2		= 28,
	IORING_OP_EPOLL_CTL		= 29,
	IORING_OP_SPLICE		= 30,
	IORING_OP_PROVIDE_BUFFERS	= 31,
	IORING_OP_REMOVE_BUFFERS	= 32,
	IORING_OP_TEE			= 33,
	IORING_OP_SHUTDOWN		= 34,
	IORING_OP_RENAMEAT		= 35,
	IORING_OP_UNLINKAT		= 36,
	IORING_OP_MKDIRAT		= 37,
	IORING_OP_SYMLINKAT		= 38,
	IORING_OP_LINKAT		= 39,
	IORING_OP_MSG_RING		= 40,
	IORING_OP_FSETXATTR		= 41,
	IORING_OP_SETXATTR		= 42,
	IORING_OP_FGETXATTR		= 43,
	IORING_OP_GETXATTR		= 44,
	IORING_OP_SOCKET		= 45,
	IORING_OP_URING_CMD		= 46,
	IORING_OP_SEND_ZC		= 47,
	IORING_OP_SENDMSG_ZC		= 48,
	IORING_OP_READ_MULTISHOT	= 49,
	IORING_OP_WAITID		= 50,
	IORING_OP_FUTEX_WAIT		= 51,
	IORING_OP_FUTEX_WAKE		= 52,
	IORING_OP_FUTEX_WAITV		= 53,
	IORING_OP_FIXED_FD_INSTALL	= 54,
	IORING_OP_FTRUNCATE		= 55,
	IORING_OP_BIND			= 56,
	IORING_OP_LISTEN		= 57,
	IORING_OP_RECV_ZC		= 58,
	IORING_OP_EPOLL_WAIT		= 59,
	IORING_OP_READV_FIXED		= 60,
	IORING_OP_WRITEV_FIXED		= 61,
	IORING_OP_PIPE			= 62,

	IORING_OP_LAST			= 63,	/* one past the last opcode */
};

/* sqe->uring_cmd_flags */
#define IORING_URING_CMD_FIXED		(1U << 0)
#define IORING_URING_CMD_MULTISHOT	(1U << 1)
#define IORING_URING_CMD_MASK		(IORING_URING_CMD_FIXED | IORING_URING_CMD_MULTISHOT)

/* sqe->fsync_flags */
#define IORING_FSYNC_DATASYNC		(1U << 0)

/* sqe->timeout_flags */
#define IORING_TIMEOUT_ABS		(1U << 0)
#define IORING_TIMEOUT_UPDATE		(1U << 1)
#define IORING_TIMEOUT_BOOTTIME		(1U << 2)
#define IORING_TIMEOUT_REALTIME		(1U << 3)
#define IORING_LINK_TIMEOUT_UPDATE	(1U << 4)
#define IORING_TIMEOUT_ETIME_SUCCESS	(1U << 5)
#define IORING_TIMEOUT_MULTISHOT	(1U << 6)
#define IORING_TIMEOUT_CLOCK_MASK	(IORING_TIMEOUT_BOOTTIME | IORING_TIMEOUT_REALTIME)
#define IORING_TIMEOUT_UPDATE_MASK	(IORING_TIMEOUT_UPDATE | IORING_LINK_TIMEOUT_UPDATE)

/* sqe->splice_flags: splice(2) flags plus this one */
#define SPLICE_F_FD_IN_FIXED		(1U << 31)

/* POLL_ADD command flags, carried in sqe->len */
#define IORING_POLL_ADD_MULTI		(1U << 0)
#define IORING_POLL_UPDATE_EVENTS	(1U << 1)
#define IORING_POLL_UPDATE_USER_DATA	(1U << 2)
#define IORING_POLL_ADD_LEVEL		(1U << 3)

/* ASYNC_CANCEL and SYNC_CANCEL matching */
#define IORING_ASYNC_CANCEL_ALL		(1U << 0)
#define IORING_ASYNC_CANCEL_FD		(1U << 1)
#define IORING_ASYNC_CANCEL_ANY		(1U << 2)
#define IORING_ASYNC_CANCEL_FD_FIXED	(1U << 3)
#define IORING_ASYNC_CANCEL_USERDATA	(1U << 4)
#define IORING_ASYNC_CANCEL_OP		(1U << 5)

/* send/recv flags, carried in sqe->ioprio */
#define IORING_RECVSEND_POLL_FIRST	(1U << 0)
#define IORING_RECV_MULTISHOT		(1U << 1)
#define IORING_RECVSEND_FIXED_BUF	(1U << 2)
#define IORING_SEND_ZC_REPORT_USAGE	(1U << 3)
#define IORING_RECVSEND_BUNDLE		(1U << 4)
#define IORING_SEND_VECTORIZED		(1U << 5)

/* cqe->res bit of a zero-copy notification that had to copy */
#define IORING_NOTIF_USAGE_ZC_COPIED	(1U << 31)

/* accept flags, carried in sqe->ioprio */
#define IORING_ACCEPT_MULTISHOT		(1U << 0)
#define IORING_ACCEPT_DONTWAIT		(1U << 1)
#define IORING_ACCEPT_POLL_FIRST	(1U << 2)

/* MSG_RING: command in sqe->addr, flags in sqe->msg_ring_flags */
enum io_uring_msg_ring_flags {
	IORING_MSG_DATA		= 0,	/* target gets user_data = off, res = len */
	IORING_MSG_SEND_FD	= 1,	/* copy a registered file into the target */
};
#define IORING_MSG_RING_CQE_SKIP	(1U << 0)  /* post nothing to the target */
#define IORING_MSG_RING_FLAGS_PASS	(1U << 1)  /* target cqe->flags = file_index */

/* FIXED_FD_INSTALL: sqe->install_fd_flags */
#define IORING_FIXED_FD_NO_CLOEXEC	(1U << 0)

/* NOP: sqe->nop_flags */
#define IORING_NOP_INJECT_RESULT	(1U << 0)  /* res = sqe->len */
#define IORING_NOP_FILE			(1U << 1)  /* look up sqe->fd */
#define IORING_NOP_FIXED_FILE		(1U << 2)  /* ... as a registered file */
#define IORING_NOP_FIXED_BUFFER		(1U << 3)  /* look up sqe->buf_index */
#define IORING_NOP_TW			(1U << 4)  /* complete through task work */
#define IORING_NOP_CQE32		(1U << 5)  /* big CQE: extra1 = off, extra2 = addr */

/* Slot request for direct descriptors: let the kernel pick one */
#define IORING_FILE_INDEX_ALLOC		(~0U)

/* ------------------------------------------------------------------ */
/* The completion queue entry: 16 bytes, or 32 with SETUP_CQE32 */

struct io_uring_cqe {
	__u64	user_data;	/* from the SQE */
	__s32	res;		/* result, or -errno */
	__u32	flags;		/* IORING_CQE_F_* */
	__u64	big_cqe[];	/* CQE32 / F_32: extra1, extra2 */
};

#define IORING_CQE_F_BUFFER		(1U << 0)  /* upper 16 bits: buffer id */
#define IORING_CQE_F_MORE		(1U << 1)  /* more CQEs follow for this SQE */
#define IORING_CQE_F_SOCK_NONEMPTY	(1U << 2)  /* socket still has data */
#define IORING_CQE_F_NOTIF		(1U << 3)  /* zero-copy notification */
#define IORING_CQE_F_BUF_MORE		(1U << 4)  /* incremental buffer not used up */
#define IORING_CQE_F_SKIP		(1U << 5)  /* CQE_MIXED filler: ignore */
#define IORING_CQE_F_32			(1U << 15) /* CQE_MIXED: this one is 32 bytes */

#define IORING_CQE_BUFFER_SHIFT		16

/* ------------------------------------------------------------------ */
/* io_uring_enter(2) */

#define IORING_ENTER_GETEVENTS		(1U << 0)
#define IORING_ENTER_SQ_WAKEUP		(1U << 1)
#define IORING_ENTER_SQ_WAIT		(1U << 2)
#define IORING_ENTER_EXT_ARG		(1U << 3)  /* arg is io_uring_getevents_arg */
#define IORING_ENTER_REGISTERED_RING	(1U << 4)  /* fd is a registered ring index */
#define IORING_ENTER_ABS_TIMER		(1U << 5)
#define IORING_ENTER_EXT_ARG_REG	(1U << 6)  /* arg indexes the reg_wait region */
#define IORING_ENTER_NO_IOWAIT		(1U << 7)

struct io_uring_getevents_arg {
	__u64	sigmask;
	__u32	sigmask_sz;
	__u32	min_wait_usec;
	__u64	ts;		/* struct __kernel_timespec * */
};

/* One slot of a registered wait-argument region */
enum {
	IORING_REG_WAIT_TS		= (1U << 0),
};

struct io_uring_reg_wait {
	struct __kernel_timespec ts;
	__u32	min_wait_usec;
	__u32	flags;
	__u64	sigmask;
	__u32	sigmask_sz;
	__u32	pad[3];
	__u64	pad2[2];
};

/* ------------------------------------------------------------------ */
/* io_uring_register(2) */

enum io_uring_register_op {
	IORING_REGISTER_BUFFERS			= 0,
	IORING_UNREGISTER_BUFFERS		= 1,
	IORING_REGISTER_FILES			= 2,
	IORING_UNREGISTER_FILES			= 3,
	IORING_REGISTER_EVENTFD			= 4,
	IORING_UNREGISTER_EVENTFD		= 5,
	IORING_REGISTER_FILES_UPDATE		= 6,
	IORING_REGISTER_EVENTFD_ASYNC		= 7,
	IORING_REGISTER_PROBE			= 8,
	IORING_REGISTER_PERSONALITY		= 9,
	IORING_UNREGISTER_PERSONALITY		= 10,
	IORING_REGISTER_RESTRICTIONS		= 11,
	IORING_REGISTER_ENABLE_RINGS		= 12,
	IORING_REGISTER_FILES2			= 13,	/* with tags / sparse */
	IORING_REGISTER_FILES_UPDATE2		= 14,
	IORING_REGISTER_BUFFERS2		= 15,
	IORING_REGISTER_BUFFERS_UPDATE		= 16,
	IORING_REGISTER_IOWQ_AFF		= 17,
	IORING_UNREGISTER_IOWQ_AFF		= 18,
	IORING_REGISTER_IOWQ_MAX_WORKERS	= 19,
	IORING_REGISTER_RING_FDS		= 20,
	IORING_UNREGISTER_RING_FDS		= 21,
	IORING_REGISTER_PBUF_RING		= 22,
	IORING_UNREGISTER_PBUF_RING		= 23,
	IORING_REGISTER_SYNC_CANCEL		= 24,
	IORING_REGISTER_FILE_ALLOC_RANGE	= 25,
	IORING_REGISTER_PBUF_STATUS		= 26,
	IORING_REGISTER_NAPI			= 27,
	IORING_UNREGISTER_NAPI			= 28,
	IORING_REGISTER_CLOCK			= 29,
	IORING_REGISTER_CLONE_BUFFERS		= 30,
	IORING_REGISTER_SEND_MSG_RING		= 31,	/* fd = -1: no ring needed */
	IORING_REGISTER_ZCRX_IFQ		= 32,
	IORING_REGISTER_RESIZE_RINGS		= 33,
	IORING_REGISTER_MEM_REGION		= 34,
	IORING_REGISTER_QUERY			= 35,

	IORING_REGISTER_LAST			= 36,

	/* Or'ed into the opcode: fd is a registered ring index */
	IORING_REGISTER_USE_REGISTERED_RING	= 1U << 31,
};

/* io-wq worker classes, the two counts of IOWQ_MAX_WORKERS */
enum io_wq_type {
	IO_WQ_BOUND	= 0,
	IO_WQ_UNBOUND	= 1,
};

/* Argument of REGISTER_FILES2 / BUFFERS2 */
struct io_uring_rsrc_register {
	__u32	nr;
	__u32	flags;		/* IORING_RSRC_REGISTER_SPARSE */
	__u64	resv2;
	__aligned_u64 data;	/* fds or iovecs */
	__aligned_u64 tags;
};

#define IORING_RSRC_REGISTER_SPARSE	(1U << 0)

/* Argument of REGISTER_FILES_UPDATE and RING_FDS */
struct io_uring_rsrc_update {
	__u32	offset;
	__u32	resv;
	__aligned_u64 data;
};

/* Argument of FILES_UPDATE2 / BUFFERS_UPDATE */
struct io_uring_rsrc_update2 {
	__u32	offset;
	__u32	resv;
	__aligned_u64 data;
	__aligned_u64 tags;
	__u32	nr;
	__u32	resv2;
};

/* Older spelling of io_uring_rsrc_update, kept for FILES_UPDATE users */
struct io_uring_files_update {
	__u32	offset;
	__u32	resv;
	__aligned_u64 fds;	/* __s32 * */
};

/* An fd value that leaves its slot alone in a files update */
#define IORING_REGISTER_FILES_SKIP	(-2)

/* REGISTER_PROBE */
#define IO_URING_OP_SUPPORTED		(1U << 0)

struct io_uring_probe_op {
	__u8	op;
	__u8	resv;
	__u16	flags;		/* IO_URING_OP_SUPPORTED */
	__u32	resv2;
};

struct io_uring_probe {
	__u8	last_op;
	__u8	ops_len;
	__u16	resv;
	__u32	resv2[3];
	struct io_uring_probe_op ops[];
};

/* REGISTER_RESTRICTIONS */
enum io_uring_register_restriction_op {
	IORING_RESTRICTION_REGISTER_OP		= 0,	/* allow a register opcode */
	IORING_RESTRICTION_SQE_OP		= 1,	/* allow an SQE opcode */
	IORING_RESTRICTION_SQE_FLAGS_ALLOWED	= 2,	/* allow these sqe flags */
	IORING_RESTRICTION_SQE_FLAGS_REQUIRED	= 3,	/* require these sqe flags */

	IORING_RESTRICTION_LAST			= 4,
};

struct io_uring_restriction {
	__u16	opcode;		/* IORING_RESTRICTION_* */
	union {
		__u8	register_op;
		__u8	sqe_op;
		__u8	sqe_flags;
	};
	__u8	resv;
	__u32	resv2[3];
};

/* Provided buffers: one ring slot, 16 bytes */
struct io_uring_buf {
	__u64	addr;
	__u32	len;
	__u16	bid;
	__u16	resv;
};

/*
 * A provided-buffer ring.  The tail shares the first slot's resv field,
 * so the header costs no extra space.
 */
struct io_uring_buf_ring {
	union {
		struct {
			__u64	resv1;
			__u32	resv2;
			__u16	resv3;
			__u16	tail;
		};
		struct {
			struct {} __empty_bufs;
			struct io_uring_buf bufs[];
		};
	};
};

/* io_uring_buf_reg.flags */
enum io_uring_register_pbuf_ring_flags {
	IOU_PBUF_RING_MMAP	= 1,	/* kernel allocates; mmap at OFF_PBUF_RING */
	IOU_PBUF_RING_INC	= 2,	/* buffers are consumed incrementally */
};

/* Argument of (UN)REGISTER_PBUF_RING */
struct io_uring_buf_reg {
	__u64	ring_addr;
	__u32	ring_entries;	/* power of two, below 65536 */
	__u16	bgid;
	__u16	flags;
	__u32	min_left;
	__u32	resv[5];
};

/* Argument of PBUF_STATUS */
struct io_uring_buf_status {
	__u32	buf_group;	/* in */
	__u32	head;		/* out */
	__u32	resv[8];
};

/* (UN)REGISTER_NAPI */
enum io_uring_napi_op {
	IO_URING_NAPI_REGISTER_OP	= 0,
	IO_URING_NAPI_STATIC_ADD_ID	= 1,
	IO_URING_NAPI_STATIC_DEL_ID	= 2,
};

enum io_uring_napi_tracking_strategy {
	IO_URING_NAPI_TRACKING_DYNAMIC	= 0,
	IO_URING_NAPI_TRACKING_STATIC	= 1,
	IO_URING_NAPI_TRACKING_INACTIVE	= 255,
};

struct io_uring_napi {
	__u32	busy_poll_to;	/* microseconds */
	__u8	prefer_busy_poll;
	__u8	opcode;		/* io_uring_napi_op */
	__u8	pad[2];
	__u32	op_param;	/* tracking strategy, or a napi id */
	__u32	resv;
};

/* REGISTER_CLOCK */
struct io_uring_clock_register {
	__u32	clockid;	/* CLOCK_MONOTONIC or CLOCK_BOOTTIME */
	__u32	__resv[3];
};

/* REGISTER_CLONE_BUFFERS */
enum {
	IORING_REGISTER_SRC_REGISTERED	= (1U << 0),	/* src_fd is a ring index */
	IORING_REGISTER_DST_REPLACE	= (1U << 1),	/* replace existing buffers */
};

struct io_uring_clone_buffers {
	__u32	src_fd;
	__u32	flags;
	__u32	src_off;
	__u32	dst_off;
	__u32	nr;		/* 0: all */
	__u32	pad[3];
};

/* REGISTER_SYNC_CANCEL */
struct io_uring_sync_cancel_reg {
	__u64	addr;
	__s32	fd;
	__u32	flags;		/* IORING_ASYNC_CANCEL_* */
	struct __kernel_timespec timeout;
	__u8	opcode;
	__u8	pad[7];
	__u64	pad2[3];
};

/* REGISTER_FILE_ALLOC_RANGE: slots [off, off + len) */
struct io_uring_file_index_range {
	__u32	off;
	__u32	len;
	__u64	resv;
};

/* REGISTER_MEM_REGION */
enum {
	IORING_MEM_REGION_TYPE_USER	= 1,	/* user_addr holds the memory */
};

struct io_uring_region_desc {
	__u64	user_addr;
	__u64	size;
	__u32	flags;		/* IORING_MEM_REGION_TYPE_* */
	__u32	id;
	__u64	mmap_offset;	/* out: where to mmap a kernel region */
	__u64	__resv[4];
};

enum {
	IORING_MEM_REGION_REG_WAIT_ARG	= 1,	/* region holds io_uring_reg_wait */
};

struct io_uring_mem_region_reg {
	__u64	region_uptr;	/* struct io_uring_region_desc * */
	__u64	flags;
	__u64	__resv[2];
};

/* REGISTER_QUERY: a chain of headers, each naming one query */
enum {
	IO_URING_QUERY_OPCODES		= 0,
	__IO_URING_QUERY_MAX		= 1,
};

struct io_uring_query_hdr {
	__u64	next_entry;	/* next header, 0 ends the chain */
	__u64	query_data;	/* result buffer */
	__u32	query_op;
	__u32	size;		/* of query_data */
	__s32	result;		/* out: 0 or -errno */
	__u32	__resv[3];
};

struct io_uring_query_opcode {
	__u32	nr_request_opcodes;
	__u32	nr_register_opcodes;
	__u64	feature_flags;
	__u64	ring_setup_flags;
	__u64	enter_flags;
	__u64	sqe_flags;
	__u32	nr_query_opcodes;
	__u32	__pad;
};

/* RECVMSG multishot: header at the start of each selected buffer */
struct io_uring_recvmsg_out {
	__u32	namelen;
	__u32	controllen;
	__u32	payloadlen;
	__u32	flags;
};

/* URING_CMD on a socket */
enum io_uring_socket_op {
	SOCKET_URING_OP_SIOCINQ		= 0,
	SOCKET_URING_OP_SIOCOUTQ	= 1,
	SOCKET_URING_OP_GETSOCKOPT	= 2,
	SOCKET_URING_OP_SETSOCKOPT	= 3,
	SOCKET_URING_OP_TX_TIMESTAMP	= 4,
};

/* RW_ATTR: protection information attached to a read or write */
#define IORING_RW_ATTR_FLAG_PI		(1U << 0)

struct io_uring_attr_pi {
	__u16	flags;
	__u16	app_tag;
	__u32	len;
	__u64	addr;
	__u64	seed;
	__u64	rsvd;
};

/* ------------------------------------------------------------------ */
/* Zero-copy receive (REGISTER_ZCRX_IFQ, OP_RECV_ZC) */

#define IORING_ZCRX_AREA_SHIFT		48
#define IORING_ZCRX_AREA_MASK		(~(((__u64)1 << IORING_ZCRX_AREA_SHIFT) - 1))

enum io_uring_zcrx_area_flags {
	IORING_ZCRX_AREA_DMABUF		= 1,
};

struct io_uring_zcrx_rqe {
	__u64	off;
	__u32	len;
	__u32	__pad;
};

struct io_uring_zcrx_cqe {
	__u64	off;
	__u64	__pad;
};

struct io_uring_zcrx_offsets {
	__u32	head;
	__u32	tail;
	__u32	rqes;
	__u32	__resv2;
	__u64	__resv[2];
};

struct io_uring_zcrx_area_reg {
	__u64	addr;
	__u64	len;
	__u64	rq_area_token;
	__u32	flags;
	__u32	dmabuf_fd;
	__u64	__resv2[2];
};

struct io_uring_zcrx_ifq_reg {
	__u32	if_idx;
	__u32	if_rxq;
	__u32	rq_entries;
	__u32	flags;
	__u64	area_ptr;	/* struct io_uring_zcrx_area_reg * */
	__u64	region_ptr;	/* struct io_uring_region_desc * */
	struct io_uring_zcrx_offsets offsets;
	__u32	zcrx_id;
	__u32	__resv2;
	__u64	__resv[3];
};

#ifdef __cplusplus
}
#endif

#endif /* CRIU_URING_LINUX_IO_URING_H */

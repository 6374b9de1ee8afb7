/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Binary records emitted by uring_iter.bpf.c into the "events" ring buffer.
 *
 * Every record starts with struct rec_hdr; `size` is the size of the whole
 * record, so a reader can skip types it does not know.  All fields are
 * little-endian, naturally aligned, with explicit padding; the layout is
 * mirrored by src/capture/bpf-records.ts and documented in docs/bpf.md.
 * Change both together and bump REC_VERSION.
 *
 * This header is included by BPF code only (it relies on vmlinux.h types).
 */
#ifndef URING_RECORDS_H
#define URING_RECORDS_H

#define REC_VERSION 6

enum rec_type {
	REC_FILE	= 1,	/* one fd of the process */
	REC_RING	= 2,	/* core state of one ring (first sighting) */
	REC_SQE		= 3,	/* one pending SQE */
	REC_CQE		= 4,	/* one unconsumed CQE or overflow-list CQE */
	REC_RFILE	= 5,	/* one occupied registered-file slot */
	REC_RFILE_NAME	= 6,	/* one dentry name of a registered file's path */
	REC_RBUF	= 7,	/* one registered buffer */
	REC_PERS	= 8,	/* one personality */
	REC_PBUF_LIST	= 9,	/* one provided-buffer group (ring or legacy) */
	REC_PBUF_BUF	= 10,	/* one legacy provided buffer */
	REC_REQ		= 11,	/* one in-flight request */
	REC_RSLOT	= 12,	/* one registered ring fd slot of a thread */
	REC_VMA		= 13,	/* one io_uring mapping */
	REC_TASK	= 14,	/* one thread: comm and io-wq state */
	REC_COUNTS	= 15,	/* summary mode: per-ring counts */
	REC_REQ_ARM	= 16,	/* what re-arming one waiting request takes */
	REC_FUTEXV	= 17,	/* one futex of a waiting FUTEX_WAITV */
	REC_SENDMSG	= 18,	/* the header a waiting SENDMSG's preparation copied */
};

/* Bits of rec_ring.bits: the ctx bitfields we report. */
#define RING_BIT_RESTRICTED	(1u << 0)
#define RING_BIT_HAS_EVFD	(1u << 1)
#define RING_BIT_TASK_COMPLETE	(1u << 2)
#define RING_BIT_LOCKLESS_CQ	(1u << 3)
#define RING_BIT_IOWQ_LIMITS	(1u << 4)
#define RING_BIT_COMPAT		(1u << 5)
#define RING_BIT_DRAIN_ACTIVE	(1u << 6)

/* Bits of rec_ring.missing: what this kernel's BTF lacks. */
#define MISS_FILE_TABLE		(1u << 0)
#define MISS_BUF_TABLE		(1u << 1)
#define MISS_PBUF		(1u << 2)
#define MISS_PERSONALITIES	(1u << 3)
#define MISS_RESTRICTIONS	(1u << 4)
#define MISS_NAPI		(1u << 5)
#define MISS_CLOCK		(1u << 6)
#define MISS_PARAM_REGION	(1u << 7)
#define MISS_FUTEX		(1u << 8)
#define MISS_WAITID		(1u << 9)
#define MISS_URING_CMD		(1u << 10)
#define MISS_IOWQ_LIMITS	(1u << 11)
#define MISS_SQPOLL		(1u << 12)
#define MISS_EVENTFD		(1u << 13)
#define MISS_SUBMITTER		(1u << 14)
#define MISS_FILE_ALLOC		(1u << 15)
#define MISS_CANCEL_TABLE	(1u << 16)
#define MISS_WAIT_ARG		(1u << 17)
#define MISS_CQE_MIXED		(1u << 18)

/* rec_req.state */
enum req_state {
	REQ_POLL = 1,
	REQ_TIMEOUT = 2,
	REQ_LTIMEOUT = 3,
	REQ_FUTEX = 4,
	REQ_WAITID = 5,
	REQ_IOWQ_QUEUED = 6,
	REQ_IOWQ_RUNNING = 7,
	REQ_IOPOLL = 8,
	REQ_DEFERRED = 9,
	REQ_URING_CMD = 10,
	REQ_TASK_WORK = 11,	/* completed, its CQE waits in task work */
	REQ_LINKED = 12,	/* a link of a waiting request: prepared, never issued */
};

/* rec_ring.via / how a ring was first found */
enum ring_via {
	VIA_FD = 1,
	VIA_RSLOT = 2,
	VIA_VMA = 3,
};

struct rec_hdr {
	__u32 type;
	__u32 size;
};

struct rec_file {			/* 48 bytes */
	struct rec_hdr hdr;
	__u32 tgid;
	__s32 fd;
	__u64 file;
	__u64 private_data;
	__u64 ino;
	__u32 f_flags;
	__u16 i_mode;
	__u8 is_uring;
	__u8 pad;
};

struct rec_ring {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 ino;
	__u32 tgid;
	__u32 via;
	__u32 setup_flags;
	__u32 bits;
	__s32 submitter_tid;
	__u32 missing;
	/* shared io_rings values and kernel-private cached indices */
	__u32 sq_head, sq_tail, cached_sq_head, sq_entries;
	__u32 sq_mask, sq_dropped, sq_flags, cq_flags;
	__u32 cq_head, cq_tail, cached_cq_tail, cq_entries;
	__u32 cq_mask, cq_overflow;
	__u64 check_cq;
	__s32 clockid;
	__u32 clock_offset;
	__u32 sq_thread_idle;	/* ctx copy, jiffies */
	__u32 hz;		/* CONFIG_HZ, 0 when unknown */
	__u32 nr_files, nr_bufs;
	__u32 file_alloc_start, file_alloc_end;
	__u64 restr_register_op;
	__u64 restr_sqe_op;
	__u8 restr_flags_allowed;
	__u8 restr_flags_required;
	__u8 restr_registered;
	__u8 napi_prefer;
	__u8 napi_mode;
	__u8 pad0[3];
	__u32 iowq_limits[2];
	__s64 napi_busy_poll_dt;
	__u32 pers_next;
	__u32 param_nr_pages;
	__u64 param_ptr;
	__u32 param_flags;
	__u32 pad1;
	__u64 cq_wait_arg;
	__u64 cq_wait_size;
	__u64 sq_data;
	__s32 sqd_thread_tid;	/* -1 when the thread is gone */
	__s32 sqd_cpu;
	__u32 sqd_idle;		/* jiffies */
	__s32 sqd_task_tgid;
	__u64 evfd_ctx;		/* struct eventfd_ctx *, 0 when none */
	__u32 evfd_async;
	__u32 pad2;
	__u64 rings;
	__u64 sq_array;
	__u64 sq_sqes;
	/* user addresses of application-provided memory (NO_MMAP rings, memory
	 * regions), 0 when kernel-allocated or not found */
	__u64 ring_uaddr;
	__u64 sqes_uaddr;
	__u64 param_uaddr;
	/* where the next IORING_FILE_INDEX_ALLOC search starts (file_table.alloc_hint) */
	__u32 file_alloc_hint;
	__u32 pad3;
};

struct rec_sqe {
	struct rec_hdr hdr;
	__u64 ctx;
	__u32 pos;		/* SQ position (head + i) */
	__u32 sqe_idx;		/* slot in the SQE array */
	__u32 len;		/* 64 or 128 */
	__u32 pad;
	__u8 data[128];
};

struct rec_cqe {
	struct rec_hdr hdr;
	__u64 ctx;
	__u32 pos;		/* CQ position, or overflow-list index */
	__u32 overflow;		/* 1: from cq_overflow_list */
	__u8 data[32];		/* CQE, then the following 16 bytes */
};

struct rec_rfile {
	struct rec_hdr hdr;
	__u64 ctx;
	__u32 index;
	__u32 f_flags;
	__u64 file;
	__u64 private_data;
	__u64 tag;
	__u64 ino;
	__s64 pos;
	__u16 i_mode;
	__u16 pad;
	__u32 s_magic;
	__u32 rdev;
	__u32 name_len;
	char name[64];
};

struct rec_rfile_name {
	struct rec_hdr hdr;
	__u64 ctx;
	__u32 index;
	__u32 depth;		/* 0 = the file's own dentry, then parents */
	__u32 len;
	__u32 reserved;
	char name[64];
};

struct rec_rbuf {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 ubuf;
	__u64 tag;
	__u32 index;
	__u32 len;
	__u32 is_kbuf;
	__u32 pad;
};

#define PERS_MAX_GROUPS 64

struct rec_pers {
	struct rec_hdr hdr;
	__u64 ctx;
	__u32 id;
	__u32 uid, gid, suid, sgid, euid, egid, fsuid, fsgid;
	__u32 ngroups;
	__u64 cap_effective;
	__u32 groups[PERS_MAX_GROUPS];
};

struct rec_pbuf_list {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 buf_ring;		/* kernel address of the ring, 0 for legacy */
	__u32 bgid;
	__u32 flags;		/* IOBL_BUF_RING 1, IOBL_INC 2 */
	__u32 nr_entries;
	__u32 head;
	__u32 mask;
	__u32 tail;		/* user tail read from the ring's shared memory */
	__u32 region_flags;	/* IO_REGION_F_*: 2 = user provided memory */
	__u32 region_nr_pages;
	__s32 nbufs;
	__u32 pad;
	__u64 user_addr;	/* application memory holding the ring, 0 if none/unknown */
};

struct rec_pbuf_buf {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 addr;
	__u32 bgid;
	__u32 seq;		/* position in the group's list */
	__u32 bid;
	__u32 len;
};

struct rec_req {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 req;
	__u64 user_data;
	__u64 flags;		/* REQ_F_*: bits 0-6 mirror IOSQE_* */
	__s32 fd;
	__u32 state;
	__u32 opcode;
	__u32 tid;		/* task whose io-wq holds it, else 0 */
};

/* rec_req_arm.bits: request flags, independent of the kernel's REQ_F_* numbering */
#define ARM_FIXED_FILE		(1u << 0)
#define ARM_IO_DRAIN		(1u << 1)
#define ARM_LINK		(1u << 2)
#define ARM_HARDLINK		(1u << 3)
#define ARM_FORCE_ASYNC		(1u << 4)
#define ARM_BUFFER_SELECT	(1u << 5)
#define ARM_CQE_SKIP		(1u << 6)
#define ARM_CUR_POS		(1u << 7)	/* offset -1: the file position */
#define ARM_LINK_TIMEOUT	(1u << 8)	/* a LINK_TIMEOUT guards it */
#define ARM_CREDS		(1u << 9)	/* runs under a personality */
#define ARM_MULTISHOT		(1u << 10)	/* REQ_F_APOLL_MULTISHOT */
#define ARM_BUFFER_SELECTED	(1u << 11)	/* holds a provided buffer */
#define ARM_BUFFER_RING		(1u << 12)
#define ARM_NOWAIT		(1u << 13)
#define ARM_HAS_APOLL		(1u << 14)	/* poll_events is the async poll's */
#define ARM_HAS_MSGHDR		(1u << 15)	/* msg_* hold a RECVMSG's copied header */
#define ARM_SEND_ADDR		(1u << 16)	/* a SEND with a destination address (msg_namelen) */
#define ARM_FUTEX_QUEUED	(1u << 17)	/* a FUTEX_WAIT still queued on its futex (not woken) */
#define ARM_WAITID_WAITING	(1u << 18)	/* a WAITID no wakeup has claimed yet */
#define ARM_OWN_CREDS		(1u << 19)	/* req->creds are its submitter's own (not a personality's) */

/*
 * What re-arming a request that waits for an outside event takes, read
 * from io_kiocb and its per-opcode command data (io_uring/net.c io_sr_msg,
 * rw.c io_rw, poll.c io_poll, timeout.c io_timeout/io_timeout_data).
 * Emitted after the rec_req of the same request, for poll and timeout
 * states only, and for the links that follow such a request in its chain
 * (rec_req state REQ_LINKED, `head` and `link_pos` set).  The meaning of the generic fields depends on the opcode
 * (docs/bpf.md).
 */
struct rec_req_arm {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 req;
	__u64 file;		/* struct file * (matched to fds / registered slots) */
	__u64 addr;		/* buffer, msghdr or sockaddr address */
	__u64 addr2;		/* accept: addrlen pointer; read: file offset */
	__u64 link;		/* req->link: the next request of a chain */
	__s64 remaining_ns;	/* timeouts: time left on the timer at capture */
	__s64 ts_sec;		/* timeouts: the timespec as given */
	__s64 ts_nsec;
	__u32 bits;		/* ARM_* */
	__u32 len;		/* buffer length; timeout: sqe->off (count) */
	__u32 op_flags;		/* msg_flags, rw_flags, accept4 flags, poll events, timeout flags */
	__u32 ioprio;		/* recv/send: sr->flags; accept: iou_flags; rw: ki_ioprio */
	__u32 buf_group;	/* req->buf_index / sr->buf_group */
	__u32 done_io;		/* recv: bytes already received; rw: 0 */
	__u32 mshot_len;	/* recv multishot: sqe->len */
	__u32 mshot_total_len;	/* recv multishot: sqe->optlen */
	__u32 file_slot;	/* accept: sqe->file_index */
	__s32 count_left;	/* count timeouts: completions still awaited */
	__u32 poll_events;	/* poll mask armed (POLL_ADD: io_poll.events) */
	__u32 mode;		/* timeouts: enum hrtimer_mode */
	/* RECVMSG: the msghdr as the kernel copied it at submission (io_async_msghdr) */
	__u64 msg_name;
	__u64 msg_control;
	__u32 msg_namelen;
	__u32 msg_controllen;
	/* links (REQ_LINKED): the waiting request whose chain this is, and the place in it (1: right after it) */
	__u64 head;
	__u32 link_pos;
	__u32 repeats;		/* multishot timeouts: io_timeout.repeats (firings left; 0: unlimited) */
	__u64 addr3;		/* FUTEX_WAIT: the mask (addr: uaddr, addr2: value, op_flags: futex flags) */
};

/*
 * One futex of a FUTEX_WAITV waiting in futex_list, from the kernel's copy
 * of the application's futex_waitv array (req->async_data: struct
 * futex_vector[]), after the request's rec_req_arm.  The application may
 * have reused its array since the submission; this copy is what the
 * request waits on.
 */
struct rec_futexv {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 req;
	__u64 uaddr;
	__u64 val;
	__u32 flags;		/* the kernel's futex FLAGS_* */
	__u32 index;		/* place in the vector */
};

/*
 * The header a SENDMSG waiting in poll works from (and the address of a
 * SEND to an address, which its preparation copies the same way): what its preparation
 * copied out of the application's msghdr into req->async_data (struct
 * io_async_msghdr): the destination address (its own copy), the data
 * iterator (one user buffer, or the kernel's copy of the iovec array and
 * the place in it) and the control buffer's pointer (sr->msg_control) and
 * length.  The data and control bytes stay in the application's memory.
 * After the request's rec_req_arm.
 */
#define SENDMSG_MAX_IOVS	32
#define SENDMSG_ITER_OTHER	0
#define SENDMSG_ITER_UBUF	1
#define SENDMSG_ITER_IOVEC	2

struct rec_sendmsg {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 req;
	__u64 control;		/* sr->msg_control: the user's control buffer */
	__u64 controllen;	/* msg.msg_controllen */
	__u64 iov_offset;	/* msg_iter.iov_offset: bytes of the current segment already sent */
	__u64 count;		/* msg_iter.count: bytes left to send */
	__u64 nr_segs;		/* ITER_IOVEC: segments left, from the current one */
	__u64 ubuf;		/* ITER_UBUF: the user buffer */
	__u64 iov_cur;		/* ITER_IOVEC: the segment it is at (msg_iter.__iov) */
	__u64 iov_start;	/* the kernel's copy of the iovec array (io_async_msghdr.vec.iovec) */
	__s32 namelen;		/* msg.msg_namelen (0: no address) */
	__u8 iter;		/* SENDMSG_ITER_* */
	__u8 has_name;		/* msg.msg_name set (points at the copy in name) */
	__u16 pad;
	__u8 name[128];		/* io_async_msghdr.addr: the destination, namelen bytes */
	__u64 iov[2 * SENDMSG_MAX_IOVS];	/* ITER_IOVEC: iov_base, iov_len of the segments left */
};

struct rec_rslot {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 file;
	__u64 ino;
	__u32 tgid;
	__u32 tid;
	__u32 index;
	__u32 pad;
};

struct rec_vma {
	struct rec_hdr hdr;
	__u64 ctx;
	__u64 ino;
	__u64 start;
	__u64 end;
	__u64 pgoff;		/* in pages */
	__u64 vm_flags;
	__u32 tgid;
	__u32 pad;
};

struct rec_task {
	struct rec_hdr hdr;
	__u32 tgid;
	__u32 tid;
	char comm[16];
	__u32 pf_flags;
	__u32 has_tctx;
	__u32 has_iowq;
	__u32 max_workers[2];
	__u32 nr_workers[2];
	__u32 pad;
	__u64 cpumask[4];	/* io-wq affinity, CPUs 0-255 */
};

struct rec_counts {
	struct rec_hdr hdr;
	__u64 ctx;
	__u32 tgid;
	__u32 files;
	__u32 bufs;
	__u32 inflight;
};

#endif /* URING_RECORDS_H */

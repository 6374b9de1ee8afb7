/*
 * The io_uring user ABI (Linux 6.18) in one place: every io_uring constant
 * the capture, the image checks and the restore planner use, and the
 * system call numbers plans are made of.
 *
 * Names are the header's without the group prefix: SETUP.SQPOLL is
 * IORING_SETUP_SQPOLL, REGISTER.EVENTFD is IORING_REGISTER_EVENTFD,
 * UNREGISTER.RING_FDS is IORING_UNREGISTER_RING_FDS.  test/abi.test.ts
 * parses include/linux/io_uring.h (the header the C side builds against)
 * and checks every value here against it, and the syscall tables against
 * the system's <asm/unistd_64.h> and <asm-generic/unistd.h>.  Add a value
 * here, never as a local constant next to its use.
 */

/** IORING_SETUP_*: io_uring_setup() flags. */
export const SETUP = {
	IOPOLL: 1 << 0, SQPOLL: 1 << 1, SQ_AFF: 1 << 2, CQSIZE: 1 << 3, CLAMP: 1 << 4,
	ATTACH_WQ: 1 << 5, R_DISABLED: 1 << 6, SUBMIT_ALL: 1 << 7, COOP_TASKRUN: 1 << 8,
	TASKRUN_FLAG: 1 << 9, SQE128: 1 << 10, CQE32: 1 << 11, SINGLE_ISSUER: 1 << 12,
	DEFER_TASKRUN: 1 << 13, NO_MMAP: 1 << 14, REGISTERED_FD_ONLY: 1 << 15,
	NO_SQARRAY: 1 << 16, HYBRID_IOPOLL: 1 << 17, CQE_MIXED: 1 << 18,
} as const;

/** IORING_OFF_*: mmap offsets of a ring's regions (the high bits select the region). */
export const OFF = {
	SQ_RING: 0n, CQ_RING: 0x8000000n, SQES: 0x10000000n, PARAM_REGION: 0x20000000n,
	ZCRX_REGION: 0x30000000n, PBUF_RING: 0x80000000n, PBUF_SHIFT: 16n, MMAP_MASK: 0xf8000000n,
} as const;

/** IORING_SQ_*: bits of the shared sq_flags word. */
export const SQ = { NEED_WAKEUP: 1 << 0, CQ_OVERFLOW: 1 << 1, TASKRUN: 1 << 2 } as const;

/** IORING_CQ_*: bits of the shared cq_flags word. */
export const CQ = { EVENTFD_DISABLED: 1 << 0 } as const;

/** IORING_ENTER_*: io_uring_enter() flags. */
export const ENTER = {
	GETEVENTS: 1 << 0, SQ_WAKEUP: 1 << 1, SQ_WAIT: 1 << 2, EXT_ARG: 1 << 3,
	REGISTERED_RING: 1 << 4, ABS_TIMER: 1 << 5, EXT_ARG_REG: 1 << 6, NO_IOWAIT: 1 << 7,
} as const;

/** IORING_REGISTER_*: io_uring_register() opcodes, and the flags sharing the prefix. */
export const REGISTER = {
	BUFFERS: 0, FILES: 2, EVENTFD: 4, FILES_UPDATE: 6, EVENTFD_ASYNC: 7, PROBE: 8,
	PERSONALITY: 9, RESTRICTIONS: 11, ENABLE_RINGS: 12, FILES2: 13, FILES_UPDATE2: 14,
	BUFFERS2: 15, BUFFERS_UPDATE: 16, IOWQ_AFF: 17, IOWQ_MAX_WORKERS: 19, RING_FDS: 20,
	PBUF_RING: 22, SYNC_CANCEL: 24, FILE_ALLOC_RANGE: 25, PBUF_STATUS: 26, NAPI: 27,
	CLOCK: 29, CLONE_BUFFERS: 30, SEND_MSG_RING: 31, ZCRX_IFQ: 32, RESIZE_RINGS: 33,
	MEM_REGION: 34, QUERY: 35,
	/** one past the last opcode */
	LAST: 36,
	/** or'ed into the opcode: the fd argument is a registered-ring index */
	USE_REGISTERED_RING: 0x80000000,
	/** IORING_REGISTER_CLONE_BUFFERS flags */
	SRC_REGISTERED: 1 << 0, DST_REPLACE: 1 << 1,
} as const;

/** IORING_UNREGISTER_*: io_uring_register() opcodes that undo a registration. */
export const UNREGISTER = {
	BUFFERS: 1, FILES: 3, EVENTFD: 5, PERSONALITY: 10, IOWQ_AFF: 18, RING_FDS: 21,
	PBUF_RING: 23, NAPI: 28,
} as const;

/** IORING_OP_*: request opcodes, in number order (src/uring/opcodes.ts names them). */
export const OP = {
	NOP: 0, READV: 1, WRITEV: 2, FSYNC: 3, READ_FIXED: 4, WRITE_FIXED: 5, POLL_ADD: 6, POLL_REMOVE: 7,
	SYNC_FILE_RANGE: 8, SENDMSG: 9, RECVMSG: 10, TIMEOUT: 11, TIMEOUT_REMOVE: 12, ACCEPT: 13,
	ASYNC_CANCEL: 14, LINK_TIMEOUT: 15, CONNECT: 16, FALLOCATE: 17, OPENAT: 18, CLOSE: 19,
	FILES_UPDATE: 20, STATX: 21, READ: 22, WRITE: 23, FADVISE: 24, MADVISE: 25, SEND: 26, RECV: 27,
	OPENAT2: 28, EPOLL_CTL: 29, SPLICE: 30, PROVIDE_BUFFERS: 31, REMOVE_BUFFERS: 32, TEE: 33,
	SHUTDOWN: 34, RENAMEAT: 35, UNLINKAT: 36, MKDIRAT: 37, SYMLINKAT: 38, LINKAT: 39, MSG_RING: 40,
	FSETXATTR: 41, SETXATTR: 42, FGETXATTR: 43, GETXATTR: 44, SOCKET: 45, URING_CMD: 46, SEND_ZC: 47,
	SENDMSG_ZC: 48, READ_MULTISHOT: 49, WAITID: 50, FUTEX_WAIT: 51, FUTEX_WAKE: 52, FUTEX_WAITV: 53,
	FIXED_FD_INSTALL: 54, FTRUNCATE: 55, BIND: 56, LISTEN: 57, RECV_ZC: 58, EPOLL_WAIT: 59,
	READV_FIXED: 60, WRITEV_FIXED: 61, PIPE: 62,
} as const;

/** IOSQE_*: SQE flags. */
export const IOSQE = {
	FIXED_FILE: 1 << 0, IO_DRAIN: 1 << 1, IO_LINK: 1 << 2, IO_HARDLINK: 1 << 3, ASYNC: 1 << 4,
	BUFFER_SELECT: 1 << 5, CQE_SKIP_SUCCESS: 1 << 6,
} as const;

/** IORING_CQE_F_*: CQE flags. */
export const CQE_F = {
	BUFFER: 1 << 0, MORE: 1 << 1, SOCK_NONEMPTY: 1 << 2, NOTIF: 1 << 3, BUF_MORE: 1 << 4,
	SKIP: 1 << 5, 32: 1 << 15,
} as const;

/** IORING_ASYNC_CANCEL_*: cancel flags. */
export const ASYNC_CANCEL = {
	ALL: 1 << 0, FD: 1 << 1, ANY: 1 << 2, FD_FIXED: 1 << 3, USERDATA: 1 << 4, OP: 1 << 5,
} as const;

/** IORING_TIMEOUT_*: timeout flags (sqe->timeout_flags). */
export const TIMEOUT = {
	ABS: 1 << 0, UPDATE: 1 << 1, BOOTTIME: 1 << 2, REALTIME: 1 << 3, ETIME_SUCCESS: 1 << 5, MULTISHOT: 1 << 6,
} as const;

/** IORING_POLL_*: POLL_ADD/POLL_REMOVE flags (sqe->len). */
export const POLL = { ADD_MULTI: 1 << 0, UPDATE_EVENTS: 1 << 1, UPDATE_USER_DATA: 1 << 2, ADD_LEVEL: 1 << 3 } as const;

/** IORING_RECVSEND_* and IORING_RECV_MULTISHOT: send/receive flags (sqe->ioprio). */
export const RECVSEND = { POLL_FIRST: 1 << 0, FIXED_BUF: 1 << 2, BUNDLE: 1 << 4 } as const;
export const RECV_MULTISHOT = 1 << 1;

/** IORING_ACCEPT_*: accept flags (sqe->ioprio). */
export const ACCEPT = { MULTISHOT: 1 << 0, DONTWAIT: 1 << 1, POLL_FIRST: 1 << 2 } as const;

/** IORING_RESTRICTION_*: restriction kinds. */
export const RESTRICTION = { REGISTER_OP: 0, SQE_OP: 1, SQE_FLAGS_ALLOWED: 2, SQE_FLAGS_REQUIRED: 3 } as const;

/** IOU_PBUF_RING_*: buffer ring registration flags. */
export const IOU_PBUF_RING = { MMAP: 1, INC: 2 } as const;

/** IORING_RSRC_REGISTER_SPARSE: a resource table registered empty. */
export const RSRC_REGISTER_SPARSE = 1 << 0;

/** IO_URING_NAPI_REGISTER_OP: the NAPI registration opcode. */
export const NAPI_REGISTER_OP = 0;

/** IORING_MEM_REGION_*: memory region type and flags. */
export const MEM_REGION = { TYPE_USER: 1, REG_WAIT_ARG: 1 } as const;

/** IORING_OP_LAST: request opcodes this ABI knows (0 .. 62). */
export const NR_REQUEST_OPCODES = Object.keys(OP).length;
/** IORING_REGISTER_LAST: register opcodes this ABI knows (0 .. 35). */
export const NR_REGISTER_OPCODES = REGISTER.LAST;

/*
 * System call numbers of every call a plan or a capture makes.  The
 * io_uring calls and pidfd_* are the same on every architecture; the
 * others differ.  The plugin's injector runs x86_64 tasks only, so NR is
 * the x86_64 table; the arm64 one (the generic table) is checked too, so
 * that a port changes one line.
 */
export const SYSCALLS = {
	x64: {
		write: 1, close: 3, lseek: 8, mmap: 9, munmap: 11, pread64: 17, getpid: 39, fcntl: 72,
		socketpair: 53, epoll_ctl: 233, openat: 257, eventfd2: 290, dup3: 292, pipe2: 293, memfd_create: 319,
		io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, pidfd_open: 434, pidfd_getfd: 438,
	},
	arm64: {
		write: 64, close: 57, lseek: 62, mmap: 222, munmap: 215, pread64: 67, getpid: 172, fcntl: 25,
		socketpair: 199, epoll_ctl: 21, openat: 56, eventfd2: 19, dup3: 24, pipe2: 59, memfd_create: 279,
		io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, pidfd_open: 434, pidfd_getfd: 438,
	},
} as const;

/** System call numbers for the tasks plans run in (x86_64). */
export const NR = SYSCALLS.x64;

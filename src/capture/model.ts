/*
 * The inspect model: everything criu-uring knows about the io_uring
 * instances of one process.  This is the stable `inspect --json` schema
 * (docs/inspect-json.md) and the input of the dump path.  Plain data only:
 * no methods, so it survives JSON round trips unchanged.
 *
 * 64-bit values that may exceed 2^53 (user_data, addresses, capability
 * masks, kernel pointers) are decimal strings; everything else is a number.
 */

export type Source = 'bpf' | 'fdinfo';

export interface ProcessRings {
	pid: number;
	comm: string;
	source: Source;
	/** Kernel features this capture could not see, in plain words. */
	unavailable: string[];
	rings: RingState[];
}

export type MappingKind = 'rings' | 'sqes' | 'pbuf_ring' | 'param_region' | 'zcrx' | 'unknown';

export interface Mapping {
	start: string; /* hex "0x7f..." */
	end: string;
	offset: string; /* mmap offset, hex */
	kind: MappingKind;
	prot: string; /* "rw-s" as in /proc/PID/maps */
	/** For pbuf_ring mappings: the buffer group id encoded in the offset. */
	bgid?: number;
}

export interface SqState {
	head: number;
	tail: number;
	cached_head: number | null;
	dropped: number;
	flags: number;
}

export interface CqState {
	head: number;
	tail: number;
	cached_tail: number | null;
	overflow: number;
	flags: number;
}

export interface Sqe {
	index: number; /* position in the SQ (head-relative ring slot) */
	opcode: number;
	opname: string;
	flags: number;
	fd: number;
	fixed: boolean; /* IOSQE_FIXED_FILE: fd is a registered-file index */
	off: string;
	addr: string;
	len: number;
	op_flags: number;
	buf_index: number;
	personality: number;
	user_data: string;
	/** SQE128 rings: the second 64 bytes, hex. */
	cmd?: string;
}

export interface Cqe {
	user_data: string;
	res: number;
	flags: number;
	/** CQE32 / big CQEs. */
	extra1?: string;
	extra2?: string;
}

export interface SqpollInfo {
	thread_pid: number | null;
	cpu: number | null; /* pinned CPU (SQ_AFF), null when not pinned */
	idle_ms: number | null;
	shared_with: number[]; /* inodes of the other rings on that thread */
}

export interface RegisteredFile {
	index: number;
	/** fds (in this process) referring to the same open file description. */
	fds: number[];
	path: string;
	type: string; /* "file", "socket", "pipe", "eventfd", "io_uring", ... */
	flags?: number; /* f_flags, for files only the ring holds */
	pos?: string;
	tag?: string;
}

export interface RegisteredFiles {
	size: number;
	alloc_range: [number, number] | null;
	entries: RegisteredFile[];
	/**
	 * The slot the next IORING_FILE_INDEX_ALLOC (openat/accept/socket
	 * direct) gets, from the kernel's allocation hint (null: none free);
	 * absent when unknown.
	 */
	next_alloc?: number | null;
}

export interface RegisteredBuffer {
	index: number;
	addr: string;
	len: number;
	mapped: boolean;
	/** Resource tag (IORING_REGISTER_BUFFERS2 / BUFFERS_UPDATE): posted as a CQE when the buffer is removed. */
	tag?: string;
}

export interface RegisteredBuffers {
	size: number;
	entries: RegisteredBuffer[];
}

export interface EventfdInfo {
	fds: number[];
	async: boolean;
}

export interface Personality {
	id: number;
	uid: number; euid: number; suid: number; fsuid: number;
	gid: number; egid: number; sgid: number; fsgid: number;
	groups: number[];
	cap_effective: string; /* hex */
}

export interface Restrictions {
	register_ops: number[];
	sqe_ops: number[];
	sqe_flags_allowed: number;
	sqe_flags_required: number;
}

export interface ProvidedBufferRing {
	bgid: number;
	kind: 'ring';
	entries: number;
	/** User address of the ring, or null when the kernel allocated it (IOU_PBUF_RING_MMAP). */
	addr: string | null;
	mmap: boolean;
	head: number; /* kernel head */
	tail: number; /* user tail, from shared memory */
	inc: boolean; /* IOU_PBUF_RING_INC */
}

export interface LegacyBuffer { bid: number; addr: string; len: number }

export interface ProvidedBufferGroup {
	bgid: number;
	kind: 'legacy';
	buffers: LegacyBuffer[]; /* in list order: the order the kernel hands them out */
}

export type ProvidedBuffers = ProvidedBufferRing | ProvidedBufferGroup;

export interface InflightRequest {
	opcode: string;
	user_data: string;
	fd: number | null;
	fixed: boolean;
	/** Where the request waits: "poll", "timeout", "linked_timeout", "futex", "waitid", "iowq", "iopoll", "deferred", "cancelable_cmd", "task_work" (completed; its CQE is posted when task work runs), "linked" (a link of a waiting request's chain, in its `links`). */
	state: string;
	/** Requests waiting in poll or timeout state (BPF capture): what re-arming them at restore takes. */
	arm?: ArmDetails;
	/** Requests waiting for an outside event: whether the restore re-arms them, or why not (src/capture/rearm.ts). */
	rearm?: { ok: boolean; why?: string };
	/**
	 * A waiting request's linked chain (IOSQE_IO_LINK/IO_HARDLINK): the
	 * requests after it, in order, prepared but never issued (state
	 * "linked"; a LINK_TIMEOUT guarding it among them).  Re-armed with it.
	 */
	links?: InflightRequest[];
}

/**
 * A waiting request as the kernel holds it (rec_req_arm, docs/bpf.md):
 * the fields of its io_kiocb and per-opcode command data that an
 * equivalent SQE is built from.  64-bit values are decimal strings.
 */
export interface ArmDetails {
	/** ARM_* bits of bpf/uring_records.h: request flags independent of the kernel's numbering. */
	bits: number;
	addr: string;
	addr2: string;
	len: number;
	op_flags: number;
	ioprio: number;
	buf_group: number;
	done_io: number;
	mshot_len: number;
	mshot_total_len: number;
	file_slot: number;
	count_left: number;
	poll_events: number;
	/** Timeouts: time left on the timer at capture (ns), and the timespec as given. */
	remaining_ns: string;
	ts_sec: string;
	ts_nsec: string;
	/** Part of a linked chain (another request follows it). */
	linked: boolean;
	/** Multishot timeouts: firings left (0: unlimited). */
	repeats: number;
	/** Timeouts: the hrtimer mode (bit 0 clear: absolute). */
	mode?: number;
	/** Absolute MONOTONIC/BOOTTIME timeouts: the dumped process's time-namespace offset of that clock (ns, /proc/PID/timens_offsets). */
	clock_offset_ns?: string;
	/** FUTEX_WAIT: its mask (addr is the futex address, addr2 the value it waits on, op_flags the kernel's futex flags); MSG_RING: the source fd (sqe->addr3). */
	addr3?: string;
	/** FUTEX_WAIT: the futex word as the capture read it from the process (absent: unreadable). */
	futex_word?: string;
	/** FUTEX_WAITV (len: how many): the kernel's copy of its futex_waitv entries (flags: the kernel's futex FLAGS_*), each with its futex word as the capture read it (absent: unreadable). */
	futexv?: { uaddr: string; val: string; flags: number; word?: string }[];
	/**
	 * SENDMSG: what its preparation copied from the application's msghdr
	 * (rec_sendmsg): the destination address (hex, namelen bytes; '' for
	 * none), the control buffer's pointer and length, and the data
	 * iterator: 'ubuf' (one buffer) or 'iovec' (the kernel's copy of the
	 * iovecs, nr_segs of them left); iovs: what is left to send, from
	 * where the iterator is (iov_offset bytes into its current segment,
	 * segs_done segments of the copy behind it), count bytes in all.
	 */
	send?: {
		name: string; control: string; controllen: string; iter: 'ubuf' | 'iovec' | 'other';
		iov_offset: string; count: string; nr_segs: number; iovs: { base: string; len: string }[];
		segs_done?: number;
	};
	/** RECVMSG: the msghdr the kernel copied at submission (name and control pointers and lengths). */
	msg?: { name: string; namelen: number; control: string; controllen: number };
}

export interface NapiInfo { mode: 'dynamic' | 'static' | 'off'; busy_poll_dt: string; prefer_busy_poll: boolean }

export interface MemRegion {
	kind: 'param_region' | 'wait_arg';
	/** User address: the application's memory, or where it mapped a kernel-allocated region (null: unknown / not mapped). */
	addr: string | null;
	size: number;
	/** true: the application's memory (IORING_MEM_REGION_TYPE_USER); false: kernel pages; absent: unknown. */
	user?: boolean;
}

/**
 * An epoll entry that watches the ring (from /proc/PID/fdinfo of the
 * epoll fd): the epoll fd, the ring fd the entry was added under, and
 * the event mask and data as the kernel holds them (a fired
 * EPOLLONESHOT entry has only its flag bits left).
 */
export interface EpollWatch {
	epfd: number;
	tfd: number;
	events: number;
	/** epoll_event.data, decimal u64. */
	data: string;
	/** Names the epoll file across the processes of one capture (BPF: its struct file's kernel address); null: unknown. */
	epoll: string | null;
}

/** NO_MMAP rings: the application's memory the ring lives in (decimal addresses). */
export interface UserMemory { rings: string; sqes: string }

export interface RingState {
	inode: number;
	/** Kernel address of the io_ring_ctx: identity within one capture only. */
	ctx: string | null;
	fds: number[];
	registered_slots: { tid: number; index: number }[];
	mappings: Mapping[];
	/** NO_MMAP rings: where the ring and SQE regions are (null: not found); absent for other rings. */
	user_memory?: UserMemory | null;
	setup_flags: number;
	flags: string[];
	sq_entries: number;
	cq_entries: number;
	submitter_tid: number | null;
	disabled: boolean;
	sq: SqState;
	cq: CqState;
	pending_sqes: Sqe[];
	cqes: Cqe[];
	overflow_cqes: Cqe[];
	sqpoll: SqpollInfo | null;
	registered_files: RegisteredFiles;
	registered_buffers: RegisteredBuffers;
	eventfd: EventfdInfo | null;
	personalities: Personality[];
	/** Where the kernel's cyclic personality id allocator starts next (ctx->pers_next; 0: never used); absent when unknown. */
	personality_next?: number;
	restrictions: Restrictions | null;
	iowq_max_workers: [number, number] | null;
	iowq_affinity?: number[] | null;
	provided_buffers: ProvidedBuffers[];
	napi: NapiInfo | null;
	clock: { clockid: number; offset: string } | null;
	mem_regions: MemRegion[];
	inflight: InflightRequest[];
	/** epoll entries of this process that watch the ring, by epfd and tfd. */
	epoll_watches: EpollWatch[];
}

/** One line of `criu-uring inspect` without a PID. */
export interface ProcessSummary {
	pid: number;
	comm: string;
	rings: number;
	registered_files: number;
	registered_buffers: number;
	inflight: number;
}

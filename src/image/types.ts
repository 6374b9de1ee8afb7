/*
 * The checkpoint image in memory: plain objects shaped exactly like the
 * messages of proto/io_uring.proto (snake_case field names as in the
 * schema).  64-bit fields are bigint, bytes are Buffer, enums are their
 * schema names.  A sub-message that is absent is null; an absent
 * `optional` scalar is undefined.
 */

/** The payload format this version writes and reads (ImageHeader.format_version). */
export const FORMAT_VERSION = 2;

export interface ImageHeader {
	format_version: number;
	kernel_release: string;
	tool_version: string;
}

export type CaptureSource = 'CAPTURE_SOURCE_UNSPECIFIED' | 'CAPTURE_SOURCE_BPF' | 'CAPTURE_SOURCE_FDINFO';

export interface RegisteredRingSlot { tid: number; index: number }

export type MappingKind =
	| 'MAPPING_KIND_UNSPECIFIED' | 'MAPPING_KIND_RINGS' | 'MAPPING_KIND_SQES' | 'MAPPING_KIND_PBUF_RING'
	| 'MAPPING_KIND_PARAM_REGION' | 'MAPPING_KIND_ZCRX' | 'MAPPING_KIND_UNKNOWN';

export interface Mapping {
	start: bigint;
	end: bigint;
	offset: bigint;
	prot: number; /* PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4 */
	kind: MappingKind;
	flags: number; /* MAP_SHARED 1 or MAP_PRIVATE 2 */
	bgid: number;
}

export interface EpollWatch {
	epfd: number;
	tfd: number;
	events: number;
	data: bigint;
	epoll_id: number;
}

export interface RingHold {
	ring_id: bigint;
	state_pid: number;
	fds: number[];
	registered_slots: RegisteredRingSlot[];
	mappings: Mapping[];
	epoll_watches: EpollWatch[];
}

export interface ProcessEntry {
	pid: number;
	comm: string;
	source: CaptureSource;
	unavailable: string[];
	holds: RingHold[];
}

export interface RingSetup {
	flags: number;
	sq_entries: number;
	cq_entries: number;
	sq_thread_cpu?: number;
	sq_thread_idle_ms?: number;
	attach_ring_id: bigint;
	submitter_tid: number;
	disabled: boolean;
}

export interface RingIndices {
	cached_sq_head: number;
	cached_cq_tail: number;
	sq_head: number;
	sq_tail: number;
	cq_head: number;
	cq_tail: number;
	sq_dropped: number;
	cq_overflow: number;
	sq_flags: number;
	cq_flags: number;
}

/** message RingMemory (named apart from the capture-side RingMemory map of from-capture.ts). */
export interface RingMemoryBytes {
	rings: Buffer;
	sqes: Buffer;
	/** NO_MMAP rings: user addresses of the two regions (0 otherwise). */
	rings_user_addr: bigint;
	sqes_user_addr: bigint;
}

export interface Cqe {
	user_data: bigint;
	res: number;
	flags: number;
	extra1?: bigint;
	extra2?: bigint;
}

export interface FileAllocRange { start: number; end: number }

export interface RegisteredFile {
	index: number;
	fd?: number;
	type: string;
	path: string;
	flags?: number;
	pos?: bigint;
	tag: bigint;
}

export interface RegisteredFiles {
	size: number;
	alloc_range: FileAllocRange | null;
	entries: RegisteredFile[];
	/** The slot the next IORING_FILE_INDEX_ALLOC gets; absent: unknown or none free. */
	next_alloc?: number;
}

export interface RegisteredBuffer {
	index: number;
	addr: bigint;
	len: number;
	mapped: boolean;
	contents: Buffer;
	tag: bigint; /* resource tag (0: none) */
}

export interface RegisteredBuffers { size: number; entries: RegisteredBuffer[] }

export interface Eventfd { fd: number; async: boolean }

export interface Personality {
	id: number;
	uid: number; euid: number; suid: number; fsuid: number;
	gid: number; egid: number; sgid: number; fsgid: number;
	groups: number[];
	cap_effective?: bigint;
	cap_permitted?: bigint;
	cap_inheritable?: bigint;
	cap_bounding?: bigint;
}

export interface Restrictions {
	register_ops: number[];
	sqe_ops: number[];
	sqe_flags_allowed: number;
	sqe_flags_required: number;
}

export interface IoWq { max_workers: number[]; affinity: number[] }

export interface LegacyBuffer { bid: number; addr: bigint; len: number }

export interface ProvidedBufferGroup { bgid: number; buffers: LegacyBuffer[] }

export interface ProvidedBufferRing {
	bgid: number;
	entries: number;
	addr: bigint;
	flags: number; /* IOU_PBUF_RING_MMAP 1, IOU_PBUF_RING_INC 2 */
	head: number;
	tail: number;
	ring_memory: Buffer;
}

export type NapiMode = 'NAPI_MODE_UNSPECIFIED' | 'NAPI_MODE_DYNAMIC' | 'NAPI_MODE_STATIC' | 'NAPI_MODE_OFF';

export interface Napi { mode: NapiMode; busy_poll_dt: bigint; prefer_busy_poll: boolean }

export interface Clock { clockid: number; offset: bigint }

export type MemRegionKind = 'MEM_REGION_KIND_UNSPECIFIED' | 'MEM_REGION_KIND_PARAM_REGION' | 'MEM_REGION_KIND_WAIT_ARG';

export interface MemRegion { kind: MemRegionKind; addr: bigint; size: bigint; contents: Buffer }

export type InflightState =
	| 'INFLIGHT_STATE_UNSPECIFIED' | 'INFLIGHT_STATE_POLL' | 'INFLIGHT_STATE_TIMEOUT'
	| 'INFLIGHT_STATE_LINKED_TIMEOUT' | 'INFLIGHT_STATE_FUTEX' | 'INFLIGHT_STATE_WAITID'
	| 'INFLIGHT_STATE_IOWQ' | 'INFLIGHT_STATE_IOPOLL' | 'INFLIGHT_STATE_DEFERRED'
	| 'INFLIGHT_STATE_CANCELABLE_CMD' | 'INFLIGHT_STATE_TASK_WORK' | 'INFLIGHT_STATE_LINKED';

export interface InflightRequest {
	opcode: number;
	user_data: bigint;
	fd?: number;
	fixed: boolean;
	state: InflightState;
	/** The 64-byte SQE the restore submits to re-arm it (format 2; format 1 wrote it empty). */
	sqe: Buffer;
	/** TIMEOUT, LINK_TIMEOUT: its timespec in ns (relative: time left; absolute, IORING_TIMEOUT_ABS in the SQE: the deadline in the application's clock view). */
	timeout_ns?: bigint;
	/** Multishot RECVMSG, SENDMSG: the msghdr its SQE's addr points at (placed at restore); empty otherwise. */
	msghdr?: Buffer;
	/** FUTEX_WAITV: the futex_waitv array its SQE's addr points at (placed at restore); empty otherwise. */
	futex_waitv?: Buffer;
	/** SENDMSG: the iovec array and destination address its msghdr points at (placed after it at restore); empty otherwise. */
	send_iovecs?: Buffer;
	send_name?: Buffer;
}

export interface Ring {
	ring_id: bigint;
	setup: RingSetup | null;
	indices: RingIndices | null;
	memory: RingMemoryBytes | null;
	overflow_cqes: Cqe[];
	files: RegisteredFiles | null;
	buffers: RegisteredBuffers | null;
	eventfd: Eventfd | null;
	personalities: Personality[];
	restrictions: Restrictions | null;
	iowq: IoWq | null;
	provided_buffer_groups: ProvidedBufferGroup[];
	provided_buffer_rings: ProvidedBufferRing[];
	napi: Napi | null;
	clock: Clock | null;
	mem_regions: MemRegion[];
	inflight: InflightRequest[];
	/** ctx->pers_next (0: never used or unknown). */
	personality_next?: number;
}

/** The payload of one io_uring-<pid>.img (message UringImage). */
export interface Image {
	header: ImageHeader | null;
	process: ProcessEntry | null;
	rings: Ring[];
}

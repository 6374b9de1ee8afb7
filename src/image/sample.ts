/*
 * A valid, feature-rich sample image, for tests and examples: every field
 * of the schema is set somewhere, and the ring memory matches the
 * geometry.  Not used on the dump or restore path.
 */
import * as G from './geometry';
import { FORMAT_VERSION, Image, Ring, RingHold } from './types';
import { IOU_PBUF_RING, SETUP } from '../uring/abi';

/* A SENDMSG's msghdr as the dump writes it: msg_name and msg_iov zero, the lengths and a control buffer. */
function sendmsgHdr(iovlen: number, namelen: number): Buffer {
	const b = Buffer.alloc(56);
	b.writeUInt32LE(namelen, 8);
	b.writeBigUInt64LE(BigInt(iovlen), 24);
	b.writeBigUInt64LE(0x7f0000500000n, 32);
	b.writeBigUInt64LE(24n, 40);
	return b;
}

/** Ring-region bytes with the constant io_rings fields set for the geometry. */
/* A re-arm SQE: opcode and user_data in place, the rest a pattern. */
function rearmSqe(opcode: number, userData: bigint, len?: number): Buffer {
	const b = pattern(64, opcode);
	b[0] = opcode;
	b.writeBigUInt64LE(userData, 32);
	if (len !== undefined) b.writeUInt32LE(len, 24);
	return b;
}

export function sampleRingMemory(flags: number, sq: number, cq: number, pageRounded = false): Buffer {
	const size = G.ringsRegionSize(flags, sq, cq);
	const mem = Buffer.alloc(pageRounded ? G.alignUp(size, G.PAGE_SIZE) : size);
	const L = G.ringsLayout();
	mem.writeUInt32LE(sq - 1, L.sq_ring_mask);
	mem.writeUInt32LE(cq - 1, L.cq_ring_mask);
	mem.writeUInt32LE(sq, L.sq_ring_entries);
	mem.writeUInt32LE(cq, L.cq_ring_entries);
	for (let i = L.cqes; i < size; i++) mem[i] = i & 0xff; /* recognisable contents */
	return mem;
}

function pattern(len: number, seed: number): Buffer {
	const b = Buffer.alloc(len);
	for (let i = 0; i < len; i++) b[i] = (i * 7 + seed) & 0xff;
	return b;
}

function emptyRing(id: bigint, flags: number, sq: number, cq: number): Ring {
	return {
		ring_id: id,
		setup: { flags, sq_entries: sq, cq_entries: cq, attach_ring_id: 0n, submitter_tid: 0, disabled: false },
		indices: {
			cached_sq_head: 0, cached_cq_tail: 0, sq_head: 0, sq_tail: 0, cq_head: 0, cq_tail: 0,
			sq_dropped: 0, cq_overflow: 0, sq_flags: 0, cq_flags: 0,
		},
		memory: { rings: sampleRingMemory(flags, sq, cq), sqes: Buffer.alloc(G.sqesRegionSize(flags, sq)), rings_user_addr: 0n, sqes_user_addr: 0n },
		overflow_cqes: [], files: null, buffers: null, eventfd: null, personalities: [], restrictions: null,
		iowq: null, provided_buffer_groups: [], provided_buffer_rings: [], napi: null, clock: null,
		mem_regions: [], inflight: [], personality_next: 0,
	};
}

/* An SQPOLL ring with everything registered. */
function richRing(): Ring {
	const S = SETUP;
	const flags = S.SQPOLL | S.SQ_AFF | S.CQSIZE | S.SQE128 | S.CQE32 | S.SUBMIT_ALL;
	const r = emptyRing(1001n, flags, 8, 32);
	r.setup = { ...r.setup!, sq_thread_cpu: 1, sq_thread_idle_ms: 1000, submitter_tid: 4243 };
	r.memory = { rings: sampleRingMemory(flags, 8, 32, true), sqes: pattern(G.sqesRegionSize(flags, 8), 3), rings_user_addr: 0n, sqes_user_addr: 0n };
	r.indices = {
		cached_sq_head: 0xfffffffe, cached_cq_tail: 0xffffffff, sq_head: 0xfffffffd, sq_tail: 2,
		cq_head: 0xfffffff0, cq_tail: 0xffffffff, sq_dropped: 3, cq_overflow: 4, sq_flags: 2, cq_flags: 1,
	};
	r.overflow_cqes = [
		{ user_data: 0xdeadbeefcafef00dn, res: -11, flags: 4, extra1: 1n, extra2: 0xffffffffffffffffn },
		{ user_data: 7n, res: 4096, flags: 0, extra1: 0n, extra2: 2n },
	];
	r.files = {
		size: 16, alloc_range: { start: 8, end: 16 },
		entries: [
			{ index: 0, fd: 5, type: 'socket', path: 'socket:[12345]', tag: 0n },
			{ index: 3, type: 'file', path: '/var/tmp/data.bin', flags: 0o100002, pos: 0x1_0000_0000n, tag: 99n },
		],
		next_alloc: 9,
	};
	r.buffers = {
		size: 4,
		entries: [
			{ index: 0, addr: 0x7f0000001000n, len: 8192, mapped: true, contents: Buffer.alloc(0), tag: 0n },
			{ index: 2, addr: 0x7f0000100000n, len: 64, mapped: false, contents: pattern(64, 9), tag: 77n },
		],
	};
	r.eventfd = { fd: 6, async: true };
	r.personalities = [
		{
			id: 1, uid: 1000, euid: 1001, suid: 1002, fsuid: 1003, gid: 100, egid: 101, sgid: 102, fsgid: 103,
			groups: [4, 24, 27], cap_effective: 0x1ffffffffffn, cap_permitted: 0x1ffffffffffn,
			cap_inheritable: 1n, cap_bounding: 0x1ffffffffffn,
		},
		{ id: 4, uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0, groups: [] },
	];
	r.personality_next = 7;
	r.restrictions = { register_ops: [0, 2, 12], sqe_ops: [0, 22, 23], sqe_flags_allowed: 0x7f, sqe_flags_required: 1 };
	r.iowq = { max_workers: [4, 16], affinity: [0, 1] };
	r.provided_buffer_groups = [{
		bgid: 3, buffers: [{ bid: 2, addr: 0x7f0000200000n, len: 512 }, { bid: 0, addr: 0x7f0000200200n, len: 512 }],
	}];
	r.provided_buffer_rings = [
		{ bgid: 7, entries: 8, addr: 0n, flags: IOU_PBUF_RING.MMAP | IOU_PBUF_RING.INC, head: 0xfffe, tail: 5, ring_memory: pattern(8 * 16, 1) },
		{ bgid: 8, entries: 16, addr: 0x7f0000300000n, flags: 0, head: 3, tail: 10, ring_memory: Buffer.alloc(0) },
	];
	r.napi = { mode: 'NAPI_MODE_STATIC', busy_poll_dt: 50000n, prefer_busy_poll: true };
	r.clock = { clockid: G.CLOCK_BOOTTIME, offset: 2n };
	r.mem_regions = [{ kind: 'MEM_REGION_KIND_WAIT_ARG', addr: 0x7f0000400000n, size: 4096n, contents: pattern(4096, 5) }];
	r.inflight = [
		{ opcode: 11, user_data: 0xfeedn, fd: -1, fixed: false, state: 'INFLIGHT_STATE_TIMEOUT', sqe: rearmSqe(11, 0xfeedn), timeout_ns: 1500000000n, msghdr: Buffer.alloc(0), futex_waitv: Buffer.alloc(0), send_iovecs: Buffer.alloc(0), send_name: Buffer.alloc(0) },
		{ opcode: 22, user_data: 1n, fd: 0, fixed: true, state: 'INFLIGHT_STATE_POLL', sqe: rearmSqe(22, 1n), msghdr: Buffer.alloc(0), futex_waitv: Buffer.alloc(0), send_iovecs: Buffer.alloc(0), send_name: Buffer.alloc(0) },
		{ opcode: 10, user_data: 2n, fd: 4, fixed: false, state: 'INFLIGHT_STATE_POLL', sqe: rearmSqe(10, 2n), msghdr: pattern(56, 10), futex_waitv: Buffer.alloc(0), send_iovecs: Buffer.alloc(0), send_name: Buffer.alloc(0) },
		/* FUTEX_WAITV on two futexes: its rebuilt vector, 24 bytes each */
		{ opcode: 53, user_data: 3n, fixed: false, state: 'INFLIGHT_STATE_FUTEX', sqe: rearmSqe(53, 3n, 2), msghdr: Buffer.alloc(0), futex_waitv: pattern(48, 53), send_iovecs: Buffer.alloc(0), send_name: Buffer.alloc(0) },
		/* SENDMSG of two iovecs to a 16-byte address: its msghdr (pointers left to the restore), iovecs and address */
		{ opcode: 9, user_data: 4n, fd: 5, fixed: false, state: 'INFLIGHT_STATE_POLL', sqe: rearmSqe(9, 4n, 1), msghdr: sendmsgHdr(2, 16), futex_waitv: Buffer.alloc(0), send_iovecs: pattern(32, 9), send_name: pattern(16, 19) },
	];
	return r;
}

/* A NO_MMAP ring sharing the rich ring's SQPOLL thread. */
function attachedRing(): Ring {
	const flags = SETUP.SQPOLL | SETUP.ATTACH_WQ | SETUP.NO_MMAP;
	const r = emptyRing(1002n, flags, 4, 8);
	r.setup = { ...r.setup!, attach_ring_id: 1001n };
	/* NO_MMAP: the ring lives in the application's memory */
	r.memory = { ...r.memory!, rings_user_addr: 0x7f1000101000n, sqes_user_addr: 0x7f1000100000n };
	return r;
}

/* A DEFER_TASKRUN ring without SQ array, mixed CQEs, still disabled. */
function deferRing(): Ring {
	const S = SETUP;
	const flags = S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.TASKRUN_FLAG | S.NO_SQARRAY | S.CQE_MIXED | S.R_DISABLED;
	const r = emptyRing(1003n, flags, 16, 32);
	r.setup = { ...r.setup!, disabled: true };
	r.indices = { ...r.indices!, sq_head: 5, cached_sq_head: 5, sq_tail: 9, cq_head: 1, cq_tail: 3, cached_cq_tail: 3 };
	return r;
}

const PAGE = BigInt(G.PAGE_SIZE);

function holds(pid: number): RingHold[] {
	return [
		{
			ring_id: 1001n, state_pid: pid, fds: [3, 9], registered_slots: [{ tid: pid + 1, index: 0 }, { tid: pid, index: 15 }],
			mappings: [
				{ start: 0x7f1000000000n, end: 0x7f1000000000n + 2n * PAGE, offset: 0n, prot: 3, kind: 'MAPPING_KIND_RINGS', flags: 1, bgid: 0 },
				{ start: 0x7f1000010000n, end: 0x7f1000010000n + PAGE, offset: 0x10000000n, prot: 3, kind: 'MAPPING_KIND_SQES', flags: 2, bgid: 0 },
				{ start: 0x7f1000020000n, end: 0x7f1000020000n + PAGE, offset: 0x80070000n, prot: 1, kind: 'MAPPING_KIND_PBUF_RING', flags: 1, bgid: 7 },
				{ start: 0x7f1000030000n, end: 0x7f1000030000n + PAGE, offset: 0x20000000n, prot: 7, kind: 'MAPPING_KIND_PARAM_REGION', flags: 1, bgid: 0 },
			],
			/* EPOLLIN level-triggered, and a fired EPOLLONESHOT | EPOLLET entry of a second epoll set */
			epoll_watches: [
				{ epfd: 5, tfd: 3, events: 0x19, data: 0xfeedfacecafebeefn, epoll_id: 1 },
				{ epfd: 6, tfd: 9, events: 0xc0000000, data: 9n, epoll_id: 2 },
			],
		},
		{ ring_id: 1002n, state_pid: pid, fds: [4], registered_slots: [], mappings: [], epoll_watches: [{ epfd: 5, tfd: 4, events: 1, data: 4n, epoll_id: 1 }] },
		{ ring_id: 1003n, state_pid: pid, fds: [], registered_slots: [{ tid: pid, index: 3 }], mappings: [], epoll_watches: [] },
	];
}

/** A valid image of process `pid` with three rings (one rich, one attached to its SQPOLL thread, one DEFER_TASKRUN). */
export function sampleImage(pid = 4242): Image {
	return {
		header: { format_version: FORMAT_VERSION, kernel_release: '6.18.44', tool_version: '0.1.0' },
		process: {
			pid, comm: 'sample', source: 'CAPTURE_SOURCE_BPF',
			unavailable: ['static NAPI ids'], holds: holds(pid),
		},
		rings: [richRing(), attachedRing(), deferRing()],
	};
}

/**
 * Images of two processes sharing ring 1001 and its SQPOLL sibling 1002
 * (say after fork): the state is in the lower pid's image, the higher pid
 * only references it.
 */
export function sampleImageSet(lowPid = 100, highPid = 200): Image[] {
	const low = sampleImage(lowPid);
	const high = sampleImage(highPid);
	high.rings = high.rings.filter((r) => r.ring_id === 1003n);
	for (const h of high.process!.holds) if (h.ring_id !== 1003n) h.state_pid = lowPid;
	high.rings[0].ring_id = 2003n;
	high.process!.holds.find((h) => h.ring_id === 1003n)!.ring_id = 2003n;
	return [low, high];
}

/*
 * Conversion of the capture model (src/capture/model.ts) plus the raw
 * ring memory read at dump into the image of one process.
 */
import * as M from '../capture/model';
import { opcodeNumber } from '../uring/opcodes';
import { rearmable, rearmChain } from '../capture/rearm';
import { ImageError } from './errors';
import { IOU_PBUF_RING, SETUP } from '../uring/abi';
import * as I from './types';

/** Raw memory of one ring, read at dump. */
export interface RingBlobs {
	/** The ring region: io_rings header, CQEs, SQ array. */
	rings: Uint8Array;
	/** The SQE region. */
	sqes: Uint8Array;
	/** Kernel-allocated (IOU_PBUF_RING_MMAP) buffer rings, by bgid. */
	pbufRings?: Map<number, Uint8Array>;
	/** Contents of registered buffers whose memory is no longer mapped, by index. */
	buffers?: Map<number, Uint8Array>;
	/** Contents of the ring's memory regions, in the order of RingState.mem_regions. */
	regions?: Uint8Array[];
}

/** Raw memory of the rings of a process, by ring inode. */
export type RingMemory = Map<number, RingBlobs>;

export interface CaptureContext {
	kernelRelease: string;
	toolVersion: string;
	/** Ring inode -> pid of its lowest-pid holder (see stateOwners()); missing: this process. */
	stateOwner?: Map<number, number>;
	/**
	 * Epoll file identity (EpollWatch.epoll) -> EpollWatch.epoll_id, shared
	 * by every image of one dump so that processes sharing an epoll set
	 * get the same id; ids for new epoll files are added to it.
	 */
	epollIds?: Map<string, number>;
}

/* An epoll set with no known identity is its own: named by process and fd. */
function epollId(ids: Map<string, number>, pid: number, w: M.EpollWatch): number {
	const key = w.epoll ?? `${pid}/${w.epfd}`;
	let id = ids.get(key);
	if (id === undefined) ids.set(key, (id = ids.size + 1));
	return id;
}

/** For rings held by several processes: the lowest pid holding each ring inode. */
export function stateOwners(processes: M.ProcessRings[]): Map<number, number> {
	const owner = new Map<number, number>();
	for (const p of processes) {
		for (const r of p.rings) {
			const cur = owner.get(r.inode);
			if (cur === undefined || p.pid < cur) owner.set(r.inode, p.pid);
		}
	}
	return owner;
}

function fail(pid: number, what: string): never {
	throw new ImageError(`capture of pid ${pid}`, what);
}

/** Parses a decimal or 0x-hex string. */
function u64(s: string | null | undefined): bigint {
	if (s === null || s === undefined || s === '') return 0n;
	return BigInt(s);
}

/** Parses hex with or without 0x (procfs style). */
function hex64(s: string): bigint {
	return BigInt(/^0x/i.test(s) ? s : `0x${s}`);
}

function buf(b: Uint8Array | undefined): Buffer {
	return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.alloc(0);
}

const MAPPING_KINDS: Record<M.MappingKind, I.MappingKind> = {
	rings: 'MAPPING_KIND_RINGS', sqes: 'MAPPING_KIND_SQES', pbuf_ring: 'MAPPING_KIND_PBUF_RING',
	param_region: 'MAPPING_KIND_PARAM_REGION', zcrx: 'MAPPING_KIND_ZCRX', unknown: 'MAPPING_KIND_UNKNOWN',
};

function mappingFromCapture(m: M.Mapping): I.Mapping {
	const p = m.prot;
	return {
		start: hex64(m.start), end: hex64(m.end), offset: hex64(m.offset),
		prot: (p[0] === 'r' ? 1 : 0) | (p[1] === 'w' ? 2 : 0) | (p[2] === 'x' ? 4 : 0),
		kind: MAPPING_KINDS[m.kind] ?? 'MAPPING_KIND_UNKNOWN',
		flags: p[3] === 's' ? 1 : 2,
		bgid: m.bgid ?? 0,
	};
}

function cqe(c: M.Cqe): I.Cqe {
	const out: I.Cqe = { user_data: u64(c.user_data), res: c.res, flags: c.flags };
	if (c.extra1 !== undefined) out.extra1 = u64(c.extra1);
	if (c.extra2 !== undefined) out.extra2 = u64(c.extra2);
	return out;
}

/* SQPOLL rings sharing a thread: the one that created it (no ATTACH_WQ), else the lowest inode, owns it. */
function attachTarget(r: M.RingState, all: M.RingState[]): bigint {
	if (!r.sqpoll || !(r.setup_flags & SETUP.SQPOLL) || !r.sqpoll.shared_with.length) return 0n;
	const group = [r.inode, ...r.sqpoll.shared_with].sort((a, b) => a - b);
	const creator = group.find((ino) => {
		const ring = all.find((x) => x.inode === ino);
		return ring && !(ring.setup_flags & SETUP.ATTACH_WQ);
	});
	const root = creator ?? group[0];
	return root === r.inode ? 0n : BigInt(root);
}

function setup(r: M.RingState, all: M.RingState[]): I.RingSetup {
	const s: I.RingSetup = {
		flags: r.setup_flags, sq_entries: r.sq_entries, cq_entries: r.cq_entries,
		attach_ring_id: attachTarget(r, all), submitter_tid: r.submitter_tid ?? 0, disabled: r.disabled,
	};
	if (r.sqpoll?.cpu !== null && r.sqpoll?.cpu !== undefined) s.sq_thread_cpu = r.sqpoll.cpu;
	if (r.sqpoll?.idle_ms !== null && r.sqpoll?.idle_ms !== undefined) s.sq_thread_idle_ms = r.sqpoll.idle_ms;
	return s;
}

function indices(r: M.RingState): I.RingIndices {
	return {
		cached_sq_head: r.sq.cached_head ?? r.sq.head, cached_cq_tail: r.cq.cached_tail ?? r.cq.tail,
		sq_head: r.sq.head, sq_tail: r.sq.tail, cq_head: r.cq.head, cq_tail: r.cq.tail,
		sq_dropped: r.sq.dropped, cq_overflow: r.cq.overflow, sq_flags: r.sq.flags, cq_flags: r.cq.flags,
	};
}

function files(r: M.RingState): I.RegisteredFiles {
	const f = r.registered_files;
	return {
		size: f.size,
		alloc_range: f.alloc_range ? { start: f.alloc_range[0], end: f.alloc_range[1] } : null,
		entries: f.entries.map((e) => {
			const out: I.RegisteredFile = { index: e.index, type: e.type, path: e.path, tag: u64(e.tag) };
			if (e.fds.length) out.fd = Math.min(...e.fds);
			if (e.flags !== undefined) out.flags = e.flags;
			if (e.pos !== undefined) out.pos = u64(e.pos);
			return out;
		}),
		...(typeof f.next_alloc === 'number' ? { next_alloc: f.next_alloc } : {}),
	};
}

function buffers(r: M.RingState, blobs: RingBlobs): I.RegisteredBuffers {
	return {
		size: r.registered_buffers.size,
		entries: r.registered_buffers.entries.map((b) => ({
			index: b.index, addr: u64(b.addr), len: b.len, mapped: b.mapped,
			contents: b.mapped ? Buffer.alloc(0) : buf(blobs.buffers?.get(b.index)),
			tag: u64(b.tag),
		})),
	};
}

function personality(p: M.Personality): I.Personality {
	const out: I.Personality = {
		id: p.id, uid: p.uid, euid: p.euid, suid: p.suid, fsuid: p.fsuid,
		gid: p.gid, egid: p.egid, sgid: p.sgid, fsgid: p.fsgid, groups: [...p.groups],
	};
	if (p.cap_effective) out.cap_effective = hex64(p.cap_effective);
	return out;
}

function providedBuffers(r: M.RingState, blobs: RingBlobs): Pick<I.Ring, 'provided_buffer_groups' | 'provided_buffer_rings'> {
	const groups: I.ProvidedBufferGroup[] = [];
	const rings: I.ProvidedBufferRing[] = [];
	for (const pb of r.provided_buffers) {
		if (pb.kind === 'legacy') {
			groups.push({ bgid: pb.bgid, buffers: pb.buffers.map((b) => ({ bid: b.bid, addr: u64(b.addr), len: b.len })) });
			continue;
		}
		rings.push({
			bgid: pb.bgid, entries: pb.entries, addr: pb.mmap ? 0n : u64(pb.addr),
			flags: (pb.mmap ? IOU_PBUF_RING.MMAP : 0) | (pb.inc ? IOU_PBUF_RING.INC : 0),
			head: pb.head, tail: pb.tail,
			ring_memory: pb.mmap ? buf(blobs.pbufRings?.get(pb.bgid)) : Buffer.alloc(0),
		});
	}
	return { provided_buffer_groups: groups, provided_buffer_rings: rings };
}

const NAPI_MODES: Record<M.NapiInfo['mode'], I.NapiMode> = {
	dynamic: 'NAPI_MODE_DYNAMIC', static: 'NAPI_MODE_STATIC', off: 'NAPI_MODE_OFF',
};

/*
 * Only requests the restore re-arms reach an image: the dump waits for, or
 * fails on, every other one.  A request with a linked chain is followed by
 * its links (state LINKED), in the order they are submitted again.
 */
function inflight(pid: number, r: M.RingState, q: M.InflightRequest): I.InflightRequest[] {
	if (!rearmable(q)) fail(pid, `in-flight ${q.opcode} user_data ${q.user_data} on ring ${r.inode} cannot be re-armed: ${q.rearm?.why ?? 'it does not wait for an outside event'}`);
	const sqes = rearmChain(r, q);
	return [q, ...(q.links ?? [])].map((x, i) => {
		const opcode = opcodeNumber(x.opcode);
		if (opcode < 0) fail(pid, `in-flight request with unknown opcode "${x.opcode}"`);
		const state = `INFLIGHT_STATE_${x.state.toUpperCase()}` as I.InflightState;
		const { sqe, timeout_ns, msghdr, futexv, iovecs, name } = sqes[i];
		const out: I.InflightRequest = { opcode, user_data: u64(x.user_data), fixed: x.fixed, state, sqe,
			msghdr: msghdr ?? Buffer.alloc(0), futex_waitv: futexv ?? Buffer.alloc(0),
			send_iovecs: iovecs ?? Buffer.alloc(0), send_name: name ?? Buffer.alloc(0) };
		if (x.fd !== null) out.fd = x.fd;
		if (timeout_ns !== undefined) out.timeout_ns = timeout_ns;
		return out;
	});
}

/** The full state of one ring. */
function ringFromCapture(pid: number, r: M.RingState, all: M.RingState[], blobs: RingBlobs | undefined): I.Ring {
	if (!blobs) fail(pid, `no memory captured for ring ${r.inode}`);
	return {
		ring_id: BigInt(r.inode),
		setup: setup(r, all),
		indices: indices(r),
		memory: { rings: buf(blobs.rings), sqes: buf(blobs.sqes),
			rings_user_addr: BigInt(r.user_memory?.rings ?? 0), sqes_user_addr: BigInt(r.user_memory?.sqes ?? 0) },
		overflow_cqes: r.overflow_cqes.map(cqe),
		files: files(r),
		buffers: buffers(r, blobs),
		eventfd: r.eventfd ? { fd: r.eventfd.fds.length ? Math.min(...r.eventfd.fds) : -1, async: r.eventfd.async } : null,
		personalities: r.personalities.map(personality),
		restrictions: r.restrictions ? { ...r.restrictions, register_ops: [...r.restrictions.register_ops], sqe_ops: [...r.restrictions.sqe_ops] } : null,
		iowq: r.iowq_max_workers || r.iowq_affinity
			? { max_workers: r.iowq_max_workers ? [...r.iowq_max_workers] : [], affinity: r.iowq_affinity ? [...r.iowq_affinity] : [] }
			: null,
		...providedBuffers(r, blobs),
		napi: r.napi ? { mode: NAPI_MODES[r.napi.mode], busy_poll_dt: u64(r.napi.busy_poll_dt), prefer_busy_poll: r.napi.prefer_busy_poll } : null,
		clock: r.clock ? { clockid: r.clock.clockid, offset: u64(r.clock.offset) } : null,
		mem_regions: r.mem_regions.map((m, i) => ({
			kind: m.kind === 'wait_arg' ? 'MEM_REGION_KIND_WAIT_ARG' : 'MEM_REGION_KIND_PARAM_REGION',
			/* the image keeps user addresses only: a kernel region's mapping is in the holder's mappings */
			addr: m.user === false ? 0n : u64(m.addr), size: BigInt(m.size), contents: buf(blobs.regions?.[i]),
		})),
		inflight: r.inflight.flatMap((q) => inflight(pid, r, q)),
		personality_next: r.personality_next ?? 0,
	};
}

/**
 * The image of one process.  Rings whose lowest-pid holder is another
 * process are only referenced (RingHold.state_pid); their state is
 * written in that process's image.  The result is not validated: call
 * validateImage() before writing it.
 */
export function fromCapture(p: M.ProcessRings, memory: RingMemory, ctx: CaptureContext): I.Image {
	const ids = ctx.epollIds ?? new Map<string, number>();
	const holds: I.RingHold[] = p.rings.map((r) => ({
		ring_id: BigInt(r.inode),
		state_pid: ctx.stateOwner?.get(r.inode) ?? p.pid,
		fds: [...r.fds],
		registered_slots: r.registered_slots.map((s) => ({ tid: s.tid, index: s.index })),
		mappings: r.mappings.map(mappingFromCapture),
		epoll_watches: (r.epoll_watches ?? []).map((w) => ({ epfd: w.epfd, tfd: w.tfd, events: w.events, data: BigInt(w.data),
			epoll_id: epollId(ids, p.pid, w) })),
	}));
	const rings = p.rings
		.filter((_, i) => holds[i].state_pid === p.pid)
		.map((r) => ringFromCapture(p.pid, r, p.rings, memory.get(r.inode)));
	return {
		header: { format_version: I.FORMAT_VERSION, kernel_release: ctx.kernelRelease, tool_version: ctx.toolVersion },
		process: {
			pid: p.pid, comm: p.comm,
			source: p.source === 'bpf' ? 'CAPTURE_SOURCE_BPF' : 'CAPTURE_SOURCE_FDINFO',
			unavailable: [...p.unavailable], holds,
		},
		rings,
	};
}

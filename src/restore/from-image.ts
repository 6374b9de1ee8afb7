/*
 * The planner's input from a checkpoint image: each ring the process's
 * image carries, as the ring state it was dumped with plus its memory.
 */
import type { EpollWatch, Mapping, MappingKind, NapiInfo, Personality, ProvidedBuffers, RingState, UserMemory } from '../capture/model';
import type * as I from '../image/types';
import { IOU_PBUF_RING, OP, SETUP } from '../uring/abi';
import { setupFlagNames } from '../uring/flags';
import type { RestoreRing, RingHolder } from './input';

const KINDS: Record<I.MappingKind, MappingKind> = {
	MAPPING_KIND_UNSPECIFIED: 'unknown', MAPPING_KIND_RINGS: 'rings', MAPPING_KIND_SQES: 'sqes',
	MAPPING_KIND_PBUF_RING: 'pbuf_ring', MAPPING_KIND_PARAM_REGION: 'param_region', MAPPING_KIND_ZCRX: 'zcrx',
	MAPPING_KIND_UNKNOWN: 'unknown',
};

const hex = (v: bigint): string => '0x' + v.toString(16);

function mapping(m: I.Mapping): Mapping {
	const prot = `${m.prot & 1 ? 'r' : '-'}${m.prot & 2 ? 'w' : '-'}${m.prot & 4 ? 'x' : '-'}${m.flags === 1 ? 's' : 'p'}`;
	return { start: hex(m.start), end: hex(m.end), offset: hex(m.offset), kind: KINDS[m.kind], prot };
}

const NAPI_MODES: Record<I.NapiMode, NapiInfo['mode']> = {
	NAPI_MODE_UNSPECIFIED: 'off', NAPI_MODE_DYNAMIC: 'dynamic', NAPI_MODE_STATIC: 'static', NAPI_MODE_OFF: 'off',
};

function personality(p: I.Personality): Personality {
	return {
		id: p.id, uid: p.uid, euid: p.euid, suid: p.suid, fsuid: p.fsuid,
		gid: p.gid, egid: p.egid, sgid: p.sgid, fsgid: p.fsgid, groups: [...p.groups],
		cap_effective: hex(p.cap_effective ?? 0n),
	};
}

/* By bgid, as the capture lists them. */
function providedBuffers(r: I.Ring): ProvidedBuffers[] {
	return [
		...r.provided_buffer_groups.map((g): ProvidedBuffers => ({ bgid: g.bgid, kind: 'legacy',
			buffers: g.buffers.map((b) => ({ bid: b.bid, addr: b.addr.toString(), len: b.len })) })),
		...r.provided_buffer_rings.map((b): ProvidedBuffers => ({ bgid: b.bgid, kind: 'ring', entries: b.entries,
			addr: b.flags & IOU_PBUF_RING.MMAP ? null : b.addr.toString(), mmap: (b.flags & IOU_PBUF_RING.MMAP) !== 0,
			head: b.head, tail: b.tail, inc: (b.flags & IOU_PBUF_RING.INC) !== 0 })),
	].sort((a, b) => a.bgid - b.bgid);
}

/* NO_MMAP rings: where the application's memory holds the ring (null if the image does not say). */
function userMemory(r: I.Ring): UserMemory | null {
	const rings = r.memory?.rings_user_addr ?? 0n, sqes = r.memory?.sqes_user_addr ?? 0n;
	return rings && sqes ? { rings: rings.toString(), sqes: sqes.toString() } : null;
}

/* The epoll id stands for the epoll file's identity: equal in every process sharing the set. */
function epollWatches(h: I.RingHold): EpollWatch[] {
	return h.epoll_watches.map((w) => ({ epfd: w.epfd, tfd: w.tfd, events: w.events, data: w.data.toString(), epoll: String(w.epoll_id) }));
}

function ringState(r: I.Ring, hold: I.RingHold): RingState {
	const s = r.setup!;
	const ix = r.indices!;
	const sqpoll = s.flags & SETUP.SQPOLL
		? { thread_pid: null, cpu: s.sq_thread_cpu ?? null, idle_ms: s.sq_thread_idle_ms ?? null, shared_with: [] }
		: null;
	return {
		inode: Number(r.ring_id), ctx: null, fds: [...hold.fds],
		registered_slots: hold.registered_slots.map((x) => ({ tid: x.tid, index: x.index })),
		mappings: hold.mappings.map(mapping),
		...(s.flags & SETUP.NO_MMAP ? { user_memory: userMemory(r) } : {}),
		setup_flags: s.flags, flags: setupFlagNames(s.flags), sq_entries: s.sq_entries, cq_entries: s.cq_entries,
		submitter_tid: s.submitter_tid || null, disabled: s.disabled,
		sq: { head: ix.sq_head, tail: ix.sq_tail, cached_head: ix.cached_sq_head, dropped: ix.sq_dropped, flags: ix.sq_flags },
		cq: { head: ix.cq_head, tail: ix.cq_tail, cached_tail: ix.cached_cq_tail, overflow: ix.cq_overflow, flags: ix.cq_flags },
		pending_sqes: [], cqes: [],
		overflow_cqes: r.overflow_cqes.map((c) => ({ user_data: c.user_data.toString(), res: c.res, flags: c.flags,
			...(c.extra1 !== undefined ? { extra1: c.extra1.toString(), extra2: (c.extra2 ?? 0n).toString() } : {}) })),
		sqpoll,
		registered_files: {
			size: r.files?.size ?? 0,
			alloc_range: r.files?.alloc_range ? [r.files.alloc_range.start, r.files.alloc_range.end] : null,
			entries: (r.files?.entries ?? []).map((e) => ({ index: e.index, fds: e.fd === undefined ? [] : [e.fd], path: e.path, type: e.type,
				...(e.flags !== undefined ? { flags: e.flags } : {}), ...(e.pos !== undefined ? { pos: e.pos.toString() } : {}),
				...(e.tag ? { tag: e.tag.toString() } : {}) })),
			...(r.files?.next_alloc !== undefined ? { next_alloc: r.files.next_alloc } : {}),
		},
		registered_buffers: {
			size: r.buffers?.size ?? 0,
			entries: (r.buffers?.entries ?? []).map((b) => ({ index: b.index, addr: b.addr.toString(), len: b.len, mapped: b.mapped,
				...(b.tag ? { tag: b.tag.toString() } : {}) })),
		},
		eventfd: r.eventfd ? { fds: r.eventfd.fd >= 0 ? [r.eventfd.fd] : [], async: r.eventfd.async } : null,
		personalities: r.personalities.map(personality), restrictions: r.restrictions,
		iowq_max_workers: r.iowq?.max_workers.length === 2 ? [r.iowq.max_workers[0], r.iowq.max_workers[1]] : null,
		iowq_affinity: r.iowq?.affinity.length ? [...r.iowq.affinity] : null,
		provided_buffers: providedBuffers(r),
		napi: r.napi ? { mode: NAPI_MODES[r.napi.mode], busy_poll_dt: r.napi.busy_poll_dt.toString(), prefer_busy_poll: r.napi.prefer_busy_poll } : null,
		clock: r.clock ? { clockid: r.clock.clockid, offset: r.clock.offset.toString() } : null,
		mem_regions: r.mem_regions.map((m) => ({ kind: m.kind === 'MEM_REGION_KIND_WAIT_ARG' ? 'wait_arg' as const : 'param_region' as const,
			addr: m.addr ? m.addr.toString() : null, size: Number(m.size), user: m.addr !== 0n })),
		inflight: [],
		epoll_watches: epollWatches(hold),
		...(r.personality_next ? { personality_next: r.personality_next } : {}),
	};
}

/** The rings whose state process `img` carries, ready for planning. */
export function restoreRings(img: I.Image): RestoreRing[] {
	const holds = img.process?.holds ?? [];
	return img.rings.map((r) => {
		const hold = holds.find((h) => h.ring_id === r.ring_id);
		if (!hold) throw new Error(`ring ${r.ring_id}: the image does not say which fds and mappings hold it`);
		return {
			state: ringState(r, hold),
			rings: r.memory!.rings,
			sqes: r.memory!.sqes,
			/* io_uring_setup creates ring fds close-on-exec, and the image keeps no other fd flags yet */
			cloexec: new Map(hold.fds.map((fd) => [fd, true])),
			pbufRings: new Map(r.provided_buffer_rings.filter((b) => b.flags & IOU_PBUF_RING.MMAP).map((b) => [b.bgid, b.ring_memory])),
			attach_ring_id: Number(r.setup!.attach_ring_id),
			regions: r.mem_regions.map((m) => m.contents),
			buffers: new Map((r.buffers?.entries ?? []).filter((b) => !b.mapped).map((b) => [b.index, b.contents])),
			rearm: r.inflight.map((q) => ({ opcode: q.opcode, user_data: q.user_data, sqe: q.sqe,
				...(q.timeout_ns !== undefined ? { timeout_ns: q.timeout_ns } : {}),
				...(q.msghdr?.length ? { msghdr: q.msghdr } : {}),
				...(q.futex_waitv?.length ? { futexv: q.futex_waitv } : {}),
				...(q.opcode === OP.SENDMSG ? { iovecs: q.send_iovecs ?? Buffer.alloc(0), name: q.send_name ?? Buffer.alloc(0) } : {}),
				...(q.opcode === OP.SEND && q.send_name?.length ? { name: q.send_name } : {}) })),
		};
	});
}

/** The rings process `img` holds whose state is in another (lower-pid) image, by state pid and ring id. */
export function foreignHolds(img: I.Image): { state_pid: number; ring_id: number; holder: RingHolder }[] {
	const pid = img.process!.pid;
	return (img.process?.holds ?? []).filter((h) => h.state_pid !== pid).map((h) => ({
		state_pid: h.state_pid, ring_id: Number(h.ring_id),
		holder: { pid, fds: [...h.fds], registered_slots: h.registered_slots.map((x) => ({ tid: x.tid, index: x.index })),
			mappings: h.mappings.map(mapping), epoll_watches: epollWatches(h) },
	}));
}

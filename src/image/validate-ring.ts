/*
 * Semantic checks of one ring's state: is it something the kernel could
 * have produced, and something this version can rebuild?  Each check
 * returns problems as short phrases; validate.ts prefixes the ring.
 */
import * as G from './geometry';
import { Cqe, Mapping, Ring, RingHold, RingIndices, RingSetup } from './types';
import { IOU_PBUF_RING, OFF, SETUP } from '../uring/abi';

type Problems = string[];

const u32 = (n: number): number => n >>> 0;

function isU32(n: unknown): n is number {
	return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function flagNames(bits: number): string {
	const names = Object.entries(SETUP).filter(([, v]) => bits & v).map(([k]) => k);
	return names.join('|');
}

/* Flag combinations io_uring_setup refuses with EINVAL. */
const FLAG_RULES: { test: (f: number) => boolean; why: string }[] = [
	{ test: (f) => !!(f & SETUP.DEFER_TASKRUN) && !(f & SETUP.SINGLE_ISSUER), why: 'DEFER_TASKRUN without SINGLE_ISSUER' },
	{ test: (f) => !!(f & SETUP.DEFER_TASKRUN) && !!(f & SETUP.SQPOLL), why: 'DEFER_TASKRUN with SQPOLL' },
	{ test: (f) => !!(f & SETUP.TASKRUN_FLAG) && !(f & (SETUP.COOP_TASKRUN | SETUP.DEFER_TASKRUN)), why: 'TASKRUN_FLAG without COOP_TASKRUN or DEFER_TASKRUN' },
	{ test: (f) => !!(f & SETUP.SQ_AFF) && !(f & SETUP.SQPOLL), why: 'SQ_AFF without SQPOLL' },
	{ test: (f) => !!(f & SETUP.HYBRID_IOPOLL) && !(f & SETUP.IOPOLL), why: 'HYBRID_IOPOLL without IOPOLL' },
	{ test: (f) => (f & (SETUP.CQE32 | SETUP.CQE_MIXED)) === (SETUP.CQE32 | SETUP.CQE_MIXED), why: 'CQE32 with CQE_MIXED' },
	{ test: (f) => !!(f & SETUP.COOP_TASKRUN) && !!(f & SETUP.SQPOLL), why: 'COOP_TASKRUN with SQPOLL' },
	{ test: (f) => !!(f & SETUP.REGISTERED_FD_ONLY) && !(f & SETUP.NO_MMAP), why: 'REGISTERED_FD_ONLY without NO_MMAP' },
];

export function checkSetup(s: RingSetup, out: Problems): void {
	if (!isU32(s.flags)) return void out.push(`setup flags ${s.flags} are not a 32-bit value`);
	const unknown = u32(s.flags & ~G.SUPPORTED_SETUP_FLAGS);
	if (unknown) out.push(`unknown setup flags 0x${unknown.toString(16)} (this version restores only ${flagNames(G.SUPPORTED_SETUP_FLAGS).split('|').length} known flags)`);
	for (const rule of FLAG_RULES) {
		if (rule.test(s.flags)) out.push(`setup flags ${flagNames(s.flags)} are impossible (${rule.why})`);
	}
	if (!G.isPowerOfTwo(s.sq_entries) || s.sq_entries > G.IORING_MAX_ENTRIES) {
		out.push(`sq_entries ${s.sq_entries} is not a power of two in 1..${G.IORING_MAX_ENTRIES}`);
	}
	if (!G.isPowerOfTwo(s.cq_entries) || s.cq_entries > G.IORING_MAX_CQ_ENTRIES) {
		out.push(`cq_entries ${s.cq_entries} is not a power of two in 1..${G.IORING_MAX_CQ_ENTRIES}`);
	} else if (s.cq_entries < s.sq_entries) {
		out.push(`cq_entries ${s.cq_entries} is smaller than sq_entries ${s.sq_entries}`);
	} else if (s.flags & SETUP.CQE_MIXED && s.cq_entries < 2) {
		out.push('CQE_MIXED ring with fewer than 2 CQ entries');
	}
	checkSqpoll(s, out);
	if (s.flags & SETUP.SINGLE_ISSUER && !s.disabled && !s.submitter_tid) {
		out.push('SINGLE_ISSUER ring without a known submitter thread (restore could not pick the owner)');
	}
}

function checkSqpoll(s: RingSetup, out: Problems): void {
	const sqpoll = !!(s.flags & SETUP.SQPOLL);
	if (s.flags & SETUP.SQ_AFF && s.sq_thread_cpu === undefined) {
		out.push('SQ_AFF ring without the CPU its poller thread is pinned to');
	}
	if (s.sq_thread_cpu !== undefined && !(s.flags & SETUP.SQ_AFF)) {
		out.push(`sq_thread_cpu ${s.sq_thread_cpu} set on a ring without SQ_AFF`);
	}
	if (s.sq_thread_idle_ms !== undefined && !sqpoll) out.push('sq_thread_idle_ms set on a ring without SQPOLL');
	if (s.attach_ring_id !== 0n && !sqpoll) out.push(`attach_ring_id ${s.attach_ring_id} set on a ring without SQPOLL`);
}

/* Distance from a to b modulo 2^32: how far b is ahead of a. */
function ahead(a: number, b: number): number {
	return u32(b - a);
}

export function checkIndices(ix: RingIndices, s: RingSetup, out: Problems): void {
	for (const [k, v] of Object.entries(ix)) {
		if (!isU32(v)) return void out.push(`index ${k} = ${v} is not a 32-bit value`);
	}
	const queued = ahead(ix.sq_head, ix.sq_tail);
	if (queued > s.sq_entries) out.push(`SQ holds ${queued} entries (head ${ix.sq_head}, tail ${ix.sq_tail}) but has only ${s.sq_entries}`);
	const fetched = ahead(ix.sq_head, ix.cached_sq_head);
	if (fetched > queued) out.push(`cached SQ head ${ix.cached_sq_head} is not between SQ head ${ix.sq_head} and tail ${ix.sq_tail}`);
	const ready = ahead(ix.cq_head, ix.cq_tail);
	if (ready > s.cq_entries) out.push(`CQ holds ${ready} entries (head ${ix.cq_head}, tail ${ix.cq_tail}) but has only ${s.cq_entries}`);
	const posted = ahead(ix.cq_head, ix.cached_cq_tail);
	if (posted < ready || posted > s.cq_entries) {
		out.push(`cached CQ tail ${ix.cached_cq_tail} is not between CQ tail ${ix.cq_tail} and head ${ix.cq_head} + ${s.cq_entries}`);
	}
}

export function checkMemory(r: Ring, s: RingSetup, out: Problems): void {
	const mem = r.memory;
	if (!mem) return void out.push('ring memory missing (the unconsumed CQEs and SQEs could not be restored)');
	const ringsSize = G.ringsRegionSize(s.flags, s.sq_entries, s.cq_entries);
	if (mem.rings.length < ringsSize || mem.rings.length > G.alignUp(ringsSize, G.PAGE_SIZE)) {
		return void out.push(`ring region is ${mem.rings.length} bytes, geometry needs ${ringsSize}`);
	}
	const sqesSize = G.sqesRegionSize(s.flags, s.sq_entries);
	if (mem.sqes.length < sqesSize || mem.sqes.length > G.alignUp(sqesSize, G.PAGE_SIZE)) {
		out.push(`SQE region is ${mem.sqes.length} bytes, geometry needs ${sqesSize}`);
	}
	const L = G.ringsLayout();
	const constants: [string, number, number][] = [
		['sq_ring_mask', L.sq_ring_mask, s.sq_entries - 1],
		['cq_ring_mask', L.cq_ring_mask, s.cq_entries - 1],
		['sq_ring_entries', L.sq_ring_entries, s.sq_entries],
		['cq_ring_entries', L.cq_ring_entries, s.cq_entries],
	];
	for (const [field, off, want] of constants) {
		const have = mem.rings.readUInt32LE(off);
		if (have !== want) out.push(`ring memory ${field} is ${have}, setup says ${want}`);
	}
}

function checkCqe(c: Cqe, s: RingSetup, where: string, out: Problems): void {
	if (!Number.isInteger(c.res) || c.res < -0x80000000 || c.res > 0x7fffffff) out.push(`${where}: res ${c.res} is not a 32-bit value`);
	const big = c.extra1 !== undefined || c.extra2 !== undefined;
	if (big && !(s.flags & (SETUP.CQE32 | SETUP.CQE_MIXED))) out.push(`${where}: big CQE extras on a ring without CQE32 or CQE_MIXED`);
	if (!big && s.flags & SETUP.CQE32) out.push(`${where}: CQE32 ring CQE without extras`);
}

export function checkOverflow(r: Ring, s: RingSetup, out: Problems): void {
	r.overflow_cqes.forEach((c, i) => checkCqe(c, s, `overflow CQE ${i}`, out));
}

/* Mapping offsets: the high bits name the region. */
function mappingKindOf(offset: bigint): { kind: Mapping['kind']; bgid?: number } {
	if (offset >= OFF.PBUF_RING && offset < OFF.PBUF_RING << 1n) {
		return { kind: 'MAPPING_KIND_PBUF_RING', bgid: Number((offset - OFF.PBUF_RING) >> OFF.PBUF_SHIFT) };
	}
	switch (offset & OFF.MMAP_MASK) {
	case OFF.SQ_RING:
	case OFF.CQ_RING: return { kind: 'MAPPING_KIND_RINGS' };
	case OFF.SQES: return { kind: 'MAPPING_KIND_SQES' };
	case OFF.PARAM_REGION: return { kind: 'MAPPING_KIND_PARAM_REGION' };
	case OFF.ZCRX_REGION: return { kind: 'MAPPING_KIND_ZCRX' };
	default: return { kind: 'MAPPING_KIND_UNKNOWN' };
	}
}

function hex(n: bigint): string {
	return `0x${n.toString(16)}`;
}

function checkMapping(m: Mapping, out: Problems): void {
	const where = `mapping ${hex(m.start)}-${hex(m.end)}`;
	const page = BigInt(G.PAGE_SIZE);
	if (m.end <= m.start || m.start % page || m.end % page) out.push(`${where}: not a page-aligned range`);
	if (m.flags !== 1 && m.flags !== 2) out.push(`${where}: flags ${m.flags} are neither MAP_SHARED nor MAP_PRIVATE`);
	if (m.prot & ~7) out.push(`${where}: unknown prot bits 0x${m.prot.toString(16)}`);
	if (m.kind === 'MAPPING_KIND_ZCRX') return void out.push(`${where}: zero-copy receive (zcrx) areas cannot be restored`);
	if (m.kind === 'MAPPING_KIND_UNKNOWN' || m.kind === 'MAPPING_KIND_UNSPECIFIED') {
		return void out.push(`${where}: unknown io_uring region at offset ${hex(m.offset)} cannot be restored`);
	}
	const expect = mappingKindOf(m.offset);
	if (expect.kind !== m.kind || (expect.bgid !== undefined && expect.bgid !== m.bgid)) {
		out.push(`${where}: kind ${m.kind} bgid ${m.bgid} does not match offset ${hex(m.offset)}`);
	}
}

export function checkHold(h: RingHold, r: Ring | null, out: Problems): void {
	for (const fd of h.fds) if (!Number.isInteger(fd) || fd < 0) out.push(`fd ${fd} is not a valid descriptor`);
	for (const slot of h.registered_slots) {
		if (slot.index >= G.IO_RINGFD_REG_MAX) out.push(`registered ring slot ${slot.index} of thread ${slot.tid} is beyond ${G.IO_RINGFD_REG_MAX - 1}`);
		if (!slot.tid) out.push(`registered ring slot ${slot.index} has no thread`);
	}
	for (const m of h.mappings) checkMapping(m, out);
	checkEpollWatches(h, out);
	if (r?.setup && r.setup.flags & SETUP.NO_MMAP && h.mappings.length) out.push('NO_MMAP ring with io_uring mappings');
	if (r && h.mappings.some((m) => m.kind === 'MAPPING_KIND_PBUF_RING')) {
		for (const m of h.mappings.filter((x) => x.kind === 'MAPPING_KIND_PBUF_RING')) {
			const ring = r.provided_buffer_rings.find((b) => b.bgid === m.bgid);
			if (!ring || !(ring.flags & IOU_PBUF_RING.MMAP)) out.push(`mapping of buffer ring ${m.bgid}, which is not a kernel-allocated buffer ring`);
		}
	}
}

const EPOLLEXCLUSIVE = 1 << 28;
const EPOLLONESHOT = 1 << 30;

/* epoll entries on the ring: each added under one of the hold's fds, once per epoll fd. */
function checkEpollWatches(h: RingHold, out: Problems): void {
	const seen = new Set<string>();
	for (const w of h.epoll_watches) {
		const where = `epoll watch (epfd ${w.epfd}, tfd ${w.tfd})`;
		if (!Number.isInteger(w.epfd) || w.epfd < 0) out.push(`${where}: epfd is not a valid descriptor`);
		else if (h.fds.includes(w.epfd)) out.push(`${where}: epfd is one of the ring's own fds`);
		if (!h.fds.includes(w.tfd)) out.push(`${where}: tfd is not one of the ring's fds`);
		if (!w.epoll_id) out.push(`${where}: no epoll id`);
		if ((w.events & EPOLLEXCLUSIVE) && (w.events & EPOLLONESHOT)) out.push(`${where}: EPOLLEXCLUSIVE with EPOLLONESHOT, which epoll never accepts`);
		const key = `${w.epfd}/${w.tfd}`;
		if (seen.has(key)) out.push(`${where}: listed twice`);
		seen.add(key);
	}
}

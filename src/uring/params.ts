/*
 * struct io_uring_params (120 bytes) and the ring geometry it describes.
 * Layout is ABI (include/linux/io_uring.h): both the dump (learning region
 * sizes) and the restore planner (building io_uring_setup arguments) use it.
 */
import { SETUP } from './abi';

export interface SqOffsets { head: number; tail: number; ring_mask: number; ring_entries: number; flags: number; dropped: number; array: number; user_addr: bigint }
export interface CqOffsets { head: number; tail: number; ring_mask: number; ring_entries: number; overflow: number; cqes: number; flags: number; user_addr: bigint }

export interface Params {
	sq_entries: number;
	cq_entries: number;
	flags: number;
	sq_thread_cpu: number;
	sq_thread_idle: number;
	features: number;
	wq_fd: number;
	sq_off: SqOffsets;
	cq_off: CqOffsets;
}

export const PARAMS_SIZE = 120;

const SQ_OFF = 40;
const CQ_OFF = 80;

export function emptyParams(): Params {
	return {
		sq_entries: 0, cq_entries: 0, flags: 0, sq_thread_cpu: 0, sq_thread_idle: 0, features: 0, wq_fd: 0,
		sq_off: { head: 0, tail: 0, ring_mask: 0, ring_entries: 0, flags: 0, dropped: 0, array: 0, user_addr: 0n },
		cq_off: { head: 0, tail: 0, ring_mask: 0, ring_entries: 0, overflow: 0, cqes: 0, flags: 0, user_addr: 0n },
	};
}

export function encodeParams(p: Params): Buffer {
	const b = Buffer.alloc(PARAMS_SIZE);
	b.writeUInt32LE(p.sq_entries, 0);
	b.writeUInt32LE(p.cq_entries, 4);
	b.writeUInt32LE(p.flags >>> 0, 8);
	b.writeUInt32LE(p.sq_thread_cpu, 12);
	b.writeUInt32LE(p.sq_thread_idle, 16);
	b.writeUInt32LE(p.features, 20);
	b.writeUInt32LE(p.wq_fd, 24);
	const s = p.sq_off;
	[s.head, s.tail, s.ring_mask, s.ring_entries, s.flags, s.dropped, s.array].forEach((v, i) => b.writeUInt32LE(v, SQ_OFF + 4 * i));
	b.writeBigUInt64LE(s.user_addr, SQ_OFF + 32);
	const c = p.cq_off;
	[c.head, c.tail, c.ring_mask, c.ring_entries, c.overflow, c.cqes, c.flags].forEach((v, i) => b.writeUInt32LE(v, CQ_OFF + 4 * i));
	b.writeBigUInt64LE(c.user_addr, CQ_OFF + 32);
	return b;
}

export function decodeParams(b: Buffer): Params {
	const u = (o: number): number => b.readUInt32LE(o);
	return {
		sq_entries: u(0), cq_entries: u(4), flags: u(8), sq_thread_cpu: u(12), sq_thread_idle: u(16), features: u(20), wq_fd: u(24),
		sq_off: { head: u(SQ_OFF), tail: u(SQ_OFF + 4), ring_mask: u(SQ_OFF + 8), ring_entries: u(SQ_OFF + 12), flags: u(SQ_OFF + 16),
			dropped: u(SQ_OFF + 20), array: u(SQ_OFF + 24), user_addr: b.readBigUInt64LE(SQ_OFF + 32) },
		cq_off: { head: u(CQ_OFF), tail: u(CQ_OFF + 4), ring_mask: u(CQ_OFF + 8), ring_entries: u(CQ_OFF + 12), overflow: u(CQ_OFF + 16),
			cqes: u(CQ_OFF + 20), flags: u(CQ_OFF + 24), user_addr: b.readBigUInt64LE(CQ_OFF + 32) },
	};
}

export const PAGE_SIZE = 4096;
const pageAlign = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/** Sizes of the two shared regions of a ring, from its (kernel-filled) params. */
export function regionSizes(p: Params): { rings: number; sqes: number } {
	const cqeSize = p.flags & SETUP.CQE32 ? 32 : 16;
	const sqeSize = p.flags & SETUP.SQE128 ? 128 : 64;
	let rings = p.cq_off.cqes + p.cq_entries * cqeSize;
	if (!(p.flags & SETUP.NO_SQARRAY)) rings = Math.max(rings, p.sq_off.array + p.sq_entries * 4);
	return { rings: pageAlign(rings), sqes: pageAlign(p.sq_entries * sqeSize) };
}

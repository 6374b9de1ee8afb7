/*
 * Restore planning: turn a dumped ring into the steps that rebuild it
 * inside its restored owner (src/restore/plan.ts says what the steps do).
 *
 * Order matters, because the kernel allows some things only at certain
 * times:
 *  1. io_uring_setup with the original flags plus R_DISABLED, so every
 *     registration happens before the ring is live and, for SINGLE_ISSUER,
 *     the owner becomes whichever thread enables it;
 *  2. registrations (files, allocation range, buffers);
 *  3. ENABLE_RINGS from the owner thread;
 *  4. the recorded mappings, at their exact addresses, before any scratch
 *     mapping could take those holes;
 *  5. the index advance (needs an enabled ring), then the dumped ring bytes
 *     written over the shared regions (indices, SQ array, pending SQEs,
 *     unconsumed CQEs, dropped/overflow counters, flags), and only then
 *     the eventfd, so the advance's completions do not signal it;
 *  6. the ring moved onto its original fd number(s), replacing CRIU's
 *     placeholders.
 */
import type { RingState } from '../capture/model';
import { emptyParams, encodeParams, PARAMS_SIZE, SETUP } from '../uring/params';
import type { RestoreRing } from './input';
import type { Step } from './plan';

export const NR = { mmap: 9, munmap: 11, close: 3, dup3: 292, io_uring_setup: 425, io_uring_register: 427 } as const;
export const REG = { BUFFERS: 0, FILES: 2, EVENTFD: 4, EVENTFD_ASYNC: 7, ENABLE_RINGS: 12, FILE_ALLOC_RANGE: 25 } as const;

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_PRIVATE = 2;
const O_CLOEXEC = 0o2000000;
const OFF_SQES = 0x10000000n;

export class PlanError extends Error {}

/** The thread that must own the ring: SINGLE_ISSUER's submitter, else the process. */
export function ownerTid(pid: number, s: RingState): number {
	return s.setup_flags & SETUP.SINGLE_ISSUER && s.submitter_tid ? s.submitter_tid : pid;
}

/* Scratch layout: params, then the registration arrays, 8-byte aligned. */
class Scratch {
	size = 0;
	take(len: number): number {
		const off = this.size;
		this.size += Math.ceil(len / 8) * 8;
		return off;
	}
}

function protOf(p: string): number {
	return (p[0] === 'r' ? PROT_READ : 0) | (p[1] === 'w' ? PROT_WRITE : 0);
}

export function planRing(pid: number, ring: RestoreRing, id: number): Step[] {
	const s = ring.state;
	const v = (name: string): string => `$${name}${id}`;
	const r = v('r');
	const sc = new Scratch();
	const writes: Step[] = [];
	const regs: Step[] = [];
	const put = (data: Buffer): string => {
		const off = sc.take(data.length);
		writes.push({ op: 'write', addr: `${v('s')}+${off}`, data });
		return `${v('s')}+${off}`;
	};

	const p = emptyParams();
	p.flags = (s.setup_flags | SETUP.R_DISABLED) >>> 0;
	p.sq_entries = s.sq_entries;
	p.cq_entries = s.cq_entries;
	/* without CQSIZE the kernel picks 2 * sq_entries, which is what the dump saw */
	if (s.sqpoll) {
		if (s.sqpoll.cpu !== null) p.sq_thread_cpu = s.sqpoll.cpu;
		if (s.sqpoll.idle_ms !== null) p.sq_thread_idle = s.sqpoll.idle_ms;
	}
	if (s.setup_flags & SETUP.ATTACH_WQ)
		throw new PlanError(`ring ${s.inode}: restoring ATTACH_WQ sharing is not supported yet`);
	const params = put(encodeParams(p));
	void PARAMS_SIZE;

	const evSteps: Step[] = [];
	const evReg = (op: number, arg: string, nr: number, what: string): void =>
		void evSteps.push({ op: 'sys', v: v('x'), nr: NR.io_uring_register, args: [r, op, arg, nr], what });
	const reg = (op: number, arg: string | number, nr: number, what: string): void =>
		void regs.push({ op: 'sys', v: v('x'), nr: NR.io_uring_register, args: [r, op, arg, nr], what });

	const f = s.registered_files;
	if (f.size > 0) {
		const table = Buffer.alloc(4 * f.size);
		table.fill(0xff); /* -1: an empty slot of a sparse table */
		for (const e of f.entries) {
			if (e.fds.length === 0)
				throw new PlanError(`ring ${s.inode}: registered file ${e.index} (${e.path}) has no fd in the process; files only the ring holds are not supported yet`);
			table.writeInt32LE(e.fds[0], 4 * e.index);
		}
		reg(REG.FILES, put(table), f.size, `register ${f.size} files`);
		if (f.alloc_range) {
			const range = Buffer.alloc(16);
			range.writeUInt32LE(f.alloc_range[0], 0);
			range.writeUInt32LE(f.alloc_range[1] - f.alloc_range[0], 4);
			reg(REG.FILE_ALLOC_RANGE, put(range), 0, 'set the file allocation range');
		}
	}
	const b = s.registered_buffers;
	if (b.entries.length > 0) {
		if (b.entries.length !== b.size || b.entries.some((e, i) => e.index !== i))
			throw new PlanError(`ring ${s.inode}: sparse registered-buffer tables are not supported yet`);
		const iov = Buffer.alloc(16 * b.size);
		for (const e of b.entries) {
			if (!e.mapped) throw new PlanError(`ring ${s.inode}: registered buffer ${e.index} is no longer mapped; not supported yet`);
			iov.writeBigUInt64LE(BigInt(e.addr), 16 * e.index);
			iov.writeBigUInt64LE(BigInt(e.len), 16 * e.index + 8);
		}
		reg(REG.BUFFERS, put(iov), b.size, `register ${b.size} buffers`);
	}
	if (s.eventfd) {
		if (s.eventfd.fds.length === 0) throw new PlanError(`ring ${s.inode}: the registered eventfd has no fd in the process; not supported yet`);
		const efd = Buffer.alloc(4);
		efd.writeInt32LE(s.eventfd.fds[0]);
		evReg(s.eventfd.async ? REG.EVENTFD_ASYNC : REG.EVENTFD, put(efd), 1, 'register the eventfd');
	}
	if (!s.disabled) reg(REG.ENABLE_RINGS, 0, 0, 'enable the ring from its owner');

	const steps: Step[] = [
		{ op: 'task', tid: ownerTid(pid, s) },
		{ op: 'alloc', v: v('s').slice(1), len: sc.size },
		...writes,
		{ op: 'sys', v: r.slice(1), nr: NR.io_uring_setup, args: [s.sq_entries, params], what: `io_uring_setup(${s.sq_entries}, flags ${s.flags.join('|') || 0})` },
		...regs,
	];

	/* 4. the application's own mappings, exactly where they were */
	placeRegions(s).forEach((g, i) => {
		steps.push({ op: 'place', v: `m${id}_${i}`, fd: r, addr: g.base, len: g.len, prot: g.prot, flags: g.flags,
			pgoff: g.pgoff, parts: g.parts, what: `map ${g.kind} at 0x${g.base.toString(16)}` });
	});

	/* 5. indices and bytes, through scratch mappings of whole regions */
	const tr = v('tr');
	const ts = v('ts');
	const rw = PROT_READ | PROT_WRITE;
	steps.push(
		{ op: 'sys', v: tr.slice(1), nr: NR.mmap, args: [0, ring.rings.length, rw, MAP_SHARED, r, 0], what: 'map the ring region for writing' },
		{ op: 'sys', v: ts.slice(1), nr: NR.mmap, args: [0, ring.sqes.length, rw, MAP_SHARED, r, OFF_SQES], what: 'map the SQE region for writing' },
	);
	if (!s.disabled) {
		if (s.sq.cached_head === null || s.cq.cached_tail === null)
			throw new PlanError(`ring ${s.inode}: the dump lacks the kernel's cached indices`);
		steps.push({ op: 'advance', fd: r, sq: s.sq.cached_head, cq: s.cq.cached_tail, rings: tr, sqes: ts, params, what: 'advance the kernel indices' });
	}
	steps.push(
		{ op: 'write', addr: tr, data: ring.rings },
		{ op: 'write', addr: ts, data: ring.sqes },
		{ op: 'sys', v: v('x').slice(1), nr: NR.munmap, args: [tr, ring.rings.length], what: 'unmap the ring region scratch mapping' },
		{ op: 'sys', v: v('x').slice(1), nr: NR.munmap, args: [ts, ring.sqes.length], what: 'unmap the SQE region scratch mapping' },
	);

	/* the eventfd last: the advance must not signal it (CRIU restored its counter) */
	steps.push(...evSteps);

	/* 6. the original fd numbers (CRIU put placeholders there) */
	for (const fd of s.fds) {
		const flags = ring.cloexec.get(fd) ? O_CLOEXEC : 0;
		steps.push({ op: 'sys', v: v('x').slice(1), nr: NR.dup3, args: [r, fd, flags], what: `move the ring to fd ${fd}` });
	}
	steps.push(
		{ op: 'sys', v: v('x').slice(1), nr: NR.close, args: [r], what: 'close the setup fd' },
		{ op: 'free', v: v('s').slice(1) },
	);
	return steps;
}

/* mmap offsets: low bits below the region selector are ignored by the kernel */
const REGION_MASK = 0xf8000000n;
const PBUF_MASK = 0xffff0000n;

interface PlaceGroup {
	kind: string;
	base: bigint; /* address where the region's first page sits (or would) */
	len: number;
	prot: number;
	flags: number;
	pgoff: bigint; /* the region selector */
	parts?: { start: bigint; end: bigint; prot: number }[];
}

/*
 * The recorded VMAs of one region, grouped by where the region's first
 * page sits: a VMA split by mprotect or partly unmapped becomes one
 * mapping of the region from its base, trimmed back to the recorded parts.
 */
export function placeRegions(s: RingState): PlaceGroup[] {
	const groups = new Map<string, PlaceGroup>();
	for (const m of s.mappings) {
		const start = BigInt(m.start);
		const end = BigInt(m.end);
		const off = BigInt(m.offset);
		const selector = off & (m.kind === 'pbuf_ring' ? PBUF_MASK : REGION_MASK);
		const base = start - (off - selector);
		const flags = m.prot[3] === 's' ? MAP_SHARED : MAP_PRIVATE;
		const key = `${base}:${selector}:${flags}`;
		const part = { start, end, prot: protOf(m.prot) };
		const g = groups.get(key);
		if (!g) {
			groups.set(key, { kind: m.kind, base, len: Number(end - base), prot: part.prot, flags, pgoff: selector, parts: [part] });
			continue;
		}
		g.len = Math.max(g.len, Number(end - base));
		g.prot |= part.prot;
		g.parts!.push(part);
	}
	for (const g of groups.values()) {
		const whole = g.parts!.length === 1 && g.parts![0].start === g.base && g.parts![0].prot === g.prot;
		if (whole) delete g.parts;
	}
	return [...groups.values()];
}

/*
 * Capture through the BPF iterators (bpf/uring_iter.bpf.c): the complete
 * kernel state of every ring a process holds, read without stopping or
 * entering it.  The records are joined here with what procfs shows
 * non-intrusively (/proc/PID/maps prot strings, /proc/PID/fd links for the
 * paths of files the process also holds).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type {
	ArmDetails, InflightRequest, Mapping, Personality, ProcessRings, ProcessSummary, ProvidedBuffers, RegisteredFile,
	RingState, UserMemory,
} from './model';
import { decodeRecords, type PbufListRec, type Records, type ReqArmRec, type ReqRec, type RingRec } from './bpf-records';
import { bitmapBits, cpuList, decodeCqes, decodeOverflowCqes, decodeSqe, fileType, filePath } from './bpf-decode';
import { mappingKind, rangeMapped, readMaps, type MapsLine } from './maps';
import { loadNative } from '../native';
import { addEpollWatches } from './epoll';
import { ARM, classifyRing } from './rearm';
import { armBitsOf, reqFlagsKnown } from './reqflags';
import { opcodeName, opcodeTakesFile } from '../uring/opcodes';
import { setupFlagNames } from '../uring/flags';
import { SETUP } from '../uring/abi';
import { ringsLayout } from '../image/geometry';

const IOBL_BUF_RING = 1;
const IOBL_INC = 2;
const IO_REGION_F_USER_PROVIDED = 2;
const REQ_F_FIXED_FILE = 1n;
const PAGE_SIZE = 4096;

/** rec_ring.missing bits, in bit order, as words for `unavailable`. */
export const MISSING: readonly string[] = [
	'registered files (io_file_table layout unknown)', 'registered buffers', 'provided buffers',
	'personalities', 'restrictions', 'NAPI settings', 'registered clock', 'parameter region',
	'in-flight futex waits', 'in-flight waitid requests', 'cancelable uring_cmd requests',
	'io-wq limits', 'SQPOLL details', 'eventfd', 'submitter thread', 'file allocation range',
	'poll requests (cancel table)', 'wait argument region', 'mixed CQE sizes',
];

const STATE: Record<number, string> = {
	1: 'poll', 2: 'timeout', 3: 'linked_timeout', 4: 'futex', 5: 'waitid', 6: 'iowq', 7: 'iowq',
	8: 'iopoll', 9: 'deferred', 10: 'cancelable_cmd', 11: 'task_work', 12: 'linked',
};
const REQ_LINKED = 12;

const NAPI_MODE: Record<number, 'dynamic' | 'static'> = { 0: 'dynamic', 1: 'static' };

export class BpfError extends Error {}

let availability: { ok: boolean; why?: string } | null = null;

/** Whether the BPF capture works here; the reason when it does not. Cached. */
export function bpfAvailable(): { ok: boolean; why?: string } {
	if (availability) return availability;
	try {
		loadNative().runIter(process.pid);
		availability = { ok: true };
	} catch (e) {
		availability = { ok: false, why: (e as Error).message };
	}
	return availability;
}

const dec = (v: bigint | number): string => v.toString();
const hex = (v: bigint): string => '0x' + v.toString(16);

/** Everything about one process that the ring builders share. */
interface ProcessView {
	pid: number;
	recs: Records;
	maps: MapsLine[];
	/** fds by struct file address */
	fdsByFile: Map<bigint, number[]>;
	/** fds by the file's private_data (eventfd_ctx for eventfds) */
	fdsByPrivate: Map<bigint, number[]>;
	hz: number;
	/* per-ring tables, grouped once: thousands of registered files per ring */
	rfilesByCtx: Map<bigint, Records['rfiles']>;
	rfileNamesByCtx: Map<bigint, Records['rfileNames']>;
	/** readlink of /proc/PID/fd/N, once per fd */
	links: Map<number, string | null>;
	/* every other record list grouped by ring once, on first use (ofCtx): filtering per ring was O(rings x records) */
	byCtx: Map<string, Map<bigint, unknown[]>>;
	/** ring fds by the ring's ctx */
	uringFdsByCtx: Map<bigint, number[]>;
	/** /proc/PID/maps lines by start address */
	mapsByStart: Map<bigint, MapsLine>;
	/** io-wq CPU list by thread id (null: no io-wq) */
	iowqCpus: Map<number, number[] | null>;
	/** /proc/PID/timens_offsets, read when an absolute timeout needs them */
	timens?: { monotonic: bigint; boottime: bigint };
}

/* Record lists with a ctx field. */
type CtxList = { [K in keyof Records]: Records[K] extends { ctx: bigint }[] ? K : never }[keyof Records];

/** The records of @list that belong to ring @ctx, in capture order (a shared array: copy before sorting). */
function ofCtx<K extends CtxList>(view: ProcessView, list: K, ctx: bigint): Records[K] {
	let m = view.byCtx.get(list);
	if (!m) {
		m = groupBy(view.recs[list] as { ctx: bigint }[], (x) => x.ctx);
		view.byCtx.set(list, m);
	}
	return (m.get(ctx) ?? []) as Records[K];
}

function pushTo<K, V>(m: Map<K, V[]>, k: K, v: V): void {
	const list = m.get(k);
	if (list) list.push(v);
	else m.set(k, [v]);
}

function groupBy<T, K>(items: T[], key: (t: T) => K): Map<K, T[]> {
	const m = new Map<K, T[]>();
	for (const it of items) pushTo(m, key(it), it);
	return m;
}

/** CONFIG_HZ from the kernel config, for kernels where BPF could not read it. */
function kernelHz(): number {
	try {
		const zlib = require('node:zlib') as typeof import('node:zlib');
		const text = zlib.gunzipSync(readFileSync('/proc/config.gz')).toString();
		const m = /^CONFIG_HZ=(\d+)$/m.exec(text);
		if (m) return Number(m[1]);
	} catch {
		/* no /proc/config.gz */
	}
	return 0;
}

function readlinkFd(view: ProcessView, fd: number): string | null {
	if (view.links.has(fd)) return view.links.get(fd)!;
	let link: string | null = null;
	try {
		link = readlinkSync(`/proc/${view.pid}/fd/${fd}`);
	} catch {
		/* closed meanwhile */
	}
	view.links.set(fd, link);
	return link;
}

function ringMappingsOf(view: ProcessView, ctx: bigint): Mapping[] {
	const seen = new Set<bigint>();
	const out: Mapping[] = [];
	for (const v of ofCtx(view, 'vmas', ctx)) {
		if (seen.has(v.start)) continue;
		seen.add(v.start);
		const offset = v.pgoff * BigInt(PAGE_SIZE);
		const { kind, bgid } = mappingKind(offset);
		const line = view.mapsByStart.get(v.start);
		const m: Mapping = { start: hex(v.start), end: hex(v.end), offset: hex(offset), kind, prot: line?.prot ?? protFromFlags(v.vm_flags) };
		if (bgid !== undefined) m.bgid = bgid;
		out.push(m);
	}
	return out.sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1));
}

/* VM_READ 1, VM_WRITE 2, VM_EXEC 4, VM_SHARED 8: the maps prot string when maps raced. */
function protFromFlags(f: bigint): string {
	return (f & 1n ? 'r' : '-') + (f & 2n ? 'w' : '-') + (f & 4n ? 'x' : '-') + (f & 8n ? 's' : 'p');
}

function registeredFiles(view: ProcessView, r: RingRec): RegisteredFile[] {
	const names = groupBy(view.rfileNamesByCtx.get(r.ctx) ?? [], (n) => n.index);
	return [...(view.rfilesByCtx.get(r.ctx) ?? [])]
		.sort((a, b) => a.index - b.index)
		.map((f) => {
			const fds = [...(view.fdsByFile.get(f.file) ?? [])].sort((a, b) => a - b);
			const ident = { i_mode: f.i_mode, s_magic: f.s_magic, name: f.name, ino: f.ino };
			const components = (names.get(f.index) ?? []).sort((a, b) => a.depth - b.depth).map((n) => n.name);
			const linked = fds.length ? readlinkFd(view, fds[0]) : null;
			const entry: RegisteredFile = { index: f.index, fds, path: linked ?? filePath(ident, components), type: fileType(ident) };
			if (fds.length === 0) {
				entry.flags = f.f_flags;
				entry.pos = dec(f.pos);
			}
			if (f.tag !== 0n) entry.tag = dec(f.tag);
			return entry;
		});
}

/*
 * The slot the kernel's next IORING_FILE_INDEX_ALLOC search returns: the
 * first free slot from the hint (clamped into the allocation range) to
 * the range's end, else from the range's start to the hint.
 */
function nextAlloc(view: ProcessView, r: RingRec): number | null {
	const used = new Set((view.rfilesByCtx.get(r.ctx) ?? []).map((f) => f.index));
	const start = r.file_alloc_start, end = r.file_alloc_end;
	const hint = r.file_alloc_hint < start || r.file_alloc_hint >= end ? start : r.file_alloc_hint;
	for (const [from, to] of [[hint, end], [start, hint]])
		for (let i = from; i < to; i++) if (!used.has(i)) return i;
	return null;
}

function personalities(view: ProcessView, ctx: bigint): Personality[] {
	return [...ofCtx(view, 'pers', ctx)]
		.sort((a, b) => a.id - b.id)
		.map((p) => ({
			id: p.id, uid: p.uid, euid: p.euid, suid: p.suid, fsuid: p.fsuid,
			gid: p.gid, egid: p.egid, sgid: p.sgid, fsgid: p.fsgid,
			groups: p.groups.slice(0, Math.min(p.ngroups, p.groups.length)),
			cap_effective: hex(p.cap_effective),
		}));
}

function providedBuffers(view: ProcessView, ctx: bigint, unavailable: Set<string>): ProvidedBuffers[] {
	const bufs = groupBy(ofCtx(view, 'pbufBufs', ctx), (b) => b.bgid);
	return [...ofCtx(view, 'pbufLists', ctx)]
		.sort((a, b) => a.bgid - b.bgid)
		.map((l): ProvidedBuffers => {
			if (l.flags & IOBL_BUF_RING) {
				const mmap = (l.region_flags & IO_REGION_F_USER_PROVIDED) === 0;
				const addr = mmap ? null : verifiedRingAddr(view, l);
				if (!mmap && addr === null) unavailable.add('user address of buffer rings in application memory');
				return {
					bgid: l.bgid, kind: 'ring', entries: l.nr_entries, addr: addr === null ? null : dec(addr), mmap,
					head: l.head, tail: l.tail, inc: (l.flags & IOBL_INC) !== 0,
				};
			}
			const list = (bufs.get(l.bgid) ?? []).sort((a, b) => a.seq - b.seq);
			return { bgid: l.bgid, kind: 'legacy', buffers: list.map((b) => ({ bid: b.bid, addr: dec(b.addr), len: b.len })) };
		});
}

/*
 * The user address BPF derived from the ring's pinned page, accepted only
 * if it is mapped and the tail there is the tail the kernel sees (the
 * derivation assumes the memory was not mremap()ed since it was touched).
 */
function verifiedRingAddr(view: ProcessView, l: PbufListRec): bigint | null {
	const addr = l.user_addr;
	if (addr === 0n || !rangeMapped(view.maps, addr, BigInt(Math.max(l.nr_entries, 1) * 16))) return null;
	try {
		const b = loadNative().processVmReadv(view.pid, addr + 14n, 2);
		return b.length === 2 && b.readUInt16LE(0) === l.tail ? addr : null;
	} catch {
		return null;
	}
}

/*
 * NO_MMAP rings: the application's memory BPF derived from the pinned
 * pages, accepted only if the ring header there (masks and entry counts,
 * which never change) is this ring's and the SQE array is mapped.
 */
function verifiedUserMemory(view: ProcessView, r: RingRec): UserMemory | null {
	const rings = r.ring_uaddr, sqes = r.sqes_uaddr;
	const sqeSize = r.setup_flags & SETUP.SQE128 ? 128 : 64;
	if (rings === 0n || sqes === 0n || !rangeMapped(view.maps, rings, 32n) ||
		!rangeMapped(view.maps, sqes, BigInt(r.sq_entries * sqeSize))) return null;
	try {
		const h = loadNative().processVmReadv(view.pid, rings + BigInt(ringsLayout().sq_ring_mask), 16);
		const want = [r.sq_entries - 1, r.cq_entries - 1, r.sq_entries, r.cq_entries];
		return h.length === 16 && want.every((v, i) => h.readUInt32LE(i * 4) === v) ? { rings: dec(rings), sqes: dec(sqes) } : null;
	} catch {
		return null;
	}
}

/* Where a request waits, in the model's order; then by user_data: a stable order. */
const STATE_ORDER = ['poll', 'timeout', 'linked_timeout', 'futex', 'waitid', 'iowq', 'iopoll', 'deferred', 'cancelable_cmd', 'task_work'];

function inflightOrder(a: InflightRequest, b: InflightRequest): number {
	const s = STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state);
	if (s) return s;
	const ua = BigInt(a.user_data), ub = BigInt(b.user_data);
	return ua < ub ? -1 : ua > ub ? 1 : 0;
}

/* The time-namespace offsets of a process's CLOCK_MONOTONIC and CLOCK_BOOTTIME (ns; 0 without time namespaces). */
function timensOffsets(pid: number): { monotonic: bigint; boottime: bigint } {
	const out = { monotonic: 0n, boottime: 0n };
	let text = '';
	try {
		text = readFileSync(`/proc/${pid}/timens_offsets`, 'utf8');
	} catch {
		return out;
	}
	for (const m of text.matchAll(/^(monotonic|boottime)\s+(-?\d+)\s+(-?\d+)/gm))
		out[m[1] as 'monotonic' | 'boottime'] = BigInt(m[2]) * 1_000_000_000n + BigInt(m[3]);
	return out;
}

const OP_TIMEOUT = 11;
const OP_LINK_TIMEOUT = 15;
const TIMEOUT_BOOTTIME = 1 << 2;

const OP_FUTEX_WAIT = 51;
const OP_MSG_RING = 40;
const OP_FUTEX_WAITV = 53;

/* The futex word a FUTEX_WAIT waits on (its size from the kernel's FLAGS_SIZE_*), read from the process. */
function futexWord(pid: number, addr: bigint, flags: number): string | undefined {
	const size = 1 << (flags & 3);
	try {
		const b = loadNative().processVmReadv(pid, addr, size);
		if (b.length !== size) return undefined;
		return String(size === 8 ? b.readBigUInt64LE(0) : b.readUIntLE(0, size));
	} catch {
		return undefined;
	}
}

/* A waiting FUTEX_WAITV's futexes, from the kernel's copy of its vector, each with its word as the process holds it now. */
function futexVector(view: ProcessView, a: ReqArmRec): NonNullable<ArmDetails['futexv']> {
	return view.recs.futexvs.filter((f) => f.req === a.req && f.ctx === a.ctx).sort((x, y) => x.index - y.index).map((f) => {
		const word = futexWord(view.pid, f.uaddr, f.flags);
		return { uaddr: dec(f.uaddr), val: dec(f.val), flags: f.flags, ...(word !== undefined ? { word } : {}) };
	});
}

const OP_SENDMSG = 9;
const OP_SEND = 26;
/* rec_sendmsg.iter (bpf/uring_records.h SENDMSG_ITER_*) */
const SENDMSG_ITER = ['other', 'ubuf', 'iovec'] as const;

/* A waiting SENDMSG's header (or a SEND's address and buffer) as its preparation copied it (absent: the capture found none). */
function sendmsgHeader(view: ProcessView, a: ReqArmRec, opcode: number): ArmDetails['send'] {
	const m = view.recs.sendmsgs.find((x) => x.req === a.req && x.ctx === a.ctx);
	if (!m) return undefined;
	const iter = SENDMSG_ITER[m.iter] ?? 'other';
	const namelen = m.has_name ? Math.max(0, Math.min(m.namelen, m.name.length)) : 0;
	/* what is left to send, from where the iterator is: iov_offset bytes into the (current) segment */
	const iovs = iter === 'ubuf' ? [{ base: dec(m.ubuf + m.iov_offset), len: dec(m.count) }]
		: iter === 'iovec' ? Array.from({ length: Math.min(Number(m.nr_segs), m.iov.length / 2) }, (_, i) => {
			const skip = i === 0 ? m.iov_offset : 0n;
			return { base: dec(m.iov[2 * i] + skip), len: dec(m.iov[2 * i + 1] - skip) };
		})
			: [];
	return {
		/* a SEND has no control buffer (its sr->msg_control is whatever the request's memory held) */
		name: m.name.subarray(0, namelen).toString('hex'), control: opcode === OP_SEND ? '0' : dec(m.control), controllen: dec(m.controllen),
		iter, iov_offset: dec(m.iov_offset), count: dec(m.count), nr_segs: iter === 'ubuf' ? 1 : Number(m.nr_segs), iovs,
		/* iovec: segments of the kernel's copy the iterator is past */
		...(iter === 'iovec' && m.iov_start ? { segs_done: Number((m.iov_cur - m.iov_start) / 16n) } : {}),
	};
}

function armDetails(view: ProcessView, a: ReqArmRec, opcode: number, reqFlags: bigint): ArmDetails {
	const futex = opcode === OP_FUTEX_WAIT ? futexWord(view.pid, a.addr, a.op_flags) : undefined;
	const send = opcode === OP_SENDMSG || (opcode === OP_SEND && a.bits & ARM.SEND_ADDR) ? sendmsgHeader(view, a, opcode) : undefined;
	/* an absolute timeout's deadline is in the task's view of its clock: keep that view's offset */
	const abs = (opcode === OP_TIMEOUT || opcode === OP_LINK_TIMEOUT) && a.mode % 2 === 0;
	const offsets = abs ? (view.timens ??= timensOffsets(view.pid)) : null;
	return {
		mode: a.mode,
		...(opcode === OP_FUTEX_WAIT || opcode === OP_MSG_RING ? { addr3: dec(a.addr3) } : {}),
		...(futex !== undefined ? { futex_word: futex } : {}),
		...(opcode === OP_FUTEX_WAITV ? { futexv: futexVector(view, a) } : {}),
		...(send ? { send } : {}),
		...(offsets ? { clock_offset_ns: dec(a.op_flags & TIMEOUT_BOOTTIME ? offsets.boottime : offsets.monotonic) } : {}),
		bits: a.bits | armBitsOf(reqFlags), addr: dec(a.addr), addr2: dec(a.addr2), len: a.len, op_flags: a.op_flags, ioprio: a.ioprio,
		buf_group: a.buf_group, done_io: a.done_io, mshot_len: a.mshot_len, mshot_total_len: a.mshot_total_len,
		file_slot: a.file_slot, count_left: a.count_left, poll_events: a.poll_events,
		remaining_ns: dec(a.remaining_ns), ts_sec: dec(a.ts_sec), ts_nsec: dec(a.ts_nsec), linked: a.link !== 0n, repeats: a.repeats,
		...(a.bits & ARM.HAS_MSGHDR
			? { msg: { name: dec(a.msg_name), namelen: a.msg_namelen, control: dec(a.msg_control), controllen: a.msg_controllen } }
			: {}),
	};
}

/*
 * The fd or fixed-file index a request works on.  req->cqe.fd holds the
 * SQE's fd only until the request first completes (a multishot ACCEPT's
 * then reads 0), so the file the request holds is looked up instead: among
 * the ring's registered files for a fixed file, else among the process's
 * fds (the SQE's own number when it still names that file).
 */
function requestFd(view: ProcessView, ctx: bigint, q: ReqRec, a: ReqArmRec | undefined, fixed: boolean): number | null {
	if (!opcodeTakesFile(q.opcode)) return null;
	if (!a || !a.file) return q.fd >= 0 ? q.fd : null;
	const held = fixed
		? (view.rfilesByCtx.get(ctx) ?? []).filter((f) => f.file === a.file).map((f) => f.index)
		: view.fdsByFile.get(a.file) ?? [];
	if (held.includes(q.fd)) return q.fd;
	return held.length ? Math.min(...held) : null;
}

function request(view: ProcessView, ctx: bigint, q: ReqRec, a: ReqArmRec | undefined): InflightRequest {
	const fixed = (q.flags & REQ_F_FIXED_FILE) !== 0n;
	return {
		opcode: opcodeName(q.opcode),
		user_data: dec(q.user_data),
		fd: requestFd(view, ctx, q, a, fixed),
		fixed,
		state: STATE[q.state] ?? `state_${q.state}`,
		...(a ? { arm: armDetails(view, a, q.opcode, q.flags) } : {}),
	};
}

function inflight(view: ProcessView, ctx: bigint): InflightRequest[] {
	const seen = new Set<bigint>();
	const arms = new Map<bigint, ReqArmRec>();
	const linkArms = new Map<bigint, ReqArmRec>();
	/* without the kernel's REQ_F numbers a record's flags cannot be read: nothing is re-armable, the dump refuses */
	if (reqFlagsKnown()) for (const a of view.recs.reqArms) if (a.ctx === ctx) (a.head ? linkArms : arms).set(a.req, a);
	/*
	 * The links of a waiting request's chain (never issued) go with it, in
	 * chain order; a LINK_TIMEOUT among them is also on the ring's
	 * ltimeout_list and is reported once, as a link.
	 */
	const links = new Map<bigint, InflightRequest[]>();
	for (const q of view.recs.reqs) {
		const a = linkArms.get(q.req);
		if (q.ctx !== ctx || q.state !== REQ_LINKED || !a || seen.has(q.req)) continue;
		seen.add(q.req);
		const chain = links.get(a.head) ?? [];
		chain[a.link_pos - 1] = request(view, ctx, q, a);
		links.set(a.head, chain);
	}
	const out: InflightRequest[] = [];
	for (const q of view.recs.reqs) {
		if (q.ctx !== ctx || q.state === REQ_LINKED || seen.has(q.req)) continue;
		seen.add(q.req);
		const r = request(view, ctx, q, arms.get(q.req));
		const chain = links.get(q.req)?.filter(Boolean);
		if (chain?.length) r.links = chain;
		out.push(r);
	}
	return out.sort(inflightOrder);
}

let possible = 0;

/** Number of CPU ids the kernel can have (the last in /sys/devices/system/cpu/possible, plus one). */
function possibleCpus(): number {
	if (possible) return possible;
	try {
		const last = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(/[,-]/).pop();
		possible = Number(last) + 1 || 4096;
	} catch {
		possible = 4096;
	}
	return possible;
}

function iowqAffinity(view: ProcessView, r: RingRec): number[] | null {
	const tid = r.submitter_tid > 0 ? r.submitter_tid : view.pid;
	if (view.iowqCpus.has(tid)) return view.iowqCpus.get(tid)!;
	const task = view.recs.tasks.find((t) => t.tid === tid && t.has_iowq);
	/*
	 * A kernel with CPUMASK_OFFSTACK (Debian's) allocates the mask for its
	 * possible CPUs only; BPF reads a fixed 256 bits, so what lies beyond
	 * them is other memory.
	 */
	const cpus = task ? cpuList(task.cpumask).filter((c) => c < possibleCpus()) : null;
	view.iowqCpus.set(tid, cpus);
	return cpus;
}

function buildRing(view: ProcessView, r: RingRec, unavailable: Set<string>): RingState {
	const ctx = r.ctx;
	const hz = r.hz || view.hz;
	const sqpoll = (r.setup_flags & SETUP.SQPOLL) !== 0;
	const regFiles = view.rfilesByCtx.has(ctx) || r.nr_files > 0;
	const evfds = r.evfd_ctx ? [...(view.fdsByPrivate.get(r.evfd_ctx) ?? [])].sort((a, b) => a - b) : [];
	const mappings = ringMappingsOf(view, ctx);
	const paramMap = mappings.find((m) => m.kind === 'param_region');
	MISSING.forEach((what, bit) => { if (r.missing & (1 << bit)) unavailable.add(what); });
	if (sqpoll && !hz) unavailable.add('SQPOLL idle time (kernel HZ unknown)');
	const userMemory = r.setup_flags & SETUP.NO_MMAP ? verifiedUserMemory(view, r) : null;
	if (r.setup_flags & SETUP.NO_MMAP && !userMemory) unavailable.add('user address of NO_MMAP ring memory');
	return {
		inode: Number(r.ino),
		ctx: dec(ctx),
		fds: [...(view.uringFdsByCtx.get(ctx) ?? [])].sort((a, b) => a - b),
		registered_slots: ofCtx(view, 'rslots', ctx)
			.map((s) => ({ tid: s.tid, index: s.index }))
			.sort((a, b) => a.tid - b.tid || a.index - b.index),
		mappings,
		...(r.setup_flags & SETUP.NO_MMAP ? { user_memory: userMemory } : {}),
		setup_flags: r.setup_flags,
		flags: setupFlagNames(r.setup_flags),
		sq_entries: r.sq_entries,
		cq_entries: r.cq_entries,
		submitter_tid: r.submitter_tid > 0 ? r.submitter_tid : null,
		disabled: (r.setup_flags & SETUP.R_DISABLED) !== 0,
		sq: { head: r.sq_head, tail: r.sq_tail, cached_head: r.cached_sq_head, dropped: r.sq_dropped, flags: r.sq_flags },
		cq: { head: r.cq_head, tail: r.cq_tail, cached_tail: r.cached_cq_tail, overflow: r.cq_overflow, flags: r.cq_flags },
		pending_sqes: ofCtx(view, 'sqes', ctx).map((s) => decodeSqe(s.sqe_idx, s.data, s.len)),
		cqes: decodeCqes(ofCtx(view, 'cqes', ctx).filter((c) => !c.overflow), (r.setup_flags & SETUP.CQE32) !== 0, (r.setup_flags & SETUP.CQE_MIXED) !== 0),
		overflow_cqes: decodeOverflowCqes(ofCtx(view, 'cqes', ctx).filter((c) => c.overflow), (r.setup_flags & SETUP.CQE32) !== 0, (r.setup_flags & SETUP.CQE_MIXED) !== 0),
		sqpoll: sqpoll
			? {
				thread_pid: r.sqd_thread_tid > 0 ? r.sqd_thread_tid : null,
				cpu: r.setup_flags & SETUP.SQ_AFF && r.sqd_cpu >= 0 ? r.sqd_cpu : null,
				idle_ms: hz ? Math.round((r.sqd_idle * 1000) / hz) : null,
				shared_with: view.recs.rings.filter((o) => o.ctx !== ctx && o.sq_data === r.sq_data).map((o) => Number(o.ino)).sort((a, b) => a - b),
			}
			: null,
		registered_files: {
			size: r.nr_files,
			alloc_range: regFiles && !(r.missing & (1 << 15)) ? [r.file_alloc_start, r.file_alloc_end] : null,
			entries: registeredFiles(view, r),
			...(r.nr_files && !(r.missing & (1 << 15)) ? { next_alloc: nextAlloc(view, r) } : {}),
		},
		registered_buffers: {
			size: r.nr_bufs,
			entries: [...ofCtx(view, 'rbufs', ctx)]
				.sort((a, b) => a.index - b.index)
				.map((b) => ({ index: b.index, addr: dec(b.ubuf), len: b.len, mapped: rangeMapped(view.maps, b.ubuf, BigInt(b.len)),
					...(b.tag !== 0n ? { tag: dec(b.tag) } : {}) })),
		},
		eventfd: r.evfd_ctx ? { fds: evfds, async: r.evfd_async !== 0 } : null,
		personalities: personalities(view, ctx),
		...(r.missing & (1 << 3) ? {} : { personality_next: r.pers_next }),
		restrictions: r.restr_registered
			? {
				register_ops: bitmapBits(r.restr_register_op),
				sqe_ops: bitmapBits(r.restr_sqe_op),
				sqe_flags_allowed: r.restr_flags_allowed,
				sqe_flags_required: r.restr_flags_required,
			}
			: null,
		/* null: the application never set io-wq limits on this ring (RING_BIT_IOWQ_LIMITS clear) */
		iowq_max_workers: r.missing & (1 << 11) || !(r.bits & (1 << 4)) ? null : [r.iowq_limits[0], r.iowq_limits[1]],
		iowq_affinity: iowqAffinity(view, r),
		provided_buffers: providedBuffers(view, ctx, unavailable),
		napi: r.missing & (1 << 5)
			? null
			: { mode: NAPI_MODE[r.napi_mode] ?? 'off', busy_poll_dt: dec(r.napi_busy_poll_dt), prefer_busy_poll: r.napi_prefer !== 0 },
		clock: r.missing & (1 << 6) ? null : { clockid: r.clockid, offset: dec(r.clock_offset) },
		mem_regions: memRegions(r, paramMap),
		inflight: inflight(view, ctx),
		epoll_watches: [], /* addEpollWatches */
	};
}

function memRegions(r: RingRec, paramMap: Mapping | undefined): RingState['mem_regions'] {
	const out: RingState['mem_regions'] = [];
	const user = (r.param_flags & IO_REGION_F_USER_PROVIDED) !== 0;
	const base = user ? r.param_uaddr || null : paramMap ? BigInt(paramMap.start) : null;
	if (r.param_ptr !== 0n)
		out.push({ kind: 'param_region', addr: base === null ? null : dec(base), size: r.param_nr_pages * PAGE_SIZE, user });
	if (r.cq_wait_arg !== 0n) {
		const addr = base !== null && r.param_ptr !== 0n ? dec(base + (r.cq_wait_arg - r.param_ptr)) : null;
		out.push({ kind: 'wait_arg', addr, size: Number(r.cq_wait_size), user });
	}
	return out;
}

function commOf(recs: Records, pid: number): string | null {
	return recs.tasks.find((t) => t.tid === pid)?.comm ?? null;
}

/** Every io_uring instance of process `pid`, captured through BPF. */
export function captureBpf(pid: number): ProcessRings {
	const recs = decodeRecords(loadNative().runIter(pid));
	const comm = commOf(recs, pid);
	if (comm === null) throw new BpfError(`process ${pid} does not exist, or is outside the PID namespace the BPF task iterator sees`);
	let maps: MapsLine[] = [];
	try {
		maps = readMaps(pid);
	} catch {
		/* exited after the iterator ran: mappings keep their vm_flags prot */
	}
	const view: ProcessView = {
		pid, recs, maps,
		fdsByFile: new Map(), fdsByPrivate: new Map(),
		hz: recs.rings.some((r) => !r.hz) ? kernelHz() : 0,
		rfilesByCtx: groupBy(recs.rfiles, (f) => f.ctx),
		rfileNamesByCtx: groupBy(recs.rfileNames, (n) => n.ctx),
		links: new Map(),
		byCtx: new Map(),
		uringFdsByCtx: new Map(),
		mapsByStart: new Map(),
		iowqCpus: new Map(),
	};
	for (const l of maps) if (!view.mapsByStart.has(l.start)) view.mapsByStart.set(l.start, l);
	for (const f of recs.files) if (f.is_uring) pushTo(view.uringFdsByCtx, f.private_data, f.fd);
	for (const f of recs.files) {
		if (f.tgid !== pid) continue;
		pushTo(view.fdsByFile, f.file, f.fd);
		pushTo(view.fdsByPrivate, f.private_data, f.fd);
	}
	const unavailable = new Set<string>();
	const rings = recs.rings
		.filter((r) => r.tgid === pid)
		.map((r) => buildRing(view, r, unavailable))
		.sort((a, b) => a.inode - b.inode);
	for (const r of rings) classifyRing(r);
	const fileOf = new Map(recs.files.filter((f) => f.tgid === pid).map((f) => [f.fd, f.file]));
	addEpollWatches(pid, rings, (epfd) => {
		const file = fileOf.get(epfd);
		return file === undefined ? null : dec(file);
	});
	return { pid, comm, source: 'bpf', unavailable: [...unavailable], rings };
}

/** Every process on the machine that holds io_uring instances (one BPF pass). */
export function listBpf(): ProcessSummary[] {
	return summariseRecords(decodeRecords(loadNative().runIter(0)));
}

/** The summary-mode records, per process. */
function summariseRecords(recs: Records): ProcessSummary[] {
	const byPid = new Map<number, ProcessSummary>();
	const tgidOfTid = new Map(recs.tasks.map((t) => [t.tid, t.tgid]));
	const get = (pid: number): ProcessSummary => {
		let s = byPid.get(pid);
		if (!s) {
			s = { pid, comm: commOf(recs, pid) ?? '', rings: 0, registered_files: 0, registered_buffers: 0, inflight: 0 };
			byPid.set(pid, s);
		}
		return s;
	};
	for (const r of recs.rings) get(r.tgid).rings++;
	for (const c of recs.counts) {
		const s = get(c.tgid);
		s.registered_files += c.files;
		s.registered_buffers += c.bufs;
		s.inflight += c.inflight;
	}
	/* io-wq work is found per task, not per ring */
	for (const q of recs.reqs) {
		if (!q.tid) continue;
		const tgid = tgidOfTid.get(q.tid);
		if (tgid !== undefined && byPid.has(tgid)) get(tgid).inflight++;
	}
	return [...byPid.values()].sort((a, b) => a.pid - b.pid);
}

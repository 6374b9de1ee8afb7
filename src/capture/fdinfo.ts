/*
 * Fallback capture without BPF: what /proc/PID/fdinfo and /proc/PID/maps
 * show of each ring.  fdinfo shows indices, pending SQEs, CQEs, registered
 * file paths and buffers, SQPOLL thread, poll list and overflow list — and
 * nothing else (docs/inspect-json.md lists what stays unknown).  Reading
 * procfs never perturbs the target.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Cqe, InflightRequest, ProcessRings, RingState, Sqe } from './model';
import { IO_URING_PATH, readMaps, ringMappings } from './maps';
import { opcodeName, opcodeNumber } from '../uring/opcodes';
import { setupFlagNames } from '../uring/flags';
import { IOSQE, SETUP } from '../uring/abi';
import { addEpollWatches } from './epoll';

export const FDINFO_UNAVAILABLE = [
	'setup flags (only SQPOLL is inferred)',
	'kernel state of rings held only through a mapping or a registered-ring slot',
	'registered-ring slots',
	'registered files by identity (paths only)',
	'eventfd',
	'personalities',
	'restrictions',
	'SQPOLL idle time and CPU pinning',
	'io-wq limits',
	'provided buffers',
	'in-flight requests other than poll-armed ones',
	'registered clock',
	'memory regions',
	'submitter thread',
];

export interface FdinfoRing {
	inode: number;
	fields: Map<string, string>;
	sqes: Sqe[];
	cqes: Cqe[];
	overflow: Cqe[];
	userFiles: { index: number; path: string }[];
	userBufs: { index: number; addr: bigint; len: number }[];
	pollList: { op: number }[];
	complete: boolean; /* the io_uring block was present (uring_lock trylock succeeded) */
}

const SQE_LINE = /^\s*(\d+): opcode:(\S+), fd:(-?\d+), flags:([0-9a-f]+), off:(\d+), addr:0x([0-9a-f]+), rw_flags:0x([0-9a-f]+), buf_index:(-?\d+) user_data:(\d+)/;
const CQE_LINE = /^\s*(\d+): user_data:(\d+), res:(-?\d+), flag:([0-9a-f]+)(?:, extra1:(\d+), extra2:(\d+))?/;
const OVF_LINE = /^\s*user_data=(\d+), res=(-?\d+), flags=([0-9a-f]+)/;
const FILE_LINE = /^\s*(\d+): (.*)$/;
const BUF_LINE = /^\s*(\d+): 0x([0-9a-f]+)\/(\d+)/;
const POLL_LINE = /^\s*op=(\d+), task_works=(\d+)/;

type Section = 'none' | 'sqes' | 'cqes' | 'files' | 'bufs' | 'poll' | 'overflow';

/** Parse the text of /proc/PID/fdinfo/FD of an io_uring fd. */
export function parseFdinfo(text: string): FdinfoRing {
	const r: FdinfoRing = {
		inode: 0, fields: new Map(), sqes: [], cqes: [], overflow: [],
		userFiles: [], userBufs: [], pollList: [], complete: false,
	};
	let section: Section = 'none';
	for (const line of text.split('\n')) {
		const kv = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
		if (kv && !/^\s/.test(line)) {
			const [, key, value] = kv;
			r.fields.set(key, value);
			section = ({ SQEs: 'sqes', CQEs: 'cqes', UserFiles: 'files', UserBufs: 'bufs',
				PollList: 'poll', CqOverflowList: 'overflow' } as Record<string, Section>)[key] ?? 'none';
			if (key === 'SqMask') r.complete = true;
			continue;
		}
		parseSectionLine(r, section, line);
	}
	r.inode = Number(r.fields.get('ino') ?? 0);
	return r;
}

function parseSectionLine(r: FdinfoRing, section: Section, line: string): void {
	let m: RegExpExecArray | null;
	switch (section) {
	case 'sqes':
		if ((m = SQE_LINE.exec(line))) r.sqes.push(sqeFromMatch(m));
		break;
	case 'cqes':
		if ((m = CQE_LINE.exec(line))) r.cqes.push(cqe(m[2], m[3], m[4], m[5], m[6]));
		break;
	case 'overflow':
		if ((m = OVF_LINE.exec(line))) r.overflow.push(cqe(m[1], m[2], m[3]));
		break;
	case 'files':
		if ((m = FILE_LINE.exec(line))) r.userFiles.push({ index: Number(m[1]), path: m[2] });
		break;
	case 'bufs':
		if ((m = BUF_LINE.exec(line)))
			r.userBufs.push({ index: Number(m[1]), addr: BigInt('0x' + m[2]), len: Number(m[3]) });
		break;
	case 'poll':
		if ((m = POLL_LINE.exec(line))) r.pollList.push({ op: Number(m[1]) });
		break;
	case 'none':
		break;
	}
}

function sqeFromMatch(m: RegExpExecArray): Sqe {
	const flags = parseInt(m[4], 16);
	const opcode = opcodeNumber(m[2]);
	return {
		index: Number(m[1]), opcode, opname: m[2], flags, fd: Number(m[3]),
		fixed: (flags & IOSQE.FIXED_FILE) !== 0, off: m[5], addr: BigInt('0x' + m[6]).toString(),
		len: 0 /* fdinfo does not show len */, op_flags: parseInt(m[7], 16), buf_index: Number(m[8]),
		personality: 0, user_data: m[9],
	};
}

function cqe(userData: string, res: string, flags: string, extra1?: string, extra2?: string): Cqe {
	const c: Cqe = { user_data: userData, res: Number(res), flags: parseInt(flags, 16) };
	if (extra1 !== undefined) { c.extra1 = extra1; c.extra2 = extra2; }
	return c;
}

/* fdinfo prints the io_uring block only if it wins a trylock of the ring's
 * uring_lock; a busy ring needs a few reads. */
function readRingFdinfo(pid: number, fd: number): FdinfoRing {
	let last: FdinfoRing | undefined;
	for (let i = 0; i < 50; i++) {
		last = parseFdinfo(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
		if (last.complete) return last;
	}
	return last!;
}

/** fds of a process with their link targets; fds that vanish are skipped. */
export function listFds(pid: number): { fd: number; link: string }[] {
	const out: { fd: number; link: string }[] = [];
	for (const name of readdirSync(`/proc/${pid}/fd`)) {
		try {
			out.push({ fd: Number(name), link: readlinkSync(`/proc/${pid}/fd/${name}`) });
		} catch {
			/* closed while we looked */
		}
	}
	return out.sort((a, b) => a.fd - b.fd);
}

const num = (f: Map<string, string>, k: string): number => Number(f.get(k) ?? 0);

function ringFromFdinfo(fi: FdinfoRing, fds: number[], linkOf: Map<number, string>): RingState {
	const f = fi.fields;
	const sqThread = f.has('SqThread') ? Number(f.get('SqThread')) : -1;
	const setupFlags = sqThread >= 0 ? SETUP.SQPOLL : 0;
	const pathFds = new Map<string, number[]>();
	for (const [fd, link] of linkOf) pathFds.set(link, [...(pathFds.get(link) ?? []), fd]);
	const inflight: InflightRequest[] = fi.pollList.map((p) => ({
		opcode: opcodeName(p.op), user_data: '', fd: null, fixed: false, state: 'poll',
	}));
	return {
		inode: fi.inode, ctx: null, fds, registered_slots: [], mappings: [],
		setup_flags: setupFlags, flags: setupFlagNames(setupFlags),
		sq_entries: num(f, 'SqMask') + 1, cq_entries: num(f, 'CqMask') + 1,
		submitter_tid: null, disabled: false,
		sq: { head: num(f, 'SqHead'), tail: num(f, 'SqTail'), cached_head: num(f, 'CachedSqHead'), dropped: 0, flags: 0 },
		cq: { head: num(f, 'CqHead'), tail: num(f, 'CqTail'), cached_tail: num(f, 'CachedCqTail'), overflow: 0, flags: 0 },
		pending_sqes: fi.sqes, cqes: fi.cqes, overflow_cqes: fi.overflow,
		sqpoll: sqThread >= 0 ? { thread_pid: sqThread, cpu: null, idle_ms: null, shared_with: [] } : null,
		registered_files: {
			size: num(f, 'UserFiles'), alloc_range: null,
			/* fdinfo names registered files by path only: fds with the same path are candidates, not identities */
			entries: fi.userFiles.map((u) => ({ index: u.index, fds: pathFds.get(u.path) ?? [], path: u.path, type: 'unknown' })),
		},
		registered_buffers: {
			size: num(f, 'UserBufs'),
			entries: fi.userBufs.map((b) => ({ index: b.index, addr: b.addr.toString(), len: b.len, mapped: true })),
		},
		eventfd: null, personalities: [], restrictions: null, iowq_max_workers: null,
		provided_buffers: [], napi: napiFromFdinfo(f), clock: null, mem_regions: [], inflight, epoll_watches: [],
	};
}

function napiFromFdinfo(f: Map<string, string>): RingState['napi'] {
	const napi = f.get('NAPI');
	if (napi === undefined) return null;
	if (napi !== 'enabled') return { mode: 'off', busy_poll_dt: '0', prefer_busy_poll: false };
	return {
		mode: f.get('napi tracking') === 'static' ? 'static' : 'dynamic',
		busy_poll_dt: f.get('napi_busy_poll_dt') ?? '0',
		prefer_busy_poll: f.get('napi_prefer_busy_poll') === 'true',
	};
}

/** Capture a process from procfs only (source "fdinfo"). */
export function captureFdinfo(pid: number, comm: string, why: string): ProcessRings {
	const fds = listFds(pid);
	const linkOf = new Map(fds.filter((f) => f.link !== IO_URING_PATH).map((f) => [f.fd, f.link]));
	const byInode = new Map<number, { fi: FdinfoRing; fds: number[] }>();
	for (const { fd, link } of fds) {
		if (link !== IO_URING_PATH) continue;
		let fi: FdinfoRing;
		try {
			fi = readRingFdinfo(pid, fd);
		} catch {
			continue; /* closed while we looked */
		}
		const known = byInode.get(fi.inode);
		if (known) known.fds.push(fd);
		else byInode.set(fi.inode, { fi, fds: [fd] });
	}
	const maps = ringMappings(readMaps(pid));
	const rings: RingState[] = [];
	for (const { fi, fds: ringFds } of byInode.values()) {
		const ring = ringFromFdinfo(fi, ringFds, linkOf);
		ring.mappings = maps.get(fi.inode) ?? [];
		rings.push(ring);
	}
	for (const [inode, mappings] of maps) {
		if (byInode.has(inode)) continue;
		rings.push(mappingOnlyRing(inode, mappings));
	}
	addEpollWatches(pid, rings, () => null);
	return { pid, comm, source: 'fdinfo', unavailable: [`BPF: ${why}`, ...FDINFO_UNAVAILABLE], rings };
}

/* A ring the process holds only through a mapping: procfs shows nothing but the mapping. */
function mappingOnlyRing(inode: number, mappings: RingState['mappings']): RingState {
	const empty = ringFromFdinfo(parseFdinfo(`ino:\t${inode}\n`), [], new Map());
	return { ...empty, mappings, sq_entries: 0, cq_entries: 0, sq: { ...empty.sq, cached_head: null }, cq: { ...empty.cq, cached_tail: null } };
}

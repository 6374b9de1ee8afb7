/*
 * Pure decoding of ring contents captured by BPF: SQEs, CQEs, file types,
 * bitmaps.  No I/O here, so it is unit-testable on recorded data.
 */
import type { Cqe, Sqe } from './model';
import { opcodeName } from '../uring/opcodes';
import { CQE_F, IOSQE } from '../uring/abi';

/** One SQE (64 bytes, or 128 with SQE128) as the model shows it. */
export function decodeSqe(index: number, data: Buffer, len: number): Sqe {
	const flags = data.readUInt8(1);
	const sqe: Sqe = {
		index,
		opcode: data.readUInt8(0),
		opname: opcodeName(data.readUInt8(0)),
		flags,
		fd: data.readInt32LE(4),
		fixed: (flags & IOSQE.FIXED_FILE) !== 0,
		off: data.readBigUInt64LE(8).toString(),
		addr: data.readBigUInt64LE(16).toString(),
		len: data.readUInt32LE(24),
		op_flags: data.readUInt32LE(28),
		user_data: data.readBigUInt64LE(32).toString(),
		buf_index: data.readUInt16LE(40),
		personality: data.readUInt16LE(42),
	};
	if (len === 128) sqe.cmd = data.subarray(64, 128).toString('hex');
	return sqe;
}

/** A 16-byte CQE, with the big-CQE extras when `big`. */
export function decodeCqe(data: Buffer, big: boolean): Cqe {
	const cqe: Cqe = {
		user_data: data.readBigUInt64LE(0).toString(),
		res: data.readInt32LE(8),
		flags: data.readUInt32LE(12),
	};
	if (big) {
		cqe.extra1 = data.readBigUInt64LE(16).toString();
		cqe.extra2 = data.readBigUInt64LE(24).toString();
	}
	return cqe;
}

/**
 * The CQEs of a CQ walk, in order.  On CQE32 rings every entry is big.  On
 * CQE_MIXED rings an entry flagged IORING_CQE_F_32 spans two slots (the
 * record carries the second one), so the next position is skipped; filler
 * entries (IORING_CQE_F_SKIP) are kept because the application must still
 * consume them.  `recs` are in CQ order, as the BPF walk emits them.
 */
export function decodeCqes(recs: { pos: number; data: Buffer }[], cqe32: boolean, mixed: boolean): Cqe[] {
	const out: Cqe[] = [];
	let skipPos: number | null = null;
	for (const r of recs) {
		if (skipPos !== null && r.pos === skipPos) {
			skipPos = null;
			continue;
		}
		const flags = r.data.readUInt32LE(12);
		const big = cqe32 || (mixed && (flags & CQE_F[32]) !== 0);
		out.push(decodeCqe(r.data, big));
		if (mixed && big) skipPos = (r.pos + 1) >>> 0;
	}
	return out;
}

/**
 * The CQEs of the overflow list, in order.  Each list entry is one CQE: on
 * CQE32 rings every entry is big, on CQE_MIXED rings those flagged
 * IORING_CQE_F_32 are (the kernel sizes each entry by that flag).
 */
export function decodeOverflowCqes(recs: { data: Buffer }[], cqe32: boolean, mixed: boolean): Cqe[] {
	return recs.map((r) => decodeCqe(r.data, cqe32 || (mixed && (r.data.readUInt32LE(12) & CQE_F[32]) !== 0)));
}

/** Set bit numbers of a 64-bit bitmap. */
export function bitmapBits(map: bigint): number[] {
	const out: number[] = [];
	for (let i = 0; i < 64; i++) if ((map >> BigInt(i)) & 1n) out.push(i);
	return out;
}

/** CPUs set in a cpumask given as 64-bit words. */
export function cpuList(words: bigint[]): number[] {
	const out: number[] = [];
	words.forEach((w, i) => bitmapBits(w).forEach((b) => out.push(i * 64 + b)));
	return out;
}

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

const ANON_INODE_FS_MAGIC = 0x09041934;
const PIPEFS_MAGIC = 0x50495045;
const SOCKFS_MAGIC = 0x534f434b;

/** Anon inode names and the file types they stand for. */
const ANON_TYPES: Record<string, string> = {
	'[eventfd]': 'eventfd', '[io_uring]': 'io_uring', '[eventpoll]': 'epoll',
	'[signalfd]': 'signalfd', '[timerfd]': 'timerfd', '[pidfd]': 'pidfd',
	'[userfaultfd]': 'userfaultfd', 'inotify': 'inotify', '[fanotify]': 'fanotify',
};

export interface FileIdentity { i_mode: number; s_magic: number; name: string; ino: bigint }

/** The kind of file behind a struct file, as a short word. */
export function fileType(f: FileIdentity): string {
	const fmt = f.i_mode & S_IFMT;
	if (fmt === S_IFSOCK || f.s_magic === SOCKFS_MAGIC) return 'socket';
	if (fmt === S_IFIFO) return f.s_magic === PIPEFS_MAGIC ? 'pipe' : 'fifo';
	if (fmt === S_IFREG && f.s_magic !== ANON_INODE_FS_MAGIC) return 'file';
	if (fmt === S_IFDIR) return 'directory';
	if (fmt === S_IFCHR) return 'chardev';
	if (fmt === S_IFBLK) return 'blockdev';
	if (fmt === S_IFLNK) return 'symlink';
	if (f.s_magic === ANON_INODE_FS_MAGIC || fmt === 0)
		return ANON_TYPES[f.name] ?? (f.name.replace(/^\[|\]$/g, '') || 'anon_inode');
	return 'unknown';
}

/**
 * The path /proc/PID/fd/N would show for a file, built from the kernel's
 * view: pseudo files by type, others from the dentry names (leaf first).
 */
export function filePath(f: FileIdentity, components: string[]): string {
	const type = fileType(f);
	if (type === 'socket') return `socket:[${f.ino}]`;
	if (type === 'pipe') return `pipe:[${f.ino}]`;
	if (f.s_magic === ANON_INODE_FS_MAGIC) return `anon_inode:${f.name}`;
	if (components.length === 0) return f.name.startsWith('/') ? f.name : '/' + f.name;
	return '/' + [...components].reverse().join('/');
}

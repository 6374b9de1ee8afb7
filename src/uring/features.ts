/*
 * What the running kernel's io_uring accepts, found by asking it, never by
 * its version number (distribution kernels backport; RHEL 9's 5.14 has the
 * io_uring of about 6.8).
 *
 * - setup flags: io_uring_setup() with a 1-entry ring, the flag and the
 *   companions it requires; an unknown flag is EINVAL before anything
 *   else is looked at.
 * - request opcodes: IORING_REGISTER_PROBE.
 * - register opcodes: each called on a throwaway ring with an argument the
 *   kernel must reject after it has recognised the opcode: an unmapped
 *   address (0x1000, below mmap_min_addr) where it copies a struct in, so a
 *   known opcode fails with EFAULT and an unknown one with EINVAL.
 * - buffer ring flags: IORING_REGISTER_PBUF_RING with the flag on a
 *   throwaway ring (unknown flags are EINVAL).
 *
 * The probes run once per process (a few dozen system calls, about a
 * millisecond; SQPOLL starts and stops one kernel thread) and leave nothing
 * behind.  Every caller that must not use what a kernel lacks (restore
 * planning, the dump's capture checks, `criu-uring check`, the tests) asks
 * here.
 */
import { release } from 'node:os';
import { loadNative } from '../native';
import { decodeParams, emptyParams, encodeParams, PARAMS_SIZE } from './params';
import { REGISTER, SETUP } from './abi';
import { SETUP_FLAGS } from './flags';
import { OPCODES } from './opcodes';

/** The IORING_REGISTER_* opcodes probed one by one (numbers: abi.ts). */
export const PROBED = [
	'EVENTFD', 'PROBE', 'PERSONALITY', 'RESTRICTIONS', 'ENABLE_RINGS', 'FILES2', 'FILES_UPDATE2', 'BUFFERS2',
	'BUFFERS_UPDATE', 'IOWQ_AFF', 'IOWQ_MAX_WORKERS', 'RING_FDS', 'PBUF_RING', 'SYNC_CANCEL', 'FILE_ALLOC_RANGE',
	'PBUF_STATUS', 'NAPI', 'CLOCK', 'CLONE_BUFFERS', 'SEND_MSG_RING', 'RESIZE_RINGS', 'MEM_REGION', 'QUERY',
] as const;
const REG = Object.fromEntries(PROBED.map((k) => [k, REGISTER[k]])) as { [K in (typeof PROBED)[number]]: number };

const IOU_PBUF_RING_MMAP = 1;
const IOU_PBUF_RING_INC = 2;
const IO_URING_OP_SUPPORTED = 1;
/* never mapped: below every mmap_min_addr */
const UNMAPPED = 0x1000n;

/** Register opcodes the project uses (dump, restore, cancel), probed one by one. */
export type RegisterOp = keyof typeof REG;

export interface KernelFeatures {
	/** uname release, for people only: nothing is decided by it */
	release: string;
	/** io_uring_setup works at all (not disabled by sysctl or seccomp) */
	io_uring: boolean;
	/** why io_uring_setup failed, when it did */
	why?: string;
	/** IORING_SETUP_* bits the kernel accepts */
	setup: number;
	/** IORING_OP_* numbers IORING_REGISTER_PROBE reports as supported */
	opcodes: Set<number>;
	register: Record<RegisterOp, boolean>;
	/** IOU_PBUF_RING_MMAP: buffer rings in kernel memory */
	pbuf_mmap: boolean;
	/** IOU_PBUF_RING_INC: incrementally consumed buffer rings */
	pbuf_inc: boolean;
	/** a NOP with IORING_NOP_INJECT_RESULT posts res = len (restoring CQEs with extras) */
	nop_inject: boolean;
	/** IORING_FEAT_RECVSEND_BUNDLE: a RECV takes several provided buffers at once */
	recv_bundle: boolean;
	/** where this kernel's struct io_rings keeps its fields (null: io_uring unusable) */
	layout: RingsLayout | null;
}

/**
 * Offsets in the ring region (struct io_rings), as io_uring_setup reports
 * them.  Linux 6.1 aligns each head and tail to a cache line (the CQEs
 * start at 320), 6.12 and later pack them (the CQEs start at 64).
 */
export interface RingsLayout {
	sq_head: number; sq_tail: number; sq_ring_mask: number; sq_ring_entries: number; sq_flags: number; sq_dropped: number;
	cq_head: number; cq_tail: number; cq_ring_mask: number; cq_ring_entries: number; cq_overflow: number; cq_flags: number;
	/** offset of the CQE array: the size of the header */
	cqes: number;
}

interface Errno { code?: string }

function errnoOf(e: unknown): string {
	return (e as Errno).code ?? 'EUNKNOWN';
}

function tryClose(fd: number): void {
	try {
		loadNative().close(fd);
	} catch {
		/* nothing to do */
	}
}

/** io_uring_setup with a 1-entry ring; the fd, or the errno name. */
function setup(flags: number, extra: Partial<{ cq: number; wqFd: number; cpu: number; out: Buffer }> = {}): number | string {
	const p = emptyParams();
	p.flags = flags;
	p.cq_entries = extra.cq ?? 0;
	p.wq_fd = extra.wqFd ?? 0;
	p.sq_thread_cpu = extra.cpu ?? 0;
	const buf = extra.out ?? encodeParams(p);
	if (extra.out) encodeParams(p).copy(buf);
	try {
		return loadNative().ioUringSetup(1, buf);
	} catch (e) {
		return errnoOf(e);
	}
}

function layoutOf(params: Buffer): RingsLayout {
	const p = decodeParams(params);
	const s = p.sq_off, c = p.cq_off;
	return {
		sq_head: s.head, sq_tail: s.tail, sq_ring_mask: s.ring_mask, sq_ring_entries: s.ring_entries, sq_flags: s.flags,
		sq_dropped: s.dropped, cq_head: c.head, cq_tail: c.tail, cq_ring_mask: c.ring_mask, cq_ring_entries: c.ring_entries,
		cq_overflow: c.overflow, cq_flags: c.flags, cqes: c.cqes,
	};
}

/* the flags each setup flag needs next to it to be valid on its own */
const COMPANIONS: Record<string, number> = {
	SQ_AFF: SETUP.SQPOLL, TASKRUN_FLAG: SETUP.COOP_TASKRUN, DEFER_TASKRUN: SETUP.SINGLE_ISSUER,
	REGISTERED_FD_ONLY: SETUP.NO_MMAP, HYBRID_IOPOLL: SETUP.IOPOLL,
};

function probeSetup(): number {
	let ok = 0;
	const base = setup(0);
	if (typeof base !== 'number') return 0;
	SETUP_FLAGS.forEach((name, bit) => {
		const flag = 1 << bit;
		const r = setup(flag | (COMPANIONS[name] ?? 0), {
			cq: name === 'CQSIZE' ? 4 : 0, wqFd: name === 'ATTACH_WQ' ? base : 0,
		});
		if (typeof r === 'number') {
			tryClose(r);
			ok |= flag;
		} else if (flag & (SETUP.NO_MMAP | SETUP.REGISTERED_FD_ONLY) && r === 'EFAULT') {
			/* known flag; it wanted the application's memory, which we did not give */
			ok |= flag;
		}
	});
	tryClose(base);
	return ok >>> 0;
}

function probeOpcodes(fd: number): Set<number> {
	const n = 256;
	const buf = Buffer.alloc(16 + n * 8);
	const ops = new Set<number>();
	try {
		loadNative().ioUringRegister(fd, REG.PROBE, buf, n);
	} catch {
		return ops;
	}
	const len = buf.readUInt8(1);
	for (let i = 0; i < len && i < n; i++) {
		const o = 16 + i * 8;
		if (buf.readUInt16LE(o + 2) & IO_URING_OP_SUPPORTED) ops.add(buf.readUInt8(o));
	}
	return ops;
}

/* register opcode -> [nr_args, errnos that prove the kernel knows it]; arg is UNMAPPED */
const REGISTER_PROBES: Record<RegisterOp, [number, string[]]> = {
	EVENTFD: [1, ['EFAULT']], PROBE: [0, []], PERSONALITY: [0, []], RESTRICTIONS: [1, ['EBADFD', 'EFAULT']],
	ENABLE_RINGS: [0, []], FILES2: [32, ['EFAULT']], FILES_UPDATE2: [32, ['EFAULT']],
	BUFFERS2: [32, ['EFAULT']], BUFFERS_UPDATE: [32, ['EFAULT']], IOWQ_AFF: [8, ['EFAULT']],
	IOWQ_MAX_WORKERS: [2, ['EFAULT']], RING_FDS: [1, ['EFAULT']], PBUF_RING: [1, ['EFAULT']],
	SYNC_CANCEL: [1, ['EFAULT']], FILE_ALLOC_RANGE: [0, ['EFAULT']], PBUF_STATUS: [1, ['EFAULT']],
	NAPI: [1, ['EFAULT']], CLOCK: [0, ['EFAULT']], CLONE_BUFFERS: [1, ['EFAULT']],
	SEND_MSG_RING: [1, ['EFAULT']], RESIZE_RINGS: [1, ['EFAULT']], MEM_REGION: [1, ['EFAULT']],
	QUERY: [0, ['EFAULT']],
};

function probeRegister(fd: number, deferFd: number | null): Record<RegisterOp, boolean> {
	const n = loadNative();
	const out = Object.fromEntries(Object.keys(REG).map((k) => [k, false])) as Record<RegisterOp, boolean>;
	for (const name of Object.keys(REGISTER_PROBES) as RegisterOp[]) {
		const [nr, errs] = REGISTER_PROBES[name];
		const op = REG[name];
		/* no-argument opcodes: a real call on the throwaway ring */
		if (name === 'PROBE') continue;	/* probeOpcodes() */
		if (name === 'PERSONALITY' || name === 'ENABLE_RINGS') {
			try {
				n.ioUringRegister(fd, op, null, 0);
				out[name] = true;
			} catch (e) {
				/* ENABLE_RINGS on an enabled ring */
				out[name] = errnoOf(e) === 'EBADFD';
			}
			continue;
		}
		/* SEND_MSG_RING needs no ring (fd -1); RESIZE_RINGS only looks further on DEFER_TASKRUN rings */
		const target = name === 'SEND_MSG_RING' ? -1 : name === 'RESIZE_RINGS' ? deferFd : fd;
		if (target === null) continue;
		try {
			n.ioUringRegister(target, op, UNMAPPED, nr);
			out[name] = true;
		} catch (e) {
			out[name] = errs.includes(errnoOf(e));
		}
	}
	return out;
}

/* IORING_REGISTER_PBUF_RING in kernel memory with extra flags, on a throwaway ring */
function probePbufFlags(flags: number): boolean {
	const fd = setup(0);
	if (typeof fd !== 'number') return false;
	const reg = Buffer.alloc(40);
	reg.writeUInt32LE(1, 8);		/* ring_entries */
	reg.writeUInt16LE(1, 12);		/* bgid */
	reg.writeUInt16LE(flags, 14);
	try {
		loadNative().ioUringRegister(fd, REG.PBUF_RING, reg, 1);
		return true;
	} catch {
		return false;
	} finally {
		tryClose(fd);
	}
}

/* struct io_uring_params: features at offset 20; IORING_FEAT_RECVSEND_BUNDLE */
const PARAMS_FEATURES = 20;
const FEAT_RECVSEND_BUNDLE = 1 << 14;

let cached: KernelFeatures | null = null;

/** The running kernel's io_uring features (probed once per process). */
export function kernelFeatures(): KernelFeatures {
	if (cached) return cached;
	const none = Object.fromEntries(Object.keys(REG).map((k) => [k, false])) as Record<RegisterOp, boolean>;
	const params = Buffer.alloc(PARAMS_SIZE);
	const fd = setup(0, { out: params });
	if (typeof fd !== 'number') {
		cached = { release: release(), io_uring: false, why: `io_uring_setup: ${fd}`, setup: 0, opcodes: new Set(),
			register: none, pbuf_mmap: false, pbuf_inc: false, nop_inject: false, recv_bundle: false, layout: null };
		return cached;
	}
	try {
		const flags = probeSetup();
		const defer = flags & SETUP.DEFER_TASKRUN ? setup(SETUP.SINGLE_ISSUER | SETUP.DEFER_TASKRUN) : null;
		const register = probeRegister(fd, typeof defer === 'number' ? defer : null);
		if (typeof defer === 'number') tryClose(defer);
		const opcodes = probeOpcodes(fd);
		register.PROBE = opcodes.size > 0;
		cached = {
			release: release(), io_uring: true, setup: flags, opcodes, register,
			pbuf_mmap: register.PBUF_RING && probePbufFlags(IOU_PBUF_RING_MMAP),
			pbuf_inc: register.PBUF_RING && probePbufFlags(IOU_PBUF_RING_MMAP | IOU_PBUF_RING_INC),
			nop_inject: loadNative().nopInjectProbe(),
			recv_bundle: (params.readUInt32LE(PARAMS_FEATURES) & FEAT_RECVSEND_BUNDLE) !== 0,
			layout: layoutOf(params),
		};
	} finally {
		tryClose(fd);
	}
	return cached;
}

/** Whether the kernel accepts this IORING_SETUP_* flag (a SETUP value). */
export function hasSetupFlag(flag: number): boolean {
	return (kernelFeatures().setup & flag) === flag;
}

/** Whether the kernel knows this request opcode (an IORING_OP_* name). */
export function hasOpcode(name: string): boolean {
	const op = OPCODES.indexOf(name);
	return op >= 0 && kernelFeatures().opcodes.has(op);
}

export function hasRegister(op: RegisterOp): boolean {
	return kernelFeatures().register[op];
}

/** Names of the setup flags this kernel lacks (for refusals and skips). */
export function missingSetupFlags(flags: number): string[] {
	const have = kernelFeatures().setup;
	return SETUP_FLAGS.filter((_, bit) => flags & (1 << bit) && !(have & (1 << bit)));
}

/*
 * The pinned contents of registered buffers whose memory the process has
 * unmapped.  The ring still holds the pages, but nothing outside the
 * kernel can read them: the range is gone from the process, BPF has no
 * way into the pages, and IORING_REGISTER_CLONE_BUFFERS into a ring of
 * another process is refused (the rings' memory accounting differs).
 *
 * So the dump asks the process itself, while it is frozen: in the ring's
 * owner thread (SINGLE_ISSUER rings accept a clone only from their
 * submitter) it creates a temporary ring, clones the application's
 * buffer table into it (same process: allowed, nothing re-pinned, the
 * application's ring untouched), and writes each unmapped buffer with
 * IORING_OP_WRITE_FIXED into a pipe, one chunk at a time.  The plugin
 * takes each chunk out of the pipe (pidfd_getfd, "save" step) into a file
 * of the image directory, which the helper reads on its next checkpoint
 * call.  The pipe, not a file: pipe writes complete inline, where a write
 * to a memfd would be punted to a new io-wq worker thread in the frozen
 * task.  Then the pipe and the temporary ring are closed and the scratch
 * memory freed, so the process is left with the same fds, mappings and
 * rings it had.
 */
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { ProcessRings, RegisteredBuffer, RingState } from '../capture/model';
import { readMaps, type MapsLine } from '../capture/maps';
import { ownerHandle } from '../restore/owner';
import { always, type Step } from '../restore/plan';
import { NR, OP, REGISTER } from '../uring/abi';
import { PARAMS_SIZE } from '../uring/params';
import { hasRegister } from '../uring/features';

const O_CLOEXEC = 0o2000000;
const F_SETPIPE_SZ = 1031;
/* bytes per WRITE_FIXED: the pipe is enlarged to hold one chunk, so the write never waits for a reader */
const CHUNK = 1 << 20;
const NO_FDS = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); /* int[2] { -1, -1 } */

/** Contents of one unmapped buffer, with the range it was captured for. */
interface Pinned { addr: bigint; len: number; data: Buffer }

/** Where the next round's bytes land in the transfer file. */
interface Piece { inode: number; index: number; addr: bigint; len: number; offset: number }

export const unmapped = (r: RingState): RegisteredBuffer[] => r.registered_buffers.entries.filter((e) => !e.mapped);

/* Whether any byte of [addr, addr+len) is mapped. */
function touchesMapping(maps: MapsLine[], addr: bigint, len: number): boolean {
	const end = addr + BigInt(len);
	return maps.some((m) => m.start < end && m.end > addr);
}

/** Why the unmapped buffers of ring r cannot be captured (empty: they can). */
function pinnedRefusals(pid: number, r: RingState, maps: MapsLine[]): string[] {
	const bufs = unmapped(r);
	if (bufs.length === 0) return [];
	const why: string[] = [];
	if (!hasRegister('CLONE_BUFFERS'))
		why.push('registered buffers whose memory was unmapped (reading their pinned pages needs IORING_REGISTER_CLONE_BUFFERS, which this kernel lacks)');
	if (!ownerHandle(pid, r))
		why.push('registered buffers whose memory was unmapped, on a ring its owner thread holds neither by fd nor by registered index');
	for (const e of bufs)
		if (touchesMapping(maps, BigInt(e.addr), e.len))
			why.push(`registered buffer ${e.index} is partly unmapped (only buffers unmapped whole are supported)`);
	return why;
}

/* One WRITE_FIXED of buffer `index` bytes [addr, addr+len) to the current pipe position. */
function writeFixed(index: number, addr: bigint, len: number): Buffer {
	const sqe = Buffer.alloc(64);
	sqe.writeUInt8(OP.WRITE_FIXED, 0);
	sqe.writeBigUInt64LE(0xffffffffffffffffn, 8); /* off -1: the pipe's own position */
	sqe.writeBigUInt64LE(addr, 16);
	sqe.writeUInt32LE(len, 24);
	sqe.writeUInt16LE(index, 40);
	return sqe;
}

export class PinnedContents {
	private readonly got = new Map<number, Map<number, Pinned>>(); /* ring inode -> buffer index -> contents */
	private readonly pending = new Map<number, Piece[]>(); /* pid -> the round the plugin ran for it */

	constructor(private readonly dir: string) {}

	private file(pid: number): string {
		return `io_uring-pinned-${pid}.tmp`;
	}

	/** Contents captured for ring `inode`, by buffer index. */
	contents(inode: number): Map<number, Buffer> {
		return new Map([...(this.got.get(inode) ?? [])].map(([i, p]) => [i, p.data]));
	}

	private has(r: RingState, e: RegisteredBuffer): boolean {
		const p = this.got.get(r.inode)?.get(e.index);
		return !!p && p.addr === BigInt(e.addr) && p.len === e.len;
	}

	/**
	 * Steps that capture what process p's rings still miss; none once
	 * everything is there.  Throws what cannot be captured.  Called on every
	 * checkpoint attempt: the first one after a round reads its file.
	 */
	round(p: ProcessRings): Step[] {
		this.collect(p.pid);
		const rings = p.rings.filter((r) => unmapped(r).some((e) => !this.has(r, e)));
		if (rings.length === 0) return [];
		const maps = readMaps(p.pid);
		const why = rings.flatMap((r) => pinnedRefusals(p.pid, r, maps).map((w) => `ring ${r.inode}: ${w}`));
		if (why.length) throw new Error(`process ${p.pid}: cannot checkpoint ${why.join('; ')} (not supported yet; see docs/limitations.md)`);
		rmSync(path.join(this.dir, this.file(p.pid)), { force: true });
		const pieces: Piece[] = [];
		const steps = rings.flatMap((r, k) => this.ringSteps(p.pid, r, k, pieces));
		this.pending.set(p.pid, pieces);
		return steps;
	}

	/** Remove transfer files of rounds never collected (the dump failed in between). */
	cleanup(): void {
		for (const pid of this.pending.keys()) rmSync(path.join(this.dir, this.file(pid)), { force: true });
		this.pending.clear();
	}

	/* Read what the last round for pid left in its file. */
	private collect(pid: number): void {
		const pieces = this.pending.get(pid);
		if (!pieces) return;
		this.pending.delete(pid);
		const file = path.join(this.dir, this.file(pid));
		let bytes: Buffer;
		try {
			bytes = readFileSync(file);
		} finally {
			rmSync(file, { force: true });
		}
		for (const x of pieces) {
			if (bytes.length < x.offset + x.len)
				throw new Error(`process ${pid}: ring ${x.inode}: only part of registered buffer ${x.index}'s pinned contents arrived`);
			if (!this.got.has(x.inode)) this.got.set(x.inode, new Map());
			this.got.get(x.inode)!.set(x.index, { addr: x.addr, len: x.len, data: Buffer.from(bytes.subarray(x.offset, x.offset + x.len)) });
		}
	}

	/* In the ring's owner: temporary ring with the cloned table, pipe, one WRITE_FIXED + save per chunk, then close it all. */
	private ringSteps(pid: number, r: RingState, k: number, pieces: Piece[]): Step[] {
		const h = ownerHandle(pid, r)!;
		const v = (name: string): string => `pin_${name}${k}`;
		const s = `$${v('s')}`;
		const clone = Buffer.alloc(32);
		clone.writeUInt32LE(h.fd, 0);
		clone.writeUInt32LE(h.registered ? REGISTER.SRC_REGISTERED : 0, 4);
		const steps: Step[] = [
			{ op: 'task', tid: h.tid },
			{ op: 'alloc', v: v('s'), len: 256 },
			/* what the cleanup below closes if pipe2 never ran (fresh scratch memory holds fd 0 twice) */
			always({ op: 'write', addr: `${s}+160`, data: NO_FDS }),
			{ op: 'write', addr: s, data: Buffer.alloc(PARAMS_SIZE) },
			{ op: 'write', addr: `${s}+128`, data: clone },
			{ op: 'sys', v: v('t'), nr: NR.io_uring_setup, args: [2, s], what: `create a temporary ring to read ring ${r.inode}'s pinned buffers` },
			{ op: 'sys', v: 'pin_x', nr: NR.io_uring_register, args: [`$${v('t')}`, REGISTER.CLONE_BUFFERS, `${s}+128`, 1],
				what: `clone ring ${r.inode}'s registered buffers into the temporary ring` },
			{ op: 'sys', v: 'pin_x', nr: NR.pipe2, args: [`${s}+160`, O_CLOEXEC], what: 'create a pipe for the pinned contents' },
			{ op: 'load', v: v('r'), addr: `${s}+160`, size: 4 },
			{ op: 'load', v: v('w'), addr: `${s}+164`, size: 4 },
			{ op: 'sys', v: 'pin_x', nr: NR.fcntl, args: [`$${v('w')}`, F_SETPIPE_SZ, CHUNK], what: `make the pipe hold ${CHUNK} bytes` },
		];
		for (const e of unmapped(r)) {
			const addr = BigInt(e.addr);
			const offset = pieces.reduce((end, x) => Math.max(end, x.offset + x.len), 0);
			pieces.push({ inode: r.inode, index: e.index, addr, len: e.len, offset });
			for (let done = 0; done < e.len; done += CHUNK) {
				const len = Math.min(CHUNK, e.len - done);
				const what = `ring ${r.inode}: registered buffer ${e.index} bytes ${done}..${done + len}`;
				steps.push(
					{ op: 'submit', fd: `$${v('t')}`, params: s, count: 1, file: `$${v('w')}`, sqes: writeFixed(e.index, addr + BigInt(done), len), what },
					{ op: 'save', fd: `$${v('r')}`, len, name: this.file(pid), offset: offset + done, what });
			}
		}
		/* cleanup steps: they run even when a step above failed, so a failed dump leaves no fd behind */
		steps.push(
			always({ op: 'task', tid: h.tid }),
			always({ op: 'load', v: v('r'), addr: `${s}+160`, size: 4 }),
			always({ op: 'load', v: v('w'), addr: `${s}+164`, size: 4 }),
			always({ op: 'sys', v: 'pin_x', nr: NR.close, args: [`$${v('r')}`], what: 'close the pipe' }),
			always({ op: 'sys', v: 'pin_x', nr: NR.close, args: [`$${v('w')}`], what: 'close the pipe' }),
			always({ op: 'sys', v: 'pin_x', nr: NR.close, args: [`$${v('t')}`], what: 'close the temporary ring' }),
			always({ op: 'free', v: v('s') }));
		return steps;
	}
}

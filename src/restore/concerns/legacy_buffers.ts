/*
 * Legacy provided-buffer groups (IORING_OP_PROVIDE_BUFFERS).  The kernel
 * hands a group's buffers out from the head of its list and appends
 * provided ones at the tail, so providing them again in the dumped list
 * order restores the order they will be selected in.  A run of buffers
 * adjacent in memory, of one length and with consecutive ids goes in one
 * request, the way applications provide them: that keeps the number of
 * requests the restore submits (before the index advance) small.
 */
import type { LegacyBuffer, RingState } from '../../capture/model';
import type { RingPlan } from '../ring-plan';
import { OP } from '../../uring/abi';

const MAX_NBUFS = 0xffff;

interface Run { bgid: number; first: LegacyBuffer; n: number }

function runs(s: RingState): Run[] {
	const out: Run[] = [];
	for (const g of s.provided_buffers) {
		if (g.kind !== 'legacy') continue;
		let run: Run | null = null;
		for (const b of g.buffers) {
			const next = run && BigInt(run.first.addr) + BigInt(run.first.len) * BigInt(run.n) === BigInt(b.addr) &&
				run.first.bid + run.n === b.bid && run.first.len === b.len && run.n < MAX_NBUFS;
			if (run && next) {
				run.n++;
				continue;
			}
			run = { bgid: g.bgid, first: b, n: 1 };
			out.push(run);
		}
	}
	return out;
}

/* PROVIDE_BUFFERS: fd = number of buffers, addr, len each, off = first id, buf_group. */
function provideSqe(r: Run): Buffer {
	const sqe = Buffer.alloc(64);
	sqe.writeUInt8(OP.PROVIDE_BUFFERS, 0);
	sqe.writeInt32LE(r.n, 4);
	sqe.writeBigUInt64LE(BigInt(r.first.bid), 8);
	sqe.writeBigUInt64LE(BigInt(r.first.addr), 16);
	sqe.writeUInt32LE(r.first.len, 24);
	sqe.writeUInt16LE(r.bgid, 40);
	return sqe;
}

/** Requests the restore submits for the legacy groups of `s`. */
export function legacyRequests(s: RingState): number {
	return runs(s).length;
}

export function planLegacyBuffers(p: RingPlan): void {
	const all = runs(p.s);
	if (all.length === 0) return;
	if (p.s.disabled) p.fail('provided buffers on a ring that was never enabled');
	const n = p.s.provided_buffers.reduce((sum, g) => sum + (g.kind === 'legacy' ? g.buffers.length : 0), 0);
	p.add('buffers', { op: 'submit', fd: p.fd, params: p.params, count: 1, file: null,
		sqes: Buffer.concat(all.map(provideSqe)), cqHead: p.cqHold, what: `provide ${n} legacy buffer(s) in ${all.length} request(s)` });
}

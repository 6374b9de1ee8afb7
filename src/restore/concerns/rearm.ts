/*
 * In-flight requests re-armed at restore (docs/inflight.md): each one the
 * dump recorded (an SQE built from the kernel's request by
 * src/capture/rearm.ts) is submitted again on the rebuilt ring, with the
 * same user_data, as part of the index advance, so the ring's indices
 * still end exactly where they were:
 *  - the advance stops N SQEs short of the dumped SQ head (each request
 *    consumes one SQE and, until its event, posts nothing);
 *  - the dumped ring bytes are written back (memory concern);
 *  - the "arm" step puts the N SQEs in the SQ positions just before the
 *    dumped head and submits exactly those, then restores the bytes it
 *    borrowed.  It runs in the 'late' phase, after the eventfd is
 *    registered: a request whose event already happened (data queued on a
 *    socket CRIU restored) completes at once, after the dumped CQEs, and
 *    signals the eventfd as it would have in the original process.
 * A TIMEOUT comes back as a relative timeout of the time its timer had
 * left at the dump (the time the checkpoint spends on disk is not
 * counted: the process did not run meanwhile); its timespec sits in the
 * plan's scratch memory, which the kernel copies at submission.  A
 * count-based one keeps the completions it still waited for.  An absolute
 * MONOTONIC or BOOTTIME one was recorded as the application's clock reads
 * its deadline; the "timens" step turns that into the host's view the
 * kernel compares with, through the restored task's time namespace.
 * A linked chain is a run of consecutive SQEs (IOSQE_IO_LINK on all but
 * the last): one SQE per request, like any other.
 */
import { ENTER, NR, OP, SETUP, TIMEOUT } from '../../uring/abi';
import { ringsLayout, ringsRegionSize } from '../../image/geometry';
import { userRegions } from './nommap';
import type { Expr, Step } from '../plan';
import type { RingPlan } from '../ring-plan';

const SQE_ADDR = 16;
const SQE_OP_FLAGS = 28;
const SQE_ADDR2 = 8;
/* struct msghdr (x86_64): msg_name at 0, msg_iov at 16 */
const MSGHDR_SIZE = 56;
const MSGHDR_NAME = 0;
const MSGHDR_IOV = 16;
const CLOCK_MONOTONIC = 1;
const CLOCK_BOOTTIME = 7;
const NS = 1_000_000_000n;


/** SQPOLL rings: what their re-arm needs room for (planSqpoll). */
export interface SqpollRoom { entries: number; pending: number; shared: boolean }

/** Why this ring's requests cannot be re-armed by the plan (empty: they can). */
export function rearmPlanRefusals(setupFlags: number, count: number, cachedSqHead: number, sq?: SqpollRoom): string[] {
	if (count === 0) return [];
	const why: string[] = [];
	if (setupFlags & SETUP.REGISTERED_FD_ONLY) why.push('re-armed requests on a REGISTERED_FD_ONLY ring');
	if (setupFlags & SETUP.SQPOLL && sq) {
		if (count + sq.pending > sq.entries)
			why.push(`${count} re-armed requests and ${sq.pending} pending SQEs do not fit the ${sq.entries}-entry SQ of an SQPOLL ring`);
		if (count > 8 && sq.shared)
			why.push(`${count} re-armed requests on an SQPOLL ring whose thread serves other rings (it takes 8 per round, which would cut a chain)`);
	}
	if (count > cachedSqHead >>> 0)
		why.push(`${count} re-armed requests but the ring's cached SQ head is ${cachedSqHead >>> 0} (the index advance would need a 2^32 lap)`);
	return why;
}

function timespec(ns: bigint): Buffer {
	const b = Buffer.alloc(16);
	b.writeBigInt64LE(ns / NS, 0);
	b.writeBigInt64LE(ns % NS, 8);
	return b;
}

/* Where a re-armed request's SQE addr points, placed in scratch memory (the kernel copies it at submission). */
interface Arg { at: string; steps: (sqeAddrField: Expr) => Step[] }

function argOf(p: RingPlan, q: NonNullable<RingPlan['ring']['rearm']>[number]): Arg | null {
	let arg: Buffer | undefined;
	const timeout = q.opcode === OP.TIMEOUT || q.opcode === OP.LINK_TIMEOUT;
	if (q.opcode === OP.SENDMSG) return sendmsgArg(p, q);
	if (q.opcode === OP.SEND && q.name?.length) {
		/* a SEND to an address: addr2 (8 bytes before addr) points at the kernel's copy of it */
		const at = p.put(q.name);
		return { at, steps: (field) => [{ op: 'store', addr: plus(field, SQE_ADDR2 - SQE_ADDR), size: 8, value: at }] };
	}
	if (timeout) {
		if (q.timeout_ns === undefined) p.fail(`re-armed timeout user_data ${q.user_data} has no time recorded`);
		arg = timespec(q.timeout_ns);
	} else if (q.msghdr) {
		arg = q.msghdr;
	} else if (q.futexv) {
		arg = q.futexv;
	}
	if (!arg) return null;
	const at = p.put(arg);
	const tflags = q.sqe.readUInt32LE(SQE_OP_FLAGS);
	const timens: Step[] = timeout && tflags & TIMEOUT.ABS && !(tflags & TIMEOUT.REALTIME)
		? [{ op: 'timens', addr: at, clock: tflags & TIMEOUT.BOOTTIME ? CLOCK_BOOTTIME : CLOCK_MONOTONIC }] : [];
	return { at, steps: (field) => [{ op: 'store', addr: field, size: 8, value: at }, ...timens] };
}

/*
 * A SENDMSG's msghdr, its iovecs and its destination address, placed
 * together in scratch memory (the kernel copies all three at submission):
 * msg_iov and msg_name are set to where the iovecs and the address went.
 */
function sendmsgArg(p: RingPlan, q: NonNullable<RingPlan['ring']['rearm']>[number]): Arg {
	const iovecs = q.iovecs ?? Buffer.alloc(0);
	const name = q.name ?? Buffer.alloc(0);
	if (q.msghdr?.length !== MSGHDR_SIZE) p.fail(`re-armed SENDMSG user_data ${q.user_data} has no msghdr`);
	const at = p.put(Buffer.concat([q.msghdr!, iovecs, name]));
	const ptrs: Step[] = [
		...(iovecs.length ? [{ op: 'store', addr: plus(at, MSGHDR_IOV), size: 8, value: plus(at, MSGHDR_SIZE) } as Step] : []),
		...(name.length ? [{ op: 'store', addr: plus(at, MSGHDR_NAME), size: 8, value: plus(at, MSGHDR_SIZE + iovecs.length) } as Step] : []),
	];
	return { at, steps: (field) => [...ptrs, { op: 'store', addr: field, size: 8, value: at }] };
}

/* base + off for an address expression ("$v", "$v+N" or a number) */
function plus(base: Expr, off: number): Expr {
	if (typeof base !== 'string') return BigInt(base) + BigInt(off);
	const [v, n] = base.split('+');
	return `${v}+${Number(n ?? 0) + off}`;
}

export function planRearm(p: RingPlan): void {
	const reqs = p.ring.rearm ?? [];
	if (reqs.length === 0) return;
	const s = p.s;
	if (s.disabled) p.fail('re-armed requests on a disabled ring');
	const why = rearmPlanRefusals(s.setup_flags, reqs.length, s.sq.cached_head ?? 0);
	if (why.length) p.fail(why.join('; '));
	for (const q of reqs) if (q.sqe.length !== 64) p.fail(`re-armed request user_data ${q.user_data}: SQE of ${q.sqe.length} bytes`);
	p.advance.sq += reqs.length; /* declared before concerns/memory.ts plans the advance */
	if (s.setup_flags & SETUP.SQPOLL) {
		planSqpoll(p);
		return;
	}
	const src = p.put(Buffer.concat(reqs.map((q) => q.sqe)));
	const stores = reqs.flatMap((q, i) => argOf(p, q)?.steps(plus(src, i * 64 + SQE_ADDR)) ?? []);
	/* NO_MMAP rings: the application's memory (REGISTERED_FD_ONLY ones are NO_MMAP too, and named by index) */
	const u = userRegions(p);
	p.add('late', ...stores, { op: 'arm', fd: p.fd, params: p.params, src, count: reqs.length,
		...(u ? { rings: u.rings, sqes: u.sqes, registered: p.byIndex } : {}),
		what: `re-arm ${reqs.length} in-flight request(s)` });
}

/*
 * SQPOLL rings: the SQ thread takes SQEs as soon as the shared tail passes
 * the kernel's head, so the re-armed requests go through it, inside the
 * write-back of the ring bytes (concerns/memory.ts): with the tail held N
 * short of the dumped head H (where the advance left the kernel's head),
 * the SQEs go into the slots of positions H-N .. H-1 (and the SQ array
 * entries point at them), the tail is set to H and the thread woken; once
 * the shared head reads H, the slots and entries get their dumped bytes
 * back and the write-back goes on with the dumped tail.  A thread shared
 * with other rings takes at most 8 SQEs of a ring per round, which would
 * end a linked chain early: refused then, for more than 8 requests.
 * Requests that complete at once do so before the eventfd is registered
 * (it is not signalled for them).
 */
function planSqpoll(p: RingPlan): void {
	const s = p.s;
	const reqs = p.ring.rearm!;
	const n = reqs.length;
	const head = s.sq.cached_head! >>> 0;
	const lay = ringsLayout();
	const tail = p.ring.rings.readUInt32LE(lay.sq_tail);
	const entries = s.sq_entries;
	const mask = entries - 1;
	const size = s.setup_flags & SETUP.SQE128 ? 128 : 64;
	const sqArray = !(s.setup_flags & SETUP.NO_SQARRAY);
	const arrayOff = ringsRegionSize(s.setup_flags | SETUP.NO_SQARRAY, s.sq_entries, s.cq_entries);
	const why = rearmPlanRefusals(s.setup_flags, n, head, { entries, pending: (tail - head) >>> 0, shared: (s.sqpoll?.shared_with.length ?? 0) > 0 });
	if (why.length) p.fail(why.join('; '));
	const slotOf = (i: number): number => ((head - n + i) >>> 0) & mask;
	if (sqArray)
		for (let pos = head; pos !== tail; pos = (pos + 1) >>> 0) {
			const slot = p.ring.rings.readUInt32LE(arrayOff + 4 * (pos & mask));
			if (((slot - ((head - n) >>> 0)) & mask) < n) p.fail(`pending SQE slot ${slot} is one the re-armed requests need`);
		}
	const args = reqs.map((q) => argOf(p, q));
	const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
	p.sqpollArm = {
		count: n,
		steps: (rings, sqes) => {
			const out: Step[] = [];
			reqs.forEach((q, i) => {
				const slot = slotOf(i);
				const data = Buffer.alloc(size);
				q.sqe.copy(data);
				out.push({ op: 'write', addr: plus(sqes, slot * size), data }, ...(args[i]?.steps(plus(sqes, slot * size + SQE_ADDR)) ?? []));
				if (sqArray) out.push({ op: 'write', addr: plus(rings, arrayOff + 4 * slot), data: u32(slot) });
			});
			out.push({ op: 'write', addr: plus(rings, lay.sq_tail), data: u32(head) });
			out.push({ op: 'sys', v: p.v('x').slice(1), nr: NR.io_uring_enter, args: [p.fd, 0, 0, ENTER.SQ_WAKEUP, 0, 0],
				what: `wake the SQ thread for ${n} re-armed request(s)` });
			out.push({ op: 'wait', addr: plus(rings, lay.sq_head), value: head, ms: 10_000,
				what: `re-arm ${n} in-flight request(s): the SQ thread did not take them` });
			reqs.forEach((_, i) => {
				const slot = slotOf(i);
				out.push({ op: 'write', addr: plus(sqes, slot * size), data: p.ring.sqes.subarray(slot * size, slot * size + size) });
				if (sqArray) out.push({ op: 'write', addr: plus(rings, arrayOff + 4 * slot), data: p.ring.rings.subarray(arrayOff + 4 * slot, arrayOff + 4 * slot + 4) });
			});
			return out;
		},
	};
}

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
import { OP, SETUP, TIMEOUT } from '../../uring/abi';
import type { Step } from '../plan';
import type { RingPlan } from '../ring-plan';

const SQE_ADDR = 16;
const SQE_OP_FLAGS = 28;
const CLOCK_MONOTONIC = 1;
const CLOCK_BOOTTIME = 7;
const NS = 1_000_000_000n;


/** Why this ring's requests cannot be re-armed by the plan (empty: they can). */
export function rearmPlanRefusals(setupFlags: number, count: number, cachedSqHead: number): string[] {
	if (count === 0) return [];
	const why: string[] = [];
	if (setupFlags & SETUP.SQPOLL) why.push('re-armed requests on an SQPOLL ring');
	if (setupFlags & SETUP.REGISTERED_FD_ONLY) why.push('re-armed requests on a REGISTERED_FD_ONLY ring');
	if (setupFlags & SETUP.NO_MMAP) why.push('re-armed requests on a NO_MMAP ring');
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

export function planRearm(p: RingPlan): void {
	const reqs = p.ring.rearm ?? [];
	if (reqs.length === 0) return;
	const s = p.s;
	if (s.disabled) p.fail('re-armed requests on a disabled ring');
	const why = rearmPlanRefusals(s.setup_flags, reqs.length, s.sq.cached_head ?? 0);
	if (why.length) p.fail(why.join('; '));
	p.advance.sq += reqs.length; /* declared before concerns/memory.ts plans the advance */
	const src = p.put(Buffer.concat(reqs.map((q) => q.sqe)));
	const stores: Step[] = [];
	const srcOff = Number(src.split('+')[1]);
	const sqeAddr = (i: number): string => `${src.split('+')[0]}+${srcOff + i * 64 + SQE_ADDR}`;
	reqs.forEach((q, i) => {
		if (q.sqe.length !== 64) p.fail(`re-armed request user_data ${q.user_data}: SQE of ${q.sqe.length} bytes`);
		/* what the SQE's addr points at, placed in scratch memory: the kernel copies it at submission */
		let arg: Buffer | undefined;
		const timeout = q.opcode === OP.TIMEOUT || q.opcode === OP.LINK_TIMEOUT;
		if (timeout) {
			if (q.timeout_ns === undefined) p.fail(`re-armed timeout user_data ${q.user_data} has no time recorded`);
			arg = timespec(q.timeout_ns);
		} else if (q.msghdr) {
			arg = q.msghdr;
		}
		if (!arg) return;
		const at = p.put(arg);
		stores.push({ op: 'store', addr: sqeAddr(i), size: 8, value: at });
		const tflags = q.sqe.readUInt32LE(SQE_OP_FLAGS);
		if (timeout && tflags & TIMEOUT.ABS && !(tflags & TIMEOUT.REALTIME))
			stores.push({ op: 'timens', addr: at, clock: tflags & TIMEOUT.BOOTTIME ? CLOCK_BOOTTIME : CLOCK_MONOTONIC });
	});
	p.add('late', ...stores, { op: 'arm', fd: p.fd, params: p.params, src, count: reqs.length,
		what: `re-arm ${reqs.length} in-flight request(s)` });
}

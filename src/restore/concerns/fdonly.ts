/*
 * IORING_SETUP_REGISTERED_FD_ONLY rings: io_uring_setup puts the new ring
 * in the first free slot of the creating thread's registered-ring table
 * and returns that index instead of an fd.  The ring has no fd anywhere:
 * only that thread can name it (USE_REGISTERED_RING / ENTER_REGISTERED_RING,
 * RingPlan.byIndex), and nothing can name it from another thread or
 * process, so it lives in exactly one slot of one thread.
 *
 * Restore: the same flags from the same thread, so the ring is created in
 * that thread's table.  To make the kernel's "first free slot" the
 * recorded one, every free slot below it is filled first with a temporary
 * ring (IORING_REGISTER_RING_FDS at explicit offsets) and emptied again
 * after; slots the rings restored before this one registered in this
 * thread are left alone (`slots_before`, set by the restore session).
 * The index advance submits through the index and, with no fd a MSG_RING
 * could aim at, posts CQ-only completions with the ring's own multishot
 * timeouts (plugin-c/blob/advance_blob.c run_cq_self).
 *
 * What needs an fd is refused at dump (fdOnlyRefusals): personalities
 * (registered by a helper process through a copy of the ring fd),
 * provided buffers that need requests or a mapping of kernel memory, and
 * kernel memory regions.  Overflow CQEs come back through NOPs on the
 * ring, those with flags other than 0 (F_32 on CQE_MIXED) are refused
 * (concerns/overflow.ts).
 */
import type { RingState } from '../../capture/model';
import type { Step } from '../plan';
import { isFdOnly } from '../owner';
import { RingPlan } from '../ring-plan';
import { NR, OP, REGISTER, SETUP, UNREGISTER } from '../../uring/abi';
import { PARAMS_SIZE } from '../../uring/params';


/** Why this REGISTERED_FD_ONLY ring cannot be restored (empty: it can, or it is not one). */
export function fdOnlyRefusals(s: RingState): string[] {
	if (!isFdOnly(s)) return [];
	const why: string[] = [];
	const what = 'on a REGISTERED_FD_ONLY ring';
	if (s.registered_slots.length !== 1)
		why.push(`a REGISTERED_FD_ONLY ring held in ${s.registered_slots.length} registered-ring slots (only its creator's one can exist)`);
	const slot = s.registered_slots[0];
	if (slot && s.setup_flags & SETUP.SINGLE_ISSUER && s.submitter_tid && s.submitter_tid !== slot.tid)
		why.push(`a REGISTERED_FD_ONLY ring whose submitter ${s.submitter_tid} is not the thread holding it (${slot.tid})`);
	if (s.personalities.length) why.push(`personalities ${what} (they are registered through an fd of the ring)`);
	for (const b of s.provided_buffers) {
		if (b.kind === 'legacy') why.push(`legacy provided buffers (group ${b.bgid}) ${what}`);
		else if (b.mmap || b.head) why.push(`buffer ring ${b.bgid} ${b.mmap ? 'allocated by the kernel' : 'with a moved head'} ${what}`);
	}
	if (s.mem_regions.some((r) => r.user !== true)) why.push(`a kernel-allocated memory region ${what}`);
	if (s.restrictions && !s.disabled && !s.restrictions.sqe_ops.includes(OP.TIMEOUT) &&
		(s.cq.cached_tail ?? 0) >>> 0 > (s.sq.cached_head ?? 0) >>> 0)
		why.push(`restrictions ${what} that forbid IORING_OP_TIMEOUT, which the index advance needs for CQEs beyond its SQEs`);
	return why;
}

/* struct io_uring_rsrc_update { __u32 offset; __u32 resv; __u64 data; } for each slot */
function slotUpdates(p: RingPlan, slots: number[]): string {
	const buf = Buffer.alloc(16 * slots.length);
	slots.forEach((slot, i) => buf.writeUInt32LE(slot, 16 * i));
	return p.put(buf);
}

/** Temporary registrations around io_uring_setup so that it lands in the recorded slot. */
export function claimLowerSlots(p: RingPlan): { before: Step[]; after: Step[] } {
	const why = fdOnlyRefusals(p.s);
	if (why.length) p.fail(`cannot restore ${why[0]}`);
	const slot = p.s.registered_slots[0];
	const taken = new Set((p.ring.slots_before ?? []).filter((x) => x.tid === slot.tid).map((x) => x.index));
	if (taken.has(slot.index)) p.fail(`registered-ring slot ${slot.index} of thread ${slot.tid} is taken by another ring`);
	const free = [...Array(slot.index).keys()].filter((i) => !taken.has(i));
	if (!free.length) return { before: [], after: [] };
	const tmp = p.v('k');
	const upd = slotUpdates(p, free);
	const [base, off] = upd.split('+');
	const before: Step[] = [
		{ op: 'sys', v: tmp.slice(1), nr: NR.io_uring_setup, args: [1, p.put(Buffer.alloc(PARAMS_SIZE))],
			what: 'create a temporary ring to fill the lower registered-ring slots' },
		...free.map((_, i): Step => ({ op: 'store', addr: `${base}+${Number(off) + 16 * i + 8}`, size: 8, value: tmp })),
		{ op: 'sys', v: `x${p.id}`, nr: NR.io_uring_register, args: [tmp, REGISTER.RING_FDS, upd, free.length],
			what: `fill registered-ring slots ${free.join(',')} so the ring lands in slot ${slot.index}` },
	];
	const after: Step[] = [
		/* the kernel wants data 0 in an unregistration */
		{ op: 'sys', v: `x${p.id}`, nr: NR.io_uring_register, args: [tmp, UNREGISTER.RING_FDS, slotUpdates(p, free), free.length],
			what: `empty registered-ring slots ${free.join(',')} again` },
		{ op: 'sys', v: `x${p.id}`, nr: NR.close, args: [tmp], what: 'close the temporary ring' },
	];
	return { before, after };
}

/** The index io_uring_setup returned must be the recorded slot. */
export function expectSlot(p: RingPlan): Step {
	const slot = p.s.registered_slots[0];
	return { op: 'expect', value: p.fd, equals: slot.index, what: `the ring is in registered-ring slot ${slot.index}` };
}

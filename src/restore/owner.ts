/*
 * The thread that owns a ring, and how that thread names it in a system
 * call.  Everything injected into a ring's owner (the restore plan, the
 * dump's completion and cancel steps) goes through here.
 */
import type { RingState } from '../capture/model';
import { SETUP } from '../uring/abi';

/** IORING_SETUP_REGISTERED_FD_ONLY: the ring has no fd, only its creator thread's registered-ring slot names it. */
export function isFdOnly(s: RingState): boolean {
	return (s.setup_flags & SETUP.REGISTERED_FD_ONLY) !== 0;
}

/** The thread that must own the ring: REGISTERED_FD_ONLY's creator, SINGLE_ISSUER's submitter, else the process. */
export function ownerTid(pid: number, s: RingState): number {
	/* only the thread whose table holds it can name a REGISTERED_FD_ONLY ring */
	if (isFdOnly(s) && s.registered_slots.length) return s.registered_slots[0].tid;
	return s.setup_flags & SETUP.SINGLE_ISSUER && s.submitter_tid ? s.submitter_tid : pid;
}

export interface OwnerHandle {
	tid: number;
	/** An fd of the ring, or its index in the owner's registered-ring table. */
	fd: number;
	/** fd is a registered-ring index (IORING_ENTER_REGISTERED_RING / IORING_REGISTER_USE_REGISTERED_RING). */
	registered: boolean;
}

/** The owner and how it names the ring; null when it holds neither an fd nor a registered slot. */
export function ownerHandle(pid: number, s: RingState): OwnerHandle | null {
	const tid = ownerTid(pid, s);
	if (s.fds.length) return { tid, fd: s.fds[0], registered: false };
	const slot = s.registered_slots.find((x) => x.tid === tid);
	return slot ? { tid, fd: slot.index, registered: true } : null;
}

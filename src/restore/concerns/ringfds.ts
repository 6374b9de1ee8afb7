/*
 * Registered ring fds (IORING_REGISTER_RING_FDS): the table lives in each
 * thread's io_uring task context, so each slot is registered from its
 * thread, at its recorded index.  The ring fd need not stay open: the
 * slot holds its own reference (the setup fd is closed at cleanup).
 *
 * Also the move of a ring onto recorded fd numbers, keeping each fd's
 * close-on-exec flag: CRIU restored it on the placeholder, and dup3
 * would replace it, so the movefd step (plugin-c/plan.c) reads it from
 * /proc and gives it to dup3: one system call in the task.
 */
import type { Expr, Step } from '../plan';
import { RingPlan } from '../ring-plan';
import { NR, REGISTER } from '../../uring/abi';

/** Steps moving `ring` onto each of `fds`, keeping the placeholder's FD_CLOEXEC. */
export function moveOntoFds(tag: string, ring: Expr, fds: number[]): Step[] {
	return fds.map((fd): Step => ({ op: 'movefd', v: `x${tag}`, ring, fd, what: `move the ring to fd ${fd}` }));
}

/* struct io_uring_rsrc_update { __u32 offset; __u32 resv; __u64 data; } */
export function registerSlots(p: RingPlan, ring: Expr, slots: { tid: number; index: number }[], tag: string): void {
	slots.forEach((s, k) => {
		const upd = `$u${tag}_${k}`;
		p.inTask(s.tid, [
			{ op: 'alloc', v: upd.slice(1), len: 16 },
			{ op: 'store', addr: upd, size: 4, value: s.index },
			{ op: 'store', addr: `${upd}+4`, size: 4, value: 0 },
			{ op: 'store', addr: `${upd}+8`, size: 8, value: ring },
			{ op: 'sys', v: `x${tag}`, nr: NR.io_uring_register, args: [ring, REGISTER.RING_FDS, upd, 1],
				what: `register the ring in slot ${s.index} of thread ${s.tid}` },
			{ op: 'free', v: upd.slice(1) },
		]);
	});
}

export function planRingFds(p: RingPlan): void {
	/* a REGISTERED_FD_ONLY ring's only slot is where io_uring_setup put it (concerns/fdonly.ts) */
	if (p.byIndex) return;
	registerSlots(p, p.fd, p.s.registered_slots, `${p.id}`);
}

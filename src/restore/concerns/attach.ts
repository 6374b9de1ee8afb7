/*
 * SQPOLL rings sharing one poller thread (IORING_SETUP_ATTACH_WQ): the
 * ring is set up (concerns/setup.ts) with wq_fd = the fd of the ring it
 * attaches to, which the process's plan creates first
 * (src/restore/planner.ts orders them).  The kernel shares the thread
 * only within one thread group.
 */
import type { RingPlan } from '../ring-plan';
import { SETUP } from '../../uring/abi';

export function planAttach(p: RingPlan): void {
	if (!(p.s.setup_flags & SETUP.ATTACH_WQ)) return;
	const target = p.ring.attach_index;
	if (target === undefined) {
		if (p.s.sqpoll && p.ring.attach_ring_id) p.fail(`ATTACH_WQ: ring ${p.ring.attach_ring_id} it shares a poller thread with is not in this process`);
		/* the ring attached to a thread it no longer shares (or no SQPOLL): a ring of its own */
		p.fail('ATTACH_WQ without a ring to attach to in the dump');
	}
	if (target >= p.id) p.fail(`ATTACH_WQ: ring ${p.ring.attach_ring_id} must be set up first`);
	if (p.ring.attach_fd === undefined) p.fail(`ATTACH_WQ: ring ${p.ring.attach_ring_id} it attaches to has no fd in the process`);
	p.wqFd = p.ring.attach_fd; /* before setup, which puts it in the params */
}

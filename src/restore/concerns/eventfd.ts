/*
 * The registered eventfd, bound to the process's restored eventfd.  It is
 * registered after the index advance: the advance's completions would
 * otherwise add to the counter CRIU restored (but see eventfdPhase()).
 */
import type { Phase, RingPlan } from '../ring-plan';
import { CQ, REGISTER } from '../../uring/abi';
import { ringsLayout } from '../../image/geometry';

/**
 * The phase of this ring's eventfd registration: 'late', after the index
 * advance.  On an enabled ring whose restrictions forbid registering an
 * eventfd once it is enabled, 'register' (before ENABLE) instead, with the
 * eventfd muted (IORING_CQ_EVENTFD_DISABLED) during the advance; the ring
 * bytes written back after it restore the dumped cq_flags.
 */
export function eventfdPhase(p: RingPlan, async: boolean): Phase {
	const x = p.s.restrictions;
	if (!x || p.s.disabled || x.register_ops.includes(async ? REGISTER.EVENTFD_ASYNC : REGISTER.EVENTFD)) return 'late';
	const flags = Buffer.alloc(4);
	const cqFlags = ringsLayout().cq_flags; /* struct io_rings, this kernel's layout */
	flags.writeUInt32LE(p.ring.rings.readUInt32LE(cqFlags) | CQ.EVENTFD_DISABLED);
	p.advance.before.push((adv) => [{ op: 'write', addr: `${adv.rings}+${cqFlags}`, data: flags }]);
	return 'register';
}

export function planEventfd(p: RingPlan): void {
	const ev = p.s.eventfd;
	if (!ev) return;
	if (ev.fds.length === 0) return; /* only the ring holds it: ringonly.ts registers a new one */
	const efd = Buffer.alloc(4);
	efd.writeInt32LE(ev.fds[0]);
	p.register(eventfdPhase(p, ev.async), ev.async ? REGISTER.EVENTFD_ASYNC : REGISTER.EVENTFD, p.put(efd), 1, 'register the eventfd');
}

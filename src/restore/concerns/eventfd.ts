/*
 * The registered eventfd, bound to the process's restored eventfd.  It is
 * registered after the index advance: the advance's completions would
 * otherwise add to the counter CRIU restored.
 */
import type { RingPlan } from '../ring-plan';
import { REGISTER } from '../../uring/abi';


export function planEventfd(p: RingPlan): void {
	const ev = p.s.eventfd;
	if (!ev) return;
	if (ev.fds.length === 0) return; /* only the ring holds it: ringonly.ts registers a new one */
	const efd = Buffer.alloc(4);
	efd.writeInt32LE(ev.fds[0]);
	p.register('late', ev.async ? REGISTER.EVENTFD_ASYNC : REGISTER.EVENTFD, p.put(efd), 1, 'register the eventfd');
}

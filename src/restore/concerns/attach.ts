/*
 * SQPOLL rings sharing one poller thread (IORING_SETUP_ATTACH_WQ): the
 * ring is set up with wq_fd = the new fd of the ring it attaches to,
 * which the process's plan creates first (src/plugin/restore.ts orders
 * them).  The kernel shares the thread only within one thread group.
 */
import type { RingPlan } from '../ring-plan';
import { SETUP } from '../../uring/abi';

const WQ_FD_OFFSET = 24; /* io_uring_params.wq_fd */

function plus(addr: string, n: number): string {
	const m = /^(\$[a-z_][a-z0-9_]*)(?:\+(\d+))?$/.exec(addr);
	if (!m) throw new Error(`bad address expression ${addr}`);
	return `${m[1]}+${Number(m[2] ?? 0) + n}`;
}

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
	/* before io_uring_setup, which reads the params */
	p.steps.get('setup')!.unshift({ op: 'store', addr: plus(p.params, WQ_FD_OFFSET), size: 4, value: p.ring.attach_fd });
}

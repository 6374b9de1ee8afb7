/*
 * Ring creation: io_uring_setup with the dumped flags plus R_DISABLED, so
 * every registration happens before the ring is live and, for
 * SINGLE_ISSUER, the owner becomes the thread that enables it.
 */
import { emptyParams, encodeParams } from '../../uring/params';
import { RingPlan } from '../ring-plan';
import { setUserRegions } from './nommap';
import { claimLowerSlots, expectSlot } from './fdonly';
import { NR, REGISTER, SETUP } from '../../uring/abi';


export function planSetup(p: RingPlan): void {
	const s = p.s;
	const params = emptyParams();
	/* without CQSIZE the kernel picks 2 * sq_entries, which is what the dump saw */
	params.flags = (s.setup_flags | SETUP.R_DISABLED) >>> 0;
	params.sq_entries = s.sq_entries;
	params.cq_entries = s.cq_entries;
	if (s.sqpoll) {
		if (s.sqpoll.cpu !== null) params.sq_thread_cpu = s.sqpoll.cpu;
		if (s.sqpoll.idle_ms !== null) params.sq_thread_idle = s.sqpoll.idle_ms;
	}
	/* ATTACH_WQ: concerns/attach.ts names the ring to share a poller thread with */
	if (p.wqFd !== undefined) params.wq_fd = p.wqFd;
	setUserRegions(p, params);
	const addr = p.put(encodeParams(params));
	p.params = addr;
	const slots = p.byIndex ? claimLowerSlots(p) : { before: [], after: [] };
	p.add('setup', ...slots.before, { op: 'sys', v: p.fd.slice(1), nr: NR.io_uring_setup, args: [s.sq_entries, addr],
		what: `io_uring_setup(${s.sq_entries}, flags ${s.flags.join('|') || 0})` });
	if (p.byIndex) p.add('setup', expectSlot(p), ...slots.after);
	if (!s.disabled) p.register('enable', REGISTER.ENABLE_RINGS, 0, 0, 'enable the ring from its owner');
}

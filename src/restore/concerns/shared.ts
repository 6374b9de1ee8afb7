/*
 * A ring several processes hold (fork): rebuilt once in this process (the
 * one whose image carries its state), then installed in every other
 * holder from inside that holder: pidfd_open(owner) and pidfd_getfd of
 * the owner's setup fd, moved onto the holder's own fd numbers, its
 * mappings placed at their addresses, its registered-ring slots filled
 * from its threads.
 */
import type { Step } from '../plan';
import { RingPlan } from '../ring-plan';
import { placeRegions } from './mappings';
import { moveOntoFds, registerSlots } from './ringfds';
import { NR } from '../../uring/abi';


export function planShared(p: RingPlan): void {
	for (const h of p.ring.holders ?? []) {
		const tag = `${p.id}_${h.pid}`;
		const pidfd = `$pf${tag}`;
		const fd = `$g${tag}`;
		const steps: Step[] = [
			{ op: 'sys', v: pidfd.slice(1), nr: NR.pidfd_open, args: [p.pid, 0], what: `pidfd_open(${p.pid}) in ${h.pid}` },
			{ op: 'sys', v: fd.slice(1), nr: NR.pidfd_getfd, args: [pidfd, p.fd, 0], what: `pidfd_getfd of the ring from ${p.pid} into ${h.pid}` },
			...moveOntoFds(`${tag}`, fd, h.fds),
		];
		placeRegions({ ...p.s, mappings: h.mappings }).forEach((g, i) => {
			steps.push({ op: 'place', v: `m${tag}_${i}`, fd, addr: g.base, len: g.len, prot: g.prot, flags: g.flags,
				pgoff: g.pgoff, parts: g.parts, what: `map ${g.kind} at 0x${g.base.toString(16)} in ${h.pid}` });
		});
		p.inTask(h.pid, steps);
		registerSlots(p, fd, h.registered_slots, tag);
		p.inTask(h.pid, [
			{ op: 'sys', v: `x${tag}`, nr: NR.close, args: [fd], what: `close the fetched ring fd in ${h.pid}` },
			{ op: 'sys', v: `x${tag}`, nr: NR.close, args: [pidfd], what: `close the pidfd in ${h.pid}` },
		]);
	}
}

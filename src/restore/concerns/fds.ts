/*
 * The ring onto its original fd numbers, replacing the placeholders CRIU
 * installed there (keeping the fd flags CRIU gave them), then the setup
 * fd closed.
 */
import { RingPlan } from '../ring-plan';
import { moveOntoFds } from './ringfds';
import { NR } from '../../uring/abi';

export function planFds(p: RingPlan): void {
	p.add('fds', ...moveOntoFds(`${p.id}`, p.fd, p.s.fds));
	/* a REGISTERED_FD_ONLY ring has no setup fd: $r is its registered-ring slot */
	if (!p.byIndex) p.sys('cleanup', NR.close, [p.fd], 'close the setup fd');
}

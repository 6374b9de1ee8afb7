/*
 * The ring onto its original fd numbers, replacing the placeholders CRIU
 * installed there, then the setup fd closed.
 */
import { NR, RingPlan } from '../ring-plan';

const O_CLOEXEC = 0o2000000;

export function planFds(p: RingPlan): void {
	for (const fd of p.s.fds) {
		const flags = p.ring.cloexec.get(fd) ? O_CLOEXEC : 0;
		p.sys('fds', NR.dup3, [p.fd, fd, flags], `move the ring to fd ${fd}`);
	}
	p.sys('cleanup', NR.close, [p.fd], 'close the setup fd');
}

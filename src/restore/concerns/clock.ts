/*
 * The ring's clock for wait timeouts (IORING_REGISTER_CLOCK).  Rings start
 * on CLOCK_MONOTONIC, so only another clock is registered; the kernel
 * derives its clock_offset from the clock id.
 */
import type { RingPlan } from '../ring-plan';
import { REGISTER } from '../../uring/abi';

export const CLOCK_MONOTONIC = 1;
export const CLOCK_BOOTTIME = 7;

export function planClock(p: RingPlan): void {
	const c = p.s.clock;
	if (!c || c.clockid === CLOCK_MONOTONIC) return;
	if (c.clockid !== CLOCK_BOOTTIME) p.fail(`registered clock ${c.clockid} is neither CLOCK_MONOTONIC nor CLOCK_BOOTTIME`);
	const arg = Buffer.alloc(16); /* struct io_uring_clock_register: clockid, resv[3] */
	arg.writeUInt32LE(c.clockid, 0);
	p.register('register', REGISTER.CLOCK, p.put(arg), 0, 'register CLOCK_BOOTTIME');
}

/*
 * NAPI busy-poll settings (IORING_REGISTER_NAPI, opcode REGISTER_OP): the
 * busy-poll time, prefer-busy-poll and the tracking mode come back.  The
 * NAPI ids of static tracking are not captured, so a static ring is
 * restored with an empty id list (docs/limitations.md).
 */
import type { RingPlan } from '../ring-plan';
import { NAPI_REGISTER_OP, REGISTER } from '../../uring/abi';

const TRACKING: Record<'dynamic' | 'static', number> = { dynamic: 0, static: 1 };

export function planNapi(p: RingPlan): void {
	const n = p.s.napi;
	if (!n || n.mode === 'off') return;
	const dt = BigInt(n.busy_poll_dt);
	/* registration takes microseconds; the kernel keeps nanoseconds */
	if (dt % 1000n !== 0n || dt / 1000n > 0xffffffffn) p.fail(`NAPI busy-poll time ${dt} ns is not a whole number of microseconds`);
	const arg = Buffer.alloc(16); /* struct io_uring_napi */
	arg.writeUInt32LE(Number(dt / 1000n), 0);
	arg.writeUInt8(n.prefer_busy_poll ? 1 : 0, 4);
	arg.writeUInt8(NAPI_REGISTER_OP, 5);
	arg.writeUInt32LE(TRACKING[n.mode], 8);
	p.register('register', REGISTER.NAPI, p.put(arg), 1, `NAPI ${n.mode} tracking, ${dt / 1000n} us busy poll`);
}

/*
 * Registered buffers: the same iovecs at the same indices.  CRIU restored
 * the memory behind them, so registering pins the same contents again.
 */
import type { RingPlan } from '../ring-plan';
import { isSparse } from './ringonly';

export const REGISTER_BUFFERS = 0;

export function planBuffers(p: RingPlan): void {
	const b = p.s.registered_buffers;
	if (b.entries.length === 0) return;
	if (isSparse(b)) return; /* ringonly.ts registers sparse tables */
	const iov = Buffer.alloc(16 * b.size);
	for (const e of b.entries) {
		if (!e.mapped) p.fail(`registered buffer ${e.index} is no longer mapped; not supported yet`);
		iov.writeBigUInt64LE(BigInt(e.addr), 16 * e.index);
		iov.writeBigUInt64LE(BigInt(e.len), 16 * e.index + 8);
	}
	p.register('register', REGISTER_BUFFERS, p.put(iov), b.size, `register ${b.size} buffers`);
}

/*
 * Registered buffers: the same iovecs at the same indices.  CRIU restored
 * the memory behind them, so registering pins the same contents again.
 * Buffers the process had unmapped are registered on their saved contents,
 * mapped just for the registration (pinned.ts).
 */
import type { RingPlan } from '../ring-plan';
import { mapPinned, unmapPinned } from './pinned';
import { isSparse } from './ringonly';
import { registerTagged, tagOf } from './tags';
import { REGISTER } from '../../uring/abi';


export function planBuffers(p: RingPlan): void {
	const b = p.s.registered_buffers;
	if (b.entries.length === 0) return;
	if (isSparse(b)) return; /* ringonly.ts registers sparse tables */
	const iov = Buffer.alloc(16 * b.size);
	for (const e of b.entries) {
		iov.writeBigUInt64LE(BigInt(e.addr), 16 * e.index);
		iov.writeBigUInt64LE(BigInt(e.len), 16 * e.index + 8);
	}
	const tags = new Array<bigint>(b.size).fill(0n);
	for (const e of b.entries) tags[e.index] = tagOf(e);
	mapPinned(p);
	if (tags.some((t) => t !== 0n))
		registerTagged(p, REGISTER.BUFFERS2, b.size, iov, tags, `register ${b.size} buffers with their tags`);
	else
		p.register('register', REGISTER.BUFFERS, p.put(iov), b.size, `register ${b.size} buffers`);
	unmapPinned(p);
}

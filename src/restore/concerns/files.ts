/*
 * Registered files: a table of the same size with each file at its index
 * (-1 leaves a slot empty), then the allocation range.
 */
import type { RingPlan } from '../ring-plan';
import { registerTagged, tagOf } from './tags';
import { REGISTER } from '../../uring/abi';


export function planFiles(p: RingPlan): void {
	const f = p.s.registered_files;
	if (f.size === 0) return;
	const table = Buffer.alloc(4 * f.size, 0xff);
	const tags: bigint[] = new Array<bigint>(f.size).fill(0n);
	for (const e of f.entries) {
		if (e.fds.length === 0) continue; /* only the ring holds it: reopened by ringonly.ts, with its tag */
		table.writeInt32LE(e.fds[0], 4 * e.index);
		tags[e.index] = tagOf(e);
	}
	if (tags.some((t) => t !== 0n))
		registerTagged(p, REGISTER.FILES2, f.size, table, tags, `register ${f.size} files with their tags`);
	else
		p.register('register', REGISTER.FILES, p.put(table), f.size, `register ${f.size} files`);
	if (f.alloc_range) {
		const range = Buffer.alloc(16);
		range.writeUInt32LE(f.alloc_range[0], 0);
		range.writeUInt32LE(f.alloc_range[1] - f.alloc_range[0], 4);
		p.register('register', REGISTER.FILE_ALLOC_RANGE, p.put(range), 0, 'set the file allocation range');
	}
}

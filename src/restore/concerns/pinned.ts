/*
 * Registered buffers whose memory the process had unmapped: the ring held
 * pinned pages nothing else could reach, and the dump saved their contents
 * (src/plugin/pinned.ts).  Their range is free in the restored process
 * (it was unmapped), so the plan maps it anonymously at the exact address,
 * writes the saved bytes, registers the buffer there (buffers.ts, or
 * ringonly.ts for sparse tables) and unmaps the range again: the ring's
 * pin keeps the pages and their contents, as before the dump.  Buffers
 * sharing pages are mapped once, so they share pages again.
 */
import type { RingPlan } from '../ring-plan';
import { NR } from '../../uring/abi';

const PAGE = 4096n;
const PROT_RW = 3;
const MAP_PRIVATE_ANON_NOREPLACE = 0x02 | 0x20 | 0x100000;
/* bytes per write step (one plan line carries them in hex) */
const WRITE_CHUNK = 1 << 20;

interface Range { start: bigint; end: bigint }

/* The page ranges the unmapped buffers cover, overlapping ones merged. */
function pinnedRanges(p: RingPlan): Range[] {
	const ranges = p.s.registered_buffers.entries.filter((e) => !e.mapped && e.len > 0)
		.map((e) => {
			const addr = BigInt(e.addr);
			return { start: addr - (addr % PAGE), end: ((addr + BigInt(e.len) + PAGE - 1n) / PAGE) * PAGE };
		})
		.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
	const merged: Range[] = [];
	for (const r of ranges) {
		const last = merged[merged.length - 1];
		if (last && r.start <= last.end) last.end = r.end > last.end ? r.end : last.end;
		else merged.push({ ...r });
	}
	return merged;
}

/** Map the unmapped buffers' ranges and write their saved contents, before they are registered. */
export function mapPinned(p: RingPlan): void {
	for (const r of pinnedRanges(p))
		p.sys('register', NR.mmap, [r.start, Number(r.end - r.start), PROT_RW, MAP_PRIVATE_ANON_NOREPLACE, -1, 0],
			`map the range 0x${r.start.toString(16)}-0x${r.end.toString(16)} of registered buffers the process had unmapped`);
	for (const e of p.s.registered_buffers.entries) {
		if (e.mapped) continue;
		const data = p.ring.buffers?.get(e.index);
		if (!data || data.length !== e.len) p.fail(`registered buffer ${e.index}: the image lacks its pinned contents`);
		for (let off = 0; off < data.length; off += WRITE_CHUNK)
			p.add('register', { op: 'write', addr: BigInt(e.addr) + BigInt(off), data: data.subarray(off, off + WRITE_CHUNK) });
	}
}

/** Unmap those ranges again once registered: the ring's pin keeps the pages. */
export function unmapPinned(p: RingPlan): void {
	for (const r of pinnedRanges(p))
		p.sys('register', NR.munmap, [r.start, Number(r.end - r.start)],
			`unmap the range 0x${r.start.toString(16)}-0x${r.end.toString(16)} again, as the process had`);
}

/*
 * The application's own mappings of the ring, at their exact addresses.
 * io_uring accepts no address, so the engine leaves the kernel no other
 * choice (plugin-c/place.c).  A VMA split by mprotect or partly unmapped
 * becomes one mapping of its region from the region's base, trimmed back
 * to the recorded parts.
 */
import type { RingState } from '../../capture/model';
import type { RingPlan } from '../ring-plan';
import { OFF } from '../../uring/abi';

const PROT_READ = 1;
const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;

/* mmap offsets: low bits below the region selector are ignored by the kernel */
const PBUF_MASK = 0xffff0000n;

function protOf(p: string): number {
	return (p[0] === 'r' ? PROT_READ : 0) | (p[1] === 'w' ? PROT_WRITE : 0);
}

export interface PlaceGroup {
	kind: string;
	base: bigint; /* address where the region's first page sits (or would) */
	len: number;
	prot: number;
	flags: number;
	pgoff: bigint; /* the region selector */
	parts?: { start: bigint; end: bigint; prot: number }[];
}

export function placeRegions(s: RingState): PlaceGroup[] {
	const groups = new Map<string, PlaceGroup>();
	for (const m of s.mappings) {
		const start = BigInt(m.start);
		const end = BigInt(m.end);
		const off = BigInt(m.offset);
		const selector = off & (m.kind === 'pbuf_ring' ? PBUF_MASK : OFF.MMAP_MASK);
		const base = start - (off - selector);
		const flags = m.prot[3] === 's' ? MAP_SHARED : MAP_PRIVATE;
		const key = `${base}:${selector}:${flags}`;
		const part = { start, end, prot: protOf(m.prot) };
		const g = groups.get(key);
		if (!g) {
			groups.set(key, { kind: m.kind, base, len: Number(end - base), prot: part.prot, flags, pgoff: selector, parts: [part] });
			continue;
		}
		g.len = Math.max(g.len, Number(end - base));
		g.prot |= part.prot;
		g.parts!.push(part);
	}
	for (const g of groups.values()) {
		const whole = g.parts!.length === 1 && g.parts![0].start === g.base && g.parts![0].prot === g.prot;
		if (whole) delete g.parts;
	}
	return [...groups.values()];
}

/*
 * The kernel maps the SQE region only whole (a shorter mmap fails with
 * EFAULT on 6.18; the ring region takes a page limit): a partly unmapped
 * SQE mapping is mapped whole and trimmed back to its recorded parts.
 */
function wholeSqeRegion(g: PlaceGroup, size: number): PlaceGroup {
	if (g.kind !== 'sqes' || g.len >= size) return g;
	const parts = g.parts ?? [{ start: g.base, end: g.base + BigInt(g.len), prot: g.prot }];
	return { ...g, len: size, parts };
}

export function planMappings(p: RingPlan): void {
	placeRegions(p.s).map((g) => wholeSqeRegion(g, p.ring.sqes.length)).forEach((g, i) => {
		p.add('map', { op: 'place', v: `m${p.id}_${i}`, fd: p.fd, addr: g.base, len: g.len, prot: g.prot, flags: g.flags,
			pgoff: g.pgoff, parts: g.parts, what: `map ${g.kind} at 0x${g.base.toString(16)}` });
	});
}

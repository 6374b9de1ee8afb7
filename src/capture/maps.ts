/*
 * /proc/PID/maps parsing: which mappings belong to io_uring instances, and
 * which address ranges are mapped at all.  Reading maps never perturbs the
 * target.
 */
import { readFileSync } from 'node:fs';
import type { Mapping, MappingKind } from './model';

export interface MapsLine {
	start: bigint;
	end: bigint;
	prot: string;
	offset: bigint;
	inode: number;
	path: string;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/;

export function parseMaps(text: string): MapsLine[] {
	const out: MapsLine[] = [];
	for (const line of text.split('\n')) {
		const m = LINE.exec(line);
		if (!m) continue;
		out.push({
			start: BigInt('0x' + m[1]),
			end: BigInt('0x' + m[2]),
			prot: m[3],
			offset: BigInt('0x' + m[4]),
			inode: Number(m[5]),
			path: m[6],
		});
	}
	return out;
}

export function readMaps(pid: number): MapsLine[] {
	return parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

export const IO_URING_PATH = 'anon_inode:[io_uring]';

/* mmap offsets of io_uring regions (IORING_OFF_*), see include/linux/io_uring.h */
const OFF_SQ_RING = 0n;
const OFF_CQ_RING = 0x8000000n;
const OFF_SQES = 0x10000000n;
const OFF_PARAM_REGION = 0x20000000n;
const OFF_ZCRX = 0x30000000n;
const OFF_PBUF_RING = 0x80000000n;
const OFF_MMAP_MASK = 0xf8000000n;
const PBUF_SHIFT = 16n;

/** Classify one io_uring mapping by its mmap offset. */
export function mappingKind(offset: bigint): { kind: MappingKind; bgid?: number } {
	const base = offset & OFF_MMAP_MASK;
	if (base === OFF_SQ_RING || base === OFF_CQ_RING) return { kind: 'rings' };
	if (base === OFF_SQES) return { kind: 'sqes' };
	if (base === OFF_PARAM_REGION) return { kind: 'param_region' };
	if (base === OFF_ZCRX) return { kind: 'zcrx' };
	if ((offset & OFF_PBUF_RING) === OFF_PBUF_RING)
		return { kind: 'pbuf_ring', bgid: Number((offset & 0x7fffffffn) >> PBUF_SHIFT) };
	return { kind: 'unknown' };
}

const hex = (v: bigint): string => '0x' + v.toString(16);

/** io_uring mappings of a process, grouped by ring inode. */
export function ringMappings(lines: MapsLine[]): Map<number, Mapping[]> {
	const byInode = new Map<number, Mapping[]>();
	for (const l of lines) {
		if (l.path !== IO_URING_PATH) continue;
		const { kind, bgid } = mappingKind(l.offset);
		const m: Mapping = { start: hex(l.start), end: hex(l.end), offset: hex(l.offset), kind, prot: l.prot };
		if (bgid !== undefined) m.bgid = bgid;
		const list = byInode.get(l.inode) ?? [];
		list.push(m);
		byInode.set(l.inode, list);
	}
	return byInode;
}

/** Whether [addr, addr+len) is entirely covered by mappings. */
export function rangeMapped(lines: MapsLine[], addr: bigint, len: bigint): boolean {
	let cur = addr;
	const end = addr + len;
	for (const l of lines) {
		if (l.end <= cur) continue;
		if (l.start > cur) return false;
		cur = l.end;
		if (cur >= end) return true;
	}
	return cur >= end;
}

/*
 * /proc/PID/maps parsing: which mappings belong to io_uring instances, and
 * which address ranges are mapped at all.  Reading maps never perturbs the
 * target.
 */
import { readFileSync } from 'node:fs';
import type { Mapping, MappingKind } from './model';
import { OFF } from '../uring/abi';

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


/** Classify one io_uring mapping by its mmap offset. */
export function mappingKind(offset: bigint): { kind: MappingKind; bgid?: number } {
	const base = offset & OFF.MMAP_MASK;
	if (base === OFF.SQ_RING || base === OFF.CQ_RING) return { kind: 'rings' };
	if (base === OFF.SQES) return { kind: 'sqes' };
	if (base === OFF.PARAM_REGION) return { kind: 'param_region' };
	if (base === OFF.ZCRX_REGION) return { kind: 'zcrx' };
	if ((offset & OFF.PBUF_RING) === OFF.PBUF_RING)
		return { kind: 'pbuf_ring', bgid: Number((offset & 0x7fffffffn) >> OFF.PBUF_SHIFT) };
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

/*
 * Resource tags.  A tagged registered file or buffer posts a CQE with its
 * tag as user_data when it is removed or replaced: applications wait for
 * that CQE before they close the file or reuse the memory, so the restore
 * registers tagged tables with their tags (FILES2 / BUFFERS2) and puts
 * tagged resources into sparse tables with the *_UPDATE2 form that carries
 * the tag.  Untagged tables keep the plain registrations.
 */
import type { RingPlan } from '../ring-plan';


/** The tag of a captured resource as a 64-bit number (0: none). */
export function tagOf(e: { tag?: string }): bigint {
	return e.tag === undefined ? 0n : BigInt(e.tag);
}

/** Address of the 8-byte field at @offset of the struct placed at @addr. */
function field(addr: string, offset: number): string {
	const [base, off] = addr.split('+');
	return `${base}+${Number(off) + offset}`;
}

/**
 * IORING_REGISTER_FILES2 / BUFFERS2 of a whole table (@data: the fds or
 * iovecs) with one tag per slot.
 * struct io_uring_rsrc_register { __u32 nr; __u32 flags; __u64 resv2; __u64 data; __u64 tags; }
 */
export function registerTagged(p: RingPlan, op: number, nr: number, data: Buffer, tags: bigint[], what: string): void {
	const reg = Buffer.alloc(32);
	reg.writeUInt32LE(nr, 0);
	const regAddr = p.put(reg);
	p.add('register',
		{ op: 'store', addr: field(regAddr, 16), size: 8, value: p.put(data) },
		{ op: 'store', addr: field(regAddr, 24), size: 8, value: p.put(u64s(tags)) });
	p.register('register', op, regAddr, 32, what);
}

/**
 * One slot through IORING_REGISTER_FILES_UPDATE2 / BUFFERS_UPDATE, with its
 * tag; @data is the address expression of the fd or iovec.
 * struct io_uring_rsrc_update2 { __u32 offset; __u32 resv; __u64 data; __u64 tags; __u32 nr; __u32 resv2; }
 */
export function updateTagged(p: RingPlan, op: number, index: number, data: string, tag: bigint, what: string): void {
	const upd = Buffer.alloc(32);
	upd.writeUInt32LE(index, 0);
	upd.writeUInt32LE(1, 24);
	const updAddr = p.put(upd);
	p.add('register', { op: 'store', addr: field(updAddr, 8), size: 8, value: data });
	if (tag !== 0n) p.add('register', { op: 'store', addr: field(updAddr, 16), size: 8, value: p.put(u64s([tag])) });
	p.register('register', op, updAddr, 32, what);
}

function u64s(values: bigint[]): Buffer {
	const b = Buffer.alloc(8 * values.length);
	values.forEach((v, i) => b.writeBigUInt64LE(v, 8 * i));
	return b;
}

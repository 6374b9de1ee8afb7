/*
 * Memory regions (IORING_REGISTER_MEM_REGION): one per ring, registered
 * once, and with IORING_MEM_REGION_REG_WAIT_ARG only while the ring is
 * disabled; the kernel then reads io_uring_reg_wait entries from it for
 * io_uring_enter(IORING_ENTER_EXT_ARG_REG), indexed by byte offset from the
 * region's start.
 *
 * The plan registers it again in the 'disabled' phase (the restored ring is
 * always created disabled):
 *   - the application's memory (IORING_MEM_REGION_TYPE_USER): CRIU put the
 *     memory back at the same address, so registering that address pins
 *     the same bytes again;
 *   - kernel pages: the kernel allocates new ones; the mappings concern
 *     places the application's mapping of them (mmap offset
 *     IORING_OFF_PARAM_REGION) at its address, and the bytes read at dump
 *     are written through a temporary mapping of our own.
 */
import type { MemRegion, RingState } from '../../capture/model';
import type { RingPlan } from '../ring-plan';
import { MEM_REGION, NR, OFF, REGISTER } from '../../uring/abi';

const DESC_SIZE = 64; /* struct io_uring_region_desc */
const REG_SIZE = 32; /* struct io_uring_mem_region_reg */
const PAGE_SIZE = 4096;
const PROT_RW = 3;
const MAP_SHARED = 1;

function paramRegion(s: RingState): MemRegion | undefined {
	return s.mem_regions.find((m) => m.kind === 'param_region');
}

/** Why this ring's memory regions cannot be restored (empty: they can). */
export function regionRefusals(s: RingState): string[] {
	const why: string[] = [];
	if (s.mappings.some((m) => m.kind === 'zcrx')) why.push('zero-copy receive (zcrx) areas');
	const region = paramRegion(s);
	const wait = s.mem_regions.find((m) => m.kind === 'wait_arg');
	if (!region) {
		if (wait) why.push('a wait-argument region without its memory region');
		else if (s.mappings.some((m) => m.kind === 'param_region')) why.push('a mapping of a memory region the ring does not have');
		return why;
	}
	if (region.user === undefined) why.push('a memory region of unknown origin (user or kernel memory)');
	else if (region.user && region.addr === null) why.push('a memory region in the application\'s memory at an unknown address');
	if (region.size <= 0 || region.size % PAGE_SIZE) why.push(`a memory region of ${region.size} bytes`);
	if (wait && (wait.addr !== region.addr || wait.size !== region.size))
		why.push('a wait-argument region that is not the whole memory region');
	return why;
}

function describe(r: MemRegion, wait: boolean): string {
	const where = r.user ? `user memory at 0x${BigInt(r.addr ?? 0).toString(16)}` : 'kernel memory';
	return `${wait ? 'wait-argument ' : ''}memory region of ${r.size} bytes in ${where}`;
}

export function planRegions(p: RingPlan): void {
	/* first: a wait-argument region without its memory region must fail the restore, not vanish from it */
	const why = regionRefusals(p.s);
	if (why.length) p.fail(why[0]);
	const region = paramRegion(p.s);
	if (!region) return;
	const wait = p.s.mem_regions.some((m) => m.kind === 'wait_arg');
	const desc = Buffer.alloc(DESC_SIZE);
	desc.writeBigUInt64LE(region.user ? BigInt(region.addr!) : 0n, 0);
	desc.writeBigUInt64LE(BigInt(region.size), 8);
	desc.writeUInt32LE(region.user ? MEM_REGION.TYPE_USER : 0, 16);
	const reg = Buffer.alloc(REG_SIZE);
	reg.writeBigUInt64LE(wait ? BigInt(MEM_REGION.REG_WAIT_ARG) : 0n, 8);
	const descAt = p.put(desc);
	const regAt = p.put(reg);
	p.add('disabled', { op: 'store', addr: regAt, size: 8, value: descAt });
	p.register('disabled', REGISTER.MEM_REGION, regAt, 1, `register the ${describe(region, wait)}`);
	if (!region.user) writeKernelRegion(p, region);
}

/* New kernel pages: put the dumped bytes in through a mapping of our own. */
function writeKernelRegion(p: RingPlan, region: MemRegion): void {
	const idx = p.s.mem_regions.indexOf(region);
	const bytes = p.ring.regions?.[idx];
	if (!bytes || bytes.length !== region.size) p.fail('the dump lacks the contents of its kernel-allocated memory region');
	const at = p.v('rg');
	p.add('disabled', { op: 'sys', v: at.slice(1), nr: NR.mmap, args: [0, region.size, PROT_RW, MAP_SHARED, p.fd, OFF.PARAM_REGION],
		what: 'map the memory region for writing' });
	p.add('disabled', { op: 'write', addr: at, data: bytes });
	p.sys('disabled', NR.munmap, [at, region.size], 'unmap the memory region scratch mapping');
}

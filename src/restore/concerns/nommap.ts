/*
 * NO_MMAP rings live in the application's own memory, which CRIU has
 * restored like any other anonymous memory by the time the plan runs.
 * The ring is created on the same addresses (sq_off.user_addr for the
 * SQEs, cq_off.user_addr for the ring region; the kernel pins those
 * pages), has no mappings to place, and the index advance and the byte
 * write-back work directly on that memory instead of scratch mappings.
 */
import type { Params } from '../../uring/params';
import type { RingPlan } from '../ring-plan';
import { SETUP } from '../../uring/abi';

export interface UserRegions { rings: bigint; sqes: bigint }

const PAGE_MASK = 4095n;

/** The user memory of a NO_MMAP ring; null for rings the kernel allocates. */
export function userRegions(p: RingPlan): UserRegions | null {
	if (!(p.s.setup_flags & SETUP.NO_MMAP)) return null;
	const u = p.s.user_memory;
	if (!u) p.fail('NO_MMAP ring without the addresses of its memory in the image');
	const r = { rings: BigInt(u.rings), sqes: BigInt(u.sqes) };
	/* io_uring_setup pins whole pages from these addresses */
	if (r.rings & PAGE_MASK || r.sqes & PAGE_MASK) p.fail(`NO_MMAP ring memory not page aligned (0x${r.rings.toString(16)}, 0x${r.sqes.toString(16)})`);
	return r;
}

/** io_uring_setup arguments: the same user memory as before. */
export function setUserRegions(p: RingPlan, params: Params): void {
	const u = userRegions(p);
	if (!u) return;
	params.sq_off.user_addr = u.sqes;
	params.cq_off.user_addr = u.rings;
}

/*
 * The restored memory still holds the dumped indices; the kernel starts
 * from zero and the advance needs an empty ring at the start, so the four
 * shared head/tail words (io_rings offsets 0-15) are cleared first.  The
 * dumped bytes, written back after the advance, bring them back.
 */
export function clearUserIndices(p: RingPlan, u: UserRegions): void {
	p.add('memory', { op: 'write', addr: u.rings, data: Buffer.alloc(16) });
}

/*
 * Indices and ring bytes.  The kernel's cached SQ head and CQ tail have no
 * setter: the engine advances them to the exact u32 values by consuming
 * SQEs and posting CQEs inside the owner thread (plugin-c/advance.c).
 * Then the dumped ring and SQE regions are written back whole: the layout
 * is fixed by the flags and sizes, so this restores the SQ array, pending
 * SQEs, unconsumed CQEs, counters and flags exactly, in one step.
 */
import { MAP_SHARED } from './mappings';
import { NR, RingPlan } from '../ring-plan';
import { clearUserIndices, userRegions, type UserRegions } from './nommap';

const PROT_RW = 3;
const OFF_SQES = 0x10000000n;

export function planMemory(p: RingPlan): void {
	const user = userRegions(p);
	if (user) return planUserMemory(p, user);
	const { state: s, rings, sqes } = p.ring;
	const tr = p.v('tr');
	const ts = p.v('ts');
	p.add('memory',
		{ op: 'sys', v: tr.slice(1), nr: NR.mmap, args: [0, rings.length, PROT_RW, MAP_SHARED, p.fd, 0], what: 'map the ring region for writing' },
		{ op: 'sys', v: ts.slice(1), nr: NR.mmap, args: [0, sqes.length, PROT_RW, MAP_SHARED, p.fd, OFF_SQES], what: 'map the SQE region for writing' });
	if (!s.disabled) {
		if (s.sq.cached_head === null || s.cq.cached_tail === null) p.fail('the dump lacks the kernel\'s cached indices');
		p.add('memory', { op: 'advance', fd: p.fd, sq: s.sq.cached_head, cq: s.cq.cached_tail, rings: tr, sqes: ts,
			params: p.params, what: 'advance the kernel indices' });
	}
	p.add('memory', { op: 'write', addr: tr, data: rings }, { op: 'write', addr: ts, data: sqes });
	p.sys('memory', NR.munmap, [tr, rings.length], 'unmap the ring region scratch mapping');
	p.sys('memory', NR.munmap, [ts, sqes.length], 'unmap the SQE region scratch mapping');
}

/* NO_MMAP: the same steps on the application's memory, which needs no scratch mapping. */
function planUserMemory(p: RingPlan, u: UserRegions): void {
	const { state: s, rings, sqes } = p.ring;
	clearUserIndices(p, u);
	if (!s.disabled) {
		if (s.sq.cached_head === null || s.cq.cached_tail === null) p.fail('the dump lacks the kernel\'s cached indices');
		p.add('memory', { op: 'advance', fd: p.fd, sq: s.sq.cached_head, cq: s.cq.cached_tail, rings: u.rings, sqes: u.sqes,
			params: p.params, registered: p.byIndex, what: 'advance the kernel indices in the ring\'s user memory' });
	}
	p.add('memory', { op: 'write', addr: u.rings, data: rings }, { op: 'write', addr: u.sqes, data: sqes });
}

/*
 * Indices and ring bytes.  The kernel's cached SQ head and CQ tail have no
 * setter: the engine advances them to the exact u32 values by consuming
 * SQEs and posting CQEs inside the owner thread (plugin-c/advance.c).
 * Then the dumped ring and SQE regions are written back whole: the layout
 * is fixed by the flags and sizes, so this restores the SQ array, pending
 * SQEs, unconsumed CQEs, counters and flags exactly, in one step.
 */
import { MAP_SHARED } from './mappings';
import type { AdvanceStep, Expr, Step } from '../plan';
import { RingPlan } from '../ring-plan';
import { clearUserIndices, userRegions, type UserRegions } from './nommap';
import { ENTER, NR, OFF } from '../../uring/abi';
import { ringsLayout } from '../../image/geometry';

const PROT_RW = 3;

export function planMemory(p: RingPlan): void {
	const user = userRegions(p);
	if (user) return planUserMemory(p, user);
	const { rings, sqes } = p.ring;
	/*
	 * The application's own mappings, just placed, when they show both
	 * regions whole, shared and writable: the advance and the write-back
	 * go through them, saving four system calls a ring.
	 */
	const appRings = placedView(p, OFF.SQ_RING, rings.length);
	const appSqes = placedView(p, OFF.SQES, sqes.length);
	if (appRings && appSqes) {
		advance(p, { op: 'advance', fd: p.fd, sq: 0, cq: 0, rings: appRings, sqes: appSqes, params: p.params, what: 'advance the kernel indices' });
		writeBack(p, appRings, appSqes);
		return;
	}
	const tr = p.v('tr');
	const ts = p.v('ts');
	p.add('memory',
		{ op: 'sys', v: tr.slice(1), nr: NR.mmap, args: [0, rings.length, PROT_RW, MAP_SHARED, p.fd, 0], what: 'map the ring region for writing' },
		{ op: 'sys', v: ts.slice(1), nr: NR.mmap, args: [0, sqes.length, PROT_RW, MAP_SHARED, p.fd, OFF.SQES], what: 'map the SQE region for writing' });
	advance(p, { op: 'advance', fd: p.fd, sq: 0, cq: 0, rings: tr, sqes: ts, params: p.params, what: 'advance the kernel indices' });
	/* an SQPOLL ring's tail is written through the mapping when it is released */
	const phase = writeBack(p, tr, ts) ? 'release' : 'memory';
	const unmap = (addr: string, len: number, what: string): Step => ({ op: 'sys', v: p.v('x').slice(1), nr: NR.munmap, args: [addr, len], what });
	const steps = [unmap(tr, rings.length, 'unmap the ring region scratch mapping'), unmap(ts, sqes.length, 'unmap the SQE region scratch mapping')];
	if (phase === 'release') p.release.push(...steps);
	else p.add('memory', ...steps);
}

/*
 * The variable of a place step (concerns/mappings.ts) that maps the
 * region at @pgoff whole from its base, shared and read-write, over at
 * least @len bytes; nothing unmaps it before the task runs again.
 */
function placedView(p: RingPlan, pgoff: bigint, len: number): string | undefined {
	for (const s of p.steps.get('map')!) {
		if (s.op === 'place' && s.pgoff === pgoff && s.flags === MAP_SHARED && s.prot === PROT_RW && !s.parts?.length && s.len >= len)
			return `$${s.v}`;
	}
	return undefined;
}

/*
 * The advance to the dumped cached indices, short by what the steps other
 * concerns declared right after it submit and post (p.advance), with
 * their steps around it.  A disabled ring is not advanced: nothing may
 * need it then.
 */
function advance(p: RingPlan, adv: AdvanceStep): void {
	const s = p.s;
	const need = p.advance;
	if (s.disabled) {
		if (need.sq || need.cq || need.before.length || need.after.length) p.fail('state that needs the index advance on a disabled ring');
		return;
	}
	if (s.sq.cached_head === null || s.cq.cached_tail === null) p.fail('the dump lacks the kernel\'s cached indices');
	adv.sq = (s.sq.cached_head - need.sq) >>> 0;
	adv.cq = (s.cq.cached_tail - need.cq) >>> 0;
	/*
	 * The kernel caches free CQ slots computed from the CQ head at refill
	 * time: an advance that reaped past the dumped head would leave a
	 * cache reaching into the restored ring's unconsumed CQEs.
	 */
	if (p.cqHold !== undefined) adv.cqHead = p.cqHold;
	p.add('memory', ...need.before.flatMap((f) => f(adv)), adv, ...need.after.flatMap((f) => f(adv)));
}

/* NO_MMAP: the same steps on the application's memory, which needs no scratch mapping. */
function planUserMemory(p: RingPlan, u: UserRegions): void {
	clearUserIndices(p, u);
	advance(p, { op: 'advance', fd: p.fd, sq: 0, cq: 0, rings: u.rings, sqes: u.sqes, params: p.params, registered: p.byIndex,
		what: 'advance the kernel indices in the ring\'s user memory' });
	writeBack(p, u.rings, u.sqes);
}


/*
 * The dumped bytes back over the ring.  An SQPOLL thread is live while
 * the plan runs and submits whatever lies between the kernel's head and
 * the shared tail as soon as it sees the tail, so the SQEs go first, then
 * the ring region with the tail still at the advanced head; otherwise the
 * thread could submit a NOP the advance left in a slot instead of the
 * application's SQE (seen: a pending SQE lost without a completion, in 8
 * of 28 restores of an idle SQPOLL ring).  The dumped tail is written
 * only when the ring is released (ring-plan.ts), once every ring of the
 * process is rebuilt and on its fds: a pending MSG_RING to a ring planned
 * later went to that ring's placeholder fd (-EBADFD; seen in about 1 of 3
 * runs of cr_combo_sqpoll --busy, 6 restores each).  Then the thread is
 * woken: the dumped flags may have cleared the NEED_WAKEUP of a thread
 * that has gone idle meanwhile.  True when the ring is released so.
 */
function writeBack(p: RingPlan, rings: Expr, sqes: Expr): boolean {
	const s = p.s;
	const bytes = p.ring.rings;
	if (!s.sqpoll || s.disabled || s.sq.cached_head === null) {
		p.add('memory', { op: 'write', addr: sqes, data: p.ring.sqes }, { op: 'write', addr: rings, data: bytes });
		return false;
	}
	/* struct io_rings: where this kernel keeps sq.tail */
	const OFF_SQ_TAIL = ringsLayout().sq_tail;
	const held = Buffer.from(bytes);
	/*
	 * Re-armed requests: the SQ thread takes them from before the dumped
	 * head first (concerns/rearm.ts), so the shared head too reads where
	 * the advance left the kernel's, until the thread moves it.
	 */
	const short = (s.sq.cached_head - (p.sqpollArm?.count ?? 0)) >>> 0;
	held.writeUInt32LE(short, OFF_SQ_TAIL);
	if (p.sqpollArm) held.writeUInt32LE(short, ringsLayout().sq_head);
	const tail = typeof rings === 'string' ? `${rings}+${OFF_SQ_TAIL}` : BigInt(rings) + BigInt(OFF_SQ_TAIL);
	p.add('memory', { op: 'write', addr: sqes, data: p.ring.sqes }, { op: 'write', addr: rings, data: held },
		...(p.sqpollArm?.steps(rings, sqes) ?? []));
	p.release.push({ op: 'write', addr: tail, data: bytes.subarray(OFF_SQ_TAIL, OFF_SQ_TAIL + 4) },
		{ op: 'sys', v: p.v('x').slice(1), nr: NR.io_uring_enter, args: [p.fd, 0, 0, ENTER.SQ_WAKEUP | (p.byIndex ? ENTER.REGISTERED_RING : 0), 0, 0],
			what: 'wake the SQ thread for the pending SQEs' });
	return true;
}

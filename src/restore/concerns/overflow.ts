/*
 * CQEs on the kernel's overflow list (posted while the CQ ring was full).
 *
 * The list has no setter, so it is rebuilt the way it was built: by
 * posting CQEs while the CQ is full.  IORING_REGISTER_SEND_MSG_RING posts
 * one CQE with exactly (user_data, res, flags) to the ring (MSG_RING with
 * FLAGS_PASS; the "post" step, plugin-c/plan.c); once the CQ is full the
 * kernel queues it on cq_overflow_list, sets IO_CHECK_CQ_OVERFLOW and
 * IORING_SQ_CQ_OVERFLOW, and leaves cached_cq_tail alone.
 *
 * "Full" has to be true for the kernel, not just for cq.head: the kernel
 * hands out CQ slots from a cache (cqe_cached..cqe_sentinel) computed from
 * the free space when it was last refilled, and never re-reads cq.head
 * while the cache lasts.  After the index advance reaped everything, that
 * cache may span up to the whole CQ, so merely writing a lower cq.head
 * would not make posts overflow.  Instead the advance stops cq_entries
 * short of the dumped CQ tail and this concern posts cq_entries filler
 * CQEs without reaping them: the CQ is then really full (cache empty),
 * the tail is exactly the dumped one, and the overflow CQEs that follow
 * all land on the list, in order.  The dumped ring bytes written next
 * replace the fillers with the real unconsumed CQEs and put cq.head back
 * where the application left it.
 *
 * Exact except big-CQE extras: MSG_RING cannot set extra1/extra2, so
 * overflowed big CQEs (CQE32 with extras, IORING_CQE_F_32 on CQE_MIXED)
 * are refused at dump (overflowUnsupported, src/plugin/support.ts).
 */
import type { RingState } from '../../capture/model';
import { SETUP } from '../../uring/params';
import type { Step } from '../plan';
import type { RingPlan } from '../ring-plan';

const CQE_F_32 = 1 << 15;	/* CQE_MIXED: this CQE takes two slots */
const CQE_F_SKIP = 1 << 16;	/* CQE_MIXED: filler slot */

/** Why this ring's overflow list cannot be rebuilt exactly (empty: it can). */
export function overflowUnsupported(s: RingState): string[] {
	const why: string[] = [];
	if (s.overflow_cqes.length === 0) return why;
	const big = s.overflow_cqes.filter((c) => (c.extra1 && c.extra1 !== '0') || (c.extra2 && c.extra2 !== '0') ||
		(s.setup_flags & SETUP.CQE_MIXED && c.flags & (CQE_F_32 | CQE_F_SKIP)));
	if (big.length) why.push(`${big.length} big CQE(s) with extra1/extra2 on the overflow list (MSG_RING cannot post extras)`);
	if (s.disabled) why.push('overflow CQEs on a disabled ring');
	return why;
}

type Advance = Extract<Step, { op: 'advance' }>;

export function planOverflow(p: RingPlan): void {
	const s = p.s;
	const list = s.overflow_cqes;
	if (list.length === 0) return;
	const why = overflowUnsupported(s);
	if (why.length) p.fail(why.join('; '));
	const memory = p.steps.get('memory')!;
	const at = memory.findIndex((x) => x.op === 'advance');
	if (at < 0) p.fail('overflow CQEs need the index advance step, which the memory concern did not plan');
	const adv = memory[at] as Advance;
	const entries = s.cq_entries;
	/* u32 arithmetic like the kernel's: a tail just past 2^32 costs a full lap, but stays exact */
	adv.cq = (adv.cq - entries) >>> 0;
	const runTw = (s.setup_flags & SETUP.DEFER_TASKRUN) !== 0;
	const scratch = p.put(Buffer.alloc(64));
	const post = (count: number, user_data: bigint, res: number, flags: number, what: string): Step =>
		({ op: 'post', fd: p.fd, scratch, count, user_data, res, flags, runTw, what });
	memory.splice(at + 1, 0,
		post(entries, 0n, 0, 0, `fill the CQ with ${entries} CQEs (the dumped ring bytes replace them)`),
		...list.map((c, i) => post(1, BigInt(c.user_data), c.res, c.flags, `overflow CQE ${i + 1} of ${list.length}`)));
}

/*
 * CQEs on the kernel's overflow list (posted while the CQ ring was full).
 *
 * The list has no setter, so it is rebuilt the way it was built: by
 * posting CQEs while the CQ is full.  Once the CQ is full the kernel
 * queues each new CQE on cq_overflow_list, sets IO_CHECK_CQ_OVERFLOW and
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
 * Two ways to post one CQE, chosen per CQE:
 *  - CQEs without extras: IORING_REGISTER_SEND_MSG_RING (MSG_RING with
 *    FLAGS_PASS; the "post" step) gives exactly (user_data, res, flags),
 *    consumes nothing, and its extras are 0 (on CQE32 rings, and on
 *    CQE_MIXED rings when the flags include IORING_CQE_F_32: the kernel
 *    then makes it a zeroed 32-byte CQE, measured).
 *  - CQEs with extra1/extra2 set: a NOP with IORING_NOP_INJECT_RESULT |
 *    IORING_NOP_CQE32 submitted on the ring itself, not reaped (the
 *    "postnop" step) gives user_data, res = len, extra1 = off,
 *    extra2 = addr, and flags 0 (IORING_CQE_F_32 on CQE_MIXED).  One with
 *    any other flag can be posted by neither and is refused at dump.
 * NOP only where needed: every NOP consumes an SQE, so the advance must
 * stop that many SQEs short of the dumped SQ head (the NOPs then bring it
 * there exactly).  Big CQEs come from the ring's own requests, so the
 * dumped head is at least their number; MSG_RING posts may come from
 * anywhere, and NOPs for them could push the advance target below zero
 * and cost a full 2^32 lap (refused instead).  The NOPs go in at the SQ
 * tail of the same scratch view (or NO_MMAP user memory) the advance
 * used; the dumped SQ and SQE bytes written after them replace them.  On
 * SQPOLL rings the SQ thread submits each NOP; the step waits until it
 * has.
 *
 * REGISTERED_FD_ONLY rings have no fd a MSG_RING could aim at: there the
 * fillers and every overflowed CQE are NOPs, so only CQEs with flags 0
 * (IORING_CQE_F_32 on CQE_MIXED, big) can come back.
 */
import type { Cqe, RingState } from '../../capture/model';
import type { AdvanceStep, Expr, Step } from '../plan';
import { isFdOnly } from '../owner';
import type { RingPlan } from '../ring-plan';
import { CQE_F, OP, SETUP } from '../../uring/abi';


const hasExtras = (c: Cqe): boolean => (c.extra1 !== undefined && c.extra1 !== '0') || (c.extra2 !== undefined && c.extra2 !== '0');

/** How one overflowed CQE is posted: MSG_RING, a NOP, a big (CQE32) NOP, or not at all. */
export type Way = 'msg' | 'nop' | 'bignop' | null;

function wayOf(s: RingState, c: Cqe): Way {
	const bigFlags = s.setup_flags & SETUP.CQE_MIXED ? CQE_F[32] : 0;	/* the flags of a CQE32 NOP's CQE */
	if (hasExtras(c)) return c.flags === bigFlags ? 'bignop' : null;
	if (!isFdOnly(s)) return 'msg';
	if (c.flags === 0) return 'nop';
	return bigFlags && c.flags === bigFlags ? 'bignop' : null;
}

/* NOPs the rebuild submits on the ring: for CQEs MSG_RING cannot post, and the fillers of a ring without an fd. */
function nopCount(s: RingState): number {
	return s.overflow_cqes.filter((c) => wayOf(s, c) !== 'msg').length + (isFdOnly(s) ? s.cq_entries : 0);
}

/** Why this ring's overflow list cannot be rebuilt exactly (empty: it can). */
export function overflowUnsupported(s: RingState): string[] {
	const why: string[] = [];
	if (s.overflow_cqes.length === 0) return why;
	if (s.disabled) why.push('overflow CQEs on a disabled ring');
	const none = s.overflow_cqes.filter((c) => wayOf(s, c) === null);
	const first = none.length ? `(first: user_data ${none[0].user_data}, flags 0x${none[0].flags.toString(16)})` : '';
	if (none.some(hasExtras)) {
		why.push(`${none.filter(hasExtras).length} big CQE(s) on the overflow list with extras and flags ${first}: ` +
			'MSG_RING cannot post extras and a NOP cannot post flags');
	} else if (none.length) {
		why.push(`${none.length} overflow CQE(s) with flags on a REGISTERED_FD_ONLY ring ${first}: ` +
			'it has no fd for MSG_RING to aim at, and a NOP cannot post flags');
	}
	const nops = nopCount(s);
	if (nops === 0) return why;
	const x = s.restrictions;
	if (x && (!x.sqe_ops.includes(OP.NOP) || x.sqe_flags_required))
		why.push(`restrictions that forbid plain NOPs, which rebuilding the overflow list submits (${nops})`);
	const head = (s.sq.cached_head ?? 0) >>> 0;
	if (nops > head)
		why.push(`rebuilding the overflow list takes ${nops} NOPs, more than the ring's cached SQ head ${head} (the index advance would need a 2^32 lap)`);
	return why;
}

/*
 * How the plan names the ring in the owner: the same handle the advance
 * enters it with, an fd or (REGISTERED_FD_ONLY) a registered-ring index.
 */
function ringName(adv: AdvanceStep): { ring: Expr; registered: boolean } {
	return { ring: adv.fd, registered: adv.registered === true };
}

/*
 * Declared before concerns/memory.ts plans the advance: it stops a full
 * CQ and the NOPs short, and these steps follow it, filling the CQ and
 * then overflowing it with the dumped list.
 */
export function planOverflow(p: RingPlan): void {
	const s = p.s;
	const list = s.overflow_cqes;
	if (list.length === 0) return;
	const why = overflowUnsupported(s);
	if (why.length) p.fail(why.join('; '));
	const entries = s.cq_entries;
	p.advance.cq += entries;
	p.advance.sq += nopCount(s);
	const runTw = (s.setup_flags & SETUP.DEFER_TASKRUN) !== 0;
	const scratch = p.put(Buffer.alloc(64));
	p.advance.after.push((adv) => {
		const name = ringName(adv);
		const post = (count: number, user_data: bigint, res: number, flags: number, what: string): Step =>
			({ op: 'post', fd: p.fd, scratch, count, user_data, res, flags, runTw, what });
		const postNop = (count: number, c: Cqe, big: boolean, fill: boolean, what: string): Step => ({
			op: 'postnop', ...name, rings: adv.rings, sqes: adv.sqes, params: adv.params, count,
			user_data: BigInt(c.user_data), res: c.res, extra1: BigInt(c.extra1 ?? 0), extra2: BigInt(c.extra2 ?? 0), big, fill, what,
		});
		const fillWhat = `fill the CQ with ${entries} CQEs (the dumped ring bytes replace them)`;
		const filler: Cqe = { user_data: '0', res: 0, flags: 0 };
		return [
			isFdOnly(s) ? postNop(entries, filler, false, true, `${fillWhat}, by NOPs`) : post(entries, 0n, 0, 0, fillWhat),
			...list.map((c, i) => {
				const what = `overflow CQE ${i + 1} of ${list.length}`;
				const way = wayOf(s, c);
				return way === 'msg' ? post(1, BigInt(c.user_data), c.res, c.flags, what) :
					postNop(1, c, way === 'bignop', false, `${what}, by a NOP`);
			}),
		];
	});
}

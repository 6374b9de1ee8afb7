/*
 * Restrictions (IORING_REGISTER_RESTRICTIONS): accepted only while the
 * ring is disabled, only once, and enforced from ENABLE on.  So they are
 * registered in the 'disabled' phase, and everything the restore does
 * after ENABLE must pass them:
 *  - the index advance submits NOPs (plain, and with CQE_SKIP_SUCCESS for
 *    SQ-only steps) on the ring; MSG_RING comes from a separate helper
 *    ring and is not subject to them.  A dump whose restrictions forbid
 *    what its advance needs is refused (restrictionConflicts, support.ts).
 *  - registrations after ENABLE: a forbidden eventfd registration moves
 *    before ENABLE, with the eventfd muted (IORING_CQ_EVENTFD_DISABLED)
 *    while the advance posts its completions; any other forbidden one
 *    fails the plan.
 */
import type { RingState } from '../../capture/model';
import type { Step } from '../plan';
import { opcodeOf, PHASES, type Phase, RingPlan } from '../ring-plan';
import { IOSQE, NR, OP, REGISTER, RESTRICTION } from '../../uring/abi';

/* The reasons a ring's restrictions would stop its own restore; empty if none. */
export function restrictionConflicts(r: RingState): string[] {
	const x = r.restrictions;
	if (!x || r.disabled) return [];
	const ds = r.sq.cached_head ?? 0, dc = r.cq.cached_tail ?? 0;
	const plain = Math.min(ds, dc);
	const why: string[] = [];
	const fail = (what: string): void => void why.push(`restrictions that forbid ${what}, which restoring the ring's indices submits`);
	if ((plain > 0 || ds > plain) && !x.sqe_ops.includes(OP.NOP)) fail('IORING_OP_NOP');
	if (plain > 0 && x.sqe_flags_required) fail(`NOPs without the required SQE flags 0x${x.sqe_flags_required.toString(16)}`);
	if (ds > plain && (x.sqe_flags_required & ~IOSQE.CQE_SKIP_SUCCESS || !((x.sqe_flags_allowed | x.sqe_flags_required) & IOSQE.CQE_SKIP_SUCCESS)))
		fail('NOPs with only IOSQE_CQE_SKIP_SUCCESS');
	/* registered after ENABLE by their own concerns, under the restrictions */
	if (r.provided_buffers.length) why.push('restrictions together with provided buffers, which the restore sets up after enabling the ring');
	if (r.registered_slots.length && !x.register_ops.includes(REGISTER.RING_FDS))
		why.push('restrictions that forbid IORING_REGISTER_RING_FDS, which restoring the registered ring fds calls');
	return why;
}

function encode(x: NonNullable<RingState['restrictions']>): Buffer {
	const entries: [number, number][] = [
		...x.register_ops.map((op): [number, number] => [RESTRICTION.REGISTER_OP, op]),
		...x.sqe_ops.map((op): [number, number] => [RESTRICTION.SQE_OP, op]),
		[RESTRICTION.SQE_FLAGS_ALLOWED, x.sqe_flags_allowed],
		[RESTRICTION.SQE_FLAGS_REQUIRED, x.sqe_flags_required],
	];
	const buf = Buffer.alloc(16 * entries.length); /* struct io_uring_restriction */
	entries.forEach(([opcode, v], i) => {
		buf.writeUInt16LE(opcode, 16 * i);
		buf.writeUInt8(v, 16 * i + 2);
	});
	return buf;
}

const isRegister = (s: Step): s is Extract<Step, { op: 'sys' }> => s.op === 'sys' && s.nr === NR.io_uring_register;

/*
 * Every registration planned after ENABLE must be one the restrictions
 * allow: the concerns that can register earlier do (concerns/eventfd.ts);
 * for the others the restore is refused.
 */
function checkRegistrationsAfterEnable(p: RingPlan, allowed: Set<number>): void {
	for (const phase of PHASES.slice(PHASES.indexOf('enable') + 1) as Phase[]) {
		for (const s of p.steps.get(phase)!) {
			if (!isRegister(s) || allowed.has(opcodeOf(s.args[1]))) continue;
			p.fail(`restrictions forbid register opcode ${opcodeOf(s.args[1])} (${s.what}), which the restore needs after enabling the ring`);
		}
	}
}

export function planRestrictions(p: RingPlan): void {
	const x = p.s.restrictions;
	if (!x) return;
	const conflicts = restrictionConflicts(p.s);
	if (conflicts.length) p.fail(`cannot restore a ring with ${conflicts[0]}`);
	const arg = encode(x);
	p.register('disabled', REGISTER.RESTRICTIONS, p.put(arg), arg.length / 16,
		`register ${arg.length / 16} restrictions`);
	if (!p.s.disabled) checkRegistrationsAfterEnable(p, new Set(x.register_ops));
}

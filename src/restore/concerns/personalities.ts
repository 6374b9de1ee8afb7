/*
 * Personalities: registered credentials that SQEs name by id.  The kernel
 * records the registering task's creds and hands out ids cyclically from
 * 1, so the plan registers ids 1..max in order, each under its recorded
 * creds by a helper child of CRIU's master (plan step "personality",
 * plugin-c/creds.c), the gaps under the task's own creds, and then
 * unregisters the gaps.  This happens while the ring is disabled, when
 * any task may register.
 *
 * The allocator's cursor (ctx->pers_next) is the last id handed out + 1
 * (xa_alloc_cyclic), so registering placeholders on up to the recorded
 * cursor - 1 and dropping them leaves it where it was: a ring that
 * unregistered its highest ids gets the same next id as before.  A cursor
 * at or below the highest live id means the allocator wrapped past 65535;
 * rebuilding that would take 65535 registrations, so the dump refuses it.
 *
 * Not restored: capability sets other than the effective one (permitted =
 * effective), and user namespaces other than the initial one.
 */
import type { Personality, RingState } from '../../capture/model';
import type { RingPlan } from '../ring-plan';
import { REGISTER, UNREGISTER } from '../../uring/abi';

const MAX_ID = 0xffff;

function describe(x: Personality): string {
	return `personality ${x.id} (uid ${x.euid}, gid ${x.egid})`;
}

/** Why the allocator's cursor cannot be put back (empty: it can). */
export function personalityRefusals(s: RingState): string[] {
	const next = s.personality_next ?? 0;
	const max = Math.max(0, ...s.personalities.map((x) => x.id));
	if (next === 0 || next > max) return [];
	return [`a personality id allocator that wrapped past ${MAX_ID} (next id ${next}, highest live id ${max})`];
}

/* The last id to register: the highest live one, or the cursor - 1 if above it. */
function lastId(p: RingPlan, max: number): number {
	const next = p.s.personality_next ?? 0;
	if (next === 0 || next === max + 1) return max;
	if (next <= max || next > MAX_ID + 1) p.fail(`personality allocator cursor ${next} cannot be rebuilt (highest live id ${max})`);
	return next - 1;
}

export function planPersonalities(p: RingPlan): void {
	const list = [...p.s.personalities].sort((a, b) => a.id - b.id);
	const max = list.length ? list[list.length - 1].id : 0;
	if (list.length && (list[0].id < 1 || max > MAX_ID)) p.fail(`personality id ${max} is out of range`);
	const last = lastId(p, max);
	if (last === 0) return;
	const byId = new Map(list.map((x) => [x.id, x]));
	const gaps: number[] = [];
	for (let id = 1; id <= last; id++) {
		const x = byId.get(id);
		if (!x) {
			gaps.push(id);
			p.register('register', REGISTER.PERSONALITY, 0, 0, `placeholder personality ${id}`);
			continue;
		}
		p.add('register', {
			op: 'personality', fd: p.fd, id,
			ids: [x.uid, x.euid, x.suid, x.fsuid, x.gid, x.egid, x.sgid, x.fsgid],
			caps: BigInt(x.cap_effective), groups: x.groups, what: `register ${describe(x)}`,
		});
	}
	for (const id of gaps) p.register('register', UNREGISTER.PERSONALITY, 0, id, `drop placeholder personality ${id}`);
}

/*
 * Personalities: registered credentials that SQEs name by id.  The kernel
 * records the registering task's creds and hands out ids cyclically from
 * 1, so the plan registers ids 1..max in order, each under its recorded
 * creds by a helper child of CRIU's master (plan step "personality",
 * plugin-c/creds.c), the gaps under the task's own creds, and then
 * unregisters the gaps.  This happens while the ring is disabled, when
 * any task may register.
 *
 * Not restored: the allocator's next id (a ring that unregistered its
 * highest ids continues after the highest restored one), capability sets
 * other than the effective one (permitted = effective), and user
 * namespaces other than the initial one.
 */
import type { Personality } from '../../capture/model';
import type { RingPlan } from '../ring-plan';

export const REGISTER_PERSONALITY = 9;
export const UNREGISTER_PERSONALITY = 10;
const MAX_ID = 0xffff;

function describe(x: Personality): string {
	return `personality ${x.id} (uid ${x.euid}, gid ${x.egid})`;
}

export function planPersonalities(p: RingPlan): void {
	const list = [...p.s.personalities].sort((a, b) => a.id - b.id);
	if (list.length === 0) return;
	const max = list[list.length - 1].id;
	if (list[0].id < 1 || max > MAX_ID) p.fail(`personality id ${max} is out of range`);
	const byId = new Map(list.map((x) => [x.id, x]));
	const gaps: number[] = [];
	for (let id = 1; id <= max; id++) {
		const x = byId.get(id);
		if (!x) {
			gaps.push(id);
			p.register('register', REGISTER_PERSONALITY, 0, 0, `placeholder personality ${id}`);
			continue;
		}
		p.add('register', {
			op: 'personality', fd: p.fd, id,
			ids: [x.uid, x.euid, x.suid, x.fsuid, x.gid, x.egid, x.sgid, x.fsgid],
			caps: BigInt(x.cap_effective), groups: x.groups, what: `register ${describe(x)}`,
		});
	}
	for (const id of gaps) p.register('register', UNREGISTER_PERSONALITY, 0, id, `drop placeholder personality ${id}`);
}

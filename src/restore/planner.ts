/*
 * Restore planning: turn a dumped ring into the steps that rebuild it
 * inside its restored owner (step format: plan.ts).  Each concern of ring
 * state has its own module in concerns/; RingPlan orders their steps by
 * phase (ring-plan.ts says which and why).
 */
import { ownerTid } from './owner';
import { planAttach } from './concerns/attach';
import { planBuffers } from './concerns/buffers';
import { planClock } from './concerns/clock';
import { planEpollAttach, planEpollDetach } from './concerns/epoll';
import { planEventfd } from './concerns/eventfd';
import { planFds } from './concerns/fds';
import { planFiles } from './concerns/files';
import { planIowq } from './concerns/iowq';
import { planLegacyBuffers } from './concerns/legacy_buffers';
import { planMappings } from './concerns/mappings';
import { planPbufRings } from './concerns/pbuf';
import { planMemory } from './concerns/memory';
import { planNapi } from './concerns/napi';
import { planPersonalities } from './concerns/personalities';
import { planRegions } from './concerns/regions';
import { planOverflow } from './concerns/overflow';
import { planRearm } from './concerns/rearm';
import { planRestrictions } from './concerns/restrictions';
import { planRingFds } from './concerns/ringfds';
import { planRingOnly } from './concerns/ringonly';
import { planAllocHint } from './concerns/allochint';
import { planSetup } from './concerns/setup';
import { planShared } from './concerns/shared';
import type { RestoreRing } from './input';
import type { Step } from './plan';
import { PlanError, RingPlan } from './ring-plan';
import { kernelShortfall } from './kernel';
import { release } from 'node:os';

export { PlanError } from './ring-plan';
export { placeRegions } from './concerns/mappings';

export { ownerTid };

/* Setup first: the others need its fd and params. */
const CONCERNS = [planSetup, planRegions, planAttach, planFiles, planBuffers, planEventfd, planRingOnly, planAllocHint, planMappings,
	/* provided buffers need the live ring, before the index advance */
	planLegacyBuffers, planPbufRings, planMemory,
	/* after memory: it shortens the advance and posts right behind it */
	planOverflow,
	/* shortens the advance too; its requests are submitted after the eventfd is registered */
	planRearm,
	/* epoll entries leave the placeholders before the ring takes their fds, and come back on the ring after */
	planEpollDetach, planFds,
	/* steps in other threads and processes, after the ring is on its fds */
	planRingFds, planShared, planEpollAttach,
	planIowq, planClock, planNapi, planPersonalities,
	/* last: it checks every step planned after ENABLE against the restrictions */
	planRestrictions];

export function planRing(pid: number, ring: RestoreRing, id: number): Step[] {
	const p = new RingPlan(pid, ring, id);
	for (const concern of CONCERNS) concern(p);
	const steps = p.finish(ownerTid(pid, ring.state));
	const short = kernelShortfall(ring, steps);
	if (short.length) throw new PlanError(`ring ${ring.state.inode}: this kernel (Linux ${release()}) lacks ${short.join(', ')}`);
	return steps;
}

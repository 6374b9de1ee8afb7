/*
 * Restore planning: turn the images of a dump into the steps that rebuild
 * each ring inside its restored owner (step format: plan.ts).  Each
 * concern of ring state has its own module in concerns/; RingPlan orders
 * their steps by phase (ring-plan.ts says which and why).  Pure: no I/O,
 * no root, so test/plan-golden.test.ts checks plans against golden files.
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
import type { Image } from '../image/types';
import { foreignHolds, restoreRings } from './from-image';
import type { RestoreRing } from './input';
import type { Step } from './plan';
import { joinParts, PlanError, RingPlan, type RingParts } from './ring-plan';
import { kernelShortfall } from './kernel';
import { release } from 'node:os';

export { PlanError } from './ring-plan';

/*
 * Concerns that need something of a later one declare it on the RingPlan
 * first (attach: the wq_fd setup puts in the params; eventfd, ringonly,
 * overflow and rearm: what the index advance in memory must leave room
 * for and put around itself); no concern edits another's steps.
 */
const CONCERNS = [planAttach, planSetup, planRegions, planFiles, planBuffers, planEventfd, planRingOnly, planAllocHint, planMappings,
	/* provided buffers need the live ring, before the index advance */
	planLegacyBuffers, planPbufRings, planOverflow,
	/* its requests are submitted in the 'late' phase, after the eventfd is registered */
	planRearm, planMemory,
	/* epoll entries leave the placeholders before the ring takes their fds, and come back on the ring after */
	planEpollDetach, planFds,
	/* steps in other threads and processes, after the ring is on its fds */
	planRingFds, planShared, planEpollAttach,
	planIowq, planClock, planNapi, planPersonalities,
	/* last: it checks every step planned after ENABLE against the restrictions */
	planRestrictions];

/** The steps of one ring in parts: body, then (after every ring's body) release, then cleanup. */
function planRingParts(pid: number, ring: RestoreRing, id: number): RingParts {
	const p = new RingPlan(pid, ring, id);
	for (const concern of CONCERNS) concern(p);
	const parts = p.parts(ownerTid(pid, ring.state));
	const short = kernelShortfall(ring, [...parts.body, ...parts.release, ...parts.cleanup]);
	if (short.length) throw new PlanError(`ring ${ring.state.inode}: this kernel (Linux ${release()}) lacks ${short.join(', ')}`);
	return parts;
}

/** The plan of one ring as if it were its process's only one. */
export function planRing(pid: number, ring: RestoreRing, id: number): Step[] {
	return joinParts([planRingParts(pid, ring, id)]);
}

/* SQPOLL rings attach to a thread another ring created: plan that ring first. */
function attachOrder(rs: RestoreRing[]): RestoreRing[] {
	const out: RestoreRing[] = [];
	const placed = new Set<RestoreRing>();
	const byInode = new Map<number, RestoreRing>();
	for (const r of [...rs].reverse()) byInode.set(r.state.inode, r); /* the first of an inode, as find() */
	const visit = (r: RestoreRing, depth: number): void => {
		if (placed.has(r)) return;
		const target = r.attach_ring_id === undefined ? undefined : byInode.get(r.attach_ring_id);
		if (target && depth < rs.length) visit(target, depth + 1);
		placed.add(r);
		out.push(r);
	};
	for (const r of rs) visit(r, 0);
	const position = new Map<number, number>();
	out.forEach((x, i) => { if (!position.has(x.state.inode)) position.set(x.state.inode, i); });
	for (const r of out) {
		const i = r.attach_ring_id === undefined ? -1 : position.get(r.attach_ring_id) ?? -1;
		if (i >= 0) {
			r.attach_index = i;
			r.attach_fd = out[i].state.fds[0];
		}
	}
	return out;
}

/**
 * The plan of every process of a dump that has rings, by pid inside the
 * dumped pid namespace, from its validated images (readImages()).  A ring
 * several processes hold is rebuilt by the plan of the process whose image
 * carries its state, which also installs it in the others.  Throws
 * PlanError (or Error for an inconsistent image set) when a ring cannot be
 * rebuilt.
 */
export function planImages(images: Image[]): Map<number, Step[]> {
	const rings = new Map(images.map((img) => [img.process!.pid, attachOrder(restoreRings(img))]));
	for (const img of images) {
		for (const f of foreignHolds(img)) {
			const r = rings.get(f.state_pid)?.find((x) => x.state.inode === f.ring_id);
			if (!r) throw new Error(`ring ${f.ring_id}: process ${f.holder.pid} holds it but image of ${f.state_pid} has no state for it`);
			(r.holders ??= []).push(f.holder);
		}
	}
	const plans = new Map<number, Step[]>();
	for (const [pid, rs] of rings) {
		/* the slots of the rings planned before: one array shared until a ring adds slots (slicing per ring was O(rings^2)) */
		let before: { tid: number; index: number }[] = [];
		for (const r of rs) {
			r.slots_before = before;
			if (r.state.registered_slots.length) before = [...before, ...r.state.registered_slots];
		}
		/*
		 * Every ring rebuilt and on its fds before any is released (an
		 * SQPOLL ring's pending SQEs handed to its thread: ring-plan.ts),
		 * then every ring's cleanup.
		 */
		if (rs.length) plans.set(pid, joinParts(rs.map((r, i) => planRingParts(pid, r, i))));
	}
	return plans;
}

/*
 * validateImage(): is this image something this version can restore?
 * validateImageSet(): do the images of one checkpoint fit together
 * (shared rings, SQPOLL attachment)?  Both throw ImageError with a
 * one-line message naming the image, the ring and the reason.
 */
import { ImageError } from './errors';
import { SETUP } from '../uring/abi';
import { EpollWatch, FORMAT_VERSION, Image, Ring, RingHold } from './types';
import { checkHold, checkIndices, checkMemory, checkOverflow, checkSetup } from './validate-ring';
import {
	checkBuffers, checkEventfd, checkFiles, checkInflight, checkIoWq, checkMemRegions,
	checkNapiClock, checkPersonalities, checkProvidedBuffers, checkRestrictions,
} from './validate-resources';

export function imageName(pid: number): string {
	return `io_uring-${pid}.img`;
}

function subjectOf(img: Image): string {
	return img.process ? imageName(img.process.pid) : 'io_uring image';
}

/** Problems of one ring's state, each a short phrase. */
export function ringProblems(r: Ring): string[] {
	const out: string[] = [];
	if (!r.setup) return ['setup missing'];
	if (!r.indices) return ['indices missing'];
	checkSetup(r.setup, out);
	if (out.length) return out; /* the rest depends on a sane geometry */
	checkIndices(r.indices, r.setup, out);
	checkMemory(r, r.setup, out);
	checkOverflow(r, r.setup, out);
	for (const check of [checkFiles, checkBuffers, checkEventfd, checkPersonalities, checkRestrictions,
		checkIoWq, checkProvidedBuffers, checkNapiClock, checkMemRegions, checkInflight]) {
		check(r, out);
	}
	return out;
}

function headerProblems(img: Image): string[] {
	const v = img.header?.format_version ?? 0;
	if (!img.header) return ['no image header'];
	if (v > FORMAT_VERSION) return [`format version ${v} is newer than ${FORMAT_VERSION} (written by a newer criu-uring)`];
	if (v < 1) return [`unsupported format version ${v}`];
	if (!img.process) return ['no process entry'];
	if (!Number.isInteger(img.process.pid) || img.process.pid <= 0) return [`invalid pid ${img.process.pid}`];
	return [];
}

function holdProblems(img: Image, pid: number): string[] {
	const out: string[] = [];
	const holds = new Map<bigint, RingHold>();
	for (const h of img.process!.holds) {
		if (holds.has(h.ring_id)) out.push(`ring ${h.ring_id}: held twice`);
		holds.set(h.ring_id, h);
		const stored = img.rings.find((r) => r.ring_id === h.ring_id) ?? null;
		if (h.state_pid === pid && !stored) out.push(`ring ${h.ring_id}: state missing (the image says it holds it)`);
		if (h.state_pid !== pid && stored) out.push(`ring ${h.ring_id}: state stored here but attributed to pid ${h.state_pid}`);
		if (h.state_pid > pid) out.push(`ring ${h.ring_id}: state attributed to pid ${h.state_pid}, not the lowest holder`);
		if (!h.state_pid) out.push(`ring ${h.ring_id}: no state pid`);
		const sub: string[] = [];
		checkHold(h, stored, sub);
		for (const p of sub) out.push(`ring ${h.ring_id}: ${p}`);
	}
	/* one fd is one file: an epoll fd has one epoll id in every hold */
	const epollOf = new Map<number, number>();
	for (const h of img.process!.holds) {
		for (const w of h.epoll_watches) {
			const id = epollOf.get(w.epfd) ?? w.epoll_id;
			if (id !== w.epoll_id) out.push(`ring ${h.ring_id}: epoll fd ${w.epfd} has epoll ids ${id} and ${w.epoll_id}`);
			epollOf.set(w.epfd, id);
		}
	}
	const seen = new Set<bigint>();
	for (const r of img.rings) {
		if (seen.has(r.ring_id)) out.push(`ring ${r.ring_id}: state stored twice`);
		seen.add(r.ring_id);
		if (!holds.has(r.ring_id)) out.push(`ring ${r.ring_id}: state stored but the process does not hold the ring`);
	}
	return out;
}

/** Every problem found in one image (empty when it can be restored). */
export function imageProblems(img: Image): string[] {
	const header = headerProblems(img);
	if (header.length) return header;
	const out = holdProblems(img, img.process!.pid);
	for (const r of img.rings) for (const p of ringProblems(r)) out.push(`ring ${r.ring_id}: ${p}`);
	return out;
}

/** Throws ImageError for the first problem of the image. */
export function validateImage(img: Image, name: string = subjectOf(img)): void {
	const problems = imageProblems(img);
	if (problems.length) throw new ImageError(name, problems[0]);
}

/** Problems across the images of one checkpoint (each already validated). */
export function imageSetProblems(images: Image[]): { pid: number; problem: string }[] {
	const out: { pid: number; problem: string }[] = [];
	const byPid = new Map(images.map((i) => [i.process!.pid, i]));
	const rings = new Map<bigint, { pid: number; ring: Ring }>();
	const entries = new Map<string, EpollWatch & { ring_id: bigint }>();
	for (const img of images) {
		for (const r of img.rings) {
			const prev = rings.get(r.ring_id);
			if (prev) out.push({ pid: img.process!.pid, problem: `ring ${r.ring_id}: state also stored in ${imageName(prev.pid)}` });
			else rings.set(r.ring_id, { pid: img.process!.pid, ring: r });
		}
	}
	for (const img of images) {
		const pid = img.process!.pid;
		for (const h of img.process!.holds) {
			if (h.state_pid === pid) continue;
			const owner = byPid.get(h.state_pid);
			if (!owner) out.push({ pid, problem: `ring ${h.ring_id}: state is in ${imageName(h.state_pid)}, which is missing` });
			else if (rings.get(h.ring_id)?.pid !== h.state_pid) {
				out.push({ pid, problem: `ring ${h.ring_id}: state is not in ${imageName(h.state_pid)} as this image says` });
			}
		}
		/* an epoll set shared by processes (fork) shows the same entries in each */
		for (const h of img.process!.holds) {
			for (const w of h.epoll_watches) {
				const key = `${w.epoll_id}/${w.tfd}`;
				const prev = entries.get(key);
				if (!prev) entries.set(key, { ...w, ring_id: h.ring_id });
				else if (prev.ring_id !== h.ring_id || prev.events !== w.events || prev.data !== w.data)
					out.push({ pid, problem: `ring ${h.ring_id}: epoll entry (epoll ${w.epoll_id}, tfd ${w.tfd}) differs from the same entry in another image` });
			}
		}
		for (const r of img.rings) {
			const target = r.setup?.attach_ring_id ?? 0n;
			if (target === 0n) continue;
			const t = rings.get(target)?.ring;
			if (!t) out.push({ pid, problem: `ring ${r.ring_id}: attaches to ring ${target}, which is not in the checkpoint` });
			else if (target === r.ring_id) out.push({ pid, problem: `ring ${r.ring_id}: attaches to itself` });
			else if (!t.setup || !(t.setup.flags & SETUP.SQPOLL) || t.setup.attach_ring_id !== 0n) {
				out.push({ pid, problem: `ring ${r.ring_id}: attaches to ring ${target}, which does not own an SQPOLL thread` });
			}
		}
	}
	return out;
}

/** Throws ImageError for the first cross-image problem. */
export function validateImageSet(images: Image[]): void {
	const problems = imageSetProblems(images);
	if (problems.length) throw new ImageError(imageName(problems[0].pid), problems[0].problem);
}

/*
 * epoll sets that watched the ring (an event loop polling its ring fd,
 * as libuv does).  CRIU restores an epoll set's entries itself, before
 * RESUME_DEVICES_LATE, on what the ring's fd number holds then: the
 * plugin's placeholder (an eventfd, plugin-c/plugin.c).  An epoll entry
 * is keyed by (file, fd number), so the dup3 of the ring onto that fd
 * does not move it: the entry would stay on the placeholder while any
 * other reference keeps it alive, and vanish with it otherwise.  So, in
 * a process holding both the epoll fd and the ring fd, the placeholder's
 * entry is deleted before the ring moves onto the fd (EPOLL_CTL_DEL,
 * which fails if CRIU did not restore it), and the ring is added after
 * with the dumped events and data (EPOLL_CTL_ADD).  A fired EPOLLONESHOT
 * entry has only its flag bits left and goes back as such: disarmed,
 * until the application re-arms it with EPOLL_CTL_MOD.
 *
 * An epoll set several processes share (fork) shows the same entries in
 * each of them; each entry (epoll id, tfd) is moved once, by the first
 * process holding it: this one, then the other holders in order.
 *
 * Readiness is not state an epoll entry keeps apart from its file: the
 * ADD polls the ring, so a level-triggered entry reports what the ring
 * holds, and an edge-triggered one reports it once if the ring already
 * has completions or room for SQEs the events ask about (as for every
 * file CRIU restores).
 */
import type { EpollWatch, RingState } from '../../capture/model';
import type { Step } from '../plan';
import { RingPlan } from '../ring-plan';
import { NR } from '../../uring/abi';

const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;

/* struct epoll_event on x86_64 is packed: __u32 events, __u64 data */
export function epollEvent(w: EpollWatch): Buffer {
	const b = Buffer.alloc(12);
	b.writeUInt32LE(w.events >>> 0, 0);
	b.writeBigUInt64LE(BigInt(w.data), 4);
	return b;
}

/** Each entry once: (holder pid, watch) for the first holder that lists it; the owner (p.pid) first. */
function entries(p: RingPlan): { pid: number; w: EpollWatch }[] {
	const out: { pid: number; w: EpollWatch }[] = [];
	const seen = new Set<string>();
	const holders = [{ pid: p.pid, watches: p.s.epoll_watches ?? [] },
		...(p.ring.holders ?? []).map((h) => ({ pid: h.pid, watches: h.epoll_watches ?? [] }))];
	for (const h of holders) {
		for (const w of h.watches) {
			/* without an identity, an epoll fd is its own set */
			const key = `${w.epoll ?? `${h.pid}/${w.epfd}`}/${w.tfd}`;
			if (seen.has(key)) continue;
			seen.add(key);
			out.push({ pid: h.pid, w });
		}
	}
	return out;
}

/** What the dump refuses: an entry added under an fd that no longer refers to the ring (CRIU would restore it under another). */
export function epollRefusals(r: RingState): string[] {
	return (r.epoll_watches ?? []).filter((w) => !r.fds.includes(w.tfd)).map((w) =>
		`an entry of epoll fd ${w.epfd} added under fd ${w.tfd}, which no longer refers to the ring`);
}

const del = (w: EpollWatch, v: string): Step => ({ op: 'sys', v, nr: NR.epoll_ctl, args: [w.epfd, EPOLL_CTL_DEL, w.tfd, 0],
	what: `remove the placeholder at fd ${w.tfd} from epoll fd ${w.epfd}` });

/* Before the ring moves onto its fds: the placeholders' entries go. */
export function planEpollDetach(p: RingPlan): void {
	for (const { pid, w } of entries(p)) {
		if (pid === p.pid) p.add('fds', del(w, p.v('x').slice(1)));
		else p.inTask(pid, [del(w, `x${p.id}_${pid}`)]);
	}
}

/* After the ring is on its fds (in this process: planFds; in the others: planShared): the ring's entries back. */
export function planEpollAttach(p: RingPlan): void {
	const what = (w: EpollWatch): string =>
		`watch the ring at fd ${w.tfd} from epoll fd ${w.epfd} (events 0x${(w.events >>> 0).toString(16)})`;
	for (const { pid, w } of entries(p)) {
		if (pid === p.pid) {
			p.sys('fds', NR.epoll_ctl, [w.epfd, EPOLL_CTL_ADD, w.tfd, p.put(epollEvent(w))], what(w));
			continue;
		}
		const ev = `ev${p.id}_${pid}_${w.epfd}_${w.tfd}`;
		p.inTask(pid, [
			{ op: 'alloc', v: ev, len: 16 },
			{ op: 'write', addr: `$${ev}`, data: epollEvent(w) },
			{ op: 'sys', v: `x${p.id}_${pid}`, nr: NR.epoll_ctl, args: [w.epfd, EPOLL_CTL_ADD, w.tfd, `$${ev}`], what: what(w) },
			{ op: 'free', v: ev },
		]);
	}
}

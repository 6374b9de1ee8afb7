/*
 * Did a ring change after the dump captured it?  (DUMP_DEVICES_LATE,
 * docs/inflight.md "Events while the tree is stopped".)
 *
 * The capture runs once the tree is frozen, before CRIU's parasite
 * enters any task.  On a ring without DEFER_TASKRUN, an event for a
 * request the restore re-arms (data on a socket or pipe, a connection,
 * room to send, a futex wake) queues task work that runs when CRIU first
 * returns the frozen thread to user space, after the capture: it takes
 * the data and posts the completion, neither of which is then in any
 * image.  Once every task is dumped the rings are captured again and
 * compared with what the images hold; any difference fails the dump, and
 * the process resumes with its completion.  A timer firing is not a
 * difference that loses anything (the image re-arms the TIMEOUT with the
 * time it had left, so it fires again after the restore, once): TIMEOUT
 * requests and their completions are left out, and so are those of
 * receives on UDP sockets (datagrams.ts: CRIU keeps no datagram queue, so
 * the images simply miss one more datagram).
 */
import type { Cqe, InflightRequest, RingState } from '../capture/model';
import { SETUP, SQ } from '../uring/abi';

/* Rings whose state can change while the tree is frozen (DEFER_TASKRUN work waits for its owner, which never asks during a dump). */
export function mayChange(r: RingState): boolean {
	if (r.setup_flags & SETUP.DEFER_TASKRUN) return false;
	return r.inflight.length > 0 || (r.setup_flags & SETUP.SQPOLL) !== 0;
}

const isTimeout = (q: InflightRequest): boolean => q.opcode === 'TIMEOUT';

/* What can legitimately differ between two captures of an unchanged request: time left, the futex word, the verdict drawn from them. */
function stable(q: InflightRequest): unknown {
	const { rearm: _rearm, arm, links, ...rest } = q;
	const a = arm ? (({ remaining_ns: _r, futex_word: _f, futexv, ...keep }) =>
		({ ...keep, futexv: futexv?.map(({ word: _w, ...f }) => f) }))(arm) : undefined;
	return { ...rest, arm: a, links: links?.map(stable) };
}

/* The requests whose progress would lose something: not timers, not receives of datagrams (@skip) */
const compared = (r: RingState, skip: Set<string>): InflightRequest[] =>
	r.inflight.filter((q) => !isTimeout(q) && !skip.has(q.user_data));

const requests = (r: RingState, skip: Set<string>): string[] => compared(r, skip).map((q) => JSON.stringify(stable(q)));

const show = (c: Cqe): string => `a completion (user_data ${c.user_data}, res ${c.res}) was posted`;

/**
 * Why `now` differs from the captured `then` in a way the images cannot
 * carry, or null.  @datagrams: user_data of `then`'s receives on UDP
 * sockets (datagrams.ts), whose completions the images may miss.
 */
export function changedSince(then: RingState, now: RingState | undefined, datagrams: Set<string> = new Set()): string | null {
	if (!now) return 'the ring is gone';
	const timers = new Set(then.inflight.filter(isTimeout).map((q) => q.user_data));
	const posted = [...now.cqes.slice(then.cqes.length), ...now.overflow_cqes.slice(then.overflow_cqes.length)];
	const lost = posted.find((c) => !timers.has(c.user_data) && !datagrams.has(c.user_data));
	if (lost) return show(lost);
	if (now.sq.head !== then.sq.head || now.sq.cached_head !== then.sq.cached_head || now.sq.dropped !== then.sq.dropped)
		return `its SQ head moved from ${then.sq.cached_head ?? then.sq.head} to ${now.sq.cached_head ?? now.sq.head}`;
	if (now.cq.head !== then.cq.head) return `its CQ head moved from ${then.cq.head} to ${now.cq.head}`;
	if (now.cqes.length < then.cqes.length || now.overflow_cqes.length < then.overflow_cqes.length)
		return 'completions it held are gone';
	if (now.cq.overflow !== then.cq.overflow) return `its CQ overflow counter went from ${then.cq.overflow} to ${now.cq.overflow}`;
	const a = requests(then, datagrams), b = requests(now, datagrams);
	if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
		const gone = compared(then, datagrams).find((q) => !b.includes(JSON.stringify(stable(q))));
		return gone ? `its request ${gone.opcode} user_data ${gone.user_data} progressed or completed` : 'a request was added';
	}
	/* a datagram's receive takes its buffer; any other taker posted a completion, refused above */
	const tookDatagram = posted.some((c) => datagrams.has(c.user_data));
	if (!tookDatagram && JSON.stringify(now.provided_buffers) !== JSON.stringify(then.provided_buffers)) return 'a provided buffer was taken';
	return null;
}

/*
 * An SQPOLL ring whose thread is awake (NEED_WAKEUP clear) with SQEs
 * published and not taken yet: the thread takes them whenever it next
 * runs, frozen tree or not, and their completions (a MSG_RING's on the
 * other ring too) would be in no image; the check after the dump
 * (changedSince()) then abandoned the dump (seen once each in a run of
 * cr_combo_sqpoll --busy and cr_multi, 6 and 20 dumps at random moments).  The capture waits until the
 * thread took them or went to sleep (then it takes nothing until woken;
 * cr_sqpend).  A ring never enabled has no thread yet.
 */
export function sqpollTaking(r: RingState): boolean {
	return (r.setup_flags & SETUP.SQPOLL) !== 0 && !r.disabled && r.sq.tail !== r.sq.head && !(r.sq.flags & SQ.NEED_WAKEUP);
}

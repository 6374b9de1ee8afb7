/*
 * In-flight requests at dump time.  Requests that wait for an outside
 * event and can be re-armed (src/capture/rearm.ts) go into the image and
 * are submitted again at restore.  Requests that complete by themselves
 * (file I/O, io-wq work) are waited for; those that never would and cannot
 * be re-armed fail the dump before anything changed, naming each one and
 * why, and the process keeps running untouched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { InflightRequest, ProcessRings } from '../capture/model';
import { captureProcess } from '../capture';
import { rearmable, waitsForEvents } from '../capture/rearm';
import { nsPid } from './pids';

export const DRAIN_MS = Number(process.env.CRIU_URING_DRAIN_MS ?? 2000);

/** pid and every descendant process (the tree CRIU dumps). */
export function processTree(root: number): number[] {
	const out: number[] = [];
	const walk = (pid: number): void => {
		out.push(pid);
		let tasks: string[] = [];
		try {
			tasks = readdirSync(`/proc/${pid}/task`);
		} catch {
			return;
		}
		for (const tid of tasks) {
			let children = '';
			try {
				children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
			} catch {
				continue;
			}
			for (const c of children.trim().split(/\s+/).filter(Boolean)) walk(Number(c));
		}
	};
	walk(root);
	return out;
}

export function describe(pid: number, ring: number, q: InflightRequest): string {
	const target = q.fd === null ? '' : ` on ${q.fixed ? 'fixed file' : 'fd'} ${q.fd}`;
	const why = q.rearm && !q.rearm.ok ? `: not re-armable, ${q.rearm.why}` : '';
	return `pid ${pid} ring ${ring}: ${q.opcode} user_data ${q.user_data}${target} (${q.state}${why})`;
}

/*
 * Requests that complete only when something outside the ring happens
 * (data arrives, a timer fires, a futex is woken): while the tree still
 * runs, the dump waits for them; they are what makes a dump fail.  The rest
 * (io-wq work, iopoll, completions queued as task work) finish on their
 * own and are drained after the freeze (DumpSession.checkpoint).
 */
export { waitsForEvents };

export function inflightOf(p: ProcessRings, filter: (q: InflightRequest) => boolean = () => true): string[] {
	return p.rings.flatMap((r) => r.inflight.filter(filter).map((q) => describe(p.pid, r.inode, q)));
}

/*
 * Requests the dump has to wait for (or, with the cancel option, cancel):
 * everything in flight except what the restore re-arms (rearm.ts).
 */
export const notRearmed = (q: InflightRequest): boolean => !rearmable(q);

/* Requests waiting for an outside event that the restore cannot re-arm. */
export const blocksDump = (q: InflightRequest): boolean => waitsForEvents(q) && !rearmable(q);

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/**
 * Ring inode -> host pid of the process that rebuilds it at restore: the
 * lowest namespace pid holding it, as the image has it (stateOwners()).
 * An fd in a request means something only in the fd table of the process
 * that submitted it; the restore re-arms every request of a shared ring
 * from that owner, with the owner's fd for the request's file
 * (src/capture/bpf.ts requestFd).  Another holder, forked before the file
 * was opened, may not have it at all: its view of the request is not the
 * one that decides.  Processes that exited meanwhile are left out.
 */
export function ringOwners(processes: ProcessRings[]): Map<number, number> {
	const owner = new Map<number, { host: number; ns: number }>();
	for (const p of processes) {
		let ns: number;
		try {
			ns = nsPid(p.pid);
		} catch {
			continue;
		}
		for (const r of p.rings) {
			const cur = owner.get(r.inode);
			if (!cur || ns < cur.ns) owner.set(r.inode, { host: p.pid, ns });
		}
	}
	return new Map([...owner].map(([inode, o]) => [inode, o.host]));
}

/** p with only the rings it rebuilds (@owners from ringOwners(); a ring not in it is p's own). */
export function ownedPart(p: ProcessRings, owners: Map<number, number>): ProcessRings {
	const rings = p.rings.filter((r) => (owners.get(r.inode) ?? p.pid) === p.pid);
	return rings.length === p.rings.length ? p : { ...p, rings };
}

/**
 * Wait (bounded) until no process of the tree has requests in flight that
 * wait for outside events.  Returns those still in flight at the deadline.
 * @known holds the latest capture of every process seen so far, this
 * call's included: CRIU pauses the tree one process at a time, and a ring
 * shared with a process outside this subtree is judged by its owner
 * (ringOwners()), which may have been seen by an earlier call.
 */
export async function drain(root: number, ms = DRAIN_MS, known = new Map<number, ProcessRings>()): Promise<string[]> {
	const deadline = Date.now() + ms;
	for (;;) {
		const captures = processTree(root).flatMap((pid) => {
			try {
				const p = captureProcess(pid);
				known.set(pid, p);
				return [p];
			} catch {
				known.delete(pid);
				return []; /* exited meanwhile */
			}
		});
		const owners = ringOwners([...known.values()]);
		const pending = captures.flatMap((p) => inflightOf(ownedPart(p, owners), blocksDump));
		if (pending.length === 0 || Date.now() >= deadline) return pending;
		await sleep(20);
	}
}

export function inflightError(pending: string[]): Error {
	const shown = pending.slice(0, 8).join('; ');
	const more = pending.length > 8 ? `; and ${pending.length - 8} more` : '';
	return new Error(`io_uring requests in flight that do not complete by themselves: ${shown}${more}; ` +
		'the process was left running untouched (docs/inflight.md)');
}

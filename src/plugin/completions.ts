/*
 * Letting completions be posted while the tree is frozen.  Requests that
 * finish on their own (io-wq work, file I/O, timers) complete in kernel
 * context even while CRIU holds the tasks, but their CQEs are posted by
 * task work in the submitting thread — which runs only when that thread
 * returns to user space — and, on DEFER_TASKRUN rings, only when the owner
 * asks for events.  So the plugin injects, in each thread of the process,
 * a harmless getpid (task work runs on its way out) and, in the owner of
 * each DEFER_TASKRUN ring, io_uring_enter(GETEVENTS, min_complete 0),
 * which runs the ring's local work without waiting.  This is what the
 * application itself would do next; nothing it can observe is invented.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ProcessRings } from '../capture/model';
import type { Step } from '../restore/plan';
import { ownerHandle } from '../restore/owner';
import { ENTER, NR, SETUP } from '../uring/abi';

const PF_IO_WORKER = 0x10;

/* Application threads: io_uring's own kernel threads never return to user space. */
export function appThreads(pid: number): number[] {
	const tids: number[] = [];
	for (const name of readdirSync(`/proc/${pid}/task`)) {
		try {
			const stat = readFileSync(`/proc/${pid}/task/${name}/stat`, 'utf8');
			const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
			if (!(flags & PF_IO_WORKER)) tids.push(Number(name));
		} catch {
			/* exited */
		}
	}
	return tids;
}

/* A getpid in each application thread of @pid: its pending task work runs on the way out. */
export function taskWorkSteps(pid: number): Step[] {
	return appThreads(pid).flatMap((tid): Step[] =>
		[{ op: 'task', tid }, { op: 'sys', v: 'x', nr: NR.getpid, args: [], what: `run task work of thread ${tid}` }]);
}

export function completionSteps(p: ProcessRings): Step[] {
	const steps: Step[] = taskWorkSteps(p.pid);
	for (const r of p.rings) {
		if (!(r.setup_flags & SETUP.DEFER_TASKRUN) || r.inflight.length === 0) continue;
		const h = ownerHandle(p.pid, r);
		if (!h) continue; /* no way to name the ring from its owner */
		const flags = ENTER.GETEVENTS | (h.registered ? ENTER.REGISTERED_RING : 0);
		steps.push({ op: 'task', tid: h.tid },
			{ op: 'sys', v: 'x', nr: NR.io_uring_enter, args: [h.fd, 0, 0, flags, 0, 0], what: `run the local work of ring ${r.inode}` });
	}
	return steps;
}

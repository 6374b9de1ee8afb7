/*
 * Pids as CRIU's images hold them.
 *
 * CRIU's hooks get host pids (PAUSE_DEVICES, CHECKPOINT_DEVICES,
 * RESUME_DEVICES_LATE: `pid->real`), but its images hold the pids inside
 * the dumped tree's pid namespace, and a restore into a new pid namespace
 * gives every task a new host pid.  Our images follow CRIU: io_uring-<pid>.img,
 * RingHold.state_pid, registered-ring slot threads and SINGLE_ISSUER
 * submitters are all namespace pids.  The dump translates host -> namespace
 * once, when it writes an image (nsProcess); the restore translates the
 * threads a plan enters back to host tids (RestoredTree), after finding
 * which host pid CRIU restored each imaged process as.
 *
 * CRIU dumps one flat pid namespace (it refuses nested ones), so the
 * namespace pid of every task of the tree is the last field of the NSpid
 * line of /proc/<host tid>/status.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ProcessRings } from '../capture/model';

/** NSpid of a task as the helper (CRIU's pid namespace) sees it, or null when it is gone. */
function nsPids(hostTid: number): number[] | null {
	let status: string;
	try {
		status = readFileSync(`/proc/${hostTid}/status`, 'utf8');
	} catch {
		return null;
	}
	const m = /^NSpid:\s*([\d\s]+)$/m.exec(status);
	return m ? m[1].trim().split(/\s+/).map(Number) : [hostTid];
}

/** The pid of host task @hostTid inside its own (innermost) pid namespace. */
export function nsPid(hostTid: number): number {
	const ids = nsPids(hostTid);
	if (!ids) throw new Error(`task ${hostTid} is gone`);
	return ids[ids.length - 1];
}

/** Identity of a task's pid namespace ("pid:[4026531836]"), or null when it is gone. */
function pidNamespace(hostPid: number | 'self'): string | null {
	try {
		return readlinkSync(`/proc/${hostPid}/ns/pid`);
	} catch {
		return null;
	}
}

/**
 * A captured process with every pid it carries that goes into the image
 * (process, registered-ring slot threads, SINGLE_ISSUER submitter) turned
 * into namespace pids.  Everything else (the live capture, the steps run
 * during the dump) stays in host pids.
 */
export function nsProcess(p: ProcessRings): ProcessRings {
	const tid = (host: number, what: string): number => {
		const ids = nsPids(host);
		if (!ids) throw new Error(`process ${p.pid}: ${what} ${host} exited during the dump`);
		return ids[ids.length - 1];
	};
	return {
		...p,
		pid: tid(p.pid, 'process'),
		rings: p.rings.map((r) => ({
			...r,
			registered_slots: r.registered_slots.map((s) => ({ tid: tid(s.tid, 'thread'), index: s.index })),
			/* a submitter that exited has no namespace pid; the dump refuses such a ring later (checkIssuer) */
			submitter_tid: r.submitter_tid === null ? null : (nsPids(r.submitter_tid)?.at(-1) ?? r.submitter_tid),
		})),
	};
}

/**
 * The restored tree as the restore sees it: its tasks' namespace pids and
 * the host tids CRIU gave them.  Built once, at the first
 * RESUME_DEVICES_LATE, when every task is restored and stopped (no task
 * or thread comes or goes until the hooks are done).
 */
export class RestoredTree {
	/* namespace tid -> host tid, every thread of every task in the tree's pid namespace; null: the tree is in ours */
	private readonly hostTids: Map<number, number> | null = null;
	/* namespace tids that are thread group leaders (processes) */
	private readonly leaders = new Set<number>();

	/** @anyTask: a host pid CRIU gave a task of the tree (the hook's argument). */
	constructor(anyTask: number) {
		const ns = pidNamespace(anyTask);
		if (!ns) throw new Error(`restored task ${anyTask} is gone`);
		/* restored into CRIU's own pid namespace: namespace pids are host pids */
		if (ns === pidNamespace('self')) return;
		this.hostTids = new Map();
		for (const d of readdirSync('/proc')) {
			if (!/^\d+$/.test(d) || pidNamespace(Number(d)) !== ns) continue;
			let tasks: string[];
			try {
				tasks = readdirSync(`/proc/${d}/task`);
			} catch {
				continue;
			}
			for (const t of tasks) {
				const ids = nsPids(Number(t));
				if (!ids) continue;
				this.hostTids.set(ids[ids.length - 1], Number(t));
				if (t === d) this.leaders.add(ids[ids.length - 1]);
			}
		}
	}

	/** Host pid of the tree's process @vpid, or undefined when the tree has no such process. */
	hostPid(vpid: number): number | undefined {
		if (!this.hostTids) return existsSync(`/proc/${vpid}/task/${vpid}`) ? vpid : undefined;
		return this.leaders.has(vpid) ? this.hostTids.get(vpid) : undefined;
	}

	/** Host tid of the tree's thread @vtid; throws when there is none. */
	hostTid(vtid: number): number {
		const t = this.hostTids ? this.hostTids.get(vtid) : existsSync(`/proc/${vtid}`) ? vtid : undefined;
		if (t === undefined) throw new Error(`thread ${vtid} of the images is not among the restored tasks`);
		return t;
	}
}

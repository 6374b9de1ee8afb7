/*
 * The dump side of the plugin helper: the checks before CRIU freezes the
 * tree (PAUSE_DEVICES), the capture while it is frozen
 * (CHECKPOINT_DEVICES), the ring fds CRIU hands over (DUMP_EXT_FILE), and
 * the images at the end (plugin fini).
 */
import { existsSync } from 'node:fs';
import type { ProcessRings, RingState } from '../capture/model';
import { stateOwners } from '../image';
import { SETUP } from '../uring/params';
import { captureProcess } from '../capture';
import { readRingMemory } from '../capture/memory';
import type { RestoreRing } from '../restore/input';
import { cancelRequested, cancelSteps } from './cancel';
import { completionSteps } from './completions';
import { DRAIN_MS, drain, inflightError, inflightOf } from './inflight';
import { serialize } from '../restore/plan';
import { LOG_INFO, log } from './protocol';
import { unsupported } from './support';
import { ImageStore } from './store';

export class DumpSession {
	private readonly store: ImageStore;
	/* every process with rings captured so far, and each ring's memory (read once) */
	private readonly captured = new Map<number, ProcessRings>();
	private readonly memory = new Map<number, { rings: Buffer; sqes: Buffer; pbufRings: Map<number, Buffer>; regions: Buffer[] }>();
	private readonly written: number[] = [];
	private readonly extFiles = new Map<number, number>(); /* CRIU file id -> ring inode */
	private readonly drainStart = new Map<number, number>(); /* pid -> first checkpoint attempt */
	private readonly cancelled = new Set<string>(); /* "ring:user_data" cancelled on request (cancel.ts) */

	constructor(dir: string) {
		this.store = new ImageStore(dir);
	}

	/* Before the freeze: wait for requests that complete by themselves. */
	async pause(root: number): Promise<void> {
		const pending = await drain(root);
		/* CRIU_URING_CANCEL_INFLIGHT=1: cancelled once frozen, in checkpoint() */
		if (pending.length && !cancelRequested()) throw inflightError(pending);
	}

	/*
	 * The tree is frozen: capture one process and write its image.  While
	 * requests are still in flight, return the steps that let their
	 * completions be posted instead (the plugin runs them and asks again);
	 * at the deadline, fail naming them.
	 */
	checkpoint(pid: number): number | { retry: string[] } {
		const p = captureProcess(pid);
		if (p.rings.length === 0) return 0;
		if (p.source !== 'bpf')
			throw new Error(`process ${pid}: dumping io_uring needs the BPF capture (${p.unavailable[0] ?? 'unavailable'})`);
		const pending = inflightOf(p);
		if (pending.length) {
			const started = this.drainStart.get(pid) ?? Date.now();
			this.drainStart.set(pid, started);
			if (Date.now() - started >= DRAIN_MS) throw inflightError(pending);
			const cancel = cancelRequested() ? cancelSteps(p, this.cancelled) : [];
			return { retry: serialize([...cancel, ...completionSteps(p)]) };
		}
		this.refuseUnsupported(p);
		/* a ring shared with a process captured earlier: the tree is frozen, its memory is the same */
		for (const r of p.rings) if (!this.memory.has(r.inode)) this.memory.set(r.inode, readRingMemory(pid, r));
		this.captured.set(pid, p);
		this.writeSharing(p);
		log(LOG_INFO, `process ${pid}: ${p.rings.length} ring(s) checkpointed`);
		return p.rings.length;
	}

	/*
	 * A ring's state goes in the image of its lowest-pid holder, and CRIU
	 * checkpoints in tree order: (re)write the images of every captured
	 * process that shares a ring with p, with the owners known so far.
	 */
	private writeSharing(p: ProcessRings): void {
		const owners = stateOwners([...this.captured.values()]);
		const inodes = new Set(p.rings.map((r) => r.inode));
		for (const q of this.captured.values()) {
			if (q !== p && !q.rings.some((r) => inodes.has(r.inode))) continue;
			for (const r of q.rings) this.checkIssuer(r, owners.get(r.inode)!);
			const rings: RestoreRing[] = q.rings.map((r) => {
				const mem = this.memory.get(r.inode)!;
				return { state: r, rings: mem.rings, sqes: mem.sqes, pbufRings: mem.pbufRings, regions: mem.regions, cloexec: new Map() };
			});
			this.store.writeProcess(q, rings, owners);
			if (!this.written.includes(q.pid)) this.written.push(q.pid);
		}
	}

	/* The owner rebuilds the ring from its SINGLE_ISSUER submitter thread, which must be one of its own. */
	private checkIssuer(r: RingState, owner: number): void {
		if (!(r.setup_flags & SETUP.SINGLE_ISSUER) || !r.submitter_tid || existsSync(`/proc/${owner}/task/${r.submitter_tid}`)) return;
		throw new Error(`ring ${r.inode}: its SINGLE_ISSUER submitter ${r.submitter_tid} is not a thread of process ${owner}, the lowest pid holding it; not supported yet`);
	}

	private refuseUnsupported(p: ProcessRings): void {
		const why = p.rings.flatMap((r) => unsupported(r).map((w) => `ring ${r.inode}: ${w}`));
		if (why.length)
			throw new Error(`process ${p.pid}: cannot checkpoint ${why.join('; ')} (not supported yet; see docs/limitations.md)`);
	}

	extFile(id: number, inode: number): void {
		this.extFiles.set(id, inode);
	}

	finish(ret: number): void {
		if (ret === 0) this.store.writeExtFiles(this.extFiles);
		else this.store.removeAll(this.written);
	}
}

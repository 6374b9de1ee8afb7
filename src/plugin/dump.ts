/*
 * The dump side of the plugin helper: the checks before CRIU freezes the
 * tree (PAUSE_DEVICES), the capture while it is frozen
 * (CHECKPOINT_DEVICES), the ring fds CRIU hands over (DUMP_EXT_FILE), and
 * the images at the end (plugin fini).
 */
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import type { ProcessRings, RingState } from '../capture/model';
import { stateOwners } from '../image';
import { captureProcess } from '../capture';
import { captureGaps } from '../capture/gaps';
import { readRingMemory, type RingMemory } from '../capture/memory';
import type { RestoreRing } from '../restore/input';
import { cancelRequested, cancelSteps } from './cancel';
import { completionSteps, taskWorkSteps } from './completions';
import { DRAIN_MS, drain, inflightError, inflightOf, notRearmed, ownedPart, processTree, ringOwners } from './inflight';
import { changedSince, mayChange, sqpollTaking } from './verify';
import { udpReceives } from './datagrams';
import { warmUp } from './warmup';
import { serialize } from '../restore/plan';
import { PinnedContents } from './pinned';
import { nsProcess } from './pids';
import { LOG_INFO, log } from './protocol';
import { unsupported } from './support';
import { ImageStore } from './store';
import { removeSavedPlan, SAVED_PLAN, savedPlanWanted, writeSavedPlan } from './saved-plan';
import { SETUP } from '../uring/abi';

/* A ring without DEFER_TASKRUN with requests in flight: their poll wakeups may have queued task work (checkpoint()). */
const needsFlush = (p: ProcessRings): boolean =>
	p.rings.some((r) => r.inflight.length > 0 && !(r.setup_flags & SETUP.DEFER_TASKRUN));

/*
 * Test hook (test/window.test.ts; never set it in production): a shell
 * command run once a process's rings are captured, with the pid as $1, so
 * that a test can make an event happen exactly between the capture and
 * the end of the dump (DumpSession.verify()).
 */
function afterCapture(pid: number): void {
	const cmd = process.env.CRIU_URING_TEST_AFTER_CAPTURE;
	/* required here: child_process and the stream modules it loads cost every helper 5-10 ms of start-up */
	if (cmd) (require('node:child_process') as typeof import('node:child_process')).execFileSync('/bin/sh', ['-c', cmd, 'sh', String(pid)], { stdio: 'ignore', timeout: 10_000 });
}

export class DumpSession {
	private readonly store: ImageStore;
	/* every process with rings captured so far, and each ring's memory (read once) */
	private readonly captured = new Map<number, ProcessRings>();
	private readonly memory = new Map<number, RingMemory>();
	private readonly written: number[] = []; /* namespace pids of the images written */
	private readonly extFiles = new Map<number, number>(); /* CRIU file id -> ring inode */
	private readonly drainStart = new Map<number, number>(); /* pid -> first checkpoint attempt */
	private readonly flushed = new Set<number>(); /* pids whose pending task work ran once frozen */
	private readonly flushFirst = new Set<number>(); /* pids seen needing that before the freeze */
	private readonly cancelled = new Set<string>(); /* "ring:user_data" cancelled on request (cancel.ts) */
	private readonly pinned: PinnedContents; /* contents of registered buffers the process unmapped */
	/* epoll file (kernel address, stable while the tree is frozen) -> its id in the images: one id per set shared across processes */
	private readonly epollIds = new Map<string, number>();
	/* the latest capture of each process before the freeze, and who rebuilds each ring (inflight.ts ringOwners) */
	private readonly paused = new Map<number, ProcessRings>();
	private owners = new Map<number, number>();

	constructor(private readonly dir: string) {
		this.store = new ImageStore(dir);
		this.pinned = new PinnedContents(dir);
		removeSavedPlan(dir); /* an earlier dump's, into the same directory */
	}

	/*
	 * Before the freeze: wait for requests that complete by themselves,
	 * then run the checkpoint's code once so the frozen window runs it warm
	 * (warmup.ts).
	 */
	async pause(root: number): Promise<void> {
		/* processes whose pending task work the checkpoint runs first, before capturing (checkpoint()) */
		const pending = await drain(root, DRAIN_MS, this.paused);
		for (const pid of processTree(root)) if (this.paused.has(pid) && needsFlush(this.paused.get(pid)!)) this.flushFirst.add(pid);
		this.owners = ringOwners([...this.paused.values()]);
		/* CRIU_URING_CANCEL_INFLIGHT=1: cancelled once frozen, in checkpoint() */
		if (pending.length && !cancelRequested()) throw inflightError(pending);
		warmUp(processTree(root).flatMap((pid) => this.paused.get(pid) ?? []));
	}

	/*
	 * The tree is frozen: capture one process and write its image.  While
	 * requests are still in flight, return the steps that let their
	 * completions be posted instead (the plugin runs them and asks again);
	 * at the deadline, fail naming them.
	 */
	checkpoint(pid: number): number | { retry: string[] } {
		/* known before the freeze to need it: the flush below, without a capture first (10,000 requests take most of a second) */
		if (this.flushFirst.has(pid) && !this.flushed.has(pid)) {
			this.flushed.add(pid);
			return { retry: serialize(taskWorkSteps(pid)) };
		}
		const p = captureProcess(pid);
		if (p.rings.length === 0) return 0;
		if (p.source !== 'bpf')
			throw new Error(`process ${pid}: dumping io_uring needs the BPF capture (${p.unavailable[0] ?? 'unavailable'})`);
		const gaps = captureGaps(p.unavailable);
		if (gaps.length)
			throw new Error(`process ${pid}: cannot checkpoint on this kernel (Linux ${release()}): the capture cannot read its ${gaps.join(', ')}`);
		/*
		 * Requests the restore re-arms stay in flight: they go into the
		 * image.  Those of a ring shared with a process that rebuilds it are
		 * judged (and, on request, cancelled) there, not here.
		 */
		const mine = ownedPart(p, this.owners);
		const pending = inflightOf(mine, notRearmed);
		if (pending.length) return this.retry(pid, p, inflightError(pending).message);
		/*
		 * An event that happened after the tree stopped running (data on a
		 * socket an armed RECV polls) has queued task work that posts its
		 * completion.  CRIU's parasite would run it after this capture, when
		 * the thread first returns to user space, and the completion (with
		 * the data it took from the socket) would be lost.  Run it now, once,
		 * as the application would next (a getpid in each thread).  Not for
		 * DEFER_TASKRUN rings: their task work runs only when the owner asks
		 * for events, which the parasite never does (docs/inflight.md).
		 */
		if (!this.flushed.has(pid) && needsFlush(p)) {
			this.flushed.add(pid);
			return { retry: serialize(taskWorkSteps(pid)) };
		}

		this.refuseUnsupported(mine);
		/* buffers the process unmapped: their pinned pages are read from inside it first (pinned.ts) */
		const pinned = this.pinned.round(p);
		if (pinned.length) return { retry: serialize(pinned) };
		/* a ring shared with a process captured earlier: the tree is frozen, its memory is the same */
		const read = p.rings.filter((r) => !this.memory.has(r.inode));
		for (const r of read) this.memory.set(r.inode, readRingMemory(pid, r));
		const busy = p.rings.find(sqpollTaking);
		if (busy || !this.stable(pid, p, read)) {
			for (const r of read) this.memory.delete(r.inode);
			return this.retry(pid, p, busy ? `ring ${busy.inode}: its SQPOLL thread did not take the SQEs published before the freeze`
				: 'ring state changed while it was captured');
		}
		this.captured.set(pid, p);
		this.writeSharing(p);
		log(LOG_INFO, `process ${pid}: ${p.rings.length} ring(s) checkpointed`);
		afterCapture(pid);
		return p.rings.length;
	}

	/* Ask the plugin to let completions be posted and try again, until the deadline. */
	private retry(pid: number, p: ProcessRings, why: string): { retry: string[] } {
		const started = this.drainStart.get(pid) ?? Date.now();
		this.drainStart.set(pid, started);
		if (Date.now() - started >= DRAIN_MS) throw new Error(`process ${pid}: ${why}`);
		/* only the rings p rebuilds: another holder's fds do not name the requests' files */
		const cancel = cancelRequested() ? cancelSteps(ownedPart(p, this.owners), this.cancelled) : [];
		return { retry: serialize([...cancel, ...completionSteps(p)]) };
	}

	/*
	 * The tree is frozen, but io_uring's own threads are not: an SQPOLL
	 * thread may still be consuming SQEs (and io-wq posting) between the
	 * capture and the memory read.  The snapshot is used only if a second
	 * capture finds the same indices, the memory read in between shows
	 * the shared heads and tails the capture saw, and no ring was captured
	 * half way through a batch (kernel cached SQ head / CQ tail not yet
	 * published to the shared ones).
	 */
	private stable(pid: number, p: ProcessRings, read: RingState[]): boolean {
		/*
		 * Only a ring with an SQ thread or requests in flight can move while
		 * the tree is frozen (verify.ts mayChange, which the check at the
		 * end of the dump uses too): the others are not captured again.
		 */
		const again = new Map(p.rings.some(mayChange) ? captureProcess(pid).rings.map((r) => [r.inode, r]) : []);
		const key = (r: RingState): string => JSON.stringify([r.sq, r.cq, r.inflight.length, r.overflow_cqes.length]);
		/* the kernel publishes its cached SQ head and CQ tail at the end of a batch: a difference means half way through one */
		const midBatch = (r: RingState): boolean =>
			(r.sq.cached_head !== null && r.sq.cached_head !== r.sq.head) || (r.cq.cached_tail !== null && r.cq.cached_tail !== r.cq.tail);
		for (const r of p.rings) {
			if (midBatch(r)) return false;
			if (!mayChange(r)) continue;
			const a = again.get(r.inode);
			if (!a || key(a) !== key(r)) return false;
		}
		for (const r of read) {
			const m = this.memory.get(r.inode)!;
			if (r.setup_flags & SETUP.NO_MMAP) continue;
			const u32 = (off: number): number => m.rings.readUInt32LE(off);
			if (u32(m.params.sq_off.head) !== r.sq.head || u32(m.params.cq_off.tail) !== r.cq.tail) return false;
		}
		return true;
	}

	/*
	 * A ring's state goes in the image of its lowest-pid holder, and CRIU
	 * checkpoints in tree order: (re)write the images of every captured
	 * process that shares a ring with p, with the owners known so far.
	 * Images hold pids inside the dumped pid namespace, as CRIU's own do
	 * (pids.ts); the capture and everything done during the dump stay in
	 * host pids.
	 */
	private writeSharing(p: ProcessRings): void {
		const ns = new Map([...this.captured.values()].map((q) => [q.pid, nsProcess(q)]));
		const hostOf = new Map([...ns].map(([host, v]) => [v.pid, host]));
		const owners = stateOwners([...ns.values()]);
		const inodes = new Set(p.rings.map((r) => r.inode));
		for (const q of this.captured.values()) {
			if (q !== p && !q.rings.some((r) => inodes.has(r.inode))) continue;
			for (const r of q.rings) this.checkIssuer(r, hostOf.get(owners.get(r.inode)!)!);
			const v = ns.get(q.pid)!;
			const rings: RestoreRing[] = v.rings.map((r) => {
				const mem = this.memory.get(r.inode)!;
				return { state: r, rings: mem.rings, sqes: mem.sqes, pbufRings: mem.pbufRings, regions: mem.regions,
					buffers: this.pinned.contents(r.inode), cloexec: new Map() };
			});
			this.store.writeProcess(v, rings, owners, this.epollIds);
			if (!this.written.includes(v.pid)) this.written.push(v.pid);
		}
		this.store.writeExtFiles(this.extFiles, this.written);
	}

	/* The owner rebuilds the ring from its SINGLE_ISSUER submitter thread, which must be one of its own (host pids). */
	private checkIssuer(r: RingState, owner: number): void {
		if (!(r.setup_flags & SETUP.SINGLE_ISSUER) || !r.submitter_tid || existsSync(`/proc/${owner}/task/${r.submitter_tid}`)) return;
		throw new Error(`ring ${r.inode}: its SINGLE_ISSUER submitter ${r.submitter_tid} is not a thread of process ${owner}, the lowest pid holding it; not supported yet`);
	}

	private refuseUnsupported(p: ProcessRings): void {
		const why = p.rings.flatMap((r) => unsupported(r).map((w) => `ring ${r.inode}: ${w}`));
		if (why.length)
			throw new Error(`process ${p.pid}: cannot checkpoint ${why.join('; ')} (not supported yet; see docs/limitations.md)`);
	}

	/*
	 * io_uring-files.img is rewritten whenever it changes (new ring fds, a
	 * new image), not only at the end: a dump whose helper dies after the
	 * last hook (plugin fini) still leaves complete images.
	 */
	addExtFiles(files: [number, number][]): void {
		for (const [id, inode] of files) this.extFiles.set(id, inode);
		this.store.writeExtFiles(this.extFiles, this.written);
	}

	/*
	 * How many rings of the processes captured so far have an fd: CRIU
	 * hands each such ring's file to the plugin once (DUMP_EXT_FILE), after
	 * every process was checkpointed, and the plugin sends them all in one
	 * "extfile" request when the last one came (plugin-c/plugin.c).
	 */
	ringFiles(): number {
		const inodes = new Set<number>();
		for (const p of this.captured.values()) for (const r of p.rings) if (r.fds.length) inodes.add(r.inode);
		return inodes.size;
	}

	/*
	 * DUMP_DEVICES_LATE: every task is dumped and still stopped.  Capture
	 * again each ring that may have changed meanwhile (verify.ts) and fail
	 * the dump if one did: an event after the capture may have moved data
	 * out of a socket or pipe CRIU dumped later into a completion no image
	 * holds.  CRIU then resumes the tree, which finds its completion.
	 */
	verify(): void {
		const done = new Set<number>();
		for (const [pid, p] of this.captured) {
			const rings = p.rings.filter((r) => !done.has(r.inode) && mayChange(r));
			if (!rings.length) continue;
			const now = new Map(captureProcess(pid).rings.map((r) => [r.inode, r]));
			const datagrams = udpReceives(pid, rings);
			for (const r of rings) {
				done.add(r.inode);
				const why = changedSince(r, now.get(r.inode), datagrams.get(r.inode));
				if (why)
					throw new Error(`process ${pid}: ring ${r.inode} changed after it was captured: ${why} while CRIU dumped the tree; ` +
						'the dump is abandoned so that nothing is lost (the process runs on; dump it again)');
			}
		}
	}

	finish(ret: number): void {
		this.pinned.cleanup();
		if (ret !== 0) {
			this.store.removeAll(this.written);
			return;
		}
		if (this.written.length && savedPlanWanted()) this.savePlan();
	}

	/*
	 * The restore's plan, made now by the restore's own code from the images
	 * just written (saved-plan.ts): a restore on this kernel then starts no
	 * helper.  Whatever prevents it only costs that restore the helper.  It
	 * is made while the tree is still frozen (CRIU has no later hook), at
	 * about 0.3 ms per ring, and saves the restore one Node start and the
	 * helper's planning, which costs it more per ring (docs/saved-plan.md).
	 */

	private savePlan(): void {
		const t0 = performance.now();
		try {
			const bytes = writeSavedPlan(this.dir, new (require('./restore') as typeof import('./restore')).RestoreSession(this.dir, true, true));
			log(LOG_INFO, `restore plan saved in ${SAVED_PLAN} (${bytes} bytes, ${(performance.now() - t0).toFixed(1)} ms)`);
		} catch (e) {
			removeSavedPlan(this.dir);
			log(LOG_INFO, `no restore plan saved (the restore will plan with the helper): ${(e as Error).message}`);
		}
	}
}


/*
 * The dump side of the plugin helper: the checks before CRIU freezes the
 * tree (PAUSE_DEVICES), the capture while it is frozen
 * (CHECKPOINT_DEVICES), the ring fds CRIU hands over (DUMP_EXT_FILE), and
 * the images at the end (plugin fini).
 */
import { readFileSync } from 'node:fs';
import type { ProcessRings } from '../capture/model';
import { captureProcess } from '../capture';
import { readRingMemory } from '../capture/memory';
import type { RestoreRing } from '../restore/input';
import { completionSteps } from './completions';
import { DRAIN_MS, drain, inflightError, inflightOf } from './inflight';
import { serialize } from '../restore/plan';
import { LOG_INFO, log } from './protocol';
import { unsupported } from './support';
import { ImageStore } from './store';

const O_CLOEXEC = 0o2000000;

function fdCloexec(pid: number, fd: number): boolean {
	const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
	return flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) !== 0;
}

export class DumpSession {
	private readonly store: ImageStore;
	/* ring inode -> pid whose image carries the ring's state */
	private readonly owners = new Map<number, number>();
	private readonly written: number[] = [];
	private readonly extFiles = new Map<number, number>(); /* CRIU file id -> ring inode */
	private readonly drainStart = new Map<number, number>(); /* pid -> first checkpoint attempt */

	constructor(dir: string) {
		this.store = new ImageStore(dir);
	}

	/* Before the freeze: wait for requests that complete by themselves. */
	async pause(root: number): Promise<void> {
		const pending = await drain(root);
		if (pending.length) throw inflightError(pending);
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
			return { retry: serialize(completionSteps(p)) };
		}
		this.refuseUnsupported(p);
		const rings: RestoreRing[] = [];
		const shared: number[] = [];
		for (const r of p.rings) {
			if (this.owners.has(r.inode)) {
				shared.push(r.inode);
				continue;
			}
			const mem = readRingMemory(pid, r);
			rings.push({ state: r, rings: mem.rings, sqes: mem.sqes,
				cloexec: new Map(r.fds.map((fd) => [fd, fdCloexec(pid, fd)])) });
			this.owners.set(r.inode, pid);
		}
		if (shared.length)
			throw new Error(`process ${pid} shares io_uring instance(s) ${shared.join(', ')} with process ${this.owners.get(shared[0])}; rings shared across processes are not supported yet`);
		this.store.writeProcess(p, rings);
		this.written.push(pid);
		log(LOG_INFO, `process ${pid}: ${rings.length} ring(s) checkpointed`);
		return rings.length;
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

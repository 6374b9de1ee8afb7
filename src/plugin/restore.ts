/*
 * The restore side of the plugin helper: validate every io_uring image
 * before CRIU restores anything (plugin init), say which external files
 * are ring fds (RESTORE_EXT_FILE), and plan each process's rings
 * (RESUME_DEVICES_LATE).
 *
 * A ring several processes hold (fork) is rebuilt once, by the plan of
 * the process whose image carries its state; that plan also installs it
 * in the other holders (concerns/shared.ts).  RESUME_DEVICES_LATE runs
 * for every process only once all of them are restored and stopped, so
 * the order in which CRIU asks for the plans does not matter.
 *
 * Images and plans are keyed by pids inside the dumped pid namespace
 * (pids.ts); CRIU asks with host pids, and a restore into a new pid
 * namespace gives the tasks new ones.  The first RESUME_DEVICES_LATE
 * finds every imaged process among the restored tasks, or fails the
 * restore (CRIU then kills the tree): no task may run without a ring it had.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { imageName, readImages } from '../image';
import { serialize, type ByteRef, type Step } from '../restore/plan';
import { planImages } from '../restore/planner';
import { nsPid, RestoredTree } from './pids';
import { LOG_INFO, log } from './protocol';
import { ImageStore } from './store';
import { fileRef } from './saved-plan';
import { HEADER_SIZE } from '../image/envelope';

export class RestoreSession {
	private readonly plans: Map<number, Step[]>; /* namespace pid -> its rings' plan */
	private readonly extFiles: Map<number, number>;
	private readonly imaged: number[]; /* namespace pids with an image */
	/** The bytes of every io_uring-<pid>.img read, by file name; the images' bytes fields are views into them. */
	readonly imageFiles = new Map<string, Buffer>();
	private tree: RestoredTree | null = null;

	/** @required: CRIU's inventory says the dump captured rings, so their images must be here. */
	constructor(dir: string, required: boolean, quiet = false) {
		const ext = new ImageStore(dir).readExtFiles();
		if (!ext && required)
			throw new Error(`io_uring-files.img is missing in ${dir}, but the dump captured io_uring rings (CRIU's inventory names the io_uring plugin)`);
		for (const pid of ext?.processes ?? [])
			if (!existsSync(path.join(dir, imageName(pid)))) throw new Error(`${imageName(pid)} is missing in ${dir}: process ${pid} had io_uring rings at dump`);
		const images = readImages(dir, this.imageFiles); /* each image and the set validated: nothing is restored if one is bad */
		this.imaged = images.map((img) => img.process!.pid);
		this.extFiles = ext?.ids ?? new Map();
		/* plan now, so an image the planner cannot handle fails the restore before it starts */
		this.plans = planImages(images);
		const n = images.reduce((sum, img) => sum + img.rings.length, 0);
		if (n && !quiet) log(LOG_INFO, `${n} ring(s) of ${images.length} process(es) to restore`);
	}

	ringFileIds(): number[] {
		return [...this.extFiles.keys()];
	}

	/**
	 * Every process's plan with its threads as namespace tids, by namespace
	 * pid (saved-plan.ts); @ref: where write steps' bytes lie in a file (plan.ts).
	 */
	namespacePlans(ref?: ByteRef): Map<number, string[]> {
		return new Map([...this.plans].sort(([a], [b]) => a - b).map(([pid, steps]) => [pid, serialize(steps, ref)]));
	}

	/** The plan of the task CRIU restored as host pid @hostPid, its threads in host tids; null: it had no rings. */
	plan(hostPid: number): string[] | null {
		const tree = (this.tree ??= this.findTree(hostPid));
		const pid = nsPid(hostPid);
		const steps = this.plans.get(pid);
		if (!steps) return null;
		if (pid !== hostPid) log(LOG_INFO, `process ${pid} of the images was restored as host pid ${hostPid}`);
		/* ring bytes by their place in the images read (writeimg), each image named first with its envelope header (file) */
		const used = new Set<string>();
		const ref = fileRef(this.imageFiles);
		const lines = serialize(steps.map((s) => (s.op === 'task' ? { ...s, tid: tree.hostTid(s.tid) } : s)), (data) => {
			const at = ref(data);
			if (at) used.add(at[0]);
			return at;
		});
		return [...[...used].sort().map((name) => `file ${name} ${this.imageFiles.get(name)!.subarray(0, HEADER_SIZE).toString('hex')}`), ...lines];
	}

	/* The restored tree, once every imaged process is found in it. */
	private findTree(anyTask: number): RestoredTree {
		const tree = new RestoredTree(anyTask);
		const lost = this.imaged.filter((pid) => tree.hostPid(pid) === undefined);
		if (lost.length)
			throw new Error(`process(es) ${lost.join(', ')} had io_uring rings at dump (${lost.map(imageName).join(', ')}) but are not among the restored tasks`);
		return tree;
	}
}

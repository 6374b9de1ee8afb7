/*
 * The restore side of the plugin helper: validate every io_uring image
 * before CRIU restores anything (plugin init), say which external files
 * are ring fds (RESTORE_EXT_FILE), and plan each process's rings
 * (RESUME_DEVICES_LATE).
 */
import type { RestoreRing } from '../restore/input';
import { serialize } from '../restore/plan';
import { planRing } from '../restore/planner';
import { LOG_INFO, log } from './protocol';
import { ImageStore } from './store';

export class RestoreSession {
	private readonly rings: Map<number, RestoreRing[]>;
	private readonly extFiles: Map<number, number>;

	constructor(dir: string) {
		const store = new ImageStore(dir);
		this.rings = store.readAll();
		this.extFiles = store.readExtFiles();
		let n = 0;
		for (const [pid, rs] of this.rings) {
			n += rs.length;
			/* plan now, so an image the planner cannot handle fails the restore before it starts */
			rs.forEach((r, i) => planRing(pid, r, i));
		}
		if (n) log(LOG_INFO, `${n} ring(s) of ${this.rings.size} process(es) to restore`);
	}

	isRingFile(id: number): number | undefined {
		return this.extFiles.get(id);
	}

	ringFileIds(): number[] {
		return [...this.extFiles.keys()];
	}

	plan(pid: number): string[] | null {
		const rs = this.rings.get(pid);
		if (!rs || rs.length === 0) return null;
		return serialize(rs.flatMap((r, i) => planRing(pid, r, i)));
	}
}

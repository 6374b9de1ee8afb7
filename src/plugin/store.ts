/*
 * The plugin's images in CRIU's image directory: one io_uring-<pid>.img
 * per process with rings (src/image/; pids inside the dumped pid
 * namespace, as in CRIU's own images: pids.ts), and io_uring-files.img,
 * the CRIU external-file ids that are ring fds and the pids that have an
 * image, so a restore notices a missing one.
 */
import { readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProcessRings } from '../capture/model';
import { fromCapture, RingMemory, validateImage, writeImage, imageName, writeAtomic } from '../image';
import { unwrapPayload, wrapPayload } from '../image/envelope';
import type { RestoreRing } from '../restore/input';

const EXTFILES = 'io_uring-files.img';
const EXTFILES_MAGIC = 'criu-uring ext-files v2';
const EXTFILES_MAGIC_V1 = 'criu-uring ext-files v1'; /* no "process" lines */

/** io_uring-files.img: ring fd file ids, and the processes with an image (null: a v1 file, unknown). */
export interface ExtFiles {
	ids: Map<number, number>;
	processes: number[] | null;
}

function toolVersion(): string {
	try {
		return JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version;
	} catch {
		return 'unknown';
	}
}

/*
 * Files are replaced atomically (temporary file + rename) as the dump goes
 * on, so a helper that dies never leaves a torn file.  They are not
 * fsync'ed: that would cost milliseconds per write while the tree is
 * frozen, and CRIU syncs none of its own images either (a checkpoint is
 * made durable as a whole, with sync(1) or by the filesystem).
 */
export class ImageStore {
	constructor(private readonly dir: string) {}

	/**
	 * stateOwner: ring inode -> pid whose image carries its state (rings shared across processes);
	 * epollIds: epoll file -> its id in this checkpoint (fromCapture adds new ones).
	 */
	writeProcess(p: ProcessRings, rings: RestoreRing[], stateOwner?: Map<number, number>, epollIds?: Map<string, number>): void {
		const memory: RingMemory = new Map(rings.map((r) => [r.state.inode, { rings: r.rings, sqes: r.sqes, pbufRings: r.pbufRings, buffers: r.buffers, regions: r.regions }]));
		const img = fromCapture({ ...p, rings: rings.map((r) => r.state) }, memory,
			{ kernelRelease: os.release(), toolVersion: toolVersion(), stateOwner, epollIds });
		validateImage(img, imageName(p.pid));
		writeImage(this.dir, p.pid, img, { sync: false });
	}

	/* "id inode" and "process pid" lines after a magic line, in the same checksummed envelope as the ring images */
	writeExtFiles(ids: Map<number, number>, processes: number[]): void {
		const body = [EXTFILES_MAGIC, ...[...ids].map(([id, inode]) => `${id} ${inode}`),
			...[...processes].sort((a, b) => a - b).map((pid) => `process ${pid}`)].join('\n') + '\n';
		writeAtomic(path.join(this.dir, EXTFILES), wrapPayload(Buffer.from(body)), false);
	}

	/** null when the file does not exist. */
	readExtFiles(): ExtFiles | null {
		let raw: Buffer;
		try {
			raw = readFileSync(path.join(this.dir, EXTFILES));
		} catch (e) {
			if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
			throw new Error(`${EXTFILES}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
		}
		const text = unwrapPayload(raw, EXTFILES).toString('utf8');
		const [magic, ...lines] = text.trimEnd().split('\n');
		if (magic !== EXTFILES_MAGIC && magic !== EXTFILES_MAGIC_V1) throw new Error(`${EXTFILES}: not a criu-uring ext-files image`);
		const ids = new Map<number, number>();
		const processes: number[] = [];
		for (const l of lines) {
			const m = /^(?:(\d+) (\d+)|process (\d+))$/.exec(l);
			if (!m) throw new Error(`${EXTFILES}: damaged line '${l}'`);
			if (m[3] !== undefined) processes.push(Number(m[3]));
			else ids.set(Number(m[1]), Number(m[2]));
		}
		return { ids, processes: magic === EXTFILES_MAGIC ? processes : null };
	}

	removeAll(pids: number[]): void {
		for (const pid of pids) rmSync(path.join(this.dir, imageName(pid)), { force: true });
		rmSync(path.join(this.dir, EXTFILES), { force: true });
	}
}

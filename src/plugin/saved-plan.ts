/*
 * The restore plan, saved by the dump (docs/saved-plan.md).
 *
 * A restore's helper reads the io_uring images, checks them and plans
 * every ring (restore.ts); the plan is a function of those images and of
 * the kernel the restore runs on, nothing else (the restored tasks' host
 * tids are filled in when a plan is handed out, and everything else that
 * depends on the moment of the restore, such as a time namespace's offset,
 * is a step the C plugin evaluates as it runs it).  So the dump, which has
 * just written the images and runs on a kernel, makes the same plan once,
 * with the same code, and writes it next to the images with what it
 * depends on.  A restore whose images and kernel match runs it from the C
 * plugin and starts no Node at all (plugin-c/saved_plan.c); any difference
 * (another kernel, another CPU count, an image edited or damaged, a file
 * added or missing, another build) and the restore plans with the helper,
 * as without a saved plan.
 *
 * Format (text, one item per line):
 *   criu-uring saved plan 2
 *   protocol PROTOCOL              plugin-c/helper.h HELPER_PROTOCOL
 *   kernel RELEASE                 uname -r
 *   kversion VERSION               uname -v
 *   cpus N                         online CPUs (io-wq affinity masks)
 *   uring_disabled V               /proc/sys/kernel/io_uring_disabled, "-": none
 *   image NAME HEADER              every io_uring-files.img and io_uring-<pid>.img:
 *                                  its envelope header (src/image/envelope.ts) in
 *                                  hex, which holds the payload's length and SHA-256
 *   extfiles ID...                 CRIU file ids that are ring fds
 *   process PID N                  namespace pid, then N step lines (threads as
 *                                  namespace tids) and "end"; ring and SQE
 *                                  bytes as writeimg steps naming where they
 *                                  lie in an image above (src/restore/plan.ts)
 *   sha256 SHA256                  of every byte before this line
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, version } from 'node:os';
import * as path from 'node:path';
import { writeAtomic } from '../image';
import { HEADER_SIZE, unwrapPayload } from '../image/envelope';
import { PROTOCOL_VERSION } from './protocol';
import { sha256 as digest } from '../util/sha256';
import type { RestoreSession } from './restore';
import type { ByteRef } from '../restore/plan';

export const SAVED_PLAN = 'io_uring-restore.plan';
/* 2: writeimg steps (format 1 carried every write's bytes as hex) */
const MAGIC = 'criu-uring saved plan 2';
const IMAGE_RE = /^io_uring-(\d+|files)\.img$/;

/** CRIU_URING_SAVED_PLAN=0: the dump saves no plan and the restore uses none. */
export const savedPlanWanted = (): boolean => process.env.CRIU_URING_SAVED_PLAN !== '0';

const sha256 = (data: string | Buffer): string => digest(typeof data === 'string' ? Buffer.from(data) : data).toString('hex');

function uringDisabled(): string {
	try {
		return readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
	} catch {
		return '-';
	}
}

/** What every saved plan depends on besides the images: the same lines the C plugin builds at restore. */
function keyLines(): string[] {
	return [`protocol ${PROTOCOL_VERSION}`, `kernel ${release()}`, `kversion ${version()}`,
		`cpus ${cpus().length}`, `uring_disabled ${uringDisabled()}`];
}

/** Remove a saved plan (an earlier dump's in the same directory, or this one's after a failure). */
export function removeSavedPlan(dir: string): void {
	rmSync(path.join(dir, SAVED_PLAN), { force: true });
}

/*
 * Where bytes lie in one of @files: the images' bytes fields are views
 * into the file buffers they were decoded from (readImages()), so a
 * write's bytes are at their view's offset in that file.
 */
export function fileRef(files: Map<string, Buffer>): ByteRef {
	const byBuffer = new Map<ArrayBufferLike, [string, Buffer][]>();
	for (const [name, buf] of files) {
		const list = byBuffer.get(buf.buffer) ?? [];
		list.push([name, buf]);
		byBuffer.set(buf.buffer, list);
	}
	return (data) => {
		for (const [name, buf] of byBuffer.get(data.buffer) ?? []) {
			const off = data.byteOffset - buf.byteOffset;
			if (off >= 0 && off + data.length <= buf.length) return [name, off];
		}
		return undefined;
	};
}

/** Write the plan of the images in @dir, as @session (a restore session on them) made it; returns its size. */
export function writeSavedPlan(dir: string, session: RestoreSession): number {
	const lines = [MAGIC, ...keyLines()];
	/*
	 * Each file as the session read (and checked) it, named by its
	 * envelope header: its payload's length and SHA-256, which the restore
	 * checks on the whole file (the file's own digest would hash it twice).
	 */
	const files = session.imageFiles;
	for (const name of readdirSync(dir).filter((f) => IMAGE_RE.test(f)).sort()) {
		let buf = files.get(name);
		if (!buf) unwrapPayload((buf = readFileSync(path.join(dir, name))), name); /* io_uring-files.img, small */
		lines.push(`image ${name} ${buf.subarray(0, HEADER_SIZE).toString('hex')}`);
	}
	lines.push(`extfiles${session.ringFileIds().map((id) => ` ${id}`).join('')}`);
	for (const [pid, steps] of session.namespacePlans(fileRef(files))) lines.push(`process ${pid} ${steps.length}`, ...steps, 'end');
	const body = lines.join('\n') + '\n';
	const text = body + `sha256 ${sha256(body)}\n`;
	writeAtomic(path.join(dir, SAVED_PLAN), Buffer.from(text), false);
	return text.length;
}

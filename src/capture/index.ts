/*
 * The capture library: everything criu-uring can see of a process's
 * io_uring instances, without stopping or perturbing it.  BPF iterators
 * first (complete kernel state); procfs when BPF is unavailable.  No CLI
 * concerns here: the dump path calls this too.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ProcessRings, ProcessSummary } from './model';
import { bpfAvailable, captureBpf, listBpf } from './bpf';
import { captureFdinfo } from './fdinfo';
import { IO_URING_PATH } from './maps';

export class CaptureError extends Error {}

function readComm(pid: number): string {
	try {
		return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
	} catch {
		throw new CaptureError(`process ${pid} does not exist`);
	}
}

function checkPid(pid: number): void {
	if (!Number.isInteger(pid) || pid <= 0) throw new CaptureError(`invalid pid ${pid}: expected a positive integer`);
	if (!existsSync(`/proc/${pid}`)) throw new CaptureError(`process ${pid} does not exist`);
	/* a thread id is not a process: inspect the thread group leader */
	const tgid = Number(/^Tgid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
	if (tgid !== pid) throw new CaptureError(`${pid} is a thread of process ${tgid}; inspect -t ${tgid}`);
}

export interface CaptureOptions {
	/** Do not try BPF (for tests of the fallback, or by user choice). */
	noBpf?: boolean;
}

/** Capture every io_uring instance of process `pid`. */
export function captureProcess(pid: number, opts: CaptureOptions = {}): ProcessRings {
	checkPid(pid);
	const comm = readComm(pid);
	const bpf = opts.noBpf ? { ok: false, why: 'disabled by --no-bpf' } : bpfAvailable();
	if (bpf.ok) return captureBpf(pid);
	try {
		return captureFdinfo(pid, comm, bpf.why ?? 'unavailable');
	} catch (e) {
		const code = (e as NodeJS.ErrnoException).code;
		if (code === 'EACCES' || code === 'EPERM')
			throw new CaptureError(`cannot read /proc/${pid}: permission denied (inspecting another user's process needs root)`);
		if (code === 'ENOENT') throw new CaptureError(`process ${pid} exited while being inspected`);
		throw e;
	}
}

/** Every process on the machine that holds io_uring instances. */
export function listProcesses(opts: CaptureOptions = {}): { source: 'bpf' | 'fdinfo'; processes: ProcessSummary[] } {
	const bpf = opts.noBpf ? { ok: false } : bpfAvailable();
	if (bpf.ok) return { source: 'bpf', processes: listBpf() };
	const processes: ProcessSummary[] = [];
	for (const pid of procfsRingHolders()) {
		try {
			const p = captureFdinfo(pid, readComm(pid), 'unavailable');
			processes.push(summarise(p));
		} catch {
			/* exited while we looked */
		}
	}
	return { source: 'fdinfo', processes };
}

function summarise(p: ProcessRings): ProcessSummary {
	let files = 0;
	let bufs = 0;
	let inflight = 0;
	for (const r of p.rings) {
		files += r.registered_files.entries.length;
		bufs += r.registered_buffers.entries.length;
		inflight += r.inflight.length;
	}
	return { pid: p.pid, comm: p.comm, rings: p.rings.length, registered_files: files, registered_buffers: bufs, inflight };
}

/* pids whose fds or mappings include an io_uring instance (procfs view) */
function procfsRingHolders(): number[] {
	const pids: number[] = [];
	for (const name of readdirSync('/proc')) {
		if (!/^\d+$/.test(name)) continue;
		if (holdsRing(Number(name))) pids.push(Number(name));
	}
	return pids;
}

function holdsRing(pid: number): boolean {
	try {
		for (const fd of readdirSync(`/proc/${pid}/fd`)) {
			try {
				if (readlinkSync(`/proc/${pid}/fd/${fd}`) === IO_URING_PATH) return true;
			} catch {
				/* fd closed meanwhile */
			}
		}
		return readFileSync(`/proc/${pid}/maps`, 'utf8').includes(IO_URING_PATH);
	} catch {
		return false;
	}
}

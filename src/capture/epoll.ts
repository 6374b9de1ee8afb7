/*
 * epoll sets that watch rings.  /proc/PID/fdinfo of an epoll fd lists
 * each entry as
 *   tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x
 * (tfd: the fd number the entry was added under; events as the kernel
 * holds them: a fired EPOLLONESHOT entry keeps only its flag bits; ino
 * and sdev: the target file's inode and the kernel's dev_t of its
 * filesystem).  An entry whose target is a ring's inode on the anon-inode
 * filesystem, where epoll files live too, is a watch on that ring.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { EpollWatch, RingState } from './model';

export const EVENTPOLL_PATH = 'anon_inode:[eventpoll]';

export interface EpollEntry {
	tfd: number;
	events: number;
	data: bigint;
	ino: number;
	/** Kernel dev_t (MAJOR << 20 | MINOR) of the target's filesystem. */
	sdev: number;
}

const ENTRY = /^tfd:\s*(-?\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)\s+pos:\s*-?\d+\s+ino:\s*([0-9a-f]+)\s+sdev:\s*([0-9a-f]+)/;

/** The entries of one epoll fd's fdinfo text. */
export function parseEpollFdinfo(text: string): EpollEntry[] {
	const out: EpollEntry[] = [];
	for (const line of text.split('\n')) {
		const m = ENTRY.exec(line);
		if (!m) continue;
		out.push({ tfd: Number(m[1]), events: parseInt(m[2], 16) >>> 0, data: BigInt(`0x${m[3]}`),
			ino: parseInt(m[4], 16), sdev: parseInt(m[5], 16) });
	}
	return out;
}

/* The kernel's dev_t as stat() encodes it for user space (new_encode_dev). */
export function userDev(kdev: number): number {
	const major = Math.floor(kdev / 2 ** 20), minor = kdev % 2 ** 20;
	return (minor & 0xff) + major * 256 + Math.floor(minor / 256) * 2 ** 20;
}

/**
 * Fill `epoll_watches` of each ring from every epoll fd of `pid`.
 * `identity(epfd)`: something that names the epoll file across
 * processes in one capture (the kernel address of its struct file from
 * BPF), or null when unknown.  Fds that close while we look are skipped.
 */
export function addEpollWatches(pid: number, rings: RingState[], identity: (epfd: number) => string | null): void {
	for (const r of rings) r.epoll_watches = [];
	if (rings.length === 0) return;
	const byInode = new Map(rings.map((r) => [r.inode, r]));
	let fds: string[];
	try {
		fds = readdirSync(`/proc/${pid}/fd`);
	} catch {
		return;
	}
	for (const name of fds) {
		const epfd = Number(name);
		let entries: EpollEntry[], dev: number;
		try {
			if (readlinkSync(`/proc/${pid}/fd/${name}`) !== EVENTPOLL_PATH) continue;
			/* the anon-inode filesystem: rings live there too */
			dev = statSync(`/proc/${pid}/fd/${name}`).dev;
			entries = parseEpollFdinfo(readFileSync(`/proc/${pid}/fdinfo/${name}`, 'utf8'));
		} catch {
			continue;
		}
		for (const e of entries) {
			const r = byInode.get(e.ino);
			if (!r || userDev(e.sdev) !== dev) continue;
			const w: EpollWatch = { epfd, tfd: e.tfd, events: e.events, data: e.data.toString(), epoll: identity(epfd) };
			r.epoll_watches.push(w);
		}
	}
	for (const r of rings) r.epoll_watches.sort((a, b) => a.epfd - b.epfd || a.tfd - b.tfd);
}

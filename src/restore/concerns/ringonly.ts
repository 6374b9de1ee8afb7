/*
 * Resources only the ring holds (the process closed its fd):
 *  - a registered regular file or directory: reopened by path inside the
 *    task with the recorded f_flags, moved to the recorded position,
 *    put in its slot with its tag (FILES_UPDATE2), and closed again;
 *  - a registered eventfd: a new eventfd registered and closed.  Its
 *    counter starts at 0; nothing outside the ring could read the old one;
 *  - a sparse registered-buffer table: BUFFERS2 with the sparse flag at
 *    the recorded size, then each buffer at its index (BUFFERS_UPDATE).
 */
import { RingPlan } from '../ring-plan';
import { mapPinned, unmapPinned } from './pinned';
import { tagOf, updateTagged } from './tags';
import { eventfdPhase } from './eventfd';
import { NR, REGISTER, RSRC_REGISTER_SPARSE } from '../../uring/abi';

const AT_FDCWD = -100;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_CLOEXEC = 0o2000000;
const EFD_CLOEXEC = 0o2000000;

/** Registered-file types a reopen by path gives back exactly. */
export const REOPENABLE = new Set(['file', 'directory']);

function reopenFiles(p: RingPlan): void {
	for (const e of p.s.registered_files.entries) {
		if (e.fds.length) continue;
		if (!REOPENABLE.has(e.type)) p.fail(`registered file ${e.index} (${e.path}) is a ${e.type} only the ring holds`);
		if (e.flags === undefined) p.fail(`registered file ${e.index} (${e.path}): its open flags were not captured`);
		const fd = `$o${p.id}_${e.index}`;
		const flags = (e.flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC;
		const intAddr = p.put(Buffer.alloc(4));	/* the fd FILES_UPDATE2 reads */
		p.add('register',
			{ op: 'sys', v: fd.slice(1), nr: NR.openat, args: [AT_FDCWD, p.put(Buffer.from(e.path + '\0')), flags, 0],
				what: `reopen ${e.path} for registered file ${e.index}` },
			{ op: 'sys', v: `x${p.id}`, nr: NR.lseek, args: [fd, BigInt(e.pos ?? '0'), 0], what: `seek ${e.path} to ${e.pos ?? 0}` },
			{ op: 'store', addr: intAddr, size: 4, value: fd });
		updateTagged(p, REGISTER.FILES_UPDATE2, e.index, intAddr, tagOf(e), `put ${e.path} in registered file slot ${e.index}`);
		p.sys('register', NR.close, [fd], `close the reopened ${e.path}`);
	}
}

function newEventfd(p: RingPlan): void {
	const ev = p.s.eventfd;
	if (!ev || ev.fds.length) return;
	const efd = `$e${p.id}`;
	const arg = p.put(Buffer.alloc(4));
	p.add(eventfdPhase(p, ev.async),
		{ op: 'sys', v: efd.slice(1), nr: NR.eventfd2, args: [0, EFD_CLOEXEC], what: 'create the eventfd only the ring holds' },
		{ op: 'store', addr: arg, size: 4, value: efd },
		{ op: 'sys', v: `x${p.id}`, nr: NR.io_uring_register, args: [p.fd, p.op(ev.async ? REGISTER.EVENTFD_ASYNC : REGISTER.EVENTFD), arg, 1],
			what: 'register the new eventfd' },
		{ op: 'sys', v: `x${p.id}`, nr: NR.close, args: [efd], what: 'close the new eventfd' });
}

export function isSparse(b: { size: number; entries: { index: number }[] }): boolean {
	return b.entries.length !== b.size || b.entries.some((e, i) => e.index !== i);
}

function sparseBuffers(p: RingPlan): void {
	const b = p.s.registered_buffers;
	if (b.size === 0 || !isSparse(b)) return;
	/* struct io_uring_rsrc_register { __u32 nr; __u32 flags; __u64 resv2; __u64 data; __u64 tags; } */
	const reg = Buffer.alloc(32);
	reg.writeUInt32LE(b.size, 0);
	reg.writeUInt32LE(RSRC_REGISTER_SPARSE, 4);
	p.register('register', REGISTER.BUFFERS2, p.put(reg), 32, `register a sparse table of ${b.size} buffers`);
	/* buffers the process had unmapped: registered on their saved contents (pinned.ts) */
	mapPinned(p);
	for (const e of b.entries) {
		const iov = Buffer.alloc(16);
		iov.writeBigUInt64LE(BigInt(e.addr), 0);
		iov.writeBigUInt64LE(BigInt(e.len), 8);
		updateTagged(p, REGISTER.BUFFERS_UPDATE, e.index, p.put(iov), tagOf(e), `register buffer ${e.index}`);
	}
	unmapPinned(p);
}

export function planRingOnly(p: RingPlan): void {
	reopenFiles(p);
	newEventfd(p);
	sparseBuffers(p);
}

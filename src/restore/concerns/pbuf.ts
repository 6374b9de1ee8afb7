/*
 * Provided-buffer rings (IORING_REGISTER_PBUF_RING).  The ring is
 * registered again at the same user address, or kernel-allocated again
 * (IOU_PBUF_RING_MMAP) and mapped by the mappings concern.  The kernel's
 * head has no setter: it starts at 0, so the restore consumes `head`
 * buffers with BUFFER_SELECT reads of /dev/null from temporary 1-byte
 * entries, with the tail set to the head meanwhile (a read of /dev/null
 * touches no memory), or, when that many requests do not fit the ring's
 * indices, with bundle RECVs of up to 256 buffers each (consumeByBundles).
 * The ring's memory is then put back as dumped:
 * entries (including the partial
 * consumption IOU_PBUF_RING_INC records in them) and tail.  For rings in
 * application memory the bytes CRIU restored are saved to a memfd and
 * read back; kernel-allocated rings get the bytes of the image.
 */
import type { ProvidedBufferRing, RingState } from '../../capture/model';
import { RingPlan } from '../ring-plan';
import { legacyRequests } from './legacy_buffers';
import { MAP_SHARED } from './mappings';
import { IOSQE, IOU_PBUF_RING, NR, OFF, OP, RECVSEND, REGISTER, SETUP } from '../../uring/abi';
import { kernelFeatures } from '../../uring/features';

const ENTRY_SIZE = 16;
const TAIL_OFFSET = 14; /* struct io_uring_buf_ring: tail aliases bufs[0].resv */
const UNREAD_ADDR = 0x10000n; /* a user address, never read or written */
const AT_FDCWD = -100;
const O_CLOEXEC = 0o2000000;
const MFD_CLOEXEC = 1;
const PROT_RW = 3;
const MSG_DONTWAIT = 0x40;

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
/* buffers one bundle RECV takes at most (the kernel's PEEK_MAX_IMPORT) */
const BUNDLE_MAX = 256;
/* bufs[1].resv of a buffer ring: where bundle RECVs drop their bytes (the kernel never reads it) */
const BUNDLE_SINK = 16 + 14;

const rings = (s: RingState): ProvidedBufferRing[] =>
	s.provided_buffers.filter((b): b is ProvidedBufferRing => b.kind === 'ring');

function regArg(b: ProvidedBufferRing): Buffer {
	const reg = Buffer.alloc(40); /* struct io_uring_buf_reg */
	reg.writeBigUInt64LE(b.mmap ? 0n : BigInt(b.addr ?? 0), 0);
	reg.writeUInt32LE(b.entries, 8);
	reg.writeUInt16LE(b.bgid, 12);
	reg.writeUInt16LE((b.mmap ? IOU_PBUF_RING.MMAP : 0) | (b.inc ? IOU_PBUF_RING.INC : 0), 14);
	return reg;
}

/* A 0-byte read of /dev/null into a buffer selected from group `bgid` (the fd is the submit step's FILE). */
function consumeSqe(bgid: number): Buffer {
	const sqe = Buffer.alloc(64);
	sqe.writeUInt8(OP.READ, 0);
	sqe.writeUInt8(IOSQE.BUFFER_SELECT, 1);
	sqe.writeUInt16LE(bgid, 40);
	return sqe;
}

/*
 * Entries for consuming `head` buffers: 1 byte each (an IOU_PBUF_RING_INC
 * ring uses up a buffer only when the selected length covers what is left
 * of it, and keeps a 0-byte one), at an address nothing dereferences
 * (/dev/null reads no bytes); the tail, which aliases bufs[0].resv, set to
 * the head.
 */
function consumeEntries(b: ProvidedBufferRing, at = UNREAD_ADDR): Buffer {
	const n = Math.min(b.entries, b.head);
	const e = Buffer.alloc(n * ENTRY_SIZE);
	for (let i = 0; i < n; i++) {
		e.writeBigUInt64LE(at, i * ENTRY_SIZE);
		e.writeUInt32LE(1, i * ENTRY_SIZE + 8);
	}
	e.writeUInt16LE(b.head, TAIL_OFFSET);
	return e;
}

/*
 * What the dump must refuse.  Every request the restore submits before the
 * index advance consumes an SQE and posts a CQE, and the advance only
 * moves forward: their number must not pass the dumped indices (or the
 * advance would go round 2^32).
 */
/*
 * A buffer ring in the application's memory can also have its head moved
 * by bundle RECVs (IORING_RECVSEND_BUNDLE), up to 256 buffers of 1 byte
 * each per request, from a socket pair holding exactly that many bytes:
 * used only when one request per buffer would not fit the ring's indices
 * beside what else the restore submits (a multishot RECV server's SQ head
 * stays small while its buffer ring's head runs ahead).
 */
function bundleable(b: ProvidedBufferRing): boolean {
	return b.head > 1 && !b.mmap && !b.inc && b.entries >= 2 && b.addr !== null;
}

/* The requests the provided buffers take to restore, by bundles or not. */
function pbufRequests(s: RingState, bundles: boolean): number {
	return legacyRequests(s) + rings(s).reduce((sum, b) => sum + (bundles && bundleable(b) ? Math.ceil(b.head / BUNDLE_MAX) : b.head), 0);
}

/* Whether one request per buffer does not fit and bundles can (and the kernel has them). */
function useBundles(s: RingState, rearmed: number): boolean {
	const sq = s.sq.cached_head ?? 0;
	const cq = s.cq.cached_tail ?? 0;
	const fits = (n: number): boolean => n + rearmed <= sq && n <= cq;
	return !fits(pbufRequests(s, false)) && rings(s).some(bundleable) && kernelFeatures().recv_bundle;
}

export function pbufRefusals(s: RingState, rearmed = 0): string[] {
	const why: string[] = [];
	for (const b of rings(s)) if (!b.mmap && b.addr === null) why.push(`buffer ring ${b.bgid} at an unknown address`);
	for (const m of s.mappings) {
		const bgid = Number((BigInt(m.offset) - OFF.PBUF_RING) >> OFF.PBUF_SHIFT);
		if (m.kind === 'pbuf_ring' && !rings(s).some((b) => b.mmap && b.bgid === bgid)) why.push(`a mapping of unregistered buffer ring ${bgid}`);
	}
	const heads = rings(s).reduce((sum, b) => sum + b.head, 0);
	if (heads && s.setup_flags & SETUP.IOPOLL) why.push('buffer ring heads on an IOPOLL ring (restored by reads IOPOLL rejects)');
	const n = heads ? pbufRequests(s, useBundles(s, rearmed)) : legacyRequests(s);
	const sq = s.sq.cached_head;
	const cq = s.cq.cached_tail;
	/* the requests re-armed after the advance (concerns/rearm.ts) come out of the same SQ index */
	if (n && (sq === null || cq === null || n + rearmed > sq || n > cq))
		why.push(`provided buffers that take ${n} requests to restore` +
			(rearmed ? ` and ${rearmed} re-armed request(s)` : '') + `, more than the ring's SQ head ${sq} / CQ tail ${cq}`);
	return why;
}

function consume(p: RingPlan, b: ProvidedBufferRing, devnull: string): void {
	p.add('buffers', { op: 'submit', fd: p.fd, params: p.params, count: b.head, file: devnull, sqes: consumeSqe(b.bgid), cqHead: p.cqHold,
		what: `move the head of buffer ring ${b.bgid} to ${b.head}` });
}

function restoreKernelRing(p: RingPlan, b: ProvidedBufferRing, devnull: string): void {
	const mem = p.ring.pbufRings?.get(b.bgid);
	const size = b.entries * ENTRY_SIZE;
	if (!mem || mem.length !== size) p.fail(`the dump lacks the memory of kernel-allocated buffer ring ${b.bgid}`);
	const at = p.v(`pm${b.bgid}_`);
	p.add('buffers', { op: 'sys', v: at.slice(1), nr: NR.mmap, args: [0, size, PROT_RW, MAP_SHARED, p.fd, OFF.PBUF_RING | (BigInt(b.bgid) << OFF.PBUF_SHIFT)],
		what: `map buffer ring ${b.bgid} for writing` });
	if (b.head) {
		p.add('buffers', { op: 'write', addr: at, data: consumeEntries(b) });
		consume(p, b, devnull);
	}
	p.add('buffers', { op: 'write', addr: at, data: mem });
	p.sys('buffers', NR.munmap, [at, size], `unmap the buffer ring ${b.bgid} scratch mapping`);
}

/* A bundle RECV of `len` bytes from the socket the submit step names: it takes `len` 1-byte buffers. */
function bundleSqe(bgid: number, len: number): Buffer {
	const sqe = Buffer.alloc(64);
	sqe.writeUInt8(OP.RECV, 0);
	sqe.writeUInt8(IOSQE.BUFFER_SELECT, 1);
	sqe.writeUInt16LE(RECVSEND.BUNDLE, 2);
	sqe.writeUInt32LE(len, 24);
	sqe.writeUInt32LE(MSG_DONTWAIT, 28);
	sqe.writeUInt16LE(bgid, 40);
	return sqe;
}

/*
 * Move the head with bundle RECVs: each chunk of up to 256 bytes is
 * written to one end of a socket pair and taken by one RECV from the
 * other, exactly (nothing else is queued, so the kernel does not go on
 * to the next bytes); the bytes land in bufs[1].resv of the temporary
 * entries, which the ring's saved memory then overwrites.
 */
function consumeByBundles(p: RingPlan, b: ProvidedBufferRing): void {
	const sv = p.put(Buffer.alloc(8));
	const [base, off] = sv.split('+');
	const data = p.put(Buffer.alloc(BUNDLE_MAX, 0x2a));
	const rd = p.v(`br${b.bgid}_`);
	const wr = p.v(`bw${b.bgid}_`);
	p.sys('buffers', NR.socketpair, [AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv], `a socket pair to move the head of buffer ring ${b.bgid}`);
	p.add('buffers', { op: 'load', v: rd.slice(1), addr: sv, size: 4 }, { op: 'load', v: wr.slice(1), addr: `${base}+${Number(off) + 4}`, size: 4 });
	for (let done = 0; done < b.head; done += BUNDLE_MAX) {
		const len = Math.min(BUNDLE_MAX, b.head - done);
		p.sys('buffers', NR.write, [wr, data, len], `${len} bytes for buffer ring ${b.bgid}`);
		p.add('buffers', { op: 'submit', fd: p.fd, params: p.params, count: 1, file: rd, sqes: bundleSqe(b.bgid, len), cqHead: p.cqHold,
			what: `move the head of buffer ring ${b.bgid} to ${done + len}` });
	}
	p.sys('buffers', NR.close, [rd], 'close the socket pair');
	p.sys('buffers', NR.close, [wr], 'close the socket pair');
}

function restoreUserRing(p: RingPlan, b: ProvidedBufferRing, devnull: string, bundles: boolean): void {
	if (!b.head) return; /* CRIU restored its memory; the kernel reads it from there */
	const addr = BigInt(b.addr ?? 0);
	const size = b.entries * ENTRY_SIZE;
	const mf = p.v(`mf${b.bgid}_`);
	p.add('buffers', { op: 'sys', v: mf.slice(1), nr: NR.memfd_create, args: [p.put(Buffer.from('criu-uring-pbuf\0')), MFD_CLOEXEC],
		what: `memfd to save buffer ring ${b.bgid}` });
	p.sys('buffers', NR.write, [mf, addr, size], `save buffer ring ${b.bgid}`);
	if (bundles && bundleable(b)) {
		p.add('buffers', { op: 'write', addr, data: consumeEntries(b, addr + BigInt(BUNDLE_SINK)) });
		consumeByBundles(p, b);
	} else {
		p.add('buffers', { op: 'write', addr, data: consumeEntries(b) });
		consume(p, b, devnull);
	}
	p.sys('buffers', NR.pread64, [mf, addr, size, 0], `put buffer ring ${b.bgid} back as dumped`);
	p.sys('buffers', NR.close, [mf], 'close the buffer ring memfd');
}

export function planPbufRings(p: RingPlan): void {
	const rearmed = p.ring.rearm?.length ?? 0;
	const why = pbufRefusals(p.s, rearmed);
	if (why.length) p.fail(`${why.join('; ')}: not supported yet`);
	const all = rings(p.s);
	if (all.length === 0) return;
	for (const b of all)
		p.register('register', REGISTER.PBUF_RING, p.put(regArg(b)), 1, `register buffer ring ${b.bgid}`);
	if (all.some((b) => b.head) && p.s.disabled) p.fail('buffer ring heads moved on a ring that was never enabled');
	const devnull = p.v('dn');
	const bundles = useBundles(p.s, rearmed);
	const needNull = all.some((b) => b.head && !(bundles && bundleable(b) && !b.mmap));
	if (needNull)
		p.add('buffers', { op: 'sys', v: devnull.slice(1), nr: NR.openat, args: [AT_FDCWD, p.put(Buffer.from('/dev/null\0')), O_CLOEXEC],
			what: 'open /dev/null to consume buffers' });
	for (const b of all) {
		if (b.mmap) restoreKernelRing(p, b, devnull);
		else restoreUserRing(p, b, devnull, bundles);
	}
	if (needNull) p.sys('buffers', NR.close, [devnull], 'close /dev/null');
}

/*
 * Re-arming at restore (docs/inflight.md): a request that waits for an
 * outside event (a poll-armed receive, read or accept, a POLL_ADD, a
 * timeout) is not cancelled at the dump; the image records an SQE
 * equivalent to it, built here from what the BPF capture read out of the
 * kernel's request (rec_req_arm), and the restore submits that SQE with
 * the same user_data as part of the index advance (src/restore/concerns/rearm.ts).
 *
 * classify() says whether a request can be re-armed and, if not, why; the
 * dump fails naming the ones that cannot (or cancels them with
 * CRIU_URING_CANCEL_INFLIGHT=1).  rearmSqe() builds the SQE.
 */
import type { ArmDetails, InflightRequest, RingState } from './model';
import { ACCEPT, IOSQE, OP, POLL, RECV_MULTISHOT, SETUP, TIMEOUT } from '../uring/abi';
import { opcodeNumber } from '../uring/opcodes';

/* Where a request waits when only an outside event completes it. */
const WAITS_FOR_EVENTS = new Set(['poll', 'timeout', 'linked_timeout', 'futex', 'waitid', 'cancelable_cmd']);

export const waitsForEvents = (q: InflightRequest): boolean => WAITS_FOR_EVENTS.has(q.state);

/* rec_req_arm.bits (bpf/uring_records.h) */
export const ARM = {
	FIXED_FILE: 1 << 0, IO_DRAIN: 1 << 1, LINK: 1 << 2, HARDLINK: 1 << 3, FORCE_ASYNC: 1 << 4,
	BUFFER_SELECT: 1 << 5, CQE_SKIP: 1 << 6, CUR_POS: 1 << 7, LINK_TIMEOUT: 1 << 8, CREDS: 1 << 9,
	MULTISHOT: 1 << 10, BUFFER_SELECTED: 1 << 11, BUFFER_RING: 1 << 12, NOWAIT: 1 << 13, HAS_APOLL: 1 << 14, HAS_MSGHDR: 1 << 15,
} as const;

/* Opcodes this version re-arms (the others are refused with their name). */
const REARMABLE = new Set<number>([OP.POLL_ADD, OP.TIMEOUT, OP.READ, OP.RECV, OP.RECVMSG, OP.READ_MULTISHOT, OP.ACCEPT]);

/* epoll bits (not io_uring ABI): io_poll.events keeps the mask with these */
const EPOLLEXCLUSIVE = 1 << 28;
const EPOLLONESHOT = 1 << 30;
const EPOLLET = 2 ** 31;
/*
 * sr->flags is the SQE's ioprio (IORING_RECVSEND_*, IORING_RECV_MULTISHOT)
 * in its low 8 bits; above them the kernel's own (io_uring/net.c):
 * IORING_RECV_MSHOT_LIM (a byte limit was given), IORING_RECV_MSHOT_DONE.
 */
const RECV_UAPI_MASK = 0xff;
const RECV_MSHOT_LIM = 1 << 12;
const RECV_MSHOT_DONE = 1 << 11;
/* ioprio classes (linux/ioprio.h) */
const IOPRIO_CLASS_SHIFT = 13;
const IOPRIO_CLASS_BE = 2;
const TIMEOUT_KEPT = TIMEOUT.BOOTTIME | TIMEOUT.ETIME_SUCCESS;

export type Verdict = { ok: true } | { ok: false; why: string };

const no = (why: string): Verdict => ({ ok: false, why });

/* What no request of the ring can have re-armed, whatever it is. */
function ringRefusal(r: RingState): string | null {
	if (r.setup_flags & SETUP.SQPOLL) return 'on an SQPOLL ring (its SQ thread would take the SQE before the ring bytes are back)';
	if (r.setup_flags & SETUP.REGISTERED_FD_ONLY) return 'on a REGISTERED_FD_ONLY ring (not re-armed yet)';
	if (r.setup_flags & SETUP.NO_MMAP) return 'on a NO_MMAP ring (not re-armed yet)';
	return null;
}

function requestRefusal(q: InflightRequest, a: ArmDetails): string | null {
	if (a.linked || a.bits & (ARM.LINK | ARM.HARDLINK)) return 'part of a linked chain (linked chains are not re-armed)';
	if (a.bits & ARM.LINK_TIMEOUT) return 'guarded by a LINK_TIMEOUT (linked chains are not re-armed)';
	if (a.bits & ARM.IO_DRAIN) return 'submitted with IOSQE_IO_DRAIN';
	if (a.bits & ARM.CREDS) return 'running under a registered personality';
	if (q.fd === null && q.opcode !== 'TIMEOUT') return 'its file is no longer open in the process or registered with the ring';
	return null;
}

/** Whether the restore can re-arm request q of ring r, and if not, why. */
export function classify(r: RingState, q: InflightRequest): Verdict {
	if (q.state === 'linked_timeout') return no('a LINK_TIMEOUT (linked chains are not re-armed)');
	if (q.state !== 'poll' && q.state !== 'timeout') return no(`a ${q.state} wait (not re-armed yet)`);
	const op = opcodeNumber(q.opcode);
	if (!REARMABLE.has(op)) return no(`${q.opcode} requests are not re-armed yet`);
	if (!q.arm) return no('the capture has no re-arm details for it');
	const why = ringRefusal(r) ?? requestRefusal(q, q.arm);
	if (why) return no(why);
	const a = q.arm;
	switch (op) {
	case OP.RECV:
	case OP.RECVMSG:
		if (a.done_io) return no(`${a.done_io} bytes of it were already received (MSG_WAITALL)`);
		if (a.ioprio & RECV_MSHOT_DONE) return no('a multishot receive that reached its byte limit');
		if (a.ioprio & RECV_MULTISHOT && !REARMABLE_MULTISHOT.has(op)) return no(`multishot ${q.opcode} is not re-armed yet`);
		if (op === OP.RECVMSG && a.ioprio & RECV_MULTISHOT && !a.msg) return no('the capture did not find the header it copied');
		break;
	case OP.READ_MULTISHOT:
	case OP.READ:
		if (a.done_io) return no(`${a.done_io} bytes of it were already read`);
		break;
	case OP.POLL_ADD:
		if (!(a.poll_events & EPOLLONESHOT) && !REARMABLE_MULTISHOT.has(op)) return no('multishot POLL_ADD is not re-armed yet');
		break;
	case OP.TIMEOUT: {
		if (a.op_flags & TIMEOUT.ABS) return no('an absolute timeout (not re-armed yet)');
		if (a.op_flags & TIMEOUT.REALTIME) return no('a CLOCK_REALTIME timeout (not re-armed yet)');
		if (a.op_flags & TIMEOUT.MULTISHOT) return no('a multishot timeout (not re-armed yet)');
		if (a.len && !COUNT_TIMEOUTS) return no('a count-based timeout (not re-armed yet)');
		if (a.len && a.count_left <= 0) return no('a count-based timeout whose count is reached');
		break;
	}
	case OP.ACCEPT:
		break;
	}
	return { ok: true };
}

/* Widened by later slices as they are tested. */
const REARMABLE_MULTISHOT = new Set<number>([OP.POLL_ADD, OP.RECV, OP.RECVMSG]);
const COUNT_TIMEOUTS = true;

/** What this version re-arms beyond single-shot requests (tests read it). */
export const REARMABLE_OPS = { multishotPoll: REARMABLE_MULTISHOT.has(OP.POLL_ADD), countTimeouts: COUNT_TIMEOUTS };

/** Classify every request of the ring that waits for an outside event (sets q.rearm). */
export function classifyRing(r: RingState): void {
	for (const q of r.inflight) {
		if (!waitsForEvents(q)) continue;
		const v = classify(r, q);
		q.rearm = v.ok ? { ok: true } : { ok: false, why: v.why };
	}
}

export const rearmable = (q: InflightRequest): boolean => q.rearm?.ok === true;

/** What the restore submits: one 64-byte SQE; timeouts also need their time left (the SQE's addr is set at restore). */
export interface RearmSqe {
	sqe: Buffer;
	timeout_ns?: bigint;
	/** A multishot RECVMSG: the struct msghdr its SQE's addr points at (the restore places it). */
	msghdr?: Buffer;
}

/* struct msghdr on x86_64: name, namelen, iov, iovlen, control, controllen, flags */
const MSGHDR_SIZE = 56;

function msghdr(m: NonNullable<ArmDetails['msg']>): Buffer {
	const b = Buffer.alloc(MSGHDR_SIZE);
	b.writeBigUInt64LE(BigInt(m.name), 0);
	b.writeUInt32LE(m.namelen, 8);
	b.writeBigUInt64LE(BigInt(m.control), 32);
	b.writeBigUInt64LE(BigInt(m.controllen), 40);
	return b;
}

/* struct io_uring_sqe offsets */
const SQE = {
	opcode: 0, flags: 1, ioprio: 2, fd: 4, off: 8, addr: 16, len: 24, op_flags: 28, user_data: 32,
	buf_group: 40, personality: 42, file_index: 44, optlen: 44,
} as const;

/** The SQE that re-arms q (classify(r, q) must have said ok). */
export function rearmSqe(r: RingState, q: InflightRequest): RearmSqe {
	const v = classify(r, q);
	if (!v.ok) throw new Error(`${q.opcode} user_data ${q.user_data} cannot be re-armed: ${v.why}`);
	const a = q.arm!;
	const op = opcodeNumber(q.opcode);
	const b = Buffer.alloc(64);
	let flags = 0;
	if (q.fixed) flags |= IOSQE.FIXED_FILE;
	if (a.bits & ARM.FORCE_ASYNC) flags |= IOSQE.ASYNC;
	if (a.bits & ARM.BUFFER_SELECT) flags |= IOSQE.BUFFER_SELECT;
	if (a.bits & ARM.CQE_SKIP) flags |= IOSQE.CQE_SKIP_SUCCESS;
	b.writeUInt8(op, SQE.opcode);
	b.writeUInt8(flags, SQE.flags);
	b.writeInt32LE(q.fd ?? 0, SQE.fd);
	b.writeBigUInt64LE(BigInt(q.user_data), SQE.user_data);
	const out: RearmSqe = { sqe: b };
	switch (op) {
	case OP.POLL_ADD: {
		const ev = a.poll_events >>> 0;
		b.writeUInt32LE(((ev & 0xffff) | (ev & EPOLLEXCLUSIVE)) >>> 0, SQE.op_flags);
		b.writeUInt32LE((ev & EPOLLONESHOT ? 0 : POLL.ADD_MULTI) | (ev & EPOLLET ? 0 : POLL.ADD_LEVEL), SQE.len);
		break;
	}
	case OP.RECV:
	case OP.RECVMSG: {
		const multishot = (a.ioprio & RECV_MULTISHOT) !== 0;
		b.writeUInt16LE(a.ioprio & RECV_UAPI_MASK, SQE.ioprio);
		/*
		 * A multishot RECVMSG's msghdr pointer is gone (the kernel reuses
		 * it for the selected buffer): a msghdr with the header the kernel
		 * copied goes in its place (iovlen 0: the buffer group provides the
		 * memory).
		 */
		if (op === OP.RECVMSG && multishot) out.msghdr = msghdr(a.msg!);
		else if (!(a.bits & ARM.BUFFER_SELECT) || op === OP.RECVMSG) b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		b.writeUInt32LE(multishot && op === OP.RECV ? a.mshot_len : a.len, SQE.len);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		if (a.bits & ARM.BUFFER_SELECT) b.writeUInt16LE(a.buf_group, SQE.buf_group);
		if (multishot && op === OP.RECV && a.ioprio & RECV_MSHOT_LIM) b.writeUInt32LE(a.mshot_total_len, SQE.optlen);
		break;
	}
	case OP.READ:
	case OP.READ_MULTISHOT: {
		/*
		 * The kernel keeps the effective priority (the task's default,
		 * best-effort class, when the SQE gave 0), and 6.18 refuses any
		 * ioprio on READ_MULTISHOT: a best-effort one goes back as 0
		 * (the default again), other classes as they were.
		 */
		if (a.ioprio >> IOPRIO_CLASS_SHIFT !== IOPRIO_CLASS_BE) b.writeUInt16LE(a.ioprio, SQE.ioprio);
		b.writeBigInt64LE(a.bits & ARM.CUR_POS ? -1n : BigInt.asIntN(64, BigInt(a.addr2)), SQE.off);
		if (a.bits & ARM.BUFFER_SELECT) b.writeUInt16LE(a.buf_group, SQE.buf_group);
		else b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		if (op === OP.READ) b.writeUInt32LE(a.len, SQE.len);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		break;
	}
	case OP.ACCEPT:
		b.writeUInt16LE(a.ioprio & (ACCEPT.MULTISHOT | ACCEPT.DONTWAIT | ACCEPT.POLL_FIRST), SQE.ioprio);
		b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		b.writeBigUInt64LE(BigInt(a.addr2), SQE.off);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		b.writeUInt32LE(a.file_slot, SQE.file_index);
		break;
	case OP.TIMEOUT: {
		b.writeInt32LE(0, SQE.fd);
		b.writeUInt32LE(1, SQE.len);
		b.writeBigUInt64LE(BigInt(a.len ? a.count_left : 0), SQE.off);
		b.writeUInt32LE(a.op_flags & TIMEOUT_KEPT, SQE.op_flags);
		const left = BigInt(a.remaining_ns);
		out.timeout_ns = left > 0n ? left : 0n;
		break;
	}
	}
	return out;
}

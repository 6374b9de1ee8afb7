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
 * CRIU_URING_CANCEL_INFLIGHT=1).  rearmChain() builds the SQEs: the
 * request's, then those of the links of its chain (IOSQE_IO_LINK /
 * IO_HARDLINK: prepared at submission, never issued), in order.
 */
import type { ArmDetails, InflightRequest, RingState } from './model';
import { ACCEPT, IOSQE, OP, POLL, RECV_MULTISHOT, RECVSEND, SETUP, TIMEOUT } from '../uring/abi';
import { opcodeNumber, opcodeTakesFile } from '../uring/opcodes';

/* Where a request waits when only an outside event completes it. */
const WAITS_FOR_EVENTS = new Set(['poll', 'timeout', 'linked_timeout', 'futex', 'waitid', 'cancelable_cmd']);

export const waitsForEvents = (q: InflightRequest): boolean => WAITS_FOR_EVENTS.has(q.state) && !timedOut(q) && !woken(q);

/* A FUTEX_WAIT, FUTEX_WAITV or WAITID that was woken: its completion runs as task work (the drain runs it). */
const woken = (q: InflightRequest): boolean => q.arm !== undefined &&
	(((q.opcode === 'FUTEX_WAIT' || q.opcode === 'FUTEX_WAITV') && !(q.arm.bits & ARM.FUTEX_QUEUED)) ||
		(q.opcode === 'WAITID' && !(q.arm.bits & ARM.WAITID_WAITING)));

/*
 * A request whose LINK_TIMEOUT fired: the timer took itself off the
 * request's chain and queued task work that cancels the request, so it
 * completes on its own (the drain runs that work).  The request still
 * says a LINK_TIMEOUT guards it; its chain no longer starts with one.
 */
function timedOut(q: InflightRequest): boolean {
	const a = q.arm;
	if (!a || !(a.bits & ARM.LINK_TIMEOUT)) return false;
	const links = q.links ?? [];
	return (links.length > 0 || !a.linked) && links[0]?.opcode !== 'LINK_TIMEOUT';
}

/* rec_req_arm.bits (bpf/uring_records.h) */
export const ARM = {
	FIXED_FILE: 1 << 0, IO_DRAIN: 1 << 1, LINK: 1 << 2, HARDLINK: 1 << 3, FORCE_ASYNC: 1 << 4,
	BUFFER_SELECT: 1 << 5, CQE_SKIP: 1 << 6, CUR_POS: 1 << 7, LINK_TIMEOUT: 1 << 8, CREDS: 1 << 9,
	MULTISHOT: 1 << 10, BUFFER_SELECTED: 1 << 11, BUFFER_RING: 1 << 12, NOWAIT: 1 << 13, HAS_APOLL: 1 << 14, HAS_MSGHDR: 1 << 15,
	SEND_ADDR: 1 << 16, FUTEX_QUEUED: 1 << 17, WAITID_WAITING: 1 << 18, OWN_CREDS: 1 << 19,
} as const;

/* Opcodes this version re-arms (the others are refused with their name). */
const REARMABLE = new Set<number>([OP.POLL_ADD, OP.TIMEOUT, OP.READ, OP.RECV, OP.RECVMSG, OP.READ_MULTISHOT, OP.ACCEPT, OP.SEND, OP.SENDMSG, OP.FUTEX_WAIT, OP.FUTEX_WAITV, OP.WAITID]);
/* Opcodes re-submitted as links of a re-armed request's chain: those, and what usually follows them. */
export const LINKABLE = new Set<number>([...REARMABLE, OP.LINK_TIMEOUT, OP.WRITE, OP.NOP, OP.MSG_RING]);
/* The BPF capture follows at most this many links of one chain (MAX_LINKS). */
const MAX_LINKS = 64;

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
const TIMEOUT_KEPT = TIMEOUT.BOOTTIME | TIMEOUT.REALTIME | TIMEOUT.ETIME_SUCCESS | TIMEOUT.MULTISHOT;
/* enum hrtimer_mode: bit 0 clear is HRTIMER_MODE_ABS */
const HRTIMER_MODE_REL = 1;
/* the kernel's futex FLAGS_* (kernel/futex/futex.h) that FUTEX2_* map to */
const FUTEX_FLAGS_SIZE = 0x03;
const FUTEX_FLAGS_SHARED = 0x10;
const FUTEX2_PRIVATE = 128;
/* IORING_NOP_*: NOP flags (sqe->nop_flags) re-armed as they were; the others name a file or buffer */
const NOP_KEPT = (1 << 0) | (1 << 4) | (1 << 5); /* INJECT_RESULT, TW, CQE32 */
/* MSG_RING's command (sqe->addr): IORING_MSG_DATA posts a CQE to the target ring */
const MSG_DATA = 0n;
/* waitid's idtype_t: P_PIDFD names the process by an fd */
const P_PIDFD = 3;

export type Verdict = { ok: true } | { ok: false; why: string };

const no = (why: string): Verdict => ({ ok: false, why });

/* What no request of the ring can have re-armed, whatever it is. */
function ringRefusal(r: RingState): string | null {
	if (r.setup_flags & SETUP.REGISTERED_FD_ONLY) return 'on a REGISTERED_FD_ONLY ring (not re-armed yet)';
	return null;
}

/*
 * IOSQE_IO_DRAIN: the request started only once every request submitted
 * before it had completed, and every request submitted after it waits
 * (deferred) until it completes.  So while it waits, no other request of
 * the ring can be in flight but deferred ones (refused on their own): then
 * re-submitting it with the flag, alone, keeps both orders.  With other
 * requests beside it (or as a link) the order is not one the restore can
 * rebuild.
 */
function drainRefusal(r: RingState | null, q: InflightRequest): string | null {
	if (!r) return 'a link submitted with IOSQE_IO_DRAIN';
	if (r.inflight.some((o) => o !== q)) return 'submitted with IOSQE_IO_DRAIN while other requests of the ring are in flight';
	return null;
}

function requestRefusal(q: InflightRequest, a: ArmDetails, r: RingState | null): string | null {
	if (a.bits & ARM.IO_DRAIN) {
		const why = drainRefusal(r, q);
		if (why) return why;
	}
	/* io_uring also takes the submitter's own creds for a request it prepares to run async (a drained one) */
	if (a.bits & ARM.CREDS && !(a.bits & ARM.OWN_CREDS)) return 'running under a registered personality';
	if (q.fd === null && opcodeTakesFile(opcodeNumber(q.opcode)))
		return 'its file is no longer open in the process or registered with the ring';
	return null;
}

/** Whether a timeout (TIMEOUT or LINK_TIMEOUT) is absolute: its hrtimer mode, which an update may have changed. */
export const isAbsolute = (a: ArmDetails): boolean => (a.mode ?? (a.op_flags & TIMEOUT.ABS ? 0 : HRTIMER_MODE_REL)) % 2 === 0;

/* What the opcode's own state rules out (issued: the request was issued, not a link waiting its turn). */
function opRefusal(op: number, q: InflightRequest, a: ArmDetails, issued: boolean): string | null {
	switch (op) {
	case OP.RECV:
	case OP.RECVMSG:
		if (a.done_io) return `${a.done_io} bytes of it were already received (MSG_WAITALL)`;
		if (a.ioprio & RECV_MSHOT_DONE) return 'a multishot receive that reached its byte limit';
		if (a.ioprio & RECV_MULTISHOT && !REARMABLE_MULTISHOT.has(op)) return `multishot ${q.opcode} is not re-armed yet`;
		if (issued && op === OP.RECVMSG && a.ioprio & RECV_MULTISHOT && !a.msg) return 'the capture did not find the header it copied';
		break;
	case OP.SEND:
		/* waiting in poll, a SEND has sent nothing (a partial one completes, or with MSG_WAITALL counts done_io) */
		if (a.done_io) return `${a.done_io} bytes of it were already sent (MSG_WAITALL)`;
		if (a.ioprio & RECV_UAPI_MASK & ~RECVSEND.POLL_FIRST) return `a SEND with flags 0x${(a.ioprio & RECV_UAPI_MASK).toString(16)} (only IORING_RECVSEND_POLL_FIRST is re-armed)`;
		if (a.bits & ARM.BUFFER_SELECT) return 'a SEND from provided buffers';
		/* to an address (sendto): the kernel keeps only its copy, which the capture reads */
		if (a.bits & ARM.SEND_ADDR && !a.send?.name) return 'a SEND to an address the capture did not find';
		break;
	case OP.SENDMSG:
		return sendmsgRefusal(a);
	case OP.READ_MULTISHOT:
	case OP.READ:
	case OP.WRITE:
		if (a.done_io) return `${a.done_io} bytes of it were already ${op === OP.WRITE ? 'written' : 'read'}`;
		break;
	case OP.POLL_ADD:
		if (!(a.poll_events & EPOLLONESHOT) && !REARMABLE_MULTISHOT.has(op)) return 'multishot POLL_ADD is not re-armed yet';
		break;
	case OP.TIMEOUT:
	case OP.LINK_TIMEOUT: {
		const multishot = (a.op_flags & TIMEOUT.MULTISHOT) !== 0;
		if (op === OP.LINK_TIMEOUT && multishot) return 'a multishot LINK_TIMEOUT';
		if (isAbsolute(a) && multishot) return 'an absolute multishot timeout';
		if (!issued) break;
		if (multishot && a.len && a.repeats <= 0) return 'a multishot timeout with no firings left';
		if (!multishot && a.len && !COUNT_TIMEOUTS) return 'a count-based timeout (not re-armed yet)';
		if (!multishot && a.len && a.count_left <= 0) return 'a count-based timeout whose count is reached';
		break;
	}
	case OP.FUTEX_WAIT:
		return futexRefusal(q.opcode, a.op_flags, a.futex_word, a.addr2);
	case OP.FUTEX_WAITV: {
		const v = a.futexv ?? [];
		if (!v.length || v.length !== a.len) return 'the capture did not find its futex vector';
		for (const [i, f] of v.entries()) {
			const why = futexRefusal(q.opcode, f.flags, f.word, f.val);
			if (why) return `futex ${i} of its vector: ${why}`;
		}
		break;
	}
	case OP.MSG_RING:
		if (BigInt(a.addr) !== MSG_DATA) return 'a MSG_RING that sends a file (only IORING_MSG_DATA is re-armed)';
		break;
	case OP.WAITID:
		if (a.len === P_PIDFD) return 'a WAITID on a pidfd (the process it named is not kept, only the fd number)';
		break;
	case OP.NOP:
		if (a.op_flags & ~NOP_KEPT) return `a NOP with flags 0x${a.op_flags.toString(16)} (a file or buffer is not re-armed)`;
		break;
	case OP.ACCEPT:
		break;
	}
	return null;
}

/* most iovecs of a SENDMSG the capture reads (SENDMSG_MAX_IOVS) */
const SENDMSG_MAX_IOVS = 32;
/* msg_flags the kernel adds for 32-bit tasks' rings */
const MSG_CMSG_COMPAT = 0x80000000;

/*
 * A SENDMSG waiting in poll has reported nothing sent: a partial send
 * completes unless MSG_WAITALL made it go on (done_io counts what it
 * sent; its result would lack those bytes), which is refused, as is
 * anything the header the capture read does not fully describe.  A link
 * never issued was prepared at submission all the same.  It comes
 * back with what is left of its data iterator, which is all of it unless
 * a try used it up without sending (6.18's unix datagram sendmsg copies
 * the data before it finds the receiver's queue full: the kernel then
 * sends an empty datagram once there is room, and so does the re-armed
 * request).
 */
function sendmsgRefusal(a: ArmDetails): string | null {
	if (a.done_io) return `${a.done_io} bytes of it were already sent (MSG_WAITALL)`;
	if (a.ioprio & RECV_UAPI_MASK & ~RECVSEND.POLL_FIRST) return `a SENDMSG with flags 0x${(a.ioprio & RECV_UAPI_MASK).toString(16)} (only IORING_RECVSEND_POLL_FIRST is re-armed)`;
	if (a.bits & ARM.BUFFER_SELECT) return 'a SENDMSG from provided buffers';
	if ((a.op_flags & MSG_CMSG_COMPAT) !== 0) return 'a SENDMSG of a 32-bit task (compat msghdr)';
	const m = a.send;
	if (!m) return 'the capture did not find the header its preparation copied';
	if (m.iter === 'other') return 'a SENDMSG whose data iterator is not user memory';
	if (m.nr_segs > SENDMSG_MAX_IOVS) return `a SENDMSG of ${m.nr_segs} iovecs (at most ${SENDMSG_MAX_IOVS} are re-armed)`;
	const total = m.iovs.reduce((n, v) => n + BigInt(v.len), 0n);
	if (total !== BigInt(m.count)) return `its iovecs hold ${total} bytes, not the ${m.count} left to send`;
	return null;
}

/* Whether a futex wait can be queued again: flags this version rebuilds, and the word still holding the value it waits on. */
function futexRefusal(opcode: string, flags: number, word: string | undefined, val: string): string | null {
	if (flags & ~(FUTEX_FLAGS_SIZE | FUTEX_FLAGS_SHARED)) return `a ${opcode} with futex flags 0x${flags.toString(16)} (NUMA or memory-policy futexes are not re-armed)`;
	if (word === undefined) return 'the capture could not read its futex word';
	const size = 8n << BigInt(flags & FUTEX_FLAGS_SIZE);
	const mask = (1n << size) - 1n;
	if ((BigInt(word) & mask) !== (BigInt(val) & mask)) return `its futex word is ${word}, not the ${val} it waits on (a wake is on its way)`;
	return null;
}

/* FUTEX2_* flags of a futex_waitv entry or a FUTEX_WAIT SQE's fd, from the kernel's FLAGS_*: the size, and PRIVATE unless shared */
const futex2Flags = (flags: number): number => (flags & FUTEX_FLAGS_SIZE) | (flags & FUTEX_FLAGS_SHARED ? 0 : FUTEX2_PRIVATE);

const links = (q: InflightRequest): InflightRequest[] => q.links ?? [];

/* Why link l (at index i of q's links) cannot be re-submitted with q's chain. */
function linkRefusal(q: InflightRequest, l: InflightRequest, i: number): string | null {
	const op = opcodeNumber(l.opcode);
	if (!LINKABLE.has(op)) return `${l.opcode} links are not re-armed yet`;
	if (!l.arm) return 'the capture has no re-arm details for it';
	if (op === OP.LINK_TIMEOUT && i > 0 && links(q)[i - 1].opcode === 'LINK_TIMEOUT') return 'a LINK_TIMEOUT after a LINK_TIMEOUT';
	return requestRefusal(l, l.arm, null) ?? opRefusal(op, l, l.arm, false);
}

/** Whether the restore can re-arm request q of ring r (with the links of its chain), and if not, why. */
export function classify(r: RingState, q: InflightRequest): Verdict {
	if (q.state === 'linked_timeout') return no('a LINK_TIMEOUT guarding a request that is not re-armed');
	if (q.state !== 'poll' && q.state !== 'timeout' && !(q.state === 'futex' && (q.opcode === 'FUTEX_WAIT' || q.opcode === 'FUTEX_WAITV')) &&
		!(q.state === 'waitid' && q.opcode === 'WAITID'))
		return no(`a ${q.state} wait (not re-armed yet)`);
	const op = opcodeNumber(q.opcode);
	if (!REARMABLE.has(op)) return no(`${q.opcode} requests are not re-armed yet`);
	if (!q.arm) return no('the capture has no re-arm details for it');
	const a = q.arm;
	const links = q.links ?? [];
	const why = ringRefusal(r) ?? requestRefusal(q, a, r) ?? opRefusal(op, q, a, true);
	if (why) return no(why);
	if (a.linked && !links.length) return no('part of a linked chain whose links the capture did not find');
	if (links.length && links[links.length - 1].arm?.linked) return no(`part of a linked chain of more than ${MAX_LINKS} links`);
	if (a.bits & ARM.LINK_TIMEOUT && links[0]?.opcode !== 'LINK_TIMEOUT') return no('guarded by a LINK_TIMEOUT the capture did not find');
	for (const [i, l] of links.entries()) {
		const lw = linkRefusal(q, l, i);
		if (lw) return no(`its linked ${l.opcode} user_data ${l.user_data}: ${lw}`);
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

/** The SQEs the restore submits for the ring's re-armed requests (a chain: one per request). */
export const rearmedSqes = (r: RingState): number =>
	r.inflight.filter(rearmable).reduce((n, q) => n + 1 + (q.links?.length ?? 0), 0);

/** What the restore submits: one 64-byte SQE; timeouts also need their time left (the SQE's addr is set at restore). */
export interface RearmSqe {
	sqe: Buffer;
	timeout_ns?: bigint;
	/** A multishot RECVMSG: the struct msghdr its SQE's addr points at (the restore places it). */
	msghdr?: Buffer;
	/** FUTEX_WAITV: the struct futex_waitv array its SQE's addr points at (the restore places it), rebuilt from the kernel's copy. */
	futexv?: Buffer;
	/**
	 * SENDMSG (with msghdr): the iovec array (16 bytes per iovec) and the
	 * destination address its msghdr points at, rebuilt from the kernel's
	 * copies; the restore places them after the msghdr and sets its
	 * msg_iov and msg_name.  A SEND to an address: the address its addr2
	 * points at (placed at restore).
	 */
	iovecs?: Buffer;
	name?: Buffer;
}

/* struct futex_waitv: val, uaddr, flags, __reserved */
export const FUTEX_WAITV_SIZE = 24;

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

/* A SENDMSG's msghdr (msg_name and msg_iov are set at restore), iovecs and address, from what its preparation copied. */
function sendmsgParts(m: NonNullable<ArmDetails['send']>): Required<Pick<RearmSqe, 'msghdr' | 'iovecs' | 'name'>> {
	const name = Buffer.from(m.name, 'hex');
	const iovecs = Buffer.alloc(16 * m.iovs.length);
	m.iovs.forEach((v, i) => {
		iovecs.writeBigUInt64LE(BigInt(v.base), 16 * i);
		iovecs.writeBigUInt64LE(BigInt(v.len), 16 * i + 8);
	});
	const h = Buffer.alloc(MSGHDR_SIZE);
	h.writeUInt32LE(name.length, 8);
	h.writeBigUInt64LE(BigInt(m.iovs.length), 24);
	h.writeBigUInt64LE(BigInt(m.control), 32);
	h.writeBigUInt64LE(BigInt(m.controllen), 40);
	return { msghdr: h, iovecs, name };
}

/* struct io_uring_sqe offsets */
const SQE = {
	opcode: 0, flags: 1, ioprio: 2, fd: 4, off: 8, addr: 16, len: 24, op_flags: 28, user_data: 32,
	buf_group: 40, personality: 42, file_index: 44, optlen: 44, addr_len: 44, addr3: 48,
} as const;

/*
 * How one request comes back.  issued: it was issued and waits (the head
 * of its chain); else a link that was never issued, whose command data is
 * still what preparing its SQE left.  linkNext: another re-armed link
 * follows it (it keeps IOSQE_IO_LINK / IO_HARDLINK).  ltArmed: a
 * LINK_TIMEOUT whose timer the kernel started when the request before it
 * was issued.
 */
interface SqeCtx { issued: boolean; linkNext: boolean; ltArmed: boolean }

function requestSqe(q: InflightRequest, c: SqeCtx): RearmSqe {
	const a = q.arm!;
	const op = opcodeNumber(q.opcode);
	const b = Buffer.alloc(64);
	let flags = 0;
	if (q.fixed) flags |= IOSQE.FIXED_FILE;
	if (a.bits & ARM.FORCE_ASYNC) flags |= IOSQE.ASYNC;
	if (a.bits & ARM.BUFFER_SELECT) flags |= IOSQE.BUFFER_SELECT;
	if (a.bits & ARM.CQE_SKIP) flags |= IOSQE.CQE_SKIP_SUCCESS;
	if (a.bits & ARM.IO_DRAIN) flags |= IOSQE.IO_DRAIN; /* alone on its ring (drainRefusal) */
	/* the last re-armed request of a chain ends it (nothing else in the batch may join it) */
	if (c.linkNext) flags |= a.bits & (ARM.LINK | ARM.HARDLINK) ? a.bits & (IOSQE.IO_LINK | IOSQE.IO_HARDLINK) : IOSQE.IO_LINK;
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
	case OP.SEND:
	case OP.RECVMSG: {
		const multishot = op !== OP.SEND && (a.ioprio & RECV_MULTISHOT) !== 0;
		b.writeUInt16LE(a.ioprio & RECV_UAPI_MASK, SQE.ioprio);
		/*
		 * A multishot RECVMSG's msghdr pointer is gone once it was issued
		 * (the kernel reuses it for the selected buffer): a msghdr with
		 * the header the kernel copied goes in its place (iovlen 0: the
		 * buffer group provides the memory).
		 */
		if (op === OP.RECVMSG && multishot && c.issued) out.msghdr = msghdr(a.msg!);
		else if (!(a.bits & ARM.BUFFER_SELECT) || op === OP.RECVMSG) b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		/* a SEND to an address: addr2 points at the kernel's copy of it (placed at restore), addr_len its length */
		if (op === OP.SEND && a.bits & ARM.SEND_ADDR) {
			out.name = Buffer.from(a.send!.name, 'hex');
			b.writeUInt16LE(out.name.length, SQE.addr_len);
		}
		b.writeUInt32LE(multishot && op === OP.RECV && c.issued ? a.mshot_len : a.len, SQE.len);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		if (a.bits & ARM.BUFFER_SELECT) b.writeUInt16LE(a.buf_group, SQE.buf_group);
		if (multishot && op === OP.RECV && a.ioprio & RECV_MSHOT_LIM) b.writeUInt32LE(a.mshot_total_len, SQE.optlen);
		break;
	}
	case OP.READ:
	case OP.WRITE:
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
		if (op !== OP.READ_MULTISHOT) b.writeUInt32LE(a.len, SQE.len);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		break;
	}
	case OP.SENDMSG:
		/* addr: the msghdr (placed at restore); the kernel adds MSG_NOSIGNAL to msg_flags anyway */
		b.writeUInt16LE(a.ioprio & RECVSEND.POLL_FIRST, SQE.ioprio);
		b.writeUInt32LE(a.len, SQE.len);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		Object.assign(out, sendmsgParts(a.send!));
		break;
	case OP.ACCEPT:
		b.writeUInt16LE(a.ioprio & (ACCEPT.MULTISHOT | ACCEPT.DONTWAIT | ACCEPT.POLL_FIRST), SQE.ioprio);
		b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		b.writeBigUInt64LE(BigInt(a.addr2), SQE.off);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		b.writeUInt32LE(a.file_slot, SQE.file_index);
		break;
	case OP.FUTEX_WAITV: {
		/* addr: the vector (placed at restore), len: its length; struct futex_waitv is val, uaddr, flags, reserved */
		const v = a.futexv!;
		const arr = Buffer.alloc(FUTEX_WAITV_SIZE * v.length);
		v.forEach((f, i) => {
			arr.writeBigUInt64LE(BigInt(f.val), i * FUTEX_WAITV_SIZE);
			arr.writeBigUInt64LE(BigInt(f.uaddr), i * FUTEX_WAITV_SIZE + 8);
			arr.writeUInt32LE(futex2Flags(f.flags), i * FUTEX_WAITV_SIZE + 16);
		});
		b.writeInt32LE(0, SQE.fd);
		b.writeUInt32LE(v.length, SQE.len);
		out.futexv = arr;
		break;
	}
	case OP.FUTEX_WAIT:
		/* sqe->fd holds the FUTEX2_* flags: the size, and PRIVATE unless the kernel made it shared */
		b.writeInt32LE(futex2Flags(a.op_flags), SQE.fd);
		b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		b.writeBigUInt64LE(BigInt(a.addr2), SQE.off);
		b.writeBigUInt64LE(BigInt(a.addr3 ?? '0'), SQE.addr3);
		break;
	case OP.MSG_RING:
		/* fd: the target ring; addr: the command; off, len: the target's user_data and res; file_index: its CQE flags with FLAGS_PASS */
		b.writeBigUInt64LE(BigInt(a.addr), SQE.addr);
		b.writeBigUInt64LE(BigInt(a.addr2), SQE.off);
		b.writeUInt32LE(a.len, SQE.len);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		b.writeBigUInt64LE(BigInt(a.addr3 ?? '0'), SQE.addr3);
		b.writeUInt32LE(a.file_slot, SQE.file_index);
		break;
	case OP.WAITID:
		/* sqe->len: idtype, fd: the id, file_index: the options, addr2: the siginfo pointer */
		b.writeUInt32LE(a.len, SQE.len);
		b.writeInt32LE(Number(BigInt.asIntN(32, BigInt(a.addr))), SQE.fd);
		b.writeUInt32LE(a.op_flags, SQE.file_index);
		b.writeBigUInt64LE(BigInt(a.addr2), SQE.off);
		break;
	case OP.NOP:
		b.writeInt32LE(-1, SQE.fd);
		b.writeUInt32LE(a.op_flags, SQE.op_flags);
		b.writeUInt32LE(a.len, SQE.len); /* the injected result */
		b.writeBigUInt64LE(BigInt(a.addr), SQE.off); /* CQE32: extra1 comes from off, extra2 from addr */
		b.writeBigUInt64LE(BigInt(a.addr2), SQE.addr);
		break;
	case OP.TIMEOUT:
	case OP.LINK_TIMEOUT:
		timeoutSqe(b, op, a, c, out);
		break;
	}
	return out;
}

/*
 * TIMEOUT and LINK_TIMEOUT.  The SQE's addr is set at restore, to a
 * timespec of timeout_ns:
 *  - absolute: the deadline as the application's clock reads it (the
 *    dumped task's time-namespace offset added; the restore subtracts the
 *    restored task's), REALTIME ones as they were;
 *  - relative, timer running: the time it had left (a multishot one: its
 *    period, so the first firing after the restore comes up to one period
 *    late, never early);
 *  - relative, never issued (a link): the timespec as the SQE gave it.
 * A count-based TIMEOUT waits for the completions it still needed; a
 * multishot one fires the times it had left.
 */
function timeoutSqe(b: Buffer, op: number, a: ArmDetails, c: SqeCtx, out: RearmSqe): void {
	const multishot = (a.op_flags & TIMEOUT.MULTISHOT) !== 0;
	const abs = isAbsolute(a);
	const given = BigInt(a.ts_sec) * 1_000_000_000n + BigInt(a.ts_nsec);
	b.writeInt32LE(0, SQE.fd);
	b.writeUInt32LE(1, SQE.len);
	b.writeUInt32LE((a.op_flags & TIMEOUT_KEPT) | (abs ? TIMEOUT.ABS : 0), SQE.op_flags);
	let off = 0;
	if (op === OP.TIMEOUT && a.len) off = !c.issued ? a.len : multishot ? a.repeats : a.count_left;
	b.writeBigUInt64LE(BigInt(off), SQE.off);
	let ns: bigint;
	if (abs) ns = given + (a.op_flags & TIMEOUT.REALTIME ? 0n : BigInt(a.clock_offset_ns ?? '0'));
	else if ((c.issued || c.ltArmed) && !multishot) ns = BigInt(a.remaining_ns);
	else ns = given;
	out.timeout_ns = ns > 0n ? ns : 0n;
}

/**
 * The SQEs that re-arm q and the links of its chain, in submission order
 * (classify(r, q) must have said ok).
 */
export function rearmChain(r: RingState, q: InflightRequest): RearmSqe[] {
	const v = classify(r, q);
	if (!v.ok) throw new Error(`${q.opcode} user_data ${q.user_data} cannot be re-armed: ${v.why}`);
	const links = q.links ?? [];
	const out = [requestSqe(q, { issued: true, linkNext: links.length > 0, ltArmed: false })];
	links.forEach((l, i) => out.push(requestSqe(l, {
		issued: false, linkNext: i + 1 < links.length,
		ltArmed: i === 0 && l.opcode === 'LINK_TIMEOUT' && (q.arm!.bits & ARM.LINK_TIMEOUT) !== 0,
	})));
	return out;
}

/** The SQE that re-arms q itself (the first of rearmChain). */
export function rearmSqe(r: RingState, q: InflightRequest): RearmSqe {
	return rearmChain(r, q)[0];
}

/*
 * Re-arming in-flight requests, below the real dump/restore of
 * test/rearm.test.ts: the planner's steps (src/restore/concerns/rearm.ts),
 * the capture's verdicts and SQEs (src/capture/rearm.ts), and the kernel
 * facts the BPF side relies on.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { loadNative } from '../src/native';
import { sampleImage, sampleRingMemory } from '../src/image/sample';
import { restoreRings } from '../src/restore/from-image';
import { planRing, PlanError } from '../src/restore/planner';
import { serialize, type Step } from '../src/restore/plan';
import { classify, rearmChain, rearmSqe, waitsForEvents } from '../src/capture/rearm';
import type { ArmDetails, InflightRequest, RingState } from '../src/capture/model';

const OWNER = 4242;

function sampleRing() {
	const img = sampleImage(OWNER);
	const r = img.rings[0];
	Object.assign(r, { provided_buffer_groups: [], provided_buffer_rings: [], mem_regions: [], restrictions: null,
		personalities: [], personality_next: 0, overflow_cqes: [] });
	/* the sample ring is an SQPOLL one, which re-arming refuses */
	r.setup!.flags &= ~(2 | 4);
	r.memory!.rings = sampleRingMemory(r.setup!.flags, 8, 32, true);
	img.process!.holds[0].mappings = img.process!.holds[0].mappings.slice(0, 2);
	img.process!.holds[0].epoll_watches = [];
	return { img, ring: restoreRings(img)[0] };
}

t.test('the plan shortens the advance by one SQE per request and arms them after the eventfd', async (t) => {
	const { ring } = sampleRing();
	const steps = planRing(OWNER, ring, 0);
	const adv = steps.find((s) => s.op === 'advance') as Extract<Step, { op: 'advance' }>;
	t.equal(adv.sq, (ring.state.sq.cached_head! - 5) >>> 0, 'advance stops 5 SQEs short of the dumped head');
	t.equal(adv.cq, ring.state.cq.cached_tail, 'the CQ tail is not affected');
	const at = (pred: (s: Step) => boolean): number => steps.findIndex(pred);
	const arm = at((s) => s.op === 'arm');
	t.ok(arm > 0, 'an arm step');
	const a = steps[arm] as Extract<Step, { op: 'arm' }>;
	t.equal(a.count, 5, 'all five requests');
	const ringWrite = at((s) => s.op === 'write' && s.data.equals(ring.rings));
	t.ok(ringWrite >= 0 && ringWrite < arm, 'after the dumped ring bytes are written back');
	const eventfd = at((s) => s.op === 'sys' && /eventfd/i.test(s.what));
	t.ok(eventfd >= 0 && eventfd < arm, 'after the eventfd is registered (an immediate completion signals it)');
	/* the SQEs sit in scratch memory; the TIMEOUT's addr is patched to its timespec there */
	const srcOff = Number(String(a.src).split('+')[1]);
	const store = steps.find((s) => s.op === 'store' && s.addr === `$s0+${srcOff + 16}`) as Extract<Step, { op: 'store' }>;
	t.ok(store, 'a store patches the TIMEOUT SQE\'s addr field');
	t.ok(steps.indexOf(store) < arm, 'before the arm step');
	const ts = steps.find((s) => s.op === 'write' && s.addr === store.value) as Extract<Step, { op: 'write' }>;
	t.same([ts.data.readBigInt64LE(0), ts.data.readBigInt64LE(8)], [1n, 500000000n], 'timespec = the 1.5 s it had left');
	const sqes = steps.find((s) => s.op === 'write' && s.addr === a.src) as Extract<Step, { op: 'write' }>;
	t.ok(sqes.data.equals(Buffer.concat(ring.rearm!.map((q) => q.sqe))), 'the recorded SQEs, in order');
	const mstore = steps.find((s) => s.op === 'store' && s.addr === `$s0+${srcOff + 2 * 64 + 16}`) as Extract<Step, { op: 'store' }>;
	const mh = steps.find((s) => s.op === 'write' && s.addr === mstore?.value) as Extract<Step, { op: 'write' }>;
	t.ok(mh?.data.equals(ring.rearm![2].msghdr!), 'the RECVMSG SQE points at its msghdr, placed in scratch memory');
	const vstore = steps.find((s) => s.op === 'store' && s.addr === `$s0+${srcOff + 3 * 64 + 16}`) as Extract<Step, { op: 'store' }>;
	const vec = steps.find((s) => s.op === 'write' && s.addr === vstore?.value) as Extract<Step, { op: 'write' }>;
	t.ok(vec?.data.equals(ring.rearm![3].futexv!), 'the FUTEX_WAITV SQE points at its futex vector, placed in scratch memory');
	/* SENDMSG: its msghdr, iovecs and address placed together, msg_iov and msg_name pointing into that */
	const sstore = steps.find((s) => s.op === 'store' && s.addr === `$s0+${srcOff + 4 * 64 + 16}`) as Extract<Step, { op: 'store' }>;
	const blob = steps.find((s) => s.op === 'write' && s.addr === sstore?.value) as Extract<Step, { op: 'write' }>;
	const q4 = ring.rearm![4];
	t.ok(blob?.data.equals(Buffer.concat([q4.msghdr!, q4.iovecs!, q4.name!])), 'the SENDMSG SQE points at its msghdr, iovecs and address, placed together');
	const base = Number(String(blob?.addr).split('+')[1]);
	const ptr = (field: number): unknown => (steps.find((s) => s.op === 'store' && s.addr === `$s0+${base + field}`) as Extract<Step, { op: 'store' }> | undefined)?.value;
	t.same([ptr(16), ptr(0)], [`$s0+${base + 56}`, `$s0+${base + 56 + 32}`], 'msg_iov points at the iovecs, msg_name at the address after them');
	t.ok(steps.findIndex((s) => s.op === 'store' && s.addr === `$s0+${base + 16}`) > steps.indexOf(blob), 'patched after the msghdr is written');
	t.match(serialize([a])[0], /^arm \$r0 \$s0\+\d+ \$s0\+\d+ 5 -- re-arm 5 in-flight request\(s\)$/);
});

t.test('SQPOLL: the SQ thread takes the re-armed SQEs inside the write-back', async (t) => {
	const { ring } = sampleRing();
	ring.state.setup_flags |= 2;
	ring.state.sqpoll = { thread_pid: null, cpu: null, idle_ms: 10, shared_with: [] };
	ring.rings.writeUInt32LE(ring.state.sq.cached_head!, 4); /* no pending SQE (struct io_rings: sq.tail) */
	const steps = planRing(OWNER, ring, 0);
	t.notOk(steps.some((s) => s.op === 'arm'), 'no arm step');
	const wait = steps.findIndex((s) => s.op === 'wait');
	const wake = steps.findIndex((s) => s.op === 'sys' && /wake the SQ thread for 5 re-armed/.test(s.what));
	t.ok(wake > 0 && wait === wake + 1, 'the thread is woken, then the plan waits for the SQ head');
	t.equal((steps[wait] as Extract<Step, { op: 'wait' }>).value, ring.state.sq.cached_head, 'until it reads the dumped head');
	const sqes = ring.rearm!.map((q) => q.sqe);
	const written = steps.slice(0, wake).filter((s) => s.op === 'write' && sqes.some((x) => s.data.subarray(0, 64).equals(x)));
	t.equal(written.length, 5, 'the five SQEs are written into SQ slots before the wake-up');
	t.ok(steps.slice(0, wake).some((s) => s.op === 'store'), 'the TIMEOUT\'s addr is patched in its slot');
	t.ok(steps.findIndex((s) => s.op === 'sys' && /pending SQEs/.test(s.what)) > wait, 'the dumped tail only after that');
});

t.test('the plan refuses what it cannot re-arm', async (t) => {
	for (const [what, change, re] of [
		['SQPOLL, no room', (s: RingState) => { s.setup_flags |= 2; s.sq_entries = 2; s.sqpoll = { thread_pid: null, cpu: null, idle_ms: 10, shared_with: [] }; }, /do not fit the 2-entry SQ of an SQPOLL ring/],
		['a 2^32 lap', (s: RingState) => { s.sq.cached_head = 1; }, /5 re-armed requests but the ring's cached SQ head is 1/],
	] as const) {
		const { ring } = sampleRing();
		change(ring.state);
		t.throws(() => planRing(OWNER, ring, 0), re, what);
	}
	t.ok(PlanError);
});

const arm = (over: Partial<ArmDetails> = {}): ArmDetails => ({
	bits: 0, addr: '4096', addr2: '0', len: 16, op_flags: 0, ioprio: 0, buf_group: 0, done_io: 0, mshot_len: 0,
	mshot_total_len: 0, file_slot: 0, count_left: 0, poll_events: 0, remaining_ns: '0', ts_sec: '0', ts_nsec: '0',
	linked: false, repeats: 0, ...over,
});
const req = (opcode: string, a: ArmDetails, over: Partial<InflightRequest> = {}): InflightRequest =>
	({ opcode, user_data: '7', fd: 5, fixed: false, state: 'poll', arm: a, ...over });
const plainRing = { setup_flags: 0 } as RingState;

t.test('verdicts', async (t) => {
	const why = (q: InflightRequest, r: RingState = plainRing): string => {
		const v = classify(r, q);
		return v.ok ? 'ok' : v.why;
	};
	t.equal(why(req('RECV', arm())), 'ok', 'a plain RECV');
	t.equal(why(req('POLL_ADD', arm({ poll_events: 0xC0000001 }))), 'ok', 'a single-shot POLL_ADD');
	t.equal(why(req('TIMEOUT', arm({ remaining_ns: '5', len: 0 }), { fd: null, state: 'timeout' })), 'ok', 'a relative TIMEOUT');
	t.match(why(req('RECV', arm({ linked: true }))), /linked chain/);
	t.equal(why(req('RECV', arm({ bits: 1 << 2 }))), 'ok', 'IOSQE_IO_LINK with nothing after it (the end of a chain)');
	{
		const drain = req('RECV', arm({ bits: 1 << 1 }));
		const alone = { ...plainRing, inflight: [drain] } as RingState;
		t.equal(why(drain, alone), 'ok', 'IOSQE_IO_DRAIN, alone on its ring');
		t.equal(rearmSqe(alone, drain).sqe[1] & (1 << 1), 1 << 1, 'comes back with IOSQE_IO_DRAIN');
		t.match(why(drain, { ...plainRing, inflight: [drain, req('RECV', arm())] } as RingState), /IO_DRAIN while other requests/);
	}
	t.match(why(req('RECV', arm({ bits: 1 << 9 }))), /personality/);
	t.match(why(req('RECV', arm({ done_io: 3 }))), /3 bytes of it were already received/);
	t.equal(why(req('RECV', arm()), { setup_flags: 2 } as RingState), 'ok', 'on an SQPOLL ring');
	t.match(why(req('RECV', arm(), { fd: null })), /no longer open/);
	t.match(why(req('FUTEX_WAITV', arm({ len: 2, bits: 1 << 17 }), { state: 'futex', fd: null })), /did not find its futex vector/);
	{
		const v = (words: string[], flags = 2): Partial<ArmDetails> =>
			({ len: 2, bits: 1 << 17, futexv: words.map((word, i) => ({ uaddr: String(4096 + 4 * i), val: String(i), flags, word })) });
		t.equal(why(req('FUTEX_WAITV', arm(v(['0', '1'])), { state: 'futex', fd: null })), 'ok', 'a queued FUTEX_WAITV');
		t.match(why(req('FUTEX_WAITV', arm(v(['0', '5'])), { state: 'futex', fd: null })), /futex 1 of its vector: its futex word is 5, not the 1/);
		t.match(why(req('FUTEX_WAITV', arm(v(['0', '1'], 2 | 4)), { state: 'futex', fd: null })), /futex 0 of its vector: .*NUMA/);
		t.notOk(waitsForEvents(req('FUTEX_WAITV', arm({ ...v(['0', '1']), bits: 0 }), { state: 'futex', fd: null })), 'a woken FUTEX_WAITV completes on its own');
		const [sqe] = rearmChain(plainRing, req('FUTEX_WAITV', arm(v(['0', '1'])), { state: 'futex', fd: null }));
		t.equal(sqe.sqe.readUInt32LE(24), 2, 'its SQE waits on two futexes');
		t.same([sqe.futexv?.length, sqe.futexv?.readBigUInt64LE(32), sqe.futexv?.readUInt32LE(40)], [48, 4100n, 2 | 128],
			'the vector rebuilt from the kernel\'s copy: 24 bytes each, the second at 4100, 32-bit and private');
	}
	t.equal(why(req('FUTEX_WAIT', arm({ op_flags: 2, addr2: '7', futex_word: '7', bits: 1 << 17 }), { state: 'futex', fd: null })), 'ok', 'a queued FUTEX_WAIT');
	t.match(why(req('FUTEX_WAIT', arm({ op_flags: 2, addr2: '7', futex_word: '8', bits: 1 << 17 }), { state: 'futex', fd: null })), /futex word is 8, not the 7/);
	t.match(why(req('FUTEX_WAIT', arm({ op_flags: 2 | 4, addr2: '7', futex_word: '7', bits: 1 << 17 }), { state: 'futex', fd: null })), /NUMA/);
	t.notOk(waitsForEvents(req('FUTEX_WAIT', arm({ op_flags: 2 }), { state: 'futex', fd: null })), 'a woken FUTEX_WAIT completes on its own');
	t.equal(why(req('SEND', arm({ ioprio: 1 }))), 'ok', 'a SEND with POLL_FIRST');
	t.match(why(req('SEND', arm({ done_io: 5 }))), /5 bytes of it were already sent/);
	t.match(why(req('SEND', arm({ bits: 1 << 16 }))), /to an address the capture did not find/);
	{
		const to = arm({ bits: 1 << 16, addr: '64', len: 9, send: { name: '01006162', control: '0', controllen: '0', iter: 'ubuf', iov_offset: '0', count: '9', nr_segs: 1, iovs: [{ base: '64', len: '9' }] } });
		t.equal(why(req('SEND', to)), 'ok', 'a SEND to an address the capture read');
		const s = rearmSqe(plainRing, req('SEND', to));
		t.same([s.sqe.readBigUInt64LE(16), s.sqe.readBigUInt64LE(8), s.sqe.readUInt16LE(44), s.name?.toString('hex')], [64n, 0n, 4, '01006162'],
			'its SQE: the buffer, addr2 set at restore to the address, addr_len');
		t.equal(why(req('RECV', arm({ bits: 1 << 2, linked: true }), { links: [req('SEND', to, { state: 'linked', user_data: '8' })] })), 'ok', 'as a link');
	}
	t.match(why(req('SEND', arm({ ioprio: 1 << 4 }))), /only IORING_RECVSEND_POLL_FIRST/);
	{
		const send = (over: Partial<NonNullable<ArmDetails['send']>> = {}): Partial<ArmDetails> => ({ op_flags: 0x4000, send: {
			name: '0100', control: '8192', controllen: '24', iter: 'iovec', iov_offset: '0', count: '30', nr_segs: 2,
			iovs: [{ base: '4096', len: '10' }, { base: '5000', len: '20' }], ...over } });
		t.equal(why(req('SENDMSG', arm(send()))), 'ok', 'a SENDMSG waiting for room');
		t.match(why(req('SENDMSG', arm({ ...send(), done_io: 5 }))), /^5 bytes of it were already sent \(MSG_WAITALL\)$/);
		t.match(why(req('SENDMSG', arm())), /did not find the header/);
		t.match(why(req('SENDMSG', arm(send({ count: '31' })))), /iovecs hold 30 bytes, not the 31 left/);
		t.match(why(req('SENDMSG', arm(send({ nr_segs: 33 })))), /33 iovecs \(at most 32/);
		t.match(why(req('SENDMSG', arm(send({ iter: 'other' })))), /not user memory/);
		t.match(why(req('SENDMSG', arm({ ...send(), bits: 1 << 5 }))), /provided buffers/);
		t.match(why(req('SENDMSG', arm({ ...send(), ioprio: 1 << 1 }))), /only IORING_RECVSEND_POLL_FIRST/);
		t.equal(why(req('RECV', arm({ bits: 1 << 2, linked: true }), { links: [req('SENDMSG', arm(send()), { state: 'linked', user_data: '8' })] })),
			'ok', 'a SENDMSG link (prepared at submission, from the same copies)');
		t.match(why(req('SENDMSG_ZC', arm(send()))), /SENDMSG_ZC requests are not re-armed yet/);
		t.match(why(req('SEND_ZC', arm())), /SEND_ZC requests are not re-armed yet/);
		const s = rearmSqe(plainRing, req('SENDMSG', arm({ ...send(), ioprio: 1, len: 1 })));
		t.same([s.sqe[0], s.sqe.readUInt16LE(2), s.sqe.readInt32LE(4), s.sqe.readBigUInt64LE(16), s.sqe.readUInt32LE(28)], [9, 1, 5, 0n, 0x4000],
			'SENDMSG: POLL_FIRST, its fd, addr set at restore, msg flags');
		t.same([s.msghdr?.readBigUInt64LE(0), s.msghdr?.readUInt32LE(8), s.msghdr?.readBigUInt64LE(16), s.msghdr?.readBigUInt64LE(24),
			s.msghdr?.readBigUInt64LE(32), s.msghdr?.readBigUInt64LE(40)], [0n, 2, 0n, 2n, 8192n, 24n],
		'its msghdr: name and iov pointers left to the restore, 2-byte name, 2 iovecs, the control buffer');
		t.same([s.iovecs?.toString('hex'), s.name?.toString('hex')],
			['0010000000000000' + '0a00000000000000' + '8813000000000000' + '1400000000000000', '0100'], 'the iovecs and the address as the kernel copied them');
		const u = rearmSqe(plainRing, req('SENDMSG', arm(send({ iter: 'ubuf', nr_segs: 1, count: '7', iovs: [{ base: '4100', len: '7' }] }))));
		t.same([u.msghdr?.readBigUInt64LE(24), u.iovecs?.readBigUInt64LE(0), u.iovecs?.readBigUInt64LE(8)], [1n, 4100n, 7n], 'one user buffer: one iovec');
	}
	t.match(why(req('LINK_TIMEOUT', arm(), { state: 'linked_timeout' })), /LINK_TIMEOUT guarding a request that is not re-armed/);
	t.equal(why(req('TIMEOUT', arm({ op_flags: 1, mode: 0, len: 0 }), { fd: null, state: 'timeout' })), 'ok', 'an absolute TIMEOUT');
	t.equal(why(req('TIMEOUT', arm({ op_flags: 1 << 3, mode: 1, len: 0 }), { fd: null, state: 'timeout' })), 'ok', 'a CLOCK_REALTIME TIMEOUT');
	t.equal(why(req('TIMEOUT', arm({ op_flags: 1 << 6, mode: 1, len: 3, repeats: 2 }), { fd: null, state: 'timeout' })), 'ok', 'a multishot TIMEOUT');
	t.match(why(req('TIMEOUT', arm({ op_flags: 1 << 6, mode: 1, len: 3, repeats: 0 }), { fd: null, state: 'timeout' })), /no firings left/);
	/* chains */
	const link = (opcode: string, a: ArmDetails, over: Partial<InflightRequest> = {}): InflightRequest => req(opcode, a, { state: 'linked', user_data: '8', ...over });
	t.equal(why(req('RECV', arm({ bits: 1 << 2, linked: true }), { links: [link('WRITE', arm()), link('NOP', arm(), { fd: null })] })), 'ok', 'RECV -> WRITE -> NOP');
	t.equal(why(req('POLL_ADD', arm({ bits: (1 << 2) | (1 << 8), linked: true, poll_events: 0x40000001 }),
		{ links: [link('LINK_TIMEOUT', arm({ mode: 1 }), { fd: null })] })), 'ok', 'POLL_ADD guarded by a LINK_TIMEOUT');
	t.match(why(req('RECV', arm({ bits: 1 << 2, linked: true }), { links: [link('FSYNC', arm())] })), /linked FSYNC user_data 8: FSYNC links are not re-armed yet/);
	t.match(why(req('RECV', arm({ bits: 1 << 2, linked: true }), { links: [link('WRITE', arm({ bits: 1 << 9 }))] })), /linked WRITE.*personality/);
	t.match(why(req('RECV', arm({ bits: 1 << 8, linked: true }))), /capture did not find/);
	t.match(why(req('RECV', arm({ bits: 1 << 2, linked: true }), { links: [link('WRITE', arm({ linked: true }))] })), /more than 64 links/);
	t.match(why(req('RECV', undefined as unknown as ArmDetails)), /no re-arm details/);
	t.equal(why(req('RECV', arm({ ioprio: 2, bits: 1 << 5 }))), 'ok', 'a multishot RECV on a buffer group');
	t.match(why(req('RECV', arm({ ioprio: 2 | (1 << 11) }))), /reached its byte limit/);
	t.equal(why(req('POLL_ADD', arm({ poll_events: 0x80000001 }))), 'ok', 'a multishot POLL_ADD');
	t.equal(why(req('ACCEPT', arm({ ioprio: 1 }))), 'ok', 'a multishot ACCEPT');
	t.equal(why(req('TIMEOUT', arm({ len: 3, count_left: 2 }), { fd: null, state: 'timeout' })), 'ok', 'a count-based TIMEOUT');
	t.match(why(req('TIMEOUT', arm({ len: 3, count_left: 0 }), { fd: null, state: 'timeout' })), /count is reached/);
	t.match(why(req('READ_MULTISHOT', arm({ done_io: 4 }))), /4 bytes of it were already read/);
});

t.test('SQEs', async (t) => {
	const recv = rearmSqe(plainRing, req('RECV', arm({ op_flags: 0x40, bits: 1 }), { fixed: true, fd: 3 })).sqe;
	t.same([recv[0], recv[1], recv.readInt32LE(4), recv.readBigUInt64LE(16), recv.readUInt32LE(24), recv.readUInt32LE(28), recv.readBigUInt64LE(32)],
		[27, 1, 3, 4096n, 16, 0x40, 7n], 'RECV: opcode, IOSQE_FIXED_FILE, index, buffer, length, msg_flags, user_data');
	const poll = rearmSqe(plainRing, req('POLL_ADD', arm({ poll_events: (0xC0002019 | 0) >>> 0 }))).sqe;
	t.same([poll.readUInt32LE(28), poll.readUInt32LE(24)], [0x2019, 0], 'POLL_ADD: the mask without ONESHOT/ET; single-shot, edge');
	const read = rearmSqe(plainRing, req('READ', arm({ bits: 1 << 7, addr2: '99' }))).sqe;
	t.equal(read.readBigInt64LE(8), -1n, 'READ at the file position: offset -1');
	const mrecv = rearmSqe(plainRing, req('RECV', arm({ ioprio: 2 | (1 << 12), bits: 1 << 5, buf_group: 3, mshot_len: 100, mshot_total_len: 900, len: 64 }))).sqe;
	t.same([mrecv[1], mrecv.readUInt16LE(2), mrecv.readBigUInt64LE(16), mrecv.readUInt32LE(24), mrecv.readUInt16LE(40), mrecv.readUInt32LE(44)],
		[1 << 5, 2, 0n, 100, 3, 900], 'multishot RECV: BUFFER_SELECT, RECV_MULTISHOT only, no buffer, its per-CQE length, group, bytes left of its limit');
	const mread = rearmSqe(plainRing, req('READ_MULTISHOT', arm({ bits: 1 << 5, buf_group: 2, ioprio: 0x4004, len: 64 }))).sqe;
	t.same([mread.readUInt16LE(2), mread.readUInt32LE(24), mread.readBigUInt64LE(16), mread.readUInt16LE(40)], [0, 0, 0n, 2],
		'READ_MULTISHOT: the default best-effort ioprio goes back as 0, no length or address, its group');
	const acc = rearmSqe(plainRing, req('ACCEPT', arm({ ioprio: 1 | (1 << 9), addr: '8', addr2: '16', op_flags: 0x80000, file_slot: 5 }))).sqe;
	t.same([acc.readUInt16LE(2), acc.readBigUInt64LE(16), acc.readBigUInt64LE(8), acc.readUInt32LE(28), acc.readUInt32LE(44)],
		[1, 8n, 16n, 0x80000, 5], 'ACCEPT: its UAPI flags, address and length pointers, accept4 flags, direct slot');
	const ctmo = rearmSqe(plainRing, req('TIMEOUT', arm({ len: 3, count_left: 2, remaining_ns: '7' }), { fd: null, state: 'timeout' })).sqe;
	t.equal(ctmo.readBigUInt64LE(8), 2n, 'a count TIMEOUT waits for the completions it still needed');
	const tmo = rearmSqe(plainRing, req('TIMEOUT', arm({ remaining_ns: '-5', op_flags: 1 << 2, len: 0 }), { fd: null, state: 'timeout' }));
	t.same([tmo.timeout_ns, tmo.sqe.readUInt32LE(28), tmo.sqe.readUInt32LE(24)], [0n, 1 << 2, 1], 'an overdue BOOTTIME timeout: 0 ns left, flag kept');
	const abs = rearmSqe(plainRing, req('TIMEOUT', arm({ op_flags: 1 | (1 << 2), mode: 0, len: 0, ts_sec: '100', ts_nsec: '5', clock_offset_ns: '-2000000000', remaining_ns: '7' }), { fd: null, state: 'timeout' }));
	t.same([abs.timeout_ns, abs.sqe.readUInt32LE(28)], [98_000_000_005n, 1 | (1 << 2)], 'an absolute BOOTTIME timeout: its deadline in the process\'s view (its time namespace\'s offset added), ABS kept');
	const real = rearmSqe(plainRing, req('TIMEOUT', arm({ op_flags: 1 | (1 << 3), mode: 0, len: 0, ts_sec: '100', ts_nsec: '0', clock_offset_ns: '-2000000000' }), { fd: null, state: 'timeout' }));
	t.same([real.timeout_ns, real.sqe.readUInt32LE(28)], [100_000_000_000n, 1 | (1 << 3)], 'an absolute REALTIME timeout: the same deadline');
	const fw = rearmSqe(plainRing, req('FUTEX_WAIT', arm({ op_flags: 2 | 0x10, addr: '4096', addr2: '7', addr3: '5', futex_word: '7', bits: 1 << 17 }), { state: 'futex', fd: null })).sqe;
	t.same([fw[0], fw.readInt32LE(4), fw.readBigUInt64LE(16), fw.readBigUInt64LE(8), fw.readBigUInt64LE(48), fw.readUInt32LE(28)],
		[51, 2, 4096n, 7n, 5n, 0], 'FUTEX_WAIT: FUTEX2 flags (32-bit, shared: no PRIVATE), address, value, mask');
	const snd = rearmSqe(plainRing, req('SEND', arm({ ioprio: 1, op_flags: 0x4000, addr: '64', len: 9 }))).sqe;
	t.same([snd[0], snd.readUInt16LE(2), snd.readBigUInt64LE(16), snd.readUInt32LE(24), snd.readUInt32LE(28)], [26, 1, 64n, 9, 0x4000], 'SEND: POLL_FIRST, buffer, length, msg flags');
	const ms = rearmSqe(plainRing, req('TIMEOUT', arm({ op_flags: 1 << 6, mode: 1, len: 4, repeats: 2, count_left: -9, ts_sec: '1', ts_nsec: '500000000', remaining_ns: '3' }), { fd: null, state: 'timeout' }));
	t.same([ms.timeout_ns, ms.sqe.readBigUInt64LE(8), ms.sqe.readUInt32LE(28)], [1_500_000_000n, 2n, 1 << 6], 'a multishot TIMEOUT: its period, the firings it had left');
});

t.test('chains', async (t) => {
	const link = (opcode: string, a: ArmDetails, ud: string, over: Partial<InflightRequest> = {}): InflightRequest => req(opcode, a, { state: 'linked', user_data: ud, ...over });
	const q = req('RECV', arm({ bits: (1 << 2) | (1 << 8), linked: true }), { links: [
		link('LINK_TIMEOUT', arm({ bits: 1 << 2, mode: 1, remaining_ns: '900', ts_sec: '5', linked: true }), '8', { fd: null }),
		link('WRITE', arm({ bits: 1 << 3, addr: '64', len: 7, addr2: '0', linked: true }), '9', { fd: 6 }),
		link('TIMEOUT', arm({ mode: 1, ts_sec: '2', len: 1 }), '10', { fd: null }),
	] });
	const s = rearmChain(plainRing, q);
	t.same(s.map((x) => x.sqe[0]), [27, 15, 23, 11], 'RECV, LINK_TIMEOUT, WRITE, TIMEOUT, in chain order');
	t.same(s.map((x) => x.sqe[1] & 0x0c), [4, 4, 8, 0], 'IO_LINK / IO_HARDLINK as they were, none on the last');
	t.same(s.map((x) => x.sqe.readBigUInt64LE(32)), [7n, 8n, 9n, 10n], 'each its own user_data');
	t.equal(s[1].timeout_ns, 900n, 'the LINK_TIMEOUT the kernel armed: the time it had left');
	t.same([s[3].timeout_ns, s[3].sqe.readBigUInt64LE(8)], [2_000_000_000n, 1n], 'a TIMEOUT never issued: its timespec and count as given');
	t.same([s[2].sqe.readInt32LE(4), s[2].sqe.readBigUInt64LE(16), s[2].sqe.readUInt32LE(24)], [6, 64n, 7], 'WRITE: fd, buffer, length');
	const fired = req('RECV', arm({ bits: (1 << 2) | (1 << 8), linked: true }), { links: [link('NOP', arm(), '11', { fd: null })] });
	t.notOk(waitsForEvents(fired), 'a request whose LINK_TIMEOUT fired completes on its own (the timeout\'s task work cancels it)');
});

t.test('a SEND to an address: addr2 points at the address, placed in scratch memory', async (t) => {
	const { ring } = sampleRing();
	const sqe = Buffer.from(ring.rearm![4].sqe);
	sqe[0] = 26;
	sqe.writeUInt16LE(16, 44);
	ring.rearm![4] = { opcode: 26, user_data: ring.rearm![4].user_data, sqe, name: Buffer.alloc(16, 7) };
	const steps = planRing(OWNER, ring, 0);
	const a = steps.find((s) => s.op === 'arm') as Extract<Step, { op: 'arm' }>;
	const srcOff = Number(String(a.src).split('+')[1]);
	const store = steps.find((s) => s.op === 'store' && s.addr === `$s0+${srcOff + 4 * 64 + 8}`) as Extract<Step, { op: 'store' }>;
	const name = steps.find((s) => s.op === 'write' && s.addr === store?.value) as Extract<Step, { op: 'write' }>;
	t.ok(name?.data.equals(Buffer.alloc(16, 7)), 'the SEND\'s addr2 is patched to its address');
	t.notOk(steps.some((s) => s.op === 'store' && s.addr === `$s0+${srcOff + 4 * 64 + 16}`), 'its addr (the buffer) is left as it was');
});

t.test('an absolute timeout gets a timens step after its timespec is written', async (t) => {
	const { ring } = sampleRing();
	const sqe = ring.rearm![0].sqe;
	sqe.writeUInt32LE(1, 28); /* IORING_TIMEOUT_ABS, CLOCK_MONOTONIC */
	const steps = planRing(OWNER, ring, 0);
	const tn = steps.find((s) => s.op === 'timens') as Extract<Step, { op: 'timens' }>;
	const store = steps.find((s) => s.op === 'store' && s.value === tn?.addr);
	t.ok(tn && store, 'a timens step on the timespec the TIMEOUT points at');
	t.equal(tn.clock, 1, 'CLOCK_MONOTONIC');
	t.ok(steps.indexOf(tn) < steps.findIndex((s) => s.op === 'arm'), 'before the arm step');
	t.match(serialize([tn])[0], /^timens \$s0\+\d+ 1$/);
});

/*
 * REQ_F_*_BIT values (an anonymous enum CO-RE cannot relocate) are looked
 * up in the kernel's BTF by the loader and given to the programs as
 * read-only data (native/bpf_iter.cc): they must be what bpftool reads.
 */
t.test('the REQ_F bit numbers the BPF programs get are the running kernel\'s', async (t) => {
	let btf = '';
	try {
		btf = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 1 << 28 }).toString();
	} catch (e) {
		t.fail(`bpftool btf dump: ${(e as Error).message}`);
		return;
	}
	const bits = loadNative().reqFlagBits();
	if (!t.ok(bits, 'the loader found every REQ_F bit it needs in the BTF')) return;
	t.equal(Object.keys(bits!).length, 7, 'seven bits');
	for (const [name, bit] of Object.entries(bits!)) {
		const m = new RegExp(`\\bREQ_F_${name}_BIT = (\\d+)`).exec(btf);
		t.equal(Number(m?.[1]), bit, `REQ_F_${name}_BIT`);
	}
});

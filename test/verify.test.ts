/*
 * The check after the dump (src/plugin/verify.ts changedSince): what a
 * second capture may show without failing the dump.  Receives on UDP
 * sockets (src/plugin/datagrams.ts) may complete and take buffers; any
 * other completion, request progress or buffer taken fails it.  The
 * real-process cases are in test/window.test.ts and test/steady.test.ts.
 */
import t from 'tap';
import type { RingState } from '../src/capture/model';
import { changedSince } from '../src/plugin/verify';

const UDP = '1025', TCP = '7';

function ring(over: { cqes?: { user_data: string; res: number; flags: number }[]; inflight?: string[]; head?: number } = {}): RingState {
	return {
		setup_flags: 0,
		sq: { head: 4, tail: 4, cached_head: 4, dropped: 0 },
		cq: { head: 0, tail: over.cqes?.length ?? 0, overflow: 0 },
		cqes: over.cqes ?? [], overflow_cqes: [],
		inflight: (over.inflight ?? [UDP, TCP]).map((ud) => ({ opcode: 'RECVMSG', user_data: ud, fd: 3, fixed: false, state: 'poll' })),
		provided_buffers: [{ bgid: 1, kind: 'ring', head: over.head ?? 0 }],
	} as unknown as RingState;
}

t.test('a datagram receive completing after the capture passes; others fail', async (t) => {
	const then = ring();
	const datagrams = new Set([UDP]);
	t.equal(changedSince(then, ring(), datagrams), null, 'nothing changed');
	t.equal(changedSince(then, ring({ cqes: [{ user_data: UDP, res: 148, flags: 0x3 }], head: 1 }), datagrams), null,
		'a multishot RECVMSG on a UDP socket posted and took a buffer');
	t.equal(changedSince(then, ring({ cqes: [{ user_data: UDP, res: 148, flags: 0x1 }], inflight: [TCP], head: 1 }), datagrams), null,
		'a single-shot one completed');
	t.match(changedSince(then, ring({ cqes: [{ user_data: UDP, res: 148, flags: 0x3 }], head: 1 })), /a completion \(user_data 1025/,
		'without knowing it is a UDP receive, the same fails');
	t.match(changedSince(then, ring({ cqes: [{ user_data: TCP, res: 10, flags: 0x3 }], head: 1 }), datagrams), /a completion \(user_data 7/,
		'a TCP receive completing fails');
	t.match(changedSince(then, ring({ head: 1 }), datagrams), /a provided buffer was taken/,
		'a buffer taken with no datagram completion fails');
	t.match(changedSince(then, ring({ inflight: [UDP] }), datagrams), /RECVMSG user_data 7 progressed or completed/,
		'another request gone fails');
});

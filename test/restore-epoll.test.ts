/*
 * The epoll concern's plan (src/restore/concerns/epoll.ts) on a ring from
 * the sample image: each entry leaves the placeholder (EPOLL_CTL_DEL)
 * before the ring is dup3'ed onto its fd, in the process that does the
 * dup3, and comes back on the ring (EPOLL_CTL_ADD with the dumped events
 * and data) after; an entry of an epoll set shared with another holder is
 * moved once.  The real thing runs in test/dump-restore-epoll.test.ts.
 */
import t from 'tap';
import { sampleImage } from '../src/image/sample';
import { restoreRings } from '../src/restore/from-image';
import { planRing } from '../src/restore/planner';
import { serialize, type Step } from '../src/restore/plan';
import { epollEvent, epollRefusals } from '../src/restore/concerns/epoll';
import { parseEpollFdinfo, userDev } from '../src/capture/epoll';
import { NR } from '../src/uring/abi';

const OWNER = 4242;
const HOLDER = 5000;

/* Ring 1001 of the sample image, stripped of what needs more than this test plans, shared with HOLDER. */
function plan(): Step[] {
	const img = sampleImage(OWNER);
	const r = img.rings[0];
	Object.assign(r, { provided_buffer_groups: [], provided_buffer_rings: [], mem_regions: [], restrictions: null,
		personalities: [], personality_next: 0, overflow_cqes: [], inflight: [] });
	img.process!.holds[0].mappings = img.process!.holds[0].mappings.slice(0, 2);
	const ring = restoreRings(img)[0];
	ring.holders = [{ pid: HOLDER, fds: [3, 9], registered_slots: [], mappings: [], epoll_watches: [
		/* the owner's first entry again (same epoll set, same fd: one entry), and one of its own */
		{ epfd: 5, tfd: 3, events: 0x19, data: String(0xfeedfacecafebeefn), epoll: '1' },
		{ epfd: 7, tfd: 9, events: 0x80000019, data: '1', epoll: '3' },
	] }];
	return planRing(OWNER, ring, 0);
}

/* Each step with the task it runs in. */
function inTasks(steps: Step[]): { tid: number; s: Step }[] {
	let tid = 0;
	return steps.flatMap((s) => (s.op === 'task' ? ((tid = s.tid), []) : [{ tid, s }]));
}

const isSys = (s: Step, nr: number, ...args: unknown[]): boolean =>
	s.op === 'sys' && s.nr === nr && args.every((a, i) => s.args[i] === a);
/* the dup3 of a ring onto an fd (plugin-c/plan.c movefd) */
const isMove = (s: Step, ring: string, fd: number): boolean => s.op === 'movefd' && s.ring === ring && s.fd === fd;

t.test('entries leave the placeholders before the dup3 and come back on the ring after', async (t) => {
	const steps = inTasks(plan());
	const at = (tid: number, nr: number, ...args: unknown[]): number[] =>
		steps.flatMap((x, i) => (x.tid === tid && isSys(x.s, nr, ...args) ? [i] : []));
	const moved = (tid: number, ring: string, fd: number): number[] =>
		steps.flatMap((x, i) => (x.tid === tid && isMove(x.s, ring, fd) ? [i] : []));
	const EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;

	for (const [epfd, tfd] of [[5, 3], [6, 9]]) {
		const del = at(OWNER, NR.epoll_ctl, epfd, EPOLL_CTL_DEL, tfd);
		const add = at(OWNER, NR.epoll_ctl, epfd, EPOLL_CTL_ADD, tfd);
		const dup = moved(OWNER, '$r0', tfd);
		t.equal(del.length, 1, `owner: epoll fd ${epfd} loses the placeholder at fd ${tfd} once`);
		t.equal(add.length, 1, `owner: epoll fd ${epfd} watches the ring at fd ${tfd} once`);
		t.ok(del[0] < dup[0] && dup[0] < add[0], `owner: DEL, dup3 onto fd ${tfd}, ADD, in that order`);
	}
	t.same(at(HOLDER, NR.epoll_ctl, 5), [], 'the shared entry (epoll 1, fd 3) is not moved again in the holder');
	const del = at(HOLDER, NR.epoll_ctl, 7, EPOLL_CTL_DEL, 9);
	const add = at(HOLDER, NR.epoll_ctl, 7, EPOLL_CTL_ADD, 9);
	const dup = moved(HOLDER, '$g0_5000', 9);
	t.equal(del.length + add.length + dup.length, 3, "holder: its own entry is moved, in its own task");
	t.ok(del[0] < dup[0] && dup[0] < add[0], 'holder: DEL, dup3, ADD, in that order');
	const ev = steps[add[0] - 1].s;
	t.same(ev.op === 'write' ? ev.data : null, epollEvent({ epfd: 7, tfd: 9, events: 0x80000019, data: '1', epoll: '3' }),
		'holder: the ADD gets the dumped events and data');
	t.doesNotThrow(() => serialize(plan()), 'the plan serializes');
});

t.test('struct epoll_event is packed: events then data', async (t) => {
	const b = epollEvent({ epfd: 1, tfd: 2, events: 0xc0000019, data: '18446744073709551615', epoll: null });
	t.equal(b.toString('hex'), '190000c0ffffffffffffffff');
});

t.test('an entry under an fd that no longer holds the ring is refused at dump', async (t) => {
	const r = restoreRings(sampleImage())[0].state;
	t.same(epollRefusals(r), [], 'the sample ring\'s entries are on its fds');
	r.epoll_watches[0].tfd = 12;
	t.same(epollRefusals(r), ['an entry of epoll fd 5 added under fd 12, which no longer refers to the ring']);
});

t.test('epoll fdinfo entries are parsed: hex events, data, inode, kernel dev_t', async (t) => {
	const text = 'pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1039\n' +
		'tfd:        4 events:       19 data:                4  pos:0 ino:67f63 sdev:10\n' +
		'tfd:       21 events: 40000000 data: ffffffffffffffff  pos:0 ino:1 sdev:800001\n';
	t.same(parseEpollFdinfo(text), [
		{ tfd: 4, events: 0x19, data: 4n, ino: 0x67f63, sdev: 0x10 },
		{ tfd: 21, events: 0x40000000, data: 0xffffffffffffffffn, ino: 1, sdev: 0x800001 },
	]);
	t.equal(userDev(0x10), 0x10, 'the anon-inode filesystem (0:16) as stat() shows it');
	t.equal(userDev(0x800001), 0x801, 'MKDEV(8, 1) as stat() shows it');
	t.equal(userDev((259 << 20) | 0x12345), 0x12345 & 0xff | 259 << 8 | (0x12345 & ~0xff) << 12, 'a large minor');
});

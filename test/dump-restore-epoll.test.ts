/*
 * Rings watched by epoll sets (cr_epoll: a plain and an SQPOLL ring;
 * level- and edge-triggered, EPOLLONESHOT armed and fired, EPOLLEXCLUSIVE;
 * one set shared with a forked child, one the child made), through the
 * built CRIU and the plugin.  CRIU restores the entries on the plugin's
 * placeholders; the plan must move each to the rebuilt ring, once.
 *
 * Before the dump and after the restore, /proc/PID/fdinfo of every epoll
 * fd of parent and child must list the same entries (tfd, events, data)
 * as the program's truth, each on the ring now at its tfd (the inode
 * changes with a restore, not with --leave-running), none left on a
 * placeholder; inspect shows the same watches.  Then the program checks
 * through its own epoll_wait that completions wake each set as they
 * should (see test/progs/cr_epoll.c).  An entry whose fd no longer holds
 * the ring is refused at dump, leaving the process running.
 */
import t from 'tap';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { criuDump, criuErrors, dumpAndRestore, finishVerified, isAlive, scratch, startWithTruth } from './lib/criu';
import { inspectPid, type Truth } from './lib/progs';
import { EVENTPOLL_PATH, parseEpollFdinfo } from '../src/capture/epoll';
import { captureProcess } from '../src/capture';

interface Entry { epfd: number; tfd: number; events: number; data: string; ino: number }

/* Every entry of every epoll fd of @pid, as its fdinfo shows it. */
function epollEntries(pid: number): Entry[] {
	const out: Entry[] = [];
	for (const name of readdirSync(`/proc/${pid}/fd`)) {
		if (readlinkSync(`/proc/${pid}/fd/${name}`) !== EVENTPOLL_PATH) continue;
		for (const e of parseEpollFdinfo(readFileSync(`/proc/${pid}/fdinfo/${name}`, 'utf8')))
			out.push({ epfd: Number(name), tfd: e.tfd, events: e.events, data: e.data.toString(), ino: e.ino });
	}
	return out.sort((a, b) => a.epfd - b.epfd || a.tfd - b.tfd);
}

const EPOLLERR_HUP = 0x18;
const FLAG_BITS = 0xf0000000; /* EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET */

/*
 * A fired EPOLLONESHOT entry keeps only its flag bits, but every
 * EPOLL_CTL_ADD adds EPOLLERR | EPOLLHUP (as CRIU's own restore of any
 * such entry does): a restored one has them, which a ring never reports.
 */
const restored = (ws: Truth[]): Truth[] =>
	ws.map((w) => (w.events & ~FLAG_BITS ? w : { ...w, events: (w.events | EPOLLERR_HUP) >>> 0 }));

const sortWatches = (ws: Truth[]): Truth[] =>
	ws.map((w) => ({ epfd: w.epfd, tfd: w.tfd, events: w.events >>> 0, data: String(w.data) }))
		.sort((a, b) => a.epfd - b.epfd || a.tfd - b.tfd);

/* inspect's watches of all rings of @pid, without the (per-capture) epoll identity */
function inspectWatches(pid: number): Truth[] {
	return sortWatches(inspectPid(pid).rings.flatMap((r: Truth) => r.epoll_watches));
}

/* The same from the procfs capture (no BPF: no epoll identity either). */
function procfsWatches(pid: number): { watches: Truth[]; identities: unknown[] } {
	const ws = captureProcess(pid, { noBpf: true }).rings.flatMap((r) => r.epoll_watches);
	return { watches: sortWatches(ws), identities: [...new Set(ws.map((w) => w.epoll))] };
}

for (const leaveRunning of [false, true]) {
	t.test(`rings watched by epoll sets, one shared with a child${leaveRunning ? ' (--leave-running)' : ''}`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_epoll');
		const pids = [p.pid, p.truth.child as number];
		const truths = [sortWatches(p.truth.watches), sortWatches(p.truth.child_watches)];
		const rings = new Set([p.truth.inode_a, p.truth.inode_b]);
		const before = pids.map(epollEntries);
		pids.forEach((pid, i) => {
			const who = i ? 'child' : 'parent';
			t.same(sortWatches(before[i]), truths[i], `${who}: fdinfo shows the entries the program made`);
			t.ok(before[i].every((e) => rings.has(e.ino)), `${who}: every entry is on a ring`);
			t.same(inspectWatches(pid), truths[i], `${who}: inspect shows the same watches`);
			t.same(procfsWatches(pid), { watches: truths[i], identities: [null] }, `${who}: so does the procfs capture`);
		});
		if (!(await dumpAndRestore(t, s, pids[0], { name: 'img', pids, dumpArgs: leaveRunning ? ['--leave-running'] : [] }))) return;
		const expected = leaveRunning ? truths : truths.map(restored);
		pids.forEach((pid, i) => {
			const who = i ? 'child' : 'parent';
			const after = epollEntries(pid);
			t.same(sortWatches(after), expected[i], `${who}: the same entries (tfd, events, data) after the ${leaveRunning ? 'dump' : 'restore'}`);
			const onRing = after.filter((e) => readlinkSync(`/proc/${pid}/fd/${e.tfd}`) === 'anon_inode:[io_uring]' &&
				statSync(`/proc/${pid}/fd/${e.tfd}`).ino === e.ino);
			t.equal(onRing.length, after.length, `${who}: each entry is on the ring now at its fd (no placeholder entry)`);
			const same = after.filter((e, k) => e.ino === before[i][k]?.ino).length;
			t.equal(same, leaveRunning ? after.length : 0, `${who}: ${leaveRunning ? 'the same rings' : 'every entry is on a new ring'}`);
			t.same(inspectWatches(pid), expected[i], `${who}: inspect shows the same watches`);
		});
		await finishVerified(t, s, 'cr_epoll', p.pid);
	});
}

t.test('an epoll entry added under an fd that no longer holds the ring is refused at dump', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_epoll', ['moved']);
	const dir = s.dir('img');
	const d = await criuDump({ pid: p.pid, imagesDir: dir, plugins: true });
	t.not(d.code, 0, 'the dump fails');
	t.match(criuErrors(d.log).join('\n'), new RegExp(`epoll fd ${p.truth.epfd} added under fd ${p.truth.closed_fd}, which no longer refers to the ring`),
		'the plugin names the entry');
	t.ok(isAlive(p.pid), 'the process keeps running');
	t.same(readdirSync(dir).filter((f) => f.startsWith('io_uring')), [], 'no io_uring image is left behind');
	await finishVerified(t, s, 'cr_epoll', p.pid);
});

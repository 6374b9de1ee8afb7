/*
 * io_uring dump and restore through the built CRIU and the plugin, on
 * test/progs/cr_rw: the program sets up a ring with registered files,
 * buffers and an eventfd, leaves an unconsumed CQE and an unsubmitted SQE,
 * and after the restore verifies that nothing was lost, duplicated or
 * invented, that indices continue where they were, and that registered
 * resources still work by index (see the program's header comment).
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, dumpAndRestore, finishVerified, isAlive, scratch, sleep, startWithTruth, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';
import { skipUnless } from './lib/kernel';
import { exclusive } from './lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const FLAGS: [string, string][] = [
	['plain ring', '0'],
	['SINGLE_ISSUER|DEFER_TASKRUN', '3000'],
	['COOP_TASKRUN|TASKRUN_FLAG', '300'],
	['SQPOLL', '2'],
	['SQE128', '400'],
	['CQE32', '800'],
	['NO_SQARRAY', '10000'],
	['SUBMIT_ALL', '80'],
];

for (const [what, flags] of FLAGS) {
	t.test(`dump + restore: ${what}`, { skip: skipUnless({ setup: parseInt(flags, 16) }) }, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_rw', ['--flags', flags, '--advance', '1000']);
		const before = inspectPid(p.pid).rings[0];
		if (!(await dumpAndRestore(t, s, p.pid))) return;
		const after = inspectPid(p.pid).rings[0];
		/* an idle SQPOLL thread raises NEED_WAKEUP on its own: not state we restore */
		if (flags === '2') for (const r of [before, after]) r.sq.flags &= ~1;
		t.same(
			{ flags: after.setup_flags, sq: after.sq, cq: after.cq, files: after.registered_files, bufs: after.registered_buffers,
				mappings: after.mappings, fds: after.fds, cqes: after.cqes, pending: after.pending_sqes.length, eventfd: after.eventfd },
			{ flags: before.setup_flags, sq: before.sq, cq: before.cq, files: before.registered_files, bufs: before.registered_buffers,
				mappings: before.mappings, fds: before.fds, cqes: before.cqes, pending: before.pending_sqes.length, eventfd: before.eventfd },
			'inspect shows the same ring state after the restore');
		await finishVerified(t, s, 'cr_rw', p.pid);
	});
}

t.test('dump --leave-running leaves the original ring as it was', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_rw', ['--advance', '500']);
	const before = inspectPid(p.pid).rings[0];
	if (!(await dumpAndRestore(t, s, p.pid, { dumpArgs: ['--leave-running'] }))) return;
	t.same(inspectPid(p.pid).rings[0], before, 'every captured field is unchanged');
	await finishVerified(t, s, 'cr_rw', p.pid);
});

t.test('indices in the millions come back exactly', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_rw', ['--advance', '3000000']);
	if (!(await dumpAndRestore(t, s, p.pid))) return;
	const r = inspectPid(p.pid).rings[0];
	t.equal(r.sq.cached_head, p.truth.sq_head, 'kernel cached SQ head');
	t.equal(r.cq.cached_tail, p.truth.cq_tail, 'kernel cached CQ tail');
	await finishVerified(t, s, 'cr_rw', p.pid);
});

t.test('a busy ring survives 20 dumps and restores at random moments', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_rw', ['--busy']);
	for (let i = 0; i < 20; i++) {
		await sleep(50 + Math.floor(Math.random() * 200));
		if (!(await dumpAndRestore(t, s, p.pid, { name: `img${i}` }))) return;
	}
	await finishVerified(t, s, 'cr_rw', p.pid, /^\d+ verified rounds/);
});

t.test('several busy rings (plain, DEFER_TASKRUN, SQPOLL) survive 20 dumps and restores at random moments',
	{ skip: skipUnless({ setup: 0x3002 }) }, async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_multi');
	for (let i = 0; i < 20; i++) {
		await sleep(50 + Math.floor(Math.random() * 200));
		if (!(await dumpAndRestore(t, s, p.pid, { name: `img${i}` }))) return;
	}
	/* every round: a random ring, a random verified write, read-back or NOP */
	await finishVerified(t, s, 'cr_multi', p.pid, /^\d+ verified rounds/);
});

/*
 * The new SQ thread is live while the restore writes the ring back: it
 * must not see the dumped SQ tail before the dumped SQEs are in place
 * (it ran a NOP the advance had left in the slot, in 8 of 28 restores).
 */
for (const [what, flags] of [['', '0'], [', NO_MMAP', '4000']]) {
	t.test(`an idle SQPOLL ring with a published, unsubmitted SQE${what}: 5 restores, the SQE completes every time`,
		{ skip: skipUnless({ setup: 0x2 | parseInt(flags, 16) }) }, async (t) => {
		for (let i = 0; i < 5; i++) {
			const s = scratch(t);
			const p = await startWithTruth(s, 'cr_sqpend', ['--flags', flags]);
			if (!(await dumpAndRestore(t, s, p.pid))) return;
			await finishVerified(t, s, 'cr_sqpend', p.pid);
		}
	});
}

/*
 * An SQPOLL ring's thread submits its pending SQEs as soon as the restore
 * hands them over: only once every ring of the process is rebuilt and on
 * its fds.  A pending MSG_RING to a ring set up after it went to that
 * ring's placeholder fd (-EBADFD; cr_combo_sqpoll --busy died of it in
 * about 1 restore of 15).
 */
t.test('an idle SQPOLL ring with a published MSG_RING to a ring rebuilt after it: the message arrives', { skip: skipUnless({ setup: 0x2 }) }, async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_sqpend', ['--msg']);
	if (!(await dumpAndRestore(t, s, p.pid))) return;
	await finishVerified(t, s, 'cr_sqpend', p.pid);
});

t.test('a ring mapping split by mprotect and partly unmapped comes back as it was', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_split');
	const before = inspectPid(p.pid).rings[0];
	t.equal(before.mappings.length, 4, 'rings mapping + SQE mapping split in three (rw, r, rw) with its last page unmapped');
	if (!(await dumpAndRestore(t, s, p.pid))) return;
	t.same(inspectPid(p.pid).rings[0].mappings, before.mappings, 'the same mappings, protections and holes');
	await finishVerified(t, s, 'cr_split', p.pid);
});

for (const [what, args] of [['', []], [' and a buffer ring whose head the restore moves by reads it reaps', ['--pbuf']]] as [string, string[]][]) {
	t.test(`a nearly full CQ wrapped around its array end${what}: new completions after the restore overwrite nothing`, async (t) => {
		const s = scratch(t);
		const p = await startWithTruth(s, 'cr_cqwrap', args);
		if (!(await dumpAndRestore(t, s, p.pid))) return;
		await finishVerified(t, s, 'cr_cqwrap', p.pid);
	});
}

t.test('a damaged image fails the restore before anything runs', async (t) => {
	const s = scratch(t);
	const p = await startWithTruth(s, 'cr_rw', []);
	const dir = s.dir('img');
	const d = await criuDump({ pid: p.pid, imagesDir: dir, plugins: true });
	t.equal(d.code, 0, describeRun('dump', d));
	await waitForExit(p.pid);
	const img = `${dir}/io_uring-${p.pid}.img`;
	const bytes = readFileSync(img);
	bytes[bytes.length - 10] ^= 0xff;
	writeFileSync(img, bytes);
	const r = await criuRestore({ imagesDir: dir, plugins: true });
	t.not(r.code, 0, 'restore fails');
	t.match(r.log, /io_uring-\d+\.img: checksum mismatch/, 'the log says which image is damaged and why');
	t.notOk(isAlive(p.pid), 'nothing was restored');
	const trunc = readFileSync(img).subarray(0, 40);
	writeFileSync(img, trunc);
	const r2 = await criuRestore({ imagesDir: dir, plugins: true });
	t.not(r2.code, 0, 'restore of a truncated image fails');
	t.match(r2.log, /io_uring-\d+\.img: .*truncated|too short/, 'the log says the image is truncated');
	t.notOk(isAlive(p.pid), 'nothing was restored');
});

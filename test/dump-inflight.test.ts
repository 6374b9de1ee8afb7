/*
 * In-flight requests that never complete by themselves (test/progs/cr_inflight:
 * a poll-armed pipe READ, a one-hour TIMEOUT, a multishot POLL_ADD).
 *
 * Default: the dump fails naming each request, and the process keeps
 * running with all three still armed (it checks that itself).
 * CRIU_URING_CANCEL_INFLIGHT=1: the dump cancels them, the image carries
 * the -ECANCELED completions, and after the restore the program reaps
 * exactly those three, re-arms them and sees them complete.
 */
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { criuDump, criuRestore, describeRun, isAlive, scratch, type Scratch, waitFor, waitForExit } from './lib/criu';
import { inspectPid } from './lib/progs';

const FLAGS: [string, string][] = [['plain ring', '0'], ['SINGLE_ISSUER|DEFER_TASKRUN', '3000']];

async function start(s: Scratch, flags: string, expect: string): Promise<number> {
	const truthFile = s.file('truth.json');
	process.env.TRUTH_FILE = truthFile;
	const pid = s.spawnProg('cr_inflight', ['--flags', flags, '--expect', expect]);
	delete process.env.TRUTH_FILE;
	await waitFor(() => existsSync(truthFile) || !isAlive(pid), 'cr_inflight to write its truth file');
	if (!existsSync(truthFile)) throw new Error(`cr_inflight exited early: ${s.stderrOf('cr_inflight')}`);
	return pid;
}

/* Run with extra environment for criu (the plugin helper inherits it). */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
	const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
	Object.assign(process.env, env);
	try {
		return await fn();
	} finally {
		for (const [k, v] of saved) if (v === undefined) delete process.env[k]; else process.env[k] = v;
	}
}

async function finish(t: Test, s: Scratch, pid: number, what: string): Promise<void> {
	process.kill(pid, 'SIGUSR1');
	await waitForExit(pid, 30_000);
	t.equal(s.stderrOf('cr_inflight'), '', `the program found nothing wrong (${what})`);
	t.match(readFileSync(s.file('cr_inflight.out'), 'utf8'), /verified/, what);
}

for (const [what, flags] of FLAGS) {
	t.test(`default: in-flight requests fail the dump and stay armed (${what})`, async (t) => {
		const s = scratch(t);
		const pid = await start(s, flags, 'armed');
		const d = await withEnv({ CRIU_URING_DRAIN_MS: '300' }, () => criuDump({ pid, imagesDir: s.dir('img'), plugins: true }));
		t.not(d.code, 0, 'dump fails');
		for (const [op, ud] of [['READ', 161], ['TIMEOUT', 162], ['POLL_ADD', 163]] as const)
			t.match(d.log, new RegExp(`${op} user_data ${ud}\\b`), `the log names the ${op} (user_data ${ud})`);
		t.ok(isAlive(pid), 'the process still runs');
		t.equal(inspectPid(pid).rings[0].inflight.length, 3, 'its three requests are still in flight');
		await finish(t, s, pid, 'the READ and poll complete on data, the TIMEOUT is still armed');
	});

	t.test(`CRIU_URING_CANCEL_INFLIGHT=1: cancelled at dump, -ECANCELED after restore (${what})`, async (t) => {
		const s = scratch(t);
		const pid = await start(s, flags, 'cancelled');
		const dir = s.dir('img');
		const d = await withEnv({ CRIU_URING_DRAIN_MS: '300', CRIU_URING_CANCEL_INFLIGHT: '1' },
			() => criuDump({ pid, imagesDir: dir, plugins: true }));
		if (!t.equal(d.code, 0, describeRun('dump', d))) return;
		await waitForExit(pid);
		const r = await criuRestore({ imagesDir: dir, plugins: true });
		if (!t.equal(r.code, 0, describeRun('restore', r))) return;
		const ring = inspectPid(pid).rings[0];
		t.equal(ring.inflight.length, 0, 'nothing in flight after the restore');
		t.same(ring.cqes.map((c: { user_data: string; res: number }) => [c.user_data, c.res]).sort(),
			[['161', -125], ['162', -125], ['163', -125]], 'the CQ holds one -ECANCELED per cancelled request');
		await finish(t, s, pid, 'cancellations reaped, requests re-armed and completed');
	});
}

/*
 * fio (Debian's, ioengine=io_uring) checkpointed in the middle of a
 * rate-limited, crc32c-verified random-write job and restored; fio must
 * finish with exit status 0 and no verify error, and an independent
 * `fio --verify_only` run afterwards must find every block intact.
 *
 * fio always has requests in flight while it writes; the plugin waits for
 * them in PAUSE_DEVICES (file I/O completes by itself) and checks again
 * once the tree is frozen.  A dump that fails here prints the plugin's
 * reason (the requests still in flight) in the failure message.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { scratch, sleep, waitFor } from '../lib/criu';
import { checkpointRestore, keepLogs, lostCompletions, readText, ringFds, ringSummary, startApp, uringErrors, which } from '../lib/apps';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const FIO = which('fio');

interface FioCase {
	what: string;
	/** Job options besides the common ones (also used by the verify-only run). */
	opts: string[];
	/** io_uring fds the running tree must hold before the dump. */
	rings: number;
}

/*
 * 24 MiB of 4 KiB random writes at 2 MiB/s: about 12 s per job, then the
 * verify pass; long enough that a slow dump on a busy machine still catches
 * fio mid-write.  With 16 MiB (8 s) a clean-clone run beside two other
 * checkouts' tests (load 6-8) seized nothing: CRIU took 2.5 s to reach its
 * plugins and the helper 3.5 s to start, and the 3-thread job had ended.
 */
const COMMON = ['--ioengine=io_uring', '--rw=randwrite', '--bs=4k', '--iodepth=16', '--size=24M', '--verify=crc32c'];

const CASES: FioCase[] = [
	{ what: '--thread', opts: ['--name=t', '--filename=f1', '--thread'], rings: 1 },
	{ what: 'default process mode (job in a forked child)', opts: ['--name=p', '--filename=f1'], rings: 1 },
	{ what: '--thread --fixedbufs --registerfiles', opts: ['--name=fr', '--filename=f1', '--thread', '--fixedbufs', '--registerfiles'], rings: 1 },
	{ what: '--thread --sqthread_poll=1 (SQPOLL)', opts: ['--name=sq', '--filename=f1', '--thread', '--sqthread_poll=1'], rings: 1 },
	{ what: '3 forked jobs on 3 files', opts: ['--name=j', '--directory=jobs', '--numjobs=3'], rings: 3 },
	{ what: '3 threads on 3 files, fixedbufs + registerfiles', opts: ['--name=jt', '--directory=jobs', '--numjobs=3', '--thread', '--fixedbufs', '--registerfiles'], rings: 3 },
];

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
	return new Promise((resolve) => {
		execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
			const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
			resolve({ code, out: String(stdout) + String(stderr) });
		});
	});
}

/** fio's own verdict in its --output file: every job err=0, no verify complaint. */
function fioProblems(out: string, jobs: number): string[] {
	const problems: string[] = [];
	const errs = [...out.matchAll(/err=\s*(\d+)/g)].map((m) => Number(m[1]));
	if (errs.length !== jobs) problems.push(`${errs.length} job reports, expected ${jobs}`);
	if (errs.some((e) => e !== 0)) problems.push(`job errors ${errs.join(',')}`);
	const bad = out.split('\n').filter((l) => /verify|bad magic|crc32c|fio: /i.test(l));
	problems.push(...bad.map((l) => l.trim()));
	return problems;
}

async function fioCase(t: Test, c: FioCase): Promise<void> {
	const s = scratch(t);
	s.dir('jobs');
	const jobs = c.rings;
	const app = startApp(t, s, FIO!, [...COMMON, ...c.opts, '--rate=2m', `--output=${s.file('fio.log')}`], 'fio');
	await waitFor(() => ringFds(app.pid) >= c.rings || app.status() !== undefined, `fio to set up ${c.rings} ring(s)`, 20_000);
	await sleep(1000);
	t.equal(app.status(), undefined, 'fio is still writing at the checkpoint');
	t.notOk(existsSync(s.file('fio.log')) && readText(s.file('fio.log')).includes('err='), 'fio has not reported yet');
	const cr = await checkpointRestore(app, s.dir('img'));
	if (cr.problem) {
		t.fail(cr.problem);
		const why = uringErrors((cr.restore ?? cr.dump).log);
		if (why.length) t.comment(`plugin said: ${why.join(' | ')}`);
		t.comment(`fio still running after the failed checkpoint: ${app.status() === undefined}; logs kept in ${keepLogs(c.opts[0], cr)}.*`);
		/* the first errors need not be the cause (a vanishing thread logs 'Unable to detach' and is retried): show how the log ends */
		t.comment(`last lines of the ${cr.restore ? 'restore' : 'dump'} log:\n${(cr.restore ?? cr.dump).log.trimEnd().split('\n').slice(-25).join('\n')}`);
		return;
	}
	t.pass(`checkpointed and restored pid ${app.pid}`);
	let status: number;
	try {
		status = await app.exitStatus(60_000);
	} catch (e) {
		const lost = lostCompletions(app.pid) ? ' (completions lost: a ring has SQ head ahead of CQ tail with nothing in flight)' : '';
		t.fail(`${(e as Error).message}${lost}; rings now: ${ringSummary(app.pid).join('; ')}; logs kept in ${keepLogs(c.opts[0], cr)}.*`);
		return;
	}
	t.equal(status, 0, `fio exited 0 (stderr: ${readText(app.err).trim().slice(0, 300)})`);
	t.same(fioProblems(readText(s.file('fio.log')), jobs), [], 'fio reports no error and no verify failure');
	const v = await run(FIO!, [...COMMON, ...c.opts, '--verify_only'], s.root);
	t.equal(v.code, 0, 'an independent fio --verify_only pass exits 0');
	t.same(fioProblems(v.out, jobs), [], 'and finds every block intact');
}

if (!FIO) {
	t.test('fio tests', { skip: 'fio is not installed (scripts/install-deps.sh installs it)' }, () => undefined);
} else if (process.getuid?.() !== 0) {
	t.test('fio tests', { skip: 'CRIU needs root' }, () => undefined);
} else {
	for (const c of CASES) t.test(`fio ${c.what}: checkpoint mid-write, restore, verify`, (t) => fioCase(t, c));
}

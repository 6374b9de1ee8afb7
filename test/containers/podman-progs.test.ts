/*
 * podman container checkpoint / restore of containers whose processes use
 * io_uring, with runc and with crun (test/lib/podman.ts: image from host
 * files, the checkout's CRIU and plugin, the io_uring seccomp profile).
 * The containers run the zdtm-style test programs, which verify their own
 * ring state after SIGUSR1 (test/progs/cr_rw.c, cr_fork.c, cr_inflight.c):
 *
 *  - podman's default seccomp profile blocks io_uring; the profile from
 *    contrib/seccomp-io_uring.js allows it;
 *  - checkpoint + restore of cr_rw (registered file, buffer, eventfd,
 *    pending SQE, unconsumed CQE) and cr_fork (a ring shared by a
 *    parent and its child): the restored container verifies its rings;
 *  - --export to a tarball, the container removed, restore --import;
 *  - --leave-running (with --export): the container keeps running with
 *    its ring intact, and the exported checkpoint restores too;
 *  - a checkpoint the plugin refuses (requests in flight that never
 *    complete by themselves) fails, names CRIU's log, which holds the
 *    plugin's one-line reason, and leaves the container running;
 *  - the same requests with CRIU_URING_CANCEL_INFLIGHT=1, which reaches
 *    CRIU only through a criu script on PATH: cancelled at the dump, the
 *    restored program reaps the -ECANCELED completions.
 *
 * Each checkpoint also checks in CRIU's dump.log / restore.log (kept by
 * --keep under the container's userdata dir) that the io_uring plugin ran.
 * If podman or a runtime cannot work on the machine, the tests fail.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { scratch } from '../lib/criu';
import { type Podman, type Runtime, RUNTIMES, describeCriuRun, pluginLines, podmanSetup, runCmd } from '../lib/podman';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const PROGS = ['cr_rw', 'cr_fork', 'cr_inflight'];
const DEFAULT_SECCOMP = '/usr/share/containers/seccomp.json';
const CHECKPOINTED = /io_uring: process \d+: \d+ ring\(s\) checkpointed/;
/* planned by the helper, or the plan the dump saved (docs/saved-plan.md) */
const TO_RESTORE = /io_uring: (\d+ ring\(s\) of \d+ process\(es\) to restore|restore plan of the dump used \(\d+ process\(es\), no helper\))/;

const describe = describeCriuRun;

async function setup(t: Test, runtime: Runtime): Promise<Podman> {
	return podmanSetup(t, scratch(t), runtime, { bins: PROGS });
}

/**
 * checkpoint with --keep; asserts it worked and that the plugin wrote the
 * rings of @procs processes (a shared ring counts in each holder).
 */
async function checkpointOk(t: Test, c: Awaited<ReturnType<Podman['run']>>, args: string[], procs: number): Promise<boolean> {
	const ck = await c.checkpoint(['--keep', ...args]);
	if (!t.equal(ck.code, 0, describe('podman container checkpoint', ck))) return false;
	const lines = pluginLines(ck.log).filter((l) => CHECKPOINTED.test(l));
	t.equal(lines.length, procs, `dump.log: the io_uring plugin checkpointed the rings of ${procs} process(es): ${lines.join(' | ')}`);
	return true;
}

/**
 * restore with --keep; asserts it worked, the plugin rebuilt the rings of
 * the container's PID 1 (images are keyed by the pid inside the container,
 * which gets a new host pid at every restore) and the container runs.
 */
async function restoreOk(t: Test, c: Awaited<ReturnType<Podman['run']>>, args: string[]): Promise<boolean> {
	const rs = await c.restore(['--keep', ...args]);
	if (!t.equal(rs.code, 0, describe('podman container restore', rs))) return false;
	t.match(rs.log, TO_RESTORE, 'restore.log: the io_uring plugin planned the rings');
	t.match(rs.log, /io_uring: plugin finished for restore \(ret 0\)/, 'restore.log: the plugin finished without error');
	if (!t.equal(await c.state(), 'running', 'the restored container runs')) return false;
	const host = /io_uring: process 1 of the images was restored as host pid (\d+)/.exec(rs.log);
	t.equal(host ? Number(host[1]) : undefined, await c.hostPid(), "restore.log: the rings of the container's pid 1 went to its new host pid");
	return true;
}

for (const runtime of RUNTIMES) {
	t.test(`${runtime}: io_uring needs the seccomp profile`, async (t) => {
		const pm = await setup(t, runtime);
		if (runtime === 'runc') {
			/* the profile is podman's default plus one rule: nothing else changed */
			const base = JSON.parse(readFileSync(DEFAULT_SECCOMP, 'utf8'));
			const ours = JSON.parse(readFileSync(pm.seccomp, 'utf8'));
			const added = ours.syscalls.pop();
			t.same(added.names, ['io_uring_setup', 'io_uring_enter', 'io_uring_register'], 'the profile adds one rule for the three io_uring syscalls');
			t.equal(added.action, 'SCMP_ACT_ALLOW', 'which allows them');
			t.same(ours, base, 'and is otherwise the default profile');
		}
		const blocked = await pm.run(t, ['/bin/cr_rw'], { seccomp: false });
		t.not(await blocked.exitCode(30_000), 0, "with podman's default profile the program cannot set up its ring");
		t.match((await blocked.logs()).stderr, /io_uring_setup|Function not implemented/, 'io_uring_setup fails (ENOSYS)');
		const ok = await pm.run(t, ['/bin/cr_rw']);
		await ok.truth();
		t.equal(await ok.state(), 'running', 'with contrib/seccomp-io_uring.js the ring is set up');
		await ok.finishVerified(t);
	});

	t.test(`${runtime}: checkpoint + restore of cr_rw, the container verifies its ring`, async (t) => {
		const pm = await setup(t, runtime);
		const c = await pm.run(t, ['/bin/cr_rw', '--advance', '1000']);
		await c.truth();
		if (!(await checkpointOk(t, c, [], 1))) return;
		t.equal(await c.state(), 'exited', 'the checkpointed container stopped');
		if (!(await restoreOk(t, c, []))) return;
		await c.finishVerified(t);
	});

	t.test(`${runtime}: checkpoint + restore of cr_fork (a ring shared by parent and child)`, async (t) => {
		const pm = await setup(t, runtime);
		const c = await pm.run(t, ['/bin/cr_fork']);
		await c.truth();
		if (!(await checkpointOk(t, c, [], 2))) return;
		if (!(await restoreOk(t, c, []))) return;
		await c.finishVerified(t);
	});

	t.test(`${runtime}: --export, container removed, restore --import`, async (t) => {
		const pm = await setup(t, runtime);
		const s = scratch(t);
		const tarball = s.file('checkpoint.tar.zst');
		const c = await pm.run(t, ['/bin/cr_rw', '--advance', '500']);
		await c.truth();
		if (!(await checkpointOk(t, c, [`--export=${tarball}`], 1))) return;
		const list = await runCmd('tar', ['--zstd', '-tf', tarball]);
		t.equal(list.code, 0, 'the export is a zstd tarball (podman\'s default)');
		t.match(list.stdout, /^checkpoint\/io_uring-files\.img$/m, 'it holds io_uring-files.img');
		t.match(list.stdout, /^checkpoint\/io_uring-1\.img$/m, "and the image of the container's pid 1 (keyed by the pid inside)");
		const rm = await pm.podman(['rm', '-f', c.name]);
		t.equal(rm.code, 0, 'the container is removed');
		t.equal(await c.state(), '', 'no container of that name is left');
		if (!(await restoreOk(t, c, [`--import=${tarball}`]))) return;
		await c.finishVerified(t);
	});

	t.test(`${runtime}: --leave-running --export, then restore the exported copy`, async (t) => {
		const pm = await setup(t, runtime);
		const s = scratch(t);
		const tarball = s.file('checkpoint.tar.zst');
		const c = await pm.run(t, ['/bin/cr_rw', '--advance', '300']);
		await c.truth();
		const pid = await c.hostPid();
		if (!(await checkpointOk(t, c, ['--leave-running', `--export=${tarball}`], 1))) return;
		t.equal(await c.state(), 'running', 'the container keeps running');
		t.equal(await c.hostPid(), pid, 'the same process, not a restored one');
		await c.finishVerified(t);
		t.equal((await pm.podman(['rm', '-f', c.name])).code, 0, 'the finished container is removed');
		if (!(await restoreOk(t, c, [`--import=${tarball}`]))) return;
		await c.finishVerified(t);
	});

	t.test(`${runtime}: CRIU_URING_CANCEL_INFLIGHT=1 set by a criu script on PATH: requests cancelled, restored`, async (t) => {
		/* podman hands CRIU no environment but PATH: the plugin's settings go into a criu script */
		const pm = await podmanSetup(t, scratch(t), runtime, { bins: PROGS },
			{ criuEnv: { CRIU_URING_CANCEL_INFLIGHT: '1', CRIU_URING_DRAIN_MS: '300' } });
		const c = await pm.run(t, ['/bin/cr_inflight', '--expect', 'cancelled']);
		await c.truth();
		/* without the variables the plugin refuses this dump (the test below) */
		if (!(await checkpointOk(t, c, [], 1))) return;
		if (!(await restoreOk(t, c, []))) return;
		await c.finishVerified(t); /* three -ECANCELED CQEs, then the re-armed requests complete */
	});

	t.test(`${runtime}: a checkpoint the plugin refuses leaves the container running`, async (t) => {
		const pm = await setup(t, runtime);
		const c = await pm.run(t, ['/bin/cr_inflight', '--expect', 'armed']);
		await c.truth();
		const pid = await c.hostPid();
		const ck = await c.checkpoint([]); /* no --keep: what a user gets */
		t.not(ck.code, 0, 'podman container checkpoint fails');
		const m = /(\/\S+\/dump\.log)/.exec(ck.stderr);
		t.ok(m, `podman's error names CRIU's log file (stderr: ${ck.stderr.trim().split('\n').join(' | ')})`);
		if (m) {
			t.equal(m[1], ck.logPath, 'the log is dump.log in the container\'s userdata dir');
			const reason = pluginLines(ck.log).filter((l) => /Error .*io_uring: io_uring requests in flight that do not complete by themselves/.test(l));
			t.equal(reason.length, 1, `the log has the plugin's one-line reason: ${reason[0] ?? '(none)'}`);
		}
		t.equal(await c.state(), 'running', 'the container is still running');
		t.equal(await c.hostPid(), pid, 'the same process');
		await c.finishVerified(t);
	});
}

/*
 * podman with the installed criu-uring (docs/install.md), runc and crun:
 * `make install` inside a private mount namespace (tmpfs on /usr/local, an
 * overlay on /usr/lib, so nothing outside sees it), podman run through
 * nsenter into that namespace, and no wiring at all: no CRIU config file,
 * no annotation, no CRIU_LIBS_DIR, no criu of our own on PATH.  The
 * runtime must find /usr/local/sbin/criu on PATH and CRIU the plugin in
 * its default directory /usr/lib/criu/, which must run the installed
 * helper, never this checkout's.  (crun is still build/crun/crun: Debian's
 * has no CRIU support.)
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ROOT } from '../../src/util/paths';
import { type Scratch, scratch } from '../lib/criu';
import { RUNTIMES, describeCriuRun, pluginLines, podmanSetup } from '../lib/podman';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const HELPER = '/usr/local/lib/criu-uring/dist/src/plugin/helper.js';

/**
 * A private mount namespace with tmpfs on /usr/local and a writable
 * overlay on /usr/lib, alive until the test ends: returns the nsenter
 * command that enters it.
 */
async function privateNs(t: Test, s: Scratch): Promise<string[] | undefined> {
	const mounts = ['mount -t tmpfs tmpfs /usr/local',
		`mount -t overlay overlay -o lowerdir=/usr/lib,upperdir=${s.dir('ovl/upper')},workdir=${s.dir('ovl/work')} /usr/lib`];
	const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `${mounts.join(' && ')} && echo ready && exec sleep 1200`],
		{ stdio: ['ignore', 'pipe', 'inherit'] });
	t.teardown(() => {
		holder.kill('SIGKILL');
	});
	const ready = await new Promise<boolean>((resolve) => {
		holder.stdout!.on('data', (b: Buffer) => resolve(b.toString().includes('ready')));
		holder.on('exit', () => resolve(false));
	});
	if (!t.ok(ready, 'a private mount namespace with its own /usr/local and /usr/lib')) return undefined;
	return ['nsenter', '-t', String(holder.pid), '-m', '--'];
}

t.test('make install (private mount namespace): podman finds the installed criu and plugin by itself', async (t) => {
	const s = scratch(t);
	const ns = await privateNs(t, s);
	if (!ns) return;
	const inNs = (cmd: string[]): string => execFileSync(ns[0], [...ns.slice(1), ...cmd], { encoding: 'utf8', timeout: 300_000 });
	inNs(['make', '-s', '-C', ROOT, 'install']);
	t.teardown(() => {
		inNs(['make', '-s', '-C', ROOT, 'uninstall']);
	});
	t.equal(inNs(['sh', '-c', 'command -v criu']).trim(), '/usr/local/sbin/criu', 'criu on PATH is the installed one');
	t.ok(inNs(['sh', '-c', 'test -f /usr/lib/criu/io_uring_plugin.so && echo yes']).includes('yes'), 'the plugin is in /usr/lib/criu/');
	t.notOk(existsSync('/usr/lib/criu/io_uring_plugin.so'), 'invisible outside the namespace');

	for (const runtime of RUNTIMES) {
		await t.test(`${runtime}: checkpoint + restore of cr_rw with the installed copy`, async (t) => {
			const pm = await podmanSetup(t, scratch(t), runtime, { bins: ['cr_rw'] }, { installed: true, wrap: ns });
			t.same(pm.wiring.runArgs, [], 'no CRIU config annotation');
			const c = await pm.run(t, ['/bin/cr_rw', '--advance', '200']);
			await c.truth();
			const ck = await c.checkpoint(['--keep']);
			if (!t.equal(ck.code, 0, describeCriuRun(`${runtime} installed checkpoint`, ck))) return;
			const helper = pluginLines(ck.log).find((l) => /io_uring: helper /.test(l)) ?? '(no helper line)';
			t.match(helper, `io_uring: helper ${HELPER}`, `the dump ran the installed helper: ${helper}`);
			t.match(helper, /installed\)$/, 'and says so');
			t.match(ck.log, /io_uring: process \d+: 1 ring\(s\) checkpointed/, 'and checkpointed the ring');
			const rs = await c.restore(['--keep']);
			if (!t.equal(rs.code, 0, describeCriuRun(`${runtime} installed restore`, rs))) return;
			/* the restore runs the plan the installed plugin's dump saved (docs/saved-plan.md), or plans with the installed helper */
			const planned = pluginLines(rs.log).find((l) => /io_uring: (helper |restore plan of the dump used)/.test(l)) ?? '(no planning line)';
			t.ok(planned.includes(`io_uring: helper ${HELPER}`) || planned.includes('restore plan of the dump used'),
				`so did the restore: ${planned}`);
			t.equal(await c.state(), 'running', 'the restored container runs');
			await c.finishVerified(t);
		});
	}
});

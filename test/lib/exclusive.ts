/*
 * Test files that must not run at the same time as each other, even from
 * different checkouts on this machine: the stress files (busy processes
 * checkpointed at random moments) and the podman files.  Under load from
 * another such file a dump has failed with CRIU's "Unable to detach" and
 * container runs have missed their deadlines, so scripts/test.sh runs
 * files in parallel and these take one lock first.
 *
 * The lock is flock(1) on /tmp/criu-uring-heavy-tests.lock, held by a
 * child whose stdin is a pipe from this process: when the test process
 * exits, however it exits, the pipe closes and the lock goes with it.
 * When the file's tests are done the pipe is closed and the child waited
 * for: left to exit with the test process, it was still there when the
 * file ended (the suite's reaper killed and reported it, a zombie flock,
 * after every stress file).
 * While waiting, the file's tap timeout is suspended; it starts afresh
 * once the lock is held.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const HEAVY_LOCK = '/tmp/criu-uring-heavy-tests.lock';

/** The root tap object (or any test whose timeout the runner watches). */
interface Root {
	before(fn: () => Promise<void>): void;
	teardown(fn: () => Promise<void>): void;
	setTimeout(ms: number): void;
	comment(...msg: unknown[]): void;
}

/** Hold the machine-wide lock of the heavy test files from before the first test to the exit of this process. */
export function exclusive(t: Root, lock = HEAVY_LOCK): void {
	let holder: ChildProcess | undefined;
	t.teardown(async () => {
		const p = holder;
		if (!p || p.exitCode !== null || p.signalCode !== null) return;
		p.ref(); /* the loop must live until it exits */
		await new Promise<void>((resolve) => {
			const kill = setTimeout(() => p.kill('SIGKILL'), 5000);
			p.once('exit', () => {
				clearTimeout(kill);
				resolve();
			});
			p.stdin!.end(); /* cat sees EOF, flock exits and drops the lock */
		});
	});
	t.before(async () => {
		t.setTimeout(0);
		const started = Date.now();
		await new Promise<void>((resolve, reject) => {
			const p = spawn('flock', ['--exclusive', lock, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
				{ stdio: ['pipe', 'pipe', 'inherit'] });
			p.once('error', reject);
			p.once('exit', (code) => reject(new Error(`flock ${lock} exited (${code}) before taking the lock`)));
			p.stdout.once('data', () => {
				p.removeAllListeners('exit');
				holder = p;
				p.unref();
				p.stdout.destroy();
				(p.stdin as unknown as { unref?: () => void }).unref?.();
				resolve();
			});
		});
		const waited = Date.now() - started;
		if (waited > 1000) t.comment(`waited ${Math.round(waited / 1000)} s for ${lock}`);
		t.setTimeout(Number(process.env.TAP_TIMEOUT ?? 30) * 1000);
	});
}

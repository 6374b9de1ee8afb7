/*
 * The suite's own machinery, the way scripts/test.sh runs each file:
 * under build/test-progs/reaper, which reports (and kills) whatever a
 * file left running, and records how the orphans it reaps end.
 *
 *  - a stress file's lock holder (test/lib/exclusive.ts) is waited for
 *    when the file's tests end: it was left to exit with the test
 *    process and the reaper reported a zombie flock after every stress
 *    file;
 *  - the reaper names what a file left running, and records how orphans
 *    ended in REAPER_STATUS_FILE (test/lib/criu.ts reads it to say how a
 *    restored process died).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { progPath } from './lib/criu';

const TAP = require.resolve('tap');
const EXCLUSIVE = path.join(__dirname, 'lib', 'exclusive.js');

function underReaper(script: string, env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
	const r = spawnSync(progPath('reaper'), [process.execPath, '-e', script],
		{ encoding: 'utf8', timeout: 60_000, env: { ...process.env, TAP_TIMEOUT: '30', ...env } });
	return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('a file that takes the stress lock leaves nothing running when it ends', async (t) => {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'criu-uring-harness-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	const lock = path.join(dir, 'lock');
	const r = underReaper(`
		const t = require(${JSON.stringify(TAP)});
		require(${JSON.stringify(EXCLUSIVE)}).exclusive(t, ${JSON.stringify(lock)});
		t.test('holds the lock', async (t) => { t.pass('ran'); });
	`);
	t.equal(r.code, 0, `the file passes (${r.err.trim()})`);
	t.match(r.out, /ok 1 - holds the lock/, 'its test ran with the lock held');
	t.notMatch(r.err, /left running/, 'the reaper found nothing left running');
	/* the lock is free again */
	const again = spawnSync('flock', ['--nonblock', lock, 'true']);
	t.equal(again.status, 0, 'the lock was released');
});

t.test('the reaper names what a file leaves running and records how orphans ended', async (t) => {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'criu-uring-harness-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	const status = path.join(dir, 'reaped');
	/* two orphans: one exits 3 at once, one sleeps past the end of the file */
	const r = underReaper(`
		const { execFileSync } = require('node:child_process');
		/* started by a shell that exits at once: orphans, the reaper's children */
		const quick = execFileSync('sh', ['-c', '(sleep 0.1; exit 3) </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim();
		const slow = execFileSync('sh', ['-c', 'sleep 600 </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim();
		console.log(quick, slow);
		setTimeout(() => process.exit(0), 1000);
	`, { REAPER_STATUS_FILE: status });
	const [quick, slow] = r.out.trim().split(' ').map(Number);
	t.equal(r.code, 0, 'the file\'s own status');
	t.match(r.err, new RegExp(`reaper: killing pid ${slow} left running: state S, \\(sleep\\) sleep 600`), 'the one left running is named');
	t.notMatch(r.err, new RegExp(`pid ${quick} left running`), 'the one that ended is not');
	t.match(readFileSync(status, 'utf8'), new RegExp(`^${quick} exit 3$`, 'm'), 'how the orphan that ended ended is recorded');
});

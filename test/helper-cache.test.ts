/*
 * The helper's code cache is trained (src/plugin/train.ts): at build time
 * one whole dump and restore runs through the helper's request handler on
 * a ring the build process opens, so the cache holds the code a dump runs,
 * not only the module loading.  Each case runs writeCodeCache() in a Node
 * process of its own, writing to a scratch file, and checks:
 *  - the training ran to its end (every reply as the plugin expects it);
 *  - it left nothing behind: no fd, no temporary directory;
 *  - the trained cache holds more compiled code than the untrained one;
 *  - a build that cannot load the BPF programs (no CAP_BPF and
 *    CAP_SYS_ADMIN here) still gets a cache, of the module loading, and
 *    says why.
 * Every dump test runs the helper with the cache the build trained.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../src/util/paths';

const HELPER = path.join(ROOT, 'dist', 'src', 'plugin', 'helper.js');

/* fdsBefore, fdsAfter: what each open fd links to */
interface Made { bytes: number; trained: string; fdsBefore: string[]; fdsAfter: string[] }

/* writeCodeCache(target, train) in a fresh Node, with the fds it held before and after; @wrap: a command it runs under */
function makeCache(target: string, train: boolean, wrap: string[] = []): Made {
	const code = `
		const fs = require('node:fs');
		const fds = () => fs.readdirSync('/proc/self/fd').flatMap((fd) => { try { return [fs.readlinkSync('/proc/self/fd/' + fd)]; } catch { return []; } });
		const fdsBefore = fds();
		require(${JSON.stringify(HELPER)}).writeCodeCache(${JSON.stringify(target)}, ${train}).then((r) => {
			process.stdout.write(JSON.stringify({ ...r, fdsBefore, fdsAfter: fds() }));
		});`;
	const [cmd, ...args] = [...wrap, process.execPath, '-e', code];
	return JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', timeout: 120_000 })) as Made;
}

const trainDirs = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('criu-uring-train-')).sort();

t.test('the code cache is trained on a whole dump and restore, and leaves nothing behind', async (t) => {
	const dir = mkdtempSync(path.join(tmpdir(), 'helper-cache-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	const before = trainDirs();
	const trained = makeCache(path.join(dir, 'trained.cache'), true);
	t.equal(trained.trained, 'one dump and restore of a ring', 'the training dump and restore ran to the end');
	/* the addon keeps the BPF programs and maps it loaded open, as in every helper: only what the training opened must be gone */
	const mine = (links: string[]): string[] => links.filter((l) => l === 'anon_inode:[io_uring]' || l.includes('criu-uring-train-'));
	t.same(mine(trained.fdsBefore), [], 'no ring and no training directory open before');
	t.same(mine(trained.fdsAfter), [], 'the training ring and its directory fd are closed');
	t.same(trainDirs(), before, 'the training directory is removed');
	const untrained = makeCache(path.join(dir, 'untrained.cache'), false);
	t.equal(untrained.trained, 'module loading only', 'without training only the modules are loaded');
	/* the code of the capture, the codec and the planner, compiled by the training */
	t.ok(trained.bytes > untrained.bytes * 1.5, `the trained cache holds more compiled code (${trained.bytes} vs ${untrained.bytes} bytes)`);
});

t.test('without BPF the cache is made from the module loading, and says why', async (t) => {
	const dir = mkdtempSync(path.join(tmpdir(), 'helper-cache-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	const before = trainDirs();
	/* root without the capabilities a BPF load needs, and no pinned set to reuse (the suite's bpffs has one) */
	const made = makeCache(path.join(dir, 'plain.cache'), true,
		['env', '-u', 'CRIU_URING_BPF_PIN_DIR', 'CRIU_URING_BPF_PIN=0', 'setpriv', '--bounding-set', '-bpf,-sys_admin,-perfmon']);
	t.match(made.trained, /^module loading only: no training dump \(.*BPF.*\)$/, 'the build is told the training could not run, and why');
	t.ok(made.bytes > 0, 'the cache is written all the same');
	t.same(trainDirs(), before, 'the training directory is removed');
	t.same(made.fdsAfter.filter((l) => l === 'anon_inode:[io_uring]'), [], 'the training ring is closed');
});

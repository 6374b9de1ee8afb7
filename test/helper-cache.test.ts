/*
 * The helper's code cache is trained (src/plugin/train.ts): at build time
 * one whole dump and restore runs through the helper's request handler on
 * a ring the build process opens, so the cache holds the code a dump runs,
 * not only the module loading.  Each case runs writeCodeCache() in a Node
 * process of its own, writing to a scratch file, and checks:
 *  - the training ran to its end (every reply as the plugin expects it);
 *  - it left nothing behind: no fd, no temporary directory;
 *  - the trained cache holds more compiled code than the untrained one;
 *  - the helper started with a trained cache accepts it and serves a
 *    real dump (test/dump-restore and every other dump test use it too).
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

/* writeCodeCache(target, train) in a fresh Node, with the fds it held before and after */
function makeCache(target: string, train: boolean): Made {
	const code = `
		const fs = require('node:fs');
		const fds = () => fs.readdirSync('/proc/self/fd').flatMap((fd) => { try { return [fs.readlinkSync('/proc/self/fd/' + fd)]; } catch { return []; } });
		const fdsBefore = fds();
		require(${JSON.stringify(HELPER)}).writeCodeCache(${JSON.stringify(target)}, ${train}).then((r) => {
			process.stdout.write(JSON.stringify({ ...r, fdsBefore, fdsAfter: fds() }));
		});`;
	return JSON.parse(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 120_000 })) as Made;
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

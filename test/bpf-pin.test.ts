/*
 * BPF programs pinned in bpffs (native/bpf_pin.cc, docs/bpf.md): the first
 * load of a boot pins them, later dumps only re-attach them; pinning
 * happens only where a bpffs is already mounted and never with
 * CRIU_URING_BPF_PIN=0; runs of concurrent processes through one pinned
 * set each get their own records; a damaged set is replaced, and so is
 * one that is not as this user pinned it (a pin root others could write
 * to is not used at all).
 *
 * The bpffs is mounted on a temporary directory, not on /sys/fs/bpf, and
 * in a mount namespace of this test's own: a bpffs mounted in the host's
 * mount namespace makes CRIU fail to dump trees in new mount namespaces
 * (the pid-namespace tests, which may run at the same time on a shared
 * machine), as it cannot dump that mount.  So the file re-runs itself
 * under `unshare -m --propagation private`; CRIU and the test programs run
 * in that namespace too, and the mount goes away with it.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dumpAndRestore, finishVerified, scratch, startWithTruth } from './lib/criu';

if (process.env.CRIU_URING_TEST_MNTNS !== '1') {
	const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, ...process.execArgv, __filename],
		{ stdio: 'inherit', env: { ...process.env, CRIU_URING_TEST_MNTNS: '1' } });
	process.exit(r.status ?? 1);
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const t = (require('tap') as typeof import('tap')).t;

const NATIVE = path.join(__dirname, '..', 'src', 'native.js');
const CAPTURE = path.join(__dirname, '..', 'src', 'capture', 'index.js');

const mnt = mkdtempSync(path.join(os.tmpdir(), 'criu-uring-bpffs-'));
execFileSync('mount', ['-t', 'bpf', 'bpf', mnt]);
t.teardown(() => {
	execFileSync('umount', [mnt]);
	rmdirSync(mnt);
});

/* A fresh pin root on the bpffs for each test. */
let roots = 0;
function pinRoot(): string {
	return path.join(mnt, `root${++roots}`, 'criu-uring');
}

/* bpfPinState() after one capture in a new Node process with @env. */
function stateIn(env: Record<string, string>): string {
	return execFileSync(process.execPath, ['-e',
		`const n = require(${JSON.stringify(NATIVE)}).loadNative(); n.runIter(process.pid); console.log(n.bpfPinState());`],
	{ env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
}

const setsIn = (root: string): string[] => (existsSync(root) ? readdirSync(root) : []);

t.test('the first dump pins the programs, the next one reuses them, and the rings come back right', async (t) => {
	const s = scratch(t);
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	const env = { CRIU_URING_BPF_PIN_DIR: root };
	const p = await startWithTruth(s, 'cr_rw', ['--advance', '100']);
	if (!(await dumpAndRestore(t, s, p.pid, { name: 'img1', dumpEnv: env }))) return;
	t.match(readFileSync(path.join(s.dir('img1'), 'dump.log'), 'utf8'),
		/io_uring: BPF programs loaded and pinned as .*\/[0-9a-f]{16}-16\n/, 'the first dump loads and pins');
	const sets = setsIn(root);
	t.equal(sets.length, 1, 'one pinned set');
	t.same(readdirSync(path.join(root, sets[0])).sort(),
		['map_bss', 'map_events', 'map_seen', 'prog_uring_files', 'prog_uring_tasks', 'prog_uring_vmas'], 'programs and maps pinned');
	if (!(await dumpAndRestore(t, s, p.pid, { name: 'img2', dumpEnv: env }))) return;
	t.match(readFileSync(path.join(s.dir('img2'), 'dump.log'), 'utf8'),
		/io_uring: BPF programs reused .*\/[0-9a-f]{16}-16\n/, 'the second dump reuses them');
	await finishVerified(t, s, 'cr_rw', p.pid);
});

t.test('concurrent processes capturing through one pinned set each get their own process', async (t) => {
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	const env = { ...process.env, CRIU_URING_BPF_PIN_DIR: root };
	t.match(stateIn(env), /^loaded and pinned as /);
	/* one scratch each: a program's truth file is named after the program */
	const progs = [await startWithTruth(scratch(t), 'cr_rw', []), await startWithTruth(scratch(t), 'cr_rw', [])];
	/* 40 captures each, at the same time; every one must find exactly its process's ring */
	const runs = progs.map((p) => new Promise<string>((resolve) => {
		const code = `const { captureProcess } = require(${JSON.stringify(CAPTURE)});
			const n = require(${JSON.stringify(NATIVE)}).loadNative();
			for (let i = 0; i < 40; i++) {
				const c = captureProcess(${p.pid});
				if (c.pid !== ${p.pid} || c.rings.length !== 1 || c.rings[0].inode !== ${p.truth.inode}) {
					console.log('wrong capture ' + i + ' of ${p.pid}: process ' + c.pid + ', rings ' + c.rings.map((r) => r.inode).join(','));
					process.exit(1);
				}
			}
			console.log(n.bpfPinState());`;
		execFile(process.execPath, ['-e', code], { env, encoding: 'utf8' }, (err, out, errOut) => resolve(err ? `failed: ${out}${errOut}` : out.trim()));
	}));
	for (const out of await Promise.all(runs)) t.match(out, /^reused /, 'every capture right, through the pinned set');
});

t.test('CRIU_URING_BPF_PIN=0 neither pins nor reuses', async (t) => {
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	t.equal(stateIn({ CRIU_URING_BPF_PIN_DIR: root, CRIU_URING_BPF_PIN: '0' }), 'loaded, not pinned: off (CRIU_URING_BPF_PIN=0)');
	t.same(setsIn(root), [], 'nothing pinned');
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^loaded and pinned/);
	t.equal(stateIn({ CRIU_URING_BPF_PIN_DIR: root, CRIU_URING_BPF_PIN: '0' }), 'loaded, not pinned: off (CRIU_URING_BPF_PIN=0)', 'an existing set is not used either');
});

t.test('without a bpffs nothing is mounted or pinned', async (t) => {
	const s = scratch(t);
	const root = path.join(s.dir('not-bpffs'), 'criu-uring');
	t.equal(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), `loaded, not pinned: off (no bpffs mounted at ${path.dirname(root)})`);
	t.notOk(existsSync(root), 'no directory created');
});

t.test('a damaged pinned set is replaced', async (t) => {
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^loaded and pinned/);
	const set = path.join(root, setsIn(root)[0]);
	unlinkSync(path.join(set, 'prog_uring_vmas'));
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^loaded and pinned/, 'loaded again and pinned anew');
	t.ok(existsSync(path.join(set, 'prog_uring_vmas')), 'the set is complete again');
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^reused /);
});

/*
 * A set is used only if it can only be what this user pinned: its root and
 * its directory private to the user, and every pin the object's program or
 * map.  Anything else is refused (and replaced, or, if the root itself is
 * not private, left alone and not pinned into).
 */
t.test('a pinned set in a directory others could change is refused and replaced', async (t) => {
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^loaded and pinned/);
	const set = path.join(root, setsIn(root)[0]);
	chmodSync(set, 0o755);
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }),
		/^loaded and pinned as .* \(the set there was refused: .* is not private to uid 0 \(owner 0, mode 755\)\)$/, 'refused, loaded and pinned anew');
	t.equal(statSync(set).mode & 0o777, 0o700, 'the new set is private');
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^reused /);
});

t.test('a pin that is not the object\'s program is refused and replaced', async (t) => {
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^loaded and pinned/);
	const set = path.join(root, setsIn(root)[0]);
	/* two programs' pins swapped: each is a valid program, but not the one its name says */
	renameSync(path.join(set, 'prog_uring_files'), path.join(set, 'swap'));
	renameSync(path.join(set, 'prog_uring_tasks'), path.join(set, 'prog_uring_files'));
	renameSync(path.join(set, 'swap'), path.join(set, 'prog_uring_tasks'));
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }),
		/^loaded and pinned as .* \(the set there was refused: prog_uring_files is another program \(uring_tasks\)\)$/, 'refused, loaded and pinned anew');
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^reused /);
});

t.test('a pin root others could write to is neither used nor pinned into', async (t) => {
	const root = pinRoot();
	mkdirSync(path.dirname(root));
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }), /^loaded and pinned/);
	const sets = setsIn(root);
	chmodSync(root, 0o777);
	t.match(stateIn({ CRIU_URING_BPF_PIN_DIR: root }),
		/^loaded, not pinned: .*criu-uring is not private to uid 0 \(owner 0, mode 777\) \(the set there was refused: .*criu-uring is not private/,
		'loaded, not pinned');
	t.same(setsIn(root), sets, 'the set there is left alone');
});

/*
 * Installed use (docs/install.md): make install / uninstall into a DESTDIR,
 * make deb, and real dump/restore cycles through installed copies, with no
 * checkout path, no cwd and no environment to lean on:
 *  - a DESTDIR tree: its criu with -L <DESTDIR>/usr/lib/criu, from /, with
 *    an empty environment (the plugin finds the helper relative to itself);
 *  - a real `make install` to /usr/local and /usr/lib/criu inside a private
 *    mount namespace (tmpfs on /usr/local, an overlay on /usr/lib, so nothing
 *    outside the test sees it), then `criu dump` and `criu restore` with no
 *    -L at all, from /, with an empty environment, then `make uninstall`.
 *  - the Debian packages installed with dpkg -i in a private mount namespace
 *    (overlays on /usr, /var, /etc), /usr/sbin/criu the same way, then purged.
 * CRIU's log names the helper the plugin started: it must be the installed
 * copy, never this checkout.
 */
import t, { type Test } from 'tap';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describeRun, finishVerified, isAlive, progPath, scratch, waitFor, waitForExit, type CriuResult, type Scratch } from './lib/criu';
import { ROOT } from '../src/util/paths';

const NODE = realpathSync(execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim());
const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

function make(target: string, vars: Record<string, string> = {}): string {
	const args = ['-s', '-C', ROOT, target, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)];
	const r = spawnSync('make', args, { encoding: 'utf8', timeout: 300_000 });
	if (r.status !== 0) throw new Error(`make ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
	return r.stdout + r.stderr;
}

/** Every file and symlink below @dir (relative paths, sorted); directories apart. */
function tree(dir: string): { files: string[]; dirs: string[] } {
	const files: string[] = [];
	const dirs: string[] = [];
	const walk = (rel: string): void => {
		for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
			const p = rel ? `${rel}/${e.name}` : e.name;
			if (e.isDirectory()) {
				dirs.push(p);
				walk(p);
			} else files.push(p);
		}
	};
	walk('');
	return { files: files.sort(), dirs: dirs.sort() };
}

/** The files an install of this checkout must hold, below @prefix/@plugindir (no leading slash). */
function expectedFiles(prefix: string, plugindir: string, opts: { criu: boolean; manifest: boolean; copyright?: boolean }): string[] {
	const lib = `${prefix}/lib/criu-uring`;
	const doc = `${prefix}/share/doc/criu-uring`;
	const sub = (base: string, filter: (f: string) => boolean = () => true): string[] =>
		tree(path.join(ROOT, base)).files.filter(filter).map((f) => `${base}/${f}`);
	const files = [
		`${plugindir}/io_uring_plugin.so`, `${plugindir}/io_uring_plugin.helper`,
		`${prefix}/bin/criu-uring`,
		`${lib}/package.json`, `${lib}/install.json`, `${lib}/proto/io_uring.proto`, `${lib}/addon/criu_uring.node`, `${lib}/bin/criu-uring`,
		...sub('dist/src', (f) => f.endsWith('.js')).map((f) => `${lib}/${f}`),
		`${lib}/dist/src/plugin/helper.bundle.cache`, /* the helper bundle's V8 code cache (scripts/bundle-helper.js) */
		...['node_modules/protobufjs', 'node_modules/long', 'node_modules/@protobufjs'].flatMap((d) => sub(d)).map((f) => `${lib}/${f}`),
		`${doc}/README.md`, ...sub('docs', (f) => f.endsWith('.md')).map((f) => `${doc}/${f}`),
	];
	if (opts.criu) files.push(`${prefix}/sbin/criu`);
	if (opts.manifest) files.push(`${lib}/install-manifest`);
	if (opts.copyright) files.push(`${doc}/copyright`);
	return files.sort();
}

/** The io_uring_plugin.helper file as a map. */
function helperFile(file: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const l of readFileSync(file, 'utf8').split('\n')) {
		const m = /^(\w+) (.+)$/.exec(l);
		if (m) out[m[1]] = m[2];
	}
	return out;
}

t.test('make install into a DESTDIR: exactly the expected files, uninstall removes them all', async (t) => {
	const s = scratch(t);
	const dest = s.dir('dest');
	make('install', { DESTDIR: dest });
	const { files } = tree(dest);
	t.same(files, expectedFiles('usr/local', 'usr/lib/criu', { criu: true, manifest: true }), 'every expected file, nothing else');
	t.ok(files.every((f) => f.startsWith('usr/local/') || f.startsWith('usr/lib/criu/')), 'only PREFIX and the plugin directory');

	t.ok(statSync(path.join(dest, 'usr/local/sbin/criu')).mode & 0o111, 'criu is executable');
	t.ok(readFileSync(path.join(dest, 'usr/local/sbin/criu')).equals(readFileSync(path.join(ROOT, 'build/criu/criu'))), 'criu is the patched build');
	t.equal(readlinkSync(path.join(dest, 'usr/local/bin/criu-uring')), '../lib/criu-uring/bin/criu-uring', 'the CLI on PATH is a relative link');
	t.equal(readFileSync(path.join(dest, 'usr/local/lib/criu-uring/bin/criu-uring'), 'utf8').split('\n')[0], `#!${NODE}`, 'the CLI runs the Node chosen at install');

	const h = helperFile(path.join(dest, 'usr/lib/criu/io_uring_plugin.helper'));
	t.equal(h.node, NODE, 'the plugin runs `command -v node`, resolved');
	t.equal(h.helper, '../../local/lib/criu-uring/dist/src/plugin/helper.js', 'the helper, relative to the plugin');
	t.ok(existsSync(path.resolve(dest, 'usr/lib/criu', h.helper)), 'which exists in the tree');

	const manifest = readFileSync(path.join(dest, 'usr/local/lib/criu-uring/install-manifest'), 'utf8').trim().split('\n');
	t.same(manifest.filter((l) => !l.startsWith('d ')).map((l) => l.slice(3)).sort(), files, 'the manifest lists every installed file');
	t.same(manifest.filter((l) => l.startsWith('d ')).map((l) => l.slice(3)).sort(), tree(dest).dirs, 'and every directory install created');

	// The installed CLI, from /, with an empty environment, looks at its own tree.
	const r = spawnSync(path.join(dest, 'usr/local/bin/criu-uring'), ['check', '--json'], { cwd: '/', env: {}, encoding: 'utf8', timeout: 60_000 });
	const checks = Object.fromEntries((JSON.parse(r.stdout).checks as { name: string; ok: boolean; detail: string }[]).map((c) => [c.name, c]));
	t.ok(checks.criu.ok && checks.criu.detail.startsWith(`${dest}/usr/local/sbin/criu 4.2.1`), `check uses the installed criu: ${checks.criu.detail}`);
	t.ok(checks.plugin.ok && checks.plugin.detail.startsWith(`${dest}/usr/lib/criu/io_uring_plugin.so`), `and the installed plugin: ${checks.plugin.detail}`);

	make('install', { DESTDIR: dest });
	t.same(tree(dest).files, files, 'installing again gives the same files');
	make('uninstall', { DESTDIR: dest });
	t.same(tree(dest), { files: [], dirs: [] }, 'uninstall leaves nothing');
});

t.test('make install honours PREFIX, PLUGINDIR and NODE', async (t) => {
	const s = scratch(t);
	const dest = s.dir('dest');
	make('install', { DESTDIR: dest, PREFIX: '/opt/cu', PLUGINDIR: '/opt/cu/criu-plugins', NODE: process.execPath });
	t.same(tree(dest).files, expectedFiles('opt/cu', 'opt/cu/criu-plugins', { criu: true, manifest: true }), 'every file below /opt/cu');
	const h = helperFile(path.join(dest, 'opt/cu/criu-plugins/io_uring_plugin.helper'));
	t.same(h, { helper: '../lib/criu-uring/dist/src/plugin/helper.js', node: process.execPath }, 'the helper file follows');
	const info = JSON.parse(readFileSync(path.join(dest, 'opt/cu/lib/criu-uring/install.json'), 'utf8'));
	t.same(info, { version: VERSION, criu: '../../sbin/criu', plugin_dir: '../../criu-plugins', node: process.execPath }, 'install.json names CRIU and the plugins relative to itself');
	make('uninstall', { DESTDIR: dest, PREFIX: '/opt/cu' });
	t.same(tree(dest), { files: [], dirs: [] }, 'uninstall leaves nothing');
	t.throws(() => make('install', { DESTDIR: dest, NODE: 'node' }), /NODE must be an absolute path/, 'a relative NODE is refused');
});

/** dpkg-deb -f FILE: the control fields. */
function controlFields(deb: string): Record<string, string> {
	const out: Record<string, string> = {};
	let key = '';
	for (const l of execFileSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).split('\n')) {
		const m = /^([\w-]+): ?(.*)$/.exec(l);
		if (m) out[(key = m[1])] = m[2];
		else if (key && l.startsWith(' ')) out[key] += '\n' + l;
	}
	return out;
}

/** dpkg-deb -c: paths (no leading ./) of files and links, and whether everything is root:root. */
function debContents(deb: string): { files: string[]; rootOwned: boolean } {
	const lines = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' }).trim().split('\n');
	const files = lines.filter((l) => !l.startsWith('d')).map((l) => / \.\/(\S+?)(?: -> .*)?$/.exec(l)![1]).sort();
	return { files, rootOwned: lines.every((l) => l.split(/\s+/)[1] === 'root/root') };
}

t.test('make deb: criu-uring and criu-uring-criu with sane control fields', async (t) => {
	make('deb');
	const out = path.join(ROOT, 'build', 'deb');
	const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
	const criuVersion = /Version: (\S+)/.exec(execFileSync(path.join(ROOT, 'build/criu/criu'), ['--version'], { encoding: 'utf8' }))![1];
	const criuDebVersion = `${criuVersion}+uring${VERSION}`;
	const deb = path.join(out, `criu-uring_${VERSION}_${arch}.deb`);
	const criuDeb = path.join(out, `criu-uring-criu_${criuDebVersion}_${arch}.deb`);
	t.same(readdirSync(out).filter((f) => f.endsWith('.deb')).sort(), [path.basename(criuDeb), path.basename(deb)], 'two packages in build/deb');

	const c = debContents(deb);
	t.same(c.files, expectedFiles('usr', 'usr/lib/criu', { criu: false, manifest: false, copyright: true }), 'criu-uring: plugin, helper, CLI, docs');
	t.ok(c.rootOwned, 'owned by root');
	const f = controlFields(deb);
	t.equal(f.Package, 'criu-uring');
	t.equal(f.Version, VERSION);
	t.equal(f.Architecture, arch);
	t.match(f.Maintainer, /^.+ <.+@.+>$/);
	t.match(f.Depends, `criu-uring-criu (= ${criuDebVersion})`, 'needs exactly the CRIU it was built against');
	t.match(f.Depends, /(^|, )nodejs \(>= 18\)(,|$)/, 'needs nodejs >= 18 (Debian 12 has 18.20)');
	t.match(f.Depends, /libbpf1/, 'and the addon\'s libraries');
	t.ok(Number(f['Installed-Size']) > 1000, 'Installed-Size is set');
	t.match(f.Description, /io_uring/);
	const tar = (d: string, p: string): string => execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2"', 'sh', d, p], { encoding: 'utf8' });
	const helper = tar(deb, './usr/lib/criu/io_uring_plugin.helper');
	t.match(helper, /^helper \.\.\/criu-uring\/dist\/src\/plugin\/helper\.js$/m, 'the plugin finds /usr/lib/criu-uring');
	t.match(helper, /^node \/usr\/bin\/node$/m, 'and runs /usr/bin/node');
	t.match(tar(deb, './usr/lib/criu-uring/bin/criu-uring').split('\n')[0], '#!/usr/bin/node', 'so does the CLI');
	const info = execFileSync('dpkg-deb', ['-I', deb], { encoding: 'utf8' });
	t.match(info, /^\s+\d+ bytes,\s+\d+ lines\s+\*\s+postinst\s/m, 'an executable postinst checks /usr/bin/node');

	const cc = debContents(criuDeb);
	t.same(cc.files, ['usr/sbin/criu', 'usr/share/doc/criu-uring-criu/copyright', 'usr/share/doc/criu-uring-criu/criu-build.md',
		'usr/share/doc/criu-uring-criu/criu-patches.md'], 'criu-uring-criu: /usr/sbin/criu and its docs');
	t.ok(cc.rootOwned, 'owned by root');
	const cf = controlFields(criuDeb);
	t.equal(cf.Package, 'criu-uring-criu');
	t.equal(cf.Version, criuDebVersion);
	t.equal(cf.Provides, `criu (= ${criuVersion})`, 'it is a criu');
	t.equal(cf.Conflicts, 'criu', 'that takes the place of Debian\'s');
	t.equal(cf.Replaces, 'criu');
	for (const lib of ['libc6', 'libprotobuf-c1', 'libnl-3-200']) t.match(cf.Depends, lib, `depends on ${lib}`);

	// What apt would do on a system with nothing installed: every dependency
	// resolves from the configured (Debian) archive.
	const status = path.join(scratch(t).root, 'status');
	closeSync(openSync(status, 'w'));
	const apt = spawnSync('apt-get', ['install', '-s', '-o', `Dir::State::status=${status}`, deb, criuDeb], { encoding: 'utf8', timeout: 120_000 });
	t.equal(apt.status, 0, `apt-get install -s on an empty system succeeds: ${apt.stderr.trim().split('\n').pop()}`);
	t.match(apt.stdout, /^Inst criu-uring-criu /m, 'installs criu-uring-criu');
	t.match(apt.stdout, /^Inst criu-uring /m, 'installs criu-uring');
	t.match(apt.stdout, /^Inst nodejs /m, 'with a nodejs from the archive');
});

/* ---- real dump/restore cycles through installed copies ---- */

function run(cmd: string, args: string[], logPath: string): Promise<CriuResult> {
	return new Promise((resolve) => {
		// cwd /, an empty environment: what a runtime may give CRIU
		execFile(cmd, args, { cwd: '/', env: {}, timeout: 60_000, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
			let code: number | null = 0;
			if (error) code = typeof error.code === 'number' ? error.code : null;
			let log = '';
			try {
				log = readFileSync(logPath, 'utf8');
			} catch {
				/* no log */
			}
			resolve({ code, log, logPath, stderr: String(stderr) });
		});
	});
}

/** The "io_uring: helper ..." line, or undefined. */
function helperLine(log: string): string | undefined {
	return /io_uring: helper .*/.exec(log)?.[0];
}

/**
 * Start cr_rw with its files named NAME.* in the scratch dir and wait for its
 * truth.  With @enter (nsenter into a mount namespace) every fd it holds is
 * opened inside that namespace, where CRIU will look them up.
 */
async function startCrRw(s: Scratch, name: string, enter: string[] = []): Promise<number> {
	const truthFile = s.file(`${name}.truth.json`);
	const env = { ...process.env, TRUTH_FILE: truthFile };
	const argv = [progPath('cr_rw'), '--advance', '100'];
	let child;
	if (enter.length) {
		const sh = 'exec "$@" </dev/null >>"$OUT" 2>>"$ERR"';
		child = spawn(enter[0], [...enter.slice(1), 'sh', '-c', sh, 'sh', ...argv], { detached: true, stdio: 'ignore', cwd: s.root,
			env: { ...env, OUT: s.file(`${name}.out`), ERR: s.file(`${name}.err`) } });
	} else {
		const out = openSync(s.file(`${name}.out`), 'a');
		const err = openSync(s.file(`${name}.err`), 'a');
		child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', out, err], cwd: s.root, env });
		closeSync(out);
		closeSync(err);
	}
	child.unref();
	await waitFor(() => existsSync(truthFile) || !isAlive(child.pid!), `${name} to write its truth`);
	if (!existsSync(truthFile)) throw new Error(`${name} exited early: ${s.stderrOf(name)}`);
	return JSON.parse(readFileSync(truthFile, 'utf8')).pid;
}

function killIfCrRw(pid: number): void {
	try {
		if (readlinkSync(`/proc/${pid}/exe`) === progPath('cr_rw')) process.kill(pid, 'SIGKILL');
	} catch {
		/* gone */
	}
}

t.test('dump and restore with the criu and plugin of a DESTDIR tree, from /, empty environment', async (t) => {
	const s = scratch(t);
	const dest = s.dir('dest');
	make('install', { DESTDIR: dest });
	const criu = path.join(dest, 'usr/local/sbin/criu');
	const plugins = path.join(dest, 'usr/lib/criu');
	const img = s.dir('img');
	const pid = await startCrRw(s, 'cr_rw');
	t.teardown(() => killIfCrRw(pid));

	const d = await run(criu, ['dump', '-t', String(pid), '-D', img, '-v4', '-o', path.join(img, 'dump.log'), '-L', plugins], path.join(img, 'dump.log'));
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	const expected = `io_uring: helper ${dest}/usr/local/lib/criu-uring/dist/src/plugin/helper.js (node ${NODE}, installed)`;
	t.equal(helperLine(d.log), expected, 'the dump ran the DESTDIR helper with the recorded node');
	t.match(d.log, /io_uring: process \d+: 1 ring\(s\) checkpointed/, 'and checkpointed the ring');
	await waitForExit(pid);
	/* without the plan the dump saved (docs/saved-plan.md), the restore runs the DESTDIR helper too */
	rmSync(path.join(img, 'io_uring-restore.plan'));
	const r = await run(criu, ['restore', '-D', img, '-d', '-v4', '-o', path.join(img, 'restore.log'), '-L', plugins], path.join(img, 'restore.log'));
	if (!t.equal(r.code, 0, describeRun('restore', r))) return;
	t.equal(helperLine(r.log), expected, 'so did the restore');
	t.notMatch(d.log + r.log, `${ROOT}/dist`, 'the checkout\'s helper never ran');
	await finishVerified(t, s, 'cr_rw', pid);

	// A broken helper file fails the dump; it never falls back to the checkout.
	const pid2 = await startCrRw(s, 'cr_rw2');
	t.teardown(() => killIfCrRw(pid2));
	const hf = path.join(plugins, 'io_uring_plugin.helper');
	execFileSync('sed', ['-i', 's|^helper .*|helper ../nowhere/helper.js|', hf]);
	const img2 = s.dir('img2');
	const d2 = await run(criu, ['dump', '-t', String(pid2), '-D', img2, '-v4', '-o', path.join(img2, 'dump.log'), '-L', plugins, '--leave-running'], path.join(img2, 'dump.log'));
	t.not(d2.code, 0, 'the dump fails');
	t.match(d2.log, `${hf}: helper ${plugins}/../nowhere/helper.js: No such file or directory`, 'naming the file and the missing helper');
	t.ok(isAlive(pid2), 'the process keeps running');
});

interface PrivateNs {
	/** nsenter into it, then the command. */
	enter: string[];
	/** Run a command inside; its stdout. */
	run(cmd: string[]): string;
}

/**
 * A private mount namespace (nothing outside sees its mounts) with tmpfs on
 * each of @tmpfs and a writable overlay on each of @overlays, alive until
 * the test ends; everything below enters it with nsenter.
 */
async function privateNs(t: Test, s: Scratch, tmpfs: string[], overlays: string[]): Promise<PrivateNs | undefined> {
	const mounts = [
		...tmpfs.map((d) => `mount -t tmpfs tmpfs ${d}`),
		...overlays.map((d, i) => `mount -t overlay overlay -o lowerdir=${d},upperdir=${s.dir(`ovl${i}/upper`)},workdir=${s.dir(`ovl${i}/work`)} ${d}`),
	];
	const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `${mounts.join(' && ')} && echo ready && exec sleep 900`],
		{ stdio: ['ignore', 'pipe', 'inherit'] });
	t.teardown(() => {
		holder.kill('SIGKILL');
	});
	const ready = await new Promise<boolean>((resolve) => {
		holder.stdout!.on('data', (b: Buffer) => resolve(b.toString().includes('ready')));
		holder.on('exit', () => resolve(false));
	});
	if (!t.ok(ready, `a private mount namespace with its own ${[...tmpfs, ...overlays].join(', ')}`)) return undefined;
	const enter = ['nsenter', '-t', String(holder.pid), '-m', '--'];
	return {
		enter,
		run: (cmd) => execFileSync(enter[0], [...enter.slice(1), ...cmd], { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] }),
	};
}

/**
 * In @ns: start cr_rw, `criu dump` and `criu restore` with @criu, no -L,
 * from /, with an empty environment; both must run @helper with @node; the
 * program must verify itself.
 */
async function cycleInNs(t: Test, s: Scratch, ns: PrivateNs, criu: string, helper: string, node: string): Promise<void> {
	const pid = await startCrRw(s, 'cr_rw', ns.enter);
	t.teardown(() => killIfCrRw(pid));
	const img = s.dir('img');
	const argv = [...ns.enter.slice(1), criu];
	const d = await run(ns.enter[0], [...argv, 'dump', '-t', String(pid), '-D', img, '-v4', '-o', path.join(img, 'dump.log')], path.join(img, 'dump.log'));
	if (!t.equal(d.code, 0, describeRun('dump', d))) return;
	const expected = `io_uring: helper ${helper} (node ${node}, installed)`;
	t.equal(helperLine(d.log), expected, 'the dump found the plugin by itself and ran the installed helper');
	t.match(d.log, /io_uring: process \d+: 1 ring\(s\) checkpointed/, 'and checkpointed the ring');
	await waitForExit(pid);
	const r = await run(ns.enter[0], [...argv, 'restore', '-D', img, '-d', '-v4', '-o', path.join(img, 'restore.log')], path.join(img, 'restore.log'));
	if (!t.equal(r.code, 0, describeRun('restore', r))) return;
	t.match(r.log, /io_uring: restore plan of the dump used \(1 process\(es\), no helper\)/, 'the installed plugin ran the plan the dump saved');
	t.equal(helperLine(r.log), undefined, 'and started no helper');
	await finishVerified(t, s, 'cr_rw', pid);
}

t.test('make install to /usr/local for real (private mount namespace), criu with no -L, from /, empty environment', async (t) => {
	const s = scratch(t);
	const ns = await privateNs(t, s, ['/usr/local'], ['/usr/lib']);
	if (!ns) return;
	const inNs = ns.run;

	inNs(['make', '-s', '-C', ROOT, 'install']);
	t.equal(inNs(['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'sh', '-c', 'command -v criu']).trim(), '/usr/local/sbin/criu',
		'criu on root\'s standard PATH is the installed one');
	t.equal(inNs(['cat', '/usr/lib/criu/io_uring_plugin.helper']).match(/^node (.*)$/m)?.[1], NODE, 'the plugin in CRIU\'s default directory');
	t.notOk(existsSync('/usr/lib/criu/io_uring_plugin.helper'), 'invisible outside the namespace');

	await cycleInNs(t, s, ns, '/usr/local/sbin/criu', '/usr/local/lib/criu-uring/dist/src/plugin/helper.js', NODE);

	inNs(['make', '-s', '-C', ROOT, 'uninstall']);
	t.equal(inNs(['sh', '-c', 'find /usr/local -mindepth 1; test ! -e /usr/lib/criu || echo /usr/lib/criu']).trim(), '',
		'uninstall leaves /usr/local empty and /usr/lib/criu gone');
});

t.test('the packages installed for real (private mount namespace): /usr/sbin/criu with no -L, from /, empty environment', async (t) => {
	const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
	const out = path.join(ROOT, 'build', 'deb');
	const debs = (): string[] => (existsSync(out) ? readdirSync(out).filter((f) => f.endsWith(`_${arch}.deb`)).map((f) => path.join(out, f)) : []);
	if (debs().length !== 2) make('deb');
	const s = scratch(t);
	const ns = await privateNs(t, s, [], ['/usr', '/var', '/etc']);
	if (!ns) return;
	ns.run(['dpkg', '-i', ...debs()]);
	t.match(ns.run(['dpkg-query', '-W', '-f', '${Package} ${Status}\\n', 'criu-uring', 'criu-uring-criu']),
		/^criu-uring install ok installed\ncriu-uring-criu install ok installed$/m, 'both packages are installed and configured (postinst passed)');
	t.equal(ns.run(['/usr/bin/criu-uring', 'check', '--json']).includes('"ok": true'), true, 'criu-uring check passes with the packaged files');
	await cycleInNs(t, s, ns, '/usr/sbin/criu', '/usr/lib/criu-uring/dist/src/plugin/helper.js', '/usr/bin/node');
	ns.run(['dpkg', '--purge', 'criu-uring', 'criu-uring-criu']);
	t.equal(ns.run(['sh', '-c', 'ls -d /usr/sbin/criu /usr/lib/criu /usr/lib/criu-uring /usr/bin/criu-uring /usr/share/doc/criu-uring 2>/dev/null; true']), '',
		'purging removes them all');
});

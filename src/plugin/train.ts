/*
 * Training for the helper's V8 code cache (helper.ts writeCodeCache, run
 * by scripts/bundle-helper.js at build time).
 *
 * V8 compiles a function the first time it runs, and a code cache holds
 * only what was compiled when it was made.  Made right after the modules
 * loaded, it left every function of the capture, the image codec and the
 * planner to be compiled again by every dump: the warm-up before the
 * freeze (warmup.ts) spent 25-35 ms on it, and what it missed was compiled
 * while the tree was frozen.  So before the cache is made, this runs one
 * whole dump and restore through the helper's own request handler, on a
 * ring this build process opens for the purpose (one registered file, no
 * mapping): hello, pause, checkpoint, extfile, verify, finish (images and
 * saved plan into a temporary directory), then hello, extfiles and plan
 * of a restore, as the plugin would send them.  Nothing else is touched:
 * the directory is removed and the ring closed at the end.
 *
 * The capture needs the BPF programs (root, a kernel with BTF): a build
 * without them gets a cache of the module loading only, as before, and
 * says why.  The cache only saves compile time; what it holds never
 * changes what the helper does.
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadNative } from '../native';
import { REGISTER } from '../uring/abi';
import { PROTOCOL_VERSION, setLogSink, type Handler } from './protocol';

/* The replies the plugin would get, checked as the plugin checks them. */
async function ask(handle: Handler, verb: string, ...args: string[]): Promise<string> {
	const r = await handle(verb, args);
	if (r.status !== 'ok') throw new Error(`${verb}: ${r.status}`);
	return r.text ?? '';
}

/**
 * One dump and restore of a ring of this process through @handle; returns
 * what was trained, or throws saying why it could not be.
 */
export async function train(handle: Handler): Promise<string> {
	const n = loadNative();
	const ring = n.ioUringSetup(8, Buffer.alloc(120));
	const dir = mkdtempSync(path.join(tmpdir(), 'criu-uring-train-'));
	const dirFd = openSync(dir, 'r');
	const logged: string[] = [];
	setLogSink((line) => logged.push(line));
	try {
		const files = Buffer.alloc(4);
		files.writeInt32LE(dirFd);
		n.ioUringRegister(ring, REGISTER.FILES, files, 1);
		const pid = String(process.pid);
		const inode = statSync(`/proc/self/fd/${ring}`).ino;
		await ask(handle, 'hello', 'dump', `/proc/self/fd/${dirFd}`, PROTOCOL_VERSION);
		await ask(handle, 'pause', pid);
		const got = await ask(handle, 'checkpoint', pid);
		if (got.split(' ')[0] !== '1') throw new Error(`the checkpoint of the training ring answered '${got}'`);
		await ask(handle, 'extfile', '1', String(inode));
		await ask(handle, 'verify');
		await ask(handle, 'finish', '0');
		await ask(handle, 'hello', 'restore', `/proc/self/fd/${dirFd}`, PROTOCOL_VERSION);
		await ask(handle, 'extfiles', 'required');
		const steps = await ask(handle, 'plan', pid);
		if (!(Number(steps) > 0)) throw new Error(`the restore plan of the training ring answered '${steps}'`);
		return 'one dump and restore of a ring';
	} catch (e) {
		const why = (e as Error).message;
		throw new Error(logged.length ? `${why} (after: ${logged[logged.length - 1]})` : why);
	} finally {
		setLogSink(null);
		closeSync(dirFd);
		n.close(ring);
		rmSync(dir, { recursive: true, force: true });
	}
}

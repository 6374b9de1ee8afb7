/*
 * The plugin's Node helper: plugin-c/helper.c runs `node
 * dist/src/plugin/helper.js STAGE` for every dump and restore, so its
 * start-up is paid every time (docs/benchmarks.md).  This file only loads
 * the helper itself (serve.ts and everything it imports) as one file,
 * helper.bundle.js, which scripts/bundle-helper.js builds next to it with
 * esbuild: no module resolution and no file per module.  The bundle is
 * compiled with the V8 code cache made at build time
 * (helper.bundle.cache), so little of it is compiled again.  A cache made
 * by another Node is rejected by V8, and the bundle is then compiled as
 * usual: slower, nothing else.  Without a bundle (tsc alone) serve.js runs
 * as it is.  Which way it started is logged at debug level.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import Module from 'node:module';

export const BUNDLE = path.join(__dirname, 'helper.bundle.js');
export const CODE_CACHE = path.join(__dirname, 'helper.bundle.cache');

interface Serve {
	main(): void;
	preload(): void;
	train(): Promise<string>;
}

/* A log line for CRIU's log (protocol.ts), written before the helper itself is loaded. */
function note(text: string): void {
	fs.writeSync(1, `log 4 helper: ${text}\n`);
}

function compile(cachedData?: Buffer): vm.Script {
	return new vm.Script(Module.wrap(fs.readFileSync(BUNDLE, 'utf8')), { filename: BUNDLE, cachedData });
}

/* Run the bundle as the CommonJS module it is, in this directory. */
function load(script: vm.Script): Serve {
	const mod = { exports: {} as Serve };
	script.runInThisContext()(mod.exports, Module.createRequire(BUNDLE), mod, BUNDLE, __dirname);
	return mod.exports;
}

export function start(): void {
	/*
	 * The helper runs no WebAssembly.  Without it, long.js (protobufjs'
	 * 64-bit integers) skips compiling its optional WebAssembly multiply
	 * and divide at load, 5-8 ms of every start; its JavaScript ones do
	 * the same.  A global removed, not a V8 flag: flags would have to
	 * match the code cache's.
	 */
	delete (globalThis as { WebAssembly?: unknown }).WebAssembly;
	if (!fs.existsSync(BUNDLE)) {
		note(`no ${path.basename(BUNDLE)} (npm run build makes it): modules loaded one by one`);
		(require('./serve') as Serve).main();
		return;
	}
	let cached: Buffer | undefined;
	try {
		cached = fs.readFileSync(CODE_CACHE);
	} catch {
		/* none: compiled as usual */
	}
	const script = compile(cached);
	note(`${path.basename(BUNDLE)}, ${!cached ? 'no code cache' : script.cachedDataRejected ? 'code cache rejected (made by another Node)' : 'code cache used'}`);
	load(script).main();
}

/**
 * For scripts/bundle-helper.js, at build time: run the start-up code of
 * both stages (module loading) and, where this machine can and @train,
 * one whole dump and restore (train.ts), then save what V8 compiled
 * meanwhile as @target.  Returns the cache's size and what went into it.
 */
export async function writeCodeCache(target = CODE_CACHE, train = true): Promise<{ bytes: number; trained: string }> {
	const script = compile();
	const serve = load(script);
	serve.preload();
	let trained = 'module loading only';
	if (train) {
		try {
			trained = await serve.train();
		} catch (e) {
			trained = `module loading only: no training dump (${(e as Error).message})`;
		}
	}
	const data = script.createCachedData();
	const tmp = `${target}.tmp-${process.pid}`;
	fs.writeFileSync(tmp, data);
	fs.renameSync(tmp, target);
	return { bytes: data.length, trained };
}

if (require.main === module) start();

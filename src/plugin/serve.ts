/*
 * The plugin's Node helper process (started by plugin-c/helper.c through
 * helper.ts, which loads this file and its imports as one bundle): serves
 * the plugin's requests over stdin/stdout.  Verbs: docs/plugin-protocol.md.
 */
import { readlinkSync } from 'node:fs';
import type { DumpSession } from './dump';
import type { RestoreSession } from './restore';
import { PROTOCOL_VERSION, Reply, serve } from './protocol';

/* Each stage loads only its own side's modules: every module loaded is start-up time of every dump or restore. */
const dumpModule = (): typeof import('./dump') => require('./dump') as typeof import('./dump');
const restoreModule = (): typeof import('./restore') => require('./restore') as typeof import('./restore');

let dump: DumpSession | null = null;
let restore: RestoreSession | null = null;
let restoreDir: string | null = null;

const int = (s: string | undefined, what: string): number => {
	if (s === undefined || !/^-?\d+$/.test(s)) throw new Error(`protocol: ${what} must be an integer, got '${s}'`);
	return Number(s);
};

function needDump(): DumpSession {
	if (!dump) throw new Error('protocol: not in a dump session');
	return dump;
}

function needRestore(): RestoreSession {
	if (!restore) throw new Error('protocol: not in a restore session');
	return restore;
}

async function handle(verb: string, args: string[]): Promise<Reply> {
	switch (verb) {
	case 'hello': {
		if (args[2] !== PROTOCOL_VERSION)
			throw new Error(`protocol: the plugin speaks '${args[2] ?? 'no version'}', this helper '${PROTOCOL_VERSION}': they come from different builds (reinstall criu-uring)`);
		/* the image directory arrives as /proc/<criu>/fd/<n>: resolve it to a path */
		const dir = readlinkSync(args[1]);
		if (args[0] === 'dump') dump = new (dumpModule().DumpSession)(dir); /* the plugin starts no helper for pre-dump */
		else if (args[0] === 'restore') restoreDir = dir; /* the images are read by "extfiles" */
		else throw new Error(`protocol: unknown stage '${args[0]}'`);
		return { status: 'ok', text: PROTOCOL_VERSION };
	}
	case 'pause':
		await needDump().pause(int(args[0], 'pid'));
		return { status: 'ok' };
	case 'checkpoint': {
		/* "<rings of pid> <rings with an fd in the tree so far>": the plugin sends that many ring files in one "extfile" */
		const d = needDump();
		const r = d.checkpoint(int(args[0], 'pid'));
		return typeof r === 'number' ? { status: 'ok', text: `${r} ${d.ringFiles()}` } : { status: 'ok', text: 'retry', lines: r.retry };
	}
	case 'extfile': {
		/* "extfile ID INODE [ID INODE ...]": every ring file CRIU handed over, in one request */
		if (args.length === 0 || args.length % 2) throw new Error(`protocol: extfile needs pairs of id and inode, got ${args.length} argument(s)`);
		const files: [number, number][] = [];
		for (let i = 0; i < args.length; i += 2) files.push([int(args[i], 'id'), int(args[i + 1], 'inode')]);
		needDump().addExtFiles(files);
		return { status: 'ok' };
	}
	case 'extfiles': {
		/* restore init: read and check every image; "required": CRIU's inventory says the dump had rings */
		if (restoreDir === null) throw new Error('protocol: not in a restore session');
		restore = new (restoreModule().RestoreSession)(restoreDir, args[0] === 'required');
		return { status: 'ok', text: restore.ringFileIds().join(' ') };
	}
	case 'plan': {
		const lines = needRestore().plan(int(args[0], 'pid'));
		return lines ? { status: 'ok', text: String(lines.length), lines } : { status: 'notmine' };
	}
	case 'verify':
		needDump().verify();
		return { status: 'ok' };
	case 'finish':
		dump?.finish(int(args[0], 'ret'));
		return { status: 'ok' };
	default:
		throw new Error(`protocol: unknown request '${verb}'`);
	}
}

/** Serve the plugin until it closes stdin. */
export function main(): void {
	serve(handle).catch((e) => {
		process.stderr.write(`criu-uring helper: ${(e as Error).message}\n`);
		process.exit(1);
	});
}

/* Both stages' modules loaded: the least the code cache of the bundle is made from (helper.ts writeCodeCache). */
export function preload(): void {
	dumpModule();
	restoreModule();
}

/* One dump and restore run through handle() before the code cache is made (train.ts); throws why it could not. */
export async function train(): Promise<string> {
	try {
		return await (require('./train') as typeof import('./train')).train(handle);
	} finally {
		dump = restore = null;
		restoreDir = null;
	}
}

if (require.main === module) main();

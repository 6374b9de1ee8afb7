/*
 * Where the build puts things, resolved from this file so it works both
 * from src/ (ts) and dist/src/ (js).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

function findRoot(): string {
	let dir = __dirname;
	while (dir !== path.dirname(dir)) {
		if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'plugin-c'))) return dir;
		dir = path.dirname(dir);
	}
	throw new Error('cannot find the criu-uring checkout above ' + __dirname);
}

export const ROOT = findRoot();
export const CRIU_BIN = process.env.CRIU_URING_CRIU ?? path.join(ROOT, 'build', 'criu', 'criu');
export const PLUGIN_DIR = path.join(ROOT, 'build', 'plugins');
export const PLUGIN_SO = path.join(PLUGIN_DIR, 'io_uring_plugin.so');
export const ADDON = path.join(ROOT, 'build', 'addon', 'Release', 'criu_uring.node');
export const TEST_PROGS = path.join(ROOT, 'build', 'test-progs');

/*
 * Where things are, resolved from this file so it works from src/ (ts) and
 * dist/src/ (js), in either of two layouts:
 *
 *  - a checkout: <root>/package.json and plugin-c/, everything built under
 *    <root>/build/ (npm run build);
 *  - an installed copy (scripts/install.sh, docs/install.md):
 *    <prefix>/lib/criu-uring/ with package.json and install.json, the addon
 *    in addon/, and install.json naming the CRIU binary and the plugin
 *    directory relative to that directory (so a DESTDIR tree or an unpacked
 *    package is self-consistent).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** What scripts/install.sh writes into <prefix>/lib/criu-uring/install.json. */
export interface InstallInfo {
	version: string;
	/** The CRIU binary, relative to the install root (or absolute). */
	criu: string;
	/** CRIU's plugin directory holding io_uring_plugin.so, relative to the install root (or absolute). */
	plugin_dir: string;
	/** The Node interpreter chosen at install time (absolute). */
	node: string;
}

const INSTALL_INFO_FILE = 'install.json';

function findRoot(): { root: string; installed: boolean } {
	let dir = __dirname;
	while (dir !== path.dirname(dir)) {
		if (existsSync(path.join(dir, 'package.json'))) {
			if (existsSync(path.join(dir, 'plugin-c'))) return { root: dir, installed: false };
			if (existsSync(path.join(dir, INSTALL_INFO_FILE))) return { root: dir, installed: true };
		}
		dir = path.dirname(dir);
	}
	throw new Error('cannot find the criu-uring checkout or installation above ' + __dirname);
}

const found = findRoot();

export const ROOT = found.root;
/** True when running from an installed copy, not a checkout. */
export const INSTALLED = found.installed;
const INSTALL_INFO: InstallInfo | undefined = INSTALLED
	? (JSON.parse(readFileSync(path.join(ROOT, INSTALL_INFO_FILE), 'utf8')) as InstallInfo)
	: undefined;

const fromRoot = (p: string): string => path.resolve(ROOT, p);

export const CRIU_BIN = process.env.CRIU_URING_CRIU ?? (INSTALL_INFO ? fromRoot(INSTALL_INFO.criu) : path.join(ROOT, 'build', 'criu', 'criu'));
export const PLUGIN_DIR = INSTALL_INFO ? fromRoot(INSTALL_INFO.plugin_dir) : path.join(ROOT, 'build', 'plugins');
export const PLUGIN_SO = path.join(PLUGIN_DIR, 'io_uring_plugin.so');
export const ADDON = INSTALLED ? path.join(ROOT, 'addon', 'criu_uring.node') : path.join(ROOT, 'build', 'addon', 'Release', 'criu_uring.node');
/** Checkout only: the test programs (test/progs). */
export const TEST_PROGS = path.join(ROOT, 'build', 'test-progs');

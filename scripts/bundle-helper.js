#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/*
 * bundle-helper.js: the plugin helper as one file, made after tsc.
 *
 * dist/src/plugin/serve.js and everything it requires (dist/src,
 * protobufjs) become dist/src/plugin/helper.bundle.js (esbuild), which
 * dist/src/plugin/helper.js loads; then the bundle's start-up code runs
 * once, and one training dump and restore where the machine allows it
 * (src/plugin/train.ts), and V8's code cache of all it compiled is saved
 * as helper.bundle.cache.  Every
 * dump and restore starts the helper: one file and a code cache instead
 * of ~60 modules resolved, read and compiled (docs/benchmarks.md).
 * Both files are generated: never committed.
 */
'use strict';
const path = require('path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const plugin = path.join(root, 'dist', 'src', 'plugin');
const out = path.join(plugin, 'helper.bundle.js');

esbuild.buildSync({
	entryPoints: [path.join(plugin, 'serve.js')],
	outfile: out + '.tmp',
	bundle: true,
	platform: 'node',
	target: 'node20',
	format: 'cjs',
	/* the native addon's path is computed at run time (src/util/paths.ts): it stays a require */
	logLevel: 'error',
	logOverride: { 'unsupported-require-call': 'silent' },
});
require('fs').renameSync(out + '.tmp', out);
require(path.join(plugin, 'helper.js')).writeCodeCache().then(({ bytes, trained }) => {
	process.stderr.write(`build: helper bundle ${path.relative(root, out)}, code cache ${bytes} bytes (${trained})\n`);
}, (e) => {
	process.stderr.write(`build: error: the helper's code cache: ${e.message}\n`);
	process.exit(1);
});

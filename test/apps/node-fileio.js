/*
 * Async file I/O in a loop, for test/apps/node.test.ts: run with
 * UV_USE_IO_URING=1, libuv sends these reads and writes through its
 * io_uring (SQPOLL) ring and watches the ring fd with its epoll set.
 *
 *   node node-fileio.js DIR
 *
 * Each round writes a 4 KiB block whose bytes depend on the round number
 * at a position that moves through a 1 MiB file, reads it back and
 * checks it, and every 16 rounds reads an older block back and checks
 * it too.  After each round the round number goes to DIR/progress.  It
 * stops after the round in which DIR/stop appears, checks the whole file
 * against what it wrote, prints "verified ROUNDS" and exits 0; any
 * mismatch prints one line to stderr and exits 1.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const BLOCK = 4096;
const BLOCKS = 256;
const dir = process.argv[2];

function fill(round) {
	const b = Buffer.alloc(BLOCK);
	for (let i = 0; i < BLOCK; i += 4) b.writeUInt32LE((round * 2654435761 + i) >>> 0, i);
	return b;
}

function fail(why) {
	process.stderr.write(`node-fileio: ${why}\n`);
	process.exit(1);
}

async function main() {
	const file = await fs.promises.open(path.join(dir, 'data.bin'), 'w+');
	const last = new Array(BLOCKS).fill(-1); /* round that wrote each block */
	const buf = Buffer.alloc(BLOCK);
	let round = 0;
	for (;;) {
		const slot = (round * 7) % BLOCKS;
		const want = fill(round);
		const w = await file.write(want, 0, BLOCK, slot * BLOCK);
		if (w.bytesWritten !== BLOCK) fail(`round ${round}: wrote ${w.bytesWritten} bytes`);
		last[slot] = round;
		const r = await file.read(buf, 0, BLOCK, slot * BLOCK);
		if (r.bytesRead !== BLOCK || !buf.equals(want)) fail(`round ${round}: block ${slot} reads back wrong`);
		if (round % 16 === 15) {
			const old = (slot + 97) % BLOCKS;
			if (last[old] >= 0) {
				await file.read(buf, 0, BLOCK, old * BLOCK);
				if (!buf.equals(fill(last[old]))) fail(`round ${round}: block ${old} (round ${last[old]}) reads back wrong`);
			}
		}
		await fs.promises.writeFile(path.join(dir, 'progress.tmp'), `${round}\n`);
		await fs.promises.rename(path.join(dir, 'progress.tmp'), path.join(dir, 'progress'));
		round++;
		if (fs.existsSync(path.join(dir, 'stop'))) break;
	}
	for (let slot = 0; slot < BLOCKS; slot++) {
		if (last[slot] < 0) continue;
		const r = await file.read(buf, 0, BLOCK, slot * BLOCK);
		if (r.bytesRead !== BLOCK || !buf.equals(fill(last[slot]))) fail(`at the end: block ${slot} (round ${last[slot]}) is wrong`);
	}
	await file.close();
	process.stdout.write(`verified ${round}\n`);
}

main().catch((e) => fail(e.stack || String(e)));

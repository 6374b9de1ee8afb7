/*
 * The envelope refuses damaged, truncated, foreign and future images with
 * one-line messages that name the file and the reason.
 */
import t, { Test } from 'tap';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeImage, encodeImage, HEADER_SIZE, ImageError, MAGIC, readImages, writeImage } from '../src/image';
import { encodePayload } from '../src/image/schema';
import { sampleImage } from '../src/image/sample';
import { loadNative } from '../src/native';
import { sha256 } from '../src/util/sha256';

const NAME = 'io_uring-4242.img';

function good(): Buffer {
	return encodeImage(sampleImage());
}

/* Re-seals a modified payload so that only the intended defect remains. */
function seal(payload: Buffer, version = 1): Buffer {
	const header = Buffer.alloc(HEADER_SIZE);
	MAGIC.copy(header);
	header.writeUInt32LE(version, 8);
	header.writeBigUInt64LE(BigInt(payload.length), 16);
	createHash('sha256').update(payload).digest().copy(header, 24);
	return Buffer.concat([header, payload]);
}

function rejects(t: Test, buf: Buffer, re: RegExp, what: string): void {
	try {
		decodeImage(buf, NAME);
		t.fail(`${what}: accepted`);
	} catch (e) {
		t.ok(e instanceof ImageError, `${what}: ImageError`);
		const msg = (e as Error).message;
		t.match(msg, re, `${what}: "${msg}"`);
		t.notOk(msg.includes('\n'), `${what}: one line`);
		t.ok(msg.startsWith(`${NAME}: `), `${what}: names the file`);
	}
}

t.test('layout: magic, version 1, length, SHA-256 of the payload', async (t) => {
	const buf = good();
	t.ok(buf.subarray(0, 8).equals(Buffer.from('\x89CRURING', 'latin1')), 'magic');
	t.equal(buf.readUInt32LE(8), 1, 'envelope version');
	t.equal(buf.readUInt32LE(12), 0, 'flags');
	t.equal(buf.readBigUInt64LE(16), BigInt(buf.length - HEADER_SIZE), 'payload length');
	const digest = createHash('sha256').update(buf.subarray(HEADER_SIZE)).digest();
	t.ok(buf.subarray(24, 56).equals(digest), 'checksum');
	t.ok(buf.subarray(HEADER_SIZE).equals(encodePayload(sampleImage())), 'payload is the protobuf encoding');
});

t.test('a flipped byte anywhere in the payload is a checksum mismatch', async (t) => {
	const buf = good();
	for (const at of [HEADER_SIZE, HEADER_SIZE + 1, Math.floor((buf.length + HEADER_SIZE) / 2), buf.length - 1]) {
		const bad = Buffer.from(buf);
		bad[at] ^= 0x01;
		rejects(t, bad, /^io_uring-4242\.img: checksum mismatch \(image damaged\)$/, `payload byte ${at}`);
	}
	const bad = Buffer.from(buf);
	bad[30] ^= 0x80;
	rejects(t, bad, /checksum mismatch/, 'digest byte');
});

t.test('truncated files', async (t) => {
	const buf = good();
	rejects(t, Buffer.alloc(0), /truncated \(empty file\)$/, 'empty');
	rejects(t, buf.subarray(0, 5), /truncated \(5 bytes, the header alone is 56\)$/, 'inside the magic');
	rejects(t, buf.subarray(0, 40), /truncated \(40 bytes/, 'inside the header');
	rejects(t, buf.subarray(0, HEADER_SIZE), new RegExp(`truncated \\(payload has 0 of ${buf.length - HEADER_SIZE} bytes\\)$`), 'header only');
	rejects(t, buf.subarray(0, buf.length - 1), /truncated \(payload has \d+ of \d+ bytes\)$/, 'last byte missing');
	rejects(t, Buffer.concat([buf, Buffer.from([0])]), /1 bytes after the payload \(image damaged\)$/, 'a byte too many');
});

t.test('wrong magic', async (t) => {
	const buf = Buffer.from(good());
	buf.write('CRIU', 0, 'latin1');
	rejects(t, buf, /bad magic 43524955/, 'another file');
	rejects(t, Buffer.from('hello world, this is not an io_uring image at all........'), /bad magic .* \(not a criu-uring io_uring image\)$/, 'text');
});

t.test('future and invalid envelope versions', async (t) => {
	const buf = Buffer.from(good());
	buf.writeUInt32LE(2, 8);
	rejects(t, buf, /envelope version 2 is newer than 1 \(written by a newer criu-uring\)$/, 'version 2');
	buf.writeUInt32LE(0, 8);
	rejects(t, buf, /envelope version 0 \(image damaged\)$/, 'version 0');
	const flagged = Buffer.from(good());
	flagged.writeUInt32LE(4, 12);
	rejects(t, flagged, /unknown envelope flags 0x4/, 'flags');
});

t.test('future and missing format versions in the payload', async (t) => {
	const img = sampleImage();
	img.header!.format_version = 3;
	rejects(t, seal(encodePayload(img)), /format version 3 is newer than 2 \(written by a newer criu-uring\)$/, 'format 3');
	img.header = null;
	rejects(t, seal(encodePayload(img)), /no format version \(image damaged\)$/, 'no header');
});

t.test('a payload that is not protobuf, with a valid checksum', async (t) => {
	rejects(t, seal(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), /payload does not decode \(image damaged: .+\)$/, 'garbage payload');
});

t.test('readImages reports the damaged file by name', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-env-'));
	t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
	writeImage(dir, 1234, sampleImage(1234));
	const file = path.join(dir, 'io_uring-1234.img');
	const bytes = fs.readFileSync(file);
	bytes[bytes.length - 10] ^= 0xff;
	fs.writeFileSync(file, bytes);
	t.throws(() => readImages(dir), { name: 'ImageError', message: 'io_uring-1234.img: checksum mismatch (image damaged)' });
	fs.writeFileSync(file, bytes.subarray(0, 100));
	t.throws(() => readImages(dir), /^io_uring-1234\.img: truncated \(payload has 44 of \d+ bytes\)$/);
});

t.test('the native SHA-256 (libmd, used once the addon is loaded) is crypto\'s', async (t) => {
	const native = loadNative();
	for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 1 << 20]) {
		const data = Buffer.alloc(n, n & 0xff);
		data[n >> 1] ^= 0x5a;
		t.ok(native.sha256(data).equals(createHash('sha256').update(data).digest()), `${n} bytes`);
	}
	t.ok(sha256(Buffer.from('abc')).equals(createHash('sha256').update('abc').digest()), 'src/util/sha256.ts with the addon loaded');
	const outer = Buffer.from('xabcx');
	const view = new Uint8Array(outer.buffer, outer.byteOffset + 1, 3);
	t.ok(native.sha256(view).equals(createHash('sha256').update('abc').digest()), 'a view into a larger buffer');
});

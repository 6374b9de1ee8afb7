/*
 * The image decoder, validator and planner fuzzed with mutations of real
 * images (the sample image set: every kind of ring state the format has).
 *
 * Every input must end one of two ways: refused with an ordinary Error
 * whose message is one line naming what is wrong, or accepted and planned.
 * A TypeError/RangeError from deep inside (a field the validator let
 * through), a crash, or an input that takes more than a second is a bug.
 *
 * Two kinds of mutation: raw ones of the whole file (the envelope must
 * refuse them), and structured ones of the payload re-wrapped with a valid
 * checksum, so the protobuf decoder, the validator and the planner see
 * them. The generator is seeded: a failure names the seed and the
 * iteration, which reproduce it.
 */
import t from 'tap';
import { decodeImage, encodeImage, validateImage } from '../src/image';
import { unwrapPayload, wrapPayload } from '../src/image/envelope';
import { sampleImageSet } from '../src/image/sample';
import { restoreRings } from '../src/restore/from-image';
import { planRing } from '../src/restore/planner';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 4000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);

/* xorshift32: small, deterministic */
function rng(seed: number): () => number {
	let x = seed >>> 0 || 1;
	return () => {
		x ^= x << 13;
		x >>>= 0;
		x ^= x >>> 17;
		x ^= x << 5;
		x >>>= 0;
		return x / 0x100000000;
	};
}

type Mutator = (b: Buffer, r: () => number) => Buffer;
const at = (b: Buffer, r: () => number): number => Math.floor(r() * Math.max(1, b.length));

const MUTATORS: [string, Mutator][] = [
	['flip a bit', (b, r) => { const c = Buffer.from(b); if (c.length) c[at(c, r)] ^= 1 << Math.floor(r() * 8); return c; }],
	['set a byte', (b, r) => { const c = Buffer.from(b); if (c.length) c[at(c, r)] = [0, 0xff, 0x7f, 0x80, 0x01][Math.floor(r() * 5)]; return c; }],
	['truncate', (b, r) => b.subarray(0, at(b, r))],
	['cut a chunk', (b, r) => { const i = at(b, r); return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + Math.floor(r() * 64)))]); }],
	['duplicate a chunk', (b, r) => { const i = at(b, r); const n = 1 + Math.floor(r() * 64); return Buffer.concat([b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)]); }],
	['insert random bytes', (b, r) => { const i = at(b, r); const x = Buffer.alloc(1 + Math.floor(r() * 16)); for (let k = 0; k < x.length; k++) x[k] = Math.floor(r() * 256); return Buffer.concat([b.subarray(0, i), x, b.subarray(i)]); }],
	['huge varint', (b, r) => { const i = at(b, r); return Buffer.concat([b.subarray(0, i), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), b.subarray(i + 1)]); }],
];

/* Decode, validate, plan: the restore's path for one image. */
function restorePath(file: Buffer): void {
	const img = decodeImage(file, 'io_uring-100.img');
	validateImage(img, 'io_uring-100.img');
	restoreRings(img).forEach((r, i) => planRing(img.process!.pid, r, i));
}

function verdict(file: Buffer): string | null {
	const started = Date.now();
	try {
		restorePath(file);
	} catch (e) {
		if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
		if (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError || e instanceof ReferenceError)
			return `${e.constructor.name}: ${e.message}`;
		if (!e.message || e.message.includes('\n')) return `refused without a one-line message: ${JSON.stringify(e.message)}`;
	}
	return Date.now() - started > 1000 ? `took ${Date.now() - started} ms` : null;
}

const originals = sampleImageSet().map(encodeImage);

for (const structured of [false, true]) {
	t.test(`${ITERATIONS} ${structured ? 'structured (payload, valid checksum)' : 'raw (whole file)'} mutations of sample images are refused cleanly or restore`, (t) => {
		const r = rng(SEED + (structured ? 1 : 0));
		const bad: string[] = [];
		let refused = 0;
		for (let i = 0; i < ITERATIONS && bad.length < 5; i++) {
			const orig = originals[i % originals.length];
			let input = structured ? unwrapPayload(orig, 'sample') : orig;
			const steps = 1 + Math.floor(r() * 3);
			const names: string[] = [];
			for (let k = 0; k < steps; k++) {
				const [name, m] = MUTATORS[Math.floor(r() * MUTATORS.length)];
				names.push(name);
				input = m(input, r);
			}
			const file = structured ? wrapPayload(input) : input;
			const v = verdict(file);
			if (v) bad.push(`iteration ${i} (seed ${SEED}, ${names.join(' + ')}): ${v}`);
			else {
				try {
					restorePath(file);
				} catch {
					refused++;
				}
			}
		}
		t.same(bad, [], 'no crash, no stray exception type, no slow input');
		t.ok(refused > 0, `mutations were refused (${refused} of ${ITERATIONS})`);
		t.end();
	});
}

t.test('the unmutated sample images restore', (t) => {
	for (const f of originals) t.equal(verdict(f), null, 'planned');
	t.end();
});

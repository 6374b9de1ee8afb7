/*
 * The restore's reading of images, fuzzed with mutations of real images:
 * the io_uring images CRIU and the plugin write for running test programs
 * (dumped here with --leave-running: files, buffers, eventfd, pending SQEs
 * and CQEs, provided buffers, the overflow list, state only the ring
 * holds, a tree whose rings and epoll sets are shared), and the sample
 * image set (every field of the schema set somewhere).
 *
 * Each mutant goes through what the plugin's restore runs before anything
 * is restored: readImages() of the image directory (envelope, protobuf,
 * validation of each image and of the set), planImages() and serialize()
 * of the plan the helper would send.  Every input must end one of two
 * ways: refused with an ordinary Error whose message is one line, or
 * planned.  A TypeError/RangeError from deep inside (a field the validator
 * let through), a crash, or an input that takes more than a second is a
 * bug.
 *
 * Three kinds of mutation: raw bytes of the whole file (the envelope must
 * refuse them), raw bytes of the payload re-wrapped with a valid checksum
 * (the protobuf decoder and the validator see them), and structured ones:
 * the image decoded, one to three of its fields or arrays changed to
 * boundary values (0, ~0, off by one, 2^63, cut or grown buffers, elements
 * dropped, duplicated or swapped, sub-messages removed), encoded again, so
 * that the validator and the planner see well-formed images with wrong
 * state.  Each kind must reach the stage it aims at (checked below), so a
 * fuzzer that only ever hits the checksum fails.  The generator is seeded:
 * a failure names the seed and the iteration, which reproduce it
 * (FUZZ_SEED; FUZZ_ITERATIONS per kind, a quarter of it for raw ones).
 * Bounded: a fixed number of inputs, each allowed a second.
 */
import t, { type Test } from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeImage, encodeImage, imageName, readImages } from '../src/image';
import { unwrapPayload, wrapPayload } from '../src/image/envelope';
import { ImageError } from '../src/image/errors';
import { sampleImageSet } from '../src/image/sample';
import { planImages } from '../src/restore/planner';
import { serialize } from '../src/restore/plan';
import { criuDump, describeRun, isAlive, scratch, startWithTruth, waitForExit, type Scratch } from './lib/criu';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 2000);
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
type Rng = () => number;
const pick = <T>(xs: readonly T[], r: Rng): T => xs[Math.floor(r() * xs.length)];

/* ---- the corpus: image sets, each as the files of one image directory ---- */

interface ImageFile { name: string; data: Buffer }
interface ImageSet { what: string; files: ImageFile[]; unmutated: Outcome }

/*
 * The sample set is made for the validator: it passes it, and the
 * planner refuses it (test/plan-golden.test.ts says why); the real
 * images plan.
 */
const corpus: ImageSet[] = [{
	what: 'sample image set',
	files: sampleImageSet().map((img) => ({ name: imageName(img.process!.pid), data: encodeImage(img) })),
	unmutated: 'plan',
}];

/* Real images: what the plugin writes for these programs (dump --leave-running). */
const PROGRAMS: [string, string[], string][] = [
	['cr_rw', ['--flags', '3000', '--advance', '1000'], 'registered files and buffers, eventfd, pending SQE and CQE, DEFER_TASKRUN'],
	['cr_pbuf', ['--advance', '100'], 'provided buffers of every kind'],
	['cr_overflow', ['--flags', '800', '--big'], 'a CQ overflow list with big CQEs'],
	['cr_ringonly', [], 'files, buffers, eventfd and a ring only the ring holds'],
	['cr_epoll', [], 'a tree: a ring shared with a child, epoll sets on the rings'],
];

async function dumpReal(t: Test, s: Scratch, prog: string, args: string[], what: string): Promise<ImageSet | null> {
	const p = await startWithTruth(s, prog, args);
	try {
		const dir = s.dir(`img-${prog}`);
		const d = await criuDump({ pid: p.pid, imagesDir: dir, plugins: true, extraArgs: ['--leave-running'] });
		if (!t.equal(d.code, 0, describeRun(`dump of ${prog}`, d))) return null;
		t.ok(isAlive(p.pid), `${prog} still runs`);
		const files = readdirSync(dir).filter((f) => /^io_uring-\d+\.img$/.test(f)).sort()
			.map((name) => ({ name, data: readFileSync(path.join(dir, name)) }));
		if (!t.ok(files.length > 0, `${prog}: the plugin wrote io_uring images (${files.map((f) => f.name).join(', ')})`)) return null;
		return { what: `${prog}: ${what}`, files, unmutated: 'planned' };
	} finally {
		/* the whole process group (cr_epoll's child too), and wait for it: its files are in the scratch dir */
		try {
			process.kill(-p.pid, 'SIGKILL');
		} catch {
			/* gone */
		}
		await waitForExit(p.pid);
	}
}

/* ---- the path under test ---- */

/* What each image file on disk holds now: only a file that changed is written again. */
const onDisk = new Map<string, Buffer>();

/* Run @files as the image directory @dir through the restore's reading and planning. */
function restorePath(dir: string, files: ImageFile[]): void {
	for (const f of readdirSync(dir)) if (!files.some((x) => x.name === f)) throw new Error(`stray ${f} in ${dir}`);
	for (const f of files) {
		const file = path.join(dir, f.name);
		if (onDisk.get(file) === f.data) continue;
		writeFileSync(file, f.data);
		onDisk.set(file, f.data);
	}
	const plans = planImages(readImages(dir));
	for (const steps of plans.values()) serialize(steps);
}

type Outcome = 'planned' | 'envelope' | 'decode' | 'validate' | 'plan';

/* null and the outcome, or what is wrong. */
function verdict(dir: string, files: ImageFile[]): { bad: string | null; outcome: Outcome } {
	const started = Date.now();
	let outcome: Outcome = 'planned';
	let bad: string | null = null;
	try {
		restorePath(dir, files);
	} catch (e) {
		outcome = stageOf(e);
		if (!(e instanceof Error)) bad = `threw a non-Error: ${String(e)}`;
		else if (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError || e instanceof ReferenceError)
			bad = `${e.constructor.name}: ${e.message}`;
		else if (!e.message || e.message.includes('\n')) bad = `refused without a one-line message: ${JSON.stringify(e.message)}`;
	}
	const took = Date.now() - started;
	return { bad: bad ?? (took > 1000 ? `took ${took} ms` : null), outcome };
}

/* Where the input was refused, from the message (ImageError: the image's own checks; anything else: the planner). */
function stageOf(e: unknown): Outcome {
	if (!(e instanceof ImageError)) return 'plan';
	const m = e.message;
	if (/magic|truncated|envelope|checksum|after the payload/.test(m)) return 'envelope';
	if (/does not decode|format version/.test(m)) return 'decode';
	return 'validate';
}

/* ---- mutations ---- */

type Mutator = (b: Buffer, r: Rng) => Buffer;
const at = (b: Buffer, r: Rng): number => Math.floor(r() * Math.max(1, b.length));

const BYTE_MUTATORS: [string, Mutator][] = [
	['flip a bit', (b, r) => { const c = Buffer.from(b); if (c.length) c[at(c, r)] ^= 1 << Math.floor(r() * 8); return c; }],
	['set a byte', (b, r) => { const c = Buffer.from(b); if (c.length) c[at(c, r)] = pick([0, 0xff, 0x7f, 0x80, 0x01], r); return c; }],
	['truncate', (b, r) => b.subarray(0, at(b, r))],
	['cut a chunk', (b, r) => { const i = at(b, r); return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + Math.floor(r() * 64)))]); }],
	['duplicate a chunk', (b, r) => { const i = at(b, r); const n = 1 + Math.floor(r() * 64); return Buffer.concat([b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)]); }],
	['insert random bytes', (b, r) => { const i = at(b, r); const x = Buffer.alloc(1 + Math.floor(r() * 16)); for (let k = 0; k < x.length; k++) x[k] = Math.floor(r() * 256); return Buffer.concat([b.subarray(0, i), x, b.subarray(i)]); }],
	['huge varint', (b, r) => { const i = at(b, r); return Buffer.concat([b.subarray(0, i), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), b.subarray(i + 1)]); }],
];

/* A place in the decoded image: a field of an object or an element of an array. */
interface Slot { parent: Record<string, unknown> | unknown[]; key: string | number; path: string }

function slots(v: unknown, p: string, out: Slot[]): Slot[] {
	if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return out;
	if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i, path: `${p}[${i}]` }); slots(x, `${p}[${i}]`, out); });
	else for (const [k, x] of Object.entries(v)) { out.push({ parent: v as Record<string, unknown>, key: k, path: `${p}.${k}` }); slots(x, `${p}.${k}`, out); }
	return out;
}

const U32 = [0, 1, 2, 3, 7, 4095, 4096, 0x7fffffff, 0x80000000, 0xffffffff];
const U64 = [0n, 1n, 4096n, (1n << 32n) - 1n, 1n << 32n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];

/* One structured change at a random place; its description. */
function mutateField(root: Record<string, unknown>, r: Rng, strings: string[]): string {
	const all = slots(root, 'image', []);
	if (!all.length) return 'nothing to mutate';
	const s = pick(all, r);
	const get = (): unknown => (s.parent as Record<string | number, unknown>)[s.key];
	const set = (x: unknown): void => { (s.parent as Record<string | number, unknown>)[s.key] = x; };
	const v = get();
	if (Array.isArray(v)) {
		const how = Math.floor(r() * 4);
		if (!v.length || how === 0) { v.length = 0; return `${s.path}: emptied`; }
		const i = Math.floor(r() * v.length), j = Math.floor(r() * v.length);
		if (how === 1) { v.splice(i, 1); return `${s.path}: element ${i} dropped`; }
		if (how === 2) { v.splice(i, 0, v[i]); return `${s.path}: element ${i} duplicated`; }
		[v[i], v[j]] = [v[j], v[i]];
		return `${s.path}: elements ${i} and ${j} swapped`;
	}
	if (typeof v === 'number') {
		const x = r() < 0.5 ? pick(U32, r) : (v + pick([-1, 1, -4096, 4096, v || 1], r)) >>> 0;
		set(x);
		return `${s.path}: ${v} -> ${x}`;
	}
	if (typeof v === 'bigint') {
		let x = r() < 0.5 ? pick(U64, r) : v + pick([-1n, 1n, -4096n, 4096n, v || 1n], r);
		if (x < 0n) x = 0n;
		if (x >= 1n << 64n) x = (1n << 64n) - 1n;
		set(x);
		return `${s.path}: ${v} -> ${x}`;
	}
	if (typeof v === 'boolean') { set(!v); return `${s.path}: ${v} -> ${!v}`; }
	if (typeof v === 'string') {
		/* enum names: another of the same enum; other strings: empty or long */
		const prefix = /^([A-Z]+_[A-Z]+_)/.exec(v)?.[1];
		const same = prefix ? strings.filter((x) => x.startsWith(prefix) && x !== v) : [];
		const x = same.length ? pick(same, r) : pick(['', 'x'.repeat(4096), 'a\nb'], r);
		set(x);
		return `${s.path}: ${JSON.stringify(v).slice(0, 40)} -> ${JSON.stringify(x).slice(0, 40)}`;
	}
	if (Buffer.isBuffer(v)) {
		const how = Math.floor(r() * 4);
		if (how === 0) { set(v.subarray(0, Math.floor(r() * v.length))); return `${s.path}: cut`; }
		if (how === 1) { set(Buffer.concat([v, Buffer.alloc(1 + Math.floor(r() * 4096), 0xa5)])); return `${s.path}: grown`; }
		if (how === 2) { set(Buffer.alloc(0)); return `${s.path}: emptied`; }
		const c = Buffer.from(v);
		if (c.length) c[Math.floor(r() * c.length)] ^= 0xff;
		set(c);
		return `${s.path}: a byte flipped`;
	}
	if (v !== null && typeof v === 'object' && !Array.isArray(s.parent)) { set(null); return `${s.path}: removed`; }
	if (v === null || v === undefined) return `${s.path}: absent, left so`;
	return `${s.path}: left`;
}

/* Every string in the corpus (the enum names of the schema among them). */
function stringsOf(v: unknown, out: Set<string>): Set<string> {
	if (typeof v === 'string') out.add(v);
	else if (v && typeof v === 'object' && !Buffer.isBuffer(v)) for (const x of Object.values(v)) stringsOf(x, out);
	return out;
}

type Kind = 'raw' | 'payload' | 'structured';

/* One mutant of @set: one of its files changed; what was done to it, or null when the change cannot be encoded. */
function mutant(kind: Kind, set: ImageSet, r: Rng, strings: string[]): { files: ImageFile[]; how: string } | null {
	const k = Math.floor(r() * set.files.length);
	const orig = set.files[k];
	const names: string[] = [];
	let data: Buffer;
	const steps = 1 + Math.floor(r() * 3);
	if (kind === 'structured') {
		const img = decodeImage(orig.data, orig.name) as unknown as Record<string, unknown>;
		for (let i = 0; i < steps; i++) names.push(mutateField(img, r, strings));
		try {
			data = encodeImage(img as never);
		} catch {
			return null; /* a value the schema cannot carry: not an image anyone could write */
		}
	} else {
		let input = kind === 'payload' ? unwrapPayload(orig.data, orig.name) : orig.data;
		for (let i = 0; i < steps; i++) {
			const [name, m] = pick(BYTE_MUTATORS, r);
			names.push(name);
			input = m(input, r);
		}
		data = kind === 'payload' ? wrapPayload(input) : input;
	}
	const files = set.files.map((f, i) => (i === k ? { name: f.name, data } : f));
	return { files, how: `${set.what}, ${orig.name}: ${names.join(' + ')}` };
}

/* What each kind must reach at least once: the stage it aims at. */
const MUST_REACH: Record<Kind, Outcome[]> = {
	raw: ['envelope'],
	payload: ['decode', 'validate'],
	structured: ['validate', 'plan', 'planned'],
};

const s0 = scratch(t);

t.test('real images: the plugin dumps running test programs', async (t) => {
	/* one at a time: parallel dumps on a loaded machine ran into CRIU's freeze timeout */
	for (const [prog, args, what] of PROGRAMS) {
		const set = await dumpReal(t, s0, prog, args, what);
		if (set) corpus.push(set);
	}
});

t.test('the unmutated images: the real ones plan, the sample set passes the validator', (t) => {
	for (const set of corpus) {
		const dir = s0.dir(`fuzz-${corpus.indexOf(set)}`);
		t.same(verdict(dir, set.files), { bad: null, outcome: set.unmutated }, `${set.what}: ${set.unmutated === 'planned' ? 'planned' : 'refused by the planner'}`);
	}
	t.end();
});

for (const kind of ['raw', 'payload', 'structured'] as Kind[]) {
	const what = { raw: 'raw (whole file)', payload: 'payload bytes (valid checksum)', structured: 'structured (fields of the decoded image)' }[kind];
	/* raw mutations nearly all end at the checksum: fewer of them */
	const n = kind === 'raw' ? Math.ceil(ITERATIONS / 4) : ITERATIONS;
	t.test(`${n} ${what} mutations of real and sample images are refused cleanly or planned`, (t) => {
		const r = rng(SEED + ['raw', 'payload', 'structured'].indexOf(kind));
		const strings = [...stringsOf(corpus.map((c) => c.files.map((f) => decodeImage(f.data, f.name))), new Set())];
		const dirs = corpus.map((_, i) => s0.dir(`${kind}-${i}`));
		const bad: string[] = [];
		const outcomes: Record<Outcome | 'unencodable', number> = { envelope: 0, decode: 0, validate: 0, plan: 0, planned: 0, unencodable: 0 };
		for (let i = 0; i < n && bad.length < 5; i++) {
			const c = i % corpus.length;
			const m = mutant(kind, corpus[c], r, strings);
			if (!m) { outcomes.unencodable++; continue; }
			const v = verdict(dirs[c], m.files);
			outcomes[v.outcome]++;
			if (v.bad) bad.push(`iteration ${i} (seed ${SEED}, ${m.how}): ${v.bad}`);
		}
		t.same(bad, [], 'no crash, no stray exception type, no slow input');
		t.comment(`outcomes: ${JSON.stringify(outcomes)}`);
		for (const stage of MUST_REACH[kind])
			t.ok(outcomes[stage] > 0, `mutants reached ${stage === 'planned' ? 'a complete plan' : `refusal by the ${stage === 'plan' ? 'planner' : stage}`} (${outcomes[stage]} of ${n})`);
		t.end();
	});
}

/*
 * Image round trips: a rich image through encode/decode and through the
 * files of a CRIU image directory; every schema field is exercised; the
 * conversion from the capture model keeps what restore needs.
 */
import t, { Test } from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import {
	decodeImage, encodeImage, fromCapture, Image, imageProblems, readImages, stateOwners, writeImage,
	ringsRegionSize, sqesRegionSize,
} from '../src/image';
import { compiledSchema, encodePayload, imageCodec, imageType, protoPath, staticCodec } from '../src/image/schema';
import { sampleImage, sampleImageSet, sampleRingMemory } from '../src/image/sample';
import { ProcessRings, RingState } from '../src/capture/model';

function tmpdir(t: Test): string {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-rt-'));
	t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
	return dir;
}

/* Collects "Message.field" for every field holding a non-default value. */
function setFields(type: protobuf.Type, value: Record<string, unknown>, out: Set<string>): void {
	for (const field of type.fieldsArray) {
		const v = value[field.name];
		const key = `${type.name}.${field.name}`;
		const items = field.repeated ? (v as unknown[]) : [v];
		if (field.repeated && items.length) out.add(key);
		for (const item of items) {
			if (item === undefined || item === null) continue;
			if (field.resolvedType instanceof protobuf.Type) {
				out.add(key);
				setFields(field.resolvedType, item as Record<string, unknown>, out);
			} else if (field.resolvedType instanceof protobuf.Enum) {
				if (!String(item).endsWith('_UNSPECIFIED')) out.add(key);
			} else if (Buffer.isBuffer(item) ? item.length > 0 : item !== 0 && item !== 0n && item !== '' && item !== false) {
				out.add(key);
			} else if (field.options?.proto3_optional || field.partOf) {
				out.add(key); /* an explicit optional 0 is a value too */
			}
		}
	}
}

function allFields(type: protobuf.Type, out: Set<string>, seen = new Set<string>()): void {
	if (seen.has(type.name)) return;
	seen.add(type.name);
	for (const field of type.fieldsArray) {
		out.add(`${type.name}.${field.name}`);
		if (field.resolvedType instanceof protobuf.Type) allFields(field.resolvedType, out, seen);
	}
}

t.test('the proto file is found from the compiled module', async (t) => {
	t.ok(fs.existsSync(protoPath()), protoPath());
	t.equal(imageType().fullName, '.criu_uring.UringImage');
});

t.test('the schema compiled at build time is the .proto (scripts/proto-json.js)', async (t) => {
	const parsed = new protobuf.Root().loadSync(protoPath(), { keepCase: true });
	parsed.resolveAll();
	t.strictSame(JSON.parse(JSON.stringify(compiledSchema())), JSON.parse(JSON.stringify(parsed.toJSON())));
});

t.test('the static codec (scripts/proto-static.js) encodes and decodes as the reflected schema', async (t) => {
	t.ok(staticCodec(), 'npm run build made dist/src/image/schema-static.js, and images go through it');
	const reflected = imageType();
	const codec = imageCodec();
	t.not(codec, reflected as unknown, 'not the reflected type');
	const opts = { longs: BigInt, enums: String, defaults: true, arrays: true };
	const img = sampleImage();
	const absent = sampleImage();
	absent.rings[0].setup!.sq_thread_cpu = 0; /* an explicit optional zero */
	for (const [what, one] of [['rich', img], ['optional zero', absent], ...sampleImageSet().map((i, n) => [`set ${n}`, i] as const)] as const) {
		const obj = JSON.parse(JSON.stringify(one, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
		const mine = Buffer.from(codec.encode(codec.fromObject(one as unknown as Record<string, unknown>)).finish());
		const theirs = Buffer.from(reflected.encode(reflected.fromObject(one as unknown as Record<string, unknown>)).finish());
		t.ok(mine.equals(theirs), `${what}: the same bytes (${mine.length})`);
		t.ok(mine.equals(encodePayload(one)), `${what}: encodePayload uses it`);
		t.strictSame(codec.toObject(codec.decode(theirs), opts), reflected.toObject(reflected.decode(theirs), opts), `${what}: the same object decoded`);
		/* fromObject's conversions (strings to 64-bit values, enum names) */
		const a = Buffer.from(codec.encode(codec.fromObject(obj)).finish());
		t.ok(a.equals(Buffer.from(reflected.encode(reflected.fromObject(obj)).finish())), `${what}: the same bytes from JSON values`);
	}
	t.throws(() => codec.decode(Buffer.from([0x0a, 0x05, 0x01])), /index out of range/, 'a truncated payload is refused');
});

t.test('rich image: valid, and encode/decode gives it back exactly', async (t) => {
	const img = sampleImage();
	t.same(imageProblems(img), [], 'the sample is valid');
	const bytes = encodeImage(img);
	const back = decodeImage(bytes, 'io_uring-4242.img');
	t.strictSame(back, img, 'identical after the round trip');
	t.equal(typeof back.rings[0].overflow_cqes[0].user_data, 'bigint', 'user_data is a bigint');
	t.equal(back.rings[0].overflow_cqes[0].extra2, 0xffffffffffffffffn, 'full 64-bit values survive');
	t.equal(back.rings[0].indices!.cached_sq_head, 0xfffffffe, 'uint32 indices near 2^32 survive');
	t.ok(Buffer.isBuffer(back.rings[0].memory!.rings), 'raw memory decodes as a Buffer');
	t.ok(back.rings[0].memory!.rings.equals(img.rings[0].memory!.rings), 'raw ring memory intact');
	t.strictSame(encodeImage(back), bytes, 'encoding is deterministic');
});

t.test('the rich image sets every field of the schema', async (t) => {
	const type = imageType();
	const want = new Set<string>();
	allFields(type, want);
	const got = new Set<string>();
	for (const img of [sampleImage(), ...sampleImageSet()]) {
		setFields(type, decodeImage(encodeImage(img), 'x') as unknown as Record<string, unknown>, got);
	}
	const missing = [...want].filter((f) => !got.has(f));
	t.same(missing, [], 'no schema field left untested');
	t.ok(want.size > 100, `${want.size} fields in the schema`);
});

t.test('absent optional values stay absent, zero optional values stay zero', async (t) => {
	const img = sampleImage();
	img.rings[0].setup!.sq_thread_cpu = 0;
	const back = decodeImage(encodeImage(img), 'x');
	t.equal(back.rings[0].setup!.sq_thread_cpu, 0, 'cpu 0 is kept');
	t.equal(back.rings[1].setup!.sq_thread_cpu, undefined, 'unset cpu is undefined');
	t.equal(back.rings[1].files, null, 'absent message is null');
	t.equal(back.rings[0].files!.entries[0].fd, 5);
	t.equal(back.rings[0].files!.entries[1].fd, undefined, 'slot held only by the ring has no fd');
});

t.test('64-bit values outside the unsigned range are refused, not truncated', async (t) => {
	const img = sampleImage();
	img.rings[0].overflow_cqes[0].user_data = 1n << 64n;
	t.throws(() => encodeImage(img), /does not fit in 64 bits/);
	img.rings[0].overflow_cqes[0].user_data = -1n;
	t.throws(() => encodeImage(img), /does not fit in 64 bits/);
});

t.test('writeImage/readImages: a checkpoint directory with a shared ring', async (t) => {
	const dir = tmpdir(t);
	const [low, high] = sampleImageSet(100, 200);
	writeImage(dir, 200, high);
	writeImage(dir, 100, low);
	fs.writeFileSync(path.join(dir, 'pstree.img'), 'not ours');
	t.same(fs.readdirSync(dir).sort(), ['io_uring-100.img', 'io_uring-200.img', 'pstree.img'], 'no temporary files left');
	const imgs = readImages(dir);
	t.same(imgs.map((i) => i.process!.pid), [100, 200], 'sorted by pid');
	t.strictSame(imgs[0], low);
	t.strictSame(imgs[1], high);
	t.equal(imgs[1].process!.holds.find((h) => h.ring_id === 1001n)!.state_pid, 100, 'shared ring referenced by id');
	writeImage(dir, 100, low);
	t.equal(readImages(dir).length, 2, 'overwriting is fine');
	t.throws(() => writeImage(dir, 101, low), /io_uring-101\.img: image is for pid 100/);
});

t.test('readImages: a missing owner image and a renamed file are caught', async (t) => {
	const dir = tmpdir(t);
	const [, high] = sampleImageSet(100, 200);
	writeImage(dir, 200, high);
	t.throws(() => readImages(dir), /^io_uring-200\.img: ring 1001: state is in io_uring-100\.img, which is missing$/);
	fs.renameSync(path.join(dir, 'io_uring-200.img'), path.join(dir, 'io_uring-300.img'));
	t.throws(() => readImages(dir), /io_uring-300\.img: holds the state of pid 200/);
});

/* A capture of a process with one ring, as src/capture produces it. */
function capturedRing(): RingState {
	return {
		inode: 5555, ctx: '0xffff888001234000', fds: [7, 3], registered_slots: [{ tid: 901, index: 2 }],
		mappings: [{ start: '0x7f0000000000', end: '0x7f0000002000', offset: '0x0', kind: 'rings', prot: 'rw-s' },
			{ start: '0x7f0000010000', end: '0x7f0000011000', offset: '0x80010000', kind: 'pbuf_ring', prot: 'r--s', bgid: 1 }],
		setup_flags: 0x1000 | 0x2000 | 0x8, flags: ['CQSIZE', 'SINGLE_ISSUER', 'DEFER_TASKRUN'],
		sq_entries: 8, cq_entries: 16, submitter_tid: 901, disabled: false,
		sq: { head: 10, tail: 12, cached_head: 11, dropped: 1, flags: 0 },
		cq: { head: 4, tail: 9, cached_tail: null, overflow: 2, flags: 0 },
		pending_sqes: [], cqes: [],
		overflow_cqes: [{ user_data: '18446744073709551615', res: -125, flags: 0 }],
		sqpoll: null,
		registered_files: { size: 4, alloc_range: [2, 4], entries: [
			{ index: 0, fds: [9, 8], path: '/tmp/a', type: 'file' },
			{ index: 1, fds: [], path: '/tmp/b', type: 'file', flags: 0o2, pos: '4096', tag: '77' },
		] },
		registered_buffers: { size: 2, entries: [
			{ index: 0, addr: '140000000000', len: 4096, mapped: true },
			{ index: 1, addr: '0x7f0000050000', len: 16, mapped: false },
		] },
		eventfd: { fds: [], async: false },
		personalities: [{ id: 2, uid: 1, euid: 1, suid: 1, fsuid: 1, gid: 2, egid: 2, sgid: 2, fsgid: 2, groups: [5], cap_effective: '000001ffffffffff' }],
		restrictions: null, iowq_max_workers: [1, 2], iowq_affinity: null,
		provided_buffers: [
			{ bgid: 1, kind: 'ring', entries: 4, addr: null, mmap: true, head: 1, tail: 3, inc: true },
			{ bgid: 2, kind: 'legacy', buffers: [{ bid: 5, addr: '0x1000', len: 10 }] },
		],
		napi: { mode: 'dynamic', busy_poll_dt: '100', prefer_busy_poll: false },
		clock: { clockid: 7, offset: '2' }, mem_regions: [],
		inflight: [{ opcode: 'TIMEOUT', user_data: '42', fd: null, fixed: false, state: 'timeout', rearm: { ok: true },
			arm: { bits: 0, addr: '0', addr2: '0', len: 0, op_flags: 0, ioprio: 0, buf_group: 0, done_io: 0, mshot_len: 0,
				mshot_total_len: 0, file_slot: 0, count_left: 0, poll_events: 0, remaining_ns: '2500000000', ts_sec: '3', ts_nsec: '0', linked: false, repeats: 0 } }],
		/* two fds of one epoll set (one id), and a second set */
		epoll_watches: [
			{ epfd: 4, tfd: 3, events: 0x80000019, data: '18446744073709551615', epoll: '0xffff888001235000' },
			{ epfd: 5, tfd: 7, events: 0x40000000, data: '7', epoll: '0xffff888001236000' },
			{ epfd: 6, tfd: 3, events: 0x80000019, data: '18446744073709551615', epoll: '0xffff888001235000' },
		],
	};
}

t.test('fromCapture: capture model + ring memory -> a valid image', async (t) => {
	const ring = capturedRing();
	const p: ProcessRings = { pid: 900, comm: 'app', source: 'bpf', unavailable: ['tags'], rings: [ring] };
	const blobs = {
		rings: sampleRingMemory(ring.setup_flags, 8, 16),
		sqes: Buffer.alloc(8 * 64),
		pbufRings: new Map([[1, Buffer.alloc(64, 0xab)]]),
		buffers: new Map([[1, Buffer.alloc(16, 0xcd)]]),
	};
	const img = fromCapture(p, new Map([[5555, blobs]]), { kernelRelease: '6.18.44', toolVersion: '0.1.0' });
	t.same(imageProblems(img), [], 'valid');
	const back: Image = decodeImage(encodeImage(img), 'io_uring-900.img');
	const r = back.rings[0];
	t.equal(r.ring_id, 5555n);
	t.same(back.process!.holds[0].fds, [7, 3]);
	t.same(back.process!.holds[0].registered_slots, [{ tid: 901, index: 2 }]);
	t.same(back.process!.holds[0].epoll_watches, [
		{ epfd: 4, tfd: 3, events: 0x80000019, data: 0xffffffffffffffffn, epoll_id: 1 },
		{ epfd: 5, tfd: 7, events: 0x40000000, data: 7n, epoll_id: 2 },
		{ epfd: 6, tfd: 3, events: 0x80000019, data: 0xffffffffffffffffn, epoll_id: 1 },
	], 'epoll watches, one id per epoll file');
	const [m0, m1] = back.process!.holds[0].mappings;
	t.same([m0.start, m0.end, m0.prot, m0.flags, m0.kind], [0x7f0000000000n, 0x7f0000002000n, 3, 1, 'MAPPING_KIND_RINGS']);
	t.same([m1.offset, m1.prot, m1.bgid, m1.kind], [0x80010000n, 1, 1, 'MAPPING_KIND_PBUF_RING']);
	t.same(r.indices, {
		cached_sq_head: 11, cached_cq_tail: 9, sq_head: 10, sq_tail: 12, cq_head: 4, cq_tail: 9,
		sq_dropped: 1, cq_overflow: 2, sq_flags: 0, cq_flags: 0,
	}, 'unknown cached CQ tail falls back to the CQ tail');
	t.equal(r.setup!.submitter_tid, 901);
	t.equal(r.overflow_cqes[0].user_data, 0xffffffffffffffffn);
	t.equal(r.files!.entries[0].fd, 8, 'lowest fd sharing the file');
	t.same([r.files!.entries[1].fd, r.files!.entries[1].pos, r.files!.entries[1].tag], [undefined, 4096n, 77n]);
	t.same(r.files!.alloc_range, { start: 2, end: 4 });
	t.equal(r.buffers!.entries[0].addr, 140000000000n, 'decimal address');
	t.ok(r.buffers!.entries[1].contents.equals(Buffer.alloc(16, 0xcd)), 'unmapped buffer contents kept');
	t.same(r.eventfd, { fd: -1, async: false });
	t.equal(r.personalities[0].cap_effective, 0x1ffffffffffn);
	t.same(r.iowq, { max_workers: [1, 2], affinity: [] });
	t.same(r.provided_buffer_rings[0].flags, 3, 'MMAP|INC');
	t.ok(r.provided_buffer_rings[0].ring_memory.equals(Buffer.alloc(64, 0xab)));
	t.same(r.provided_buffer_groups, [{ bgid: 2, buffers: [{ bid: 5, addr: 0x1000n, len: 10 }] }]);
	t.same(r.napi, { mode: 'NAPI_MODE_DYNAMIC', busy_poll_dt: 100n, prefer_busy_poll: false });
	t.same(r.clock, { clockid: 7, offset: 2n });
	const sqe = Buffer.alloc(64);
	sqe.writeUInt8(11, 0);
	sqe.writeUInt32LE(1, 24);
	sqe.writeBigUInt64LE(42n, 32);
	t.same(r.inflight[0], { opcode: 11, user_data: 42n, fixed: false, state: 'INFLIGHT_STATE_TIMEOUT', sqe, timeout_ns: 2500000000n, msghdr: Buffer.alloc(0), futex_waitv: Buffer.alloc(0), send_iovecs: Buffer.alloc(0), send_name: Buffer.alloc(0) },
		'a re-armed TIMEOUT: its SQE (relative, one timespec) and the time it had left');
	t.same(back.process!.unavailable, ['tags']);
});

t.test('fromCapture: shared rings are stored once, in the lowest pid', async (t) => {
	const a: ProcessRings = { pid: 50, comm: 'parent', source: 'bpf', unavailable: [], rings: [capturedRing()] };
	const b: ProcessRings = { pid: 60, comm: 'child', source: 'bpf', unavailable: [], rings: [{ ...capturedRing(), fds: [11] }] };
	const owners = stateOwners([b, a]);
	t.equal(owners.get(5555), 50);
	const ctx = { kernelRelease: 'r', toolVersion: 'v', stateOwner: owners };
	const ring = capturedRing();
	const mem = new Map([[5555, { rings: sampleRingMemory(ring.setup_flags, 8, 16), sqes: Buffer.alloc(512), pbufRings: new Map([[1, Buffer.alloc(64)]]), buffers: new Map([[1, Buffer.alloc(16)]]) }]]);
	const ia = fromCapture(a, mem, ctx);
	const ib = fromCapture(b, new Map(), ctx);
	t.equal(ia.rings.length, 1);
	t.equal(ib.rings.length, 0, 'no state in the higher pid');
	t.same(ib.process!.holds[0].fds, [11], 'its own fds');
	t.equal(ib.process!.holds[0].state_pid, 50);
	t.throws(() => fromCapture(a, new Map(), ctx), /capture of pid 50: no memory captured for ring 5555/);
});

t.test('SQPOLL sharing: rings attach to the thread creator', async (t) => {
	const mk = (inode: number, flags: number, shared: number[]): RingState => ({
		...capturedRing(), inode, setup_flags: flags, submitter_tid: null, registered_files: { size: 0, alloc_range: null, entries: [] },
		registered_buffers: { size: 0, entries: [] }, provided_buffers: [], mappings: [],
		sqpoll: { thread_pid: 77, cpu: null, idle_ms: 10, shared_with: shared }, inflight: [],
	});
	const rings = [mk(30, 0x2 | 0x20 | 0x8, [10, 20]), mk(10, 0x2 | 0x20 | 0x8, [20, 30]), mk(20, 0x2 | 0x8, [10, 30])];
	const p: ProcessRings = { pid: 5, comm: 'x', source: 'bpf', unavailable: [], rings };
	const mem = new Map(rings.map((r) => [r.inode, { rings: sampleRingMemory(r.setup_flags, 8, 16), sqes: Buffer.alloc(512), pbufRings: new Map([[1, Buffer.alloc(64)]]) }]));
	const img = fromCapture(p, mem, { kernelRelease: 'r', toolVersion: 'v' });
	t.same(img.rings.map((r) => [r.ring_id, r.setup!.attach_ring_id]), [[30n, 20n], [10n, 20n], [20n, 0n]], 'ring 20 (no ATTACH_WQ) created the thread');
	t.same(imageProblems(img), []);
});

t.test('geometry: region sizes match the kernel for known rings', async (t) => {
	t.equal(ringsRegionSize(0, 8, 16), 320 + 32, 'sq_off.array 320 for 8/16 entries, then 8 u32');
	t.equal(ringsRegionSize(0x10000, 8, 16), 320, 'NO_SQARRAY');
	t.equal(ringsRegionSize(0x800, 8, 16), 640 + 32, 'CQE32 doubles header+CQEs');
	t.equal(ringsRegionSize(0, 1, 2), 128 + 4, 'cache-line alignment');
	t.equal(sqesRegionSize(0, 8), 512);
	t.equal(sqesRegionSize(0x400, 8), 1024, 'SQE128');
});

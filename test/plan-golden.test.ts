/*
 * Golden plans: the restore planner (src/restore/planner.ts, planImages)
 * on images that each add one concern to a plain ring, compared line by
 * line with test/golden/<name>.plan.  Runs without root or CRIU, so a
 * change to a concern shows exactly which steps it changes.  After an
 * intended change, regenerate with
 *   UPDATE_GOLDEN=1 npx tap --disable-coverage dist/test/plan-golden.test.js
 * and review the diff of test/golden/ like code.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as G from '../src/image/geometry';
import { imageProblems, type Image, type Ring, type RingHold } from '../src/image';
import { sampleImage, sampleImageSet, sampleRingMemory } from '../src/image/sample';
import { FORMAT_VERSION } from '../src/image/types';
import { serialize } from '../src/restore/plan';
import { planImages } from '../src/restore/planner';
import { OP, SETUP } from '../src/uring/abi';
import { ROOT } from '../src/util/paths';

const GOLDEN = path.join(ROOT, 'test', 'golden');
const PID = 4242;
const PAGE = BigInt(G.PAGE_SIZE);

/* One plain ring (8 SQ, 16 CQ entries) at fd 3, mapped, indices at 0. */
function plainRing(id = 1n, flags = 0, sq = 8, cq = 16): Ring {
	return {
		ring_id: id,
		setup: { flags, sq_entries: sq, cq_entries: cq, attach_ring_id: 0n, submitter_tid: 0, disabled: false },
		indices: { cached_sq_head: 0, cached_cq_tail: 0, sq_head: 0, sq_tail: 0, cq_head: 0, cq_tail: 0, sq_dropped: 0, cq_overflow: 0, sq_flags: 0, cq_flags: 0 },
		memory: { rings: sampleRingMemory(flags, sq, cq), sqes: Buffer.alloc(G.sqesRegionSize(flags, sq)), rings_user_addr: 0n, sqes_user_addr: 0n },
		overflow_cqes: [], files: null, buffers: null, eventfd: null, personalities: [], restrictions: null,
		iowq: null, provided_buffer_groups: [], provided_buffer_rings: [], napi: null, clock: null,
		mem_regions: [], inflight: [], personality_next: 0,
	};
}

function plainHold(id = 1n): RingHold {
	return {
		ring_id: id, state_pid: PID, fds: [3], registered_slots: [], epoll_watches: [],
		mappings: [
			{ start: 0x7f2000000000n, end: 0x7f2000000000n + PAGE, offset: 0n, prot: 3, kind: 'MAPPING_KIND_RINGS', flags: 1, bgid: 0 },
			{ start: 0x7f2000010000n, end: 0x7f2000010000n + PAGE, offset: 0x10000000n, prot: 3, kind: 'MAPPING_KIND_SQES', flags: 1, bgid: 0 },
		],
	};
}

function image(ring: Ring, hold: RingHold): Image {
	return {
		header: { format_version: FORMAT_VERSION, kernel_release: '6.18.44', tool_version: '0.1.0' },
		process: { pid: PID, comm: 'golden', source: 'CAPTURE_SOURCE_BPF', unavailable: [], holds: [hold] },
		rings: [ring],
	};
}

/* A ring whose indices have moved on: concerns that consume requests at restore need room below them. */
function moved(r: Ring): Ring {
	r.indices = { ...r.indices!, cached_sq_head: 100, sq_head: 100, sq_tail: 100, cached_cq_tail: 100, cq_head: 100, cq_tail: 100 };
	return r;
}

/*
 * The sample image is made to exercise the validator, not the planner:
 * its buffer ring 7 has head 0xfffffffe (the kernel's head is 16 bits, a
 * real capture never has it), its overflow list has a big CQE with flags
 * under restrictions that forbid NOPs, which no restore can post, its
 * restrictions would also forbid restoring its provided buffers, and its
 * wait-argument region lacks the memory region it always is, and it has
 * in-flight requests on an SQPOLL ring, which cannot be re-armed.  Here:
 * head 2 of 5, no overflow list, restrictions or in-flight requests
 * (their own cases cover them), and the memory region added.
 */
function plannable(img: Image): Image {
	for (const r of img.rings) {
		for (const b of r.provided_buffer_rings) if (b.head > 0xffff) b.head = 2;
		r.overflow_cqes = [];
		r.indices!.sq_flags &= ~2; /* IORING_SQ_CQ_OVERFLOW */
		r.restrictions = null;
		r.inflight = []; /* re-armed requests on an SQPOLL ring are refused; the rearm case covers them */
		/* a wait-argument region is always also the ring's memory region */
		for (const m of r.mem_regions.filter((x) => x.kind === 'MEM_REGION_KIND_WAIT_ARG'))
			if (!r.mem_regions.some((x) => x.kind === 'MEM_REGION_KIND_PARAM_REGION')) r.mem_regions.unshift({ ...m, kind: 'MEM_REGION_KIND_PARAM_REGION' });
	}
	return img;
}

/* The feature-rich ring of the sample image, to copy one concern's state from. */
const rich = (): Ring => sampleImage(PID).rings[0];
const richHold = (): RingHold => sampleImage(PID).process!.holds[0];

/** name -> the images, one concern added to the plain ring each (or a whole sample). */
const CASES: [string, () => Image[]][] = [
	['plain', () => [image(plainRing(), plainHold())]],
	['advance', () => {
		const r = plainRing();
		r.indices = { ...r.indices!, cached_sq_head: 1000, sq_head: 1000, sq_tail: 1002, cached_cq_tail: 998, cq_head: 995, cq_tail: 998, sq_dropped: 1 };
		return [image(r, plainHold())];
	}],
	['files', () => [image(Object.assign(plainRing(), { files: rich().files }), plainHold())]],
	['buffers', () => [image(Object.assign(plainRing(), { buffers: rich().buffers }), plainHold())]],
	['eventfd', () => [image(Object.assign(plainRing(), { eventfd: rich().eventfd }), plainHold())]],
	['personalities', () => [image(Object.assign(plainRing(), { personalities: rich().personalities, personality_next: rich().personality_next }), plainHold())]],
	['restrictions', () => {
		const r = Object.assign(plainRing(1n, SETUP.R_DISABLED), { restrictions: rich().restrictions });
		r.setup!.disabled = true;
		return [image(r, plainHold())];
	}],
	['iowq', () => [image(Object.assign(plainRing(), { iowq: rich().iowq }), plainHold())]],
	['napi', () => [image(Object.assign(plainRing(), { napi: rich().napi }), plainHold())]],
	['clock', () => [image(Object.assign(plainRing(), { clock: rich().clock }), plainHold())]],
	['legacy-buffers', () => [image(moved(Object.assign(plainRing(), { provided_buffer_groups: rich().provided_buffer_groups })), plainHold())]],
	['pbuf', () => {
		const h = plainHold();
		h.mappings.push(richHold().mappings.find((m) => m.kind === 'MAPPING_KIND_PBUF_RING')!);
		const rings = rich().provided_buffer_rings;
		rings[0].head = 2; /* of 5: the sample's head is near 2^32 */
		return [image(moved(Object.assign(plainRing(), { provided_buffer_rings: rings })), h)];
	}],
	['regions-param', () => {
		const h = plainHold();
		h.mappings.push(richHold().mappings.find((m) => m.kind === 'MAPPING_KIND_PARAM_REGION')!);
		const r = plainRing(1n, SETUP.R_DISABLED);
		r.setup!.disabled = true;
		r.mem_regions = [{ kind: 'MEM_REGION_KIND_PARAM_REGION', addr: 0n, size: PAGE, contents: Buffer.alloc(G.PAGE_SIZE, 7) }];
		return [image(r, h)];
	}],
	['regions-wait-arg', () => {
		/* the kernel's REG_WAIT_ARG region is the memory region itself: the capture reports both */
		const r = plainRing(1n, SETUP.R_DISABLED);
		r.setup!.disabled = true;
		const wait = rich().mem_regions[0];
		r.mem_regions = [{ ...wait, kind: 'MEM_REGION_KIND_PARAM_REGION' }, wait];
		return [image(r, plainHold())];
	}],
	['overflow', () => {
		const r = plainRing(1n, 0, 4, 8);
		r.memory!.rings = sampleRingMemory(0, 4, 8);
		r.memory!.sqes = Buffer.alloc(G.sqesRegionSize(0, 4));
		r.indices = { ...r.indices!, cached_sq_head: 100, sq_head: 100, sq_tail: 100, cached_cq_tail: 108, cq_head: 100, cq_tail: 108, cq_overflow: 0, sq_flags: 2 };
		r.overflow_cqes = [{ user_data: 7n, res: 1, flags: 0 }, { user_data: 8n, res: -11, flags: 0 }];
		return [image(r, plainHold())];
	}],
	['overflow-fdonly', () => {
		/* no fd: the overflow CQEs and the CQ fillers are posted by NOPs through the registered-ring index */
		const flags = SETUP.REGISTERED_FD_ONLY | SETUP.NO_MMAP;
		const r = plainRing(1n, flags, 4, 8);
		r.memory = { rings: sampleRingMemory(flags, 4, 8), sqes: Buffer.alloc(G.sqesRegionSize(flags, 4)), rings_user_addr: 0x7f3000001000n, sqes_user_addr: 0x7f3000000000n };
		r.indices = { ...r.indices!, cached_sq_head: 100, sq_head: 100, sq_tail: 100, cached_cq_tail: 108, cq_head: 100, cq_tail: 108, sq_flags: 2 };
		r.overflow_cqes = [{ user_data: 7n, res: 1, flags: 0 }];
		return [image(r, { ...plainHold(), fds: [], mappings: [], registered_slots: [{ tid: PID, index: 0 }] })];
	}],
	['restrictions-eventfd', () => {
		/* an enabled ring whose restrictions forbid registering an eventfd: it is registered before ENABLE, muted during the advance */
		const r = moved(Object.assign(plainRing(), { eventfd: { fd: 6, async: false } }));
		r.restrictions = { register_ops: [], sqe_ops: [0], sqe_flags_allowed: 0, sqe_flags_required: 0 };
		return [image(r, plainHold())];
	}],
	['rearm', () => {
		/* a TIMEOUT in flight, submitted again with the time it had left */
		const r = moved(plainRing());
		const sqe = Buffer.alloc(64);
		sqe.writeUInt8(OP.TIMEOUT, 0);
		sqe.writeInt32LE(-1, 4); /* fd */
		sqe.writeUInt32LE(1, 24); /* len: one timespec */
		sqe.writeBigUInt64LE(0xfeedn, 32); /* user_data */
		r.inflight = [{ opcode: OP.TIMEOUT, user_data: 0xfeedn, fd: -1, fixed: false, state: 'INFLIGHT_STATE_TIMEOUT', sqe, timeout_ns: 1_500_000_000n, msghdr: Buffer.alloc(0) }];
		return [image(r, plainHold())];
	}],
	['epoll', () => {
		const h = plainHold();
		h.epoll_watches = [{ epfd: 5, tfd: 3, events: 0x19, data: 0xfeedn, epoll_id: 1 }];
		return [image(plainRing(), h)];
	}],
	['registered-slots', () => {
		const h = plainHold();
		h.registered_slots = [{ tid: PID, index: 2 }];
		return [image(plainRing(), h)];
	}],
	['defer-taskrun', () => {
		const r = plainRing(1n, SETUP.SINGLE_ISSUER | SETUP.DEFER_TASKRUN);
		r.setup!.submitter_tid = PID;
		return [image(r, plainHold())];
	}],
	/* the three sample rings (rich SQPOLL, NO_MMAP attached to its thread, disabled DEFER_TASKRUN), and the same shared by two processes */
	['sample', () => [plannable(sampleImage(PID))]],
	['sample-set', () => sampleImageSet(100, 200).map(plannable)],
];

/* Long hex payloads (ring memory) as their length and a digest, so the golden files stay readable. */
const short = (line: string): string =>
	line.replace(/\b[0-9a-f]{129,}\b/g, (hex) => `<${hex.length / 2} bytes sha256:${createHash('sha256').update(hex).digest('hex').slice(0, 16)}>`);

/* A golden plan: each process's steps as the plugin receives them. */
function render(images: Image[]): string {
	const plans = planImages(images);
	return [...plans].map(([pid, steps]) => [`# process ${pid}`, ...serialize(steps).map(short)].join('\n')).join('\n') + '\n';
}

const update = process.env.UPDATE_GOLDEN === '1';
if (update) mkdirSync(GOLDEN, { recursive: true });

for (const [name, make] of CASES) {
	t.test(`golden plan: ${name}`, async (t) => {
		const images = make();
		for (const img of images) t.same(imageProblems(img), [], `image of ${img.process!.pid} is valid`);
		const got = render(images);
		const file = path.join(GOLDEN, `${name}.plan`);
		if (update) writeFileSync(file, got);
		if (!t.ok(existsSync(file), `${file} exists (UPDATE_GOLDEN=1 writes it)`)) return;
		const want = readFileSync(file, 'utf8').split('\n');
		const lines = got.split('\n');
		const diff = lines.findIndex((l, i) => l !== want[i]);
		t.equal(diff === -1 && lines.length === want.length ? '' : `line ${diff + 1}: got\n${lines[diff] ?? '(end)'}\nwant\n${want[diff] ?? '(end)'}`, '',
			`${name}: the plan is the golden one (${lines.length - 1} lines)`);
	});
}

t.test('a wait-argument region without its memory region is refused, not dropped', async (t) => {
	const r = Object.assign(plainRing(), { mem_regions: rich().mem_regions });
	t.throws(() => planImages([image(r, plainHold())]), /ring 1: a wait-argument region without its memory region/);
});

t.test('every concern adds steps to the plain ring\'s plan', async (t) => {
	const plain = render(CASES[0][1]());
	for (const [name, make] of CASES.slice(1)) t.not(render(make()), plain, `${name}: the plan differs from the plain ring's`);
});

/*
 * Kernel feature probing (src/uring/features.ts) and what depends on it:
 * the dump's capture gaps (src/capture/gaps.ts), the restore planner's
 * refusal of plans the kernel cannot run (src/restore/kernel.ts), the
 * test skips (test/lib/kernel.ts).  Kernels without a feature are
 * simulated by editing the probed (cached) features; `npm run
 * test:kernels` runs the real thing on Linux 6.1 and 6.12.
 */
import t from 'tap';
import { kernelFeatures } from '../src/uring/features';
import { SETUP } from '../src/uring/abi';
import { SETUP_FLAGS } from '../src/uring/flags';
import { ringsLayout } from '../src/image/geometry';
import { captureGaps } from '../src/capture/gaps';
import { MISSING } from '../src/capture/bpf';
import { sampleImage } from '../src/image/sample';
import { restoreRings } from '../src/restore/from-image';
import { planRing } from '../src/restore/planner';
import { kernelDumpRefusals } from '../src/restore/kernel';
import { kernelLacks, skipUnless } from './lib/kernel';
import { loadNative } from '../src/native';
import { emptyParams, encodeParams, decodeParams } from '../src/uring/params';

/* Run fn with the probed features edited, then put them back. */
function withKernel(edit: (f: ReturnType<typeof kernelFeatures>) => void, fn: () => void): void {
	const f = kernelFeatures();
	const saved = { ...f, register: { ...f.register }, opcodes: new Set(f.opcodes) };
	edit(f);
	try {
		fn();
	} finally {
		Object.assign(f, saved);
	}
}

t.test('the probes agree with io_uring_setup itself', async (t) => {
	const f = kernelFeatures();
	t.ok(f.io_uring, 'io_uring works here');
	for (const [bit, name] of SETUP_FLAGS.entries()) {
		if (name !== 'CQSIZE' && name !== 'SQ_AFF' && name !== 'TASKRUN_FLAG' && name !== 'DEFER_TASKRUN' &&
			name !== 'ATTACH_WQ' && name !== 'NO_MMAP' && name !== 'REGISTERED_FD_ONLY' && name !== 'HYBRID_IOPOLL') {
			const p = emptyParams();
			p.flags = 1 << bit;
			let ok = true;
			try {
				loadNative().close(loadNative().ioUringSetup(1, encodeParams(p)));
			} catch {
				ok = false;
			}
			t.equal((f.setup & (1 << bit)) !== 0, ok, `IORING_SETUP_${name} probed as the kernel answers`);
		}
	}
	const p = emptyParams();
	p.flags = 1 << 30;
	t.throws(() => loadNative().ioUringSetup(1, encodeParams(p)), /EINVAL/, 'an unknown flag is EINVAL (what the probes rely on)');
	t.equal(f.setup & (1 << 30), 0, 'and is not reported');
	t.ok(f.opcodes.has(0), 'REGISTER_PROBE: NOP');
	t.ok(f.register.FILES2 && f.register.BUFFERS2 && f.register.EVENTFD, 'registrations every supported kernel has');
});

t.test('the io_rings layout is the one io_uring_setup reports', async (t) => {
	const buf = encodeParams(emptyParams());
	loadNative().close(loadNative().ioUringSetup(4, buf));
	const p = decodeParams(buf);
	const L = ringsLayout();
	t.same([L.sq_head, L.sq_tail, L.sq_ring_mask, L.sq_ring_entries, L.cq_head, L.cq_tail, L.cqes, L.cq_flags],
		[p.sq_off.head, p.sq_off.tail, p.sq_off.ring_mask, p.sq_off.ring_entries, p.cq_off.head, p.cq_off.tail, p.cq_off.cqes, p.cq_off.flags]);
});

t.test('a field the capture cannot read is a gap only where the kernel has the feature', async (t) => {
	const clock = MISSING[6];
	t.same(captureGaps([clock, 'some other word']), kernelFeatures().register.CLOCK ? [clock] : [], 'this kernel');
	withKernel((f) => { f.register.CLOCK = false; }, () => {
		t.same(captureGaps([clock]), [], 'a kernel without REGISTER_CLOCK loses nothing');
	});
	withKernel((f) => { f.register.CLOCK = true; }, () => {
		t.same(captureGaps([clock]), [clock], 'a kernel with it: the dump must refuse');
	});
});

t.test('restore plans use only what the kernel has', async (t) => {
	const img = sampleImage();
	/* ring 1003 of the sample: SINGLE_ISSUER|DEFER_TASKRUN|NO_SQARRAY|CQE_MIXED, in registered-ring slot 3 */
	const ring = restoreRings(img).find((r) => r.state.inode === 1003)!;
	const plan = (): unknown => planRing(img.process!.pid, ring, 0);
	t.doesNotThrow(plan, 'this kernel plans it');
	withKernel((f) => { f.setup &= ~(SETUP.NO_SQARRAY | SETUP.CQE_MIXED); }, () => {
		t.throws(plan, /^ring 1003: this kernel \(Linux .*\) lacks IORING_SETUP_NO_SQARRAY, IORING_SETUP_CQE_MIXED$/,
			'setup flags the kernel lacks, named in one line');
	});
	withKernel((f) => { f.register.RING_FDS = false; }, () => {
		t.throws(plan, /^ring 1003: this kernel \(Linux .*\) lacks IORING_REGISTER_RING_FDS \(register the ring in slot 3/,
			'a register opcode the kernel lacks, with the step that needs it');
	});
});

t.test('a dump refuses what this kernel could not rebuild', async (t) => {
	const ring = restoreRings(sampleImage()).find((r) => r.state.inode === 1003)!;
	const s = { ...ring.state, overflow_cqes: [{ user_data: '7', res: 0, flags: 0 }] } as typeof ring.state;
	withKernel((f) => { f.register.SEND_MSG_RING = true; f.nop_inject = true; }, () => {
		t.same(kernelDumpRefusals(s), [], 'an overflow list where the kernel can post CQEs');
		t.same(kernelDumpRefusals(ring.state), [], 'a ring without one');
	});
	withKernel((f) => { f.register.SEND_MSG_RING = false; }, () => {
		t.match(kernelDumpRefusals(s), [/^1 CQE\(s\) on the overflow list \(rebuilding it needs IORING_REGISTER_SEND_MSG_RING/],
			'refused where it cannot (Linux 6.1, 6.12)');
		t.same(kernelDumpRefusals(ring.state), [], 'a ring without one is not');
	});
});

t.test('tests skip with the kernel\'s reason', async (t) => {
	t.same(kernelLacks({ setup: SETUP.SQPOLL, register: ['FILES2'], opcodes: ['NOP'] }), [], 'what every kernel has');
	withKernel((f) => { f.setup &= ~SETUP.NO_SQARRAY; f.nop_inject = false; }, () => {
		const saved = process.env.CRIU_URING_NO_SKIPS;
		delete process.env.CRIU_URING_NO_SKIPS;
		t.match(skipUnless({ setup: SETUP.NO_SQARRAY, nopInject: true }),
			/^kernel .* lacks IORING_SETUP_NO_SQARRAY, IORING_NOP_INJECT_RESULT$/, 'the reason names what is missing');
		process.env.CRIU_URING_NO_SKIPS = '1';
		t.throws(() => skipUnless({ setup: SETUP.NO_SQARRAY }), /CRIU_URING_NO_SKIPS=1/, 'CRIU_URING_NO_SKIPS=1 makes it an error');
		if (saved === undefined) delete process.env.CRIU_URING_NO_SKIPS;
		else process.env.CRIU_URING_NO_SKIPS = saved;
	});
});

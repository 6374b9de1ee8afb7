/*
 * Skipping tests the running kernel cannot run, in the manner of liburing's
 * tests: a test states what it needs, the kernel is probed
 * (src/uring/features.ts: what io_uring accepts, never the version number),
 * and a test whose needs are not met is skipped with the reason
 * ("kernel lacks IORING_SETUP_NO_SQARRAY").  With CRIU_URING_NO_SKIPS=1 a
 * skip is an error instead (npm run test:kernels sets it for the kernel that
 * has every feature, so nothing there is ever skipped by accident).
 */
import { kernelFeatures, type RegisterOp } from '../../src/uring/features';
import { SETUP_FLAGS } from '../../src/uring/flags';
import { OPCODES } from '../../src/uring/opcodes';

export interface KernelNeeds {
	/** IORING_SETUP_* bits */
	setup?: number;
	register?: RegisterOp[];
	/** IORING_OP_* names */
	opcodes?: string[];
	pbufMmap?: boolean;
	pbufInc?: boolean;
	nopInject?: boolean;
}

/** What of `needs` this kernel lacks, as words; empty when it has everything. */
export function kernelLacks(needs: KernelNeeds): string[] {
	const f = kernelFeatures();
	const out: string[] = [];
	if (!f.io_uring) return [`io_uring (${f.why})`];
	SETUP_FLAGS.forEach((name, bit) => {
		if ((needs.setup ?? 0) & (1 << bit) && !(f.setup & (1 << bit))) out.push(`IORING_SETUP_${name}`);
	});
	for (const r of needs.register ?? []) if (!f.register[r]) out.push(`IORING_REGISTER_${r}`);
	for (const o of needs.opcodes ?? []) if (!f.opcodes.has(OPCODES.indexOf(o))) out.push(`IORING_OP_${o}`);
	if (needs.pbufMmap && !f.pbuf_mmap) out.push('IOU_PBUF_RING_MMAP');
	if (needs.pbufInc && !f.pbuf_inc) out.push('IOU_PBUF_RING_INC');
	if (needs.nopInject && !f.nop_inject) out.push('IORING_NOP_INJECT_RESULT');
	return out;
}

/**
 * The `skip` option of a tap test: false when the kernel has what the test
 * needs, else the reason.  Throws under CRIU_URING_NO_SKIPS=1.
 */
export function skipUnless(needs: KernelNeeds): string | false {
	const lacks = kernelLacks(needs);
	if (lacks.length === 0) return false;
	const why = `kernel ${kernelFeatures().release} lacks ${lacks.join(', ')}`;
	if (process.env.CRIU_URING_NO_SKIPS === '1') throw new Error(`CRIU_URING_NO_SKIPS=1, but ${why}`);
	return why;
}

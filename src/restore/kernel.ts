/*
 * A restore plan may only use what the running kernel has.  A checkpoint
 * taken on Linux 6.18 can hold rings with setup flags or registrations that
 * Linux 6.1 does not know (NO_SQARRAY, CLONE_BUFFERS, memory regions, CQE
 * posting through REGISTER_SEND_MSG_RING, ...), and the concerns plan with
 * whatever rebuilds the state exactly.  Rather than fail halfway through
 * the rebuild, each finished plan is checked against the probed features
 * (uring/features.ts) and refused, before any process is touched, naming
 * what is missing.
 */
import { hasOpcode, hasRegister, kernelFeatures, missingSetupFlags, type RegisterOp } from '../uring/features';
import { opcodeName } from '../uring/opcodes';
import type { Step } from './plan';
import { opcodeOf } from './ring-plan';
import { NR } from '../uring/abi';
import type { RestoreRing } from './input';
import type { RingState } from '../capture/model';

/* io_uring_register opcodes by number (include/linux/io_uring.h), as features.ts names them */
const REGISTER_NAMES: Record<number, RegisterOp> = {
	4: 'EVENTFD', 7: 'EVENTFD', 8: 'PROBE', 9: 'PERSONALITY', 11: 'RESTRICTIONS', 12: 'ENABLE_RINGS',
	13: 'FILES2', 14: 'FILES_UPDATE2', 15: 'BUFFERS2', 16: 'BUFFERS_UPDATE', 17: 'IOWQ_AFF',
	19: 'IOWQ_MAX_WORKERS', 20: 'RING_FDS', 21: 'RING_FDS', 22: 'PBUF_RING', 23: 'PBUF_RING',
	24: 'SYNC_CANCEL', 25: 'FILE_ALLOC_RANGE', 26: 'PBUF_STATUS', 27: 'NAPI', 28: 'NAPI', 29: 'CLOCK',
	30: 'CLONE_BUFFERS', 31: 'SEND_MSG_RING', 33: 'RESIZE_RINGS', 34: 'MEM_REGION',
};
/* the plain registrations every io_uring kernel has: 0 BUFFERS, 1/3 unregister, 2 FILES, 5, 6 FILES_UPDATE, 10 */
const ANCIENT = new Set([0, 1, 2, 3, 5, 6, 10]);

function needs(step: Step): string[] {
	switch (step.op) {
	case 'sys': {
		if (step.nr !== NR.io_uring_register) return [];
		const op = opcodeOf(step.args[1]);
		const name = REGISTER_NAMES[op];
		if (ANCIENT.has(op)) return [];
		return name && hasRegister(name) ? [] : [`IORING_REGISTER_${name ?? `opcode ${op}`} (${step.what})`];
	}
	case 'post':
		return hasRegister('SEND_MSG_RING') && hasOpcode('MSG_RING') ? [] : [`IORING_REGISTER_SEND_MSG_RING (${step.what})`];
	case 'postnop':
		return kernelFeatures().nop_inject ? [] : [`IORING_NOP_INJECT_RESULT (${step.what})`];
	case 'advance':
		return ['NOP', 'MSG_RING'].filter((o) => !hasOpcode(o)).map((o) => `IORING_OP_${o} (${step.what})`);
	case 'submit': {
		/* 64-byte SQEs, submitted N times over */
		const out: string[] = [];
		for (let at = 0; at + 64 <= step.sqes.length; at += 64) {
			const name = opcodeName(step.sqes.readUInt8(at));
			if (!hasOpcode(name)) out.push(`IORING_OP_${name} (${step.what})`);
		}
		return out;
	}
	default:
		return [];
	}
}

/** What rebuilding this ring needs that the running kernel lacks (empty: nothing). */
export function kernelShortfall(ring: RestoreRing, steps: Step[]): string[] {
	const f = kernelFeatures();
	if (!f.io_uring) return [`io_uring itself (${f.why ?? 'io_uring_setup fails'})`];
	const why = missingSetupFlags(ring.state.setup_flags).map((n) => `IORING_SETUP_${n}`);
	const inc = ring.state.provided_buffers.some((b) => b.kind === 'ring' && b.inc);
	const mmap = ring.state.provided_buffers.some((b) => b.kind === 'ring' && b.mmap);
	if (inc && !f.pbuf_inc) why.push('IOU_PBUF_RING_INC (incremental buffer rings)');
	if (mmap && !f.pbuf_mmap) why.push('IOU_PBUF_RING_MMAP (buffer rings in kernel memory)');
	for (const s of steps) why.push(...needs(s));
	return [...new Set(why)];
}

/*
 * What a dump must refuse because this kernel could not rebuild it (the
 * restore runs on the same kernel, as a rule): checked on the capture, so
 * a checkpoint that cannot come back here is never written.  The plan
 * itself is checked again at restore (kernelShortfall).
 */
export function kernelDumpRefusals(r: RingState): string[] {
	const f = kernelFeatures();
	const why: string[] = [];
	/* the overflow list is rebuilt by posting CQEs into a full CQ: MSG_RING posts, NOP INJECT_RESULT posts */
	if (r.overflow_cqes.length && !(f.register.SEND_MSG_RING && f.nop_inject))
		why.push(`${r.overflow_cqes.length} CQE(s) on the overflow list (rebuilding it needs IORING_REGISTER_SEND_MSG_RING and ` +
			'IORING_NOP_INJECT_RESULT, which this kernel lacks)');
	return why;
}


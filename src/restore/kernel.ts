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
import { hasOpcode, hasRegister, kernelFeatures, missingSetupFlags, PROBED, type RegisterOp } from '../uring/features';
import { opcodeName } from '../uring/opcodes';
import type { Step } from './plan';
import { opcodeOf } from './ring-plan';
import { NR, REGISTER, UNREGISTER } from '../uring/abi';
import type { RestoreRing } from './input';
import type { RingState } from '../capture/model';

/* io_uring_register opcode -> the probed registration it belongs to (its unregister and async variants too) */
const REGISTER_NAMES = new Map<number, RegisterOp>([
	...PROBED.map((n) => [REGISTER[n], n] as const),
	...PROBED.filter((n): n is RegisterOp & keyof typeof UNREGISTER => n in UNREGISTER).map((n) => [UNREGISTER[n], n] as const),
	[REGISTER.EVENTFD_ASYNC, 'EVENTFD'],
]);
/* the plain registrations every io_uring kernel has */
const ANCIENT = new Set<number>([REGISTER.BUFFERS, UNREGISTER.BUFFERS, REGISTER.FILES, UNREGISTER.FILES,
	UNREGISTER.EVENTFD, REGISTER.FILES_UPDATE, UNREGISTER.PERSONALITY]);

function needs(step: Step): string[] {
	switch (step.op) {
	case 'sys': {
		if (step.nr !== NR.io_uring_register) return [];
		const op = opcodeOf(step.args[1]);
		const name = REGISTER_NAMES.get(op);
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


/*
 * The in-flight cancel option (CRIU_URING_CANCEL_INFLIGHT=1, docs/inflight.md).
 *
 * Requests that wait for something outside the ring and that the restore
 * cannot re-arm (src/capture/rearm.ts: pidfd waitid waits, SEND_ZC, a
 * SENDMSG that sent part of a MSG_WAITALL message, ...) would never complete while the tree is frozen, and by default they
 * fail the dump.  With the option the user asks for them to be cancelled instead:
 * the owner thread of each ring, already ptrace-stopped at
 * CHECKPOINT_DEVICES, is made to call IORING_REGISTER_SYNC_CANCEL for each
 * such request's user_data (IORING_ASYNC_CANCEL_ALL: every request with
 * that user_data).  That is a real cancellation: the kernel posts the
 * -ECANCELED completions (via task work, which the completion steps of
 * src/plugin/completions.ts run), they land in the CQ or its overflow
 * list, and the capture that follows puts them in the image.  After the
 * restore the application reaps them exactly as if it had cancelled the
 * requests itself, and can re-arm them.
 *
 * SYNC_CANCEL is a register opcode, so it must come from the ring's
 * SINGLE_ISSUER submitter (other tasks get EEXIST); for other rings any
 * thread of the process will do and the process's main thread is used.
 * Each (ring, user_data) is cancelled once per dump: with ALL the call
 * returns the number cancelled, never ENOENT, so a request that completed
 * meanwhile is harmless.
 */
import type { InflightRequest, ProcessRings, RingState } from '../capture/model';
import { always, type Step } from '../restore/plan';
import { ownerHandle, ownerTid } from '../restore/owner';
import { blocksDump } from './inflight';
import { ASYNC_CANCEL, NR, REGISTER } from '../uring/abi';

const SYNC_CANCEL_REG_SIZE = 64;

/** True when the user asked for cancellation (environment of criu, inherited by the helper). */
export function cancelRequested(env: NodeJS.ProcessEnv = process.env): boolean {
	return env.CRIU_URING_CANCEL_INFLIGHT === '1';
}

/* struct io_uring_sync_cancel_reg: addr, fd, flags, timeout {-1, -1} (none), opcode, pads */
function syncCancelArg(userData: bigint): Buffer {
	const b = Buffer.alloc(SYNC_CANCEL_REG_SIZE);
	b.writeBigUInt64LE(userData, 0);
	b.writeInt32LE(0, 8);
	b.writeUInt32LE(ASYNC_CANCEL.ALL, 12);
	b.writeBigInt64LE(-1n, 16);
	b.writeBigInt64LE(-1n, 24);
	return b;
}

/* The thread that may cancel on this ring (the owner), and how it names the ring. */
function canceller(pid: number, r: RingState): { tid: number; fd: number; op: number } {
	const h = ownerHandle(pid, r);
	if (!h) throw new Error(`ring ${r.inode}: no fd or registered slot names it in thread ${ownerTid(pid, r)}, so its in-flight requests cannot be cancelled`);
	const op = h.registered ? REGISTER.SYNC_CANCEL | REGISTER.USE_REGISTERED_RING : REGISTER.SYNC_CANCEL;
	return { tid: h.tid, fd: h.fd, op: op >>> 0 };
}

/**
 * Steps that cancel, from each ring's owner, every request of process p
 * that waits for outside events and was not cancelled yet (`done` keeps
 * "ring:user_data" keys across retries).  Empty when there is none.
 */
export function cancelSteps(p: ProcessRings, done: Set<string>): Step[] {
	const steps: Step[] = [];
	p.rings.forEach((r, i) => {
		const wanted = new Map<string, InflightRequest>();
		for (const q of r.inflight.filter(blocksDump))
			if (!done.has(`${r.inode}:${q.user_data}`)) wanted.set(q.user_data, q);
		if (wanted.size === 0) return;
		const who = canceller(p.pid, r);
		const v = `cancel${i}`;
		steps.push({ op: 'task', tid: who.tid }, { op: 'alloc', v, len: SYNC_CANCEL_REG_SIZE });
		for (const [ud, q] of wanted) {
			done.add(`${r.inode}:${ud}`);
			steps.push({ op: 'write', addr: `$${v}`, data: syncCancelArg(BigInt(ud)) },
				{ op: 'sys', v: 'x', nr: NR.io_uring_register, args: [who.fd, who.op, `$${v}`, 1],
					what: `cancel ${q.opcode} user_data ${ud} on ring ${r.inode}` });
		}
		steps.push(always({ op: 'task', tid: who.tid }), always({ op: 'free', v }));
	});
	return steps;
}

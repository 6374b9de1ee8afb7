/*
 * The plan of one ring under construction.  Each concern of ring state
 * (src/restore/concerns/*.ts, one file per concern, like the kernel's
 * io_uring/ directory) adds its steps to the phase where the kernel allows
 * them; planner.ts puts the phases in order.
 */
import type { RestoreRing } from './input';
import type { AdvanceStep, Expr, Step } from './plan';
import { isFdOnly } from './owner';
import { NR, REGISTER } from '../uring/abi';

/** The io_uring_register opcode without REGISTER.USE_REGISTERED_RING. */
export const opcodeOf = (op: Expr): number => (Number(op) & ~REGISTER.USE_REGISTERED_RING) >>> 0;

export class PlanError extends Error {}

/** Phases, in execution order. */
export const PHASES = [
	'setup',	/* io_uring_setup (ring created disabled) */
	'disabled',	/* registrations the kernel accepts only while disabled (restrictions) */
	'register',	/* registrations before the ring is live */
	'enable',	/* ENABLE_RINGS from the owner thread */
	'map',		/* the application's mappings at their exact addresses */
	'buffers',	/* provided buffers handed to the live ring, buffer-ring heads moved */
	'memory',	/* index advance, ring bytes written back */
	'late',		/* registrations that must not see the advance (eventfd) */
	'fds',		/* the ring moved onto its original fd numbers */
	'cleanup',
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * What concerns need of the index advance (concerns/memory.ts plans it):
 * they declare it before memory runs instead of editing its step.
 */
export interface AdvanceNeeds {
	/** SQEs submitted and CQEs posted by steps right after the advance: it stops that far short of the dumped indices. */
	sq: number;
	cq: number;
	/** Steps right before the advance, given the advance step (where it maps the ring). */
	before: ((adv: AdvanceStep) => Step[])[];
	/** Steps right after it, in the order declared. */
	after: ((adv: AdvanceStep) => Step[])[];
}

/** A ring's plan in three parts; release and cleanup run in the owner thread. */
export interface RingParts { owner: number; body: Step[]; release: Step[]; cleanup: Step[] }

/**
 * The plan of a process from its rings' parts: every body, then every
 * release, then every cleanup, with a task step wherever the thread
 * changes.
 */
export function joinParts(parts: RingParts[]): Step[] {
	const out: Step[] = [];
	let tid: number | undefined;
	const push = (steps: Step[], owner?: number): void => {
		if (steps.length && owner !== undefined && owner !== tid) out.push({ op: 'task', tid: owner });
		for (const s of steps) {
			out.push(s);
			if (s.op === 'task') tid = s.tid;
		}
	};
	for (const x of parts) push(x.body);
	for (const x of parts) push(x.release, x.owner);
	for (const x of parts) push(x.cleanup, x.owner);
	return out;
}

export class RingPlan {
	readonly steps = new Map<Phase, Step[]>(PHASES.map((p) => [p, []]));
	/** Address expression of the io_uring_params the kernel filled in at setup. */
	params = '';
	/** ATTACH_WQ: fd of the ring whose SQPOLL thread this one shares (concerns/attach.ts, before setup reads it). */
	wqFd: number | undefined;
	readonly advance: AdvanceNeeds = { sq: 0, cq: 0, before: [], after: [] };
	/**
	 * SQPOLL rings with re-armed requests (concerns/rearm.ts): the SQ
	 * thread submits them itself, from the SQ positions just before the
	 * dumped head, while the ring bytes are written back (concerns/memory.ts
	 * holds the tail that many short and runs these steps, which leave the
	 * tail at the dumped head with the SQEs consumed).
	 */
	sqpollArm: { count: number; steps: (rings: Expr, sqes: Expr) => Step[] } | undefined;
	/**
	 * Steps that run only once every ring of the process is rebuilt and on
	 * its fds, in the owner thread, before any ring's cleanup: an SQPOLL
	 * ring's dumped SQ tail and wakeup (concerns/memory.ts).  Its SQ thread
	 * submits the pending SQEs as soon as it sees that tail, and one of
	 * them may name another ring's fd (MSG_RING), still a placeholder or a
	 * ring not written back until then.
	 */
	readonly release: Step[] = [];
	private scratchSize = 0;
	private readonly scratchWrites: Step[] = [];
	/* steps in other tasks (other threads, other holders of the ring): after the owner's part, before cleanup */
	private readonly elsewhere: Step[] = [];

	constructor(readonly pid: number, readonly ring: RestoreRing, readonly id: number) {}

	get s() {
		return this.ring.state;
	}

	/** A plan variable private to this ring, as an expression ("$name<id>"). */
	v(name: string): string {
		return `$${name}${this.id}`;
	}

	/** The ring fd inside the task; for byIndex rings, its registered-ring index. */
	get fd(): string {
		return this.v('r');
	}

	/**
	 * IORING_SETUP_REGISTERED_FD_ONLY: io_uring_setup gives the ring an
	 * index in the creating thread's registered-ring table and no fd, so
	 * every io_uring_register names it with USE_REGISTERED_RING and every
	 * io_uring_enter with ENTER_REGISTERED_RING, from that thread only.
	 */
	get byIndex(): boolean {
		return isFdOnly(this.s);
	}

	/** An io_uring_register opcode that names this ring the way $r does. */
	op(op: number): number {
		return this.byIndex ? (op | REGISTER.USE_REGISTERED_RING) >>> 0 : op;
	}

	/** Bytes placed in the ring's scratch memory; returns their address expression. */
	put(data: Buffer): string {
		const off = this.scratchSize;
		this.scratchSize += Math.ceil(data.length / 8) * 8;
		const addr = `${this.v('s')}+${off}`;
		this.scratchWrites.push({ op: 'write', addr, data });
		return addr;
	}

	add(phase: Phase, ...steps: Step[]): void {
		this.steps.get(phase)!.push(...steps);
	}

	/** A system call whose result is not needed later. */
	sys(phase: Phase, nr: number, args: Expr[], what: string): void {
		this.add(phase, { op: 'sys', v: this.v('x').slice(1), nr, args, what });
	}

	register(phase: Phase, op: number, arg: Expr, nr: number, what: string): void {
		this.sys(phase, NR.io_uring_register, [this.fd, this.op(op), arg, nr], what);
	}

	/**
	 * Steps to run in thread `tid` once the ring is rebuilt and on its fds
	 * in the owner (the owner's scratch memory is gone by then: allocate
	 * your own).  The setup fd $r is closed only after them.
	 */
	inTask(tid: number, steps: Step[]): void {
		this.elsewhere.push({ op: 'task', tid }, ...steps);
	}

	/**
	 * The dumped CQ head, where steps that reap CQEs before the write-back
	 * stop freeing CQ slots (the advance, and the submit steps of provided
	 * buffers before it): the kernel's cache of free slots must never have
	 * seen a head past it (plugin-c/advance.h).  Undefined if unknown.
	 */
	get cqHold(): number | undefined {
		return this.s.cq.head === null ? undefined : this.s.cq.head >>> 0;
	}

	fail(why: string): never {
		throw new PlanError(`ring ${this.s.inode}: ${why}`);
	}

	/**
	 * Scratch allocation first, then every phase in order and other tasks'
	 * steps (body); apart, the release steps and the cleanup, both for the
	 * owner thread (planner.ts runs every ring's body before any release).
	 */
	parts(owner: number): RingParts {
		const scratch = this.v('s').slice(1);
		return {
			owner,
			body: [
				{ op: 'task', tid: owner },
				{ op: 'alloc', v: scratch, len: this.scratchSize },
				...this.scratchWrites,
				...PHASES.filter((p) => p !== 'cleanup').flatMap((p) => this.steps.get(p)!),
				{ op: 'free', v: scratch },
				...this.elsewhere,
			],
			release: this.release,
			cleanup: this.steps.get('cleanup')!,
		};
	}

}

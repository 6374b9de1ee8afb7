/*
 * A restore plan: the steps the C plugin executes inside one restored task
 * (plugin-c/plan.c).  TypeScript decides everything (what to create, with
 * which bytes, in which order); C only performs the steps, so the code that
 * runs while CRIU holds the tasks stays small.
 *
 * Wire format, one step per line (docs/plugin-protocol.md):
 *   task TID                       inject into thread TID from now on
 *   alloc VAR LEN                  scratch memory in the task -> $VAR
 *   write ADDR HEX                 copy bytes into the task
 *   writeimg ADDR NAME OFF LEN     copy LEN bytes at offset OFF of image file
 *                                  NAME into the task: a write whose bytes are
 *                                  in an io_uring image that the plan named
 *                                  before (the saved plan's image lines,
 *                                  docs/saved-plan.md, or a file step)
 *   file NAME HEADER               image NAME of CRIU's image directory, which
 *                                  must still have that envelope header (hex)
 *                                  and the payload it describes: the plugin
 *                                  reads and keeps it for writeimg steps
 *   sys VAR NR A1..A6 -- WHAT      system call; result -> $VAR; <0 fails with WHAT
 *   place VAR FD ADDR LEN PROT FLAGS PGOFF [START-END:PROT...] -- WHAT
 *                                  mmap(FD, PGOFF) exactly at ADDR (io_uring
 *                                  accepts no address: the plugin leaves only
 *                                  that hole free); optional parts (hex) are
 *                                  the sub-ranges that stay mapped; -> $VAR
 *   advance FD SQ CQ RINGS SQES PARAMS [registered] -- WHAT
 *                                  bring the kernel's cached SQ head and CQ
 *                                  tail of ring FD (mapped at RINGS/SQES in
 *                                  the task; PARAMS: its io_uring_params as
 *                                  the kernel filled them) to SQ and CQ (u32);
 *                                  "registered": FD is a registered-ring index
 *   store ADDR SIZE VALUE          write VALUE (number or $VAR) as a SIZE-byte
 *                                  (4 or 8) integer at ADDR in the task
 *   wait ADDR VALUE MS -- WHAT     wait (up to MS ms) until the u32 at ADDR in the
 *                                  task is VALUE (an SQ head an SQPOLL thread
 *                                  moves); fail with WHAT if it does not
 *   timens ADDR CLOCK              the timespec at ADDR in the task, an absolute
 *                                  deadline of CLOCK (1 MONOTONIC, 7 BOOTTIME) in
 *                                  the task's time namespace, minus that
 *                                  namespace's offset: the host's view, which
 *                                  io_uring compares with
 *   post FD SCRATCH N UD RES FLAGS RUNTW -- WHAT
 *                                  post N CQEs (UD, RES, FLAGS) to ring FD via
 *                                  IORING_REGISTER_SEND_MSG_RING, SQE built at
 *                                  SCRATCH; RUNTW 1: run DEFER_TASKRUN task
 *                                  work after each (src/restore/concerns/overflow.ts)
 *   postnop RING REG RINGS SQES PARAMS N UD RES EXTRA1 EXTRA2 MODE -- WHAT
 *                                  post N CQEs (UD, RES) by NOPs (INJECT_RESULT)
 *                                  submitted, not reaped, on the ring mapped
 *                                  at RINGS/SQES; MODE 1: big (CQE32, with
 *                                  EXTRA1/EXTRA2), MODE 2: they fill the CQ
 *                                  (else they must overflow); RING is an fd,
 *                                  or with REG 1 a registered-ring index
 *                                  (src/restore/concerns/overflow.ts)
 *   personality FD ID UID EUID SUID FSUID GID EGID SGID FSGID CAPS GROUPS -- WHAT
 *                                  register personality ID on the task's
 *                                  disabled ring FD under those credentials
 *                                  (GROUPS: "a,b" or "-"; plugin-c/creds.c)
 *   submit FD PARAMS N FILE HEX [head H] -- WHAT
 *                                  submit the 64-byte SQEs in HEX N times over
 *                                  on ring FD (enabled, empty) and reap their
 *                                  CQEs, each of which must succeed; FILE
 *                                  ("-": keep) replaces every SQE's fd; with
 *                                  head H the CQ head stops at H (the dumped
 *                                  head) and the CQEs after it stay
 *   load VAR ADDR SIZE             read a SIZE-byte (4 or 8) integer at ADDR
 *                                  in the task -> $VAR (fds pipe2() wrote)
 *   save FD LEN NAME OFFSET -- WHAT
 *                                  read LEN bytes from the pipe the task's fd
 *                                  FD reads from (borrowed with pidfd_getfd)
 *                                  into file NAME of CRIU's image directory
 *                                  at OFFSET (src/plugin/pinned.ts)
 *   arm FD PARAMS SRC N [RINGS SQES [registered]] -- WHAT
 *                                  re-arm N in-flight requests: the 64-byte SQEs
 *                                  at SRC in the task go into the SQ slots just
 *                                  before the (written-back) SQ head, which the
 *                                  advance stopped N short of, and are submitted
 *                                  (src/restore/concerns/rearm.ts); RINGS SQES:
 *                                  a NO_MMAP ring's memory; "registered": FD is
 *                                  a registered-ring index
 *   movefd VAR RING FD -- WHAT     dup3 RING onto fd FD with the close-on-exec flag
 *                                  of the fd there now (CRIU's placeholder; the
 *                                  plugin reads it from /proc); -> $VAR
 *   expect VALUE N -- WHAT         fail with WHAT unless VALUE (a $VAR) is N
 *   free $VAR                      release scratch memory $VAR
 * Arguments are decimal, 0x-hex, $VAR or $VAR+N.  A line starting
 * "always " is a cleanup step: it runs even after an earlier step failed
 * (when every other line is skipped), so that a failed plan leaves no
 * temporary fd behind in the task; its own failure after a failure is
 * ignored (it may name a variable never set).
 */

export type Expr = number | bigint | string; /* string: "$var" or "$var+off" */

export type Step = StepBody & { always?: boolean };
export type AdvanceStep = Extract<StepBody, { op: 'advance' }>;

type StepBody =
	| { op: 'task'; tid: number }
	| { op: 'alloc'; v: string; len: number }
	| { op: 'write'; addr: Expr; data: Buffer }
	| { op: 'sys'; v: string; nr: number; args: Expr[]; what: string }
	| { op: 'place'; v: string; fd: Expr; addr: bigint; len: number; prot: number; flags: number; pgoff: bigint;
		parts?: { start: bigint; end: bigint; prot: number }[]; what: string }
	| { op: 'advance'; fd: Expr; sq: number; cq: number; rings: Expr; sqes: Expr; params: Expr; registered?: boolean;
		/** The CQ head written back afterwards: the advance never reaps past it (plugin-c/advance.h). */
		cqHead?: number; what: string }
	| { op: 'store'; addr: Expr; size: 4 | 8; value: Expr }
	| { op: 'timens'; addr: Expr; clock: number }
	| { op: 'wait'; addr: Expr; value: number; ms: number; what: string }
	| { op: 'post'; fd: Expr; scratch: Expr; count: number; user_data: bigint; res: number; flags: number; runTw: boolean; what: string }
	| { op: 'postnop'; ring: Expr; registered: boolean; rings: Expr; sqes: Expr; params: Expr; count: number;
		user_data: bigint; res: number; extra1: bigint; extra2: bigint; big: boolean; fill: boolean; what: string }
	| { op: 'personality'; fd: Expr; id: number; ids: number[]; caps: bigint; groups: number[]; what: string }
	| { op: 'submit'; fd: Expr; params: Expr; count: number; file: Expr | null; sqes: Buffer;
		/** The CQ head stops there (the dumped head): see the advance's cqHead. */
		cqHead?: number; what: string }
	| { op: 'load'; v: string; addr: Expr; size: 4 | 8 }
	| { op: 'save'; fd: Expr; len: number; name: string; offset: number; what: string }
	| { op: 'arm'; fd: Expr; params: Expr; src: Expr; count: number; rings?: Expr; sqes?: Expr; registered?: boolean; what: string }
	| { op: 'expect'; value: Expr; equals: number; what: string }
	| { op: 'movefd'; v: string; ring: Expr; fd: number; what: string }
	| { op: 'free'; v: string };

function expr(e: Expr): string {
	if (typeof e === 'string') {
		if (!/^\$[a-z_][a-z0-9_]*(\+\d+)?$/.test(e)) throw new Error(`bad plan expression ${e}`);
		return e;
	}
	if (typeof e === 'bigint') return '0x' + e.toString(16);
	if (!Number.isInteger(e)) throw new Error(`bad plan number ${e}`);
	return String(e);
}

const what = (w: string): string => w.replace(/\s+/g, ' ').trim();

/** The same step as a cleanup step: run whatever failed before it. */
export const always = (s: Step): Step => ({ ...s, always: true });

/** Where some bytes lie in a file: [file name, offset], or undefined if in none known. */
export type ByteRef = (data: Buffer) => [string, number] | undefined;

/* Writes shorter than this stay hex even when their bytes are in an image. */
const REF_MIN_BYTES = 64;

/** The steps' lines; with @ref, a write whose bytes lie in a file it knows becomes a writeimg. */
export function serialize(steps: Step[], ref?: ByteRef): string[] {
	return steps.map((s) => (s.always ? 'always ' : '') + (ref && s.op === 'write' ? writeLine(s, ref) : line(s)));
}

function writeLine(s: Extract<Step, { op: 'write' }>, ref: ByteRef): string {
	const at = s.data.length >= REF_MIN_BYTES ? ref(s.data) : undefined;
	if (!at) return line(s);
	if (!/^[\w.-]+$/.test(at[0])) throw new Error(`bad file name ${at[0]} in a writeimg step`);
	return `writeimg ${expr(s.addr)} ${at[0]} ${at[1]} ${s.data.length}`;
}

function line(s: Step): string {
	switch (s.op) {
	case 'task': return `task ${s.tid}`;
	case 'alloc': return `alloc ${s.v} ${s.len}`;
	case 'write': return `write ${expr(s.addr)} ${s.data.toString('hex')}`;
	case 'sys': {
		const args = [...s.args];
		while (args.length < 6) args.push(0);
		return `sys ${s.v} ${s.nr} ${args.map(expr).join(' ')} -- ${what(s.what)}`;
	}
	case 'place':
		return `place ${s.v} ${expr(s.fd)} ${expr(s.addr)} ${s.len} ${s.prot} ${s.flags} ${expr(s.pgoff)}` +
			(s.parts ?? []).map((p) => ` ${p.start.toString(16)}-${p.end.toString(16)}:${p.prot}`).join('') + ` -- ${what(s.what)}`;
	case 'advance':
		return `advance ${expr(s.fd)} ${s.sq >>> 0} ${s.cq >>> 0} ${expr(s.rings)} ${expr(s.sqes)} ${expr(s.params)}` +
			`${s.registered ? ' registered' : ''}${s.cqHead === undefined ? '' : ` head ${s.cqHead >>> 0}`} -- ${what(s.what)}`;
	case 'store': return `store ${expr(s.addr)} ${s.size} ${expr(s.value)}`;
	case 'timens': return `timens ${expr(s.addr)} ${s.clock}`;
	case 'wait': return `wait ${expr(s.addr)} ${s.value >>> 0} ${s.ms} -- ${what(s.what)}`;
	case 'expect': return `expect ${expr(s.value)} ${s.equals} -- ${what(s.what)}`;
	case 'movefd': return `movefd ${s.v} ${expr(s.ring)} ${s.fd} -- ${what(s.what)}`;
	case 'post':
		return `post ${expr(s.fd)} ${expr(s.scratch)} ${s.count} ${expr(s.user_data)} ${s.res >>> 0} ${s.flags >>> 0} ${s.runTw ? 1 : 0} -- ${what(s.what)}`;
	case 'postnop':
		return `postnop ${expr(s.ring)} ${s.registered ? 1 : 0} ${expr(s.rings)} ${expr(s.sqes)} ${expr(s.params)} ${s.count} ` +
			`${expr(s.user_data)} ${s.res >>> 0} ${expr(s.extra1)} ${expr(s.extra2)} ${(s.big ? 1 : 0) | (s.fill ? 2 : 0)} -- ${what(s.what)}`;
	case 'personality':
		return `personality ${expr(s.fd)} ${s.id} ${s.ids.join(' ')} ${expr(s.caps)} ${s.groups.join(',') || '-'} -- ${what(s.what)}`;
	case 'submit':
		return `submit ${expr(s.fd)} ${expr(s.params)} ${s.count} ${s.file === null ? '-' : expr(s.file)} ${s.sqes.toString('hex')}` +
			`${s.cqHead === undefined ? '' : ` head ${s.cqHead >>> 0}`} -- ${what(s.what)}`;
	case 'load': return `load ${s.v} ${expr(s.addr)} ${s.size}`;
	case 'save':
		if (!/^[\w.-]+$/.test(s.name)) throw new Error(`bad file name ${s.name} in a save step`);
		return `save ${expr(s.fd)} ${s.len} ${s.name} ${s.offset} -- ${what(s.what)}`;
	case 'arm':
		return `arm ${expr(s.fd)} ${expr(s.params)} ${expr(s.src)} ${s.count}` +
			(s.rings !== undefined && s.sqes !== undefined ? ` ${expr(s.rings)} ${expr(s.sqes)}${s.registered ? ' registered' : ''}` : '') + ` -- ${what(s.what)}`;
	case 'free': return `free $${s.v}`;
	}
}

/*
 * The dump/restore programs in their own namespaces, as containers run
 * them: each as the init of a new pid + mount namespace (some with their
 * own forked children), some in pid + mount + net + ipc + uts namespaces
 * together, some as the child of a shell that is the init.  The restore goes into new
 * namespaces, so every task comes back under a new host pid while the
 * images, like CRIU's, hold the pids inside the namespace.
 *
 * For each: the rings every process of the tree holds, as inspect shows
 * them (with thread ids taken inside the namespace), are the same after the
 * restore, and the program then verifies its own state (its header says
 * what) and keeps working.  A ring lost at the restore makes the program
 * crash on its first ring access or fail its checks.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { finishVerified, scratch } from './lib/criu';
import { childrenOf, dumpRestoreNamespaces, nsPidOf, startInNamespaces, type NsOptions } from './lib/pidns';
import { inspectPid, type Truth } from './lib/progs';

interface Case {
	prog: string;
	args?: string[];
	what: string;
	/** What the program prints once it verified itself (default /verified/). */
	pattern?: RegExp;
	/*
	 * The rings change after the restore by design (threads keep
	 * submitting, task work or an SQ thread completes what was pending):
	 * the program's own checks only, as in its own test.
	 */
	busy?: boolean;
}

const PROGRAMS: Case[] = [
	{ prog: 'cr_rw', args: ['--advance', '1000'], what: 'registered files and buffers, eventfd, pending SQEs and CQEs' },
	{ prog: 'cr_fork', what: 'a ring shared with a forked child' },
	{ prog: 'cr_ringonly', what: 'files and an eventfd only the ring holds, registered ring fds' },
	{ prog: 'cr_threads', what: 'SINGLE_ISSUER rings owned by threads, a waiting thread', pattern: /waiter: woken[^]*verified/, busy: true },
	{ prog: 'cr_fdonly', args: ['--flags', '3040', '--extra-cqes', '9', '--thread'], what: 'a REGISTERED_FD_ONLY ring in a second thread' },
	{ prog: 'cr_attach', what: 'two SQPOLL rings sharing one thread' },
	{ prog: 'cr_overflow', args: ['--flags', '3000', '--consume', '1'], what: 'an overflow list on SINGLE_ISSUER|DEFER_TASKRUN' },
	{ prog: 'cr_pbuf', args: ['--flags', '2', '--advance', '100'], what: 'provided buffers on SQPOLL' },
	{ prog: 'cr_regs', args: ['--iowq', '--advance', '300'], what: 'io-wq limits and affinity' },
	{ prog: 'cr_regions', args: ['--pers-next', '--advance', '300'], what: 'personalities and the id allocator' },
	{ prog: 'cr_setups', args: ['--flags', '4002', '--advance', '300'], what: 'NO_MMAP|SQPOLL' },
	{ prog: 'cr_taskwork', args: ['--flags', '3000'], what: 'pending task work on DEFER_TASKRUN', busy: true },
	{ prog: 'cr_eintr', what: 'a thread waiting in io_uring_enter' },
	{ prog: 'cr_unmapped', args: ['--single-issuer'], what: 'registered buffers unmapped after registration' },
	{ prog: 'cr_sqpend', args: ['--flags', '0'], what: 'an idle SQPOLL ring with a published SQE', busy: true },
	{ prog: 'cr_split', what: 'ring mappings split and partly unmapped' },
	{ prog: 'cr_multi', what: 'several busy rings', pattern: /^\d+ verified rounds/, busy: true },
	{ prog: 'cr_combo_chain', args: ['--flags', '3000'], what: 'linked chains, registered ring fd, reaper thread' },
	{ prog: 'cr_combo_sqpoll', what: 'attached SQPOLL rings, MSG_RING, a buffer ring' },
	{ prog: 'cr_combo_direct', args: ['--alloc-hint'], what: 'direct descriptors and resource tags' },
	{ prog: 'cr_combo_fork', what: 'a ring shared with a child, personalities of threads with their own creds' },
	{ prog: 'cr_combo_overflow', what: 'a CQ of 8192 overflowed' },
];

/* Programs worth running in all namespaces at once, and under a shell init (their trees and threads are what pids name). */
const ALL_NS = ['cr_rw', 'cr_fork', 'cr_threads', 'cr_combo_fork', 'cr_fdonly'];
const AS_CHILD = ['cr_rw', 'cr_fork', 'cr_threads'];

/* Every task of the tree under host pid @init, in namespace-pid order. */
function tree(init: number): number[] {
	const out = [init];
	for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
	return out.sort((a, b) => nsPidOf(a) - nsPidOf(b));
}

/*
 * What a restore must bring back, in namespace terms: the kernel object
 * (inode, ctx) and the SQ thread are new by design, host tids differ.
 */
function view(r: Truth): Truth {
	return {
		flags: r.setup_flags, sq_entries: r.sq_entries, cq_entries: r.cq_entries, disabled: r.disabled,
		sq: { head: r.sq.head, tail: r.sq.tail, cached_head: r.sq.cached_head, dropped: r.sq.dropped },
		cq: { head: r.cq.head, tail: r.cq.tail, cached_tail: r.cq.cached_tail, overflow: r.cq.overflow },
		fds: r.fds, mappings: r.mappings, cqes: r.cqes, overflow: r.overflow_cqes, pending: r.pending_sqes,
		slots: r.registered_slots.map((s: Truth) => ({ tid: nsPidOf(s.tid), index: s.index })),
		submitter: r.submitter_tid ? nsPidOf(r.submitter_tid) : null,
		files: r.registered_files.entries.length, buffers: r.registered_buffers.entries.length,
		eventfd: r.eventfd && { fd: r.eventfd.fd, async: r.eventfd.async },
		personalities: r.personalities.map((p: Truth) => p.id),
		sqpoll: r.sqpoll && { cpu: r.sqpoll.cpu, idle_ms: r.sqpoll.idle_ms, shared: r.sqpoll.shared_with.length },
		threads: null,
	};
}

/* The program's own threads: io_uring's (iou-sqp-*, iou-wrk-*) come and go with the kernel's work. */
function appThreads(pid: number): number {
	return readdirSync(`/proc/${pid}/task`).filter((tid) => !readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('iou-')).length;
}

function snapshot(init: number): Truth[] {
	return tree(init).map((pid) => ({
		ns_pid: nsPidOf(pid),
		threads: appThreads(pid),
		rings: (inspectPid(pid).rings as Truth[]).map(view).sort((a, b) => (a.fds[0] ?? -1) - (b.fds[0] ?? -1) || a.sq.tail - b.sq.tail),
	}));
}

function where(opts: NsOptions): string {
	return `${opts.asChild ? 'as the child of a shell init' : 'as pid-namespace init'} in ${opts.allNamespaces ? 'pid+mount+net+ipc+uts' : 'pid+mount'} namespaces`;
}

function run(c: Case, opts: NsOptions): void {
	t.test(`${c.prog} ${where(opts)}: ${c.what}`, async (t) => {
		const s = scratch(t);
		const p = await startInNamespaces(t, s, c.prog, c.args ?? [], opts);
		const before = c.busy ? null : snapshot(p.init);
		if (before) t.ok(before.some((x) => x.rings.length), 'inspect sees the rings');
		const r = await dumpRestoreNamespaces(t, s, p);
		if (!r) return;
		if (before) t.same(snapshot(r.init), before, 'every process holds the same rings after the restore');
		await finishVerified(t, s, c.prog, r.prog, c.pattern);
	});
}

for (const c of PROGRAMS) run(c, {});
for (const c of PROGRAMS.filter((x) => ALL_NS.includes(x.prog))) run(c, { allNamespaces: true });
for (const c of PROGRAMS.filter((x) => AS_CHILD.includes(x.prog))) run(c, { asChild: true });

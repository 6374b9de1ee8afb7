/*
 * io-wq settings.  IOWQ_MAX_WORKERS records the limits on the ring and
 * applies them to the calling task's io-wq; IOWQ_AFF sets the calling
 * task's io-wq CPU mask.  Both run in the plan's task, the ring's owner,
 * before ENABLE, when no restriction applies yet.
 */
import { cpus } from 'node:os';
import type { RingPlan } from '../ring-plan';
import { REGISTER } from '../../uring/abi';


/* The kernel's cpumask size for IOWQ_AFF is bytes; one bit per CPU. */
function cpuMask(list: number[]): Buffer {
	const bytes = Math.max(8, Math.ceil((Math.max(...list) + 1) / 64) * 8);
	const mask = Buffer.alloc(bytes);
	for (const cpu of list) mask[cpu >> 3] |= 1 << (cpu & 7);
	return mask;
}

function planMaxWorkers(p: RingPlan): void {
	const limits = p.s.iowq_max_workers;
	if (!limits) return;
	const arg = Buffer.alloc(8);
	arg.writeUInt32LE(limits[0], 0);
	arg.writeUInt32LE(limits[1], 4);
	p.register('register', REGISTER.IOWQ_MAX_WORKERS, p.put(arg), 2, `io-wq worker limits ${limits.join('/')}`);
}

/* os.cpus() reads /proc/cpuinfo each call: once per restore, not once per ring */
let cpusSeen = 0;
const cpuCount = (): number => (cpusSeen ||= cpus().length);

/*
 * A mask covering every CPU is what a fresh io-wq gets anyway (no cpuset
 * narrows it on this host): registering it would only add a way to fail.
 */
function planAffinity(p: RingPlan): void {
	const list = p.s.iowq_affinity;
	if (!list || list.length === 0) return;
	const all = cpuCount();
	if (list.length === all && list.every((c, i) => c === i)) return;
	const mask = cpuMask(list);
	p.register('register', REGISTER.IOWQ_AFF, p.put(mask), mask.length, `io-wq CPU affinity ${list.join(',')}`);
}

export function planIowq(p: RingPlan): void {
	planMaxWorkers(p);
	planAffinity(p);
}

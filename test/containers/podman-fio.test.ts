/*
 * fio (Debian's, ioengine=io_uring, crc32c verify) in a podman container,
 * with runc and with crun: `podman container checkpoint` in the middle of
 * a rate-limited random-write job, `podman container restore`, and the
 * container must finish with fio's own verify pass and an independent
 * `fio --verify_only` pass both clean (exit 0, err=0 for the job).
 *
 * The container runs /bin/sh -c 'fio ... && fio ... --verify_only' with
 * the job file in the container's own /work (its overlay rootfs).  Two
 * jobs: --thread with fixed files and buffers, and fio's default process
 * mode (the job in a forked child, its state in SysV shared memory of the
 * container's IPC namespace).
 */
import t, { type Test } from 'tap';
import { scratch, waitFor } from '../lib/criu';
import { ringFds, submittedTotal, which } from '../lib/apps';
import { type Runtime, RUNTIMES, describeCriuRun, podmanSetup } from '../lib/podman';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const FIO = which('fio');

/* 32 MiB of 4 KiB random writes at 2 MiB/s: about 16 s of writing, so the
 * freeze lands mid-job even on a busy machine (podman, runc and CRIU start,
 * and the plugin's bounded wait for in-flight requests, take a few seconds
 * before the freeze; with 8 s of writing the job had once ended by then). */
const COMMON = ['--name=c', '--filename=/work/f1', '--ioengine=io_uring', '--rw=randwrite', '--bs=4k', '--iodepth=16',
	'--size=32M', '--verify=crc32c'];

interface FioCase {
	what: string;
	opts: string[];
}

const CASES: FioCase[] = [
	{ what: '--thread --fixedbufs --registerfiles', opts: ['--thread', '--fixedbufs', '--registerfiles'] },
	/* the job in a forked child; fio keeps its job state in SysV shared memory (the container's IPC namespace) */
	{ what: 'process mode (job in a forked child)', opts: [] },
];

const q = (args: string[]): string => args.map((a) => `'${a}'`).join(' ');
const script = (job: string[]): string =>
	`fio ${q(job)} --rate=2m && echo FIO-WRITE-DONE && fio ${q(job)} --verify_only && echo FIO-VERIFY-DONE`;

/** Problems in fio's output: a job with err != 0, a verify complaint, or a missing phase. */
function fioProblems(out: string): string[] {
	const problems: string[] = [];
	const errs = [...out.matchAll(/err=\s*(-?\d+)/g)].map((m) => Number(m[1]));
	if (errs.length !== 2) problems.push(`expected 2 fio reports (write, verify_only), found ${errs.length}`);
	if (errs.some((e) => e !== 0)) problems.push(`a job reported err=${errs.find((e) => e !== 0)}`);
	for (const l of out.split('\n')) if (/verify: bad|verify failed|crc32c: verify/i.test(l)) problems.push(l.trim());
	if (!/FIO-WRITE-DONE/.test(out)) problems.push('the write phase did not finish cleanly');
	if (!/FIO-VERIFY-DONE/.test(out)) problems.push('the verify_only phase did not finish cleanly');
	return problems;
}

async function fioCase(t: Test, runtime: Runtime, fc: FioCase): Promise<void> {
	const pm = await podmanSetup(t, scratch(t), runtime, { bins: [FIO!] });
	const c = await pm.run(t, ['/bin/sh', '-c', script([...COMMON, ...fc.opts])]);
	const pid = await c.hostPid();
	t.ok(pid > 0, `the container runs (host pid ${pid})`);
	await waitFor(() => ringFds(pid) >= 1, 'fio to set up its ring', 30_000);
	/* some writes done (half a second's worth at 2 MiB/s), most still to come */
	await waitFor(() => submittedTotal(pid) >= 256, 'fio to submit 256 requests through its ring', 30_000);
	t.notMatch((await c.logs()).stdout, /FIO-WRITE-DONE/, 'fio is still writing at the checkpoint');
	const ck = await c.checkpoint(['--keep']);
	if (!t.equal(ck.code, 0, describeCriuRun(`${runtime} fio ${fc.what} checkpoint`, ck))) return;
	t.match(ck.log, /io_uring: process \d+: 1 ring\(s\) checkpointed/, 'dump.log: the plugin checkpointed fio\'s ring');
	const rs = await c.restore(['--keep']);
	if (!t.equal(rs.code, 0, describeCriuRun(`${runtime} fio ${fc.what} restore`, rs))) return;
	t.match(rs.log, /io_uring: plugin finished for restore \(ret 0\)/, 'restore.log: the plugin restored without error');
	let code: number;
	try {
		code = await c.exitCode(120_000);
	} catch (e) {
		t.fail(`fio did not finish after the restore: ${(e as Error).message}`);
		return;
	}
	const { stdout, stderr } = await c.logs();
	t.equal(code, 0, `the container exited 0 (stderr: ${stderr.trim().slice(0, 300)})`);
	t.same(fioProblems(stdout), [], 'fio reports no error, its verify and an independent --verify_only pass are clean');
}

if (!FIO) {
	/* install-deps.sh installs fio: missing means a broken setup, not a reason to skip */
	t.fail('fio is not installed (scripts/install-deps.sh installs it)');
} else {
	for (const runtime of RUNTIMES)
		for (const fc of CASES)
			t.test(`${runtime}: fio ${fc.what} (io_uring, crc32c verify) checkpointed mid-write in a container`, (t) => fioCase(t, runtime, fc));
}

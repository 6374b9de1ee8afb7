/*
 * `criu-uring check`: can this machine checkpoint io_uring?
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { bpfAvailable, captureBpf, MISSING } from '../capture/bpf';
import { captureGaps } from '../capture/gaps';
import { loadNative } from '../native';
import { kernelFeatures, type KernelFeatures } from '../uring/features';
import { SETUP_FLAGS } from '../uring/flags';
import { emptyParams, encodeParams } from '../uring/params';
import { CRIU_BIN, INSTALLED, PLUGIN_SO } from '../util/paths';

/* what to do about a missing piece, in a checkout or an installed copy */
const REMEDY = INSTALLED ? 'the installation is incomplete: run make install again' : 'run npm run build';

export interface CheckResult { name: string; ok: boolean; detail: string }

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
	try {
		return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 }) };
	} catch (e) {
		const err = e as { stdout?: string; stderr?: string; message: string };
		return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message };
	}
}

function checkKernel(): CheckResult {
	const f = kernelFeatures();
	const flags = SETUP_FLAGS.filter((_, bit) => f.setup & (1 << bit)).length;
	const detail = f.io_uring
		? `Linux ${f.release}: io_uring accepts ${flags} of ${SETUP_FLAGS.length} setup flags, ${f.opcodes.size} opcodes`
		: `Linux ${f.release}: ${f.why}`;
	return { name: 'kernel', ok: f.io_uring, detail };
}

function checkIoUring(): CheckResult {
	let disabled = 0;
	try {
		disabled = Number(readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8'));
	} catch {
		/* older kernels lack the sysctl: enabled */
	}
	const ok = disabled === 0;
	return { name: 'io_uring', ok, detail: ok ? 'enabled' : `kernel.io_uring_disabled = ${disabled}` };
}

function checkBpf(): CheckResult {
	const btf = existsSync('/sys/kernel/btf/vmlinux');
	if (!btf) return { name: 'bpf', ok: false, detail: 'no BTF at /sys/kernel/btf/vmlinux: inspect falls back to /proc' };
	const b = bpfAvailable();
	return { name: 'bpf', ok: b.ok, detail: b.ok ? 'BTF present, iterators load' : `${b.why}: inspect falls back to /proc` };
}

function checkCriu(): CheckResult {
	if (!existsSync(CRIU_BIN)) return { name: 'criu', ok: false, detail: `${CRIU_BIN} missing: ${REMEDY}` };
	const v = run(CRIU_BIN, ['--version']);
	const version = /Version:\s*(\S+)/.exec(v.out)?.[1] ?? 'unknown version';
	const c = run(CRIU_BIN, ['check']);
	const good = c.ok && /Looks good/.test(c.out);
	/* a log message of criu-patches/0002: stock CRIU cannot get past ring mappings */
	const patched = readFileSync(CRIU_BIN).includes('is owned by a plugin');
	const ok = good && patched;
	const why = !good ? c.out.trim().split('\n').pop() : patched ? 'criu check looks good, io_uring patches applied' :
		'this CRIU lacks the criu-patches/ series (stock CRIU refuses io_uring mappings)';
	return { name: 'criu', ok, detail: `${CRIU_BIN} ${version}: ${why}` };
}

function checkPlugin(): CheckResult {
	if (!existsSync(PLUGIN_SO)) return { name: 'plugin', ok: false, detail: `${PLUGIN_SO} missing: ${REMEDY}` };
	const nm = run('nm', ['-D', '--defined-only', PLUGIN_SO]);
	const ok = nm.ok && /\bCR_PLUGIN_DESC\b/.test(nm.out);
	return { name: 'plugin', ok, detail: ok ? `${PLUGIN_SO} exports CR_PLUGIN_DESC` : `${PLUGIN_SO} does not export CR_PLUGIN_DESC` };
}

/** One io_uring feature: does this kernel have it, and can a checkpoint keep it? */
export interface FeatureRow {
	feature: string;
	kernel: boolean;
	/** 'yes': checkpointed and restored; 'refused': a dump of a process using it fails; 'absent': the kernel lacks it */
	checkpoint: 'yes' | 'refused' | 'absent';
	why?: string;
}

/* register-side features: name, does the kernel have it, the MISSING bits the capture needs for it */
function registerRows(f: KernelFeatures): [string, boolean, number[], string?][] {
	const r = f.register;
	const msgOrNop = r.SEND_MSG_RING && f.nop_inject;
	return [
		['registered files (sparse, tags)', r.FILES2, [0]],
		['file allocation range', r.FILE_ALLOC_RANGE, [15]],
		['registered buffers (sparse, tags)', r.BUFFERS2, [1]],
		['registered buffers unmapped after registration', r.BUFFERS2, [1],
			r.CLONE_BUFFERS ? undefined : 'reading their pinned pages needs IORING_REGISTER_CLONE_BUFFERS'],
		['eventfd', r.EVENTFD, [13]],
		['personalities', r.PERSONALITY, [3]],
		['restrictions', r.RESTRICTIONS, [4]],
		['io-wq limits and affinity', r.IOWQ_MAX_WORKERS, [11]],
		['registered ring fds', r.RING_FDS, []],
		['provided buffer rings', r.PBUF_RING, [2]],
		['buffer rings in kernel memory (IOU_PBUF_RING_MMAP)', f.pbuf_mmap, [2]],
		['incremental buffer rings (IOU_PBUF_RING_INC)', f.pbuf_inc, [2]],
		['legacy provided buffers', f.opcodes.has(31), [2]],
		['NAPI busy poll', r.NAPI, [5]],
		['registered clock', r.CLOCK, [6]],
		['memory regions, wait-argument regions', r.MEM_REGION, [7, 17]],
		['CQ overflow list', true, [],
			msgOrNop ? undefined : 'posting CQEs at restore needs IORING_REGISTER_SEND_MSG_RING and IORING_NOP_INJECT_RESULT'],
	];
}

/* setup flags whose capture needs a field: SINGLE_ISSUER -> submitter (14), CQE_MIXED (18) */
const FLAG_MISSING: Record<string, number[]> = { SINGLE_ISSUER: [14], DEFER_TASKRUN: [14], CQE_MIXED: [18], SQPOLL: [12] };

/* The capture's `unavailable` words on this kernel, from a ring of our own. */
function selfGaps(): { ok: boolean; why?: string; gaps: string[] } {
	const b = bpfAvailable();
	if (!b.ok) return { ok: false, why: `BPF capture unavailable (${b.why})`, gaps: [] };
	const p = emptyParams();
	let fd = -1;
	try {
		fd = loadNative().ioUringSetup(1, encodeParams(p));
		return { ok: true, gaps: captureGaps(captureBpf(process.pid).unavailable) };
	} catch (e) {
		return { ok: false, why: (e as Error).message, gaps: [] };
	} finally {
		if (fd >= 0) loadNative().close(fd);
	}
}

/** The feature table of `criu-uring check` for the running kernel. */
function featureTable(): FeatureRow[] {
	const f = kernelFeatures();
	const self = selfGaps();
	const row = (feature: string, kernel: boolean, bits: number[], why?: string): FeatureRow => {
		if (!kernel) return { feature, kernel, checkpoint: 'absent' };
		if (!self.ok) return { feature, kernel, checkpoint: 'refused', why: self.why };
		const gaps = bits.map((b) => MISSING[b]).filter((w) => self.gaps.includes(w));
		if (gaps.length) return { feature, kernel, checkpoint: 'refused', why: `the capture cannot read ${gaps.join(', ')} on this kernel` };
		return why ? { feature, kernel, checkpoint: 'refused', why } : { feature, kernel, checkpoint: 'yes' };
	};
	return [
		...SETUP_FLAGS.map((name, bit) => row(`IORING_SETUP_${name}`, (f.setup & (1 << bit)) !== 0, FLAG_MISSING[name] ?? [])),
		...registerRows(f).map(([name, has, bits, why]) => row(name, has, bits, why)),
	];
}

function printTable(rows: FeatureRow[]): void {
	const w = Math.max(...rows.map((r) => r.feature.length));
	process.stdout.write(`\n${'io_uring feature'.padEnd(w)}  kernel  checkpoint\n`);
	for (const r of rows) {
		const cp = r.checkpoint === 'refused' ? `refused: ${r.why}` : r.checkpoint === 'absent' ? '-' : 'yes';
		process.stdout.write(`${r.feature.padEnd(w)}  ${(r.kernel ? 'yes' : 'no').padEnd(6)}  ${cp}\n`);
	}
}

function checkAll(): CheckResult[] {
	return [checkKernel(), checkIoUring(), checkBpf(), checkCriu(), checkPlugin()];
}

export function runCheck(opts: { json?: boolean; help?: boolean }): number {
	const results = checkAll();
	const ok = results.every((r) => r.ok);
	const features = featureTable();
	if (opts.json) {
		process.stdout.write(JSON.stringify({ ok, kernel: kernelFeatures().release, checks: results, features }, null, 2) + '\n');
	} else {
		for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(8)} ${r.detail}\n`);
		process.stdout.write(ok ? 'io_uring checkpoint/restore is usable here.\n' : 'Something is missing: see FAIL lines.\n');
		printTable(features);
	}
	return ok ? 0 : 1;
}

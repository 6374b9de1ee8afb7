/*
 * `criu-uring check`: can this machine checkpoint io_uring?
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { bpfAvailable } from '../capture/bpf';
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
	const [maj, min] = release().split('.').map(Number);
	const ok = maj > 6 || (maj === 6 && min >= 1);
	return { name: 'kernel', ok, detail: `Linux ${release()}${ok ? '' : ' (needs 6.1 or newer)'}` };
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

function checkAll(): CheckResult[] {
	return [checkKernel(), checkIoUring(), checkBpf(), checkCriu(), checkPlugin()];
}

export function runCheck(opts: { json?: boolean; help?: boolean }): number {
	const results = checkAll();
	const ok = results.every((r) => r.ok);
	if (opts.json) {
		process.stdout.write(JSON.stringify({ ok, checks: results }, null, 2) + '\n');
	} else {
		for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(8)} ${r.detail}\n`);
		process.stdout.write(ok ? 'io_uring checkpoint/restore is usable here.\n' : 'Something is missing: see FAIL lines.\n');
	}
	return ok ? 0 : 1;
}

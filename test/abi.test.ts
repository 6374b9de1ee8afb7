/*
 * src/uring/abi.ts (and the other copies of io_uring ABI values) against
 * include/linux/io_uring.h, parsed here, and the syscall tables against
 * the system's unistd headers.  Runs without root.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as A from '../src/uring/abi';
import * as G from '../src/image/geometry';
import { OPCODES } from '../src/uring/opcodes';
import { SETUP_FLAGS } from '../src/uring/flags';
import { ROOT } from '../src/util/paths';

/** Every #define and enum entry of a C header with a constant integer value. */
function parseHeader(text: string, into = new Map<string, bigint>()): Map<string, bigint> {
	const src = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
	const evaluate = (expr: string): bigint | null => {
		const js = expr
			.replace(/\(__u(8|16|32|64)\)/g, '')
			.replace(/\b(0x[0-9a-fA-F]+|\d+)(ull|ul|u|ll|l)?\b/gi, (_m, n: string) => `${BigInt(n)}n`)
			.replace(/\b[A-Za-z_]\w*\b/g, (name) => (into.has(name) ? `(${into.get(name)}n)` : '@'));
		if (js.includes('@') || !/^[\s\d n()<>|&~+\-*]+$/.test(js)) return null;
		try {
			return (new Function(`return (${js});`) as () => bigint)();
		} catch {
			return null;
		}
	};
	/* in source order, again until nothing new is learned: a value may name one defined later */
	for (let pass = 0, before = -1; pass < 5 && into.size !== before; pass++) {
		before = into.size;
		for (const m of src.matchAll(/^#define\s+(\w+)\s+(.+)$|enum\s*\w*\s*\{([^}]*)\}/gm)) {
			if (m[1] !== undefined) {
				const v = evaluate(m[2]);
				if (v !== null) into.set(m[1], v);
				continue;
			}
			let next: bigint | null = 0n;
			for (const item of m[3].split(',')) {
				const e = /^\s*(\w+)\s*(?:=\s*(.+?))?\s*$/.exec(item);
				if (!e) continue;
				const v: bigint | null = e[2] === undefined ? next : evaluate(e[2]);
				next = v === null ? null : v + 1n;
				if (v !== null) into.set(e[1], v);
			}
		}
	}
	return into;
}

const header = parseHeader(readFileSync(join(ROOT, 'include/linux/io_uring.h'), 'utf8'));
const big = (v: number | bigint): bigint => (typeof v === 'bigint' ? v : BigInt(v));

/* Each group of abi.ts, its header prefix, and whether every header name with that prefix must be in it. */
const GROUPS: [string, Readonly<Record<string, number | bigint>>, string, boolean][] = [
	['SETUP', A.SETUP, 'IORING_SETUP_', true],
	['OFF', A.OFF, 'IORING_OFF_', false],
	['SQ', A.SQ, 'IORING_SQ_', true],
	['CQ', A.CQ, 'IORING_CQ_', true],
	['OP', A.OP, 'IORING_OP_', true],
	['ENTER', A.ENTER, 'IORING_ENTER_', true],
	['REGISTER', A.REGISTER, 'IORING_REGISTER_', false],
	['UNREGISTER', A.UNREGISTER, 'IORING_UNREGISTER_', false],
	['IOSQE', A.IOSQE, 'IOSQE_', false],
	['CQE_F', A.CQE_F, 'IORING_CQE_F_', true],
	['ASYNC_CANCEL', A.ASYNC_CANCEL, 'IORING_ASYNC_CANCEL_', true],
	['RESTRICTION', A.RESTRICTION, 'IORING_RESTRICTION_', false],
	['IOU_PBUF_RING', A.IOU_PBUF_RING, 'IOU_PBUF_RING_', true],
	['TIMEOUT', A.TIMEOUT, 'IORING_TIMEOUT_', false],
	['POLL', A.POLL, 'IORING_POLL_', true],
	['RECVSEND', A.RECVSEND, 'IORING_RECVSEND_', true],
	['ACCEPT', A.ACCEPT, 'IORING_ACCEPT_', true],
];

t.test('the header parses', async (t) => {
	t.ok(header.size > 250, `${header.size} constants read`);
	t.equal(header.get('IORING_SETUP_CQE_MIXED'), 1n << 18n, 'a shifted #define');
	t.equal(header.get('IORING_REGISTER_QUERY'), 35n, 'an enum entry');
	t.equal(header.get('IOSQE_CQE_SKIP_SUCCESS'), 64n, 'a #define naming an enum entry');
});

for (const [name, group, prefix, complete] of GROUPS) {
	t.test(`${name} is ${prefix}*`, async (t) => {
		for (const [k, v] of Object.entries(group))
			t.equal(header.get(prefix + k), big(v), `${name}.${k} = ${prefix}${k}`);
		if (!complete) return;
		const known = new Set(Object.keys(group));
		const missing = [...header.keys()].filter((h) => h.startsWith(prefix) && !known.has(h.slice(prefix.length)) && h !== `${prefix}LAST`);
		t.same(missing, [], `every ${prefix}* of the header is in ${name}`);
	});
}

t.test('single constants', async (t) => {
	t.equal(big(A.RSRC_REGISTER_SPARSE), header.get('IORING_RSRC_REGISTER_SPARSE'), 'RSRC_REGISTER_SPARSE');
	t.equal(big(A.NAPI_REGISTER_OP), header.get('IO_URING_NAPI_REGISTER_OP'), 'NAPI_REGISTER_OP');
	t.equal(big(A.MEM_REGION.TYPE_USER), header.get('IORING_MEM_REGION_TYPE_USER'), 'MEM_REGION.TYPE_USER');
	t.equal(big(A.MEM_REGION.REG_WAIT_ARG), header.get('IORING_MEM_REGION_REG_WAIT_ARG'), 'MEM_REGION.REG_WAIT_ARG');
	t.equal(big(A.NR_REQUEST_OPCODES), header.get('IORING_OP_LAST'), 'NR_REQUEST_OPCODES = IORING_OP_LAST');
	t.equal(big(A.NR_REGISTER_OPCODES), header.get('IORING_REGISTER_LAST'), 'NR_REGISTER_OPCODES = IORING_REGISTER_LAST');
});

t.test('opcode and flag name tables follow the header', async (t) => {
	t.equal(BigInt(OPCODES.length), header.get('IORING_OP_LAST'), 'one name per request opcode');
	OPCODES.forEach((op, i) => t.equal(header.get(`IORING_OP_${op}`), BigInt(i), `OPCODES[${i}] is IORING_OP_${op}`));
	SETUP_FLAGS.forEach((f, bit) => t.equal(header.get(`IORING_SETUP_${f}`), 1n << BigInt(bit), `SETUP_FLAGS[${bit}] is IORING_SETUP_${f}`));
	const all = Object.values(A.SETUP).reduce((a, b) => a | b, 0);
	t.equal(G.SUPPORTED_SETUP_FLAGS, all, 'SUPPORTED_SETUP_FLAGS is every setup flag');
	t.equal(BigInt(G.IOSQE_ALL_FLAGS), Object.values(A.IOSQE).reduce((a, b) => a | BigInt(b), 0n), 'IOSQE_ALL_FLAGS is every SQE flag');
});

t.test('syscall numbers', async (t) => {
	for (const arch of Object.keys(A.SYSCALLS) as (keyof typeof A.SYSCALLS)[]) {
		for (const call of ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] as const)
			t.equal(big(A.SYSCALLS[arch][call]), header.get(`__NR_${call}`), `${arch} ${call} as in io_uring.h`);
	}
	const x64 = parseHeader(readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8'));
	const generic = parseHeader(readFileSync('/usr/include/asm-generic/unistd.h', 'utf8').replace(/__NR3264_/g, '__NR_'));
	for (const [call, nr] of Object.entries(A.SYSCALLS.x64)) t.equal(big(nr), x64.get(`__NR_${call}`), `x64 ${call} = ${nr}`);
	for (const [call, nr] of Object.entries(A.SYSCALLS.arm64)) t.equal(big(nr), generic.get(`__NR_${call}`), `arm64 ${call} = ${nr}`);
	t.same(Object.keys(A.SYSCALLS.arm64), Object.keys(A.SYSCALLS.x64), 'both tables name the same calls');
	t.equal(A.NR, A.SYSCALLS.x64, 'plans use the x86_64 table (the injector is x86_64 only)');
});

/* plugin-c/blob/ring_abi.h: the freestanding in-task blob's own copy; every RING_* must equal its IORING_* */
t.test('plugin-c/blob/ring_abi.h matches the header', async (t) => {
	const blob = parseHeader(readFileSync(join(ROOT, 'plugin-c/blob/ring_abi.h'), 'utf8'));
	const RENAME: Record<string, string> = {
		RING_NR_SETUP: '__NR_io_uring_setup', RING_NR_ENTER: '__NR_io_uring_enter', RING_NR_REGISTER: '__NR_io_uring_register',
		RING_SQE_CQE_SKIP_SUCCESS: 'IOSQE_CQE_SKIP_SUCCESS', RING_MSG_DATA: 'IORING_MSG_DATA',
	};
	let n = 0;
	for (const [name, v] of blob) {
		if (!name.startsWith('RING_')) continue;
		const theirs = RENAME[name] ?? `IO${name}`;
		t.equal(v, header.get(theirs), `${name} = ${theirs}`);
		n++;
	}
	t.ok(n >= 25, `${n} values checked`);
});

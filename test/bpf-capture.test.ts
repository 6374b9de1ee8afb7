/*
 * The BPF capture: record decoding (on a recorded sample and against the C
 * layouts), content decoding, and captureBpf/listBpf on a live program with
 * large tables and the state only BPF can see (test/progs/bpf_features.c).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { C_STRUCTS, decodeRecords, recordFields, recordSize, REC } from '../src/capture/bpf-records';
import { decodeCqes, decodeSqe, filePath, fileType } from '../src/capture/bpf-decode';
import { bpfAvailable, captureBpf, listBpf } from '../src/capture/bpf';
import { expectRing, REPO, startProg } from './lib/progs';

/*
 * runIter() output for a liburing program: one CQSIZE ring (8/64) on fd 3,
 * 3 unconsumed NOP CQEs (user_data 100-102), registered files [pipe read
 * end (fd 4), /etc/hostname (fd 6), empty], one 4096-byte registered
 * buffer, eventfd fd 7, and a READ of the pipe (user_data 7) armed for poll.
 */
/* (the ring record was extended with file_alloc_hint = 0 when that field was added) */
const SAMPLE =
	'AQAAADAAAABhDAAAAAAAAEBoJAqBiP//AAAAAAAAAAADAAAAAAAAAACAAAC2IQAAAQAAADAAAABhDAAAAQAAAABpJAqBiP//AAAA' +
	'AAAAAABbwSAAAAAAAAGAAACkgQAAAQAAADAAAABhDAAAAgAAAECLBlWBiP//AAAAAAAAAAB9QiEAAAAAAAGAAACkgQAAAQAAADAA' +
	'AABhDAAAAwAAAABvJAqBiP//AEjZSYGI//91FgEAAAAAAAIAAACAAQEAAgAAAEABAAAASNlJgYj//3UWAQAAAAAAYQwAAAEAAAAI' +
	'AAAAAgAAAP////8AAAAABAAAAAQAAAAEAAAACAAAAAcAAAAAAAAAAAAAAAAAAAAAAAAAAwAAAAMAAABAAAAAPwAAAAAAAAAAAAAA' +
	'AAAAAAEAAAAAAAAAAAAAAPoAAAADAAAAAQAAAAAAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD/AAAAAAAAAAAAAAAAAAAAAAAA' +
	'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP//////////AAAAAAAAAABAIt1JgYj//wAA' +
	'AAAAAAAAAJD3BYGI//9AlPcFgYj//wCwvgWBiP//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAAOAAAAABI2UmB' +
	'iP//AAAAAAAAAABkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAA4AAAAAEjZSYGI//8BAAAAAAAAAGUAAAAAAAAA' +
	'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAADgAAAAASNlJgYj//wIAAAAAAAAAZgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
	'AAAAAAAFAAAAkAAAAABI2UmBiP//AAAAAAAAAACAZyQKgYj//wDGVkSBiP//AAAAAAAAAAB2FgEAAAAAAAAAAAAAAAAAgBEAAEVQ' +
	'SVAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAF' +
	'AAAAkAAAAABI2UmBiP//AQAAAACAAAAAZiQKgYj//wAAAAAAAAAAAAAAAAAAAABkAgAAAAAAAAAAAAAAAAAA7YEAAFPvAAAAAAAA' +
	'CAAAAGhvc3RuYW1lAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGAAAAYAAA' +
	'AABI2UmBiP//AQAAAAAAAAAIAAAAAAAAAGhvc3RuYW1lAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
	'AAAAAAAAAAAAAAAAAAAGAAAAYAAAAABI2UmBiP//AQAAAAEAAAADAAAAAAAAAGV0YwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
	'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAHAAAAMAAAAABI2UmBiP//oPDyLJZVAAAAAAAAAAAAAAAAAAAAEAAA' +
	'AAAAAAAAAAALAAAAOAAAAABI2UmBiP//AHUHSYGI//8HAAAAAAAAAABAQCEBAQAABAAAAAEAAAAWAAAAAAAAAAEAAAAwAAAAYQwA' +
	'AAQAAACAZyQKgYj//wDGVkSBiP//dhYBAAAAAAAAAAAAgBEAAAEAAAAwAAAAYQwAAAUAAADAZiQKgYj//wDGVkSBiP//dhYBAAAA' +
	'AAABAAAAgBEAAAEAAAAwAAAAYQwAAAYAAAAAZiQKgYj//wAAAAAAAAAAZAIAAAAAAAAAgAAA7YEAAAEAAAAwAAAAYQwAAAcAAACA' +
	'ZCQKgYj//0Ai3UmBiP//DgQAAAAAAAACAAAAgAEAAAEAAAAwAAAAYQwAAAoAAABA2KsFgYj//wAAAAAAAAAAAwAAAAAAAAAAgAAA' +
	'tiEAAAEAAAAwAAAAYQwAAPsAAACAhAZVgYj//4DBVkSBiP//2xUBAAAAAAABAAAAgBEAAA4AAABgAAAAYQwAAGEMAAB0AAAAAAAA' +
	'AAAAAAAAAAAAAAFAAAEAAAABAAAACAAAAG14AQAAAAAAAAAAAAAAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0A' +
	'AABAAAAAAEjZSYGI//91FgEAAAAAAAAADrhBfwAAABAOuEF/AAAAAAEAAAAAALsABBAAAAAAYQwAAAAAAAANAAAAQAAAAABI2UmB' +
	'iP//dRYBAAAAAAAAEA64QX8AAAAgDrhBfwAAAAAAAAAAAAC7AAQQAAAAAGEMAAAAAAAA';
t.test('decodes a recorded runIter sample', async (t) => {
	const r = decodeRecords(Buffer.from(SAMPLE, 'base64'));
	t.equal(r.rings.length, 1, 'one ring record');
	const ring = r.rings[0];
	t.equal(ring.ino, 71285n, 'ring inode');
	t.equal(ring.setup_flags, 8, 'CQSIZE');
	t.same([ring.sq_entries, ring.cq_entries, ring.sq_mask, ring.cq_mask], [8, 64, 7, 63], 'sizes and masks');
	t.same([ring.sq_head, ring.sq_tail, ring.cached_sq_head], [4, 4, 4], 'SQ indices');
	t.same([ring.cq_head, ring.cq_tail, ring.cached_cq_tail], [0, 3, 3], 'CQ indices');
	t.same([ring.nr_files, ring.nr_bufs], [3, 1], 'table sizes');
	t.equal(ring.hz, 250, 'CONFIG_HZ from kconfig');
	t.not(ring.evfd_ctx, 0n, 'eventfd registered');
	const uringFds = r.files.filter((f) => f.is_uring).map((f) => f.fd);
	t.same(uringFds, [3], 'fd 3 is the only io_uring fd');
	t.same(r.cqes.map((c) => c.data.readBigUInt64LE(0)), [100n, 101n, 102n], 'CQE user_data in CQ order');
	t.same(r.rfiles.map((f) => f.index), [0, 1], 'occupied file slots');
	t.equal(r.files.find((f) => f.file === r.rfiles[0].file)?.fd, 4, 'slot 0 is the same open file as fd 4');
	t.equal(r.files.find((f) => f.file === r.rfiles[1].file)?.fd, 6, 'slot 1 is the same open file as fd 6');
	t.same(r.rfileNames.filter((n) => n.index === 1).map((n) => n.name), ['hostname', 'etc'], 'dentry names leaf first');
	t.equal(r.files.find((f) => f.private_data === ring.evfd_ctx)?.fd, 7, 'eventfd matched by eventfd_ctx');
	t.same(r.rbufs.map((b) => b.len), [4096], 'registered buffer');
	t.same(r.reqs.map((q) => [q.opcode, q.user_data, q.fd, q.state]), [[22, 7n, 4, 1]], 'READ armed for poll');
	t.same(r.vmas.map((v) => v.pgoff).sort(), [0n, 65536n], 'rings and SQE mappings (pgoff in pages)');
	t.equal(r.tasks[0].comm, 't', 'task comm');
});

t.test('rejects damaged record streams', async (t) => {
	const good = Buffer.from(SAMPLE, 'base64');
	t.throws(() => decodeRecords(good.subarray(0, good.length - 3)), /bad BPF record size|truncated/, 'truncated stream');
	const bad = Buffer.from(good);
	bad.writeUInt32LE(recordSize(REC.FILE) + 8, 4);
	t.throws(() => decodeRecords(bad), /decoder expects|bad BPF record size/, 'size mismatch is reported');
});

t.test('decoder layouts match bpf/uring_records.h', async (t) => {
	const dir = mkdtempSync(join(tmpdir(), 'bpf-layout-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <stdbool.h>', '#include <linux/types.h>',
		'#include "uring_records.h"', 'int main(void) {'];
	const types = Object.keys(C_STRUCTS).map(Number);
	for (const type of types) {
		const s = C_STRUCTS[type];
		lines.push(`printf("${type} size %zu\\n", sizeof(struct ${s}));`);
		for (const f of recordFields(type))
			lines.push(`printf("${type} ${f.name} %zu\\n", offsetof(struct ${s}, ${f.name}));`);
	}
	lines.push('return 0; }');
	writeFileSync(join(dir, 'layout.c'), lines.join('\n'));
	execFileSync('gcc', ['-I', join(REPO, 'bpf'), '-o', join(dir, 'layout'), join(dir, 'layout.c')]);
	const c = new Map(execFileSync(join(dir, 'layout'), { encoding: 'utf8' }).trim().split('\n').map((l) => {
		const [type, name, value] = l.split(' ');
		return [`${type} ${name}`, Number(value)] as [string, number];
	}));
	for (const type of types) {
		t.equal(recordSize(type), c.get(`${type} size`), `${C_STRUCTS[type]} size`);
		const wrong = recordFields(type).filter((f) => c.get(`${type} ${f.name}`) !== f.offset).map((f) => f.name);
		t.same(wrong, [], `${C_STRUCTS[type]} field offsets`);
	}
});

t.test('SQE and CQE contents', async (t) => {
	const sqe = Buffer.alloc(128);
	sqe.writeUInt8(22, 0); /* READ */
	sqe.writeUInt8(1, 1); /* FIXED_FILE */
	sqe.writeInt32LE(5, 4);
	sqe.writeBigUInt64LE(4096n, 8);
	sqe.writeBigUInt64LE(0xdeadbeef000n, 16);
	sqe.writeUInt32LE(64, 24);
	sqe.writeUInt32LE(0x10, 28);
	sqe.writeBigUInt64LE(0xffffffffffffffffn, 32);
	sqe.writeUInt16LE(3, 40);
	sqe.writeUInt16LE(2, 42);
	sqe.writeUInt8(0xab, 64);
	const d = decodeSqe(6, sqe, 128);
	t.match(d, { index: 6, opcode: 22, opname: 'READ', flags: 1, fd: 5, fixed: true, off: '4096', addr: String(0xdeadbeef000), len: 64, op_flags: 16, user_data: '18446744073709551615', buf_index: 3, personality: 2 });
	t.equal(d.cmd?.length, 128, 'SQE128 second half as hex');
	t.equal(d.cmd?.slice(0, 2), 'ab');
	t.equal(decodeSqe(0, sqe, 64).cmd, undefined, '64-byte SQEs have no cmd');

	const cqe = (pos: number, ud: bigint, res: number, flags: number, e1 = 0n, e2 = 0n) => {
		const b = Buffer.alloc(32);
		b.writeBigUInt64LE(ud, 0); b.writeInt32LE(res, 8); b.writeUInt32LE(flags, 12);
		b.writeBigUInt64LE(e1, 16); b.writeBigUInt64LE(e2, 24);
		return { pos, data: b };
	};
	t.same(decodeCqes([cqe(0, 1n, -11, 0, 5n, 6n)], true, false), [{ user_data: '1', res: -11, flags: 0, extra1: '5', extra2: '6' }], 'CQE32 extras');
	t.same(decodeCqes([cqe(0, 1n, 0, 0, 5n)], false, false), [{ user_data: '1', res: 0, flags: 0 }], '16-byte CQE');
	/* CQE_MIXED: a big CQE at 0xffffffff spans the next position, which is skipped */
	const mixed = decodeCqes([cqe(0xfffffffe, 1n, 0, 0), cqe(0xffffffff, 2n, 0, 1 << 15, 7n, 8n), cqe(0, 99n, 0, 0), cqe(1, 3n, 0, 1 << 5)], false, true);
	t.same(mixed.map((c) => c.user_data), ['1', '2', '3'], 'mixed: second half of a big CQE skipped across wrap');
	t.equal(mixed[1].extra1, '7');
	t.equal(mixed[2].flags, 1 << 5, 'skip fillers are kept');
});

t.test('file types and paths', async (t) => {
	t.equal(fileType({ i_mode: 0o010600, s_magic: 0x50495045, name: '', ino: 9n }), 'pipe');
	t.equal(filePath({ i_mode: 0o010600, s_magic: 0x50495045, name: '', ino: 9n }, []), 'pipe:[9]');
	t.equal(fileType({ i_mode: 0o140777, s_magic: 0x534f434b, name: 'TCP', ino: 4n }), 'socket');
	t.equal(filePath({ i_mode: 0o140777, s_magic: 0x534f434b, name: 'TCP', ino: 4n }, []), 'socket:[4]');
	t.equal(fileType({ i_mode: 0o600, s_magic: 0x09041934, name: '[eventfd]', ino: 1n }), 'eventfd');
	t.equal(filePath({ i_mode: 0o600, s_magic: 0x09041934, name: '[eventfd]', ino: 1n }, []), 'anon_inode:[eventfd]');
	t.equal(fileType({ i_mode: 0o100644, s_magic: 0xef53, name: 'hostname', ino: 7n }), 'file');
	t.equal(filePath({ i_mode: 0o100644, s_magic: 0xef53, name: 'hostname', ino: 7n }, ['hostname', 'etc']), '/etc/hostname');
	t.equal(fileType({ i_mode: 0o020666, s_magic: 0x1373, name: 'null', ino: 5n }), 'chardev');
});

t.test('captureBpf on a live program', async (t) => {
	const avail = bpfAvailable();
	if (!t.ok(avail.ok, `BPF capture available${avail.why ? ': ' + avail.why : ''}`)) return;
	const prog = await startProg(t, 'bpf_features');
	const got = captureBpf(prog.pid);
	t.equal(got.source, 'bpf');
	t.equal(got.pid, prog.pid);
	t.equal(got.comm, 'bpf_features');
	t.same(got.unavailable, [], 'this kernel has everything the capture reads');
	t.equal(got.rings.length, prog.truth.rings.length, 'every ring');
	for (const want of prog.truth.rings) expectRing(t, got, want);

	const big = got.rings.find((r) => r.inode === prog.truth.rings[0].inode)!;
	t.equal(big.cqes.length, 32768, 'all 32768 unconsumed CQEs');
	t.same(big.cqes[32767], { user_data: '1032767', res: 32767, flags: 0, extra1: '7', extra2: '32767' }, 'last CQE32 with extras');
	t.same(big.cqes.slice(0, 2).map((c) => c.user_data), ['1000000', '1000001'], 'CQ order from head');
	t.same(big.pending_sqes.map((s) => [s.opname, s.user_data, s.cmd?.length]), [['NOP', '42', 128], ['NOP', '43', 128]], 'pending SQE128s');
	t.equal(big.registered_files.entries.length, 3000, 'all 3000 occupied file slots');
	t.same(big.registered_files.alloc_range, [0, 4096], 'allocation range');
	const slot = big.registered_files.entries[2999];
	t.same([slot.index, slot.path, slot.type], [3998, '/dev/null', 'chardev'], 'slot 3998 resolved');
	t.equal(slot.fds.length, 1, 'matched to the /dev/null fd by identity');
	t.equal(big.registered_files.entries.filter((e) => e.index % 4 === 3).length, 0, 'holes stay holes');

	const sqp = got.rings.find((r) => r.inode === prog.truth.rings[2].inode)!;
	t.ok(sqp.sqpoll && sqp.sqpoll.thread_pid && sqp.sqpoll.thread_pid !== prog.pid, 'SQPOLL thread id');

	const summary = listBpf().find((p) => p.pid === prog.pid);
	t.same(summary, { pid: prog.pid, comm: 'bpf_features', rings: 5, registered_files: 3000, registered_buffers: 0, inflight: 4 }, 'listBpf summary');
	t.equal(await prog.stop(), 0, 'program exits cleanly');
});

t.test('captureBpf on a missing process', async (t) => {
	if (!t.ok(bpfAvailable().ok, 'BPF capture available')) return;
	t.throws(() => captureBpf(0x3ffffff0), /does not exist/);
});

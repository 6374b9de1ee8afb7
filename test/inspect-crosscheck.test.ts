/*
 * The BPF capture cross-checked against /proc/PID/fdinfo (the --no-bpf
 * fallback) wherever both show the same thing: geometry, indices, pending
 * SQEs, unconsumed CQEs, the overflow list, registered files and buffers,
 * mappings and fds.  The programs are quiescent, so both views must agree
 * exactly.
 */
import t from 'tap';
import { startProg } from './lib/progs';
import { captureProcess } from '../src/capture';

const PROGS = ['insp_pending', 'insp_overflow', 'insp_files', 'insp_buffers', 'insp_bigidx'];

for (const name of PROGS) {
	t.test(`BPF and fdinfo agree (${name})`, async (t) => {
		const prog = await startProg(t, name, { timeoutMs: 60_000 });
		const bpf = captureProcess(prog.pid);
		const proc = captureProcess(prog.pid, { noBpf: true });
		t.equal(bpf.source, 'bpf');
		t.equal(proc.source, 'fdinfo');
		for (const pr of proc.rings.filter((r) => r.fds.length > 0)) {
			const br = bpf.rings.find((r) => r.inode === pr.inode);
			if (!t.ok(br, `ring ${pr.inode} seen by both`)) continue;
			const at = `ring ${pr.inode}`;
			t.same([br!.sq_entries, br!.cq_entries], [pr.sq_entries, pr.cq_entries], `${at}: sizes`);
			t.same({ ...br!.sq, dropped: 0, flags: 0 }, { ...pr.sq, dropped: 0, flags: 0 }, `${at}: SQ indices`);
			t.same({ ...br!.cq, overflow: 0, flags: 0 }, { ...pr.cq, overflow: 0, flags: 0 }, `${at}: CQ indices`);
			t.same(br!.fds, pr.fds, `${at}: fds`);
			t.same(br!.mappings, pr.mappings, `${at}: mappings`);
			t.same(br!.pending_sqes.map((s) => [s.opname, s.user_data, s.fd, s.flags]),
				pr.pending_sqes.map((s) => [s.opname, s.user_data, s.fd, s.flags]), `${at}: pending SQEs`);
			t.same(br!.cqes, pr.cqes, `${at}: unconsumed CQEs`);
			t.same(br!.overflow_cqes, pr.overflow_cqes, `${at}: overflow list`);
			t.same(br!.registered_files.size, pr.registered_files.size, `${at}: file table size`);
			t.same(br!.registered_files.entries.map((e) => [e.index, e.path]),
				pr.registered_files.entries.map((e) => [e.index, e.path]), `${at}: registered file paths`);
			t.same(br!.registered_buffers.entries.map((e) => [e.index, e.addr, e.len]),
				pr.registered_buffers.entries.map((e) => [e.index, e.addr, e.len]), `${at}: registered buffers`);
		}
		t.equal(await prog.stop(), 0, 'exits cleanly');
	});
}

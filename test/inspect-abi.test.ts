/*
 * include/linux/io_uring.h against the running kernel (insp_abi): the
 * opcode counts, setup/enter/sqe flag masks and features our header
 * defines must be exactly what the kernel reports through REGISTER_QUERY
 * and io_uring_setup.  Sizes and offsets are static asserts in insp_abi.c.
 */
import t from 'tap';
import { inspectAgainstTruth, startProg } from './lib/progs';

t.test('header constants match the running kernel', async (t) => {
	const prog = await startProg(t, 'insp_abi');
	const { kernel, header } = prog.truth;
	t.equal(kernel.query_result, 0, 'REGISTER_QUERY answered');
	for (const k of ['nr_request_opcodes', 'nr_register_opcodes', 'ring_setup_flags', 'sqe_flags', 'enter_flags', 'features'])
		t.equal(header[k], kernel[k], `header ${k} matches the kernel`);
	t.equal(kernel.sq_off_array, 320, 'SQ array offset of an 8-entry ring (facts note)');
	t.equal(kernel.cq_off_cqes, 64, 'CQE offset (facts note)');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('inspect sees the plain ring of insp_abi', async (t) => {
	const { prog } = await inspectAgainstTruth(t, 'insp_abi');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

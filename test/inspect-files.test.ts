/*
 * Registered files and buffers: identity of files opened twice on one
 * path, a file only the ring holds, sparse tables with tags and an
 * allocation range, and a registered buffer whose memory was unmapped.
 */
import t from 'tap';
import { inspectAgainstTruth } from './lib/progs';

t.test('files told apart by identity, not by path (insp_files)', async (t) => {
	const { prog, got } = await inspectAgainstTruth(t, 'insp_files');
	const e = got.rings[0]?.registered_files?.entries ?? [];
	t.not(JSON.stringify(e[0]?.fds), JSON.stringify(e[1]?.fds), 'slot 0 and slot 1 (same path) map to different fds');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('sparse file table with tags and alloc range (insp_files_sparse)', async (t) => {
	const { prog } = await inspectAgainstTruth(t, 'insp_files_sparse');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

t.test('registered buffers, one unmapped (insp_buffers)', async (t) => {
	const { prog } = await inspectAgainstTruth(t, 'insp_buffers');
	t.equal(await prog.stop(), 0, 'exits cleanly');
});

/*
 * readRingMemory() (src/capture/memory.ts) reads a ring's regions through
 * the process's own shared mappings when it has them all, and through a
 * pidfd_getfd() copy of a ring fd otherwise.  Both must give the same
 * bytes.  For test programs whose rings are mapped in every way the
 * capture meets (plain rings, kernel-allocated buffer rings, memory
 * regions, an SQE mapping split and partly unmapped), each ring is read as
 * it is and again without its mappings (the fd path), and the reads are
 * compared; the native calls are counted to see which path ran.
 */
import t from 'tap';
import { captureProcess } from '../src/capture';
import { readRingMemory, type RingMemory } from '../src/capture/memory';
import { loadNative } from '../src/native';
import { startProg } from './lib/progs';

/* How often readRingMemory() copied a ring fd into this process (the fd path). */
function countFdCopies(): { count: () => number } {
	const n = loadNative();
	const real = n.pidfdGetfd.bind(n);
	let copies = 0;
	n.pidfdGetfd = (pidfd: number, fd: number): number => {
		copies++;
		return real(pidfd, fd);
	};
	t.teardown(() => { n.pidfdGetfd = real; });
	return { count: () => copies };
}

const bytes = (m: RingMemory) => ({
	rings: m.rings.toString('hex'), sqes: m.sqes.toString('hex'),
	pbufRings: [...m.pbufRings].map(([bgid, b]) => [bgid, b.toString('hex')]),
	regions: m.regions.map((b) => b.toString('hex')),
});

type Has = 'pbufRings' | 'regions' | null;
const CASES: [string, string, string[], boolean, Has][] = [
	/* what, program, args, read through the mappings, what some ring must have */
	['a plain ring with pending CQEs', 'cr_rw', [], true, null],
	['kernel-allocated buffer rings', 'cr_pbuf', [], true, 'pbufRings'],
	['a kernel-allocated wait-argument region', 'cr_regions', ['--wait-kernel'], true, 'regions'],
	['a wait-argument region in the application\'s memory', 'cr_regions', ['--wait-user'], true, 'regions'],
	['an SQE mapping split and partly unmapped: through the fd', 'cr_split', [], false, null],
];

const copies = countFdCopies();

for (const [what, prog, args, viaMappings, has] of CASES) {
	t.test(`the regions of ${what} read the same both ways`, async (t) => {
		const p = await startProg(t, prog, { args });
		const rings = captureProcess(p.pid).rings.filter((r) => r.fds.length > 0);
		t.ok(rings.length > 0, 'the program has rings with an fd');
		let seen = 0;
		for (const r of rings) {
			const before = copies.count();
			const mapped = readRingMemory(p.pid, r);
			t.equal(copies.count() === before, viaMappings, viaMappings ? 'read through its mappings' : 'read through an fd copy');
			const viaFd = readRingMemory(p.pid, { ...r, mappings: [] });
			t.equal(copies.count(), before + (viaMappings ? 1 : 2), 'the second read copied the fd');
			t.same(bytes(mapped), bytes(viaFd), `ring ${r.inode}: the same bytes both ways`);
			if (has === 'pbufRings') seen += mapped.pbufRings.size;
			if (has === 'regions') seen += mapped.regions.length;
		}
		if (has) t.ok(seen > 0, `some ring has ${has} to read`);
	});
}

/*
 * The bytes of a ring's shared regions (io_rings header + CQEs + SQ array,
 * and the SQE array), read without perturbing the ring: through the
 * process's own shared mappings with process_vm_readv() when it has them
 * all, else through a pidfd_getfd() copy of one of its fds mapped
 * read-only into this helper.
 */
import type { RingState } from './model';
import { loadNative } from '../native';
import { decodeParams, emptyParams, encodeParams, Params, regionSizes } from '../uring/params';
import { OFF, SETUP } from '../uring/abi';

export interface RingMemory {
	params: Params; /* the geometry the kernel reports for these flags and sizes */
	rings: Buffer;
	sqes: Buffer;
	/** Kernel-allocated (IOU_PBUF_RING_MMAP) buffer rings: entries * 16 bytes each, by bgid. */
	pbufRings: Map<number, Buffer>;
	/** Contents of the ring's memory regions, in the order of ring.mem_regions. */
	regions: Buffer[];
}

export class MemoryError extends Error {}

const PBUF_ENTRY_SIZE = 16;

const pbufOffset = (bgid: number): bigint => OFF.PBUF_RING | (BigInt(bgid) << OFF.PBUF_SHIFT);

function kernelPbufRings(ring: RingState): { bgid: number; len: number }[] {
	return ring.provided_buffers.flatMap((b) => (b.kind === 'ring' && b.mmap ? [{ bgid: b.bgid, len: b.entries * PBUF_ENTRY_SIZE }] : []));
}

/* Through the process's own mapping of the buffer ring, when it has no fd of the ring. */
function pbufFromMapping(pid: number, ring: RingState, bgid: number, len: number): Buffer {
	const m = ring.mappings.find((x) => x.kind === 'pbuf_ring' && BigInt(x.offset) === pbufOffset(bgid) &&
		BigInt(x.end) - BigInt(x.start) >= BigInt(len));
	if (!m) throw new MemoryError(`ring ${ring.inode}: no fd and no complete mapping in process ${pid} to read buffer ring ${bgid} from`);
	return loadNative().processVmReadv(pid, BigInt(m.start), len);
}

/*
 * Memory regions: the application's own memory is read where it is; a
 * kernel-allocated region through the fd copy (mmap of its offset) or the
 * application's mapping of it.  A wait-argument region is the parameter
 * region itself (the kernel points cq_wait_arg at its start).
 */
function readRegions(pid: number, ring: RingState, fd: number | null): Buffer[] {
	const n = loadNative();
	return ring.mem_regions.map((m) => {
		if (m.user !== false) {
			if (m.user === undefined || m.addr === null)
				throw new MemoryError(`ring ${ring.inode}: memory region of unknown origin or address in process ${pid}`);
			return n.processVmReadv(pid, BigInt(m.addr), m.size);
		}
		if (fd !== null) return n.mmapRead(fd, OFF.PARAM_REGION, m.size);
		if (m.addr === null) throw new MemoryError(`ring ${ring.inode}: no fd and no mapping in process ${pid} to read its memory region from`);
		return n.processVmReadv(pid, BigInt(m.addr), m.size);
	});
}

/* Flags that change neither layout nor sizes, or that need other rings or threads to probe. */
const NOT_LAYOUT = SETUP.SQPOLL | SETUP.SQ_AFF | SETUP.ATTACH_WQ | SETUP.IOPOLL | SETUP.HYBRID_IOPOLL |
	SETUP.NO_MMAP | SETUP.REGISTERED_FD_ONLY;

/* io_uring_params the kernel filled in, by flags and sizes: a process's rings are often alike, and a scratch ring costs a setup and a teardown */
const geometries = new Map<string, Buffer>();

/** Ask the kernel for the geometry of a ring like `ring`, with a scratch ring of our own. */
function probeGeometry(ring: RingState): Params {
	const flags = ((ring.setup_flags & ~NOT_LAYOUT) | SETUP.R_DISABLED | SETUP.CQSIZE) >>> 0;
	const key = `${flags} ${ring.sq_entries} ${ring.cq_entries}`;
	let buf = geometries.get(key);
	if (!buf) {
		const n = loadNative();
		const p = emptyParams();
		p.flags = flags;
		p.cq_entries = ring.cq_entries;
		buf = encodeParams(p);
		const fd = n.ioUringSetup(ring.sq_entries, buf);
		n.close(fd);
		geometries.set(key, buf);
	}
	const out = decodeParams(buf);
	out.flags = ring.setup_flags;
	return out;
}

function mappingOf(ring: RingState, kind: 'rings' | 'sqes', shared = false): { start: bigint; len: number } | null {
	for (const m of ring.mappings) {
		const off = BigInt(m.offset);
		if (m.kind === kind && (off & 0x7ffffffn) === 0n && (!shared || m.prot[3] === 's'))
			return { start: BigInt(m.start), len: Number(BigInt(m.end) - BigInt(m.start)) };
	}
	return null;
}

/*
 * Both regions, and every buffer ring and memory region, through the
 * process's own shared mappings, each read once; null when one is not
 * mapped so, or not readable whole (a PROT_NONE mapping, a hole).  The
 * same pages as through a copy of the fd, without the pidfd_getfd, the
 * mmap and the munmap of each region (about 0.35 ms a ring, paid while
 * the tree is frozen).  A private mapping is never used: its pages may
 * be the application's copies, not the ring's.
 */
function fromMappings(pid: number, ring: RingState, params: Params, size: { rings: number; sqes: number }): RingMemory | null {
	const r = mappingOf(ring, 'rings', true);
	const s = mappingOf(ring, 'sqes', true);
	if (!r || !s || r.len < size.rings || s.len < size.sqes) return null;
	if (ring.mappings.some((m) => m.kind === 'pbuf_ring' && m.prot[3] !== 's')) return null;
	const whole = (b: Buffer, len: number): boolean => b.length === len;
	try {
		const n = loadNative();
		const rings = n.processVmReadv(pid, r.start, size.rings);
		const sqes = n.processVmReadv(pid, s.start, size.sqes);
		const pbuf = kernelPbufRings(ring).map((b) => ({ ...b, data: pbufFromMapping(pid, ring, b.bgid, b.len) }));
		const regions = readRegions(pid, ring, null);
		if (!whole(rings, size.rings) || !whole(sqes, size.sqes) || pbuf.some((b) => !whole(b.data, b.len)) ||
			regions.some((b, i) => !whole(b, ring.mem_regions[i].size)))
			return null;
		return { params, rings, sqes, pbufRings: new Map(pbuf.map((b) => [b.bgid, b.data])), regions };
	} catch {
		return null;
	}
}

/** Read both regions of `ring`, held by process `pid`. */
export function readRingMemory(pid: number, ring: RingState): RingMemory {
	const params = probeGeometry(ring);
	const size = regionSizes(params);
	const n = loadNative();
	if (ring.setup_flags & SETUP.NO_MMAP) {
		/* the application's own memory: no fd mapping exists (mmap of a NO_MMAP ring fails) */
		const u = ring.user_memory;
		if (!u) throw new MemoryError(`ring ${ring.inode}: NO_MMAP ring whose memory the capture could not locate in process ${pid}`);
		return { params, rings: n.processVmReadv(pid, BigInt(u.rings), size.rings), sqes: n.processVmReadv(pid, BigInt(u.sqes), size.sqes),
			pbufRings: new Map(kernelPbufRings(ring).map((b) => [b.bgid, pbufFromMapping(pid, ring, b.bgid, b.len)])),
			regions: readRegions(pid, ring, null) };
	}
	const mapped = fromMappings(pid, ring, params, size);
	if (mapped) return mapped;
	if (ring.fds.length > 0) {
		const pidfd = n.pidfdOpen(pid);
		try {
			const fd = n.pidfdGetfd(pidfd, ring.fds[0]);
			try {
				const pbufRings = new Map(kernelPbufRings(ring).map((b) => [b.bgid, n.mmapRead(fd, pbufOffset(b.bgid), b.len)]));
				return { params, rings: n.mmapRead(fd, OFF.SQ_RING, size.rings), sqes: n.mmapRead(fd, OFF.SQES, size.sqes), pbufRings,
					regions: readRegions(pid, ring, fd) };
			} finally {
				n.close(fd);
			}
		} finally {
			n.close(pidfd);
		}
	}
	const r = mappingOf(ring, 'rings');
	const s = mappingOf(ring, 'sqes');
	if (r && s && r.len >= size.rings && s.len >= size.sqes)
		return { params, rings: n.processVmReadv(pid, r.start, size.rings), sqes: n.processVmReadv(pid, s.start, size.sqes),
			pbufRings: new Map(kernelPbufRings(ring).map((b) => [b.bgid, pbufFromMapping(pid, ring, b.bgid, b.len)])),
			regions: readRegions(pid, ring, null) };
	throw new MemoryError(`ring ${ring.inode}: no fd and no complete mapping in process ${pid} to read its memory from (held only through a registered-ring slot or a partial mapping)`);
}

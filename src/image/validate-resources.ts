/*
 * Semantic checks of what is registered on a ring: files, buffers,
 * eventfd, personalities, restrictions, io-wq, provided buffers, NAPI,
 * clock, memory regions, in-flight requests.
 */
import * as G from './geometry';
import { Ring } from './types';
import { IOSQE, IOU_PBUF_RING, NR_REGISTER_OPCODES, NR_REQUEST_OPCODES, OP } from '../uring/abi';

/* struct futex_waitv, and the most futexes one FUTEX_WAITV takes (FUTEX_WAITV_MAX) */
const FUTEX_WAITV_SIZE = 24;
const FUTEX_WAITV_MAX = 128;

type Problems = string[];

/* struct msghdr on x86_64, struct iovec, struct sockaddr_storage; the most iovecs a re-armed SENDMSG has */
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const SOCKADDR_MAX = 128;
const SENDMSG_MAX_IOVS = 32;

/* A SENDMSG's msghdr names as many iovecs and address bytes as the image holds, and leaves their pointers to the restore. */
function checkSendmsg(q: Ring['inflight'][number], where: string, out: Problems): void {
	const h = q.msghdr ?? Buffer.alloc(0);
	const iov = q.send_iovecs ?? Buffer.alloc(0);
	const name = q.send_name ?? Buffer.alloc(0);
	if (h.length !== MSGHDR_SIZE) {
		out.push(`${where}: a SENDMSG with a msghdr of ${h.length} bytes`);
		return;
	}
	const iovlen = h.readBigUInt64LE(24);
	if (iovlen > BigInt(SENDMSG_MAX_IOVS) || iov.length !== IOVEC_SIZE * Number(iovlen))
		out.push(`${where}: a SENDMSG of ${iovlen} iovecs with ${iov.length} bytes of them`);
	if (name.length > SOCKADDR_MAX || h.readUInt32LE(8) !== name.length)
		out.push(`${where}: a SENDMSG with an address of ${name.length} bytes, msg_namelen ${h.readUInt32LE(8)}`);
	if (h.readBigUInt64LE(0) || h.readBigUInt64LE(16)) out.push(`${where}: a SENDMSG whose msghdr has its own name or iovec pointer`);
}

/* Types a slot held only by the ring can be reopened as (by path). */
const REOPENABLE_TYPES = new Set(['file', 'dir', 'directory']) /* capture spells it 'directory' */;

function duplicates(values: number[]): number[] {
	const seen = new Set<number>();
	const dup = new Set<number>();
	for (const v of values) (seen.has(v) ? dup : seen).add(v);
	return [...dup];
}

export function checkFiles(r: Ring, out: Problems): void {
	const files = r.files;
	if (!files) return;
	if (files.size > G.IORING_MAX_FIXED_FILES) out.push(`registered file table of ${files.size} slots exceeds ${G.IORING_MAX_FIXED_FILES}`);
	const range = files.alloc_range;
	if (range && (range.start > range.end || range.end > files.size)) {
		out.push(`file alloc range ${range.start}..${range.end} is outside the table of ${files.size}`);
	}
	for (const d of duplicates(files.entries.map((e) => e.index))) out.push(`registered file slot ${d} appears twice`);
	for (const e of files.entries) {
		const where = `registered file slot ${e.index}`;
		if (e.index >= files.size) out.push(`${where} is outside the table of ${files.size}`);
		if (e.fd !== undefined) {
			if (e.fd < 0) out.push(`${where}: fd ${e.fd} is not a valid descriptor`);
			continue;
		}
		if (!REOPENABLE_TYPES.has(e.type)) {
			out.push(`${where}: ${e.type || 'file of unknown type'} ${e.path} is held only by the ring and cannot be reopened`);
		} else if (!e.path.startsWith('/')) {
			out.push(`${where}: held only by the ring and its path "${e.path}" is not absolute`);
		} else if (e.flags === undefined) {
			out.push(`${where}: held only by the ring and its open flags are unknown`);
		}
	}
}

export function checkBuffers(r: Ring, out: Problems): void {
	const bufs = r.buffers;
	if (!bufs) return;
	if (bufs.size > G.IORING_MAX_REG_BUFFERS) out.push(`registered buffer table of ${bufs.size} slots exceeds ${G.IORING_MAX_REG_BUFFERS}`);
	for (const d of duplicates(bufs.entries.map((e) => e.index))) out.push(`registered buffer ${d} appears twice`);
	for (const b of bufs.entries) {
		const where = `registered buffer ${b.index}`;
		if (b.index >= bufs.size) out.push(`${where} is outside the table of ${bufs.size}`);
		if (b.len === 0 || b.len > G.IORING_MAX_BUFFER_LEN) out.push(`${where}: length ${b.len} is not in 1..${G.IORING_MAX_BUFFER_LEN}`);
		if (!b.mapped && b.contents.length !== b.len) {
			out.push(`${where}: memory no longer mapped and ${b.contents.length} of ${b.len} content bytes saved`);
		}
		if (b.mapped && b.contents.length) out.push(`${where}: contents saved for a buffer that is still mapped`);
	}
}

export function checkEventfd(r: Ring, out: Problems): void {
	if (r.eventfd && r.eventfd.fd < -1) out.push(`eventfd fd ${r.eventfd.fd} is not a descriptor or -1`);
}

export function checkPersonalities(r: Ring, out: Problems): void {
	for (const d of duplicates(r.personalities.map((p) => p.id))) out.push(`personality ${d} appears twice`);
	for (const p of r.personalities) {
		if (p.id < 1 || p.id > G.MAX_PERSONALITY_ID) out.push(`personality id ${p.id} is not in 1..${G.MAX_PERSONALITY_ID}`);
	}
}

export function checkRestrictions(r: Ring, out: Problems): void {
	const rs = r.restrictions;
	if (!rs) return;
	for (const op of rs.register_ops) {
		if (op >= NR_REGISTER_OPCODES) out.push(`restriction allows unknown register opcode ${op}`);
	}
	for (const op of rs.sqe_ops) if (op >= NR_REQUEST_OPCODES) out.push(`restriction allows unknown request opcode ${op}`);
	const bad = (rs.sqe_flags_allowed | rs.sqe_flags_required) & ~G.IOSQE_ALL_FLAGS;
	if (bad) out.push(`restriction names unknown SQE flags 0x${bad.toString(16)}`);
}

export function checkIoWq(r: Ring, out: Problems): void {
	const w = r.iowq;
	if (!w) return;
	if (w.max_workers.length !== 0 && w.max_workers.length !== 2) {
		out.push(`io-wq max_workers has ${w.max_workers.length} values, expected 2 (bounded, unbounded)`);
	}
	for (const d of duplicates(w.affinity)) out.push(`io-wq affinity lists CPU ${d} twice`);
	for (const c of w.affinity) if (c >= G.MAX_CPUS) out.push(`io-wq affinity lists CPU ${c}, beyond the ${G.MAX_CPUS} CPUs Linux supports`);
}

export function checkProvidedBuffers(r: Ring, out: Problems): void {
	const bgids = [...r.provided_buffer_groups.map((g) => g.bgid), ...r.provided_buffer_rings.map((b) => b.bgid)];
	for (const d of duplicates(bgids)) out.push(`buffer group ${d} appears twice`);
	for (const g of r.provided_buffer_groups) {
		if (g.bgid > G.MAX_BGID) out.push(`buffer group ${g.bgid} is beyond ${G.MAX_BGID}`);
		for (const b of g.buffers) {
			if (b.bid > G.MAX_BGID) out.push(`buffer group ${g.bgid}: buffer id ${b.bid} is beyond ${G.MAX_BGID}`);
			if (b.len === 0) out.push(`buffer group ${g.bgid}: buffer ${b.bid} has length 0`);
		}
	}
	for (const b of r.provided_buffer_rings) checkBufferRing(b, out);
}

function checkBufferRing(b: Ring['provided_buffer_rings'][number], out: Problems): void {
	const where = `buffer ring ${b.bgid}`;
	if (b.bgid > G.MAX_BGID) out.push(`${where}: bgid is beyond ${G.MAX_BGID}`);
	if (!G.isPowerOfTwo(b.entries) || b.entries > G.PBUF_RING_MAX_ENTRIES) {
		out.push(`${where}: ${b.entries} entries is not a power of two in 1..${G.PBUF_RING_MAX_ENTRIES}`);
	}
	const unknown = b.flags & ~(IOU_PBUF_RING.MMAP | IOU_PBUF_RING.INC);
	if (unknown) out.push(`${where}: unknown flags 0x${unknown.toString(16)}`);
	const mmap = !!(b.flags & IOU_PBUF_RING.MMAP);
	if (mmap && b.addr !== 0n) out.push(`${where}: kernel-allocated ring with a user address`);
	if (!mmap && b.addr === 0n) out.push(`${where}: user ring without an address`);
	const size = b.entries * G.PBUF_RING_ENTRY_SIZE;
	if (mmap && b.ring_memory.length !== size) out.push(`${where}: ring memory is ${b.ring_memory.length} bytes, ${b.entries} entries need ${size}`);
	if (!mmap && b.ring_memory.length) out.push(`${where}: ring memory saved for a ring in process memory`);
	/* head and tail are 16-bit counters that wrap (struct io_uring_buf_ring tail, io_buffer_list head) */
	if (b.head > 0xffff || b.tail > 0xffff) out.push(`${where}: head ${b.head} or tail ${b.tail} does not fit the kernel's 16 bits`);
	else if (((b.tail - b.head) & 0xffff) > b.entries) out.push(`${where}: head ${b.head} and tail ${b.tail} are more than ${b.entries} apart`);
}

export function checkNapiClock(r: Ring, out: Problems): void {
	if (r.napi && r.napi.mode === 'NAPI_MODE_UNSPECIFIED') out.push('NAPI registered with no tracking mode');
	if (r.clock && r.clock.clockid !== G.CLOCK_MONOTONIC && r.clock.clockid !== G.CLOCK_BOOTTIME) {
		out.push(`clock ${r.clock.clockid} is neither CLOCK_MONOTONIC nor CLOCK_BOOTTIME`);
	}
}

export function checkMemRegions(r: Ring, out: Problems): void {
	r.mem_regions.forEach((m, i) => {
		const where = `memory region ${i}`;
		if (m.kind === 'MEM_REGION_KIND_UNSPECIFIED') out.push(`${where}: unknown kind`);
		if (m.size === 0n || m.size % BigInt(G.PAGE_SIZE)) out.push(`${where}: size ${m.size} is not a positive multiple of the page size`);
		if (BigInt(m.contents.length) !== m.size) out.push(`${where}: ${m.contents.length} of ${m.size} content bytes saved`);
	});
}

export function checkInflight(r: Ring, out: Problems): void {
	r.inflight.forEach((q, i) => {
		const where = `in-flight request ${i} (user_data ${q.user_data})`;
		if (q.opcode >= NR_REQUEST_OPCODES) out.push(`${where}: unknown opcode ${q.opcode}`);
		if (q.state === 'INFLIGHT_STATE_UNSPECIFIED') out.push(`${where}: unknown wait state`);
		if (q.sqe.length !== 64) {
			out.push(`${where}: SQE of ${q.sqe.length} bytes, not the 64 its re-arm needs`);
			return;
		}
		if (q.sqe[0] !== q.opcode) out.push(`${where}: SQE opcode ${q.sqe[0]} is not the request's ${q.opcode}`);
		if (q.sqe.readBigUInt64LE(32) !== q.user_data) out.push(`${where}: SQE user_data ${q.sqe.readBigUInt64LE(32)} differs`);
		const timeout = q.opcode === OP.TIMEOUT || q.opcode === OP.LINK_TIMEOUT;
		if ((q.timeout_ns !== undefined) !== timeout) out.push(`${where}: ${timeout ? 'no' : 'a'} timeout length`);
		if (q.state === 'INFLIGHT_STATE_LINKED' && !(i > 0 && r.inflight[i - 1].sqe.length === 64 && r.inflight[i - 1].sqe[1] & (IOSQE.IO_LINK | IOSQE.IO_HARDLINK)))
			out.push(`${where}: a link that no request before it links to`);
		if (q.opcode === OP.SENDMSG) checkSendmsg(q, where, out);
		else if (q.msghdr?.length && (q.opcode !== OP.RECVMSG || q.msghdr.length !== 56)) out.push(`${where}: a msghdr of ${q.msghdr.length} bytes`);
		if (q.opcode === OP.SEND && q.send_name?.length && (q.send_name.length > SOCKADDR_MAX || q.send_name.length !== q.sqe.readUInt16LE(44)))
			out.push(`${where}: a SEND with an address of ${q.send_name.length} bytes, addr_len ${q.sqe.readUInt16LE(44)}`);
		if (q.opcode !== OP.SENDMSG && q.send_iovecs?.length) out.push(`${where}: iovecs for a request that is not a SENDMSG`);
		if (q.opcode !== OP.SENDMSG && q.opcode !== OP.SEND && q.send_name?.length) out.push(`${where}: an address for a request that is not a SEND or SENDMSG`);
		const waitv = q.futex_waitv?.length ?? 0;
		if (q.opcode === OP.FUTEX_WAITV ? waitv === 0 || waitv !== FUTEX_WAITV_SIZE * q.sqe.readUInt32LE(24) || waitv > FUTEX_WAITV_SIZE * FUTEX_WAITV_MAX : waitv)
			out.push(`${where}: a futex vector of ${waitv} bytes${q.opcode === OP.FUTEX_WAITV ? ` for ${q.sqe.readUInt32LE(24)} futexes` : ''}`);
	});
}

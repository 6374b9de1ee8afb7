/*
 * Decoder for the binary records of bpf/uring_iter.bpf.c (layouts in
 * bpf/uring_records.h, described in docs/bpf.md).
 *
 * Each layout below lists the C struct's fields in order; offsets follow C
 * natural alignment, so the list must match the header field for field.
 * 64-bit values decode as bigint.
 */

export const REC = {
	FILE: 1, RING: 2, SQE: 3, CQE: 4, RFILE: 5, RFILE_NAME: 6, RBUF: 7, PERS: 8,
	PBUF_LIST: 9, PBUF_BUF: 10, REQ: 11, RSLOT: 12, VMA: 13, TASK: 14, COUNTS: 15, REQ_ARM: 16, FUTEXV: 17,
	SENDMSG: 18,
} as const;

type Scalar = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64';
/** A field: scalar, fixed array of scalars, raw bytes, or a NUL-terminated string. */
type FieldType = Scalar | `${'u32' | 'u64'}[${number}]` | `bytes[${number}]` | `char[${number}]`;
type Layout = readonly (readonly [string, FieldType])[];

const SCALAR_SIZE: Record<Scalar, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8 };

interface Placed { name: string; type: FieldType; offset: number }

function fieldShape(type: FieldType): { align: number; size: number } {
	const m = /^(\w+)\[(\d+)\]$/.exec(type);
	if (!m) {
		const s = SCALAR_SIZE[type as Scalar];
		return { align: s, size: s };
	}
	const n = Number(m[2]);
	if (m[1] === 'bytes' || m[1] === 'char') return { align: 1, size: n };
	const s = SCALAR_SIZE[m[1] as Scalar];
	return { align: s, size: s * n };
}

/** Places fields after the 8-byte record header; returns offsets and the struct size. */
export function placeLayout(layout: Layout): { fields: Placed[]; size: number } {
	let off = 8;
	let maxAlign = 4;
	const fields: Placed[] = [];
	for (const [name, type] of layout) {
		const { align, size } = fieldShape(type);
		off = Math.ceil(off / align) * align;
		fields.push({ name, type, offset: off });
		off += size;
		maxAlign = Math.max(maxAlign, align);
	}
	return { fields, size: Math.ceil(off / maxAlign) * maxAlign };
}

type Reader = (buf: Buffer, off: number) => unknown;

const SCALAR_READER: Record<Scalar, (buf: Buffer, off: number) => number | bigint> = {
	u8: (b, o) => b.readUInt8(o),
	u16: (b, o) => b.readUInt16LE(o),
	u32: (b, o) => b.readUInt32LE(o),
	s32: (b, o) => b.readInt32LE(o),
	u64: (b, o) => b.readBigUInt64LE(o),
	s64: (b, o) => b.readBigInt64LE(o),
};

/*
 * The function that reads a field of this type at an offset, made once
 * per field of each layout: parsing the type (a regular expression) for
 * every field of every record was most of a capture's decoding time.
 */
function fieldReader(type: FieldType): Reader {
	const m = /^(\w+)\[(\d+)\]$/.exec(type);
	if (!m) return SCALAR_READER[type as Scalar];
	const n = Number(m[2]);
	if (m[1] === 'bytes') return (buf, off) => Buffer.from(buf.subarray(off, off + n));
	if (m[1] === 'char') {
		return (buf, off) => {
			const raw = buf.subarray(off, off + n);
			const nul = raw.indexOf(0);
			return raw.subarray(0, nul < 0 ? n : nul).toString('utf8');
		};
	}
	const t = m[1] as Scalar;
	const read = SCALAR_READER[t];
	const step = SCALAR_SIZE[t];
	return (buf, off) => {
		const out: (number | bigint)[] = [];
		for (let i = 0; i < n; i++) out.push(read(buf, off + i * step));
		return out;
	};
}

const LAYOUTS = {
	[REC.FILE]: [
		['tgid', 'u32'], ['fd', 's32'], ['file', 'u64'], ['private_data', 'u64'], ['ino', 'u64'],
		['f_flags', 'u32'], ['i_mode', 'u16'], ['is_uring', 'u8'], ['pad', 'u8'],
	],
	[REC.RING]: [
		['ctx', 'u64'], ['ino', 'u64'], ['tgid', 'u32'], ['via', 'u32'], ['setup_flags', 'u32'],
		['bits', 'u32'], ['submitter_tid', 's32'], ['missing', 'u32'],
		['sq_head', 'u32'], ['sq_tail', 'u32'], ['cached_sq_head', 'u32'], ['sq_entries', 'u32'],
		['sq_mask', 'u32'], ['sq_dropped', 'u32'], ['sq_flags', 'u32'], ['cq_flags', 'u32'],
		['cq_head', 'u32'], ['cq_tail', 'u32'], ['cached_cq_tail', 'u32'], ['cq_entries', 'u32'],
		['cq_mask', 'u32'], ['cq_overflow', 'u32'], ['check_cq', 'u64'],
		['clockid', 's32'], ['clock_offset', 'u32'], ['sq_thread_idle', 'u32'], ['hz', 'u32'],
		['nr_files', 'u32'], ['nr_bufs', 'u32'], ['file_alloc_start', 'u32'], ['file_alloc_end', 'u32'],
		['restr_register_op', 'u64'], ['restr_sqe_op', 'u64'],
		['restr_flags_allowed', 'u8'], ['restr_flags_required', 'u8'], ['restr_registered', 'u8'],
		['napi_prefer', 'u8'], ['napi_mode', 'u8'], ['pad0', 'bytes[3]'],
		['iowq_limits', 'u32[2]'], ['napi_busy_poll_dt', 's64'], ['pers_next', 'u32'],
		['param_nr_pages', 'u32'], ['param_ptr', 'u64'], ['param_flags', 'u32'], ['pad1', 'u32'],
		['cq_wait_arg', 'u64'], ['cq_wait_size', 'u64'], ['sq_data', 'u64'],
		['sqd_thread_tid', 's32'], ['sqd_cpu', 's32'], ['sqd_idle', 'u32'], ['sqd_task_tgid', 's32'],
		['evfd_ctx', 'u64'], ['evfd_async', 'u32'], ['pad2', 'u32'],
		['rings', 'u64'], ['sq_array', 'u64'], ['sq_sqes', 'u64'],
		['ring_uaddr', 'u64'], ['sqes_uaddr', 'u64'], ['param_uaddr', 'u64'],
		['file_alloc_hint', 'u32'], ['pad3', 'u32'],
	],
	[REC.SQE]: [
		['ctx', 'u64'], ['pos', 'u32'], ['sqe_idx', 'u32'], ['len', 'u32'], ['pad', 'u32'],
		['data', 'bytes[128]'],
	],
	[REC.CQE]: [['ctx', 'u64'], ['pos', 'u32'], ['overflow', 'u32'], ['data', 'bytes[32]']],
	[REC.RFILE]: [
		['ctx', 'u64'], ['index', 'u32'], ['f_flags', 'u32'], ['file', 'u64'], ['private_data', 'u64'],
		['tag', 'u64'], ['ino', 'u64'], ['pos', 's64'], ['i_mode', 'u16'], ['pad', 'u16'],
		['s_magic', 'u32'], ['rdev', 'u32'], ['name_len', 'u32'], ['name', 'char[64]'],
	],
	[REC.RFILE_NAME]: [
		['ctx', 'u64'], ['index', 'u32'], ['depth', 'u32'], ['len', 'u32'], ['reserved', 'u32'],
		['name', 'char[64]'],
	],
	[REC.RBUF]: [
		['ctx', 'u64'], ['ubuf', 'u64'], ['tag', 'u64'], ['index', 'u32'], ['len', 'u32'],
		['is_kbuf', 'u32'], ['pad', 'u32'],
	],
	[REC.PERS]: [
		['ctx', 'u64'], ['id', 'u32'], ['uid', 'u32'], ['gid', 'u32'], ['suid', 'u32'], ['sgid', 'u32'],
		['euid', 'u32'], ['egid', 'u32'], ['fsuid', 'u32'], ['fsgid', 'u32'], ['ngroups', 'u32'],
		['cap_effective', 'u64'], ['groups', 'u32[64]'],
	],
	[REC.PBUF_LIST]: [
		['ctx', 'u64'], ['buf_ring', 'u64'], ['bgid', 'u32'], ['flags', 'u32'], ['nr_entries', 'u32'],
		['head', 'u32'], ['mask', 'u32'], ['tail', 'u32'], ['region_flags', 'u32'],
		['region_nr_pages', 'u32'], ['nbufs', 's32'], ['pad', 'u32'], ['user_addr', 'u64'],
	],
	[REC.PBUF_BUF]: [
		['ctx', 'u64'], ['addr', 'u64'], ['bgid', 'u32'], ['seq', 'u32'], ['bid', 'u32'], ['len', 'u32'],
	],
	[REC.REQ]: [
		['ctx', 'u64'], ['req', 'u64'], ['user_data', 'u64'], ['flags', 'u64'], ['fd', 's32'],
		['state', 'u32'], ['opcode', 'u32'], ['tid', 'u32'],
	],
	[REC.REQ_ARM]: [
		['ctx', 'u64'], ['req', 'u64'], ['file', 'u64'], ['addr', 'u64'], ['addr2', 'u64'], ['link', 'u64'],
		['remaining_ns', 's64'], ['ts_sec', 's64'], ['ts_nsec', 's64'], ['bits', 'u32'], ['len', 'u32'],
		['op_flags', 'u32'], ['ioprio', 'u32'], ['buf_group', 'u32'], ['done_io', 'u32'], ['mshot_len', 'u32'],
		['mshot_total_len', 'u32'], ['file_slot', 'u32'], ['count_left', 's32'], ['poll_events', 'u32'], ['mode', 'u32'],
		['msg_name', 'u64'], ['msg_control', 'u64'], ['msg_namelen', 'u32'], ['msg_controllen', 'u32'],
		['head', 'u64'], ['link_pos', 'u32'], ['repeats', 'u32'], ['addr3', 'u64'],
	],
	[REC.FUTEXV]: [
		['ctx', 'u64'], ['req', 'u64'], ['uaddr', 'u64'], ['val', 'u64'], ['flags', 'u32'], ['index', 'u32'],
	],
	[REC.SENDMSG]: [
		['ctx', 'u64'], ['req', 'u64'], ['control', 'u64'], ['controllen', 'u64'], ['iov_offset', 'u64'],
		['count', 'u64'], ['nr_segs', 'u64'], ['ubuf', 'u64'], ['iov_cur', 'u64'], ['iov_start', 'u64'], ['namelen', 's32'], ['iter', 'u8'],
		['has_name', 'u8'], ['pad', 'u16'], ['name', 'bytes[128]'], ['iov', 'u64[64]'],
	],
	[REC.RSLOT]: [
		['ctx', 'u64'], ['file', 'u64'], ['ino', 'u64'], ['tgid', 'u32'], ['tid', 'u32'],
		['index', 'u32'], ['pad', 'u32'],
	],
	[REC.VMA]: [
		['ctx', 'u64'], ['ino', 'u64'], ['start', 'u64'], ['end', 'u64'], ['pgoff', 'u64'],
		['vm_flags', 'u64'], ['tgid', 'u32'], ['pad', 'u32'],
	],
	[REC.TASK]: [
		['tgid', 'u32'], ['tid', 'u32'], ['comm', 'char[16]'], ['pf_flags', 'u32'], ['has_tctx', 'u32'],
		['has_iowq', 'u32'], ['max_workers', 'u32[2]'], ['nr_workers', 'u32[2]'], ['pad', 'u32'],
		['cpumask', 'u64[4]'],
	],
	[REC.COUNTS]: [
		['ctx', 'u64'], ['tgid', 'u32'], ['files', 'u32'], ['bufs', 'u32'], ['inflight', 'u32'],
	],
} satisfies Record<number, Layout>;

/* Each record type's placed fields, and a reader per field it keeps (padding is skipped) */
const PLACED = new Map<number, { fields: Placed[]; size: number; readers: { name: string; offset: number; read: Reader }[] }>(
	Object.entries(LAYOUTS).map(([t, l]) => {
		const placed = placeLayout(l);
		const readers = placed.fields.filter((f) => !f.name.startsWith('pad'))
			.map((f) => ({ name: f.name, offset: f.offset, read: fieldReader(f.type) }));
		return [Number(t), { ...placed, readers }];
	}),
);

/** The C struct behind each record type (bpf/uring_records.h). */
export const C_STRUCTS: Record<number, string> = {
	[REC.FILE]: 'rec_file', [REC.RING]: 'rec_ring', [REC.SQE]: 'rec_sqe', [REC.CQE]: 'rec_cqe',
	[REC.RFILE]: 'rec_rfile', [REC.RFILE_NAME]: 'rec_rfile_name', [REC.RBUF]: 'rec_rbuf',
	[REC.PERS]: 'rec_pers', [REC.PBUF_LIST]: 'rec_pbuf_list', [REC.PBUF_BUF]: 'rec_pbuf_buf',
	[REC.REQ]: 'rec_req', [REC.RSLOT]: 'rec_rslot', [REC.VMA]: 'rec_vma', [REC.TASK]: 'rec_task',
	[REC.COUNTS]: 'rec_counts', [REC.REQ_ARM]: 'rec_req_arm', [REC.FUTEXV]: 'rec_futexv',
	[REC.SENDMSG]: 'rec_sendmsg',
};

/** Field offsets the decoder uses for a record type, for layout checks. */
export function recordFields(type: number): { name: string; offset: number }[] {
	const p = PLACED.get(type);
	if (!p) throw new Error(`unknown BPF record type ${type}`);
	return p.fields.map((f) => ({ name: f.name, offset: f.offset }));
}

/** Size in bytes of a record type (header included). */
export function recordSize(type: number): number {
	const p = PLACED.get(type);
	if (!p) throw new Error(`unknown BPF record type ${type}`);
	return p.size;
}

export interface FileRec { tgid: number; fd: number; file: bigint; private_data: bigint; ino: bigint; f_flags: number; i_mode: number; is_uring: number }
export interface RingRec {
	ctx: bigint; ino: bigint; tgid: number; via: number; setup_flags: number; bits: number;
	submitter_tid: number; missing: number;
	sq_head: number; sq_tail: number; cached_sq_head: number; sq_entries: number; sq_mask: number;
	sq_dropped: number; sq_flags: number; cq_flags: number; cq_head: number; cq_tail: number;
	cached_cq_tail: number; cq_entries: number; cq_mask: number; cq_overflow: number; check_cq: bigint;
	clockid: number; clock_offset: number; sq_thread_idle: number; hz: number;
	nr_files: number; nr_bufs: number; file_alloc_start: number; file_alloc_end: number;
	restr_register_op: bigint; restr_sqe_op: bigint; restr_flags_allowed: number;
	restr_flags_required: number; restr_registered: number; napi_prefer: number; napi_mode: number;
	iowq_limits: number[]; napi_busy_poll_dt: bigint; pers_next: number; param_nr_pages: number;
	param_ptr: bigint; param_flags: number; cq_wait_arg: bigint; cq_wait_size: bigint; sq_data: bigint;
	sqd_thread_tid: number; sqd_cpu: number; sqd_idle: number; sqd_task_tgid: number;
	evfd_ctx: bigint; evfd_async: number; rings: bigint; sq_array: bigint; sq_sqes: bigint;
	ring_uaddr: bigint; sqes_uaddr: bigint; param_uaddr: bigint;
	file_alloc_hint: number;
}
export interface SqeRec { ctx: bigint; pos: number; sqe_idx: number; len: number; data: Buffer }
export interface CqeRec { ctx: bigint; pos: number; overflow: number; data: Buffer }
export interface RfileRec {
	ctx: bigint; index: number; f_flags: number; file: bigint; private_data: bigint; tag: bigint;
	ino: bigint; pos: bigint; i_mode: number; s_magic: number; rdev: number; name_len: number; name: string;
}
export interface RfileNameRec { ctx: bigint; index: number; depth: number; len: number; name: string }
export interface RbufRec { ctx: bigint; ubuf: bigint; tag: bigint; index: number; len: number; is_kbuf: number }
export interface PersRec {
	ctx: bigint; id: number; uid: number; gid: number; suid: number; sgid: number; euid: number;
	egid: number; fsuid: number; fsgid: number; ngroups: number; cap_effective: bigint; groups: number[];
}
export interface PbufListRec {
	ctx: bigint; buf_ring: bigint; bgid: number; flags: number; nr_entries: number; head: number;
	mask: number; tail: number; region_flags: number; region_nr_pages: number; nbufs: number;
	user_addr: bigint;
}
export interface PbufBufRec { ctx: bigint; addr: bigint; bgid: number; seq: number; bid: number; len: number }
export interface ReqRec { ctx: bigint; req: bigint; user_data: bigint; flags: bigint; fd: number; state: number; opcode: number; tid: number }
/** What re-arming a waiting request takes (rec_req_arm; meaning per opcode in docs/bpf.md). */
export interface ReqArmRec {
	ctx: bigint; req: bigint; file: bigint; addr: bigint; addr2: bigint; link: bigint;
	remaining_ns: bigint; ts_sec: bigint; ts_nsec: bigint; bits: number; len: number; op_flags: number;
	ioprio: number; buf_group: number; done_io: number; mshot_len: number; mshot_total_len: number;
	file_slot: number; count_left: number; poll_events: number; mode: number;
	msg_name: bigint; msg_control: bigint; msg_namelen: number; msg_controllen: number;
	/** Links (rec_req state REQ_LINKED): the waiting request whose chain it is, and its place after it (1, 2, ...). */
	head: bigint; link_pos: number;
	/** Multishot timeouts: firings left (0: unlimited). */
	repeats: number;
	/** FUTEX_WAIT: the mask. */
	addr3: bigint;
}
/** One futex of a waiting FUTEX_WAITV: the kernel's copy of its futex_waitv entry (flags: the kernel's FLAGS_*). */
export interface FutexvRec { ctx: bigint; req: bigint; uaddr: bigint; val: bigint; flags: number; index: number }
/** What a waiting SENDMSG's preparation copied (iter: SENDMSG_ITER_*; iov: base, len pairs of the segments left). */
export interface SendmsgRec {
	ctx: bigint; req: bigint; control: bigint; controllen: bigint; iov_offset: bigint; count: bigint;
	nr_segs: bigint; ubuf: bigint; iov_cur: bigint; iov_start: bigint; namelen: number; iter: number; has_name: number; name: Buffer; iov: bigint[];
}
export interface RslotRec { ctx: bigint; file: bigint; ino: bigint; tgid: number; tid: number; index: number }
export interface VmaRec { ctx: bigint; ino: bigint; start: bigint; end: bigint; pgoff: bigint; vm_flags: bigint; tgid: number }
export interface TaskRec {
	tgid: number; tid: number; comm: string; pf_flags: number; has_tctx: number; has_iowq: number;
	max_workers: number[]; nr_workers: number[]; cpumask: bigint[];
}
export interface CountsRec { ctx: bigint; tgid: number; files: number; bufs: number; inflight: number }

export interface Records {
	files: FileRec[];
	rings: RingRec[];
	sqes: SqeRec[];
	cqes: CqeRec[];
	rfiles: RfileRec[];
	rfileNames: RfileNameRec[];
	rbufs: RbufRec[];
	pers: PersRec[];
	pbufLists: PbufListRec[];
	pbufBufs: PbufBufRec[];
	reqs: ReqRec[];
	reqArms: ReqArmRec[];
	futexvs: FutexvRec[];
	sendmsgs: SendmsgRec[];
	rslots: RslotRec[];
	vmas: VmaRec[];
	tasks: TaskRec[];
	counts: CountsRec[];
}

const BUCKET: Record<number, keyof Records> = {
	[REC.FILE]: 'files', [REC.RING]: 'rings', [REC.SQE]: 'sqes', [REC.CQE]: 'cqes',
	[REC.RFILE]: 'rfiles', [REC.RFILE_NAME]: 'rfileNames', [REC.RBUF]: 'rbufs', [REC.PERS]: 'pers',
	[REC.PBUF_LIST]: 'pbufLists', [REC.PBUF_BUF]: 'pbufBufs', [REC.REQ]: 'reqs', [REC.REQ_ARM]: 'reqArms', [REC.FUTEXV]: 'futexvs', [REC.SENDMSG]: 'sendmsgs',
	[REC.RSLOT]: 'rslots', [REC.VMA]: 'vmas', [REC.TASK]: 'tasks', [REC.COUNTS]: 'counts',
};

export class RecordError extends Error {}

/** Splits a runIter() buffer into typed records, in emission order per type. */
export function decodeRecords(buf: Buffer): Records {
	const out: Records = {
		files: [], rings: [], sqes: [], cqes: [], rfiles: [], rfileNames: [], rbufs: [], pers: [],
		pbufLists: [], pbufBufs: [], reqs: [], reqArms: [], futexvs: [], sendmsgs: [], rslots: [], vmas: [], tasks: [], counts: [],
	};
	let off = 0;
	while (off < buf.length) {
		if (buf.length - off < 8) throw new RecordError(`truncated BPF record header at byte ${off}`);
		const type = buf.readUInt32LE(off);
		const size = buf.readUInt32LE(off + 4);
		if (size < 8 || off + size > buf.length)
			throw new RecordError(`bad BPF record size ${size} (type ${type}) at byte ${off}`);
		const placed = PLACED.get(type);
		if (placed) {
			if (size !== placed.size)
				throw new RecordError(`BPF record type ${type} is ${size} bytes, decoder expects ${placed.size}: bpf/ and src/ out of sync`);
			const rec: Record<string, unknown> = {};
			for (const f of placed.readers) rec[f.name] = f.read(buf, off + f.offset);
			(out[BUCKET[type]] as unknown[]).push(rec);
		}
		off += size;
	}
	return out;
}

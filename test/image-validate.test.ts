/*
 * validateImage / validateImageSet: every rule, one case each.  Each case
 * breaks one thing in an otherwise valid sample and expects exactly that
 * reason, naming the image and the ring.
 */
import t from 'tap';
import * as G from '../src/image/geometry';
import { Image, ImageError, imageProblems, Ring, validateImage, validateImageSet } from '../src/image';
import { sampleImage, sampleImageSet, sampleRingMemory } from '../src/image/sample';
import { SETUP } from '../src/uring/abi';

type Case = [string, (img: Image, rich: Ring, attached: Ring, defer: Ring) => void, RegExp];

const S = SETUP;

function setFlags(r: Ring, flags: number): void {
	r.setup!.flags = flags;
	r.memory!.rings = sampleRingMemory(flags, r.setup!.sq_entries, r.setup!.cq_entries);
	r.memory!.sqes = Buffer.alloc(G.sqesRegionSize(flags, r.setup!.sq_entries));
}

const CASES: Case[] = [
	/* header and process */
	['future format version', (i) => { i.header!.format_version = 3; }, /^format version 3 is newer than 2/],
	['format version 0', (i) => { i.header!.format_version = 0; }, /^unsupported format version 0$/],
	['no header', (i) => { i.header = null; }, /^no image header$/],
	['no process', (i) => { i.process = null; }, /^no process entry$/],
	['pid 0', (i) => { i.process!.pid = 0; }, /^invalid pid 0$/],

	/* setup flags */
	['unknown setup flag', (_i, r) => { r.setup!.flags |= 1 << 19; }, /^ring 1001: unknown setup flags 0x80000 \(this version restores only 19 known flags\)$/],
	['DEFER_TASKRUN without SINGLE_ISSUER', (_i, _r, _a, d) => { d.setup!.flags &= ~S.SINGLE_ISSUER; }, /^ring 1003: setup flags .* are impossible \(DEFER_TASKRUN without SINGLE_ISSUER\)$/],
	['DEFER_TASKRUN with SQPOLL', (_i, _r, _a, d) => { d.setup!.flags |= S.SQPOLL; }, /^ring 1003: .*\(DEFER_TASKRUN with SQPOLL\)$/],
	['TASKRUN_FLAG alone', (_i, _r, a) => { a.setup!.flags |= S.TASKRUN_FLAG; }, /^ring 1002: .*\(TASKRUN_FLAG without COOP_TASKRUN or DEFER_TASKRUN\)$/],
	['SQ_AFF without SQPOLL', (_i, _r, _a, d) => { d.setup!.flags |= S.SQ_AFF; }, /^ring 1003: .*\(SQ_AFF without SQPOLL\)$/],
	['HYBRID_IOPOLL without IOPOLL', (_i, _r, _a, d) => { d.setup!.flags |= S.HYBRID_IOPOLL; }, /^ring 1003: .*\(HYBRID_IOPOLL without IOPOLL\)$/],
	['CQE32 with CQE_MIXED', (_i, _r, _a, d) => { d.setup!.flags |= S.CQE32; }, /^ring 1003: .*\(CQE32 with CQE_MIXED\)$/],
	['COOP_TASKRUN with SQPOLL', (_i, _r, a) => { a.setup!.flags |= S.COOP_TASKRUN; }, /^ring 1002: .*\(COOP_TASKRUN with SQPOLL\)$/],
	['REGISTERED_FD_ONLY without NO_MMAP', (_i, _r, _a, d) => { d.setup!.flags |= S.REGISTERED_FD_ONLY; }, /^ring 1003: .*\(REGISTERED_FD_ONLY without NO_MMAP\)$/],

	/* geometry */
	['sq_entries not a power of two', (_i, r) => { r.setup!.sq_entries = 6; }, /^ring 1001: sq_entries 6 is not a power of two in 1\.\.32768$/],
	['sq_entries too large', (_i, r) => { r.setup!.sq_entries = 65536; r.setup!.cq_entries = 65536; }, /^ring 1001: sq_entries 65536 is not/],
	['sq_entries 0', (_i, r) => { r.setup!.sq_entries = 0; }, /^ring 1001: sq_entries 0 is not/],
	['cq_entries not a power of two', (_i, r) => { r.setup!.cq_entries = 24; }, /^ring 1001: cq_entries 24 is not a power of two in 1\.\.65536$/],
	['cq_entries too large', (_i, r) => { r.setup!.cq_entries = 131072; }, /^ring 1001: cq_entries 131072 is not/],
	['cq smaller than sq', (_i, r) => { r.setup!.cq_entries = 4; }, /^ring 1001: cq_entries 4 is smaller than sq_entries 8$/],
	['CQE_MIXED with one CQ entry', (_i, _r, _a, d) => { d.setup!.sq_entries = 1; d.setup!.cq_entries = 1; }, /^ring 1003: CQE_MIXED ring with fewer than 2 CQ entries$/],

	/* SQPOLL and owner */
	['SQ_AFF without cpu', (_i, r) => { delete r.setup!.sq_thread_cpu; }, /^ring 1001: SQ_AFF ring without the CPU/],
	['cpu without SQ_AFF', (_i, _r, a) => { a.setup!.sq_thread_cpu = 0; }, /^ring 1002: sq_thread_cpu 0 set on a ring without SQ_AFF$/],
	['idle without SQPOLL', (_i, _r, _a, d) => { d.setup!.sq_thread_idle_ms = 10; }, /^ring 1003: sq_thread_idle_ms set on a ring without SQPOLL$/],
	['attach without SQPOLL', (_i, _r, _a, d) => { d.setup!.attach_ring_id = 1001n; }, /^ring 1003: attach_ring_id 1001 set on a ring without SQPOLL$/],
	['enabled SINGLE_ISSUER ring without owner', (_i, _r, _a, d) => { d.setup!.disabled = false; }, /^ring 1003: SINGLE_ISSUER ring without a known submitter thread/],

	/* indices */
	['index not 32-bit', (_i, r) => { r.indices!.sq_tail = -1; }, /^ring 1001: index sq_tail = -1 is not a 32-bit value$/],
	['SQ over-full', (_i, r) => { r.indices!.sq_tail = 6; }, /^ring 1001: SQ holds 9 entries \(head 4294967293, tail 6\) but has only 8$/],
	['cached SQ head past the tail', (_i, r) => { r.indices!.cached_sq_head = 3; }, /^ring 1001: cached SQ head 3 is not between SQ head 4294967293 and tail 2$/],
	['cached SQ head behind the head', (_i, _r, _a, d) => { d.indices!.cached_sq_head = 4; }, /^ring 1003: cached SQ head 4 is not between/],
	['CQ over-full', (_i, _r, _a, d) => { d.indices!.cq_tail = 40; d.indices!.cached_cq_tail = 40; }, /^ring 1003: CQ holds 39 entries \(head 1, tail 40\) but has only 32$/],
	['cached CQ tail behind the tail', (_i, _r, _a, d) => { d.indices!.cached_cq_tail = 2; }, /^ring 1003: cached CQ tail 2 is not between CQ tail 3 and head 1 \+ 32$/],
	['cached CQ tail beyond the ring', (_i, _r, _a, d) => { d.indices!.cached_cq_tail = 34; }, /^ring 1003: cached CQ tail 34 is not between/],

	/* memory */
	['ring memory missing', (_i, r) => { r.memory = null; }, /^ring 1001: ring memory missing/],
	['ring region short', (_i, _r, a) => { a.memory!.rings = a.memory!.rings.subarray(0, 100); }, /^ring 1002: ring region is 100 bytes, geometry needs 208$/],
	['ring region beyond the page', (_i, _r, a) => { a.memory!.rings = Buffer.alloc(8192); }, /^ring 1002: ring region is 8192 bytes, geometry needs 208$/],
	['SQE region wrong size', (_i, r) => { r.memory!.sqes = Buffer.alloc(512); }, /^ring 1001: SQE region is 512 bytes, geometry needs 1024$/],
	['memory from another geometry', (_i, _r, a) => { a.memory!.rings.writeUInt32LE(7, G.ringsLayout().sq_ring_mask); }, /^ring 1002: ring memory sq_ring_mask is 7, setup says 3$/],
	['CQ entries in memory differ', (_i, _r, a) => { a.memory!.rings.writeUInt32LE(16, G.ringsLayout().cq_ring_entries); }, /^ring 1002: ring memory cq_ring_entries is 16, setup says 8$/],

	/* overflow CQEs */
	['big CQE on a normal ring', (_i, _r, a) => { a.overflow_cqes = [{ user_data: 1n, res: 0, flags: 0, extra1: 1n }]; }, /^ring 1002: overflow CQE 0: big CQE extras on a ring without CQE32 or CQE_MIXED$/],
	['CQE32 CQE without extras', (_i, r) => { delete r.overflow_cqes[1].extra1; delete r.overflow_cqes[1].extra2; }, /^ring 1001: overflow CQE 1: CQE32 ring CQE without extras$/],
	['CQE res not 32-bit', (_i, r) => { r.overflow_cqes[0].res = 2 ** 31; }, /^ring 1001: overflow CQE 0: res 2147483648 is not a 32-bit value$/],

	/* registered files */
	['file table too large', (_i, r) => { r.files!.size = (1 << 20) + 1; }, /^ring 1001: registered file table of 1048577 slots exceeds 1048576$/],
	['alloc range outside', (_i, r) => { r.files!.alloc_range = { start: 8, end: 17 }; }, /^ring 1001: file alloc range 8\.\.17 is outside the table of 16$/],
	['alloc range reversed', (_i, r) => { r.files!.alloc_range = { start: 9, end: 8 }; }, /^ring 1001: file alloc range 9\.\.8/],
	['file slot twice', (_i, r) => { r.files!.entries[1].index = 0; }, /^ring 1001: registered file slot 0 appears twice$/],
	['file slot outside', (_i, r) => { r.files!.entries[1].index = 16; }, /^ring 1001: registered file slot 16 is outside the table of 16$/],
	['file fd negative', (_i, r) => { r.files!.entries[0].fd = -3; }, /^ring 1001: registered file slot 0: fd -3 is not a valid descriptor$/],
	['ring-only socket', (_i, r) => { delete r.files!.entries[0].fd; }, /^ring 1001: registered file slot 0: socket socket:\[12345\] is held only by the ring and cannot be reopened$/],
	['ring-only relative path', (_i, r) => { r.files!.entries[1].path = 'data.bin'; }, /^ring 1001: registered file slot 3: held only by the ring and its path "data\.bin" is not absolute$/],
	['ring-only unknown flags', (_i, r) => { delete r.files!.entries[1].flags; }, /^ring 1001: registered file slot 3: held only by the ring and its open flags are unknown$/],

	/* registered buffers */
	['buffer table too large', (_i, r) => { r.buffers!.size = 16385; }, /^ring 1001: registered buffer table of 16385 slots exceeds 16384$/],
	['buffer twice', (_i, r) => { r.buffers!.entries[1].index = 0; }, /^ring 1001: registered buffer 0 appears twice$/],
	['buffer outside', (_i, r) => { r.buffers!.entries[1].index = 4; }, /^ring 1001: registered buffer 4 is outside the table of 4$/],
	['buffer length 0', (_i, r) => { r.buffers!.entries[0].len = 0; }, /^ring 1001: registered buffer 0: length 0 is not in 1\.\.1073741824$/],
	['buffer over 1 GiB', (_i, r) => { r.buffers!.entries[0].len = 2 ** 30 + 1; }, /^ring 1001: registered buffer 0: length 1073741825/],
	['unmapped buffer without contents', (_i, r) => { r.buffers!.entries[1].contents = Buffer.alloc(10); }, /^ring 1001: registered buffer 2: memory no longer mapped and 10 of 64 content bytes saved$/],
	['mapped buffer with contents', (_i, r) => { r.buffers!.entries[0].contents = Buffer.alloc(1); }, /^ring 1001: registered buffer 0: contents saved for a buffer that is still mapped$/],

	/* eventfd, personalities, restrictions, io-wq */
	['eventfd fd -2', (_i, r) => { r.eventfd!.fd = -2; }, /^ring 1001: eventfd fd -2 is not a descriptor or -1$/],
	['personality twice', (_i, r) => { r.personalities[1].id = 1; }, /^ring 1001: personality 1 appears twice$/],
	['personality 0', (_i, r) => { r.personalities[1].id = 0; }, /^ring 1001: personality id 0 is not in 1\.\.65535$/],
	['personality too large', (_i, r) => { r.personalities[1].id = 65536; }, /^ring 1001: personality id 65536/],
	['restricted register op unknown', (_i, r) => { r.restrictions!.register_ops.push(36); }, /^ring 1001: restriction allows unknown register opcode 36$/],
	['restricted sqe op unknown', (_i, r) => { r.restrictions!.sqe_ops.push(63); }, /^ring 1001: restriction allows unknown request opcode 63$/],
	['restricted sqe flags unknown', (_i, r) => { r.restrictions!.sqe_flags_required = 0x81; }, /^ring 1001: restriction names unknown SQE flags 0x80$/],
	['io-wq with one limit', (_i, r) => { r.iowq!.max_workers = [4]; }, /^ring 1001: io-wq max_workers has 1 values, expected 2/],
	['io-wq CPU twice', (_i, r) => { r.iowq!.affinity = [1, 1]; }, /^ring 1001: io-wq affinity lists CPU 1 twice$/],
	/* found by the fuzzer: the planner made a mask of 2^32 bits for it */
	['io-wq CPU beyond Linux', (_i, r) => { r.iowq!.affinity = [0, 0xffffffff]; }, /^ring 1001: io-wq affinity lists CPU 4294967295, beyond the 8192 CPUs Linux supports$/],

	/* provided buffers */
	['bgid twice', (_i, r) => { r.provided_buffer_groups[0].bgid = 7; }, /^ring 1001: buffer group 7 appears twice$/],
	['legacy bgid too large', (_i, r) => { r.provided_buffer_groups[0].bgid = 65536; }, /^ring 1001: buffer group 65536 is beyond 65535$/],
	['legacy bid too large', (_i, r) => { r.provided_buffer_groups[0].buffers[0].bid = 65536; }, /^ring 1001: buffer group 3: buffer id 65536 is beyond 65535$/],
	['legacy buffer empty', (_i, r) => { r.provided_buffer_groups[0].buffers[1].len = 0; }, /^ring 1001: buffer group 3: buffer 0 has length 0$/],
	['buffer ring entries', (_i, r) => { r.provided_buffer_rings[1].entries = 12; }, /^ring 1001: buffer ring 8: 12 entries is not a power of two in 1\.\.32768$/],
	['buffer ring 65536 entries', (_i, r) => { r.provided_buffer_rings[1].entries = 65536; }, /^ring 1001: buffer ring 8: 65536 entries/],
	['buffer ring flags', (_i, r) => { r.provided_buffer_rings[1].flags = 4; }, /^ring 1001: buffer ring 8: unknown flags 0x4$/],
	['kernel ring with address', (_i, r) => { r.provided_buffer_rings[0].addr = 0x1000n; }, /^ring 1001: buffer ring 7: kernel-allocated ring with a user address$/],
	['user ring without address', (_i, r) => { r.provided_buffer_rings[1].addr = 0n; }, /^ring 1001: buffer ring 8: user ring without an address$/],
	['kernel ring memory size', (_i, r) => { r.provided_buffer_rings[0].ring_memory = Buffer.alloc(64); }, /^ring 1001: buffer ring 7: ring memory is 64 bytes, 8 entries need 128$/],
	['user ring memory saved', (_i, r) => { r.provided_buffer_rings[1].ring_memory = Buffer.alloc(256); }, /^ring 1001: buffer ring 8: ring memory saved for a ring in process memory$/],
	['buffer ring head/tail', (_i, r) => { r.provided_buffer_rings[1].tail = 20; }, /^ring 1001: buffer ring 8: head 3 and tail 20 are more than 16 apart$/],
	['buffer ring head beyond 16 bits', (_i, r) => { r.provided_buffer_rings[1].head = 0x10003; }, /^ring 1001: buffer ring 8: head 65539 or tail 10 does not fit the kernel's 16 bits$/],

	/* NAPI, clock, regions, in-flight */
	['NAPI mode unknown', (_i, r) => { r.napi!.mode = 'NAPI_MODE_UNSPECIFIED'; }, /^ring 1001: NAPI registered with no tracking mode$/],
	['clock realtime', (_i, r) => { r.clock!.clockid = 0; }, /^ring 1001: clock 0 is neither CLOCK_MONOTONIC nor CLOCK_BOOTTIME$/],
	['region kind unknown', (_i, r) => { r.mem_regions[0].kind = 'MEM_REGION_KIND_UNSPECIFIED'; }, /^ring 1001: memory region 0: unknown kind$/],
	['region size', (_i, r) => { r.mem_regions[0].size = 100n; r.mem_regions[0].contents = Buffer.alloc(100); }, /^ring 1001: memory region 0: size 100 is not a positive multiple of the page size$/],
	['region contents', (_i, r) => { r.mem_regions[0].contents = Buffer.alloc(10); }, /^ring 1001: memory region 0: 10 of 4096 content bytes saved$/],
	['in-flight opcode', (_i, r) => { r.inflight[0].opcode = 63; }, /^ring 1001: in-flight request 0 \(user_data 65261\): unknown opcode 63$/],
	['in-flight state', (_i, r) => { r.inflight[1].state = 'INFLIGHT_STATE_UNSPECIFIED'; }, /^ring 1001: in-flight request 1 \(user_data 1\): unknown wait state$/],
	['in-flight SQE size', (_i, r) => { r.inflight[0].sqe = Buffer.alloc(10); }, /^ring 1001: in-flight request 0 \(user_data 65261\): SQE of 10 bytes, not the 64 its re-arm needs$/],
	['in-flight SQE opcode', (_i, r) => { r.inflight[1].sqe[0] = 27; }, /^ring 1001: in-flight request 1 \(user_data 1\): SQE opcode 27 is not the request's 22$/],
	['in-flight timeout length', (_i, r) => { delete r.inflight[0].timeout_ns; }, /^ring 1001: in-flight request 0 \(user_data 65261\): no timeout length$/],
	['in-flight SENDMSG iovecs', (_i, r) => { r.inflight[4].send_iovecs = Buffer.alloc(16); }, /^ring 1001: in-flight request 4 \(user_data 4\): a SENDMSG of 2 iovecs with 16 bytes of them$/],
	['in-flight SENDMSG address', (_i, r) => { r.inflight[4].send_name = Buffer.alloc(0); }, /^ring 1001: in-flight request 4 \(user_data 4\): a SENDMSG with an address of 0 bytes, msg_namelen 16$/],
	['in-flight SENDMSG pointer', (_i, r) => { r.inflight[4].msghdr!.writeBigUInt64LE(1n, 16); }, /^ring 1001: in-flight request 4 \(user_data 4\): a SENDMSG whose msghdr has its own name or iovec pointer$/],

	/* holds and mappings */
	['ring held twice', (i) => { i.process!.holds.push({ ...i.process!.holds[1] }); }, /^ring 1002: held twice$/],
	['state missing', (i) => { i.rings.pop(); }, /^ring 1003: state missing/],
	['state attributed elsewhere', (i) => { i.process!.holds[2].state_pid = 1; }, /^ring 1003: state stored here but attributed to pid 1$/],
	['state attributed to a higher pid', (i) => { i.rings.pop(); i.process!.holds[2].state_pid = 9999; }, /^ring 1003: state attributed to pid 9999, not the lowest holder$/],
	['no state pid', (i) => { i.rings.pop(); i.process!.holds[2].state_pid = 0; }, /^ring 1003: no state pid$/],
	['state stored twice', (i) => { i.rings.push(i.rings[1]); }, /^ring 1002: state stored twice$/],
	['state of a ring not held', (i) => { i.process!.holds.pop(); }, /^ring 1003: state stored but the process does not hold the ring$/],
	['hold fd negative', (i) => { i.process!.holds[1].fds = [-1]; }, /^ring 1002: fd -1 is not a valid descriptor$/],
	['registered slot 16', (i) => { i.process!.holds[2].registered_slots[0].index = 16; }, /^ring 1003: registered ring slot 16 of thread 4242 is beyond 15$/],
	['registered slot without thread', (i) => { i.process!.holds[2].registered_slots[0].tid = 0; }, /^ring 1003: registered ring slot 3 has no thread$/],
	['mapping unaligned', (i) => { i.process!.holds[0].mappings[0].end += 1n; }, /^ring 1001: mapping 0x7f1000000000-0x7f1000002001: not a page-aligned range$/],
	['mapping empty', (i) => { const m = i.process!.holds[0].mappings[0]; m.end = m.start; }, /^ring 1001: mapping .*: not a page-aligned range$/],
	['mapping flags', (i) => { i.process!.holds[0].mappings[0].flags = 3; }, /^ring 1001: mapping .*: flags 3 are neither MAP_SHARED nor MAP_PRIVATE$/],
	['mapping prot', (i) => { i.process!.holds[0].mappings[0].prot = 8; }, /^ring 1001: mapping .*: unknown prot bits 0x8$/],
	['zcrx mapping', (i) => { Object.assign(i.process!.holds[0].mappings[3], { kind: 'MAPPING_KIND_ZCRX', offset: 0x30000000n }); }, /^ring 1001: mapping .*: zero-copy receive \(zcrx\) areas cannot be restored$/],
	['unknown mapping', (i) => { i.process!.holds[0].mappings[3].kind = 'MAPPING_KIND_UNKNOWN'; }, /^ring 1001: mapping .*: unknown io_uring region at offset 0x20000000 cannot be restored$/],
	['mapping kind vs offset', (i) => { i.process!.holds[0].mappings[1].offset = 0x8000000n; }, /^ring 1001: mapping .*: kind MAPPING_KIND_SQES bgid 0 does not match offset 0x8000000$/],
	['pbuf mapping bgid vs offset', (i) => { i.process!.holds[0].mappings[2].bgid = 8; }, /^ring 1001: mapping .*: kind MAPPING_KIND_PBUF_RING bgid 8 does not match offset 0x80070000$/],
	['pbuf mapping of a user ring', (i) => { Object.assign(i.process!.holds[0].mappings[2], { bgid: 8, offset: 0x80080000n }); }, /^ring 1001: mapping of buffer ring 8, which is not a kernel-allocated buffer ring$/],
	['NO_MMAP ring with mappings', (i, r) => { setFlags(r, r.setup!.flags | S.NO_MMAP); }, /^ring 1001: NO_MMAP ring with io_uring mappings$/],

	/* epoll entries on rings */
	['epoll watch on another fd', (i) => { i.process!.holds[0].epoll_watches[0].tfd = 8; }, /^ring 1001: epoll watch \(epfd 5, tfd 8\): tfd is not one of the ring's fds$/],
	['epoll fd is the ring', (i) => { i.process!.holds[0].epoll_watches[0].epfd = 9; }, /^ring 1001: epoll watch \(epfd 9, tfd 3\): epfd is one of the ring's own fds$/],
	['epoll fd negative', (i) => { i.process!.holds[0].epoll_watches[0].epfd = -1; }, /^ring 1001: epoll watch \(epfd -1, tfd 3\): epfd is not a valid descriptor$/],
	['epoll watch without id', (i) => { i.process!.holds[0].epoll_watches[1].epoll_id = 0; }, /^ring 1001: epoll watch \(epfd 6, tfd 9\): no epoll id$/],
	['epoll exclusive oneshot', (i) => { i.process!.holds[0].epoll_watches[0].events = 0x50000001; }, /^ring 1001: epoll watch \(epfd 5, tfd 3\): EPOLLEXCLUSIVE with EPOLLONESHOT/],
	['epoll watch twice', (i) => { const h = i.process!.holds[0]; h.epoll_watches.push({ ...h.epoll_watches[0] }); }, /^ring 1001: epoll watch \(epfd 5, tfd 3\): listed twice$/],
	['epoll fd with two ids', (i) => { i.process!.holds[1].epoll_watches[0].epoll_id = 2; }, /^ring 1002: epoll fd 5 has epoll ids 1 and 2$/],
];

t.test('the sample image and image set are valid', async (t) => {
	t.same(imageProblems(sampleImage()), []);
	const set = sampleImageSet();
	for (const img of set) t.same(imageProblems(img), []);
	t.doesNotThrow(() => validateImageSet(set));
	t.doesNotThrow(() => validateImage(sampleImage()));
});

t.test('page-rounded ring memory is accepted', async (t) => {
	const img = sampleImage();
	const a = img.rings[1];
	a.memory!.rings = sampleRingMemory(a.setup!.flags, 4, 8, true);
	t.equal(a.memory!.rings.length, 4096);
	t.same(imageProblems(img), []);
});

for (const [what, breakIt, want] of CASES) {
	t.test(what, async (t) => {
		const img = sampleImage();
		breakIt(img, img.rings[0], img.rings[1], img.rings[2]);
		const problems = imageProblems(img);
		t.match(problems[0] ?? '(valid)', want, 'the first problem says what is wrong');
		try {
			validateImage(img, 'io_uring-4242.img');
			t.fail('validateImage accepted it');
		} catch (e) {
			t.ok(e instanceof ImageError, 'ImageError');
			t.equal((e as Error).message, `io_uring-4242.img: ${problems[0]}`, 'one line naming the image');
			t.notOk((e as Error).message.includes('\n'));
		}
	});
}

t.test('a path with a newline is refused in one line (found by the fuzzer)', async (t) => {
	const img = sampleImage();
	img.rings[0].files!.entries[1].path = 'a\nb';
	t.throws(() => validateImage(img, 'io_uring-4242.img'),
		{ name: 'ImageError', message: 'io_uring-4242.img: ring 1001: registered file slot 3: held only by the ring and its path "a\\nb" is not absolute' });
});

type SetCase = [string, (set: Image[]) => void, RegExp];
const SET_CASES: SetCase[] = [
	['ring state in two images', (s) => { s[1].rings.push(s[0].rings[2]); s[1].process!.holds[2].ring_id = 2003n; }, /^io_uring-200\.img: ring 1003: state also stored in io_uring-100\.img$/],
	['owner image missing', (s) => { s.shift(); }, /^io_uring-200\.img: ring 1001: state is in io_uring-100\.img, which is missing$/],
	['owner image lacks the ring', (s) => { s[0].rings.splice(1, 1); s[0].process!.holds.splice(1, 1); s[0].rings[0].setup!.attach_ring_id = 0n; }, /^io_uring-200\.img: ring 1002: state is not in io_uring-100\.img as this image says$/],
	['attach to a missing ring', (s) => { s[0].rings[1].setup!.attach_ring_id = 77n; }, /^io_uring-100\.img: ring 1002: attaches to ring 77, which is not in the checkpoint$/],
	['attach to itself', (s) => { s[0].rings[1].setup!.attach_ring_id = 1002n; }, /^io_uring-100\.img: ring 1002: attaches to itself$/],
	['attach to a non-SQPOLL ring', (s) => { s[0].rings[1].setup!.attach_ring_id = 1003n; }, /^io_uring-100\.img: ring 1002: attaches to ring 1003, which does not own an SQPOLL thread$/],
	['epoll entry differs', (s) => { s[1].process!.holds[0].epoll_watches[0].data = 1n; }, /^io_uring-200\.img: ring 1001: epoll entry \(epoll 1, tfd 3\) differs from the same entry in another image$/],
	['attach to an attached ring', (s) => { s[0].rings[0].setup!.attach_ring_id = 1002n; }, /^io_uring-100\.img: ring 1001: attaches to ring 1002, which does not own an SQPOLL thread$/],
];

for (const [what, breakIt, want] of SET_CASES) {
	t.test(`set: ${what}`, async (t) => {
		const set = sampleImageSet(100, 200);
		breakIt(set);
		t.throws(() => validateImageSet(set), { name: 'ImageError', message: want });
	});
}

t.test('buffer ring head and tail are 16-bit counters: a tail that wrapped past 65535 is accepted', async (t) => {
	const img = sampleImage();
	const b = img.rings[0].provided_buffer_rings[1];
	Object.assign(b, { head: 65527, tail: 2 }); /* 11 apart modulo 2^16, as a busy program leaves them */
	t.same(imageProblems(img), [], 'valid');
	Object.assign(b, { head: 2, tail: 65527 }); /* 65525 apart: the tail is not ahead by at most the entries */
	t.match(imageProblems(img).join('\n'), /buffer ring 8: head 2 and tail 65527 are more than 16 apart/, 'refused');
});

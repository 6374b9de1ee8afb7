/*
 * Text output of inspect: compact, aligned, one block per ring.
 */
import type { Cqe, ProcessRings, ProcessSummary, RingState, Sqe } from '../capture/model';

const hex = (n: number): string => '0x' + (n >>> 0).toString(16);
const pad = (s: string, n: number): string => s.padEnd(n);

function table(rows: string[][]): string[] {
	const widths: number[] = [];
	for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
	return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]))).join('  ').trimEnd());
}

export function renderSummary(list: ProcessSummary[], source: string): string {
	if (list.length === 0) return `no process holds an io_uring instance (source: ${source})\n`;
	const rows = [['PID', 'COMM', 'RINGS', 'FILES', 'BUFS', 'INFLIGHT']];
	for (const p of list)
		rows.push([String(p.pid), p.comm, String(p.rings), String(p.registered_files), String(p.registered_buffers), String(p.inflight)]);
	return table(rows).join('\n') + `\n(source: ${source})\n`;
}

export function renderProcess(p: ProcessRings): string {
	const out = [`pid ${p.pid} (${p.comm}): ${p.rings.length} io_uring instance${p.rings.length === 1 ? '' : 's'}, source ${p.source}`];
	if (p.unavailable.length) out.push(`  not visible: ${p.unavailable.join('; ')}`);
	for (const r of p.rings) out.push('', ...renderRing(r));
	return out.join('\n') + '\n';
}

function sqeLine(s: Sqe): string {
	const target = s.fixed ? `fixed ${s.fd}` : `fd ${s.fd}`;
	return `[${s.index}] ${s.opname} ${target} off ${s.off} addr ${hexStr(s.addr)} len ${s.len} flags ${hex(s.flags)} user_data ${s.user_data}`;
}

function cqeLine(c: Cqe): string {
	const big = c.extra1 !== undefined ? ` extra1 ${c.extra1} extra2 ${c.extra2}` : '';
	return `user_data ${c.user_data} res ${c.res} flags ${hex(c.flags)}${big}`;
}

const hexStr = (dec: string): string => '0x' + BigInt(dec).toString(16);

function renderRing(r: RingState): string[] {
	const rows: string[][] = [];
	const add = (k: string, v: string): void => void rows.push([k, v]);
	const slots = r.registered_slots.map((s) => `${s.tid}:${s.index}`).join(',');
	add('ring', `inode ${r.inode}  fds ${r.fds.join(',') || '-'}  registered slots ${slots || '-'}`);
	add('setup', `${r.flags.join('|') || '-'} (${hex(r.setup_flags)})  sq ${r.sq_entries}  cq ${r.cq_entries}` +
		`  owner ${r.submitter_tid ?? '-'}${r.disabled ? '  DISABLED' : ''}`);
	if (r.sqpoll) {
		const s = r.sqpoll;
		add('sqpoll', `thread ${s.thread_pid ?? '?'}  cpu ${s.cpu ?? 'any'}  idle ${s.idle_ms ?? '?'} ms` +
			(s.shared_with.length ? `  shared with ${s.shared_with.join(',')}` : ''));
	}
	add('sq', `head ${r.sq.head}  tail ${r.sq.tail}  cached head ${r.sq.cached_head ?? '?'}  dropped ${r.sq.dropped}  flags ${hex(r.sq.flags)}`);
	add('cq', `head ${r.cq.head}  tail ${r.cq.tail}  cached tail ${r.cq.cached_tail ?? '?'}  overflow ${r.cq.overflow}  flags ${hex(r.cq.flags)}`);
	for (const m of r.mappings) add('mapping', `${m.start}-${m.end} ${m.prot} off ${m.offset} ${m.kind}${m.bgid !== undefined ? ` bgid ${m.bgid}` : ''}`);
	if (r.pending_sqes.length) add('pending', `${r.pending_sqes.length} SQE(s)`);
	for (const s of r.pending_sqes) add('', sqeLine(s));
	if (r.cqes.length) add('cqes', `${r.cqes.length} unconsumed`);
	for (const c of r.cqes) add('', cqeLine(c));
	if (r.overflow_cqes.length) add('overflow', `${r.overflow_cqes.length} CQE(s) on the overflow list`);
	for (const c of r.overflow_cqes) add('', cqeLine(c));
	const f = r.registered_files;
	if (f.size) add('files', `table ${f.size}, ${f.entries.length} used${f.alloc_range ? `, alloc range ${f.alloc_range[0]}-${f.alloc_range[1]}` : ''}`);
	for (const e of f.entries) add('', `[${e.index}] ${e.fds.length ? 'fd ' + e.fds.join(',') : 'ring only'}  ${e.type}  ${e.path}`);
	const b = r.registered_buffers;
	if (b.size) add('buffers', `table ${b.size}, ${b.entries.length} used`);
	for (const e of b.entries) add('', `[${e.index}] ${hexStr(e.addr)} len ${e.len}${e.mapped ? '' : '  (unmapped)'}`);
	for (const w of r.epoll_watches ?? [])
		add('epoll', `epoll fd ${w.epfd} watches fd ${w.tfd}  events ${hex(w.events >>> 0)}  data ${hexStr(w.data)}`);
	if (r.eventfd) add('eventfd', `fd ${r.eventfd.fds.join(',') || 'ring only'}${r.eventfd.async ? '  async' : ''}`);
	for (const p of r.personalities)
		add('personality', `${p.id}: uid ${p.uid}/${p.euid}/${p.suid}/${p.fsuid} gid ${p.gid}/${p.egid}/${p.sgid}/${p.fsgid} groups ${p.groups.join(',') || '-'} caps ${p.cap_effective}`);
	if (r.restrictions) {
		const x = r.restrictions;
		add('restrictions', `register ops ${x.register_ops.join(',') || '-'}  sqe ops ${x.sqe_ops.join(',') || '-'}  flags allowed ${hex(x.sqe_flags_allowed)} required ${hex(x.sqe_flags_required)}`);
	}
	if (r.iowq_max_workers) add('io-wq', `max workers bounded ${r.iowq_max_workers[0]} unbounded ${r.iowq_max_workers[1]}`);
	for (const pb of r.provided_buffers) {
		if (pb.kind === 'ring')
			add('pbuf ring', `bgid ${pb.bgid}  entries ${pb.entries}  ${pb.mmap ? 'kernel-allocated' : 'at ' + hexStr(pb.addr ?? '0')}  head ${pb.head}  tail ${pb.tail}${pb.inc ? '  incremental' : ''}`);
		else add('pbuf group', `bgid ${pb.bgid}  ${pb.buffers.length} buffer(s)`);
	}
	if (r.napi && r.napi.mode !== 'off') add('napi', `${r.napi.mode}  busy poll ${r.napi.busy_poll_dt}${r.napi.prefer_busy_poll ? '  prefer' : ''}`);
	/* CLOCK_MONOTONIC without offset is every ring's default: not worth a line */
	if (r.clock && (r.clock.clockid !== 1 || r.clock.offset !== '0')) add('clock', `id ${r.clock.clockid}  offset ${r.clock.offset}`);
	for (const m of r.mem_regions) add('mem region', `${m.kind} ${m.addr ? hexStr(m.addr) : 'kernel'} size ${m.size}`);
	if (r.inflight.length) add('inflight', `${r.inflight.length} request(s)`);
	for (const q of r.inflight) {
		const rearm = !q.rearm ? '' : q.rearm.ok ? '  re-armed at restore' : `  not re-armable: ${q.rearm.why}`;
		add('', `${q.opcode} user_data ${q.user_data || '?'} ${q.fd === null ? '' : (q.fixed ? 'fixed ' : 'fd ') + q.fd}  ${q.state}${rearm}`);
		for (const l of q.links ?? []) add('', `  -> ${l.opcode} user_data ${l.user_data || '?'} ${l.fd === null ? '' : (l.fixed ? 'fixed ' : 'fd ') + l.fd}  linked`);
	}
	return table(rows).map((l) => '  ' + l);
}

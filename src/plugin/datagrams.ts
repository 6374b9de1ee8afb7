/*
 * Requests that wait on a UDP socket, for the check after the dump
 * (verify.ts).
 *
 * CRIU keeps no datagram queue: a restored UDP (or UDP-Lite) socket starts
 * empty, and every datagram queued at the dump is dropped, as the network
 * may drop any datagram.  A datagram that completed such a request after
 * the capture, while CRIU dumped the tree, is the same: the images hold the
 * request armed and the ring without its completion, as if the datagram
 * had never arrived.  Nothing the application had is lost and nothing
 * happens twice, so the check lets such completions pass instead of
 * abandoning the dump (a UDP server with steady traffic in the host's
 * network namespace, which CRIU does not lock, would never be dumped).
 * Only requests whose completion changes nothing outside the ring qualify
 * (receives and polls); a send that went out would go out again after the
 * restore, and the requests linked after a receive run when it completes
 * (perhaps without a completion, IOSQE_CQE_SKIP_SUCCESS): a receive that
 * heads a chain is not let through.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type { InflightRequest, RingState } from '../capture/model';

const RECEIVES = new Set(['RECV', 'RECVMSG', 'READ', 'READ_MULTISHOT', 'POLL_ADD']);

/* Inodes of the UDP and UDP-Lite sockets of the process's network namespace. */
function udpInodes(pid: number): Set<number> {
	const out = new Set<number>();
	for (const table of ['udp', 'udp6', 'udplite', 'udplite6']) {
		let text: string;
		try {
			text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
		} catch {
			continue;
		}
		/* sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ... */
		for (const line of text.split('\n').slice(1)) {
			const inode = line.trim().split(/\s+/)[9];
			if (inode) out.add(Number(inode));
		}
	}
	return out;
}

/* The socket inode a request works on: its fd in the process, or its registered file. */
function socketInode(pid: number, r: RingState, q: InflightRequest): number | null {
	if (q.fd === null) return null;
	let path: string | undefined;
	if (q.fixed) {
		path = r.registered_files.entries.find((e) => e.index === q.fd)?.path;
	} else {
		try {
			path = readlinkSync(`/proc/${pid}/fd/${q.fd}`);
		} catch {
			return null;
		}
	}
	const m = /^socket:\[(\d+)\]$/.exec(path ?? '');
	return m ? Number(m[1]) : null;
}

/** Per ring inode, user_data of its waiting receives and polls on UDP sockets (as held by process @pid); the tables are read once. */
export function udpReceives(pid: number, rings: RingState[]): Map<number, Set<string>> {
	const out = new Map<number, Set<string>>();
	let udp: Set<number> | undefined;
	for (const r of rings) {
		/* not the head of a linked chain: what follows it would run (a send going out) with no completion to see */
		const waiting = r.inflight.filter((q) => RECEIVES.has(q.opcode) && !q.links?.length);
		const mine = new Set<string>();
		out.set(r.inode, mine);
		if (!waiting.length) continue;
		udp ??= udpInodes(pid);
		for (const q of waiting) {
			const ino = socketInode(pid, r, q);
			if (ino !== null && udp.has(ino)) mine.add(q.user_data);
		}
	}
	return out;
}

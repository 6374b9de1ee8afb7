/*
 * What the restore planner needs to know of one ring: the captured state
 * (inspect model) plus its memory and the fd flags.  The image module
 * produces this from an io_uring-*.img (src/image/), the dump writes it.
 */
import type { EpollWatch, Mapping, RingState } from '../capture/model';

/** Another process holding the ring (fork): its own fds, slots and mappings. */
export interface RingHolder {
	pid: number;
	fds: number[];
	registered_slots: { tid: number; index: number }[];
	mappings: Mapping[];
	/** Its epoll entries on the ring (RingState.epoll_watches of that process). */
	epoll_watches: EpollWatch[];
}

export interface RestoreRing {
	state: RingState;
	/** Bytes of the ring region (io_rings header, CQEs, SQ array) as dumped. */
	rings: Buffer;
	/** Bytes of the SQE region as dumped. */
	sqes: Buffer;
	/** fd -> close-on-exec, for every fd in state.fds. */
	cloexec: Map<number, boolean>;
	/** Memory of the kernel-allocated (IOU_PBUF_RING_MMAP) buffer rings, by bgid. */
	pbufRings?: Map<number, Buffer>;
	/** Contents of registered buffers whose memory the process had unmapped, by buffer index. */
	buffers?: Map<number, Buffer>;
	/** Contents of the ring's memory regions, in the order of state.mem_regions. */
	regions?: Buffer[];
	/** SQPOLL sharing (ATTACH_WQ): the ring id (inode at dump) whose thread this ring attaches to; 0: none. */
	attach_ring_id?: number;
	/** Position of that ring in this process's plan (its fd is $r<index>); set by the restore session. */
	attach_index?: number;
	/**
	 * That ring's fd number in the process: its plan has run completely
	 * (setup fd already closed) by the time this ring is set up.
	 */
	attach_fd?: number;
	/**
	 * Registered-ring slots of this process that the rings planned before
	 * this one have filled by the time it is set up (REGISTERED_FD_ONLY
	 * rings land in the first free slot: concerns/fdonly.ts); set by the
	 * restore session.
	 */
	slots_before?: { tid: number; index: number }[];
	/** The other processes holding this ring; its state is rebuilt once, in this image's process. */
	holders?: RingHolder[];
	/** In-flight requests to re-arm, in the order they are submitted (concerns/rearm.ts). */
	rearm?: RearmRequest[];
}

/** One request to re-arm: the SQE to submit (same user_data); a TIMEOUT's time left. */
export interface RearmRequest {
	opcode: number;
	user_data: bigint;
	sqe: Buffer;
	timeout_ns?: bigint;
	/** Multishot RECVMSG: the msghdr the SQE's addr is set to point at. */
	msghdr?: Buffer;
	/** FUTEX_WAITV: the futex_waitv array the SQE's addr is set to point at. */
	futexv?: Buffer;
	/** SENDMSG: the iovecs and address placed after its msghdr, which is set to point at them; a SEND's address (its addr2). */
	iovecs?: Buffer;
	name?: Buffer;
}

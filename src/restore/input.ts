/*
 * What the restore planner needs to know of one ring: the captured state
 * (inspect model) plus its memory and the fd flags.  The image module
 * produces this from an io_uring-*.img (src/image/), the dump writes it.
 */
import type { RingState } from '../capture/model';

export interface RestoreRing {
	state: RingState;
	/** Bytes of the ring region (io_rings header, CQEs, SQ array) as dumped. */
	rings: Buffer;
	/** Bytes of the SQE region as dumped. */
	sqes: Buffer;
	/** fd -> close-on-exec, for every fd in state.fds. */
	cloexec: Map<number, boolean>;
}

/*
 * io_uring layout facts and kernel limits (Linux 6.18, x86_64) the image
 * checks sizes against: ring region layout, limits.  Flag bits and
 * opcodes are in src/uring/abi.ts.  The layout of struct io_rings is the
 * running kernel's (ringsLayout()): Linux 6.1's differs.
 */
import { IOSQE, SETUP } from '../uring/abi';
import { kernelFeatures, type RingsLayout } from '../uring/features';

export const PAGE_SIZE = 4096;

export const CQE_SIZE = 16;
export const SQE_SIZE = 64;
const SQ_ARRAY_ENTRY_SIZE = 4;
const SMP_CACHE_BYTES = 64;
/* struct io_rings of Linux 6.12 and later: the header is 64 bytes. */
const LAYOUT_PACKED: RingsLayout = {
	sq_head: 0, sq_tail: 4, cq_head: 8, cq_tail: 12, sq_ring_mask: 16, cq_ring_mask: 20, sq_ring_entries: 24,
	cq_ring_entries: 28, sq_dropped: 32, sq_flags: 36, cq_flags: 40, cq_overflow: 44, cqes: 64,
};

let layout: RingsLayout | null = null;

/**
 * Where the running kernel keeps the fields of the ring region (io_uring
 * reports it at setup); the 6.12+ layout where io_uring cannot be asked.
 * Images hold the ring bytes of the kernel they were dumped on, so they
 * are checked, and written back, in this layout.
 */
export function ringsLayout(): RingsLayout {
	if (layout) return layout;
	let probed: RingsLayout | null = null;
	try {
		probed = kernelFeatures().layout;
	} catch {
		/* no addon: the default */
	}
	layout = probed ?? LAYOUT_PACKED;
	return layout;
}

/* Kernel limits. */
export const IORING_MAX_ENTRIES = 32768;
export const IORING_MAX_CQ_ENTRIES = 2 * IORING_MAX_ENTRIES;
export const IORING_MAX_FIXED_FILES = 1 << 20;
export const IORING_MAX_REG_BUFFERS = 1 << 14;
export const IORING_MAX_BUFFER_LEN = 1 << 30;
export const IO_RINGFD_REG_MAX = 16;
export const MAX_PERSONALITY_ID = 0xffff;
export const MAX_BGID = 0xffff;
/* CPU numbers: below the largest NR_CPUS Linux builds with (x86-64 MAXSMP) */
export const MAX_CPUS = 8192;
export const PBUF_RING_MAX_ENTRIES = 32768; /* power of two below 65536 */
export const PBUF_RING_ENTRY_SIZE = 16;     /* struct io_uring_buf */
export const IOSQE_ALL_FLAGS = Object.values(IOSQE).reduce((a, b) => a | b, 0);

/** Setup flags this version can restore: every bit Linux 6.18 knows (0..18). */
export const SUPPORTED_SETUP_FLAGS = Object.values(SETUP).reduce((a, b) => a | b, 0);

export const CLOCK_MONOTONIC = 1;
export const CLOCK_BOOTTIME = 7;

export function isPowerOfTwo(n: number): boolean {
	return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function alignUp(n: number, to: number): number {
	return Math.ceil(n / to) * to;
}

/**
 * Size of the ring region (io_rings header, CQEs, SQ array) for a ring
 * with these flags and sizes, as the kernel computes it before rounding
 * to pages.
 */
export function ringsRegionSize(flags: number, sqEntries: number, cqEntries: number): number {
	let off = ringsLayout().cqes + cqEntries * CQE_SIZE;
	if (flags & SETUP.CQE32) off *= 2;
	off = alignUp(off, SMP_CACHE_BYTES);
	if (flags & SETUP.NO_SQARRAY) return off;
	return off + sqEntries * SQ_ARRAY_ENTRY_SIZE;
}

/** Size of the SQE region. */
export function sqesRegionSize(flags: number, sqEntries: number): number {
	return sqEntries * SQE_SIZE * (flags & SETUP.SQE128 ? 2 : 1);
}

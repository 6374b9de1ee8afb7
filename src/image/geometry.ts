/*
 * io_uring ABI facts (Linux 6.18, x86_64) the image checks sizes and
 * flags against: ring region layout, limits, setup flag bits.  The layout
 * of struct io_rings is the running kernel's (ringsLayout()): Linux 6.1's
 * differs.
 */
import { kernelFeatures, type RingsLayout } from '../uring/features';

export const PAGE_SIZE = 4096;

export const CQE_SIZE = 16;
export const SQE_SIZE = 64;
export const SQ_ARRAY_ENTRY_SIZE = 4;
export const SMP_CACHE_BYTES = 64;
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
export const PBUF_RING_MAX_ENTRIES = 32768; /* power of two below 65536 */
export const PBUF_RING_ENTRY_SIZE = 16;     /* struct io_uring_buf */
export const NR_REQUEST_OPCODES = 63;
export const NR_REGISTER_OPCODES = 36;
export const IOSQE_ALL_FLAGS = 0x7f;

/* IORING_SETUP_* bits. */
export const SETUP = {
	IOPOLL: 1 << 0, SQPOLL: 1 << 1, SQ_AFF: 1 << 2, CQSIZE: 1 << 3, CLAMP: 1 << 4,
	ATTACH_WQ: 1 << 5, R_DISABLED: 1 << 6, SUBMIT_ALL: 1 << 7, COOP_TASKRUN: 1 << 8,
	TASKRUN_FLAG: 1 << 9, SQE128: 1 << 10, CQE32: 1 << 11, SINGLE_ISSUER: 1 << 12,
	DEFER_TASKRUN: 1 << 13, NO_MMAP: 1 << 14, REGISTERED_FD_ONLY: 1 << 15,
	NO_SQARRAY: 1 << 16, HYBRID_IOPOLL: 1 << 17, CQE_MIXED: 1 << 18,
} as const;
/** Setup flags this version can restore: every bit Linux 6.18 knows (0..18). */
export const SUPPORTED_SETUP_FLAGS = (1 << 19) - 1;

/* IOU_PBUF_RING_* registration flags. */
export const IOU_PBUF_RING_MMAP = 1;
export const IOU_PBUF_RING_INC = 2;

/* mmap offsets (high bits select the region). */
export const IORING_OFF_SQ_RING = 0n;
export const IORING_OFF_CQ_RING = 0x8000000n;
export const IORING_OFF_SQES = 0x10000000n;
export const IORING_OFF_PARAM_REGION = 0x20000000n;
export const IORING_OFF_ZCRX = 0x30000000n;
export const IORING_OFF_PBUF_RING = 0x80000000n;
export const IORING_OFF_PBUF_SHIFT = 16n;
export const IORING_OFF_MMAP_MASK = 0xf8000000n;

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

/*
 * The native addon (native/*.cc, built by cmake-js into
 * build/addon/Release/criu_uring.node) and its typed interface.
 *
 * All functions are synchronous.  System call failures throw an Error whose
 * message names the call and the errno ("pidfd_getfd: EBADF (Bad file
 * descriptor)"), with `code` (errno name), `errno` and `syscall` set.
 */
import { existsSync } from 'node:fs';
import { ADDON } from './util/paths';

export interface Native {
	/**
	 * Runs the BPF iterators for one process (tgid > 0) or, with 0, for
	 * every process (summary mode), and returns the binary records
	 * (decoded by src/capture/bpf-records.ts).  Throws "BPF unavailable:
	 * <reason>" when the programs cannot be loaded.
	 */
	runIter(targetTgid: number): Buffer;
	/**
	 * How the BPF programs in use came to be: "loaded and pinned as DIR",
	 * "loaded, not pinned: WHY", "reused DIR" (pinned by an earlier
	 * process), or "not loaded yet".
	 */
	bpfPinState(): string;
	/**
	 * The kernel's REQ_F_<NAME>_BIT numbers the BPF programs are loaded
	 * with (CUR_POS, NOWAIT, LINK_TIMEOUT, BUFFER_SELECTED, BUFFER_RING,
	 * CREDS, APOLL_MULTISHOT), from its BTF; null when one is missing
	 * (then nothing is re-armed).
	 */
	reqFlagBits(): Record<string, number> | null;
	pidfdOpen(pid: number): number;
	/** A copy, in this process, of fd `targetfd` of the process behind `pidfd`. */
	pidfdGetfd(pidfd: number, targetfd: number): number;
	close(fd: number): void;
	/** Reads up to len bytes; the result is shorter when the range runs into a hole. */
	processVmReadv(pid: number, addr: bigint, len: number): Buffer;
	/** Returns the number of bytes written. */
	processVmWritev(pid: number, addr: bigint, buf: Buffer): number;
	/** mmap(fd, offset) read-only and shared, copy len bytes, munmap. */
	mmapRead(fd: number, offset: bigint, len: number): Buffer;
	/** io_uring_setup(entries, params); params is a 120-byte struct io_uring_params, updated in place. */
	ioUringSetup(entries: number, params: Buffer): number;
	/** arg: a Buffer, null, or a raw address (a bigint; the feature probes pass unmapped ones). */
	ioUringRegister(fd: number, op: number, arg: Buffer | bigint | null, nr: number): number;
	/** Whether a NOP with IORING_NOP_INJECT_RESULT posts res = len here (src/uring/features.ts). */
	nopInjectProbe(): boolean;
	/** SHA-256 of @data (libmd); src/util/sha256.ts. */
	sha256(data: Uint8Array): Buffer;
	/** io_uring_enter without a signal mask or extended argument. */
	ioUringEnter(fd: number, toSubmit: number, minComplete: number, flags: number): number;
}

export class NativeError extends Error {}

/** build/addon/Release/ in a checkout, addon/ in an installed copy (src/util/paths.ts). */
const ADDON_PATH = ADDON;

let cached: Native | null = null;

/** Loads the addon once; throws a NativeError saying how to build it when it is missing. */
export function loadNative(): Native {
	if (cached) return cached;
	if (!existsSync(ADDON_PATH))
		throw new NativeError(`native addon not built: ${ADDON_PATH} is missing (run make -C bpf && npx cmake-js compile -O build/addon)`);
	try {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		cached = require(ADDON_PATH) as Native;
	} catch (e) {
		throw new NativeError(`cannot load native addon ${ADDON_PATH}: ${(e as Error).message.split('\n')[0]}`);
	}
	return cached;
}

/** The addon if something in this process loaded it already, else null (never loads it). */
export function loadedNative(): Native | null {
	return cached;
}

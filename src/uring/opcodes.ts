/*
 * io_uring request opcodes (IORING_OP_*), as numbered by the kernel ABI
 * (Linux 6.18 knows 63 of them).  The names are the kernel's own op names,
 * the ones /proc/PID/fdinfo prints.
 */
import { OP } from './abi';

export const OPCODES: readonly string[] = Object.keys(OP);

/** Name of an opcode; unknown (newer) opcodes read "OP_<n>". */
export function opcodeName(op: number): string {
	return OPCODES[op] ?? `OP_${op}`;
}

/** Number of an opcode name as printed by fdinfo or opcodeName(); -1 if unknown. */
export function opcodeNumber(name: string): number {
	const i = OPCODES.indexOf(name);
	if (i >= 0) return i;
	const m = /^OP_(\d+)$/.exec(name);
	return m ? Number(m[1]) : -1;
}

/*
 * Opcodes whose requests take no file (the kernel's needs_file is unset):
 * for these the fd field of a request is not meaningful.
 */
const NO_FILE_OPS = new Set([
	'NOP', 'POLL_REMOVE', 'TIMEOUT', 'TIMEOUT_REMOVE', 'ASYNC_CANCEL', 'LINK_TIMEOUT', 'OPENAT',
	'FILES_UPDATE', 'STATX', 'MADVISE', 'OPENAT2', 'PROVIDE_BUFFERS', 'REMOVE_BUFFERS', 'RENAMEAT',
	'UNLINKAT', 'MKDIRAT', 'SYMLINKAT', 'LINKAT', 'SETXATTR', 'GETXATTR', 'SOCKET', 'WAITID',
	'FUTEX_WAIT', 'FUTEX_WAKE', 'FUTEX_WAITV', 'PIPE',
]);

/** Whether requests with this opcode operate on a file (fd or fixed-file index). */
export function opcodeTakesFile(op: number): boolean {
	return !NO_FILE_OPS.has(opcodeName(op));
}

/*
 * io_uring request opcodes (IORING_OP_*), as numbered by the kernel ABI
 * (Linux 6.18 knows 63 of them).  The names are the kernel's own op names,
 * the ones /proc/PID/fdinfo prints.
 */
export const OPCODES: readonly string[] = [
	'NOP', 'READV', 'WRITEV', 'FSYNC', 'READ_FIXED', 'WRITE_FIXED', 'POLL_ADD', 'POLL_REMOVE',
	'SYNC_FILE_RANGE', 'SENDMSG', 'RECVMSG', 'TIMEOUT', 'TIMEOUT_REMOVE', 'ACCEPT', 'ASYNC_CANCEL',
	'LINK_TIMEOUT', 'CONNECT', 'FALLOCATE', 'OPENAT', 'CLOSE', 'FILES_UPDATE', 'STATX', 'READ',
	'WRITE', 'FADVISE', 'MADVISE', 'SEND', 'RECV', 'OPENAT2', 'EPOLL_CTL', 'SPLICE',
	'PROVIDE_BUFFERS', 'REMOVE_BUFFERS', 'TEE', 'SHUTDOWN', 'RENAMEAT', 'UNLINKAT', 'MKDIRAT',
	'SYMLINKAT', 'LINKAT', 'MSG_RING', 'FSETXATTR', 'SETXATTR', 'FGETXATTR', 'GETXATTR', 'SOCKET',
	'URING_CMD', 'SEND_ZC', 'SENDMSG_ZC', 'READ_MULTISHOT', 'WAITID', 'FUTEX_WAIT', 'FUTEX_WAKE',
	'FUTEX_WAITV', 'FIXED_FD_INSTALL', 'FTRUNCATE', 'BIND', 'LISTEN', 'RECV_ZC', 'EPOLL_WAIT',
	'READV_FIXED', 'WRITEV_FIXED', 'PIPE',
];

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

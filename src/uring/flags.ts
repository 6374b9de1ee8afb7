/*
 * Names of io_uring flag bits, for people (text output) and for the
 * `flags` list of the inspect JSON.  Values are ABI facts (Linux 6.18).
 */

/** IORING_SETUP_* bits 0..18, in bit order. */
export const SETUP_FLAGS: readonly string[] = [
	'IOPOLL', 'SQPOLL', 'SQ_AFF', 'CQSIZE', 'CLAMP', 'ATTACH_WQ', 'R_DISABLED', 'SUBMIT_ALL',
	'COOP_TASKRUN', 'TASKRUN_FLAG', 'SQE128', 'CQE32', 'SINGLE_ISSUER', 'DEFER_TASKRUN',
	'NO_MMAP', 'REGISTERED_FD_ONLY', 'NO_SQARRAY', 'HYBRID_IOPOLL', 'CQE_MIXED',
];

/** Names (without the IORING_SETUP_ prefix) of the bits set in `flags`; unknown bits read "BIT<n>". */
export function setupFlagNames(flags: number): string[] {
	const names: string[] = [];
	for (let bit = 0; bit < 32; bit++) {
		if ((flags >>> 0) & (1 << bit)) names.push(SETUP_FLAGS[bit] ?? `BIT${bit}`);
	}
	return names;
}


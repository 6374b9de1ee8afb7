/*
 * What the BPF capture could not read on this kernel, and whether that
 * matters.  The programs report a field they cannot find in this kernel's
 * BTF as a `missing` bit (the model's `unavailable` words, capture/bpf.ts
 * MISSING).  A field can be absent because the kernel lacks the whole
 * feature (no registered clock before Linux 6.12): then no process can be
 * using it and nothing is lost.  If the kernel has the feature (the probes
 * of uring/features.ts say so) and the capture cannot read it, a checkpoint
 * could silently drop state: the dump refuses instead.
 */
import { MISSING } from './bpf';
import { hasOpcode, hasRegister, hasSetupFlag } from '../uring/features';
import { SETUP } from '../uring/abi';

/* per MISSING bit: does this kernel have the feature that field belongs to? */
const FEATURE_OF: readonly (() => boolean)[] = [
	() => hasRegister('FILES2') || hasRegister('FILES_UPDATE2'),	/* registered files */
	() => hasRegister('BUFFERS2'),					/* registered buffers */
	() => hasRegister('PBUF_RING') || hasOpcode('PROVIDE_BUFFERS'),	/* provided buffers */
	() => hasRegister('PERSONALITY'),
	() => hasRegister('RESTRICTIONS'),
	() => hasRegister('NAPI'),
	() => hasRegister('CLOCK'),
	() => hasRegister('MEM_REGION'),				/* parameter region */
	() => hasOpcode('FUTEX_WAIT'),
	() => hasOpcode('WAITID'),
	/*
	 * uring_cmd requests are listed only where a driver marks them
	 * cancelable (the list is new in 6.7); unmarked ones are invisible on
	 * every kernel, so a kernel without the list loses nothing more.
	 */
	() => false,
	() => hasRegister('IOWQ_MAX_WORKERS'),
	() => hasSetupFlag(SETUP.SQPOLL),
	() => hasRegister('EVENTFD'),
	() => hasSetupFlag(SETUP.SINGLE_ISSUER),			/* submitter thread */
	() => hasRegister('FILE_ALLOC_RANGE'),
	() => hasOpcode('POLL_ADD'),					/* cancel table */
	() => hasRegister('MEM_REGION'),				/* wait argument region */
	() => hasSetupFlag(SETUP.CQE_MIXED),
];

/** The `unavailable` words that are real capture gaps on this kernel. */
export function captureGaps(unavailable: readonly string[]): string[] {
	return unavailable.filter((w) => {
		const bit = MISSING.indexOf(w);
		return bit >= 0 && (FEATURE_OF[bit]?.() ?? true);
	});
}

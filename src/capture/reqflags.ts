/*
 * The kernel's request flags (io_kiocb.flags) as the stable ARM_* bits of
 * a re-arm record.  Bits 0-6 mirror IOSQE_* and are ABI; the BPF program
 * copies them.  The others are REQ_F_*_BIT enumerators of an anonymous
 * enum that CO-RE cannot relocate and that Linux 6.13 renumbered, so they
 * are translated here from the raw flags of the request's rec_req, with
 * the numbers the native addon reads from the running kernel's BTF.
 */
import { loadNative } from '../native';
import { ARM } from './rearm';

/* REQ_F_<NAME>_BIT -> ARM_* bit (the names native/bpf_iter.cc looks up) */
const TO_ARM: Record<string, number> = {
	CUR_POS: ARM.CUR_POS, NOWAIT: ARM.NOWAIT, LINK_TIMEOUT: ARM.LINK_TIMEOUT, BUFFER_SELECTED: ARM.BUFFER_SELECTED,
	BUFFER_RING: ARM.BUFFER_RING, CREDS: ARM.CREDS, APOLL_MULTISHOT: ARM.MULTISHOT,
};

let table: [bigint, number][] | null | undefined;

function translation(): [bigint, number][] | null {
	if (table !== undefined) return table;
	const bits = loadNative().reqFlagBits();
	const names = Object.keys(TO_ARM);
	table = bits && names.every((n) => bits[n] !== undefined) ? names.map((n) => [1n << BigInt(bits[n]), TO_ARM[n]]) : null;
	return table;
}

/** Whether the running kernel's REQ_F numbers are known (without them nothing is re-armed). */
export function reqFlagsKnown(): boolean {
	return translation() !== null;
}

/** The ARM_* bits that @flags (io_kiocb.flags, raw) carries beyond the IOSQE_* mirror; 0 if unknown. */
export function armBitsOf(flags: bigint): number {
	let b = 0;
	for (const [mask, arm] of translation() ?? []) if (flags & mask) b |= arm;
	return b;
}

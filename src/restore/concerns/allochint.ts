/*
 * The registered-file allocation hint: where the kernel's next
 * IORING_FILE_INDEX_ALLOC search (openat/accept/socket "direct") starts.
 * No API sets it, and the restore's own registrations leave it after the
 * last slot they filled.  Putting a file into a free slot moves the hint
 * past it and removing it again moves the hint back onto it, so one
 * install and removal of /dev/null at the slot the next allocation got
 * at the checkpoint (RegisteredFiles.next_alloc: free by definition) makes
 * the next allocation return that slot, and the ones after follow the
 * same way as before.
 */
import type { RingPlan } from '../ring-plan';
import { updateTagged } from './tags';
import { NR, REGISTER } from '../../uring/abi';

const AT_FDCWD = -100;
const O_CLOEXEC = 0o2000000;

/* FILES_UPDATE2 of one slot with the fd (a number, or a plan variable) in an int it reads */
function updateSlot(p: RingPlan, slot: number, fd: string | number, what: string): void {
	const int = Buffer.alloc(4);
	if (typeof fd === 'number') int.writeInt32LE(fd);
	const intAddr = p.put(int);
	if (typeof fd === 'string') p.add('register', { op: 'store', addr: intAddr, size: 4, value: fd });
	updateTagged(p, REGISTER.FILES_UPDATE2, slot, intAddr, 0n, what);
}

export function planAllocHint(p: RingPlan): void {
	const slot = p.s.registered_files.next_alloc;
	if (typeof slot !== 'number' || p.s.registered_files.size === 0) return;
	const fd = `$h${p.id}`;
	p.add('register', { op: 'sys', v: fd.slice(1), nr: NR.openat,
		args: [AT_FDCWD, p.put(Buffer.from('/dev/null\0')), O_CLOEXEC, 0], what: 'open /dev/null to move the file allocation hint' });
	updateSlot(p, slot, fd, `put /dev/null in free file slot ${slot}`);
	updateSlot(p, slot, -1, `empty file slot ${slot} again: the next allocation starts there`);
	p.sys('register', NR.close, [fd], 'close /dev/null');
}

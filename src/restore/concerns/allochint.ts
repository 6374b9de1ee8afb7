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
import { NR, type RingPlan } from '../ring-plan';

const REGISTER_FILES_UPDATE = 6;
const AT_FDCWD = -100;
const O_CLOEXEC = 0o2000000;

/*
 * struct io_uring_files_update { __u32 offset; __u32 resv; __u64 fds; },
 * followed by the int it points at; @fd: that int's value expression.
 */
function updateSlot(p: RingPlan, slot: number, fd: string | number, what: string): void {
	const upd = Buffer.alloc(24);
	upd.writeUInt32LE(slot, 0);
	if (typeof fd === 'number') upd.writeInt32LE(fd, 16);
	const addr = p.put(upd);
	const [base, off] = addr.split('+');
	const intAddr = `${base}+${Number(off) + 16}`;
	p.add('register', { op: 'store', addr: `${base}+${Number(off) + 8}`, size: 8, value: intAddr });
	if (typeof fd === 'string') p.add('register', { op: 'store', addr: intAddr, size: 4, value: fd });
	p.register('register', REGISTER_FILES_UPDATE, addr, 1, what);
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

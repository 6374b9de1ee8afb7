/*
 * What this version can restore.  Everything else is refused at dump time,
 * before CRIU writes anything, with the reason: a checkpoint that cannot be
 * restored exactly is worse than none.
 */
import type { RingState } from '../capture/model';
import { pbufRefusals } from '../restore/concerns/pbuf';
import { restrictionConflicts } from '../restore/concerns/restrictions';
import { overflowUnsupported } from '../restore/concerns/overflow';
import { kernelDumpRefusals } from '../restore/kernel';
import { rearmPlanRefusals } from '../restore/concerns/rearm';
import { rearmedSqes } from '../capture/rearm';
import { REOPENABLE } from '../restore/concerns/ringonly';
import { personalityRefusals } from '../restore/concerns/personalities';
import { regionRefusals } from '../restore/concerns/regions';
import { fdOnlyRefusals } from '../restore/concerns/fdonly';
import { epollRefusals } from '../restore/concerns/epoll';
import { SETUP } from '../uring/abi';

export function unsupported(r: RingState): string[] {
	const why: string[] = [];
	/* NO_MMAP rings come back on their own (CRIU-restored) memory: concerns/nommap.ts */
	/* REGISTERED_FD_ONLY rings are rebuilt through their registered index (concerns/fdonly.ts) */
	why.push(...fdOnlyRefusals(r));
	/* ATTACH_WQ comes back by attaching to the new ring it shares a poller with (concerns/attach.ts) */
	if (r.setup_flags & SETUP.ATTACH_WQ && !(r.sqpoll && r.sqpoll.shared_with.length))
		why.push('an ATTACH_WQ ring that no longer shares its poller thread with another ring');
	why.push(...overflowUnsupported(r));
	/* what this kernel could not rebuild (restore/kernel.ts) */
	why.push(...kernelDumpRefusals(r));
	/* requests waiting for outside events are re-armed at restore (concerns/rearm.ts) */
	why.push(...rearmPlanRefusals(r.setup_flags, rearmedSqes(r), r.sq.cached_head ?? 0,
		{ entries: r.sq_entries, pending: r.pending_sqes.length, shared: (r.sqpoll?.shared_with.length ?? 0) > 0 }));
	why.push(...restrictionConflicts(r));
	why.push(...pbufRefusals(r, rearmedSqes(r)));
	why.push(...personalityRefusals(r));
	why.push(...regionRefusals(r));
	/* epoll entries on the ring move from the placeholder to the ring (concerns/epoll.ts) */
	why.push(...epollRefusals(r));
	for (const f of r.registered_files.entries)
		if (f.fds.length === 0 && !REOPENABLE.has(f.type))
			why.push(`registered file ${f.index} (${f.path}), a ${f.type} held only by the ring (only regular files and directories can be reopened)`);
	/* registered buffers unmapped after registration: their pinned contents are read at dump (pinned.ts) */
	return why;
}

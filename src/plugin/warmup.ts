/*
 * Warm-up before the freeze.  The first run of a JavaScript path costs
 * several times its later runs (module code compiled, protobufjs
 * generating its encoders, the BPF programs loaded and verified), and
 * CHECKPOINT_DEVICES runs with the application frozen.  So, at
 * PAUSE_DEVICES (before CRIU seizes anything), everything the frozen
 * window will run is run once on the real rings of the tree, as a dry
 * run: captured (by the drain just before, inflight.ts, whose capture is
 * reused), ring memory read (read-only), converted, validated and
 * encoded, then decoded and planned as the restore plan the dump saves
 * at the end (saved-plan.ts), nothing written.  A failure here is only logged: the real
 * checkpoint reports real problems.
 */
import type { ProcessRings } from '../capture/model';
import { readRingMemory } from '../capture/memory';
import { decodeImage, encodeImage, fromCapture, stateOwners, validateImage, validateImageSet, type RingMemory } from '../image';
import { serialize } from '../restore/plan';
import { planImages } from '../restore/planner';
import { savedPlanWanted } from './saved-plan';
import { imageCodec } from '../image/schema';
import { loadNative } from '../native';
import { nsProcess } from './pids';
import { LOG_DEBUG, LOG_INFO, log } from './protocol';

const msSince = (t0: bigint): string => (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);

/**
 * Run the checkpoint's code once on the first of @captures (the drain's
 * latest captures of the tree, in tree order) that has rings the BPF
 * capture sees; never throws.  The capture itself ran warm in the drain.
 */
export function warmUp(captures: ProcessRings[]): void {
	const t0 = process.hrtime.bigint();
	try {
		log(LOG_INFO, `BPF programs ${loadNative().bpfPinState()}`);
		imageCodec();
		const p = captures.find((c) => c.source === 'bpf' && c.rings.length);
		if (!p) return;
		const ring = p.rings[0];
		const memory: RingMemory = new Map();
		const m = readRingMemory(p.pid, ring);
		memory.set(ring.inode, { rings: m.rings, sqes: m.sqes, pbufRings: m.pbufRings, buffers: new Map(), regions: m.regions });
		const v = nsProcess({ ...p, rings: [ring] });
		const img = fromCapture(v, memory, { kernelRelease: '', toolVersion: '', stateOwner: stateOwners([v]) });
		validateImage(img, 'warm-up');
		const bytes = encodeImage(img);
		/* the restore plan the dump saves at the end (saved-plan.ts), from the image read back */
		if (savedPlanWanted()) {
			const back = decodeImage(bytes, 'warm-up');
			validateImageSet([back]);
			for (const steps of planImages([back]).values()) serialize(steps);
		}
		log(LOG_DEBUG, `warm-up on process ${p.pid}: ${msSince(t0)} ms`);
	} catch (e) {
		log(LOG_DEBUG, `warm-up on the tree: ${(e as Error).message} (${msSince(t0)} ms; ignored)`);
	}
}

/*
 * SHA-256 of image payloads (src/image/envelope.ts) and saved plans
 * (src/plugin/saved-plan.ts).  The dump helper has loaded the native addon
 * by the time it needs one (its capture runs on it) and uses the addon's
 * libmd digest: Node's crypto module costs 5-7 ms of every helper's
 * start-up to load.  Everything else (the CLI, the restore helper, the
 * tests) uses crypto; test/image-envelope.test.ts checks both agree.
 */
import { loadedNative } from '../native';

export function sha256(data: Uint8Array): Buffer {
	const native = loadedNative();
	if (native?.sha256) return native.sha256(data);
	return (require('node:crypto') as typeof import('node:crypto')).createHash('sha256').update(data).digest();
}

/*
 * `criu-uring inspect`: one process in detail, or every ring holder.
 */
import { captureProcess, listProcesses } from '../capture';
import { renderProcess, renderSummary } from './render';
import { USAGE } from './main';

export interface InspectArgs { pid?: number; json: boolean; noBpf: boolean; help: boolean }

export function runInspect(a: InspectArgs): number {
	if (a.help) {
		process.stdout.write(USAGE);
		return 0;
	}
	if (a.pid === undefined) {
		const list = listProcesses({ noBpf: a.noBpf });
		process.stdout.write(a.json ? JSON.stringify(list, null, 2) + '\n' : renderSummary(list.processes, list.source));
		return 0;
	}
	const p = captureProcess(a.pid, { noBpf: a.noBpf });
	process.stdout.write(a.json ? JSON.stringify(p, null, 2) + '\n' : renderProcess(p));
	return 0;
}

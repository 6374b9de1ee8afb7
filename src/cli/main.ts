/*
 * criu-uring command line: argument parsing and dispatch only.
 */
import { parseArgs } from 'node:util';
import { runInspect } from './inspect';
import { runCheck } from './check';

export const USAGE = `Usage: criu-uring <command> [options]

io_uring checkpoint/restore for CRIU. The CRIU plugin (build/plugins/io_uring_plugin.so)
does the checkpointing; this tool shows what it would see and whether it can run.

Commands:
  inspect [-t PID] [--json] [--no-bpf]
      Show the io_uring instances of process PID: setup, indices, pending SQEs,
      unconsumed CQEs, registered files/buffers, eventfd, personalities,
      restrictions, provided buffers, in-flight requests. Reads kernel state with
      BPF iterators and never stops or perturbs the process. Without -t, list
      every process on the machine that holds io_uring instances.
      --json     machine-readable output (schema: docs/inspect-json.md)
      --no-bpf   use /proc only (what CRIU alone could see)

  check [--json]
      Report whether this machine can checkpoint io_uring: kernel, io_uring,
      BPF and BTF, the CRIU binary and the plugin. Exit status 0 when usable.

Examples:
  criu-uring inspect                 # which processes use io_uring?
  criu-uring inspect -t 1234         # one process, for people
  criu-uring inspect -t 1234 --json  # one process, for programs
  criu dump -t 1234 -D /tmp/ckpt -L $PWD/build/plugins   # checkpoint it

Run as root (BPF needs CAP_BPF and CAP_PERFMON; /proc of other users needs ptrace read access).
`;

export async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
		process.stdout.write(USAGE);
		return command === undefined ? 2 : 0;
	}
	try {
		switch (command) {
		case 'inspect':
			return runInspect(parseInspectArgs(rest));
		case 'check':
			return runCheck(parseArgs({ args: rest, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values);
		default:
			process.stderr.write(`criu-uring: unknown command '${command}' (try --help)\n`);
			return 2;
		}
	} catch (e) {
		process.stderr.write(`criu-uring ${command}: ${(e as Error).message}\n`);
		return 1;
	}
}

function parseInspectArgs(args: string[]): { pid?: number; json: boolean; noBpf: boolean; help: boolean } {
	const { values } = parseArgs({
		args,
		options: {
			tree: { type: 'string', short: 't' },
			json: { type: 'boolean' },
			'no-bpf': { type: 'boolean' },
			help: { type: 'boolean', short: 'h' },
		},
	});
	let pid: number | undefined;
	if (values.tree !== undefined) {
		if (!/^\d+$/.test(values.tree)) throw new Error(`-t expects a process id, got '${values.tree}'`);
		pid = Number(values.tree);
	}
	return { pid, json: values.json ?? false, noBpf: values['no-bpf'] ?? false, help: values.help ?? false };
}

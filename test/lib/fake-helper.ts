/*
 * A misbehaving Node helper for the boundary tests (test/helper-boundary.test.ts).
 *
 * The plugin runs it instead of the real helper (an io_uring_plugin.helper
 * file next to a copy of the .so names it).  It runs the real helper as its
 * child and passes lines both ways, until the request named by
 * $FAKE_HELPER ("MODE:VERB") arrives; then, instead of the real reply:
 *   crash    dies of SIGSEGV
 *   hang     never answers again
 *   garbage  answers a line that is not the protocol
 *   exit     closes its stdout and exits 0
 *   version  (at hello) answers with another protocol version
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

const [mode, verb] = (process.env.FAKE_HELPER ?? ':').split(':');
const real = spawn(process.execPath, [path.join(__dirname, '..', '..', 'src', 'plugin', 'helper.js'), ...process.argv.slice(2)],
	{ stdio: ['pipe', 'pipe', 'inherit'] });
let broken = false;

createInterface({ input: real.stdout! }).on('line', (l) => {
	if (!broken) process.stdout.write(l + '\n');
});
real.on('exit', () => {
	if (!broken) process.exit(0);
});

function misbehave(): void {
	broken = true;
	/* into CRIU's log ("helper: ..."): the test checks a hang came at this step, not at an earlier, real one */
	process.stderr.write(`fake helper: ${mode} at '${verb}'\n`);
	switch (mode) {
	case 'crash':
		process.kill(process.pid, 'SIGSEGV');
		break;
	case 'hang':
		setInterval(() => undefined, 1000);
		break;
	case 'garbage':
		process.stdout.write('\u0001\u0002 this is not a reply\n');
		break;
	case 'exit':
		real.kill('SIGKILL');
		process.stdout.end(() => process.exit(0));
		break;
	case 'version':
		process.stdout.write('ok criu-uring-0\n');
		break;
	}
}

createInterface({ input: process.stdin }).on('line', (l) => {
	if (broken) return;
	if (l.split(' ')[0] === verb) misbehave();
	else real.stdin!.write(l + '\n');
}).on('close', () => real.stdin!.end());

/*
 * The line protocol between the C plugin (plugin-c/helper.c) and this
 * helper process: one request line in, one reply line out ("ok ...",
 * "notmine", "err <one-line message>"), plus "log <level> <text>" lines
 * the plugin copies into CRIU's log.  docs/plugin-protocol.md has the verbs.
 */
import { read, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/*
 * Sent by the plugin in "hello" and echoed back (plugin-c/helper.h
 * HELPER_PROTOCOL): a .so and a helper from different builds refuse each
 * other.  Change both when the protocol changes.
 */
export const PROTOCOL_VERSION = 'criu-uring-8';

/* CRIU's log levels (1 error, 2 warning): the helper reports info and debug; errors are "err" replies */
export const LOG_INFO = 3;
export const LOG_DEBUG = 4;

export type Reply = { status: 'ok'; text?: string; lines?: string[] } | { status: 'notmine' };

function oneLine(s: string): string {
	return s.replace(/[\r\n]+/g, ' ').trim();
}

/*
 * stdin and stdout are used as plain fds, not as process.stdin/stdout:
 * those streams (readline, net, tty) cost the helper's every start
 * several milliseconds of module loading.  The plugin's pipes are
 * blocking, so writes are synchronous, as process.stdout's are on pipes.
 */
const STDIN = 0;
const STDOUT = 1;

function sleepMs(ms: number): void {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writeOut(text: string): void {
	let b = Buffer.from(text);
	while (b.length) {
		try {
			b = b.subarray(writeSync(STDOUT, b));
		} catch (e) {
			/* only if someone made the pipe non-blocking */
			if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
			sleepMs(1);
		}
	}
}

/* Lines of fd @fd until EOF ("\r\n" or "\n"). */
async function* inputLines(fd: number): AsyncGenerator<string> {
	const buf = Buffer.alloc(65536);
	const utf8 = new StringDecoder('utf8');
	let pending = '';
	for (;;) {
		const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, null, (e, got) => {
			if (!e) resolve(got);
			else if (e.code === 'EAGAIN') setTimeout(() => resolve(-1), 1);
			else reject(e);
		}));
		if (n === 0) break;
		if (n < 0) continue;
		pending += utf8.write(buf.subarray(0, n));
		let nl: number;
		while ((nl = pending.indexOf('\n')) >= 0) {
			yield pending.slice(0, nl).replace(/\r$/, '');
			pending = pending.slice(nl + 1);
		}
	}
	pending += utf8.end();
	if (pending) yield pending;
}

/* Where log lines go instead of the plugin (train.ts, at build time); null: to the plugin. */
let logSink: ((line: string) => void) | null = null;

export function setLogSink(sink: ((line: string) => void) | null): void {
	logSink = sink;
}

export function log(level: number, text: string): void {
	for (const l of text.split('\n')) {
		if (logSink) logSink(oneLine(l));
		else writeOut(`log ${level} ${oneLine(l)}\n`);
	}
}

export type Handler = (verb: string, args: string[]) => Promise<Reply>;

/** Serve requests from stdin until EOF; handler errors become "err" replies. */
export async function serve(handler: Handler): Promise<void> {
	for await (const line of inputLines(STDIN)) {
		const [verb, ...args] = line.trim().split(/\s+/);
		let out: string;
		let lines: string[] = [];
		try {
			const r = await handler(verb, args);
			if (r.status === 'notmine') out = 'notmine\n';
			else {
				out = `ok${r.text ? ' ' + oneLine(r.text) : ''}\n`;
				if (r.lines) lines = [...r.lines, 'end'];
			}
		} catch (e) {
			out = `err ${oneLine((e as Error).message || String(e))}\n`;
			if (process.env.CRIU_URING_DEBUG) log(LOG_DEBUG, (e as Error).stack ?? '');
		}
		writeOut(out);
		/* line by line: a plan carrying hundreds of MiB of bytes in hex is longer than a JavaScript string can be */
		for (const l of lines) writeOut(l + '\n');
	}
}

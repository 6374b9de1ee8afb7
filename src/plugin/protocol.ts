/*
 * The line protocol between the C plugin (plugin-c/helper.c) and this
 * helper process: one request line in, one reply line out ("ok ...",
 * "notmine", "err <one-line message>"), plus "log <level> <text>" lines
 * the plugin copies into CRIU's log.  docs/plugin-protocol.md has the verbs.
 */
import { createInterface } from 'node:readline';

/*
 * Sent by the plugin in "hello" and echoed back (plugin-c/helper.h
 * HELPER_PROTOCOL): a .so and a helper from different builds refuse each
 * other.  Change both when the protocol changes.
 */
export const PROTOCOL_VERSION = 'criu-uring-5';

/* CRIU's log levels (1 error, 2 warning): the helper reports info and debug; errors are "err" replies */
export const LOG_INFO = 3;
export const LOG_DEBUG = 4;

export type Reply = { status: 'ok'; text?: string; lines?: string[] } | { status: 'notmine' };

function oneLine(s: string): string {
	return s.replace(/[\r\n]+/g, ' ').trim();
}

export function log(level: number, text: string): void {
	for (const l of text.split('\n')) process.stdout.write(`log ${level} ${oneLine(l)}\n`);
}

export type Handler = (verb: string, args: string[]) => Promise<Reply>;

/** Serve requests from stdin until EOF; handler errors become "err" replies. */
export async function serve(handler: Handler): Promise<void> {
	const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
	for await (const line of rl) {
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
		process.stdout.write(out);
		/* line by line: a plan carrying hundreds of MiB of bytes in hex is longer than a JavaScript string can be */
		for (const l of lines) process.stdout.write(l + '\n');
	}
}

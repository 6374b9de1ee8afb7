/*
 * Clients of test/progs/cr_tcpserver's line protocol: each connection
 * sends its sequence numbers "0\n", "1\n", ... and expects "echo N\n" for
 * each, in order, exactly once.  A connection that closes, errors or
 * answers anything else fails the next wait with what it got.
 */
import * as net from 'node:net';

export interface ServerStats {
	pid: number; accepted: number; open: number; closed: number; msgs: number; bytes: number;
	rearms: number; enobufs: number; resets: number; sends: number;
}

export class EchoClient {
	/** The next sequence number to send, and the next echo expected. */
	sent = 0;
	echoed = 0;
	private buf = '';
	private lines: string[] = [];
	private failure: Error | undefined;
	private wake: (() => void) | undefined;

	private constructor(readonly sock: net.Socket, readonly name: string) {
		sock.setEncoding('latin1');
		sock.on('data', (d: string) => {
			this.buf += d;
			let nl: number;
			while ((nl = this.buf.indexOf('\n')) >= 0) {
				this.lines.push(this.buf.slice(0, nl));
				this.buf = this.buf.slice(nl + 1);
			}
			this.poke();
		});
		sock.on('error', (e) => this.fail(new Error(`${name}: ${e.message}`)));
		sock.on('close', () => this.fail(new Error(`${name}: the server closed the connection`)));
	}

	static connect(port: number, name: string, timeoutMs = 30_000): Promise<EchoClient> {
		return new Promise((resolve, reject) => {
			const sock = net.connect({ host: '127.0.0.1', port });
			const timer = setTimeout(() => { sock.destroy(); reject(new Error(`${name}: connect timed out`)); }, timeoutMs);
			sock.once('connect', () => { clearTimeout(timer); resolve(new EchoClient(sock, name)); });
			sock.once('error', (e) => { clearTimeout(timer); reject(new Error(`${name}: ${e.message}`)); });
		});
	}

	private fail(e: Error): void {
		this.failure ??= e;
		this.poke();
	}

	private poke(): void {
		const w = this.wake;
		this.wake = undefined;
		w?.();
	}

	/** The next line from the server (its whole text), waiting up to @timeoutMs. */
	async line(timeoutMs: number): Promise<string> {
		const deadline = Date.now() + timeoutMs;
		while (this.lines.length === 0) {
			if (this.failure) throw this.failure;
			const left = deadline - Date.now();
			if (left <= 0) throw new Error(`${this.name}: no answer within ${timeoutMs} ms`);
			await new Promise<void>((r) => {
				const timer = setTimeout(r, left);
				this.wake = () => { clearTimeout(timer); r(); };
			});
		}
		return this.lines.shift()!;
	}

	/** Send the next @n sequence numbers in one write. */
	send(n: number): void {
		let text = '';
		for (let i = 0; i < n; i++) text += `${this.sent++}\n`;
		this.sock.write(text);
	}

	/** Wait for the echo of everything sent, checking each is the next in order. */
	async echoes(timeoutMs = 30_000): Promise<void> {
		while (this.echoed < this.sent) {
			const l = await this.line(timeoutMs);
			if (l !== `echo ${this.echoed}`) throw new Error(`${this.name}: got "${l}", expected "echo ${this.echoed}"`);
			this.echoed++;
		}
	}

	/** Send @n and wait for their echoes. */
	async exchange(n: number, timeoutMs = 30_000): Promise<void> {
		this.send(n);
		await this.echoes(timeoutMs);
	}

	/** The server's counters (everything sent must have been echoed first). */
	async stats(timeoutMs = 30_000): Promise<ServerStats> {
		await this.echoes(timeoutMs);
		this.sock.write('stats\n');
		return JSON.parse(await this.line(timeoutMs)) as ServerStats;
	}

	/** Ask the server to exit; resolves once it said "bye". */
	async quit(timeoutMs = 30_000): Promise<void> {
		await this.echoes(timeoutMs);
		this.sock.write('quit\n');
		const l = await this.line(timeoutMs);
		if (l !== 'bye') throw new Error(`${this.name}: got "${l}" to quit`);
	}

	/** Close our end (the server sees EOF); no failure is reported for it. */
	close(): void {
		this.failure ??= new Error(`${this.name}: closed by the test`);
		this.sock.end();
	}

	destroy(): void {
		this.failure ??= new Error(`${this.name}: closed by the test`);
		this.sock.destroy();
	}
}

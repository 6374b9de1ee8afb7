/*
 * MariaDB (Debian's 10.11; InnoDB does its file I/O through one io_uring
 * ring: several threads submit, another waits for completions)
 * checkpointed right after a batch of inserts, while InnoDB is still
 * flushing, restored, and checked: the server answers, every committed row
 * is there (count and checksum), new inserts work through the restored
 * ring, a second checkpoint of the restored server works too, the server
 * shuts down cleanly (exit 0) and a fresh server on the same datadir finds
 * every row.
 *
 * Clients connect over a unix socket.  A connected client outside the
 * dumped tree cannot be checkpointed (CRIU refuses external unix socket
 * peers), so the client loop pauses for the checkpoint: no client is
 * connected while CRIU runs, as in a real "checkpoint between requests".
 * mariadbd holds file locks (ibdata1, aria log): --file-locks on dump and
 * restore.
 */
import t, { type Test } from 'tap';
import { crc32 } from 'node:zlib';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { scratch, waitFor, type Scratch } from '../lib/criu';
import {
	type App, checkpointRestore, keepLogs, locksOnFile, readText, ringFds, runCmd, startApp, submittedTotal, treeOf,
	uringErrors, which,
} from '../lib/apps';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const MARIADBD = which('mariadbd');
const INSTALL_DB = which('mariadb-install-db');
const CLIENT = which('mariadb');
const ADMIN = which('mariadb-admin');

/* rows per insert batch (one autocommit transaction each), batches before each checkpoint */
const ROWS = 2000;
const BATCHES = 4;
const CYCLES = 2;
const LOCK_ARGS = ['--file-locks'];

/** The value of row @seq of batch @batch: what the server stores and what we checksum. */
function rowValue(batch: number, seq: number): string {
	return `b${batch}-${seq}-${createHash('md5').update(String(seq)).digest('hex').repeat(6)}`;
}

/** Row count and sum of CRC32(v) of the first @batches batches, as SQL computes them. */
function expected(batches: number): { count: number; sum: bigint } {
	let sum = 0n;
	for (let b = 1; b <= batches; b++) for (let i = 1; i <= ROWS; i++) sum += BigInt(crc32(rowValue(b, i)));
	return { count: batches * ROWS, sum };
}

class Server {
	readonly sock: string;
	readonly datadir: string;
	readonly log: string;
	app!: App;

	constructor(readonly s: Scratch) {
		this.sock = s.file('mysqld.sock');
		this.datadir = s.file('data');
		this.log = s.file('mariadbd.log');
	}

	/** Start mariadbd; @name names its status and output files (one per start). */
	start(t: Test, name: string): App {
		this.app = startApp(t, this.s, MARIADBD!, [
			'--no-defaults', `--datadir=${this.datadir}`, `--socket=${this.sock}`, '--skip-networking', '--user=root',
			'--innodb-use-native-aio=1', `--log-error=${this.log}`, `--pid-file=${this.s.file('mariadbd.pid')}`,
			/* flush dirty pages eagerly: InnoDB keeps writing in the background after each batch */
			'--innodb-max-dirty-pages-pct=0', '--innodb-max-dirty-pages-pct-lwm=0',
		], name);
		return this.app;
	}

	/** Run @sql in database t (or none); throws the client's output on failure. */
	async sql(sql: string, db = 't'): Promise<string> {
		const r = await runCmd(CLIENT!, ['--no-defaults', '-uroot', `--socket=${this.sock}`, '-N', '-B',
			...(db ? ['-D', db] : []), '-e', sql], this.s.root, 60_000);
		if (r.code !== 0) throw new Error(`mariadb client exited ${r.code}: ${r.out.trim().slice(0, 300)}`);
		return r.out.trim();
	}

	async insertBatch(batch: number): Promise<void> {
		await this.sql(`insert into r (batch, v) select ${batch}, concat('b${batch}-', seq, '-', ` +
			`repeat(md5(seq), 6)) from seq_1_to_${ROWS}`);
	}

	async countAndSum(): Promise<{ count: number; sum: bigint }> {
		const [c, sum] = (await this.sql('select count(*), coalesce(sum(crc32(v)), 0) from r')).split('\t');
		return { count: Number(c), sum: BigInt(sum) };
	}

	/** Log lines MariaDB marks as errors. */
	errors(): string[] {
		return readText(this.log).split('\n').filter((l) => /\[ERROR\]/.test(l));
	}

	async ready(what: string): Promise<void> {
		await waitFor(() => existsSync(this.sock) && /ready for connections/.test(readText(this.log).split('Starting MariaDB').pop() ?? '') ||
			this.app.status() !== undefined, what, 60_000);
		if (this.app.status() !== undefined)
			throw new Error(`mariadbd exited ${this.app.status()}: ${this.errors().join(' | ') || readText(this.app.err).trim()}`);
	}
}

async function mariadbCase(t: Test): Promise<void> {
	const s = scratch(t);
	const inst = await runCmd(INSTALL_DB!, ['--no-defaults', `--datadir=${s.file('data')}`, '--user=root',
		'--auth-root-authentication-method=normal', '--skip-test-db'], s.root);
	if (inst.code !== 0) {
		t.fail(`mariadb-install-db exited ${inst.code}: ${inst.out.trim().slice(-300)}`);
		return;
	}
	const db = new Server(s);
	const app = db.start(t, 'mariadbd');
	await db.ready('mariadbd to accept connections');
	t.match(readText(db.log), /InnoDB: Using io_uring/, 'InnoDB uses io_uring');
	t.ok(ringFds(app.pid) >= 1, `mariadbd holds an io_uring fd (${ringFds(app.pid)})`);
	await db.sql('create database t', '');
	await db.sql('create table r (id int primary key auto_increment, batch int not null, v varchar(255) not null) engine=innodb');

	let batch = 0;
	const ibdata = s.file('data/ibdata1');
	for (let cycle = 1; cycle <= CYCLES; cycle++) {
		for (let i = 0; i < BATCHES; i++) await db.insertBatch(++batch);
		/* checkpoint right after the last commit, no client connected: InnoDB is still flushing */
		const locks = locksOnFile(ibdata).length;
		const cr = await checkpointRestore(app, s.dir(`img${cycle}`), LOCK_ARGS, LOCK_ARGS);
		if (cr.problem) {
			t.fail(`checkpoint ${cycle}: ${cr.problem}`);
			const why = uringErrors((cr.restore ?? cr.dump).log);
			if (why.length) t.comment(`plugin said: ${why.join(' | ')}`);
			if (!cr.restore) {
				/* a refused dump must leave the server running and serving */
				const after = await db.countAndSum().catch((e: Error) => e);
				t.same(after, expected(batch), 'after the refused dump the server still serves every row');
			}
			t.comment(`logs kept in ${keepLogs(`mariadb${cycle}`, cr)}.*`);
			return;
		}
		t.pass(`checkpoint ${cycle}: dumped and restored pid ${app.pid} (${treeOf(app.pid).length} processes) after ${batch} batches`);
		t.same(await db.countAndSum(), expected(batch), `checkpoint ${cycle}: every committed row is there (count, sum of CRC32)`);
		t.equal(locksOnFile(ibdata).length, locks, `checkpoint ${cycle}: its ${locks} lock(s) on ibdata1 are back`);
		const before = submittedTotal(app.pid);
		await db.insertBatch(++batch);
		t.same(await db.countAndSum(), expected(batch), `checkpoint ${cycle}: an insert after the restore commits`);
		await waitFor(() => submittedTotal(app.pid) > before, 'InnoDB to submit through the restored ring', 30_000)
			.then(() => t.pass(`checkpoint ${cycle}: InnoDB submits through the restored ring`))
			.catch((e: Error) => t.fail(e.message));
	}
	t.equal((await db.sql('check table r')).split('\t').pop(), 'OK', 'CHECK TABLE finds the table intact');
	t.same(db.errors(), [], 'no [ERROR] in the server log');

	const down = await runCmd(ADMIN!, ['--no-defaults', '-uroot', `--socket=${db.sock}`, 'shutdown'], s.root);
	t.equal(down.code, 0, `mariadb-admin shutdown exits 0 ${down.out.trim()}`);
	t.equal(await app.exitStatus(60_000), 0, 'the restored server shuts down with exit status 0');

	/* a fresh server on the same files: what the restored one wrote to disk */
	const again = db.start(t, 'mariadbd-fresh');
	await db.ready('a fresh mariadbd on the same datadir');
	t.same(await db.countAndSum(), expected(batch), 'a fresh server on the same datadir finds every row');
	t.same(db.errors(), [], 'and logs no [ERROR]');
	await runCmd(ADMIN!, ['--no-defaults', '-uroot', `--socket=${db.sock}`, 'shutdown'], s.root);
	await again.exitStatus(60_000).catch(() => undefined);
}

const missing = [['mariadbd', MARIADBD], ['mariadb-install-db', INSTALL_DB], ['mariadb', CLIENT], ['mariadb-admin', ADMIN]]
	.filter(([, p]) => !p).map(([n]) => n);
if (missing.length) {
	t.test('mariadb', { skip: `${missing.join(', ')} not installed (scripts/install-deps.sh installs mariadb-server, mariadb-client)` }, () => undefined);
} else if (process.getuid?.() !== 0) {
	t.test('mariadb', { skip: 'CRIU needs root' }, () => undefined);
} else {
	t.test('MariaDB (InnoDB on io_uring): checkpoint after insert batches, restore twice, every row there', mariadbCase);
}

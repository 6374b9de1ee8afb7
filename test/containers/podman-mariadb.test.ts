/*
 * MariaDB (Debian's 10.11; InnoDB does its file I/O through one io_uring
 * ring) in a podman container, with runc and with crun: the datadir is
 * created inside the container (its overlay rootfs), a client on the host
 * inserts batches through the server's unix socket (in a bind-mounted
 * directory), and the container is checkpointed right after the inserts
 * and restored, twice.  After each restore every committed row is there
 * (count and checksum), a new insert commits, InnoDB submits through the
 * restored ring; at the end the server shuts down cleanly on podman stop
 * (exit 0) and, started again on the same datadir, finds every row.
 *
 * The container runs with the host's /usr bind-mounted read-only (MariaDB
 * has too many files to copy).  No client is connected while CRIU runs
 * (an outside peer of a unix socket cannot be checkpointed); mariadbd
 * holds file locks: --file-locks on checkpoint and restore.
 */
import t, { type Test } from 'tap';
import { crc32 } from 'node:zlib';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { scratch, sleep } from '../lib/criu';
import { ringFds, submittedTotal, which } from '../lib/apps';
import { type Container, HOST_USR, type Runtime, RUNTIMES, describeCriuRun, podmanSetup, runCmd } from '../lib/podman';
import { exclusive } from '../lib/exclusive';

exclusive(t); /* a stress or podman file: never next to another one (test/lib/exclusive.ts) */

const MARIADBD = which('mariadbd');
const CLIENT = which('mariadb');

const ROWS = 2000;
const BATCHES = 4;
const CYCLES = 2;
const LOCKS = ['--file-locks'];

/* Create the datadir on the first start only, then run the server as PID 1. */
const SCRIPT = '[ -d /var/lib/mysql/mysql ] || mariadb-install-db --no-defaults --datadir=/var/lib/mysql --user=root ' +
	'--auth-root-authentication-method=normal --skip-test-db >/dev/null || exit 1; ' +
	'exec mariadbd --no-defaults --datadir=/var/lib/mysql --socket=/run/mysqld/sock --skip-networking --user=root ' +
	'--innodb-use-native-aio=1 --innodb-max-dirty-pages-pct=0 --innodb-max-dirty-pages-pct-lwm=0';

/** The value of row @seq of batch @batch, as the insert computes it. */
function rowValue(batch: number, seq: number): string {
	return `b${batch}-${seq}-${createHash('md5').update(String(seq)).digest('hex').repeat(6)}`;
}

/** Row count and sum of CRC32(v) of the first @batches batches. */
function expected(batches: number): { count: number; sum: bigint } {
	let sum = 0n;
	for (let b = 1; b <= batches; b++) for (let i = 1; i <= ROWS; i++) sum += BigInt(crc32(rowValue(b, i)));
	return { count: batches * ROWS, sum };
}

class Db {
	constructor(readonly sock: string, readonly c: Container) {}

	async sql(sql: string, db = 't'): Promise<string> {
		const r = await runCmd(CLIENT!, ['--no-defaults', '-uroot', `--socket=${this.sock}`, '-N', '-B', ...(db ? ['-D', db] : []), '-e', sql],
			process.env, 60_000);
		if (r.code !== 0) throw new Error(`mariadb client exited ${r.code}: ${(r.stdout + r.stderr).trim().slice(0, 300)}`);
		return r.stdout.trim();
	}

	insertBatch(batch: number): Promise<string> {
		return this.sql(`insert into r (batch, v) select ${batch}, concat('b${batch}-', seq, '-', repeat(md5(seq), 6)) from seq_1_to_${ROWS}`);
	}

	async countAndSum(): Promise<{ count: number; sum: bigint }> {
		const [c, sum] = (await this.sql('select count(*), coalesce(sum(crc32(v)), 0) from r')).split('\t');
		return { count: Number(c), sum: BigInt(sum) };
	}

	/** Wait until the server logged its @n-th "ready for connections" and a client gets through. */
	async ready(n: number, timeoutMs = 120_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const log = (await this.c.logs()).stderr;
			if ((log.match(/ready for connections/g) ?? []).length >= n && existsSync(this.sock) &&
				(await this.sql('select 1', '').then(() => true, () => false))) return;
			const state = await this.c.state();
			if (state !== 'running') throw new Error(`the container is ${state}: ${log.split('\n').filter((l) => /ERROR/.test(l)).join(' | ')}`);
			if (Date.now() > deadline) throw new Error(`mariadbd not ready after ${timeoutMs} ms`);
			await sleep(200);
		}
	}
}

async function mariadbCase(t: Test, runtime: Runtime): Promise<void> {
	const s = scratch(t);
	const pm = await podmanSetup(t, s, runtime, { hostUsr: true });
	const sockDir = s.dir('run-mysqld');
	const c = await pm.run(t, ['/bin/sh', '-c', SCRIPT], { extraArgs: [...HOST_USR, '-v', `${sockDir}:/run/mysqld`] });
	const db = new Db(path.join(sockDir, 'sock'), c);
	await db.ready(1);
	t.match((await c.logs()).stderr, /InnoDB: Using io_uring/, 'InnoDB uses io_uring');
	const pid = await c.hostPid();
	t.ok(ringFds(pid) >= 1, `mariadbd (host pid ${pid}) holds an io_uring fd`);
	await db.sql('create database t', '');
	await db.sql('create table r (id int primary key auto_increment, batch int not null, v varchar(255) not null) engine=innodb');

	let batch = 0;
	for (let cycle = 1; cycle <= CYCLES; cycle++) {
		for (let i = 0; i < BATCHES; i++) await db.insertBatch(++batch);
		const ck = await c.checkpoint(['--keep', ...LOCKS]);
		if (!t.equal(ck.code, 0, describeCriuRun(`${runtime} mariadb checkpoint ${cycle}`, ck))) {
			if ((await c.state()) === 'running')
				t.same(await db.countAndSum().catch((e: Error) => e.message), expected(batch), 'after the failed checkpoint the server still serves every row');
			return;
		}
		t.match(ck.log, /io_uring: process \d+: 1 ring\(s\) checkpointed/, `checkpoint ${cycle}: dump.log: the plugin checkpointed InnoDB's ring`);
		const rs = await c.restore(['--keep', ...LOCKS]);
		if (!t.equal(rs.code, 0, describeCriuRun(`${runtime} mariadb restore ${cycle}`, rs))) return;
		t.match(rs.log, /io_uring: plugin finished for restore \(ret 0\)/, `restore ${cycle}: the plugin restored without error`);
		let rows;
		try {
			rows = await db.countAndSum();
		} catch (e) {
			t.fail(`restore ${cycle}: the server does not answer: ${(e as Error).message} (container ${await c.state()})`);
			return;
		}
		t.same(rows, expected(batch), `restore ${cycle}: every committed row is there (count, sum of CRC32)`);
		/* a restore into a new pid namespace gives the server a new host pid (its pid inside stays 1) */
		const rpid = await c.hostPid();
		t.ok(ringFds(rpid) >= 1, `restore ${cycle}: the restored server (host pid ${rpid}, was ${pid}) holds its io_uring fd`);
		const before = submittedTotal(rpid);
		await db.insertBatch(++batch);
		t.same(await db.countAndSum(), expected(batch), `restore ${cycle}: an insert after the restore commits`);
		const deadline = Date.now() + 30_000;
		while (submittedTotal(rpid) <= before && Date.now() < deadline) await sleep(100);
		t.ok(submittedTotal(rpid) > before, `restore ${cycle}: InnoDB submits through the restored ring (SQ head ${before} -> ${submittedTotal(rpid)})`);
	}
	t.equal((await db.sql('check table r')).split('\t').pop(), 'OK', 'CHECK TABLE finds the table intact');
	const stop = await pm.podman(['stop', '-t', '60', c.name], 90_000);
	t.equal(stop.code, 0, 'podman stop');
	t.equal(await c.exitCode(30_000), 0, 'mariadbd shut down cleanly (exit 0)');
	t.equal((await pm.podman(['start', c.name])).code, 0, 'the container starts again');
	await db.ready(2);
	t.same(await db.countAndSum(), expected(batch), 'the server started again on the same datadir finds every row');
}

if (!MARIADBD || !CLIENT) {
	t.fail('mariadbd or the mariadb client is not installed (scripts/install-deps.sh installs them)');
} else {
	for (const runtime of RUNTIMES)
		t.test(`${runtime}: MariaDB (InnoDB on io_uring) in a container, checkpointed after inserts, restored`, (t) => mariadbCase(t, runtime));
}

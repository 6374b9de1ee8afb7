/*
 * The CRIU core patches (criu-patches/) on real io_uring users, driven by a
 * probe plugin compiled here against build/criu/include/criu-plugin.h:
 *
 *  - without a plugin that claims them, ring mappings and ring fds fail the
 *    dump exactly as stock CRIU does, and the process keeps running;
 *  - with the probe plugin, a process with a mapped ring (fd open), a mapped
 *    ring whose fd is closed, and an SQPOLL ring with io-wq workers dumps
 *    (left running with --leave-running, gone without it): every ring VMA
 *    goes to DUMP_EXT_VMA, every ring fd to DUMP_EXT_FILE (via
 *    pidfd_getfd), io threads are never seized;
 *  - restore recreates no ring mapping, keeps every claimed range free up to
 *    RESUME_DEVICES_LATE, has no io threads, puts RESTORE_EXT_FILE's
 *    placeholder at each ring fd number, and the process carries on;
 *  - a failing RESUME_DEVICES_LATE fails the restore and kills the task.
 *
 * The probe plugin is a test double: it rebuilds nothing, the restored
 * process just never touches its rings again.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../src/util/paths';
import {
	CRIU_BIN,
	criuDump,
	criuErrors,
	criuRestore,
	describeRun,
	isAlive,
	lastCount,
	progressProblem,
	readProgress,
	scratch,
	waitFor,
	waitForExit,
	type Scratch,
} from './lib/criu';

const PLUGIN_INCLUDE = path.join(ROOT, 'build', 'criu', 'include');
const PF_IO_WORKER = 0x10;

/*
 * uring_target PROGRESS: three rings, then appends "PID COUNT" every 20 ms
 * without touching the rings again.
 *   ring a: mapped, fd kept open
 *   ring b: mapped, fd closed
 *   ring c: SQPOLL, with IOSQE_ASYNC reads parked on a pipe (io-wq)
 * Prints "fds A C" (ring a's and ring c's fd numbers) on stdout first.
 */
const TARGET_C = String.raw`
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, int err)
{
	fprintf(stderr, "uring_target: %s: %s\n", what, strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	static struct io_uring a, b, c;
	static char bufs[4][64];
	struct io_uring_params p;
	unsigned long n;
	int pfd[2], i, ret;

	if (argc != 2)
		die("usage: uring_target PROGRESS", EINVAL);
	if ((ret = io_uring_queue_init(8, &a, 0)))
		die("ring a", -ret);
	if ((ret = io_uring_queue_init(8, &b, 0)))
		die("ring b", -ret);
	close(b.ring_fd);
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL;
	p.sq_thread_idle = 60000;
	if ((ret = io_uring_queue_init_params(8, &c, &p)))
		die("ring c", -ret);
	if (pipe(pfd))
		die("pipe", errno);
	for (i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c);

		io_uring_prep_read(sqe, pfd[0], bufs[i], sizeof(bufs[i]), 0);
		sqe->flags |= IOSQE_ASYNC;
	}
	if ((ret = io_uring_submit(&c)) != 4)
		die("submit", ret < 0 ? -ret : EIO);
	printf("fds %d %d\n", a.ring_fd, c.ring_fd);
	fflush(stdout);

	for (n = 0;; n++) {
		FILE *f = fopen(argv[1], "a");

		if (!f)
			die("progress", errno);
		fprintf(f, "%d %lu\n", getpid(), n);
		fclose(f);
		usleep(20000);
	}
}
`;

/*
 * Probe plugin.  Records every call in $PROBE_DIR/probe.log as one line;
 * $PROBE_DIR/mode may hold words that change its answers:
 *   no-vma       decline DUMP_EXT_VMA
 *   no-file      decline DUMP_EXT_FILE
 *   fail-late    RESUME_DEVICES_LATE returns -EIO
 * At RESUME_DEVICES_LATE it checks that no mapping overlaps a claimed range
 * and logs "late PID ok" or "late PID overlap START".
 */
const PLUGIN_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "criu-plugin.h"

#define MAX_RANGES 64
static struct { int pid; uint64_t start, end; } ranges[MAX_RANGES];
static int nr_ranges;

static const char *probe_path(const char *name)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", getenv("PROBE_DIR"), name);
	return buf;
}

static int mode_has(const char *word)
{
	char text[256] = "";
	FILE *f = fopen(probe_path("mode"), "r");

	if (f) {
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = '\0';
		fclose(f);
	}
	return strstr(text, word) != NULL;
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	FILE *f = fopen(probe_path("probe.log"), "a");
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static int probe_init(int stage)
{
	record("init %d", stage);
	return 0;
}

static void probe_exit(int stage, int ret)
{
	record("exit %d %d", stage, ret);
}

static int is_ring(const char *name)
{
	return !strcmp(name, "anon_inode:[io_uring]");
}

static int dump_ext_vma(int pid, uint64_t start, uint64_t end, uint64_t pgoff, const char *path)
{
	if (!is_ring(path) || mode_has("no-vma"))
		return -ENOTSUP;
	record("vma %d %" PRIx64 " %" PRIx64 " %" PRIx64 " %s", pid, start, end, pgoff, path);
	return 0;
}

static int dump_ext_file(int fd, int id)
{
	char proc[64], link[256];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, link, sizeof(link) - 1);
	if (n < 0)
		return -ENOTSUP;
	link[n] = '\0';
	if (!is_ring(link) || mode_has("no-file"))
		return -ENOTSUP;
	record("file %d %s", id, link);
	return 0;
}

static int restore_ext_file(int id)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "probe-placeholder-%d", id);
	fd = memfd_create(name, 0);
	record("restore-file %d %d", id, fd);
	return fd < 0 ? -errno : fd;
}

static void load_ranges(void)
{
	FILE *f = fopen(probe_path("probe.log"), "r");
	char line[512];

	nr_ranges = 0;
	while (f && fgets(line, sizeof(line), f) && nr_ranges < MAX_RANGES)
		if (sscanf(line, "vma %d %" SCNx64 " %" SCNx64, &ranges[nr_ranges].pid, &ranges[nr_ranges].start,
			   &ranges[nr_ranges].end) == 3)
			nr_ranges++;
	if (f)
		fclose(f);
}

static int resume_devices_late(int pid)
{
	char path[64], line[512];
	uint64_t s, e;
	int i, overlap = 0;
	FILE *maps;

	load_ranges();
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	while (maps && fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &s, &e) != 2)
			continue;
		for (i = 0; i < nr_ranges; i++)
			if (ranges[i].start < e && s < ranges[i].end) {
				record("late %d overlap %" PRIx64, pid, ranges[i].start);
				overlap = 1;
			}
	}
	if (maps)
		fclose(maps);
	if (!overlap)
		record("late %d ok", pid);
	if (mode_has("fail-late"))
		return -EIO;
	return 0;
}

CR_PLUGIN_REGISTER("criu_patches_probe", probe_init, probe_exit)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_VMA, dump_ext_vma)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, dump_ext_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, restore_ext_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, resume_devices_late)
`;

interface Built {
	target: string;
	pluginDir: string;
	emptyDir: string;
}

/** Compile the target and the probe plugin into the scratch dir. */
function build(s: Scratch): Built {
	const target = s.file('uring_target');
	writeFileSync(s.file('uring_target.c'), TARGET_C);
	execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', target, s.file('uring_target.c'), '-luring']);
	const pluginDir = s.dir('plugins');
	writeFileSync(s.file('probe.c'), PLUGIN_C);
	execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', `-I${PLUGIN_INCLUDE}`,
		'-o', path.join(pluginDir, 'probe.so'), s.file('probe.c')]);
	return { target, pluginDir, emptyDir: s.dir('no-plugins') };
}

interface Target {
	pid: number;
	progress: string;
	/** Ring fd numbers still open in the target (ring a, ring c). */
	ringFds: number[];
}

async function startTarget(s: Scratch, b: Built): Promise<Target> {
	const progress = s.file('progress');
	const pid = s.spawn(b.target, [progress], 'uring_target');
	await waitFor(() => lastCount(progress) >= 3, 'uring_target to start counting');
	const m = /^fds (\d+) (\d+)$/m.exec(readFileSync(s.file('uring_target.out'), 'utf8'));
	if (!m) throw new Error(`uring_target printed no fds line; stderr: ${s.stderrOf('uring_target')}`);
	return { pid, progress, ringFds: [Number(m[1]), Number(m[2])] };
}

interface IoThread {
	tid: number;
	comm: string;
}

/** Threads of @pid whose stat flags have PF_IO_WORKER. */
function ioThreads(pid: number): IoThread[] {
	return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
		const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
		const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
		const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
		return flags & PF_IO_WORKER ? [{ tid: Number(tid), comm }] : [];
	});
}

function ringMappings(pid: number): string[] {
	return readFileSync(`/proc/${pid}/maps`, 'utf8')
		.split('\n')
		.filter((l) => l.includes('anon_inode:[io_uring]'));
}

function probeLog(dir: string): string[] {
	const p = path.join(dir, 'probe.log');
	return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** Run @fn with PROBE_DIR pointing at @dir and @mode written there. */
async function withProbe<T>(dir: string, mode: string, fn: () => Promise<T>): Promise<T> {
	writeFileSync(path.join(dir, 'mode'), mode);
	const saved = process.env.PROBE_DIR;
	process.env.PROBE_DIR = dir;
	try {
		return await fn();
	} finally {
		if (saved === undefined) delete process.env.PROBE_DIR;
		else process.env.PROBE_DIR = saved;
	}
}

async function keepsCounting(t: Test, tg: Target, what: string): Promise<void> {
	t.ok(isAlive(tg.pid), `${what}: process ${tg.pid} runs`);
	const target = lastCount(tg.progress) + 5;
	await waitFor(() => lastCount(tg.progress) >= target, `${what}: uring_target to count to ${target}`);
	t.equal(progressProblem(readProgress(tg.progress), tg.pid), undefined, `${what}: counting intact`);
}

/** What the three rings look like in /proc/PID/maps: 2 mappings each (SQ/CQ ring, SQEs). */
const RING_VMAS = 6;

t.test('every patch is a mail CRIU would take: subject, body, Signed-off-by', async (t) => {
	const dir = path.join(ROOT, 'criu-patches');
	const patches = readdirSync(dir).filter((f) => f.endsWith('.patch')).sort();
	t.ok(patches.length >= 4, `${patches.length} patches`);
	for (const f of patches) {
		const text = readFileSync(path.join(dir, f), 'utf8');
		const message = text.slice(0, text.indexOf('\n---\n'));
		const subject = /^Subject: \[PATCH[^\]]*\] (.+)$/m.exec(message.replace(/\n /g, ' '))?.[1] ?? '';
		t.ok(subject.length > 0 && subject.length <= 72, `${f}: a subject of at most 72 characters`);
		t.match(subject, /^[a-z][\w/-]*: /, `${f}: the subject names the area`);
		t.ok(message.split('\n\n').length >= 3, `${f}: a body that says why`);
		t.match(message, /\n\nSigned-off-by: [^<\n]+ <[^>\n]+>$/, `${f}: ends with a Signed-off-by trailer`);
	}
});

t.test('the patched CRIU and its plugin header are built', async (t) => {
	t.ok(existsSync(CRIU_BIN), `${CRIU_BIN} exists`);
	const header = readFileSync(path.join(PLUGIN_INCLUDE, 'criu-plugin.h'), 'utf8');
	t.match(header, /CR_PLUGIN_HOOK__DUMP_EXT_VMA = 13,/, 'criu-plugin.h has DUMP_EXT_VMA');
	t.match(header, /CR_PLUGIN_HOOK__DUMP_DEVICES_LATE = 14,/, 'criu-plugin.h has DUMP_DEVICES_LATE');
});

t.test('without a claiming plugin the dump fails as in stock CRIU and the process survives', async (t) => {
	const s = scratch(t);
	const b = build(s);
	const tg = await startTarget(s, b);
	t.equal(ringMappings(tg.pid).length, RING_VMAS, 'target maps its rings');
	t.ok(ioThreads(tg.pid).length >= 1, 'target has io threads');

	const none = await criuDump({ pid: tg.pid, imagesDir: s.dir('img-none'), plugins: b.emptyDir });
	t.not(none.code, 0, 'dump without plugins fails');
	t.ok(criuErrors(none.log).some((l) => /Unknown shit 600 \(anon_inode:\[io_uring\]\)/.test(l)),
		'the error names the ring mapping');
	await keepsCounting(t, tg, 'after the plugin-less dump');

	const probe = s.dir('probe-novma');
	const novma = await withProbe(probe, 'no-vma', () =>
		criuDump({ pid: tg.pid, imagesDir: s.dir('img-novma'), plugins: b.pluginDir }));
	t.not(novma.code, 0, 'dump fails when the plugin declines the VMAs');
	t.match(novma.log, /Unknown shit 600 \(anon_inode:\[io_uring\]\)/);

	const probe2 = s.dir('probe-nofile');
	const nofile = await withProbe(probe2, 'no-file', () =>
		criuDump({ pid: tg.pid, imagesDir: s.dir('img-nofile'), plugins: b.pluginDir }));
	t.not(nofile.code, 0, 'dump fails when the plugin declines the ring fds');
	t.ok(criuErrors(nofile.log).some((l) => /Can't dump file \d+ of that type \[600\] \(anon anon_inode:\[io_uring\]\)/.test(l)),
		`the error names the ring fd (${describeRun('dump', nofile)})`);
	t.notMatch(nofile.log, /send_fds failed/, 'the parasite never tried to send a ring fd');
	await keepsCounting(t, tg, 'after the declined dumps');
});

t.test('--leave-running: the plugin gets every ring VMA and fd, io threads are left alone', async (t) => {
	const s = scratch(t);
	const b = build(s);
	const tg = await startTarget(s, b);
	const probe = s.dir('probe');
	const threadsBefore = ioThreads(tg.pid);

	const dump = await withProbe(probe, '', () =>
		criuDump({ pid: tg.pid, imagesDir: s.dir('img'), plugins: b.pluginDir, extraArgs: ['--leave-running'] }));
	t.equal(dump.code, 0, describeRun('criu dump --leave-running', dump));
	t.same(criuErrors(dump.log), [], 'no unexpected errors');

	const log = probeLog(probe);
	const vmas = log.filter((l) => l.startsWith(`vma ${tg.pid} `));
	t.equal(vmas.length, RING_VMAS, 'DUMP_EXT_VMA ran once per ring VMA');
	t.same([...new Set(vmas.map((l) => l.split(' ')[4]))].sort(), ['0', '10000000'],
		'pgoff is the mmap offset in bytes (IORING_OFF_SQ_RING, IORING_OFF_SQES)');
	t.equal(log.filter((l) => l.startsWith('file ')).length, tg.ringFds.length, 'DUMP_EXT_FILE ran once per open ring');
	for (const fd of tg.ringFds)
		t.match(dump.log, new RegExp(`Took ${tg.pid}'s fd ${fd} with pidfd_getfd`), `ring fd ${fd} taken with pidfd_getfd`);
	t.ok(threadsBefore.some((th) => th.comm.startsWith('iou-sqp-')), 'target had an SQPOLL thread');
	t.ok(threadsBefore.some((th) => th.comm.startsWith('iou-wrk-')), 'target had an io-wq worker');
	for (const th of threadsBefore) {
		t.match(dump.log, new RegExp(`Skipping io worker ${th.tid} of ${tg.pid}\\b`), `${th.comm} left out of the thread list`);
		t.notMatch(dump.log, new RegExp(`Seizing ${tg.pid}'s ${th.tid} thread`), `${th.comm} not seized`);
	}

	await keepsCounting(t, tg, 'after --leave-running');
	t.equal(ringMappings(tg.pid).length, RING_VMAS, 'rings still mapped');
	t.ok(ioThreads(tg.pid).some((th) => th.comm.startsWith('iou-sqp-')), 'SQPOLL thread still there');
});

t.test('dump, then restore without rings, io threads or anything in the ring ranges', async (t) => {
	const s = scratch(t);
	const b = build(s);
	const tg = await startTarget(s, b);
	const probe = s.dir('probe');
	const img = s.dir('img');

	const dump = await withProbe(probe, '', () => criuDump({ pid: tg.pid, imagesDir: img, plugins: b.pluginDir }));
	t.equal(dump.code, 0, describeRun('criu dump', dump));
	if (dump.code !== 0) return;
	await waitForExit(tg.pid);
	const atDump = lastCount(tg.progress);

	const rst = await withProbe(probe, '', () => criuRestore({ imagesDir: img, plugins: b.pluginDir }));
	t.equal(rst.code, 0, describeRun('criu restore', rst));
	t.same(criuErrors(rst.log), [], 'no unexpected errors');
	if (rst.code !== 0) return;

	const log = probeLog(probe);
	t.ok(log.includes(`late ${tg.pid} ok`), `every claimed range was free at RESUME_DEVICES_LATE (${log.filter((l) => l.startsWith('late')).join('; ')})`);
	t.equal(log.filter((l) => l.startsWith('restore-file ')).length, tg.ringFds.length, 'RESTORE_EXT_FILE ran once per ring fd');
	t.same(ringMappings(tg.pid), [], 'no ring mapping restored');
	t.same(ioThreads(tg.pid), [], 'no io threads after restore');
	for (const fd of tg.ringFds)
		t.match(readlinkSync(`/proc/${tg.pid}/fd/${fd}`), /^\/memfd:probe-placeholder-\d+/, `fd ${fd} is the plugin's placeholder`);
	await keepsCounting(t, tg, 'after restore');
	t.ok(lastCount(tg.progress) > atDump, 'counting continued past the dump');
});

t.test('a failing RESUME_DEVICES_LATE fails the restore and kills the task', async (t) => {
	const s = scratch(t);
	const b = build(s);
	const tg = await startTarget(s, b);
	const probe = s.dir('probe');
	const img = s.dir('img');

	const dump = await withProbe(probe, '', () => criuDump({ pid: tg.pid, imagesDir: img, plugins: b.pluginDir }));
	t.equal(dump.code, 0, describeRun('criu dump', dump));
	if (dump.code !== 0) return;
	await waitForExit(tg.pid);
	const atDump = lastCount(tg.progress);

	const rst = await withProbe(probe, 'fail-late', () => criuRestore({ imagesDir: img, plugins: b.pluginDir }));
	t.not(rst.code, 0, 'restore fails');
	t.match(rst.log, new RegExp(`Late plugin hook failed for ${tg.pid}: -5`));
	t.match(rst.log, /Restoring FAILED/);
	t.ok(probeLog(probe).includes(`late ${tg.pid} ok`), 'the hook did run');
	await waitFor(() => !isAlive(tg.pid), 'the restored task to be killed');
	t.equal(lastCount(tg.progress), atDump, 'the task never ran past the dump');
});

// SPDX-License-Identifier: GPL-2.0
/*
 * Standalone harness for the restore engine (inject/place/advance).
 *
 * It plays CRIU's master: forks a child that sleeps in a loop, stops it
 * the way CRIU leaves restored tasks (PTRACE_SEIZE + PTRACE_INTERRUPT,
 * then PTRACE_SYSCALL to a syscall-exit stop), and through the engine
 * creates an io_uring ring inside the child, maps it at an address
 * chosen in advance, advances its indices, and detaches.  The child then
 * checks its own ring (fdinfo and a real NOP) and exits 0 or 1.
 *
 * Output: human-readable lines, then one "RESULT {json}" line.
 *
 *   uring-harness --setup plain|big|noarray|defer|sqpoll
 *                 [--entries N] [--sq S] [--cq C] [--progress N]
 *                 [--split] [--bench] [--where hole|high|low]
 *
 * --where: hole (default) punches a hole the kernel would not pick by
 * itself; high chooses an address between mmap_base and the stack, which
 * top-down allocation never reaches (placement needs its second attempt);
 * low chooses an address at 4 GiB, far below everything mapped.
 * --fail place|advance: make that step fail (occupied target; disabled
 * ring) and check the engine still leaves the task exactly as found.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "place.h"
#include "advance.h"

#define NOP_USER_DATA	0x5eed5eedcafef00dull
#define RO_MARKER	0xfeedfaceu

struct cfg {
	const char *setup;
	uint32_t flags;
	uint32_t entries;
	uint32_t sq_target;
	uint32_t cq_target;
	uint64_t progress_every;
	bool split;
	bool bench;
	const char *where;	/* hole | high | low */
	const char *fail;	/* NULL, "place" or "advance": expect that step to fail */
};

/* What the parent tells the child after detaching. */
struct child_msg {
	int fd;
	unsigned long ring_addr;
	unsigned long sqes_addr;
	struct ring_params params;
	uint32_t sq_target;
	uint32_t cq_target;
	bool split;
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static long sys_ring_enter(int fd, unsigned int n, unsigned int wait, unsigned int flags)
{
	return syscall(RING_NR_ENTER, fd, n, wait, flags, NULL, 8);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------- child */

static long fdinfo_value(int fd, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;
	int tries;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	/* the io_uring block is skipped when uring_lock is contended: retry */
	for (tries = 0; tries < 100 && v < 0; tries++) {
		f = fopen(path, "re");
		if (!f)
			return -1;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, key, klen) && line[klen] == ':')
				v = strtol(line + klen + 1, NULL, 10);
		fclose(f);
		if (v < 0)
			usleep(1000);
	}
	return v;
}

static bool check_eq(const char *what, long got, long want)
{
	printf("child: %s=%ld (want %ld)%s\n", what, got, want, got == want ? "" : " MISMATCH");
	return got == want;
}

/* Does an io_uring VMA start at @addr with @perms?  @perms NULL: any VMA covers @addr? */
static bool child_maps_has(unsigned long addr, const char *perms)
{
	char line[512], p[5];
	unsigned long s, e;
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %4s", &s, &e, p) != 3)
			continue;
		if (!perms && addr >= s && addr < e)
			found = true;
		if (perms && s == addr && !strcmp(p, perms) && strstr(line, "io_uring"))
			found = true;
	}
	if (f)
		fclose(f);
	return found;
}

static bool child_submit_nop(const struct child_msg *m)
{
	const struct ring_params *p = &m->params;
	unsigned long ring = m->ring_addr;
	uint32_t sqe_sz = p->flags & RING_SETUP_SQE128 ? 128 : 64;
	uint32_t cqe_sz = p->flags & RING_SETUP_CQE32 ? 32 : 16;
	uint32_t idx = m->sq_target & (p->sq_entries - 1);
	uint32_t cidx = m->cq_target & (p->cq_entries - 1);
	struct ring_sqe *sqe = (void *)(m->sqes_addr + (unsigned long)idx * sqe_sz);
	struct ring_cqe *cqe = (void *)(ring + p->cq_off.cqes + (unsigned long)cidx * cqe_sz);
	uint32_t flags = RING_ENTER_GETEVENTS;
	long ret;

	memset(sqe, 0, sqe_sz);
	sqe->opcode = RING_OP_NOP;
	sqe->user_data = NOP_USER_DATA;
	if (!(p->flags & RING_SETUP_NO_SQARRAY))
		((uint32_t *)(ring + p->sq_off.array))[idx] = idx;
	__atomic_store_n((uint32_t *)(ring + p->sq_off.tail), m->sq_target + 1,
			 __ATOMIC_RELEASE);
	if (p->flags & RING_SETUP_SQPOLL)
		flags |= RING_ENTER_SQ_WAKEUP;
	ret = sys_ring_enter(m->fd, 1, 1, flags);
	if (ret < 0) {
		printf("child: io_uring_enter for the check NOP failed: %s\n", strerror(-ret));
		return false;
	}
	return check_eq("cq.tail after NOP",
			__atomic_load_n((uint32_t *)(ring + p->cq_off.tail), __ATOMIC_ACQUIRE),
			(uint32_t)(m->cq_target + 1)) &
	       check_eq("NOP CQE at cq index target (user_data matches)",
			cqe->user_data == NOP_USER_DATA, 1) &
	       check_eq("NOP CQE res", cqe->res, 0) &
	       check_eq("CachedSqHead after NOP", fdinfo_value(m->fd, "CachedSqHead"),
			(uint32_t)(m->sq_target + 1));
}

/*
 * In a split test the middle page of the ring mapping was unmapped by
 * the engine (recreating a partly unmapped VMA): touching it must fault,
 * so only check its absence in maps.
 */
static bool child_verify(const struct child_msg *m)
{
	const struct ring_params *p = &m->params;
	uint32_t *shared = (uint32_t *)m->ring_addr;
	bool ok = true;

	ok &= check_eq("ring mapped at the chosen address", child_maps_has(m->ring_addr, "rw-s"), 1);
	if (m->split) {
		ok &= check_eq("page 1 unmapped", child_maps_has(m->ring_addr + 4096, NULL), 0);
		ok &= check_eq("read-only part at page 2",
			       child_maps_has(m->ring_addr + 8192, "r--s"), 1);
		ok &= check_eq("remote_write reached the read-only page",
			       *(volatile uint32_t *)(m->ring_addr + 8192) == RO_MARKER, 1);
	}
	ok &= check_eq("CachedSqHead", fdinfo_value(m->fd, "CachedSqHead"), m->sq_target);
	ok &= check_eq("SqHead", fdinfo_value(m->fd, "SqHead"), m->sq_target);
	ok &= check_eq("SqTail", fdinfo_value(m->fd, "SqTail"), m->sq_target);
	ok &= check_eq("CachedCqTail", fdinfo_value(m->fd, "CachedCqTail"), m->cq_target);
	ok &= check_eq("CqHead", fdinfo_value(m->fd, "CqHead"), m->cq_target);
	ok &= check_eq("CqTail", fdinfo_value(m->fd, "CqTail"), m->cq_target);
	ok &= check_eq("shared sq.head", shared[p->sq_off.head / 4], m->sq_target);
	ok &= check_eq("shared cq.tail", shared[p->cq_off.tail / 4], m->cq_target);
	ok &= check_eq("cq_overflow", shared[p->cq_off.overflow / 4], 0);
	/* a split ring's SQ array and CQEs may sit in the pages it lacks */
	if (ok && !m->split)
		ok &= child_submit_nop(m);
	return ok;
}

/* Sleeps in a loop (like an idle restored process) until told to check. */
static void child_main(int rfd)
{
	struct timespec nap = { 0, 1000000 };
	struct child_msg m;
	ssize_t n;

	for (;;) {
		n = read(rfd, &m, sizeof(m));
		if (n == sizeof(m))
			break;
		if (n == 0)
			_exit(3);
		nanosleep(&nap, NULL);
	}
	_exit(m.fd < 0 || child_verify(&m) ? 0 : 1);
}

/* ------------------------------------------------------ stop the child */

/* Leave the child where CRIU leaves restored tasks: a syscall-exit stop. */
static void stop_at_syscall_exit(pid_t pid)
{
	struct __ptrace_syscall_info info;
	int status;

	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)PTRACE_O_TRACESYSGOOD))
		die("PTRACE_SEIZE: %s", strerror(errno));
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
		die("PTRACE_INTERRUPT: %s", strerror(errno));
	if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
		die("child did not stop");
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
			die("PTRACE_SYSCALL: %s", strerror(errno));
		if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
			die("child did not reach a syscall stop");
		if (WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) <= 0)
			die("PTRACE_GET_SYSCALL_INFO: %s", strerror(errno));
		if (info.op == PTRACE_SYSCALL_INFO_EXIT)
			return;
	}
}

struct snapshot {
	struct user_regs_struct regs;
	uint64_t sigmask;
	uint8_t xstate[64 * 1024];
	size_t xstate_len;
	char *maps;
};

static char *read_text(const char *path)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf)
		die("cannot read %s", path);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static void take_snapshot(pid_t pid, struct snapshot *s)
{
	struct iovec iov = { s->xstate, sizeof(s->xstate) };
	char path[64];

	if (ptrace(PTRACE_GETREGS, pid, NULL, &s->regs))
		die("GETREGS: %s", strerror(errno));
	if (ptrace(PTRACE_GETSIGMASK, pid, (void *)8, &s->sigmask))
		die("GETSIGMASK: %s", strerror(errno));
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov))
		die("GETREGSET: %s", strerror(errno));
	s->xstate_len = iov.iov_len;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	s->maps = read_text(path);
}

/* Maps text without io_uring lines: what must be unchanged. */
static char *without_uring_lines(const char *maps)
{
	char *out = malloc(strlen(maps) + 1), *o = out;
	const char *l = maps, *nl;

	while (*l) {
		nl = strchr(l, '\n');
		nl = nl ? nl + 1 : l + strlen(l);
		if (!memmem(l, nl - l, "anon_inode:[io_uring]", 21)) {
			memcpy(o, l, nl - l);
			o += nl - l;
		}
		l = nl;
	}
	*o = '\0';
	return out;
}

/* --------------------------------------------------------- the engine */

struct run_result {
	unsigned long target;
	struct place_stats place;
	struct advance_stats adv;
	double raw_nop_rate;
	bool regs_same, sigmask_same, xstate_same, maps_same, placed_exact;
	bool failed_as_expected;
	int child_status;
};

static uint32_t setup_flags(const char *name)
{
	if (!strcmp(name, "plain"))
		return 0;
	if (!strcmp(name, "big"))
		return RING_SETUP_SQE128 | RING_SETUP_CQE32;
	if (!strcmp(name, "noarray"))
		return RING_SETUP_NO_SQARRAY;
	if (!strcmp(name, "defer"))
		return RING_SETUP_SINGLE_ISSUER | RING_SETUP_DEFER_TASKRUN;
	if (!strcmp(name, "sqpoll"))
		return RING_SETUP_SQPOLL;
	die("unknown --setup %s", name);
	return 0;
}

static void engine_check(struct remote *r, int err, const char *what)
{
	if (err)
		die("%s failed (%d): %s", what, err, remote_error(r));
}

static int create_ring(struct remote *r, const struct cfg *cfg, struct ring_params *p)
{
	unsigned long scratch;
	long fd;

	engine_check(r, remote_alloc(r, 4096, 0, &scratch), "remote_alloc");
	memset(p, 0, sizeof(*p));
	p->flags = cfg->flags;
	if (cfg->fail && !strcmp(cfg->fail, "advance"))
		p->flags |= RING_SETUP_R_DISABLED;	/* submits give EBADFD */
	if (cfg->flags & RING_SETUP_SQPOLL)
		p->sq_thread_idle = 10;	/* ms: let it fall asleep so wakeups are exercised */
	engine_check(r, remote_write(r, scratch, p, sizeof(*p)), "remote_write params");
	fd = remote_syscall(r, RING_NR_SETUP, cfg->entries, scratch, 0, 0, 0, 0);
	if (fd < 0)
		die("io_uring_setup in the child failed: %s", strerror((int)-fd));
	engine_check(r, remote_read(r, scratch, p, sizeof(*p)), "remote_read params");
	engine_check(r, remote_free(r, scratch), "remote_free");
	return (int)fd;
}

/*
 * Make a hole at a known address the kernel would NOT choose by itself:
 * reserve two areas (A above B), unmap all of A and a ring-sized window
 * in the middle of B.  The free space A leaves above the window is
 * where a plain mmap(NULL) would land, so placement has to work.
 */
static unsigned long make_hole(struct remote *r, unsigned long len,
			       unsigned long *b_out)
{
	long a, b;

	a = remote_syscall(r, SYS_mmap, 0, 4 * len, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = remote_syscall(r, SYS_mmap, 0, 4 * len, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a < 0 || b < 0)
		die("reserving areas in the child failed");
	if (remote_syscall(r, SYS_munmap, a, 4 * len, 0, 0, 0, 0) ||
	    remote_syscall(r, SYS_munmap, b + len, len, 0, 0, 0, 0))
		die("punching the hole failed");
	*b_out = b;
	return b + len;
}

/* A free address 16 MiB under [stack], i.e. above mmap_base. */
static unsigned long pick_high(struct remote *r, unsigned long len)
{
	struct remote_vma *v;
	unsigned long at = 0;
	int nr, i;

	nr = remote_read_maps(r, &v);
	for (i = 0; i < nr; i++)
		if (!strcmp(v[i].name, "[stack]"))
			at = v[i].start - (16ul << 20);
	for (i = 0; i < nr && at; i++)
		if (at < v[i].end && v[i].start < at + len)
			die("the area under the stack is not free");
	free(v);
	if (!at)
		die("no [stack] mapping in the child");
	return at;
}

static unsigned long pick_target(struct remote *r, const char *where,
				 unsigned long len, unsigned long *b)
{
	*b = 0;
	if (!strcmp(where, "hole"))
		return make_hole(r, len, b);
	if (!strcmp(where, "high"))
		return pick_high(r, len);
	if (!strcmp(where, "low"))
		return 1ul << 32;
	die("unknown --where %s", where);
	return 0;
}

static void print_progress(void *priv, uint64_t done, uint64_t total, double rate)
{
	(void)priv;
	printf("progress: %llu/%llu ops, %.0f ops/s\n", (unsigned long long)done,
	       (unsigned long long)total, rate);
	fflush(stdout);
}

static void run_engine(pid_t pid, const struct cfg *cfg, struct child_msg *m,
		       struct run_result *res)
{
	struct advance_opts opts = { cfg->progress_every, print_progress, NULL };
	struct advance_ring ar;
	struct place_part parts[2];
	struct place_req req;
	struct remote r;
	unsigned long len, b;
	long sqes = 0;
	int err;

	engine_check(&r, remote_open(&r, pid), "remote_open");
	m->fd = create_ring(&r, cfg, &m->params);
	len = advance_ring_region_len(&m->params);
	if (cfg->split && len < 3 * 4096)
		die("--split needs a ring region of 3+ pages (use --entries 512)");
	res->target = pick_target(&r, cfg->where, len, &b);
	engine_check(&r, remote_avoid(&r, res->target, len), "remote_avoid");
	printf("engine: ring fd %d, region %#lx bytes, target %#lx\n", m->fd, len, res->target);

	memset(&req, 0, sizeof(req));
	req.addr = res->target;
	req.len = len;
	req.prot = PROT_READ | PROT_WRITE;
	req.flags = MAP_SHARED | MAP_POPULATE;
	req.fd = m->fd;
	req.offset = RING_OFF_SQ_RING;
	if (cfg->split) {
		/* recorded: first page rw, second page gone, rest read-only */
		parts[0] = (struct place_part){ req.addr, req.addr + 4096, req.prot };
		parts[1] = (struct place_part){ req.addr + 8192, req.addr + len, PROT_READ };
		req.parts = parts;
		req.nr_parts = 2;
	}
	if (cfg->fail && !strcmp(cfg->fail, "place"))
		req.addr = b;	/* still mapped: must fail, leaving nothing */
	err = place_mapping(&r, &req, &res->place);
	if (err && cfg->fail && !strcmp(cfg->fail, "place")) {
		printf("engine: place_mapping failed as expected: %s\n", remote_error(&r));
		res->failed_as_expected = true;
		goto out;
	}
	engine_check(&r, err, "place_mapping");
	printf("engine: placed with %d placeholders, attempt %d\n",
	       res->place.placeholders, res->place.attempts);

	sqes = remote_syscall(&r, SYS_mmap, 0, advance_sqes_region_len(&m->params),
			      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, m->fd,
			      RING_OFF_SQES);
	if (sqes < 0 && sqes > -4096)
		die("mapping SQEs in the child failed: %s", strerror((int)-sqes));

	memset(&ar, 0, sizeof(ar));
	ar.fd = m->fd;
	ar.params = m->params;
	/* a split ring's first page has the indices but not the CQEs: use a view */
	ar.ring_addr = cfg->split ? 0 : res->target;
	ar.sqes_addr = sqes;
	err = advance_ring(&r, &ar, cfg->sq_target, cfg->cq_target, &opts, &res->adv);
	if (err && cfg->fail && !strcmp(cfg->fail, "advance")) {
		printf("engine: advance_ring failed as expected: %s\n", remote_error(&r));
		res->failed_as_expected = true;
		goto out;
	}
	engine_check(&r, err, "advance_ring");
	printf("engine: advanced %llu ops in %.3f s: %.0f ops/s, %u progress traps\n",
	       (unsigned long long)res->adv.ops, res->adv.seconds, res->adv.ops_per_sec,
	       res->adv.progress_traps);

out:
	if (cfg->split && !cfg->fail) {
		/* process_vm_writev cannot write read-only pages: /proc/PID/mem path */
		uint32_t marker = RO_MARKER;

		engine_check(&r, remote_write(&r, res->target + 8192, &marker, 4),
			     "remote_write to a read-only ring page");
	}
	/* the harness's own reservations go; the ring stays */
	if (b) {
		remote_syscall(&r, SYS_munmap, b, len, 0, 0, 0, 0);
		remote_syscall(&r, SYS_munmap, b + 2 * len, 2 * len, 0, 0, 0, 0);
	}
	engine_check(&r, remote_ranges_check(&r), "remote_ranges_check");
	engine_check(&r, remote_close(&r), "remote_close");

	if (cfg->fail && !res->failed_as_expected)
		die("--fail %s: the step did not fail", cfg->fail);
	if (res->failed_as_expected)
		m->fd = -1;	/* tells the child there is nothing to check */
	m->ring_addr = res->target;
	m->sqes_addr = sqes;
	m->sq_target = cfg->sq_target;
	m->cq_target = cfg->cq_target;
	m->split = cfg->split;
}

/* ------------------------------------------------------- raw NOP rate */

/* Same ring kind, same batches, submitted by the harness itself. */
static double raw_nop_rate(const struct cfg *cfg, uint64_t ops)
{
	struct ring_params p = { .flags = cfg->flags & ~RING_SETUP_SQPOLL };
	uint32_t batch, n, i, sqe_sz, cqe_sz, *sqt, *cqh, *cqt;
	uint8_t *ring, *sqes;
	uint64_t done = 0;
	double t0;
	int fd;

	fd = syscall(RING_NR_SETUP, cfg->entries, &p);
	if (fd < 0)
		die("raw ring setup: %s", strerror(errno));
	sqe_sz = p.flags & RING_SETUP_SQE128 ? 128 : 64;
	cqe_sz = p.flags & RING_SETUP_CQE32 ? 32 : 16;
	(void)cqe_sz;
	ring = mmap(NULL, advance_ring_region_len(&p), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, RING_OFF_SQ_RING);
	sqes = mmap(NULL, advance_sqes_region_len(&p), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, RING_OFF_SQES);
	if (ring == MAP_FAILED || sqes == MAP_FAILED)
		die("raw ring mmap: %s", strerror(errno));
	memset(sqes, 0, advance_sqes_region_len(&p));
	for (i = 0; i < p.sq_entries; i++)
		if (!(p.flags & RING_SETUP_NO_SQARRAY))
			((uint32_t *)(ring + p.sq_off.array))[i] = i;
	sqt = (uint32_t *)(ring + p.sq_off.tail);
	cqh = (uint32_t *)(ring + p.cq_off.head);
	cqt = (uint32_t *)(ring + p.cq_off.tail);
	batch = p.sq_entries < p.cq_entries ? p.sq_entries : p.cq_entries;
	(void)sqe_sz;
	t0 = now_s();
	while (done < ops) {
		n = ops - done < batch ? ops - done : batch;
		__atomic_store_n(sqt, *sqt + n, __ATOMIC_RELEASE);
		if (sys_ring_enter(fd, n, n, RING_ENTER_GETEVENTS) != n)
			die("raw NOP submit failed");
		__atomic_store_n(cqh, __atomic_load_n(cqt, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
		done += n;
	}
	t0 = now_s() - t0;
	munmap(ring, advance_ring_region_len(&p));
	munmap(sqes, advance_sqes_region_len(&p));
	close(fd);
	return done / t0;
}

/* ------------------------------------------------------------- main */

static void parse_args(int argc, char **argv, struct cfg *cfg)
{
	int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->setup = "plain";
	cfg->entries = 64;
	cfg->where = "hole";
	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(argv[i], "--setup"))
			cfg->setup = v, i++;
		else if (!strcmp(argv[i], "--entries"))
			cfg->entries = strtoul(v, NULL, 0), i++;
		else if (!strcmp(argv[i], "--sq"))
			cfg->sq_target = strtoul(v, NULL, 0), i++;
		else if (!strcmp(argv[i], "--cq"))
			cfg->cq_target = strtoul(v, NULL, 0), i++;
		else if (!strcmp(argv[i], "--progress"))
			cfg->progress_every = strtoull(v, NULL, 0), i++;
		else if (!strcmp(argv[i], "--where"))
			cfg->where = v, i++;
		else if (!strcmp(argv[i], "--fail"))
			cfg->fail = v, i++;
		else if (!strcmp(argv[i], "--split"))
			cfg->split = true;
		else if (!strcmp(argv[i], "--bench"))
			cfg->bench = true;
		else
			die("unknown argument %s", argv[i]);
	}
	cfg->flags = setup_flags(cfg->setup);
}

static void compare(pid_t pid, const struct snapshot *before, struct run_result *res)
{
	struct snapshot *after = calloc(1, sizeof(*after));
	char *a, *b;

	take_snapshot(pid, after);
	res->regs_same = !memcmp(&before->regs, &after->regs, sizeof(after->regs));
	res->sigmask_same = before->sigmask == after->sigmask;
	res->xstate_same = before->xstate_len == after->xstate_len &&
			   !memcmp(before->xstate, after->xstate, after->xstate_len);
	a = without_uring_lines(before->maps);
	b = without_uring_lines(after->maps);
	res->maps_same = !strcmp(a, b);
	if (!res->maps_same)
		printf("maps before:\n%s\nmaps after:\n%s\n", a, b);
	free(a);
	free(b);
	free(after->maps);
	free(after);
}

int main(int argc, char **argv)
{
	struct snapshot *before = calloc(1, sizeof(*before));
	struct run_result res;
	struct child_msg m;
	struct cfg cfg;
	int p[2], status;
	pid_t pid;

	parse_args(argc, argv, &cfg);
	memset(&res, 0, sizeof(res));
	memset(&m, 0, sizeof(m));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe2(p, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		child_main(p[0]);
	}
	close(p[0]);
	stop_at_syscall_exit(pid);
	take_snapshot(pid, before);

	run_engine(pid, &cfg, &m, &res);
	compare(pid, before, &res);
	printf("engine: registers %s, signal mask %s, FPU state %s, other mappings %s\n",
	       res.regs_same ? "unchanged" : "CHANGED",
	       res.sigmask_same ? "unchanged" : "CHANGED",
	       res.xstate_same ? "unchanged" : "CHANGED",
	       res.maps_same ? "unchanged" : "CHANGED");

	if (ptrace(PTRACE_DETACH, pid, NULL, NULL))
		die("PTRACE_DETACH: %s", strerror(errno));
	if (write(p[1], &m, sizeof(m)) != sizeof(m))
		die("cannot message the child");
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	res.child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (cfg.bench)
		res.raw_nop_rate = raw_nop_rate(&cfg, res.adv.ops > 1000000 ? res.adv.ops : 1000000);
	printf("RESULT {\"setup\":\"%s\",\"where\":\"%s\",\"entries\":%u,\"sq\":%u,\"cq\":%u,"
	       "\"target\":%lu,\"placeholders\":%d,\"attempts\":%d,"
	       "\"ops\":%llu,\"seconds\":%.6f,\"advance_rate\":%.0f,\"raw_nop_rate\":%.0f,"
	       "\"progress_traps\":%u,\"regs_same\":%s,\"sigmask_same\":%s,"
	       "\"xstate_same\":%s,\"maps_same\":%s,\"failed_as_expected\":%s,"
	       "\"child_status\":%d}\n",
	       cfg.setup, cfg.where, cfg.entries, cfg.sq_target, cfg.cq_target, res.target,
	       res.place.placeholders, res.place.attempts,
	       (unsigned long long)res.adv.ops, res.adv.seconds, res.adv.ops_per_sec,
	       res.raw_nop_rate, res.adv.progress_traps,
	       res.regs_same ? "true" : "false", res.sigmask_same ? "true" : "false",
	       res.xstate_same ? "true" : "false", res.maps_same ? "true" : "false",
	       res.failed_as_expected ? "true" : "false", res.child_status);
	return res.child_status == 0 && res.regs_same && res.sigmask_same &&
	       res.xstate_same && res.maps_same ? 0 : 1;
}

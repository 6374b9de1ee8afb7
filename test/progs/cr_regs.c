// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_regs --MODE [--advance N]
 *
 * A zdtm-style checkpoint/restore test of ring registrations.  One ring,
 * moved by --advance NOPs; MODE picks what is registered on it:
 *
 *   --iowq      IOWQ_MAX_WORKERS {3, 5} and IOWQ_AFF {last CPU}.  After
 *               the restore: the limits read back as 3/5, and an io-wq
 *               worker started by an IOSQE_ASYNC NOP runs on that CPU only.
 *   --clock     REGISTER_CLOCK CLOCK_BOOTTIME.  After: a 50 ms wait on
 *               the ring times out after 50 ms (on a machine that never
 *               suspended the two clocks agree, so this proves the wait
 *               works, not which clock it used; inspect shows the clock).
 *   --napi      REGISTER_NAPI 100 us, prefer busy poll, dynamic tracking
 *               (--napi-static: static tracking).  After: UNREGISTER_NAPI
 *               hands back 100 us and prefer.
 *   --restrict  ring created disabled with an eventfd, restricted to NOP
 *               and READ, flags CQE_SKIP_SUCCESS and FIXED_FILE, register
 *               op PROBE only, then enabled.  After: the eventfd counted
 *               nothing during the restore, a NOP completes and counts,
 *               WRITE and an ASYNC NOP give EACCES, IOWQ_MAX_WORKERS gives
 *               EACCES, PROBE works.
 *   --disabled  like --restrict but never enabled.  After: submit gives
 *               EBADFD; ENABLE works and then the restrictions hold.
 *   --pers      personalities 1 (uid/gid 1001, no groups) and 3 (uid/gid
 *               2002, groups 3000) registered by children that became
 *               those users, 2 (root) unregistered.  After: OPENAT under
 *               each personality opens what that user may (a 0600 file of
 *               1001; a 0060 file of group 3000), is refused the rest,
 *               creates files owned by 2002:2002 under 3, personality 2
 *               gives EINVAL and the next registration gets id 4.
 *
 * Writes the truth file, waits for SIGUSR1, verifies, prints "verified"
 * and exits 0; otherwise a one-line reason on stderr and exit 1.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <grp.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "lib/uring.h"

static struct ring ring;
static const char *mode = "";
static int event_fd = -1;
static char dir[256];

/* Submit one SQE and return its CQE's res (reaped). */
static int run_sqe(struct io_uring_sqe *tmpl)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);
	struct io_uring_cqe *cqe;
	int res;

	*sqe = *tmpl;
	if (ring_submit_and_wait(&ring, 1) < 0)
		die("submit");
	cqe = ring_cqe_at(&ring, 0);
	if (!cqe)
		die_err(EIO, "no completion");
	if (cqe->user_data != tmpl->user_data)
		die_err(EIO, "completion for user_data %llu, expected %llu",
			(unsigned long long)cqe->user_data, (unsigned long long)tmpl->user_data);
	res = cqe->res;
	ring_cq_advance(&ring, 1);
	return res;
}

static int nop(uint8_t flags, uint16_t personality)
{
	struct io_uring_sqe sqe = { .opcode = IORING_OP_NOP, .flags = flags, .personality = personality, .user_data = 77 };

	return run_sqe(&sqe);
}

static int openat_as(uint16_t personality, const char *path, int flags, int perm)
{
	struct io_uring_sqe sqe = {
		.opcode = IORING_OP_OPENAT, .fd = AT_FDCWD, .addr = (uintptr_t)path,
		.len = perm, .open_flags = flags, .personality = personality, .user_data = 78,
	};
	int res = run_sqe(&sqe);

	if (res >= 0)
		close(res);
	return res;
}

static void expect(const char *what, int got, int want)
{
	if (got != want)
		die_err(EIO, "%s: got %d (%s), expected %d", what, got, got < 0 ? strerror(-got) : "ok", want);
}

static int reg(unsigned int op, const void *arg, unsigned int nr)
{
	return sys_io_uring_register(ring.fd, op, arg, nr) < 0 ? -errno : 0;
}

/* ---- io-wq ---- */

static int last_cpu(void)
{
	return (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
}

static void setup_iowq(void)
{
	unsigned int limits[2] = { 3, 5 };
	cpu_set_t set;

	reg_or_die(ring.fd, IORING_REGISTER_IOWQ_MAX_WORKERS, limits, 2, "io-wq limits");
	CPU_ZERO(&set);
	CPU_SET(last_cpu(), &set);
	reg_or_die(ring.fd, IORING_REGISTER_IOWQ_AFF, &set, sizeof(set), "io-wq affinity");
}

static void verify_iowq(void)
{
	unsigned int limits[2] = { 0, 0 };
	pid_t workers[8];
	cpu_set_t set;
	int n;

	reg_or_die(ring.fd, IORING_REGISTER_IOWQ_MAX_WORKERS, limits, 2, "reading io-wq limits");
	if (limits[0] != 3 || limits[1] != 5)
		die_err(EIO, "io-wq limits %u/%u, expected 3/5", limits[0], limits[1]);
	expect("async NOP", nop(IOSQE_ASYNC, 0), 0);
	n = find_threads("iou-wrk-", workers, 8);
	if (n < 1)
		die_err(EIO, "no io-wq worker after an async NOP");
	for (int i = 0; i < n && i < 8; i++) {
		if (sched_getaffinity(workers[i], sizeof(set), &set))
			die("sched_getaffinity(%d)", workers[i]);
		if (CPU_COUNT(&set) != 1 || !CPU_ISSET(last_cpu(), &set))
			die_err(EIO, "io-wq worker %d may run on %d CPUs, expected only CPU %d",
				workers[i], CPU_COUNT(&set), last_cpu());
	}
}

/* ---- clock ---- */

static void setup_clock(void)
{
	struct io_uring_clock_register c = { .clockid = CLOCK_BOOTTIME };

	reg_or_die(ring.fd, IORING_REGISTER_CLOCK, &c, 0, "clock");
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * A relative wait: the kernel measures it on the ring's clock from its own
 * reading of that clock.  (Not an absolute deadline: CRIU restores the
 * process into a time namespace whose offsets io_uring does not apply to
 * absolute deadlines, docs/limitations.md.)
 */
static void verify_clock(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 50000000 };
	struct io_uring_getevents_arg arg = { .ts = (uintptr_t)&ts };
	int64_t start = now_ns(CLOCK_MONOTONIC), took;
	int ret;

	ret = sys_io_uring_enter(ring.fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
	took = now_ns(CLOCK_MONOTONIC) - start;
	if (ret >= 0 || errno != ETIME)
		die("a 50 ms CLOCK_BOOTTIME wait returned %d, expected ETIME", ret);
	if (took < 45000000 || took > 1000000000)
		die_err(EIO, "a 50 ms CLOCK_BOOTTIME wait took %" PRId64 " ms", took / 1000000);
}

/* ---- NAPI ---- */

static void setup_napi(bool statik)
{
	struct io_uring_napi n = {
		.busy_poll_to = 100, .prefer_busy_poll = 1, .opcode = IO_URING_NAPI_REGISTER_OP,
		.op_param = statik ? IO_URING_NAPI_TRACKING_STATIC : IO_URING_NAPI_TRACKING_DYNAMIC,
	};

	reg_or_die(ring.fd, IORING_REGISTER_NAPI, &n, 1, "NAPI");
}

static void verify_napi(void)
{
	struct io_uring_napi n = { 0 };

	reg_or_die(ring.fd, IORING_UNREGISTER_NAPI, &n, 1, "reading NAPI settings");
	if (n.busy_poll_to != 100 || n.prefer_busy_poll != 1)
		die_err(EIO, "NAPI busy poll %u us prefer %u, expected 100 us prefer 1", n.busy_poll_to, n.prefer_busy_poll);
}

/* ---- restrictions ---- */

static void setup_restrict(void)
{
	struct io_uring_restriction r[6] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_NOP },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_CQE_SKIP_SUCCESS | IOSQE_FIXED_FILE },
		{ .opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_REGISTER_PROBE },
	};

	event_fd = eventfd(0, EFD_NONBLOCK);
	if (event_fd < 0)
		die("eventfd");
	reg_or_die(ring.fd, IORING_REGISTER_EVENTFD, &event_fd, 1, "eventfd");
	reg_or_die(ring.fd, IORING_REGISTER_RESTRICTIONS, r, 4, "restrictions");
}

static uint64_t eventfd_count(void)
{
	uint64_t v = 0;

	if (read(event_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		die("reading the eventfd");
	return v;
}

static void verify_restricted(void)
{
	struct io_uring_sqe write = { .opcode = IORING_OP_WRITE, .fd = 1, .user_data = 79 };
	unsigned int limits[2] = { 0, 0 };
	uint8_t probe[sizeof(struct io_uring_probe) + 8 * sizeof(struct io_uring_probe_op)] = { 0 };
	uint64_t c = eventfd_count();

	if (c)
		die_err(EIO, "the eventfd counted %" PRIu64 " completions while the ring was restored", c);
	expect("allowed NOP", nop(0, 0), 0);
	if ((c = eventfd_count()) != 1)
		die_err(EIO, "the eventfd counted %" PRIu64 " completions for one NOP", c);
	expect("NOP with the forbidden IOSQE_ASYNC", nop(IOSQE_ASYNC, 0), -EACCES);
	expect("forbidden WRITE", run_sqe(&write), -EACCES);
	expect("forbidden IORING_REGISTER_IOWQ_MAX_WORKERS", reg(IORING_REGISTER_IOWQ_MAX_WORKERS, limits, 2), -EACCES);
	expect("allowed IORING_REGISTER_PROBE", reg(IORING_REGISTER_PROBE, probe, 8), 0);
}

static void verify_disabled(void)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&ring);

	sqe_nop(sqe, 76);
	if (ring_submit(&ring, 0) != -EBADFD)
		die_err(EIO, "a submit on the disabled ring did not give EBADFD");
	ring_enable(&ring);
	/* the NOP is still in the SQ: submit it now */
	if (sys_io_uring_enter(ring.fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("submitting after enable");
	expect("NOP after enable", ring_cqe_at(&ring, 0) ? ring_cqe_at(&ring, 0)->res : -ENODATA, 0);
	ring_cq_advance(&ring, 1);
	eventfd_count();
	verify_restricted();
}

/* ---- personalities ---- */

#define UID_A	1001
#define UID_B	2002
#define GROUP_B	3000

static void register_as(uid_t uid, gid_t gid, const gid_t *groups, int nr, int want_id)
{
	int status, id;
	pid_t child = fork();

	if (child < 0)
		die("fork");
	if (child == 0) {
		if (setgroups(nr, groups) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
			die("becoming %u", uid);
		id = sys_io_uring_register(ring.fd, IORING_REGISTER_PERSONALITY, NULL, 0);
		_exit(id == want_id ? 0 : 1);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		die_err(EIO, "registering personality %d as uid %u failed", want_id, uid);
}

static const char *in_dir(const char *name)
{
	static char path[4][300];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

static void make_file(const char *name, uid_t uid, gid_t gid, mode_t perm)
{
	int fd = open(in_dir(name), O_CREAT | O_WRONLY | O_TRUNC, 0600);

	if (fd < 0 || fchown(fd, uid, gid) || fchmod(fd, perm))
		die("creating %s", name);
	close(fd);
}

static void setup_pers(void)
{
	gid_t group_b = GROUP_B;

	snprintf(dir, sizeof(dir), "/tmp/cr_regs.XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0777))
		die("scratch dir");
	make_file("a-only", UID_A, UID_A, 0600);
	make_file("group-b", 0, GROUP_B, 0060);
	register_as(UID_A, UID_A, NULL, 0, 1);
	if (sys_io_uring_register(ring.fd, IORING_REGISTER_PERSONALITY, NULL, 0) != 2)
		die("registering personality 2");
	register_as(UID_B, UID_B, &group_b, 1, 3);
	reg_or_die(ring.fd, IORING_UNREGISTER_PERSONALITY, NULL, 2, "unregister personality 2");
}

static void verify_pers(void)
{
	struct stat st;
	int id;

	if (openat_as(1, in_dir("a-only"), O_RDONLY, 0) < 0)
		die_err(EACCES, "personality 1 cannot open the file of uid %d", UID_A);
	expect("user 2002 opens the 0600 file of 1001", openat_as(3, in_dir("a-only"), O_RDONLY, 0), -EACCES);
	if (openat_as(3, in_dir("group-b"), O_RDONLY, 0) < 0)
		die_err(EACCES, "personality 3 (group %d) cannot open a 0060 file of that group", GROUP_B);
	expect("user 1001 opens a 0060 file of group 3000", openat_as(1, in_dir("group-b"), O_RDONLY, 0), -EACCES);
	if (openat_as(3, in_dir("made-by-b"), O_CREAT | O_WRONLY, 0600) < 0)
		die_err(EIO, "personality 3 cannot create a file");
	if (stat(in_dir("made-by-b"), &st))
		die("stat");
	if (st.st_uid != UID_B || st.st_gid != UID_B)
		die_err(EIO, "a file created under personality 3 is owned by %u:%u, expected %d:%d",
			st.st_uid, st.st_gid, UID_B, UID_B);
	expect("NOP under the unregistered personality 2", nop(0, 2), -EINVAL);
	if (nop(0, 0) != 0 || openat_as(0, in_dir("a-only"), O_RDONLY, 0) < 0)
		die_err(EIO, "requests without a personality do not run as root");
	id = sys_io_uring_register(ring.fd, IORING_REGISTER_PERSONALITY, NULL, 0);
	if (id != 4)
		die_err(EIO, "the next personality id is %d, expected 4", id);
	for (const char *n = "a-only"; n; n = !strcmp(n, "a-only") ? "group-b" : !strcmp(n, "group-b") ? "made-by-b" : NULL)
		unlink(in_dir(n));
	rmdir(dir);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	unsigned long advance = 100;
	struct truth *t;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 0);
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			mode = argv[i] + 2;
		else
			die_err(EINVAL, "usage: cr_regs --MODE [--advance N]");
	}
	bool restricted = !strcmp(mode, "restrict") || !strcmp(mode, "disabled");

	if (restricted)
		p.flags |= IORING_SETUP_R_DISABLED;
	ring_create_or_die(&ring, 8, &p);
	if (!strcmp(mode, "iowq"))
		setup_iowq();
	else if (!strcmp(mode, "clock"))
		setup_clock();
	else if (!strcmp(mode, "napi") || !strcmp(mode, "napi-static"))
		setup_napi(!strcmp(mode, "napi-static"));
	else if (restricted)
		setup_restrict();
	else if (!strcmp(mode, "pers"))
		setup_pers();
	else
		die_err(EINVAL, "unknown mode '%s'", mode);
	if (strcmp(mode, "disabled")) {
		if (restricted)
			ring_enable(&ring);
		ring_advance_by_nops(&ring, advance);
		if (event_fd >= 0)
			eventfd_count();
	}

	t = truth_new();
	truth_str(t, "mode", mode);
	truth_int(t, "ring_fd", ring.fd);
	truth_write(t);

	wait_for_stop();
	if (!strcmp(mode, "iowq"))
		verify_iowq();
	else if (!strcmp(mode, "clock"))
		verify_clock();
	else if (!strncmp(mode, "napi", 4))
		verify_napi();
	else if (!strcmp(mode, "restrict"))
		verify_restricted();
	else if (!strcmp(mode, "disabled"))
		verify_disabled();
	else
		verify_pers();
	printf("verified\n");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Node helper process.
 *
 * Why a separate process and not libnode inside CRIU: the plugin runs in
 * CRIU's own process, at times when CRIU's parasite sits inside the target.
 * A crash, an abort or a hang of a JavaScript runtime there would take CRIU
 * down with the target half-checkpointed.  A child process that can only
 * fail by closing its pipe keeps every JavaScript failure an ordinary,
 * reported error (see docs/design.md).
 *
 * The helper must not be CRIU's child either: while the parasite is in a
 * task, CRIU's SIGCHLD handler reaps any child and exits (a helper crash
 * would take CRIU down with the tree frozen), and at restore it counts any
 * dead child as a failed task.  So it is started through an intermediate
 * process that exits at once: the helper is reparented to init (or the
 * nearest subreaper) and its death only closes its pipes.  It is held by
 * a pidfd, never by a pid that could be reused.
 *
 * Every read from the helper has a deadline (CRIU_URING_HELPER_TIMEOUT_MS
 * per reply line, default 30 s, plus CRIU_URING_DRAIN_MS, which the helper
 * may spend waiting for in-flight requests): a hung helper is killed and
 * the hook fails, so CRIU never waits for it with the tree frozen.
 * CRIU_URING_HELPER_STEP_MS, if set, replaces the first for every reply
 * but the start-up ones (hello: Node's start; the dump's pause: the drain
 * and the warm-up), which take longest (test/helper-boundary.test.ts sets
 * it low to bound its hang cases fast).  Its stderr goes into CRIU's log.
 */
#define LOG_PREFIX "io_uring: "

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"
#include "helper.h"

#define DEFAULT_TIMEOUT_MS	30000
#define DEFAULT_DRAIN_MS	2000
#define STOP_GRACE_MS		5000

/* A line reader over a pipe: lines may be long (a plan step carries a ring's bytes in hex). */
struct reader {
	int fd;
	char *buf;
	size_t cap, len, start;
};

static pid_t helper_pid = -1;
static int helper_pidfd = -1;
static int to_helper = -1;
static struct reader from_helper = { .fd = -1 };
static struct reader helper_stderr = { .fd = -1 };
static bool hello_pending;	/* "hello" sent, its reply not read yet */
static bool startup_reply;	/* the reply being read belongs to the start-up (helper_call_startup) */
static bool hello_failed;

static int send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Where the helper is and which Node runs it.
 *
 * Installed (scripts/install.sh): a file next to the .so,
 * io_uring_plugin.helper, names both:
 *
 *	helper ../criu-uring/dist/src/plugin/helper.js
 *	node /usr/bin/node
 *
 * A relative helper path is taken from the directory the .so really lives
 * in (dladdr + realpath), so a copy of a whole install tree (a DESTDIR, a
 * package being built) finds its own helper; the Node interpreter is an
 * absolute path chosen at install time, so CRIU (root) never runs whatever
 * `node` comes first on PATH.  With that file present the checkout is never
 * looked at, and a broken file is an error, not a fallback.
 *
 * In a checkout (no such file): the .so is <root>/build/plugins/, the
 * helper <root>/dist/src/plugin/helper.js, and `node` comes from PATH.
 *
 * In both, $CRIU_URING_NODE, when set, names the interpreter instead (a
 * development override; the log line says which one ran).  An installed
 * helper gets no NODE_OPTIONS or NODE_PATH from CRIU's environment.
 */
#define HELPER_FILE "io_uring_plugin.helper"

struct helper_paths {
	char script[PATH_MAX];
	char node[PATH_MAX];
	int installed;
};

/* The real directory of this .so. */
static int plugin_dir(char *dir)
{
	Dl_info info;
	char *slash;

	if (!dladdr((void *)plugin_dir, &info) || !info.dli_fname)
		return -1;
	if (!realpath(info.dli_fname, dir))
		return -1;
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

/* "key value" lines, '#' comments; returns 0 and fills @p, or -1 (logged). */
static int read_helper_file(const char *dir, const char *file, struct helper_paths *p)
{
	char line[PATH_MAX + 32], helper[PATH_MAX], joined[2 * PATH_MAX + 1];
	int lineno = 0, ret = -1;
	FILE *f;

	helper[0] = p->node[0] = '\0';
	f = fopen(file, "re");
	if (!f) {
		pr_perror("cannot read %s", file);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *key = line, *val, *end;

		lineno++;
		end = line + strcspn(line, "\n");
		if (!*end && !feof(f)) {
			pr_err("%s:%d: line too long\n", file, lineno);
			goto out;
		}
		*end = '\0';
		key += strspn(key, " \t");
		if (!*key || *key == '#')
			continue;
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = '\0';
		val += strspn(val, " \t");
		if (!strcmp(key, "helper") && *val) {
			snprintf(helper, sizeof(helper), "%s", val);
		} else if (!strcmp(key, "node") && *val == '/') {
			snprintf(p->node, sizeof(p->node), "%s", val);
		} else {
			pr_err("%s:%d: expected 'helper PATH' or 'node /ABSOLUTE/PATH'\n", file, lineno);
			goto out;
		}
	}
	if (!helper[0] || !p->node[0]) {
		pr_err("%s: needs both a helper and a node line\n", file);
		goto out;
	}
	if (helper[0] == '/')
		snprintf(joined, sizeof(joined), "%s", helper);
	else
		snprintf(joined, sizeof(joined), "%s/%s", dir, helper);
	if (!realpath(joined, p->script)) {
		pr_perror("%s: helper %s", file, joined);
		goto out;
	}
	if (access(p->node, X_OK)) {
		pr_perror("%s: node %s", file, p->node);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
	return ret;
}

static int find_helper(struct helper_paths *p)
{
	char dir[PATH_MAX], file[PATH_MAX + sizeof(HELPER_FILE) + 1];
	const char *node = getenv("CRIU_URING_NODE");
	char *slash;
	int i;

	if (plugin_dir(dir)) {
		pr_err("cannot find the plugin's own path\n");
		return -1;
	}
	snprintf(file, sizeof(file), "%s/%s", dir, HELPER_FILE);
	if (!access(file, F_OK)) {
		p->installed = 1;
		if (read_helper_file(dir, file, p))
			return -1;
	} else {
		/* a checkout: <root>/build/plugins */
		p->installed = 0;
		for (i = 0; i < 2; i++) {
			slash = strrchr(dir, '/');
			if (!slash) {
				pr_err("cannot locate the criu-uring tree from the plugin's path\n");
				return -1;
			}
			*slash = '\0';
		}
		if (snprintf(p->script, sizeof(p->script), "%s/dist/src/plugin/helper.js", dir) >= (int)sizeof(p->script)) {
			pr_err("helper path too long\n");
			return -1;
		}
		snprintf(p->node, sizeof(p->node), "node");
	}
	if (node && *node)
		snprintf(p->node, sizeof(p->node), "%s", node);
	return 0;
}

static void exec_helper(const struct helper_paths *p, const char *stage, int in, int out, int err)
{
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	/*
	 * An installed helper runs only its own code: a caller's NODE_OPTIONS
	 * (--require, --import) or NODE_PATH must not reach root's Node.
	 */
	if (p->installed) {
		unsetenv("NODE_OPTIONS");
		unsetenv("NODE_PATH");
	}
	/*
	 * Node parses every certificate NODE_EXTRA_CA_CERTS names before it
	 * runs a line of code (about 70 ms of CPU for a distribution's CA
	 * bundle here, twice Node's own start); the helper never speaks TLS.
	 */
	unsetenv("NODE_EXTRA_CA_CERTS");
	/* an absolute path (always when installed) is run as is; only a bare name searches PATH */
	execvp(p->node, (char *const[]){ (char *)p->node, (char *)p->script, (char *)stage, NULL });
	fprintf(stderr, "cannot exec %s: %s\n", p->node, strerror(errno));
	_exit(127);
}

static long env_ms(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long ms;

	if (!v || !*v)
		return def;
	ms = strtol(v, &end, 10);
	return (*end || ms <= 0) ? def : ms;
}

/* The variable that sets how long the reply line being read may take. */
static const char *reply_timeout_var(void)
{
	if (startup_reply || !getenv("CRIU_URING_HELPER_STEP_MS"))
		return "CRIU_URING_HELPER_TIMEOUT_MS";
	return "CRIU_URING_HELPER_STEP_MS";
}

/* How long one reply line may take. */
static long reply_timeout_ms(void)
{
	long base = env_ms("CRIU_URING_HELPER_TIMEOUT_MS", DEFAULT_TIMEOUT_MS);

	if (strcmp(reply_timeout_var(), "CRIU_URING_HELPER_TIMEOUT_MS"))
		base = env_ms("CRIU_URING_HELPER_STEP_MS", base);
	return base + env_ms("CRIU_URING_DRAIN_MS", DEFAULT_DRAIN_MS);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/*
 * Fork the helper as a grandchild: the intermediate reports its pid and
 * exits, and is reaped here before CRIU installs any SIGCHLD handler
 * (plugin init runs before the parasite and before the restore forks).
 */
static pid_t spawn_grandchild(const struct helper_paths *p, const char *stage, int in, int out, int err)
{
	int report[2], status;
	pid_t mid, pid = -1;

	if (pipe2(report, O_CLOEXEC))
		return -1;
	mid = fork();
	if (mid < 0) {
		close(report[0]);
		close(report[1]);
		return -1;
	}
	if (mid == 0) {
		pid = fork();
		if (pid == 0)
			exec_helper(p, stage, in, out, err);
		if (write(report[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		_exit(pid < 0);
	}
	close(report[1]);
	if (read(report[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = -1;
	close(report[0]);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	return pid;
}

/* Log what the helper printed on stderr, complete lines only (or all of it at @flush). */
static void log_helper_stderr(bool flush);

static void mark_dead(void)
{
	if (to_helper >= 0)
		close(to_helper);
	if (from_helper.fd >= 0)
		close(from_helper.fd);
	to_helper = from_helper.fd = -1;
}

static void kill_helper(void)
{
	if (helper_pidfd >= 0)
		syscall(SYS_pidfd_send_signal, helper_pidfd, SIGKILL, NULL, 0);
	mark_dead();
}

static int check_version(const char *reply)
{
	if (!strcmp(reply, HELPER_PROTOCOL))
		return 0;
	pr_err("the Node helper speaks protocol '%s', this plugin '%s': the plugin and the helper come from different builds (reinstall criu-uring)\n",
	       reply, HELPER_PROTOCOL);
	return -1;
}

/*
 * Start the helper and send it "hello" without waiting for the answer:
 * Node starts (and warms up, src/plugin/warmup.ts) while CRIU goes on;
 * the first helper_call() reads the hello reply before its own.
 */
int helper_start(const char *stage)
{
	struct helper_paths paths;
	int req[2], rep[2], err[2];

	if (helper_pid > 0)
		return 0;
	if (find_helper(&paths))
		return -1;
	pr_info("helper %s (node %s%s, %s)\n", paths.script, paths.node,
		strchr(paths.node, '/') ? "" : " from PATH", paths.installed ? "installed" : "checkout");
	if (pipe2(req, O_CLOEXEC) || pipe2(rep, O_CLOEXEC) || pipe2(err, O_CLOEXEC | O_NONBLOCK)) {
		pr_perror("pipe");
		return -1;
	}
	helper_pid = spawn_grandchild(&paths, stage, req[0], rep[1], err[1]);
	close(req[0]);
	close(rep[1]);
	close(err[1]);
	to_helper = req[1];
	from_helper.fd = rep[0];
	helper_stderr.fd = err[0];
	if (helper_pid < 0) {
		pr_perror("starting the Node helper");
		helper_stop();
		return -1;
	}
	/*
	 * The helper is not ours to wait for: hold it by a pidfd.  Its pid
	 * cannot have been reused yet (it would have to exit and the pid space
	 * wrap within these microseconds); if it already died, the hello
	 * reply finds its pipe closed.
	 */
	helper_pidfd = syscall(SYS_pidfd_open, helper_pid, 0);
	if (helper_pidfd < 0) {
		pr_perror("pidfd_open of the Node helper %d", helper_pid);
		helper_stop();
		return -1;
	}
	/* The image directory is an fd CRIU holds open; the helper reads it by path. */
	if (send_line("hello %s /proc/%d/fd/%d %s", stage, getpid(), criu_get_image_dir(), HELPER_PROTOCOL)) {
		helper_stop();
		return -1;
	}
	hello_pending = true;
	return 0;
}

/* Wait up to @ms for the helper to exit; true if it did. */
static bool helper_exited(long ms)
{
	struct pollfd pfd = { .fd = helper_pidfd, .events = POLLIN };

	if (helper_pidfd < 0)
		return true;
	while (poll(&pfd, 1, ms) < 0)
		if (errno != EINTR)
			return false;
	return pfd.revents != 0;
}

/* Log what the ended helper wrote on stderr and drop every handle on it. */
static void forget_helper(void)
{
	log_helper_stderr(true);
	if (helper_stderr.fd >= 0)
		close(helper_stderr.fd);
	if (helper_pidfd >= 0)
		close(helper_pidfd);
	helper_stderr.fd = helper_pidfd = -1;
	helper_pid = -1;
	hello_pending = hello_failed = false;
}

void helper_stop(void)
{
	if (helper_pid <= 0)
		return;
	/* the helper exits at EOF on its stdin; don't let a stuck one hang CRIU */
	mark_dead();
	if (!helper_exited(STOP_GRACE_MS)) {
		pr_warn("the Node helper did not exit in %d ms: killing it\n", STOP_GRACE_MS);
		kill_helper();
		helper_exited(STOP_GRACE_MS);
	}
	forget_helper();
}

/*
 * The helper has answered everything asked of it: end it without waiting.
 * Its clean exit (Node's teardown) takes 10-20 ms on a small VM, and the
 * dump's plugin fini runs while the tree is still frozen.  What it wrote
 * on stderr is logged first; it is then killed through its pidfd (it is
 * not CRIU's child, init reaps it).
 */
void helper_release(void)
{
	if (helper_pid <= 0)
		return;
	log_helper_stderr(true);
	kill_helper();
	forget_helper();
}

/* The next complete line in @r, or NULL; valid until the next read. */
static char *take_line(struct reader *r)
{
	char *nl, *line;

	if (r->start == r->len)
		r->start = r->len = 0;
	nl = r->len ? memchr(r->buf + r->start, '\n', r->len - r->start) : NULL;
	if (!nl)
		return NULL;
	*nl = '\0';
	line = r->buf + r->start;
	r->start = (size_t)(nl - r->buf) + 1;
	return line;
}

/* Read what is there; 0 at EOF, -1 on error (EAGAIN included), else bytes read. */
static ssize_t fill(struct reader *r)
{
	ssize_t n;

	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->start = 0;
	}
	if (r->cap - r->len < 65536) {
		size_t cap = r->cap ? r->cap * 2 : 131072;
		char *buf = realloc(r->buf, cap);

		if (!buf)
			return -1;
		r->buf = buf;
		r->cap = cap;
	}
	n = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
	if (n > 0)
		r->len += n;
	return n;
}

static void log_helper_stderr(bool flush)
{
	char *line;
	ssize_t n;

	if (helper_stderr.fd >= 0) {
		while ((n = fill(&helper_stderr)) > 0)
			;
		if (n == 0) {	/* EOF: nothing more will come, and poll would keep reporting it */
			close(helper_stderr.fd);
			helper_stderr.fd = -1;
		}
	}
	while ((line = take_line(&helper_stderr)))
		pr_err("helper: %s\n", line);
	if (flush && helper_stderr.len > helper_stderr.start) {
		helper_stderr.buf[helper_stderr.len] = '\0';
		pr_err("helper: %s\n", helper_stderr.buf + helper_stderr.start);
		helper_stderr.start = helper_stderr.len = 0;
	}
}

/*
 * The next line on the helper's stdout, within the reply deadline; its
 * stderr is logged meanwhile.  NULL when it died, broke the channel or
 * missed the deadline (then it is killed).
 */
static char *read_raw_line(void)
{
	long timeout = reply_timeout_ms(), deadline = now_ms() + timeout;
	struct pollfd pfd[2];
	char *line;
	ssize_t n;

	for (;;) {
		if (from_helper.fd < 0)
			return NULL;
		line = take_line(&from_helper);
		if (line)
			return line;
		pfd[0] = (struct pollfd){ .fd = from_helper.fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = helper_stderr.fd, .events = POLLIN };
		n = poll(pfd, helper_stderr.fd >= 0 ? 2 : 1, deadline - now_ms() > 0 ? deadline - now_ms() : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pr_perror("waiting for the Node helper");
			kill_helper();
			return NULL;
		}
		if (n == 0) {
			pr_err("the Node helper did not answer within %ld ms (%s): killed\n", timeout, reply_timeout_var());
			kill_helper();
			return NULL;
		}
		if (helper_stderr.fd >= 0 && pfd[1].revents)
			log_helper_stderr(false);
		if (!pfd[0].revents)
			continue;
		n = fill(&from_helper);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		helper_exited(1000);
		log_helper_stderr(true);
		pr_err("the Node helper exited (see its messages above)\n");
		mark_dead();
		return NULL;
	}
}

/*
 * "log <level> <text>" lines are the helper's diagnostics and progress,
 * printed into CRIU's log at the helper's level (CRIU's: 1 error .. 4
 * debug) so a user reads one log; every other line is the reply.
 */
char *helper_read_line(void)
{
	char *line;

	for (;;) {
		line = read_raw_line();
		if (!line)
			return NULL;
		if (strncmp(line, "log ", 4) || line[4] < '1' || line[4] > '4' || line[5] != ' ')
			return line;
		print_on_level(line[4] - '0', LOG_PREFIX "%s\n", line + 6);
	}
}

static int vsend(const char *fmt, va_list ap)
{
	char *line;
	int len;
	ssize_t n;

	if (to_helper < 0) {
		pr_err("the Node helper is not running\n");
		return -1;
	}
	len = vasprintf(&line, fmt, ap);
	if (len < 0)
		return -1;
	line[len] = '\n';	/* vasprintf's terminator becomes the newline */
	for (char *p = line; p < line + len + 1; p += n) {
		n = write(to_helper, p, line + len + 1 - p);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			pr_perror("write to the Node helper");
			free(line);
			kill_helper();
			return -1;
		}
	}
	free(line);
	return 0;
}

static int send_line(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsend(fmt, ap);
	va_end(ap);
	return ret;
}

/* Read one reply line: 0 "ok", 1 "notmine", -1 anything else (logged). */
static int read_reply(char *reply, size_t size)
{
	char *rest, *line;

	line = helper_read_line();
	if (!line)
		return -1;
	rest = strchr(line, ' ');
	rest = rest ? rest + 1 : line + strlen(line);
	if (!strncmp(line, "ok", 2) && (line[2] == ' ' || !line[2])) {
		snprintf(reply, size, "%s", rest);
		return 0;
	}
	if (!strcmp(line, "notmine"))
		return 1;
	/* the whole message, however long: a refusal may name many requests */
	if (!strncmp(line, "err ", 4))
		pr_err("%s\n", rest);
	else {
		pr_err("the Node helper broke the protocol: '%.200s'\n", line);
		kill_helper();	/* nothing it says can be trusted any more */
	}
	return -1;
}

/* The answer to the hello sent at start, once: the helper is up and speaks our protocol. */
static int helper_greeted(void)
{
	char reply[512];
	long t0;
	int ret;

	if (!hello_pending)
		return 0;
	hello_pending = false;
	t0 = now_ms();
	startup_reply = true;
	ret = read_reply(reply, sizeof(reply));
	startup_reply = false;
	if (ret || check_version(reply)) {
		hello_failed = true;
		return -1;
	}
	pr_debug("helper ready (waited %ld ms for it)\n", now_ms() - t0);
	return 0;
}

static int vcall(bool startup, char *reply, size_t size, const char *fmt, va_list ap)
{
	int ret;

	if (hello_failed || helper_greeted()) {
		pr_err("the Node helper did not start\n");
		return -1;
	}
	if (vsend(fmt, ap))
		return -1;
	startup_reply = startup;
	ret = read_reply(reply, size);
	startup_reply = false;
	return ret;
}

int helper_call(char *reply, size_t size, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vcall(false, reply, size, fmt, ap);
	va_end(ap);
	return ret;
}

int helper_call_startup(char *reply, size_t size, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vcall(true, reply, size, fmt, ap);
	va_end(ap);
	return ret;
}

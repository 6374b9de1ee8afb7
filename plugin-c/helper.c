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
 */
#define LOG_PREFIX "io_uring: "

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"
#include "helper.h"

static pid_t helper_pid = -1;
static FILE *to_helper;
static FILE *from_helper;

/* The repository root: this .so lives in <root>/build/plugins/. */
static int find_root(char *root, size_t size)
{
	Dl_info info;
	char *slash;
	int i;

	if (!dladdr((void *)find_root, &info) || !info.dli_fname)
		return -1;
	if (!realpath(info.dli_fname, root))
		return -1;
	for (i = 0; i < 3; i++) {
		slash = strrchr(root, '/');
		if (!slash)
			return -1;
		*slash = '\0';
	}
	return strlen(root) < size ? 0 : -1;
}

static void exec_helper(const char *root, const char *stage, int in, int out)
{
	char script[PATH_MAX];
	const char *node = getenv("CRIU_URING_NODE");

	if (!node)
		node = "node";
	if (snprintf(script, sizeof(script), "%s/dist/src/plugin/helper.js", root) >= (int)sizeof(script))
		_exit(126);
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	execlp(node, node, script, stage, (char *)NULL);
	fprintf(stderr, "io_uring: cannot exec %s: %s\n", node, strerror(errno));
	_exit(127);
}

int helper_start(const char *stage)
{
	char root[PATH_MAX], reply[512];
	int req[2], rep[2];

	if (helper_pid > 0)
		return 0;
	if (find_root(root, sizeof(root))) {
		pr_err("cannot locate the criu-uring tree from the plugin's path\n");
		return -1;
	}
	if (pipe2(req, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		pr_perror("pipe");
		return -1;
	}
	helper_pid = fork();
	if (helper_pid < 0) {
		pr_perror("fork");
		return -1;
	}
	if (helper_pid == 0)
		exec_helper(root, stage, req[0], rep[1]);
	close(req[0]);
	close(rep[1]);
	to_helper = fdopen(req[1], "w");
	from_helper = fdopen(rep[0], "r");
	if (!to_helper || !from_helper) {
		pr_perror("fdopen");
		return -1;
	}
	/* The image directory is an fd CRIU holds open; the helper reads it by path. */
	return helper_call(reply, sizeof(reply), "hello %s /proc/%d/fd/%d", stage, getpid(), criu_get_image_dir()) < 0 ? -1 : 0;
}

void helper_stop(void)
{
	int status;

	if (helper_pid <= 0)
		return;
	if (to_helper)
		fclose(to_helper);
	if (from_helper)
		fclose(from_helper);
	to_helper = from_helper = NULL;
	/* the helper exits at EOF on its stdin; don't let a stuck one hang CRIU */
	for (int i = 0; i < 100; i++) {
		if (waitpid(helper_pid, &status, WNOHANG) == helper_pid)
			goto out;
		usleep(50000);
	}
	kill(helper_pid, SIGKILL);
	waitpid(helper_pid, &status, 0);
out:
	helper_pid = -1;
}

/*
 * Lines can be long (a plan step carries a ring's bytes in hex), so the
 * reader grows its buffer; the returned line stays valid until the next read.
 */
static char *read_raw_line(void)
{
	static char *buf;
	static size_t cap;
	ssize_t len;

	if (!from_helper || (len = getline(&buf, &cap, from_helper)) < 0) {
		pr_err("the Node helper died (see the log above)\n");
		return NULL;
	}
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	return buf;
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
		if (strncmp(line, "log ", 4) || !line[4] || line[5] != ' ')
			return line;
		print_on_level(line[4] - '0', LOG_PREFIX "%s\n", line + 6);
	}
}

static int vsend(const char *fmt, va_list ap)
{
	if (!to_helper)
		return -1;
	vfprintf(to_helper, fmt, ap);
	fputc('\n', to_helper);
	if (fflush(to_helper)) {
		pr_perror("write to the Node helper");
		return -1;
	}
	return 0;
}

int helper_send(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsend(fmt, ap);
	va_end(ap);
	return ret;
}

int helper_call(char *reply, size_t size, const char *fmt, ...)
{
	va_list ap;
	char *rest, *line;
	int ret;

	va_start(ap, fmt);
	ret = vsend(fmt, ap);
	va_end(ap);
	if (ret)
		return -1;
	line = helper_read_line();
	if (!line)
		return -1;
	snprintf(reply, size, "%s", line);
	rest = strchr(reply, ' ');
	rest = rest ? rest + 1 : reply + strlen(reply);
	if (!strncmp(reply, "ok", 2)) {
		memmove(reply, rest, strlen(rest) + 1);
		return 0;
	}
	if (!strncmp(reply, "notmine", 7))
		return 1;
	pr_err("%s\n", rest);
	return -1;
}

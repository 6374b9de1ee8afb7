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

static void exec_helper(const struct helper_paths *p, const char *stage, int in, int out)
{
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	/*
	 * An installed helper runs only its own code: a caller's NODE_OPTIONS
	 * (--require, --import) or NODE_PATH must not reach root's Node.
	 */
	if (p->installed) {
		unsetenv("NODE_OPTIONS");
		unsetenv("NODE_PATH");
	}
	/* an absolute path (always when installed) is run as is; only a bare name searches PATH */
	execvp(p->node, (char *const[]){ (char *)p->node, (char *)p->script, (char *)stage, NULL });
	fprintf(stderr, "io_uring: cannot exec %s: %s\n", p->node, strerror(errno));
	_exit(127);
}

int helper_start(const char *stage)
{
	struct helper_paths paths;
	char reply[512];
	int req[2], rep[2];

	if (helper_pid > 0)
		return 0;
	if (find_helper(&paths))
		return -1;
	pr_info("helper %s (node %s%s, %s)\n", paths.script, paths.node,
		strchr(paths.node, '/') ? "" : " from PATH", paths.installed ? "installed" : "checkout");
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
		exec_helper(&paths, stage, req[0], rep[1]);
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

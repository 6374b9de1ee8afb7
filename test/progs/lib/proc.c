// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process conventions shared by the test programs: one-line fatal errors
 * and the "wait until told to stop" protocol (SIGUSR1 or SIGTERM).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uring.h"

const char *prog_name = "test-prog";

static void __attribute__((noreturn)) vdie(int err, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prog_name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(err));
	exit(1);
}

void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vdie(err, fmt, ap);
}

void die_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(err, fmt, ap);
}

static sigset_t stop_set;

void stop_signals_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	prog_name = slash ? slash + 1 : argv0;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGUSR1);
	sigaddset(&stop_set, SIGTERM);
	/* Blocked everywhere (threads and children inherit the mask). */
	if (sigprocmask(SIG_BLOCK, &stop_set, NULL) < 0)
		die("sigprocmask");
}

int wait_for_stop(void)
{
	int sig = 0;

	while (sigwait(&stop_set, &sig) != 0)
		;
	return sig;
}

bool stop_requested(void)
{
	sigset_t pending;

	if (sigpending(&pending) < 0)
		die("sigpending");
	return sigismember(&pending, SIGUSR1) || sigismember(&pending, SIGTERM);
}

/*
 * Threads of this process whose name starts with @prefix ("iou-sqp-",
 * "iou-wrk-"): SQPOLL threads and io-wq workers are threads of the ring
 * owner.  Returns how many were found (at most @max stored).
 */
int find_threads(const char *prefix, pid_t *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		die("opendir /proc/self/task");
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, prefix, strlen(prefix))) {
			if (n < max)
				out[n] = (pid_t)atoi(de->d_name);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* A file name next to the truth file (a per-run temp dir), or in /tmp. */
const char *scratch_path(const char *name)
{
	static char buf[8][4096];
	static int next;
	const char *truth = getenv("TRUTH_FILE");
	char *out = buf[next++ % 8];
	const char *slash = truth ? strrchr(truth, '/') : NULL;

	if (slash)
		snprintf(out, sizeof(buf[0]), "%.*s/%s", (int)(slash - truth), truth, name);
	else
		snprintf(out, sizeof(buf[0]), "/tmp/%s.%d", name, (int)getpid());
	return out;
}

/* readlink of /proc/self/fd/@fd: the path inspect reports for a file. */
const char *fd_path(int fd)
{
	static char buf[4][4096];
	static int next;
	char link[64], *out = buf[next++ % 4];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, sizeof(buf[0]) - 1);
	if (n < 0)
		die("readlink %s", link);
	out[n] = '\0';
	return out;
}

/* The open file's f_flags as fdinfo shows them, without the fd's O_CLOEXEC. */
unsigned int fd_file_flags(int fd)
{
	char path[64], line[256];
	unsigned int flags = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		die("open %s", path);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %o", &flags) == 1) {
			found = true;
			break;
		}
	fclose(f);
	if (!found)
		die_err(ENOENT, "no flags line in %s", path);
	return flags & ~(unsigned int)O_CLOEXEC;
}

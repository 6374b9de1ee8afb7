// SPDX-License-Identifier: GPL-2.0-only
/*
 * reaper CMD [ARG...]: run CMD as a child subreaper (scripts/test.sh runs
 * tap under it).
 *
 * A process that CRIU restores with -d, and any test program whose parent
 * exits first, is orphaned.  Orphans go to the nearest subreaper, else to
 * PID 1, which on this machine reaps them late: a test waiting for
 * /proc/PID to vanish then waits for PID 1.  With PR_SET_CHILD_SUBREAPER
 * the orphans of the whole test run come here and are reaped at once.
 *
 * SIGINT, SIGTERM and SIGHUP are passed on to CMD.  When CMD exits, the
 * orphans still running are killed (and named on stderr, pid and command
 * line: a test left them behind), and the reaper exits with CMD's status
 * (128 + signal if a signal ended it).
 *
 * With REAPER_STATUS_FILE set, every orphan reaped while CMD runs is
 * appended to that file as "PID exit N" or "PID signal N": a restored
 * process is nobody's child but ours, so this is the only place its exit
 * status is known (test/lib/criu.ts reads it when a restored process died).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static pid_t cmd_pid;

static void forward(int sig)
{
	if (cmd_pid > 0)
		kill(cmd_pid, sig);
}

/* "PID exit N" or "PID signal N" to REAPER_STATUS_FILE, if set. */
static void record(pid_t pid, int status)
{
	const char *file = getenv("REAPER_STATUS_FILE");
	char line[64];
	int fd, n;

	if (!file || !*file)
		return;
	if (WIFSIGNALED(status))
		n = snprintf(line, sizeof(line), "%d signal %d\n", pid, WTERMSIG(status));
	else
		n = snprintf(line, sizeof(line), "%d exit %d\n", pid, WEXITSTATUS(status));
	fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, n) != n)
		perror("reaper: writing REAPER_STATUS_FILE");
	close(fd);
}

/* One line on stderr naming a process left running: pid, state, name and command line. */
static void name_left(pid_t pid, const char *stat)
{
	char path[64], cmd[256];
	const char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	for (ssize_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = i == n - 1 ? 0 : ' ';
	cmd[n] = 0;
	/* stat: "pid (comm) S ..."; an exiting process has no command line any more */
	fprintf(stderr, "reaper: killing pid %d left running: state %c, %.*s %s\n", pid,
		close_paren ? close_paren[2] : '?',
		open_paren && close_paren ? (int)(close_paren - open_paren + 1) : 1, open_paren && close_paren ? open_paren : "?",
		n ? cmd : "(no command line)");
}

/* Kill every child of ours (orphans reparented here); @name: say which. */
static void kill_children(bool name)
{
	char path[64], buf[512], *p;
	struct dirent *d;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		pid_t pid = atoi(d->d_name), ppid;
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		/* "pid (comm) state ppid ...": comm may hold spaces and parentheses */
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid()) {
			if (name)
				name_left(pid, buf);
			kill(pid, SIGKILL);
		}
	}
	closedir(dir);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = forward };
	int status = 0, cmd_status = -1, left = 0;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: reaper CMD [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		perror("reaper: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	cmd_pid = fork();
	if (cmd_pid < 0) {
		perror("reaper: fork");
		return 1;
	}
	if (!cmd_pid) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	for (;;) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nobody left */
		}
		if (pid == cmd_pid) {
			cmd_status = status;
			kill_children(true);
		} else if (cmd_status != -1) {
			left++;
			kill_children(true); /* its children came to us too */
		} else {
			record(pid, status);
		}
	}
	if (left)
		fprintf(stderr, "reaper: killed %d process(es) left running after %s\n", left, argv[1]);
	if (WIFSIGNALED(cmd_status))
		return 128 + WTERMSIG(cmd_status);
	return WEXITSTATUS(cmd_status);
}

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
 * orphans still running are killed (and counted on stderr: a test left
 * them behind), and the reaper exits with CMD's status (128 + signal if a
 * signal ended it).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static pid_t cmd_pid;

static void forward(int sig)
{
	if (cmd_pid > 0)
		kill(cmd_pid, sig);
}

/* Kill every child of ours (orphans reparented here). */
static void kill_children(void)
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
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			kill(pid, SIGKILL);
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
			kill_children();
		} else if (cmd_status != -1) {
			left++;
			kill_children(); /* its children came to us too */
		}
	}
	if (left)
		fprintf(stderr, "reaper: killed %d process(es) left running after %s\n", left, argv[1]);
	if (WIFSIGNALED(cmd_status))
		return 128 + WTERMSIG(cmd_status);
	return WEXITSTATUS(cmd_status);
}

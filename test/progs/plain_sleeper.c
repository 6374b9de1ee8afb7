// SPDX-License-Identifier: GPL-2.0-only
/*
 * plain_sleeper PROGRESS_FILE
 *
 * The simplest process CRIU must dump and restore: counts forever and
 * appends "PID COUNT" to PROGRESS_FILE every 20 ms, one write(2) per line.
 * The count lives only in memory, so after a restore the file shows whether
 * the process resumed exactly where it was dumped (next line = last + 1,
 * same pid) or started over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "plain_sleeper: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void append_progress(int fd, unsigned long count)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%d %lu\n", getpid(), count);

	if (write(fd, line, len) != len)
		die("write progress");
}

int main(int argc, char **argv)
{
	const struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };
	unsigned long count;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: plain_sleeper PROGRESS_FILE\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		die(argv[1]);

	for (count = 0;; count++) {
		append_progress(fd, count);
		nanosleep(&tick, NULL);
	}
}

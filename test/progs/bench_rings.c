// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_rings NRINGS NFILES [PAUSE_FILE]
 *
 * Benchmark subject: NRINGS plain rings, each with NFILES registered files
 * (all the same /dev/null open file), then waits for SIGUSR1/SIGTERM.
 * NRINGS 0 is the same process without io_uring (the baselines).
 * Writes {"pid"} to $TRUTH_FILE when ready.
 *
 * With PAUSE_FILE it measures its own pauses instead of just waiting: it
 * wakes every millisecond and writes "MAX_GAP_US WAKEUPS\n" at offset 0
 * of PAUSE_FILE after each wake-up, MAX_GAP_US being the longest time
 * between two wake-ups so far (the application's view of a freeze).
 */
#include <time.h>
#include "lib/uring.h"

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void measure_pauses(const char *file)
{
	const struct timespec tick = { .tv_nsec = 1000 * 1000 };
	long long last = now_us(), max_gap = 0, wakeups = 0;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char line[64];

	if (fd < 0)
		die("open %s", file);
	while (!stop_requested()) {
		long long t;
		int len;

		nanosleep(&tick, NULL);
		t = now_us();
		if (t - last > max_gap)
			max_gap = t - last;
		last = t;
		wakeups++;
		len = snprintf(line, sizeof(line), "%lld %lld\n", max_gap, wakeups);
		if (pwrite(fd, line, len, 0) != len)
			die("write %s", file);
	}
}

int main(int argc, char **argv)
{
	int nrings = argc > 1 ? atoi(argv[1]) : 1, nfiles = argc > 2 ? atoi(argv[2]) : 0;
	int devnull = open("/dev/null", O_RDWR);
	int *fds = calloc(nfiles ? nfiles : 1, sizeof(int));
	struct ring *rings = calloc(nrings ? nrings : 1, sizeof(*rings));
	struct truth *t;

	stop_signals_init(argv[0]);
	if (devnull < 0 || !fds || !rings)
		die("setup");
	for (int i = 0; i < nfiles; i++)
		fds[i] = devnull;
	for (int i = 0; i < nrings; i++) {
		ring_create_or_die(&rings[i], 8, NULL);
		if (nfiles)
			reg_or_die(rings[i].fd, IORING_REGISTER_FILES, fds, nfiles, "register files");
	}
	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_write(t);
	if (argc > 3)
		measure_pauses(argv[3]);
	else
		wait_for_stop();
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_rings NRINGS NFILES
 *
 * Benchmark subject: NRINGS plain rings, each with NFILES registered files
 * (all the same /dev/null open file), then waits for SIGUSR1/SIGTERM.
 * Writes {"pid"} to $TRUTH_FILE when ready.
 */
#include "lib/uring.h"

int main(int argc, char **argv)
{
	int nrings = argc > 1 ? atoi(argv[1]) : 1, nfiles = argc > 2 ? atoi(argv[2]) : 0;
	int devnull = open("/dev/null", O_RDWR);
	int *fds = calloc(nfiles ? nfiles : 1, sizeof(int));
	struct ring *rings = calloc(nrings, sizeof(*rings));
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
	wait_for_stop();
	return 0;
}

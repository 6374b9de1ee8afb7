// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_regions --MODE [--advance N]
 *
 * A zdtm-style checkpoint/restore test of memory regions and of the
 * personality id allocator.  One ring, moved by --advance NOPs.
 *
 *   --wait-user    ring created disabled, a 2-page region of our own
 *                  memory registered with IORING_MEM_REGION_REG_WAIT_ARG,
 *                  then enabled.  Slot 0 waits 60 ms, slot 1 250 ms, the
 *                  rest of the region holds a byte pattern.
 *   --wait-kernel  the same with a kernel-allocated region that we map at
 *                  its mmap offset (IORING_OFF_PARAM_REGION).
 *   --pers-next    personalities 1, 2, 3 registered, 3 and 2 dropped: the
 *                  kernel's cyclic allocator hands out 4 next.
 *
 * After SIGUSR1 the wait modes check the pattern, wait through
 * IORING_ENTER_EXT_ARG_REG on slots 0 and 1 (ETIME after their timeouts),
 * then write slot 2 (30 ms) through the region and wait on it, which shows
 * the kernel reads the very memory we see, and run a NOP.  --pers-next
 * registers a personality and expects id 4.
 *
 * Writes the truth file, waits for SIGUSR1, verifies, prints "verified"
 * and exits 0; otherwise a one-line reason on stderr and exit 1.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <time.h>
#include "lib/uring.h"

#define REGION_SIZE	(2 * 4096)
#define SLOT_SIZE	sizeof(struct io_uring_reg_wait)
#define PATTERN_START	(3 * SLOT_SIZE)

static struct ring ring;
static const char *mode = "";
static uint8_t *region;

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 7 + 13);
}

static void set_slot(unsigned int slot, long ms)
{
	struct io_uring_reg_wait *w = (void *)(region + slot * SLOT_SIZE);

	memset(w, 0, sizeof(*w));
	w->ts.tv_sec = ms / 1000;
	w->ts.tv_nsec = (ms % 1000) * 1000000L;
	w->flags = IORING_REG_WAIT_TS;
}

static void setup_region(bool user)
{
	struct io_uring_region_desc rd = { .size = REGION_SIZE };
	struct io_uring_mem_region_reg reg = { .region_uptr = (uintptr_t)&rd, .flags = IORING_MEM_REGION_REG_WAIT_ARG };

	if (user) {
		region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (region == MAP_FAILED)
			die("mmap region memory");
		rd.user_addr = (uintptr_t)region;
		rd.flags = IORING_MEM_REGION_TYPE_USER;
	}
	reg_or_die(ring.fd, IORING_REGISTER_MEM_REGION, &reg, 1, "REGISTER_MEM_REGION");
	if (!user) {
		region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ring.fd, rd.mmap_offset);
		if (region == MAP_FAILED)
			die("mmap kernel region at offset %#llx", (unsigned long long)rd.mmap_offset);
	}
	set_slot(0, 60);
	set_slot(1, 250);
	for (size_t i = PATTERN_START; i < REGION_SIZE; i++)
		region[i] = pattern_byte(i);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for a CQE that never comes, with the timeout of region slot @slot. */
static void expect_wait(unsigned int slot, long min_ms, long max_ms)
{
	long start = now_ms(), took;
	int ret;

	ret = sys_io_uring_enter(ring.fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | IORING_ENTER_EXT_ARG_REG,
				 (void *)(uintptr_t)(slot * SLOT_SIZE), SLOT_SIZE);
	took = now_ms() - start;
	/* a timeout with no completion: ETIME */
	if (ret != -1 || errno != ETIME)
		die_err(EIO, "wait on region slot %u returned %d (%s), expected ETIME", slot, ret,
			ret < 0 ? strerror(errno) : "no error");
	if (took < min_ms || took > max_ms)
		die_err(EIO, "wait on region slot %u took %ld ms, expected %ld..%ld", slot, took, min_ms, max_ms);
}

static void verify_region(void)
{
	struct io_uring_sqe *sqe;

	for (size_t i = PATTERN_START; i < REGION_SIZE; i++)
		if (region[i] != pattern_byte(i))
			die_err(EIO, "region byte %zu is %u, expected %u", i, region[i], pattern_byte(i));
	expect_wait(0, 55, 200);
	expect_wait(1, 245, 1000);
	set_slot(2, 30);
	expect_wait(2, 25, 200);
	sqe = ring_get_sqe(&ring);
	sqe_nop(sqe, 99);
	if (ring_submit_and_wait(&ring, 1) < 0)
		die("submit NOP");
	if (!ring_cqe_at(&ring, 0) || ring_cqe_at(&ring, 0)->user_data != 99 || ring_cqe_at(&ring, 0)->res != 0)
		die_err(EIO, "the NOP did not complete");
	ring_cq_advance(&ring, 1);
}

static void setup_pers_next(void)
{
	for (int want = 1; want <= 3; want++) {
		int id = reg_or_die(ring.fd, IORING_REGISTER_PERSONALITY, NULL, 0, "REGISTER_PERSONALITY");

		if (id != want)
			die_err(EIO, "personality got id %d, expected %d", id, want);
	}
	reg_or_die(ring.fd, IORING_UNREGISTER_PERSONALITY, NULL, 3, "UNREGISTER_PERSONALITY 3");
	reg_or_die(ring.fd, IORING_UNREGISTER_PERSONALITY, NULL, 2, "UNREGISTER_PERSONALITY 2");
}

static void verify_pers_next(void)
{
	int id = sys_io_uring_register(ring.fd, IORING_REGISTER_PERSONALITY, NULL, 0);

	if (id != 4)
		die_err(EIO, "a new personality got id %d (%s), expected 4", id, id < 0 ? strerror(errno) : "ok");
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	unsigned long advance = 100;
	bool wait_mode;
	struct truth *t;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--advance") && i + 1 < argc)
			advance = strtoul(argv[++i], NULL, 0);
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			mode = argv[i] + 2;
		else
			die_err(EINVAL, "usage: cr_regions --MODE [--advance N]");
	}
	wait_mode = !strcmp(mode, "wait-user") || !strcmp(mode, "wait-kernel");
	if (!wait_mode && strcmp(mode, "pers-next"))
		die_err(EINVAL, "unknown mode '%s'", mode);
	if (wait_mode)
		p.flags |= IORING_SETUP_R_DISABLED;
	ring_create_or_die(&ring, 8, &p);
	if (wait_mode) {
		setup_region(!strcmp(mode, "wait-user"));
		ring_enable(&ring);
	} else {
		setup_pers_next();
	}
	ring_advance_by_nops(&ring, advance);

	t = truth_new();
	truth_str(t, "mode", mode);
	truth_int(t, "ring_fd", ring.fd);
	if (region)
		truth_u64s(t, "region", (uintptr_t)region);
	truth_write(t);

	wait_for_stop();
	if (wait_mode)
		verify_region();
	else
		verify_pers_next();
	printf("verified\n");
	return 0;
}

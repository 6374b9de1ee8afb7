// SPDX-License-Identifier: GPL-2.0-only
/*
 * io_uring plugin for CRIU: the hooks CRIU calls, and what each one does.
 *
 * Dump:    init            start the Node helper (capture, images); its
 *                          hello is answered by PAUSE_DEVICES' first call
 *          PAUSE_DEVICES   before the freeze: drain requests that complete
 *                          by themselves, refuse those that never would,
 *                          run the capture code once (warm-up)
 *          CHECKPOINT_DEVICES  tree frozen: capture rings, write images
 *          DUMP_EXT_VMA    ring mappings are ours (CRIU skips them)
 *          DUMP_EXT_FILE   ring fds are ours (remember id -> ring)
 *          DUMP_DEVICES_LATE  every task dumped: fail the dump if a ring
 *                          changed after its capture
 *          fini            finish the images, or remove them on failure
 * Restore: init            validate every io_uring image before CRIU
 *                          restores anything; learn which files are rings
 *                          (or find the dump's saved plan valid for these
 *                          images and this kernel: no helper at all)
 *          RESTORE_EXT_FILE  a placeholder at each ring fd number
 *          RESUME_DEVICES_LATE  rebuild the rings inside the stopped tasks
 *                          (plan from the helper or saved by the dump,
 *                          executed by plan.c)
 *
 * Logging goes through print_on_level(), which the criu binary exports to
 * the plugins it dlopen()s; LOG_PREFIX makes every line start "io_uring: ".
 */
#define LOG_PREFIX "io_uring: "

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"
#include "eintr.h"
#include "helper.h"
#include "plan.h"
#include "saved_plan.h"

#define IO_URING_NAME "anon_inode:[io_uring]"
#define MAX_RING_FILES 4096

static bool helper_running;
static bool plan_saved;	/* restore: the dump's saved plan is used, no helper (saved_plan.c) */
static int nr_ext_pending, nr_ext_seen, nr_ext_expected;	/* ring files at dump, see flush_ext_files() */
static int flush_ext_files(void);

/*
 * CRIU's inventory of the plugins an image needs (criu/image.c, exported by
 * the criu binary like criu_get_image_dir()).  A dump that captured rings
 * records "io_uring" there, so a restore without this plugin fails at once
 * with CRIU's "Missing required plugin: io_uring", before any task exists.
 */
extern int add_inventory_plugin(const char *name);
extern bool check_and_remove_inventory_plugin(const char *name, size_t n);
#define PLUGIN_NAME "io_uring"
static bool in_inventory;

/* CRIU file ids of ring fds, learnt at restore init (before CRIU forks). */
static int ring_file_ids[MAX_RING_FILES];
static int nr_ring_file_ids;

static const char *stage_name(int stage)
{
	switch (stage) {
	case CR_PLUGIN_STAGE__DUMP:
		return "dump";
	case CR_PLUGIN_STAGE__PRE_DUMP:
		return "pre-dump";
	case CR_PLUGIN_STAGE__RESTORE:
		return "restore";
	default:
		return "unknown stage";
	}
}

/* Images from before the inventory record: any io_uring image means rings. */
static bool images_have_rings(void)
{
	int dfd = dup(criu_get_image_dir());
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (dfd < 0)
		return false;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return false;
	}
	rewinddir(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "io_uring-", 9)) {
			found = true;
			break;
		}
	closedir(d);
	return found;
}

/*
 * Ask the helper to read and check every io_uring image and say which
 * external-file ids are ring fds: "ok ID ID ...".  "required": the
 * inventory says the dump captured rings, so missing images are an error.
 */
static int load_ring_file_ids(bool required)
{
	static char reply[65536];
	char *tok, *save;

	if (helper_call(reply, sizeof(reply), "extfiles %s", required ? "required" : "optional") < 0)
		return -1;
	for (tok = strtok_r(reply, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (nr_ring_file_ids == MAX_RING_FILES) {
			pr_err("too many ring fds in the images\n");
			return -1;
		}
		ring_file_ids[nr_ring_file_ids++] = atoi(tok);
	}
	return 0;
}

static int io_uring_plugin_init(int stage)
{
	pr_info("plugin initialised for %s\n", stage_name(stage));
	switch (stage) {
	case CR_PLUGIN_STAGE__DUMP:
		break;
	case CR_PLUGIN_STAGE__RESTORE:
		in_inventory = check_and_remove_inventory_plugin(PLUGIN_NAME, strlen(PLUGIN_NAME));
		if (!in_inventory && !images_have_rings())
			return 0;
		break;
	default:
		/* pre-dump: ring mappings are skipped (DUMP_EXT_VMA), nothing else */
		return 0;
	}
	if (stage == CR_PLUGIN_STAGE__RESTORE &&
	    !saved_plan_load(criu_get_image_dir(), ring_file_ids, MAX_RING_FILES, &nr_ring_file_ids)) {
		plan_saved = true;
		return 0;
	}
	if (helper_start(stage_name(stage)))
		return -1;
	helper_running = true;
	if (stage == CR_PLUGIN_STAGE__RESTORE)
		return load_ring_file_ids(in_inventory);
	return 0;
}

/*
 * A successful run does not wait for the helper to exit (at dump, fini
 * runs while the tree is still frozen); a failed one does, so that all it
 * said reaches the log.
 */
static void io_uring_plugin_fini(int stage, int ret)
{
	char reply[256];
	bool ok = ret == 0;

	if (helper_running && stage == CR_PLUGIN_STAGE__DUMP && ret == 0 && nr_ext_pending) {
		/* fewer ring files came than the helper counted: still tell it, late */
		pr_warn("%d ring file(s) reached the helper only at the end of the dump (%d of %d expected came)\n",
			nr_ext_pending, nr_ext_seen, nr_ext_expected);
		if (flush_ext_files())
			ok = false;
	}
	if (helper_running && stage == CR_PLUGIN_STAGE__DUMP && helper_call(reply, sizeof(reply), "finish %d", ret))
		ok = false;
	if (!ok)
		helper_stop();
	else
		helper_release();
	helper_running = false;
	pr_info("plugin finished for %s (ret %d)\n", stage_name(stage), ret);
}

CR_PLUGIN_REGISTER(PLUGIN_NAME, io_uring_plugin_init, io_uring_plugin_fini)

static bool fd_is_ring(int fd, struct stat *st)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, IO_URING_NAME) && !fstat(fd, st);
}

/*
 * Dump: ring fds CRIU handed over and not yet told to the helper.  CRIU
 * calls DUMP_EXT_FILE once per open file, so once per ring that has an
 * fd anywhere in the tree, and only after every CHECKPOINT_DEVICES: the
 * helper's checkpoint replies say how many calls will come
 * (nr_ext_expected), and all of them go to the helper in one request
 * with the last one, which still runs before the dump can succeed.  One
 * round trip per ring fd was most of the frozen time a ring added.
 */
static struct {
	int id;
	unsigned long inode;
} ext_pending[MAX_RING_FILES];

static int flush_ext_files(void)
{
	char reply[256], *line, *p;
	size_t size = 16 + (size_t)nr_ext_pending * 32;
	int ret;

	if (!nr_ext_pending)
		return 0;
	line = malloc(size);
	if (!line) {
		pr_err("out of memory for the ring files\n");
		return -1;
	}
	p = line + sprintf(line, "extfile");
	for (int i = 0; i < nr_ext_pending; i++)
		p += sprintf(p, " %d %lu", ext_pending[i].id, ext_pending[i].inode);
	ret = helper_call(reply, sizeof(reply), "%s", line);
	free(line);
	nr_ext_pending = 0;
	return ret ? -1 : 0;
}

/* Dump: an fd CRIU does not know; claim it if it is a ring. */
static int io_uring_dump_ext_file(int fd, int id)
{
	struct stat st;

	if (!helper_running || !fd_is_ring(fd, &st))
		return -ENOTSUP;
	ext_pending[nr_ext_pending].id = id;
	ext_pending[nr_ext_pending].inode = st.st_ino;
	nr_ext_pending++;
	nr_ext_seen++;
	if (nr_ext_seen < nr_ext_expected && nr_ext_pending < MAX_RING_FILES)
		return 0;
	return flush_ext_files();
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, io_uring_dump_ext_file)

/* Dump (and pre-dump): ring mappings are recreated by us, not by CRIU. */
static int io_uring_dump_ext_vma(int pid, uint64_t start, uint64_t end, uint64_t pgoff, const char *path)
{
	(void)pid;
	(void)start;
	(void)end;
	(void)pgoff;
	return strcmp(path, IO_URING_NAME) ? -ENOTSUP : 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_VMA, io_uring_dump_ext_vma)

/*
 * Restore: runs in the restoring task itself, after CRIU forked it, so it
 * must not talk to the helper (the pipe is shared by every task).  The
 * placeholder only holds the fd number; RESUME_DEVICES_LATE replaces it
 * with the rebuilt ring.  It is an eventfd because CRIU may have to add
 * it to an epoll set that watched the ring (epoll refuses files without
 * poll, such as /dev/null, with EPERM); an eventfd is one file, with no
 * peer to close, that never becomes readable.  The plan moves such epoll
 * entries to the ring (src/restore/concerns/epoll.ts).
 */
static int io_uring_restore_ext_file(int id)
{
	for (int i = 0; i < nr_ring_file_ids; i++) {
		if (ring_file_ids[i] != id)
			continue;
		int fd = eventfd(0, 0);

		if (fd < 0)
			pr_perror("placeholder for ring file %d", id);
		return fd < 0 ? -errno : fd;
	}
	return -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, io_uring_restore_ext_file)

/* Restore: tasks are in their final layout and still ptrace-stopped. */
static int io_uring_resume_devices_late(int pid)
{
	char reply[256];
	int ret;

	if (plan_saved)
		return saved_plan_execute(pid);
	if (!helper_running)
		return -ENOTSUP;
	ret = helper_call(reply, sizeof(reply), "plan %d", pid);
	if (ret == 1)
		return -ENOTSUP; /* no rings in this process */
	if (ret < 0)
		return -1;
	pr_info("rebuilding the rings of %d (%s steps)\n", pid, reply);
	return plan_execute(pid, "restoring the rings");
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, io_uring_resume_devices_late)

/* Dump: before CRIU freezes the tree. */
static int io_uring_pause_devices(int pid)
{
	char reply[256];

	if (!helper_running)
		return -ENOTSUP;
	return helper_call_startup(reply, sizeof(reply), "pause %d", pid) ? -1 : 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__PAUSE_DEVICES, io_uring_pause_devices)

/*
 * Dump: the whole tree is frozen; capture ring state here.  While requests
 * are in flight the helper answers "retry" with steps that let their
 * completions be posted (task work run in the frozen threads, see
 * src/plugin/completions.ts); it gives up at its own deadline.
 */
static int io_uring_checkpoint_devices(int pid)
{
	char reply[256];

	if (!helper_running)
		return -ENOTSUP;
	for (;;) {
		if (helper_call(reply, sizeof(reply), "checkpoint %d", pid))
			return -1;
		if (strcmp(reply, "retry"))
			break;
		if (plan_execute(pid, "dumping the rings"))
			return -1;
		usleep(5000);
	}
	/* "<rings of pid> <rings with an fd in the tree so far>" */
	if (!strchr(reply, ' ')) {
		pr_err("the Node helper broke the protocol: checkpoint reply '%s'\n", reply);
		return -1;
	}
	nr_ext_expected = atoi(strchr(reply, ' ') + 1);
	if (atoi(reply) > 0 && !in_inventory) {
		if (add_inventory_plugin(PLUGIN_NAME))
			return -1;
		in_inventory = true;
	}
	return rewind_interrupted_waits(pid) < 0 ? -1 : 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__CHECKPOINT_DEVICES, io_uring_checkpoint_devices)

/*
 * Dump: every task has been dumped (files, memory, threads) and is still
 * stopped.  An event after a ring's capture may have posted a completion
 * that took data CRIU then no longer found in a socket or pipe: the
 * helper captures the rings again and fails the dump if one changed, so
 * that the process resumes with its completion (docs/inflight.md).
 * -ENOTSUP either way but on failure: other plugins get the hook too.
 */
static int io_uring_dump_devices_late(int id)
{
	char reply[256];

	(void)id;
	if (!helper_running || !in_inventory)
		return -ENOTSUP;
	return helper_call(reply, sizeof(reply), "verify") < 0 ? -1 : -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_DEVICES_LATE, io_uring_dump_devices_late)

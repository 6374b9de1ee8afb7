// SPDX-License-Identifier: GPL-2.0-only
/*
 * io_uring plugin for CRIU: registration and hook table.
 *
 * This file only wires the plugin into CRIU's plugin ABI (criu-plugin.h of
 * the exact CRIU we build, installed to build/criu/include).  Every hook is a
 * stub answering -ENOTSUP, which CRIU reads as "not mine" and moves on; the
 * real work lands in the other C files of plugin-c/ as it is written.
 *
 * Logging goes through print_on_level(), which the criu binary exports to
 * the plugins it dlopen()s; LOG_PREFIX makes every line start "io_uring: ".
 */
#define LOG_PREFIX "io_uring: "

#include <errno.h>

#include "criu-plugin.h"
#include "criu-log.h"

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

static int io_uring_plugin_init(int stage)
{
	pr_info("plugin initialised for %s\n", stage_name(stage));
	return 0;
}

static void io_uring_plugin_fini(int stage, int ret)
{
	pr_info("plugin finished for %s (ret %d)\n", stage_name(stage), ret);
}

CR_PLUGIN_REGISTER("io_uring", io_uring_plugin_init, io_uring_plugin_fini)

/* Dump: an fd CRIU does not know; claim it if it is a ring. */
static int io_uring_dump_ext_file(int fd, int id)
{
	(void)fd;
	(void)id;
	return -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, io_uring_dump_ext_file)

/* Restore: hand back an fd for an external file we dumped. */
static int io_uring_restore_ext_file(int id)
{
	(void)id;
	return -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, io_uring_restore_ext_file)

/* Restore: tasks are in their final layout and still ptrace-stopped. */
static int io_uring_resume_devices_late(int pid)
{
	(void)pid;
	return -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, io_uring_resume_devices_late)

/* Dump: runs while collecting the tree, before CRIU freezes the task. */
static int io_uring_pause_devices(int pid)
{
	(void)pid;
	return -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__PAUSE_DEVICES, io_uring_pause_devices)

/* Dump: the whole tree is frozen; capture ring state here. */
static int io_uring_checkpoint_devices(int pid)
{
	(void)pid;
	return -ENOTSUP;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__CHECKPOINT_DEVICES, io_uring_checkpoint_devices)

/*
 * RESTORE_INIT does not exist in CRIU 4.2.1's plugin ABI (hooks end at
 * POST_FORKING); it is registered here once a criu-patches/ patch adds it.
 */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The BPF iterator programs pinned in bpffs, so that a dump after the
 * first one of a boot re-attaches them instead of loading and verifying
 * them again (docs/bpf.md).
 */
#ifndef CRIU_URING_BPF_PIN_H
#define CRIU_URING_BPF_PIN_H

#include <bpf/libbpf.h>
#include <cstddef>
#include <map>
#include <string>

struct PinnedSet {
	int dir_fd = -1;	/* the set's directory: flock()ed around each run */
	int events_fd = -1;	/* the ring buffer map */
	int seen_fd = -1;	/* the per-run "seen" hash map, emptied after each run */
	int bss_fd = -1;	/* .bss: target_tgid, run_gen, dropped */
	std::map<std::string, int> progs;	/* program name -> fd */
};

/*
 * The directory of the pinned set for this object and ring buffer size,
 * or "" when pinning is off (the reason in *why): CRIU_URING_BPF_PIN=0,
 * or no bpffs mounted where the pins would go (it is never mounted here).
 */
std::string pin_dir(const void *elf, size_t elf_size, size_t ring_bytes, std::string *why);

/*
 * Open an existing pinned set; false (nothing held) when it is absent,
 * incomplete or not trustworthy, with why in *why ("" when absent): the
 * root and the set's directory must belong to this user (root) with no
 * access for others, and every pin must be the object's program (type,
 * name) or map (type, key and value size, size).
 */
bool pin_open(const std::string &dir, bpf_object *opened, PinnedSet *set, std::string *why);

/*
 * Pin a loaded object as dir (atomically: pinned in a temporary directory
 * renamed into place); "" or why it could not.  Another process pinning
 * the same set at the same time is not an error; an incomplete set (a pin
 * removed by hand) is replaced, and so is a complete one if @replace
 * (pin_open() refused it).
 */
std::string pin_create(const std::string &dir, bpf_object *loaded, bool replace);

void pin_close(PinnedSet *set);

/* Empty a map (the "seen" map of a shared set). */
void pin_clear_map(int fd);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Pinned BPF iterator programs (see bpf_pin.h and docs/bpf.md).
 *
 * Layout: <root>/<hash of the BPF object>-<ring buffer MiB>/ holding
 * prog_<name> for every program and map_<name> for the maps user space
 * needs (events, seen, bss).  <root> is $CRIU_URING_BPF_PIN_DIR, default
 * /sys/fs/bpf/criu-uring; its parent must already be a bpffs.  A
 * different build of the programs gets another directory, and bpffs does
 * not survive a reboot, so a set never outlives what it was loaded for.
 * Every run locks the set's directory (flock), since runs share the maps.
 */
#include "bpf_pin.h"

#include <bpf/bpf.h>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr const char *kDefaultRoot = "/sys/fs/bpf/criu-uring";
const char *const kMaps[] = { "events", "seen", "bss" };

/*
 * FNV-1a over 64-bit words (then the tail bytes): it names the pinned set
 * after the programs' ELF (about 1 MB), and every dump's helper computes
 * it before its first capture.  Byte by byte it took 2 ms here; a word at
 * a time an eighth of that.  Not a defence against forgery (the pin
 * directory must be private, private_dir()), only against a stale set.
 */
uint64_t fnv1a(const void *data, size_t n)
{
	const auto *p = static_cast<const uint8_t *>(data);
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i = 0;

	for (; i + sizeof(uint64_t) <= n; i += sizeof(uint64_t)) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		h ^= w;
		h *= 0x100000001b3ull;
	}
	for (; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

bool on_bpffs(const std::string &path)
{
	struct statfs st;

	return statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

std::string parent(const std::string &path)
{
	size_t slash = path.find_last_of('/');

	return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

/* The map's short name as pinned: libbpf names .bss "<object>.bss". */
std::string map_key(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot + 1 : name;
}

void remove_tree(const std::string &dir)
{
	DIR *d = opendir(dir.c_str());
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlink((dir + "/" + de->d_name).c_str());
		closedir(d);
	}
	rmdir(dir.c_str());
}

/* Whether dir holds every pin of the object. */
bool complete(const std::string &dir, bpf_object *obj)
{
	bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
		if (access((dir + "/prog_" + bpf_program__name(prog)).c_str(), F_OK))
			return false;
	for (const char *m : kMaps)
		if (access((dir + "/map_" + m).c_str(), F_OK))
			return false;
	return true;
}

/*
 * A directory only this user can change: the pins in it are then what this
 * user (root) put there.  bpffs keeps owners and modes as set.
 */
bool private_dir(const std::string &path, std::string *why)
{
	struct stat st;

	if (stat(path.c_str(), &st) || !S_ISDIR(st.st_mode)) {
		*why = path + " is not a directory";
		return false;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		char text[96];

		snprintf(text, sizeof(text), " is not private to uid %u (owner %u, mode %03o)", geteuid(), st.st_uid, st.st_mode & 0777);
		*why = path + text;
		return false;
	}
	return true;
}

/* The pinned program is the object's program: its type and name. */
bool same_prog(int fd, bpf_program *prog, std::string *why)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		*why = std::string("prog_") + bpf_program__name(prog) + ": no program info";
		return false;
	}
	if (info.type != bpf_program__type(prog) || strncmp(info.name, bpf_program__name(prog), BPF_OBJ_NAME_LEN - 1)) {
		*why = std::string("prog_") + bpf_program__name(prog) + " is another program (" + info.name + ")";
		return false;
	}
	return true;
}

/* The pinned map has the object's map's type, key and value sizes (and size, but for the ring buffer's, in the set's name). */
bool same_map(int fd, bpf_object *obj, const char *want, std::string *why)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	bpf_map *map;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		*why = std::string("map_") + want + ": no map info";
		return false;
	}
	bpf_object__for_each_map(map, obj) {
		if (map_key(bpf_map__name(map)) != want)
			continue;
		if (info.type == (uint32_t)bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
		    info.value_size == bpf_map__value_size(map) &&
		    (!strcmp(want, "events") || info.max_entries == bpf_map__max_entries(map)))
			return true;
		break;
	}
	*why = std::string("map_") + want + " is not the object's map";
	return false;
}

} // namespace

std::string pin_dir(const void *elf, size_t elf_size, size_t ring_bytes, std::string *why)
{
	const char *off = getenv("CRIU_URING_BPF_PIN");
	const char *env_root = getenv("CRIU_URING_BPF_PIN_DIR");
	std::string root = env_root && *env_root ? env_root : kDefaultRoot;
	char name[64];

	if (off && !strcmp(off, "0")) {
		*why = "off (CRIU_URING_BPF_PIN=0)";
		return "";
	}
	if (!on_bpffs(root) && !on_bpffs(parent(root))) {
		*why = "off (no bpffs mounted at " + parent(root) + ")";
		return "";
	}
	snprintf(name, sizeof(name), "/%016llx-%zu", (unsigned long long)fnv1a(elf, elf_size), ring_bytes >> 20);
	return root + name;
}

bool pin_open(const std::string &dir, bpf_object *opened, PinnedSet *set, std::string *why)
{
	bpf_program *prog;

	why->clear();
	set->dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (set->dir_fd < 0)
		return false;
	if (!private_dir(parent(dir), why) || !private_dir(dir, why))
		goto bad;
	bpf_object__for_each_program(prog, opened) {
		int fd = bpf_obj_get((dir + "/prog_" + bpf_program__name(prog)).c_str());

		if (fd < 0) {
			*why = std::string("prog_") + bpf_program__name(prog) + " missing";
			goto bad;
		}
		set->progs[bpf_program__name(prog)] = fd;
		if (!same_prog(fd, prog, why))
			goto bad;
	}
	set->events_fd = bpf_obj_get((dir + "/map_events").c_str());
	set->seen_fd = bpf_obj_get((dir + "/map_seen").c_str());
	set->bss_fd = bpf_obj_get((dir + "/map_bss").c_str());
	if (set->events_fd < 0 || set->seen_fd < 0 || set->bss_fd < 0) {
		*why = "a map is missing";
		goto bad;
	}
	if (same_map(set->events_fd, opened, "events", why) && same_map(set->seen_fd, opened, "seen", why) &&
	    same_map(set->bss_fd, opened, "bss", why))
		return true;
bad:
	pin_close(set);
	return false;
}

std::string pin_create(const std::string &dir, bpf_object *loaded, bool replace)
{
	std::string root = parent(dir), tmp = dir + "-tmp-" + std::to_string(getpid());	/* bpffs refuses dots in names */
	std::string err;
	bpf_program *prog;
	bpf_map *map;
	int lock;

	if (mkdir(root.c_str(), 0700) && errno != EEXIST)
		return "mkdir " + root + ": " + strerror(errno);
	lock = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0)
		return "open " + root + ": " + strerror(errno);
	/* one creator at a time; a set that appeared meanwhile is kept */
	while (flock(lock, LOCK_EX) && errno == EINTR)
		;
	if (!private_dir(root, &err))
		goto out;	/* pin_open() would refuse every set in it: touch nothing */
	if (access(dir.c_str(), F_OK) == 0) {
		if (!replace && complete(dir, loaded))
			goto out;
		remove_tree(dir);	/* damaged (a pin removed by hand) or not as it must be: nobody may use it */
	}
	remove_tree(tmp);
	if (mkdir(tmp.c_str(), 0700)) {
		err = "mkdir " + tmp + ": " + strerror(errno);
		goto out;
	}
	bpf_object__for_each_program(prog, loaded) {
		if (bpf_obj_pin(bpf_program__fd(prog), (tmp + "/prog_" + bpf_program__name(prog)).c_str())) {
			err = std::string("pin program ") + bpf_program__name(prog) + ": " + strerror(errno);
			goto fail;
		}
	}
	for (const char *want : kMaps) {
		bool found = false;

		bpf_object__for_each_map(map, loaded) {
			if (map_key(bpf_map__name(map)) != want)
				continue;
			if (bpf_obj_pin(bpf_map__fd(map), (tmp + "/map_" + want).c_str())) {
				err = std::string("pin map ") + want + ": " + strerror(errno);
				goto fail;
			}
			found = true;
		}
		if (!found) {
			err = std::string("no map ") + want + " in the BPF object";
			goto fail;
		}
	}
	if (rename(tmp.c_str(), dir.c_str()) == 0)
		goto out;
	err = "rename to " + dir + ": " + strerror(errno);
fail:
	remove_tree(tmp);
out:
	close(lock);	/* releases the lock */
	return err;
}

void pin_close(PinnedSet *set)
{
	for (auto &p : set->progs)
		close(p.second);
	for (int fd : { set->dir_fd, set->events_fd, set->seen_fd, set->bss_fd })
		if (fd >= 0)
			close(fd);
	*set = PinnedSet();
}

void pin_clear_map(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	std::vector<uint8_t> key(info.key_size), next(info.key_size);
	std::vector<std::vector<uint8_t>> keys;

	for (void *prev = nullptr; bpf_map_get_next_key(fd, prev, next.data()) == 0; prev = key.data()) {
		keys.push_back(next);
		key = next;
	}
	for (auto &k : keys)
		bpf_map_delete_elem(fd, k.data());
}

// SPDX-License-Identifier: GPL-2.0
/*
 * runIter(targetTgid): run the uring_iter BPF iterators and return their
 * records (see docs/bpf.md) as one Buffer.
 *
 * The skeleton is loaded once per Node process and reused.  Each run sets
 * the target, creates one iterator instance per program (restricted to the
 * target process when there is one), reads it to EOF -- which is what runs
 * the programs -- and drains the records from the ring buffer map.  When the
 * ring buffer overflowed, the skeleton is reloaded with a bigger one and the
 * run repeated, so large tables always come back complete.
 *
 * Loading means verifying, which takes 0.4 s and more; when a bpffs is
 * mounted (bpf_pin.h), the programs of the first load of a boot are
 * pinned there and later processes only open them.  bpfPinState() says
 * which happened.
 */
#include "bpf_pin.h"
#include "errors.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <cstdarg>
#include <cstring>
#include <fcntl.h>
#include <linux/btf.h>
#include <string>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include "uring_iter.skel.h"

namespace {

constexpr size_t kInitialRingBytes = 16u << 20;
constexpr size_t kMaxRingBytes = 1u << 30;

using Bss = std::remove_pointer_t<decltype(uring_iter_bpf::bss)>;

/*
 * The skeleton: loaded, or (with a pinned set) only opened, for its
 * program names; bss points at the loaded skeleton's .bss or at the
 * pinned one, mapped here.
 */
struct Loaded {
	uring_iter_bpf *skel = nullptr;
	ring_buffer *rb = nullptr;
	size_t ring_bytes = 0;
	Bss *bss = nullptr;
	bool pinned = false;
	PinnedSet pin;
	size_t bss_len = 0;	/* bytes mapped at bss when pinned */
};

Loaded g_loaded;
std::string g_libbpf_last;	/* last libbpf warning, for error messages */
std::string g_pin_state = "not loaded yet";
std::vector<uint8_t> g_out;	/* the records of the current run */

int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = 0;
	if (n)
		g_libbpf_last = line;
	return 0;
}

int collect(void *out, void *data, size_t size)
{
	auto *buf = static_cast<std::vector<uint8_t> *>(out);
	auto *p = static_cast<uint8_t *>(data);

	buf->insert(buf->end(), p, p + size);
	return 0;
}

void unload()
{
	ring_buffer__free(g_loaded.rb);
	if (g_loaded.pinned && g_loaded.bss)
		munmap(g_loaded.bss, g_loaded.bss_len);
	pin_close(&g_loaded.pin);
	uring_iter_bpf__destroy(g_loaded.skel);
	g_loaded = Loaded();
}

std::string unavailable(const char *step, int err)
{
	std::string msg = std::string("BPF unavailable: ") + step + ": " + strerror(err);

	if (!g_libbpf_last.empty())
		msg += " (" + g_libbpf_last + ")";
	return msg;
}

/*
 * The verifier gives up with EAGAIN when a signal is pending during a long
 * verification, and Node gets signals (SIGCHLD, the profiler's SIGPROF).
 * Blocked signals do not count as pending, so block them for the load.
 */
int load_without_signals(uring_iter_bpf *skel)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = uring_iter_bpf__load(skel);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	return err;
}

/*
 * The REQ_F_*_BIT numbers of the running kernel.  They are enumerators of
 * an anonymous enum in io_uring_types.h, which CO-RE cannot relocate
 * (bpf_core_enum_value() needs a named type), and they moved between
 * 6.12 and 6.13.  The programs record req->flags raw; the capture
 * translates the bits it needs with these numbers, looked up by name in
 * the kernel's BTF (src/capture/reqflags.ts).
 */
constexpr const char *kReqBitNames[] = {
	"CUR_POS", "NOWAIT", "LINK_TIMEOUT", "BUFFER_SELECTED", "BUFFER_RING", "CREDS", "APOLL_MULTISHOT",
};
constexpr size_t kReqBits = sizeof(kReqBitNames) / sizeof(kReqBitNames[0]);

/* Record the enumerator @name = @val if it is REQ_F_<one of kReqBitNames>_BIT. */
void match_req_bit(const char *name, long long val, __u32 out[kReqBits], std::vector<bool> &seen, size_t *found)
{
	if (!name || strncmp(name, "REQ_F_", 6) || val < 0 || val >= 64)
		return;
	name += 6;
	for (size_t b = 0; b < kReqBits; b++) {
		size_t n = strlen(kReqBitNames[b]);

		if (!seen[b] && !strncmp(name, kReqBitNames[b], n) && !strcmp(name + n, "_BIT")) {
			out[b] = val;
			seen[b] = true;
			(*found)++;
		}
	}
}

/*
 * The bytes that follow a type's struct btf_type in the type section
 * (linux/btf.h), or -1 for a kind this code does not know.
 */
long btf_type_extra(const struct btf_type *t)
{
	__u32 vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return (long)vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * sizeof(struct btf_var_secinfo);
	case BTF_KIND_ENUM64:
		return (long)vlen * sizeof(struct btf_enum64);
	default:
		return -1;
	}
}

/* The walk of resolve_req_bits_raw() over the BTF blob @buf of @len bytes. */
int walk_req_bits(const char *buf, size_t len, __u32 out[kReqBits], std::vector<bool> &seen, size_t *found)
{
	struct btf_header hdr;

	if (len < sizeof(hdr))
		return -1;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != BTF_MAGIC || hdr.hdr_len < sizeof(hdr) ||
	    (size_t)hdr.hdr_len + hdr.type_off + hdr.type_len > len ||
	    (size_t)hdr.hdr_len + hdr.str_off + hdr.str_len > len || !hdr.str_len)
		return -1;
	const char *types = buf + hdr.hdr_len + hdr.type_off;
	const char *strs = buf + hdr.hdr_len + hdr.str_off;
	auto name_at = [&](__u32 off) -> const char * {
		return off < hdr.str_len && memchr(strs + off, '\0', hdr.str_len - off) ? strs + off : nullptr;
	};

	for (size_t pos = 0; pos + sizeof(struct btf_type) <= hdr.type_len && *found < kReqBits;) {
		struct btf_type t;

		memcpy(&t, types + pos, sizeof(t));
		long extra = btf_type_extra(&t);
		if (extra < 0 || pos + sizeof(t) + extra > hdr.type_len)
			return -1;
		pos += sizeof(t);
		if (BTF_INFO_KIND(t.info) == BTF_KIND_ENUM) {
			for (__u32 i = 0; i < BTF_INFO_VLEN(t.info); i++) {
				struct btf_enum e;

				memcpy(&e, types + pos + i * sizeof(e), sizeof(e));
				match_req_bit(name_at(e.name_off), e.val, out, seen, found);
			}
		}
		pos += extra;
	}
	return *found == kReqBits ? 0 : 1;
}

/*
 * resolve_req_bits() by walking the raw /sys/kernel/btf/vmlinux once:
 * libbpf's btf__load_vmlinux_btf() also indexes and checks every type,
 * 15-30 ms on a 2-core VM on every dump, for seven enumerators.  0: all
 * found; 1: read and walked, not all found; -1: not walkable here (no
 * file, another byte order, a kind this code does not know), the caller
 * asks libbpf.
 */
int resolve_req_bits_raw(__u32 out[kReqBits])
{
	std::vector<bool> seen(kReqBits);
	struct stat st;
	size_t found = 0;
	int fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	/* read-only mappings of it exist since Linux 6.16; before, one read() per page */
	if (fstat(fd, &st) || st.st_size < (off_t)sizeof(struct btf_header)) {
		close(fd);
		return -1;
	}
	size_t len = st.st_size;
	void *map = mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
	std::vector<char> copy;
	const char *buf;

	if (map != MAP_FAILED) {
		buf = static_cast<const char *>(map);
	} else {
		ssize_t n = 0;
		size_t got = 0;

		copy.resize(len);
		while (got < len && (n = read(fd, copy.data() + got, len - got)) > 0)
			got += n;
		len = got;
		buf = copy.data();
	}
	close(fd);
	int ret = walk_req_bits(buf, len, out, seen, &found);
	if (map != MAP_FAILED)
		munmap(map, st.st_size);
	return ret;
}

/* REQ_F_<name>_BIT of every kReqBitNames entry, from the kernel's BTF; false unless all were found. */
bool resolve_req_bits(__u32 out[kReqBits])
{
	int raw = resolve_req_bits_raw(out);

	if (raw >= 0)
		return raw == 0;

	btf *vmlinux = btf__load_vmlinux_btf();
	std::vector<bool> seen(kReqBits);
	size_t found = 0;

	for (__u32 id = 1; vmlinux && id < btf__type_cnt(vmlinux) && found < kReqBits; id++) {
		const btf_type *t = btf__type_by_id(vmlinux, id);

		if (!btf_is_enum(t))
			continue;
		const struct btf_enum *e = btf_enum(t);
		for (__u16 i = 0; i < btf_vlen(t); i++)
			match_req_bit(btf__name_by_offset(vmlinux, e[i].name_off), e[i].val, out, seen, &found);
	}
	btf__free(vmlinux);
	return found == kReqBits;
}

/* Use the pinned set in dir with the opened (not loaded) skel; false if it is not there or not usable (*why). */
bool use_pinned(const std::string &dir, uring_iter_bpf *skel, size_t ring_bytes, std::string *why)
{
	long page = sysconf(_SC_PAGESIZE);
	void *bss;

	if (!pin_open(dir, skel->obj, &g_loaded.pin, why))
		return false;
	g_loaded.bss_len = (sizeof(Bss) + page - 1) / page * page;
	bss = mmap(nullptr, g_loaded.bss_len, PROT_READ | PROT_WRITE, MAP_SHARED, g_loaded.pin.bss_fd, 0);
	if (bss == MAP_FAILED) {
		pin_close(&g_loaded.pin);
		return false;
	}
	g_loaded.skel = skel;
	g_loaded.bss = static_cast<Bss *>(bss);
	g_loaded.pinned = true;
	g_loaded.ring_bytes = ring_bytes;
	g_loaded.rb = ring_buffer__new(g_loaded.pin.events_fd, collect, &g_out, nullptr);
	if (!g_loaded.rb) {
		unload();
		return false;
	}
	g_pin_state = "reused " + dir;
	return true;
}

/* Loads the skeleton with a ring buffer of ring_bytes (or opens its pinned set); "" or an error. */
std::string load(size_t ring_bytes)
{
	uring_iter_bpf *skel;
	std::string dir, why;
	size_t elf_size;
	const void *elf;
	int err;

	libbpf_set_print(libbpf_log);
	g_libbpf_last.clear();
	skel = uring_iter_bpf__open();
	if (!skel)
		return unavailable("open", errno);
	elf = uring_iter_bpf__elf_bytes(&elf_size);
	/* an enlarged ring buffer (a huge capture) is not kept pinned: it would hold its memory until reboot */
	if (ring_bytes == kInitialRingBytes)
		dir = pin_dir(elf, elf_size, ring_bytes, &why);
	else
		why = "off (enlarged ring buffer)";
	if (!dir.empty() && use_pinned(dir, skel, ring_bytes, &why))
		return "";
	err = bpf_map__set_max_entries(skel->maps.events, ring_bytes);
	if (!err)
		err = load_without_signals(skel);
	if (err) {
		uring_iter_bpf__destroy(skel);
		return unavailable("load", -err);
	}
	g_loaded.skel = skel;
	g_loaded.bss = skel->bss;
	g_loaded.ring_bytes = ring_bytes;
	g_loaded.rb = ring_buffer__new(bpf_map__fd(skel->maps.events), collect, &g_out, nullptr);
	if (!g_loaded.rb) {
		err = errno;
		unload();
		return unavailable("ring buffer", err);
	}
	if (dir.empty()) {
		g_pin_state = "loaded, not pinned: " + why;
	} else {
		std::string refused = why;	/* a set that was there but not as it must be: replaced */

		why = pin_create(dir, skel->obj, !refused.empty());
		g_pin_state = why.empty() ? "loaded and pinned as " + dir : "loaded, not pinned: " + why;
		if (!refused.empty())
			g_pin_state += " (the set there was refused: " + refused + ")";
	}
	return "";
}

int prog_fd(bpf_program *prog)
{
	if (!g_loaded.pinned)
		return bpf_program__fd(prog);
	auto it = g_loaded.pin.progs.find(bpf_program__name(prog));
	return it == g_loaded.pin.progs.end() ? -1 : it->second;
}

/* Runs one iterator program to EOF; "" or an error. */
std::string run_one(bpf_program *prog, uint32_t tgid)
{
	union bpf_iter_link_info linfo;
	char buf[4096];
	int fd, link;
	ssize_t n;

	DECLARE_LIBBPF_OPTS(bpf_link_create_opts, opts);
	memset(&linfo, 0, sizeof(linfo));
	if (tgid) {
		linfo.task.pid = tgid;
		opts.iter_info = &linfo;
		opts.iter_info_len = sizeof(linfo);
	}
	link = bpf_link_create(prog_fd(prog), 0, BPF_TRACE_ITER, &opts);
	if (link < 0)
		return std::string("BPF iterator attach ") + bpf_program__name(prog) + ": " +
		       strerror(errno);
	fd = bpf_iter_create(link);
	if (fd < 0) {
		int err = errno;
		close(link);
		return std::string("BPF iterator create ") + bpf_program__name(prog) + ": " +
		       strerror(err);
	}
	/* The programs write to the ring buffer, not the seq_file: read to EOF. */
	do {
		n = read(fd, buf, sizeof(buf));
		if (n > 0)
			ring_buffer__consume(g_loaded.rb);
	} while (n > 0 || (n < 0 && errno == EINTR));
	int err = n < 0 ? errno : 0;
	close(fd);
	close(link);
	ring_buffer__consume(g_loaded.rb);
	if (err)
		return std::string("BPF iterator read ") + bpf_program__name(prog) + ": " +
		       strerror(err);
	return "";
}

std::string run_progs(uint32_t tgid)
{
	bpf_program *progs[] = {
		g_loaded.skel->progs.uring_files,	/* fds first: rings found via fds */
		g_loaded.skel->progs.uring_tasks,
		g_loaded.skel->progs.uring_vmas,
	};

	g_loaded.bss->target_tgid = tgid;
	g_loaded.bss->run_gen++;
	g_loaded.bss->dropped = 0;
	for (bpf_program *p : progs) {
		std::string err = run_one(p, tgid);
		if (!err.empty())
			return err;
	}
	return "";
}

/*
 * A pinned set is shared by every process using it: one run at a time
 * (flock on its directory), starting from an empty ring buffer (what a
 * killed run left is dropped) and leaving an empty "seen" map.
 */
std::string run_all(uint32_t tgid)
{
	std::string err;

	if (!g_loaded.pinned)
		return run_progs(tgid);
	while (flock(g_loaded.pin.dir_fd, LOCK_EX))
		if (errno != EINTR)
			return std::string("BPF lock: ") + strerror(errno);
	ring_buffer__consume(g_loaded.rb);
	g_out.clear();
	err = run_progs(tgid);
	pin_clear_map(g_loaded.pin.seen_fd);
	flock(g_loaded.pin.dir_fd, LOCK_UN);
	return err;
}

Napi::Value RunIter(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint32_t tgid = arg_u32(info, 0, "targetTgid");
	size_t ring_bytes = g_loaded.skel ? g_loaded.ring_bytes : kInitialRingBytes;

	for (;;) {
		g_out.clear();
		if (!g_loaded.skel) {
			std::string err = load(ring_bytes);
			if (!err.empty())
				throw Napi::Error::New(env, err);
		}
		std::string err = run_all(tgid);
		if (!err.empty())
			throw Napi::Error::New(env, err);
		if (g_loaded.bss->dropped == 0)
			break;
		if (ring_bytes >= kMaxRingBytes)
			throw Napi::Error::New(env, "BPF capture too large: more than " +
					       std::to_string(kMaxRingBytes >> 20) +
					       " MiB of records");
		ring_bytes *= 4;
		unload();
	}
	Napi::Buffer<uint8_t> result = Napi::Buffer<uint8_t>::Copy(env, g_out.data(), g_out.size());
	g_out.clear();
	g_out.shrink_to_fit();
	return result;
}

/* The kernel's REQ_F bit numbers the capture needs, by name, or null when its BTF lacks one. */
Napi::Value ReqFlagBits(const Napi::CallbackInfo &info)
{
	__u32 v[kReqBits];

	if (!resolve_req_bits(v))
		return info.Env().Null();
	Napi::Object bits = Napi::Object::New(info.Env());
	for (size_t b = 0; b < kReqBits; b++)
		bits.Set(kReqBitNames[b], v[b]);
	return bits;
}

/* How the programs in use came to be: loaded (and pinned, or why not), or reused from bpffs. */
Napi::Value BpfPinState(const Napi::CallbackInfo &info)
{
	return Napi::String::New(info.Env(), g_pin_state);
}

} // namespace

void init_bpf_iter(Napi::Env env, Napi::Object exports)
{
	exports.Set("runIter", Napi::Function::New(env, RunIter, "runIter"));
	exports.Set("bpfPinState", Napi::Function::New(env, BpfPinState, "bpfPinState"));
	exports.Set("reqFlagBits", Napi::Function::New(env, ReqFlagBits, "reqFlagBits"));
}

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
#include <string>
#include <sys/file.h>
#include <sys/mman.h>
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

/* REQ_F_<name>_BIT of every kReqBitNames entry, from the kernel's BTF; false unless all were found. */
bool resolve_req_bits(__u32 out[kReqBits])
{
	btf *vmlinux = btf__load_vmlinux_btf();
	std::vector<bool> seen(kReqBits);
	size_t found = 0;

	for (__u32 id = 1; vmlinux && id < btf__type_cnt(vmlinux) && found < kReqBits; id++) {
		const btf_type *t = btf__type_by_id(vmlinux, id);

		if (!btf_is_enum(t))
			continue;
		const struct btf_enum *e = btf_enum(t);
		for (__u16 i = 0; i < btf_vlen(t); i++) {
			const char *name = btf__name_by_offset(vmlinux, e[i].name_off);

			if (!name || strncmp(name, "REQ_F_", 6) || e[i].val < 0 || e[i].val >= 64)
				continue;
			for (size_t b = 0; b < kReqBits; b++)
				if (!seen[b] && name + 6 == std::string(kReqBitNames[b]) + "_BIT") {
					out[b] = e[i].val;
					seen[b] = true;
					found++;
				}
		}
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

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
 */
#include "errors.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <cstdarg>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "uring_iter.skel.h"

namespace {

constexpr size_t kInitialRingBytes = 16u << 20;
constexpr size_t kMaxRingBytes = 1u << 30;

struct Loaded {
	uring_iter_bpf *skel = nullptr;
	ring_buffer *rb = nullptr;
	size_t ring_bytes = 0;
};

Loaded g_loaded;
std::string g_libbpf_last;	/* last libbpf warning, for error messages */

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

/* Loads the skeleton with a ring buffer of ring_bytes; "" or an error. */
std::string load(size_t ring_bytes, std::vector<uint8_t> *out)
{
	uring_iter_bpf *skel;
	int err;

	libbpf_set_print(libbpf_log);
	g_libbpf_last.clear();
	skel = uring_iter_bpf__open();
	if (!skel)
		return unavailable("open", errno);
	err = bpf_map__set_max_entries(skel->maps.events, ring_bytes);
	if (!err)
		err = load_without_signals(skel);
	if (err) {
		uring_iter_bpf__destroy(skel);
		return unavailable("load", -err);
	}
	g_loaded.skel = skel;
	g_loaded.ring_bytes = ring_bytes;
	g_loaded.rb = ring_buffer__new(bpf_map__fd(skel->maps.events), collect, out, nullptr);
	if (!g_loaded.rb) {
		err = errno;
		unload();
		return unavailable("ring buffer", err);
	}
	return "";
}

/* Runs one iterator program to EOF; "" or an error. */
std::string run_one(bpf_program *prog, uint32_t tgid)
{
	union bpf_iter_link_info linfo;
	char buf[4096];
	bpf_link *link;
	ssize_t n;
	int fd;

	DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	memset(&linfo, 0, sizeof(linfo));
	if (tgid) {
		linfo.task.pid = tgid;
		opts.link_info = &linfo;
		opts.link_info_len = sizeof(linfo);
	}
	link = bpf_program__attach_iter(prog, &opts);
	if (!link)
		return std::string("BPF iterator attach ") + bpf_program__name(prog) + ": " +
		       strerror(errno);
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		int err = errno;
		bpf_link__destroy(link);
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
	bpf_link__destroy(link);
	ring_buffer__consume(g_loaded.rb);
	if (err)
		return std::string("BPF iterator read ") + bpf_program__name(prog) + ": " +
		       strerror(err);
	return "";
}

std::string run_all(uint32_t tgid)
{
	bpf_program *progs[] = {
		g_loaded.skel->progs.uring_files,	/* fds first: rings found via fds */
		g_loaded.skel->progs.uring_tasks,
		g_loaded.skel->progs.uring_vmas,
	};

	g_loaded.skel->bss->target_tgid = tgid;
	g_loaded.skel->bss->run_gen++;
	g_loaded.skel->bss->dropped = 0;
	for (bpf_program *p : progs) {
		std::string err = run_one(p, tgid);
		if (!err.empty())
			return err;
	}
	return "";
}

Napi::Value RunIter(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint32_t tgid = arg_u32(info, 0, "targetTgid");
	static std::vector<uint8_t> out;
	size_t ring_bytes = g_loaded.skel ? g_loaded.ring_bytes : kInitialRingBytes;

	for (;;) {
		out.clear();
		if (!g_loaded.skel) {
			std::string err = load(ring_bytes, &out);
			if (!err.empty())
				throw Napi::Error::New(env, err);
		}
		std::string err = run_all(tgid);
		if (!err.empty())
			throw Napi::Error::New(env, err);
		if (g_loaded.skel->bss->dropped == 0)
			break;
		if (ring_bytes >= kMaxRingBytes)
			throw Napi::Error::New(env, "BPF capture too large: more than " +
					       std::to_string(kMaxRingBytes >> 20) +
					       " MiB of records");
		ring_bytes *= 4;
		unload();
	}
	Napi::Buffer<uint8_t> result = Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
	out.clear();
	out.shrink_to_fit();
	return result;
}

} // namespace

void init_bpf_iter(Napi::Env env, Napi::Object exports)
{
	exports.Set("runIter", Napi::Function::New(env, RunIter, "runIter"));
}

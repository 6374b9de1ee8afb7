// SPDX-License-Identifier: GPL-2.0
/*
 * Thin wrappers around the system calls the dump and restore paths need
 * and Node does not offer: pidfds, cross-process memory access, reading a
 * ring's mapping, and the raw io_uring calls.  Each throws an Error naming
 * the call and the errno on failure.
 */
#include "errors.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <linux/io_uring.h>
#include <sha2.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#define SYS_io_uring_enter 426
#define SYS_io_uring_register 427
#endif

namespace {

/* struct io_uring_params is 120 bytes in every ABI version so far. */
constexpr size_t kIoUringParamsSize = 120;

Napi::Value PidfdOpen(const Napi::CallbackInfo &info)
{
	int32_t pid = arg_i32(info, 0, "pid");
	long fd = syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		throw errno_error(info.Env(), "pidfd_open", errno);
	return Napi::Number::New(info.Env(), (double)fd);
}

Napi::Value PidfdGetfd(const Napi::CallbackInfo &info)
{
	int32_t pidfd = arg_i32(info, 0, "pidfd");
	int32_t targetfd = arg_i32(info, 1, "targetfd");
	long fd = syscall(SYS_pidfd_getfd, pidfd, targetfd, 0);

	if (fd < 0)
		throw errno_error(info.Env(), "pidfd_getfd", errno);
	return Napi::Number::New(info.Env(), (double)fd);
}

Napi::Value Close(const Napi::CallbackInfo &info)
{
	int32_t fd = arg_i32(info, 0, "fd");

	if (close(fd) < 0)
		throw errno_error(info.Env(), "close", errno);
	return info.Env().Undefined();
}

/* Returns the bytes read; shorter than len when the range ends in a hole. */
Napi::Value ProcessVmReadv(const Napi::CallbackInfo &info)
{
	int32_t pid = arg_i32(info, 0, "pid");
	uint64_t addr = arg_u64(info, 1, "addr");
	uint32_t len = arg_u32(info, 2, "len");
	Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(info.Env(), len);
	struct iovec local = { buf.Data(), len };
	struct iovec remote = { (void *)addr, len };
	ssize_t n = len ? process_vm_readv(pid, &local, 1, &remote, 1, 0) : 0;

	if (n < 0)
		throw errno_error(info.Env(), "process_vm_readv", errno);
	if ((size_t)n == len)
		return buf;
	return Napi::Buffer<uint8_t>::Copy(info.Env(), buf.Data(), n);
}

Napi::Value ProcessVmWritev(const Napi::CallbackInfo &info)
{
	int32_t pid = arg_i32(info, 0, "pid");
	uint64_t addr = arg_u64(info, 1, "addr");

	if (info.Length() < 3 || !info[2].IsBuffer())
		throw Napi::TypeError::New(info.Env(), "argument buf must be a Buffer");
	Napi::Buffer<uint8_t> buf = info[2].As<Napi::Buffer<uint8_t>>();
	struct iovec local = { buf.Data(), buf.Length() };
	struct iovec remote = { (void *)addr, buf.Length() };
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		throw errno_error(info.Env(), "process_vm_writev", errno);
	return Napi::Number::New(info.Env(), (double)n);
}

/*
 * OpenSSL's one-shot digest, when the Node running this addon exports it
 * (Node's own builds do, for addons; a Node linked to the system's
 * libcrypto has it loaded): it uses the CPU's SHA instructions, about
 * 1.1 GB/s here against libmd's 125 MB/s, and a dump hashes every image
 * two or three times while the tree is frozen.  Looked up at run time, so
 * a Node without it loads this addon all the same and libmd is used.
 */
typedef const void *(*evp_md_fn)(void);
typedef int (*evp_digest_fn)(const void *data, size_t count, unsigned char *md, unsigned int *size,
			     const void *type, void *impl);

struct OpensslSha256 {
	evp_digest_fn digest = nullptr;
	const void *md = nullptr;

	OpensslSha256()
	{
		auto sha256 = reinterpret_cast<evp_md_fn>(dlsym(RTLD_DEFAULT, "EVP_sha256"));

		digest = reinterpret_cast<evp_digest_fn>(dlsym(RTLD_DEFAULT, "EVP_Digest"));
		md = sha256 ? sha256() : nullptr;
	}
};

bool openssl_sha256(const uint8_t *data, size_t len, uint8_t out[SHA256_DIGEST_LENGTH])
{
	static const OpensslSha256 ossl;
	unsigned int n = 0;

	return ossl.digest && ossl.md && ossl.digest(data, len, out, &n, ossl.md, nullptr) == 1 &&
	       n == SHA256_DIGEST_LENGTH;
}

/*
 * SHA-256 of a Buffer (src/util/sha256.ts): images and saved plans carry
 * one.  Node's crypto module costs the dump helper 5-7 ms of start-up to
 * load, for a few digests; OpenSSL's function is called directly, libmd
 * (which the plugin links too) when it is not there.
 */
Napi::Value Sha256(const Napi::CallbackInfo &info)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA2_CTX ctx;

	if (info.Length() < 1 || !info[0].IsTypedArray())
		throw Napi::TypeError::New(info.Env(), "argument data must be a Buffer or Uint8Array");
	Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
	if (!openssl_sha256(data.Data(), data.ByteLength(), digest)) {
		SHA256Init(&ctx);
		SHA256Update(&ctx, data.Data(), data.ByteLength());
		SHA256Final(digest, &ctx);
	}
	return Napi::Buffer<uint8_t>::Copy(info.Env(), digest, sizeof(digest));
}

/* Maps len bytes of a ring fd at offset read-only, copies them, unmaps. */
Napi::Value MmapRead(const Napi::CallbackInfo &info)
{
	int32_t fd = arg_i32(info, 0, "fd");
	uint64_t offset = arg_u64(info, 1, "offset");
	uint32_t len = arg_u32(info, 2, "len");
	void *p;

	if (!len)
		return Napi::Buffer<uint8_t>::New(info.Env(), 0);
	p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED)
		throw errno_error(info.Env(), "mmap", errno);
	Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(info.Env(), (uint8_t *)p, len);
	munmap(p, len);
	return out;
}

/* ioUringSetup(entries, params): params is a 120-byte Buffer, in and out. */
Napi::Value IoUringSetup(const Napi::CallbackInfo &info)
{
	uint32_t entries = arg_u32(info, 0, "entries");

	if (info.Length() < 2 || !info[1].IsBuffer() ||
	    info[1].As<Napi::Buffer<uint8_t>>().Length() < kIoUringParamsSize)
		throw Napi::TypeError::New(info.Env(),
					   "argument params must be a Buffer of at least 120 bytes");
	Napi::Buffer<uint8_t> params = info[1].As<Napi::Buffer<uint8_t>>();
	long fd = syscall(SYS_io_uring_setup, entries, params.Data());

	if (fd < 0)
		throw errno_error(info.Env(), "io_uring_setup", errno);
	return Napi::Number::New(info.Env(), (double)fd);
}

/*
 * nopInjectProbe(): whether this kernel honours IORING_NOP_INJECT_RESULT
 * (a NOP whose CQE carries res = sqe->len).  Kernels before it ignore the
 * NOP's flags and post res 0, so only running one tells: a 1-entry ring,
 * one NOP, its CQE read back.  The restore posts CQEs with extras this way.
 */
Napi::Value NopInjectProbe(const Napi::CallbackInfo &info)
{
	constexpr uint32_t kInject = 1u << 0;	/* IORING_NOP_INJECT_RESULT */
	constexpr uint32_t kMagic = 0x5a17;
	struct io_uring_params p;
	size_t ring_len, sqes_len;
	bool ok = false;
	void *ring, *sqes;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = (int)syscall(SYS_io_uring_setup, 1, &p);
	if (fd < 0)
		return Napi::Boolean::New(info.Env(), false);
	ring_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (ring_len < p.sq_off.array + p.sq_entries * 4)
		ring_len = p.sq_off.array + p.sq_entries * 4;
	sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	ring = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
		    IORING_OFF_SQ_RING);
	sqes = mmap(nullptr, sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
		    IORING_OFF_SQES);
	if (ring != MAP_FAILED && sqes != MAP_FAILED) {
		auto *sqe = (struct io_uring_sqe *)sqes;
		auto *base = (uint8_t *)ring;

		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_NOP;
		sqe->len = kMagic;
		sqe->rw_flags = (int)kInject;
		*(uint32_t *)(base + p.sq_off.array) = 0;
		__atomic_store_n((uint32_t *)(base + p.sq_off.tail), 1, __ATOMIC_RELEASE);
		if (syscall(SYS_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, nullptr, 0) == 1 &&
		    __atomic_load_n((uint32_t *)(base + p.cq_off.tail), __ATOMIC_ACQUIRE) == 1)
			ok = ((struct io_uring_cqe *)(base + p.cq_off.cqes))->res == (int32_t)kMagic;
	}
	if (ring != MAP_FAILED)
		munmap(ring, ring_len);
	if (sqes != MAP_FAILED)
		munmap(sqes, sqes_len);
	close(fd);
	return Napi::Boolean::New(info.Env(), ok);
}

/* ioUringRegister(fd, op, arg: Buffer | null, nr) */
Napi::Value IoUringRegister(const Napi::CallbackInfo &info)
{
	int32_t fd = arg_i32(info, 0, "fd");
	uint32_t op = arg_u32(info, 1, "op");
	uint32_t nr = arg_u32(info, 3, "nr");
	void *arg = nullptr;

	if (info.Length() > 2 && info[2].IsBuffer())
		arg = info[2].As<Napi::Buffer<uint8_t>>().Data();
	else if (info.Length() > 2 && info[2].IsBigInt())
		arg = (void *)(uintptr_t)arg_u64(info, 2, "arg");	/* a raw address: feature probes */
	else if (info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined())
		throw Napi::TypeError::New(info.Env(), "argument arg must be a Buffer, a bigint address or null");
	long ret = syscall(SYS_io_uring_register, fd, op, arg, nr);

	if (ret < 0)
		throw errno_error(info.Env(), "io_uring_register(" + std::to_string(op) + ")", errno);
	return Napi::Number::New(info.Env(), (double)ret);
}

Napi::Value IoUringEnter(const Napi::CallbackInfo &info)
{
	int32_t fd = arg_i32(info, 0, "fd");
	uint32_t to_submit = arg_u32(info, 1, "toSubmit");
	uint32_t min_complete = arg_u32(info, 2, "minComplete");
	uint32_t flags = arg_u32(info, 3, "flags");
	long ret = syscall(SYS_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0);

	if (ret < 0)
		throw errno_error(info.Env(), "io_uring_enter", errno);
	return Napi::Number::New(info.Env(), (double)ret);
}

} // namespace

void init_syscalls(Napi::Env env, Napi::Object exports)
{
	exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
	exports.Set("pidfdGetfd", Napi::Function::New(env, PidfdGetfd, "pidfdGetfd"));
	exports.Set("close", Napi::Function::New(env, Close, "close"));
	exports.Set("processVmReadv", Napi::Function::New(env, ProcessVmReadv, "processVmReadv"));
	exports.Set("processVmWritev", Napi::Function::New(env, ProcessVmWritev, "processVmWritev"));
	exports.Set("mmapRead", Napi::Function::New(env, MmapRead, "mmapRead"));
	exports.Set("ioUringSetup", Napi::Function::New(env, IoUringSetup, "ioUringSetup"));
	exports.Set("ioUringRegister", Napi::Function::New(env, IoUringRegister, "ioUringRegister"));
	exports.Set("ioUringEnter", Napi::Function::New(env, IoUringEnter, "ioUringEnter"));
	exports.Set("nopInjectProbe", Napi::Function::New(env, NopInjectProbe, "nopInjectProbe"));
	exports.Set("sha256", Napi::Function::New(env, Sha256, "sha256"));
}

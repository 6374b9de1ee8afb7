// SPDX-License-Identifier: GPL-2.0
/* criu_uring.node: the native half of criu-uring (see src/native.ts). */
#include <napi.h>

void init_bpf_iter(Napi::Env env, Napi::Object exports);
void init_syscalls(Napi::Env env, Napi::Object exports);

static Napi::Object init(Napi::Env env, Napi::Object exports)
{
	init_bpf_iter(env, exports);
	init_syscalls(env, exports);
	return exports;
}

NODE_API_MODULE(criu_uring, init)

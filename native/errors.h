/* SPDX-License-Identifier: GPL-2.0 */
/* One-line JavaScript errors for failed system calls. */
#ifndef CRIU_URING_ERRORS_H
#define CRIU_URING_ERRORS_H

#include <napi.h>
#include <string>

/* "<what>: <ERRNO_NAME> (<strerror text>)", with err.code = ERRNO_NAME. */
Napi::Error errno_error(Napi::Env env, const std::string &what, int err);

/* Throws a JavaScript TypeError unless info[i] is a number. */
uint32_t arg_u32(const Napi::CallbackInfo &info, size_t i, const char *name);
int32_t arg_i32(const Napi::CallbackInfo &info, size_t i, const char *name);
uint64_t arg_u64(const Napi::CallbackInfo &info, size_t i, const char *name);

#endif

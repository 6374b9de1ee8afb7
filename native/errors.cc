// SPDX-License-Identifier: GPL-2.0
#include "errors.h"

#include <cstring>

Napi::Error errno_error(Napi::Env env, const std::string &what, int err)
{
	const char *name = strerrorname_np(err);
	std::string code = name ? name : "E" + std::to_string(err);
	Napi::Error e = Napi::Error::New(env, what + ": " + code + " (" + strerror(err) + ")");

	e.Set("code", Napi::String::New(env, code));
	e.Set("errno", Napi::Number::New(env, err));
	e.Set("syscall", Napi::String::New(env, what));
	return e;
}

static void need(const Napi::CallbackInfo &info, size_t i, const char *name, bool ok,
		 const char *what)
{
	if (!ok)
		throw Napi::TypeError::New(info.Env(), std::string("argument ") + name +
					   " must be " + what);
	(void)i;
}

uint32_t arg_u32(const Napi::CallbackInfo &info, size_t i, const char *name)
{
	need(info, i, name, info.Length() > i && info[i].IsNumber(), "a number");
	return info[i].As<Napi::Number>().Uint32Value();
}

int32_t arg_i32(const Napi::CallbackInfo &info, size_t i, const char *name)
{
	need(info, i, name, info.Length() > i && info[i].IsNumber(), "a number");
	return info[i].As<Napi::Number>().Int32Value();
}

/* Accepts a bigint (any 64-bit value) or a non-negative safe integer. */
uint64_t arg_u64(const Napi::CallbackInfo &info, size_t i, const char *name)
{
	bool lossless = true;

	if (info.Length() > i && info[i].IsBigInt())
		return info[i].As<Napi::BigInt>().Uint64Value(&lossless);
	need(info, i, name, info.Length() > i && info[i].IsNumber(), "a bigint or a number");
	return (uint64_t)info[i].As<Napi::Number>().Int64Value();
}

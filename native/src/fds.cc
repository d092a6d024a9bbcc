// Synchronous fd helpers: netnsOpen(path) -> fd, fdDup(fd) -> fd, fdClose(fd).
// Whoever receives an fd from here owns it and must fdClose it exactly once.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsm/js_error.h"
#include "nsm/netns.h"

namespace nsm {

Napi::Value NetnsOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "netnsOpen(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  SysError err;
  UniqueFd fd = OpenNetns(path, &err);
  if (err) {
    ToJsError(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd.release());
}

Napi::Value FdDup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fdDup(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) {
    ToJsError(env, SysError{errno, "fcntl(F_DUPFD_CLOEXEC)", "fd " + std::to_string(fd), {}})
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, d);
}

Napi::Value FdClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fdClose(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (::close(fd) != 0 && errno != EINTR) {
    ToJsError(env, SysError{errno, "close", "fd " + std::to_string(fd), {}}).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// fdInode(fd) -> "dev:ino" of what the fd refers to (to compare namespaces).
Napi::Value FdInode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fdInode(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ToJsError(env, SysError{errno, "fstat", "fd " + std::to_string(fd), {}}).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::String::New(env, std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
}

}  // namespace nsm

#include "nsm/js_error.h"

namespace nsm {

Napi::Error ToJsError(Napi::Env env, const SysError& e) {
  Napi::Error err = Napi::Error::New(env, e.Message());
  Napi::Object o = err.Value();
  o.Set("errno", Napi::Number::New(env, e.err));
  o.Set("code", Napi::String::New(env, ErrnoName(e.err)));
  o.Set("syscall", Napi::String::New(env, e.syscall));
  if (!e.path.empty()) o.Set("path", Napi::String::New(env, e.path));
  if (!e.detail.empty()) o.Set("detail", Napi::String::New(env, e.detail));
  return err;
}

}  // namespace nsm

// Turns a SysError into a JS Error carrying errno, code, syscall and path (JS thread only).
#pragma once
#include <napi.h>

#include "nsm/sys_error.h"

namespace nsm {

Napi::Error ToJsError(Napi::Env env, const SysError& e);

}  // namespace nsm

#include "nsm/sys_error.h"

#include <string.h>

namespace nsm {

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);  // glibc >= 2.32
  return name ? std::string(name) : "E" + std::to_string(err);
}

std::string SysError::Message() const {
  std::string m = syscall;
  if (!path.empty()) m += " " + path;
  m += ": ";
  m += strerror(err);
  if (!detail.empty()) m += " (" + detail + ")";
  return m;
}

}  // namespace nsm

// SysError: a failed syscall as plain data (errno, the call, the object it named), made on a
// worker thread and turned into a JS error (errno, code, syscall, path) on the JS thread.
#pragma once
#include <string>

namespace nsm {

struct SysError {
  int err = 0;          // errno value; 0 means "no error"
  std::string syscall;  // "open", "setns", "sendmsg", ...
  std::string path;     // the object named by the call (file path, netns, link), may be empty
  std::string detail;   // kernel extended-ack text, if any

  explicit operator bool() const { return err != 0; }
  std::string Message() const;  // "open /run/netns/x: No such file or directory"
};

// "ENOENT" for ENOENT; "E<number>" for values glibc has no name for.
std::string ErrnoName(int err);

}  // namespace nsm

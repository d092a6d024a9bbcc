// Network namespace helpers: open a namespace file, and a scoped guard that enters a namespace
// on the current (worker) thread and always puts the thread back where it was.
#pragma once
#include <functional>
#include <string>

#include "nsm/sys_error.h"
#include "nsm/unique_fd.h"

namespace nsm {

// open(path, O_RDONLY | O_CLOEXEC); on failure fills *err (syscall "open", path).
UniqueFd OpenNetns(const std::string& path, SysError* err);

// Enters the netns `target` (an fd the caller keeps owning) on this thread for the guard's
// lifetime. The destructor restores the thread's original netns; if that is impossible the
// process aborts, because a pool thread left in a foreign netns would corrupt later work.
class NetnsGuard {
 public:
  explicit NetnsGuard(int target);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  const SysError& error() const { return err_; }
  bool ok() const { return !err_; }

 private:
  UniqueFd origin_;
  bool entered_ = false;
  SysError err_;
};

// Runs `fn` on a short-lived thread of its own that enters the netns `nsFd` first (or here, when
// nsFd < 0), and waits for it. The thread ends in that netns, so nothing needs restoring: the
// JS main thread never changes its netns. Returns the setns or thread-creation error, if any.
SysError RunInNetns(int nsFd, const std::function<void()>& fn);

// A NETLINK_ROUTE socket living in the netns `nsFd` (created inside it; the thread is back in
// its own netns when this returns). Extended acks are enabled when the kernel supports them.
UniqueFd OpenRtnetlinkIn(int nsFd, SysError* err);

}  // namespace nsm

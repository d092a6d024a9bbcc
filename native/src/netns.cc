#include "nsm/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <system_error>
#include <thread>

namespace nsm {

UniqueFd OpenNetns(const std::string& path, SysError* err) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    *err = SysError{errno, "open", path, {}};
    return fd;
  }
  // A /run/netns file whose bind mount is gone (netns deleted) is a plain empty file.
  int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    *err = SysError{EINVAL, "NS_GET_NSTYPE", path, "not a network namespace"};
    fd.reset();
  }
  return fd;
}

NetnsGuard::NetnsGuard(int target) {
  origin_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!origin_) {
    err_ = SysError{errno, "open", "/proc/thread-self/ns/net", {}};
    return;
  }
  if (::setns(target, CLONE_NEWNET) != 0) {
    err_ = SysError{errno, "setns", "fd " + std::to_string(target), {}};
    return;
  }
  entered_ = true;
}

NetnsGuard::~NetnsGuard() {
  if (!entered_) return;
  if (::setns(origin_.get(), CLONE_NEWNET) != 0) {
    // A libuv pool thread stuck in a foreign netns would silently run later work there.
    fprintf(stderr, "nsm_native: cannot restore thread netns (errno %d); aborting\n", errno);
    abort();
  }
}

SysError RunInNetns(int nsFd, const std::function<void()>& fn) {
  if (nsFd < 0) {
    fn();
    return {};
  }
  SysError err;
  try {
    std::thread t([&] {
      if (::setns(nsFd, CLONE_NEWNET) != 0) {
        err = SysError{errno, "setns", "fd " + std::to_string(nsFd), {}};
        return;
      }
      try {
        fn();
      } catch (const std::exception& e) {  // must not escape a thread: that would abort node
        err = SysError{ENOMEM, "RunInNetns", e.what(), {}};
      }
    });
    t.join();
  } catch (const std::system_error& e) {
    err = SysError{e.code().value() ? e.code().value() : EAGAIN, "pthread_create", {}, {}};
  }
  return err;
}

UniqueFd OpenRtnetlinkIn(int nsFd, SysError* err) {
  UniqueFd sock;
  {
    NetnsGuard in(nsFd);  // enter only to create the socket; it stays bound to that netns
    if (!in.ok()) {
      *err = in.error();
      return sock;
    }
    sock.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!sock) {
      *err = SysError{errno, "socket", "NETLINK_ROUTE", {}};
      return sock;
    }
  }
  int one = 1;
  // Best effort: extended acks give the kernel's reason ("Invalid MTU") next to the errno.
  (void)::setsockopt(sock.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)::setsockopt(sock.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  int rcvbuf = 1 << 20;
  (void)::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    *err = SysError{errno, "bind", "NETLINK_ROUTE", {}};
    sock.reset();
  }
  return sock;
}

}  // namespace nsm

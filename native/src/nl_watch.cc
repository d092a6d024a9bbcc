// nlWatchOpen(nsFd, groups) -> fd: a NETLINK_ROUTE socket made inside the netns `nsFd` (an fd the
// caller keeps owning) and joined to the rtnetlink multicast groups `groups` (RTNLGRP_* numbers),
// so it receives that namespace's change notifications. Made on a short-lived thread of its own
// (RunInNetns): the JS thread never changes its netns. The caller owns the returned fd
// (O_CLOEXEC; hand it to fdsockAdopt to read it without blocking).
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <napi.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "nsm/js_error.h"
#include "nsm/netns.h"

namespace nsm {

Napi::Value NlWatchOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "nlWatchOpen(nsFd: number, groups: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<int> groups;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr[i];
    int g = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : 0;
    if (g <= 0 || g > __RTNLGRP_MAX) {
      Napi::RangeError::New(env,
                            "nlWatchOpen: group " + v.ToString().Utf8Value() + " is not an RTNLGRP_* number")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    groups.push_back(g);
  }
  UniqueFd sock;
  SysError err;
  SysError ran = RunInNetns(nsFd, [&] {
    sock.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (!sock) err = SysError{errno, "socket", "NETLINK_ROUTE", {}};
  });
  if (ran) err = ran;
  if (!err) {
    // room for a burst (a forwarder re-plumbing many links); an overrun reads as ENOBUFS
    int rcvbuf = 1 << 20;
    (void)::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      err = SysError{errno, "bind", "NETLINK_ROUTE", {}};
  }
  for (size_t i = 0; !err && i < groups.size(); ++i)
    if (::setsockopt(sock.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i], sizeof groups[i]) != 0)
      err = SysError{errno, "setsockopt(NETLINK_ADD_MEMBERSHIP)", "group " + std::to_string(groups[i]), {}};
  if (err) {
    ToJsError(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, sock.release());
}

}  // namespace nsm

// linkList(netns: string | number): Promise<LinkInfo[]> — RTM_GETLINK dump inside a netns given
// by path (opened here, O_CLOEXEC) or by an fd the caller keeps owning.
#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <napi.h>
#include <stdio.h>
#include <string.h>

#include <optional>
#include <string>
#include <vector>

#include "nsm/js_error.h"
#include "nsm/netlink.h"
#include "nsm/netns.h"

namespace nsm {
namespace {

struct LinkInfo {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;
  uint32_t flags = 0;
  std::string mac;
  std::string kind;
};

std::string FormatMac(const uint8_t* p, size_t n) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    snprintf(b, sizeof(b), i ? ":%02x" : "%02x", p[i]);
    s += b;
  }
  return s;
}

void ParseLinks(const std::vector<uint8_t>& dump, std::vector<LinkInfo>* out) {
  size_t left = dump.size();
  for (auto* h = reinterpret_cast<const nlmsghdr*>(dump.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    if (h->nlmsg_type != RTM_NEWLINK) continue;
    auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    LinkInfo l;
    l.index = ifi->ifi_index;
    l.flags = ifi->ifi_flags;
    int alen = static_cast<int>(IFLA_PAYLOAD(h));
    for (auto* a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
      const auto* d = static_cast<const uint8_t*>(RTA_DATA(a));
      size_t dl = RTA_PAYLOAD(a);
      switch (a->rta_type) {
        case IFLA_IFNAME:
          l.name.assign(reinterpret_cast<const char*>(d), strnlen(reinterpret_cast<const char*>(d), dl));
          break;
        case IFLA_MTU:
          if (dl >= 4) memcpy(&l.mtu, d, 4);
          break;
        case IFLA_ADDRESS:
          l.mac = FormatMac(d, dl);
          break;
        case IFLA_LINKINFO: {
          int il = static_cast<int>(dl);
          for (auto* in = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(in, il); in = RTA_NEXT(in, il)) {
            if (in->rta_type == IFLA_INFO_KIND) {
              const char* k = static_cast<const char*>(RTA_DATA(in));
              l.kind.assign(k, strnlen(k, RTA_PAYLOAD(in)));
            }
          }
          break;
        }
        default:
          break;
      }
    }
    out->push_back(std::move(l));
  }
}

class LinkListWorker : public Napi::AsyncWorker {
 public:
  LinkListWorker(Napi::Env env, std::string path, int fd)
      : Napi::AsyncWorker(env, "nsm:linkList"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        fd_(fd) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {  // worker thread: syscalls only, no Napi::
    UniqueFd opened;
    int nsFd = fd_;
    if (!path_.empty()) {
      opened = OpenNetns(path_, &err_);
      if (err_) return Fail();
      nsFd = opened.get();
    }
    UniqueFd sock = OpenRtnetlinkIn(nsFd, &err_);
    if (err_) return Fail();
    struct {
      nlmsghdr h;
      ifinfomsg ifi;
    } req{};
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = RTM_GETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.ifi.ifi_family = AF_UNSPEC;
    NlReply reply;
    err_ = NlTransact(sock.get(), reinterpret_cast<uint8_t*>(&req), sizeof(req), 1, &reply);
    if (err_) return Fail();
    if (reply.kernelErr) {
      err_ = SysError{reply.kernelErr, "RTM_GETLINK", Where(), reply.extack};
      return Fail();
    }
    ParseLinks(reply.dump, &links_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto arr = Napi::Array::New(env, links_.size());
    for (uint32_t i = 0; i < links_.size(); ++i) {
      const LinkInfo& l = links_[i];
      auto o = Napi::Object::New(env);
      o.Set("index", l.index);
      o.Set("name", l.name);
      o.Set("mtu", l.mtu);
      o.Set("flags", l.flags);
      o.Set("up", (l.flags & IFF_UP) != 0);
      o.Set("mac", l.mac);
      if (!l.kind.empty()) o.Set("kind", l.kind);
      arr.Set(i, o);
    }
    deferred_.Resolve(arr);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(ToJsError(Env(), err_).Value()); }

 private:
  std::string Where() const { return path_.empty() ? "netns fd " + std::to_string(fd_) : path_; }
  void Fail() {
    if (err_.path.empty() || err_.syscall == "setns") err_.path = Where();
    SetError(err_.Message());
  }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  int fd_;
  SysError err_;
  std::vector<LinkInfo> links_;
};

}  // namespace

Napi::Value LinkList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsString() || info[0].IsNumber())) {
    Napi::TypeError::New(env, "linkList(netns: string | number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path;
  int fd = -1;
  if (info[0].IsString()) {
    path = info[0].As<Napi::String>().Utf8Value();
    if (path.empty()) {
      Napi::TypeError::New(env, "linkList: empty netns path").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  } else {
    fd = info[0].As<Napi::Number>().Int32Value();
  }
  auto* w = new LinkListWorker(env, std::move(path), fd);
  w->Queue();
  return w->Promise();
}

}  // namespace nsm

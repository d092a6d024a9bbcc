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
  void OnError(const Napi::Error& e) override {
    // An exception out of Execute() (node-addon-api turns it into SetError) has no errno.
    deferred_.Reject(err_ ? ToJsError(Env(), err_).Value() : e.Value());
  }

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

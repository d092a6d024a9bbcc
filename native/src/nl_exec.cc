// nlExec(nsFd, batch, fixups, opts): sends pre-built rtnetlink messages one at a time inside a
// netns on a worker thread and reports, per message, its error, its replies and its duration.
// No policy: messages are built in TS (src/datapath/netlink.ts). Local "messages" exist for
// what rtnetlink cannot do: creating a persistent tun/tap device (TUNSETIFF in the netns) and
// one ethtool value (SIOCETHTOOL on the step's socket, which lives in the target netns).
// opts.ownThread runs the batch on a thread of its own instead of libuv's pool: for messages
// that sleep in the kernel (a veth delete waits ~20 ms for RCU) and would otherwise hold one of
// the pool's few threads while Requests' netlink work and fs calls queue behind them.
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <napi.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nsm/js_error.h"
#include "nsm/netlink.h"
#include "nsm/netns.h"

namespace nsm {
namespace {

// Local message type: payload = struct NsmTapAdd. Must match NSM_TAP_ADD in src/datapath/netlink.ts.
constexpr uint16_t kNsmTapAdd = 0xF001;
struct NsmTapAdd {
  uint16_t flags;  // IFF_TAP or IFF_TUN, plus IFF_NO_PI / IFF_MULTI_QUEUE / IFF_VNET_HDR
  uint16_t pad;
  int32_t owner;  // uid or -1
  int32_t group;  // gid or -1
  char name[IFNAMSIZ];
};

// Local message type: payload = struct NsmEthtool, an ethtool_value set (e.g. ETHTOOL_STXCSUM)
// on a link. Must match NSM_ETHTOOL in src/datapath/netlink.ts.
constexpr uint16_t kNsmEthtool = 0xF002;
struct NsmEthtool {
  uint32_t cmd;
  uint32_t data;
  char name[IFNAMSIZ];
};

struct Fixup {
  enum Kind { kNsFd, kIfIndex, kTarget } kind;
  uint32_t msg;
  uint32_t offset;
  std::string arg;  // netns path or link name; for kTarget a path, or empty when `fd` is used
  int fd = -1;      // kTarget: netns fd owned by the caller
};

struct StepResult {
  SysError err;
  std::vector<uint8_t> reply;
  double ns = 0;
  bool ran = false;
};

double NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

class NlExecWorker : public Napi::AsyncWorker {
 public:
  NlExecWorker(Napi::Env env, int nsFd, std::vector<uint8_t> batch, std::vector<Fixup> fixups, bool keepGoing)
      : Napi::AsyncWorker(env, "nsm:nlExec"),
        deferred_(Napi::Promise::Deferred::New(env)),
        nsFd_(nsFd),
        batch_(std::move(batch)),
        fixups_(std::move(fixups)),
        keepGoing_(keepGoing) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // Splits the batch at nlmsg_len boundaries; fails on a malformed frame before sending anything.
  bool Split(std::string* why) {
    size_t off = 0;
    while (off < batch_.size()) {
      if (batch_.size() - off < sizeof(nlmsghdr)) {
        *why = "truncated header";
        return false;
      }
      nlmsghdr h;
      memcpy(&h, batch_.data() + off, sizeof(h));
      if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > batch_.size() - off) {
        *why = "bad nlmsg_len";
        return false;
      }
      starts_.push_back(off);
      off += NLMSG_ALIGN(h.nlmsg_len);
    }
    for (const Fixup& f : fixups_) {
      if (f.msg >= starts_.size()) {
        *why = "fixup for a missing message";
        return false;
      }
      nlmsghdr h;
      memcpy(&h, batch_.data() + starts_[f.msg], sizeof(h));
      if (f.kind != Fixup::kTarget && uint64_t{f.offset} + sizeof(int32_t) > h.nlmsg_len) {  // u64: no wrap
        *why = "fixup offset outside its message";
        return false;
      }
    }
    results_.resize(starts_.size());
    return true;
  }

  void Execute() override {  // worker thread: syscalls only
    sock_ = OpenRtnetlinkIn(nsFd_, &setupErr_);
    if (setupErr_) {
      if (setupErr_.syscall == "setns") setupErr_.path = "netns fd " + std::to_string(nsFd_);
      SetError(setupErr_.Message());
      return;
    }
    uint32_t seq = 1;
    for (size_t i = 0; i < starts_.size(); ++i) {
      StepResult& r = results_[i];
      r.ran = true;
      double t0 = NowNs();
      RunStep(i, seq++, &r);
      r.ns = NowNs() - t0;
      if (r.err && !keepGoing_) break;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto out = Napi::Object::New(env);
    auto errors = Napi::Array::New(env, results_.size());
    auto replies = Napi::Array::New(env, results_.size());
    auto times = Napi::Float64Array::New(env, results_.size());
    uint32_t done = 0;
    for (uint32_t i = 0; i < results_.size(); ++i) {
      const StepResult& r = results_[i];
      if (r.ran) done = i + 1;
      times[i] = r.ns;
      errors.Set(i, r.err ? ToJsError(env, r.err).Value() : env.Null());
      if (!r.reply.empty()) {
        auto b = Napi::Uint8Array::New(env, r.reply.size());
        memcpy(b.Data(), r.reply.data(), r.reply.size());
        replies.Set(i, b);
      } else {
        replies.Set(i, env.Null());
      }
    }
    out.Set("done", done);
    out.Set("errors", errors);
    out.Set("replies", replies);
    out.Set("timesNs", times);
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override {
    // An exception out of Execute() (node-addon-api turns it into SetError) has no errno.
    deferred_.Reject(setupErr_ ? ToJsError(Env(), setupErr_).Value() : e.Value());
  }

  // Runs Execute() on a new detached thread; the result is delivered on the JS thread through a
  // thread-safe function, which also keeps the event loop alive meanwhile. Takes ownership.
  void RunOnOwnThread() {
    Napi::Env env = Env();
    auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                              "nsm:nlExec:thread", 0, 1);
    NlExecWorker* self = this;
    try {
      std::thread([self, tsfn]() mutable {
        try {
          self->Execute();
        } catch (const std::exception& e) {  // must not escape a thread: that would abort node
          self->setupErr_ = SysError{ENOMEM, "nlExec", e.what(), {}};
        }
        napi_status st = tsfn.BlockingCall(self, [](Napi::Env, Napi::Function, NlExecWorker* w) {
          w->Complete();
          delete w;
        });
        if (st != napi_ok) {
          // the environment is going away: nobody waits for the result any more (the worker leaks)
        }
        tsfn.Release();
      }).detach();
    } catch (const std::system_error& e) {
      tsfn.Release();
      setupErr_ = SysError{e.code().value(), "pthread_create", "nlExec thread", {}};
      Complete();
      delete this;
    }
  }

  // JS thread, own-thread mode: what the pool would call after Execute().
  void Complete() {
    Napi::HandleScope scope(Env());
    if (setupErr_)
      deferred_.Reject(ToJsError(Env(), setupErr_).Value());
    else
      OnOK();
  }

 private:
  // The socket a message goes to: the batch's netns, or another one named by a kTarget fixup
  // (e.g. bringing up a veth peer that was just created in the peer's netns).
  int SocketFor(size_t i, SysError* err) {
    for (const Fixup& f : fixups_) {
      if (f.msg != i || f.kind != Fixup::kTarget) continue;
      // Sockets for a caller-held fd are reused across messages; a path is opened per step,
      // so a namespace that disappears mid-batch fails the step that needs it.
      if (f.fd >= 0) {
        for (auto& [fd, sock] : others_) {
          if (fd == f.fd) return sock.get();
        }
      }
      UniqueFd ns;
      int nsFd = f.fd;
      if (nsFd < 0) {
        ns = OpenNetns(f.arg, err);
        if (*err) return -1;
        nsFd = ns.get();
      }
      UniqueFd sock = OpenRtnetlinkIn(nsFd, err);
      if (*err) {
        if (err->path.empty() || err->syscall == "setns")
          err->path = f.fd >= 0 ? "netns fd " + std::to_string(f.fd) : f.arg;
        return -1;
      }
      if (f.fd < 0) {
        pathSock_ = std::move(sock);
        return pathSock_.get();
      }
      others_.emplace_back(f.fd, std::move(sock));
      return others_.back().second.get();
    }
    return sock_.get();
  }

  void RunStep(size_t i, uint32_t seq, StepResult* r) {
    uint8_t* msg = batch_.data() + starts_[i];
    std::vector<UniqueFd> opened;  // netns fds opened for this step, closed after it
    int sock = SocketFor(i, &r->err);
    if (r->err) return;
    for (const Fixup& f : fixups_) {
      if (f.msg != i || f.kind == Fixup::kTarget) continue;
      int32_t v;
      if (f.kind == Fixup::kNsFd) {
        UniqueFd fd = OpenNetns(f.arg, &r->err);
        if (r->err) return;
        v = fd.get();
        opened.push_back(std::move(fd));
      } else {
        ifreq ifr{};
        strncpy(ifr.ifr_name, f.arg.c_str(), IFNAMSIZ - 1);
        // SIOCGIFINDEX on the netlink socket resolves in the socket's (the target's) netns.
        if (::ioctl(sock, SIOCGIFINDEX, &ifr) != 0) {
          r->err = SysError{errno, "SIOCGIFINDEX", "link " + f.arg, {}};
          return;
        }
        v = ifr.ifr_ifindex;
      }
      memcpy(msg + f.offset, &v, sizeof(v));
    }
    nlmsghdr h;
    memcpy(&h, msg, sizeof(h));
    if (h.nlmsg_type == kNsmTapAdd) return TapAdd(msg, h.nlmsg_len, r);
    if (h.nlmsg_type == kNsmEthtool) return Ethtool(sock, msg, h.nlmsg_len, r);
    NlReply reply;
    r->err = NlTransact(sock, msg, h.nlmsg_len, seq, &reply);
    if (r->err) return;
    if (reply.kernelErr) {
      r->err = SysError{reply.kernelErr, NlTypeName(h.nlmsg_type), {}, reply.extack};
      return;
    }
    r->reply = std::move(reply.dump);
  }

  // SIOCETHTOOL on the step's rtnetlink socket: the kernel hands socket ioctls it does not know
  // to the device layer in the socket's netns, as it does SIOCGIFINDEX above.
  static void Ethtool(int sock, const uint8_t* msg, size_t len, StepResult* r) {
    if (len < NLMSG_HDRLEN + sizeof(NsmEthtool)) {
      r->err = SysError{EINVAL, "SIOCETHTOOL", "malformed ethtool request", {}};
      return;
    }
    NsmEthtool req;
    memcpy(&req, msg + NLMSG_HDRLEN, sizeof(req));
    req.name[IFNAMSIZ - 1] = 0;
    ethtool_value ev{};
    ev.cmd = req.cmd;
    ev.data = req.data;
    ifreq ifr{};
    memcpy(ifr.ifr_name, req.name, IFNAMSIZ);
    ifr.ifr_data = reinterpret_cast<char*>(&ev);
    if (::ioctl(sock, SIOCETHTOOL, &ifr) != 0)
      r->err = SysError{errno, "SIOCETHTOOL", std::string("link ") + req.name, {}};
  }

  void TapAdd(const uint8_t* msg, size_t len, StepResult* r) {
    if (len < NLMSG_HDRLEN + sizeof(NsmTapAdd)) {
      r->err = SysError{EINVAL, "TUNSETIFF", "malformed tap request", {}};
      return;
    }
    NsmTapAdd req;
    memcpy(&req, msg + NLMSG_HDRLEN, sizeof(req));
    req.name[IFNAMSIZ - 1] = 0;
    UniqueFd tun;
    {
      // A tun/tap device is born in the netns of the thread that opens /dev/net/tun.
      NetnsGuard in(nsFd_);
      if (!in.ok()) {
        r->err = in.error();
        return;
      }
      tun.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
      if (!tun) {
        r->err = SysError{errno, "open", "/dev/net/tun", {}};
        return;
      }
    }
    ifreq ifr{};
    memcpy(ifr.ifr_name, req.name, IFNAMSIZ);
    ifr.ifr_flags = static_cast<short>(req.flags);
    std::string who = std::string("tap ") + req.name;
    if (::ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
      r->err = SysError{errno, "TUNSETIFF", who, {}};
      return;
    }
    if (req.owner >= 0 && ::ioctl(tun.get(), TUNSETOWNER, static_cast<unsigned long>(req.owner)) != 0) {
      r->err = SysError{errno, "TUNSETOWNER", who, {}};
      return;
    }
    if (req.group >= 0 && ::ioctl(tun.get(), TUNSETGROUP, static_cast<unsigned long>(req.group)) != 0) {
      r->err = SysError{errno, "TUNSETGROUP", who, {}};
      return;
    }
    if (::ioctl(tun.get(), TUNSETPERSIST, 1UL) != 0) {
      r->err = SysError{errno, "TUNSETPERSIST", who, {}};
      return;
    }
  }

  Napi::Promise::Deferred deferred_;
  int nsFd_;
  std::vector<uint8_t> batch_;
  std::vector<Fixup> fixups_;
  bool keepGoing_;
  std::vector<size_t> starts_;
  std::vector<StepResult> results_;
  UniqueFd sock_;
  std::vector<std::pair<int, UniqueFd>> others_;  // sockets in other netns, by caller's netns fd
  UniqueFd pathSock_;                             // socket for the current step's path target
  SysError setupErr_;
};

}  // namespace

Napi::Value NlExec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "nlExec(nsFd: number, batch: Uint8Array, fixups?: Fixup[], opts?: {keepGoing})")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto b = info[1].As<Napi::Uint8Array>();
  std::vector<uint8_t> batch(b.Data(), b.Data() + b.ElementLength());  // copied: JS may reuse it
  std::vector<Fixup> fixups;
  if (info.Length() > 2 && info[2].IsArray()) {
    auto arr = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) continue;
      auto o = v.As<Napi::Object>();
      std::string kind = o.Get("kind").ToString().Utf8Value();
      Fixup f;
      // Range-checked as doubles before narrowing: -1 or 2^32 + 4 must not become a valid u32.
      double msgD = o.Get("msg").ToNumber().DoubleValue(), offD = o.Get("offset").ToNumber().DoubleValue();
      auto u32 = [](double d) { return d >= 0 && d <= 4294967295.0 && std::floor(d) == d; };
      if (!u32(msgD) || (kind != "target" && !u32(offD))) {
        Napi::RangeError::New(env, "nlExec: fixup msg and offset must be integers in 0..2^32-1")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      f.msg = static_cast<uint32_t>(msgD);
      f.offset = kind == "target" ? 0 : static_cast<uint32_t>(offD);
      if (kind == "nsfd") {
        f.kind = Fixup::kNsFd;
        f.arg = o.Get("path").ToString().Utf8Value();
      } else if (kind == "ifindex") {
        f.kind = Fixup::kIfIndex;
        f.arg = o.Get("name").ToString().Utf8Value();
      } else if (kind == "target") {
        f.kind = Fixup::kTarget;
        f.offset = 0;
        if (o.Get("fd").IsNumber())
          f.fd = o.Get("fd").ToNumber().Int32Value();
        else
          f.arg = o.Get("path").ToString().Utf8Value();
      } else {
        Napi::TypeError::New(env, "nlExec: unknown fixup kind " + kind).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      fixups.push_back(std::move(f));
    }
  }
  bool keepGoing = false, ownThread = false;
  if (info.Length() > 3 && info[3].IsObject()) {
    auto opts = info[3].As<Napi::Object>();
    keepGoing = opts.Get("keepGoing").ToBoolean().Value();
    ownThread = opts.Get("ownThread").ToBoolean().Value();
  }
  auto* w = new NlExecWorker(env, info[0].As<Napi::Number>().Int32Value(), std::move(batch),
                             std::move(fixups), keepGoing);
  std::string why;
  if (!w->Split(&why)) {
    delete w;
    Napi::TypeError::New(env, "nlExec: malformed batch: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Promise promise = w->Promise();
  if (ownThread)
    w->RunOnOwnThread();  // w deletes itself once its result is delivered
  else
    w->Queue();
  return promise;
}

}  // namespace nsm

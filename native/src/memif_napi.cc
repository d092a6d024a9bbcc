// JS bindings for memif ports, packet ports and forwarders (typed in src/native.ts, memif block).
// Ports and forwarders live in a handle table; JS holds integer handles and closes them once
// (closing twice is a no-op). Port events reach JS through one ThreadSafeFunction per memif port.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include "nsm/js_error.h"
#include "nsm/memif.h"
#include "nsm/netns.h"

namespace nsm {

namespace {

using memif::Forwarder;
using memif::MemifPort;
using memif::PacketPort;

struct PortEntry {
  std::shared_ptr<PacketPort> port;
  std::shared_ptr<MemifPort> memif;  // same object as port, when it is a memif port
  Napi::ThreadSafeFunction tsfn;
  bool hasTsfn = false;
};
struct FwdEntry {
  std::unique_ptr<Forwarder> fwd;
  int a, b;
};

std::map<int, PortEntry> g_ports;
std::map<int, FwdEntry> g_fwds;
int g_next = 1;

void Throw(Napi::Env env, const std::string& usage) {
  Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
}

std::string OptStr(const Napi::Object& o, const char* k, const std::string& def = "") {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}
int64_t OptNum(const Napi::Object& o, const char* k, int64_t def) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : def;
}
bool OptBool(const Napi::Object& o, const char* k, bool def) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}

Napi::Object StatsObject(Napi::Env env, const memif::PortStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rxPackets", Napi::Number::New(env, static_cast<double>(s.rxPackets.load())));
  o.Set("rxBytes", Napi::Number::New(env, static_cast<double>(s.rxBytes.load())));
  o.Set("txPackets", Napi::Number::New(env, static_cast<double>(s.txPackets.load())));
  o.Set("txBytes", Napi::Number::New(env, static_cast<double>(s.txBytes.load())));
  o.Set("txDrops", Napi::Number::New(env, static_cast<double>(s.txDrops.load())));
  o.Set("rxErrors", Napi::Number::New(env, static_cast<double>(s.rxErrors.load())));
  o.Set("connects", Napi::Number::New(env, static_cast<double>(s.connects.load())));
  o.Set("disconnects", Napi::Number::New(env, static_cast<double>(s.disconnects.load())));
  return o;
}

PortEntry* FindPort(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Throw(info.Env(), usage);
    return nullptr;
  }
  auto it = g_ports.find(info[0].As<Napi::Number>().Int32Value());
  if (it == g_ports.end()) {
    Napi::Error::New(info.Env(), std::string(usage) + ": port is closed").ThrowAsJavaScriptException();
    return nullptr;
  }
  return &it->second;
}

void StopForwarder(std::map<int, FwdEntry>::iterator it) {
  it->second.fwd->Stop();
  for (int h : {it->second.a, it->second.b}) {
    auto p = g_ports.find(h);
    if (p == g_ports.end()) continue;
    p->second.port->attached.store(false);
    if (p->second.memif) p->second.memif->Wake();  // resume rx events for JS
  }
}

// memifOpen(cfg, onEvent) -> handle
Napi::Value MemifOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "memifOpen(cfg: object, onEvent: function)";
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    return Throw(env, usage), env.Undefined();
  Napi::Object o = info[0].As<Napi::Object>();
  memif::MemifConfig cfg;
  cfg.master = OptStr(o, "role") == "master";
  cfg.socketPath = OptStr(o, "socket");
  cfg.id = static_cast<uint32_t>(OptNum(o, "id", 0));
  cfg.log2Ring = static_cast<uint8_t>(OptNum(o, "log2Ring", 10));
  cfg.bufferSize = static_cast<uint32_t>(OptNum(o, "bufferSize", 2048));
  cfg.interrupt = OptBool(o, "interrupt", true);
  cfg.mode = static_cast<uint8_t>(OptNum(o, "mode", 0));
  cfg.secret = OptStr(o, "secret");
  cfg.name = OptStr(o, "name", "nsm-ts");
  cfg.ifName = OptStr(o, "ifName", "memif0");
  cfg.reconnectMs = static_cast<uint32_t>(OptNum(o, "reconnectMs", 1000));
  cfg.handshakeTimeoutMs = static_cast<uint32_t>(OptNum(o, "handshakeTimeoutMs", 3000));
  if (cfg.log2Ring < 1 || cfg.log2Ring > memif::kMaxLog2Ring || cfg.bufferSize < 64 ||
      cfg.bufferSize > 65535 || cfg.socketPath.empty()) {
    return Throw(env, "memifOpen: socket must be set, log2Ring 1..14, bufferSize 64..65535"), env.Undefined();
  }
  std::string ns = OptStr(o, "netns");
  if (!ns.empty()) {
    SysError err;
    cfg.netns = OpenNetns(ns, &err);
    if (err) return ToJsError(env, err).ThrowAsJavaScriptException(), env.Undefined();
  }
  auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "nsm:memif", 0, 1);
  auto onEvent = [tsfn](const memif::MemifEvent& e) mutable {
    auto* copy = new memif::MemifEvent(e);
    napi_status st = tsfn.NonBlockingCall(copy, [](Napi::Env env, Napi::Function cb, memif::MemifEvent* ev) {
      Napi::Object o = Napi::Object::New(env);
      const char* kinds[] = {"up", "down", "rx"};
      o.Set("type", kinds[ev->kind]);
      if (ev->kind == memif::MemifEvent::kDown) {
        o.Set("reason", ev->reason);
        o.Set("wasUp", ev->wasUp);
      }
      if (ev->kind == memif::MemifEvent::kUp) {
        o.Set("peerName", ev->peerName);
        o.Set("peerIfName", ev->peerIfName);
        o.Set("ringSize", ev->ringSize);
        o.Set("bufferSize", ev->bufferSize);
        o.Set("regions", ev->regions);
      }
      delete ev;
      if (env && cb) cb.Call({o});
    });
    if (st != napi_ok) delete copy;
  };
  SysError err;
  auto port = MemifPort::Open(std::move(cfg), onEvent, &err);
  if (!port) {
    tsfn.Release();
    return ToJsError(env, err).ThrowAsJavaScriptException(), env.Undefined();
  }
  int h = g_next++;
  PortEntry e;
  e.port = port;
  e.memif = port;
  e.tsfn = tsfn;
  e.hasTsfn = true;
  g_ports.emplace(h, std::move(e));
  return Napi::Number::New(env, h);
}

// memifPortClose(handle): stops a forwarder using it, closes the port; no-op if already closed.
Napi::Value PortClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    return Throw(env, "memifPortClose(handle: number)"), env.Undefined();
  int h = info[0].As<Napi::Number>().Int32Value();
  for (auto it = g_fwds.begin(); it != g_fwds.end();) {
    if (it->second.a == h || it->second.b == h) {
      StopForwarder(it);
      it = g_fwds.erase(it);
    } else {
      ++it;
    }
  }
  auto it = g_ports.find(h);
  if (it == g_ports.end()) return env.Undefined();
  PortEntry e = std::move(it->second);
  g_ports.erase(it);
  e.port->Close();  // joins the control thread: no event is produced after this
  if (e.hasTsfn) e.tsfn.Release();
  return env.Undefined();
}

Napi::Value MemifUnref(const Napi::CallbackInfo& info) {
  PortEntry* e = FindPort(info, "memifUnref(handle: number, unref: boolean)");
  if (!e) return info.Env().Undefined();
  if (e->hasTsfn) {
    if (info.Length() > 1 && info[1].ToBoolean().Value())
      e->tsfn.Unref(info.Env());
    else
      e->tsfn.Ref(info.Env());
  }
  return info.Env().Undefined();
}

// memifSend(handle, packets: Uint8Array[]) -> number accepted
Napi::Value MemifSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortEntry* e = FindPort(info, "memifSend(handle: number, packets: Uint8Array[])");
  if (!e) return env.Undefined();
  if (!e->memif || info.Length() < 2 || !info[1].IsArray())
    return Throw(env, "memifSend(handle: memif port, packets: Uint8Array[])"), env.Undefined();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<std::pair<const uint8_t*, size_t>> pkts;
  pkts.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray()) return Throw(env, "memifSend: packets must be Uint8Arrays"), env.Undefined();
    auto u = v.As<Napi::Uint8Array>();
    if (u.ElementLength() > 65535 * 16) return Throw(env, "memifSend: packet too large"), env.Undefined();
    pkts.emplace_back(u.Data(), u.ElementLength());
  }
  return Napi::Number::New(env, e->memif->Send(pkts));
}

// memifRecv(handle, max) -> Buffer[]
Napi::Value MemifRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortEntry* e = FindPort(info, "memifRecv(handle: number, max: number)");
  if (!e) return env.Undefined();
  if (!e->memif) return Throw(env, "memifRecv: not a memif port"), env.Undefined();
  int max = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 256;
  std::vector<std::vector<uint8_t>> pkts;
  e->memif->Recv(std::max(1, max), &pkts);
  Napi::Array out = Napi::Array::New(env, pkts.size());
  for (uint32_t i = 0; i < pkts.size(); ++i)
    out.Set(i, Napi::Buffer<uint8_t>::Copy(env, pkts[i].data(), pkts[i].size()));
  return out;
}

Napi::Value PortStats(const Napi::CallbackInfo& info) {
  PortEntry* e = FindPort(info, "memifPortStats(handle: number)");
  if (!e) return info.Env().Undefined();
  return StatsObject(info.Env(), e->port->stats);
}

Napi::Value MemifInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortEntry* e = FindPort(info, "memifInfo(handle: number)");
  if (!e) return env.Undefined();
  if (!e->memif) return Throw(env, "memifInfo: not a memif port"), env.Undefined();
  memif::MemifInfo i = e->memif->Info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("up", i.up);
  o.Set("peerName", i.peerName);
  o.Set("peerIfName", i.peerIfName);
  o.Set("lastReason", i.lastReason);
  o.Set("ringSize", i.ringSize);
  o.Set("bufferSize", i.bufferSize);
  o.Set("regions", i.regions);
  return o;
}

// memifPacketPortOpen({kind: "afpacket"|"tap", ifname, netns?} | {kind: "null", frameLen}) -> handle
Napi::Value PacketPortOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "memifPacketPortOpen({kind: 'afpacket'|'tap', ifname, netns?} | {kind: 'null', frameLen})";
  if (info.Length() < 1 || !info[0].IsObject()) return Throw(env, usage), env.Undefined();
  Napi::Object o = info[0].As<Napi::Object>();
  std::string kind = OptStr(o, "kind");
  std::shared_ptr<PacketPort> port;
  if (kind == "null") {
    port = std::make_shared<memif::NullPort>(static_cast<uint32_t>(OptNum(o, "frameLen", 0)));
  } else if (kind == "afpacket" || kind == "tap") {
    SysError err;
    UniqueFd ns;
    std::string nsPath = OptStr(o, "netns");
    if (!nsPath.empty()) {
      ns = OpenNetns(nsPath, &err);
      if (err) return ToJsError(env, err).ThrowAsJavaScriptException(), env.Undefined();
    }
    port = memif::FdPort::Open(kind == "tap" ? memif::FdPort::kTap : memif::FdPort::kAfPacket,
                               OptStr(o, "ifname"), ns ? ns.get() : -1, &err);
    if (!port) return ToJsError(env, err).ThrowAsJavaScriptException(), env.Undefined();
  } else {
    return Throw(env, usage), env.Undefined();
  }
  int h = g_next++;
  PortEntry e;
  e.port = port;
  g_ports.emplace(h, std::move(e));
  return Napi::Number::New(env, h);
}

// memifForwardStart(a, b, {busyPoll, cpu}) -> handle
Napi::Value ForwardStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "memifForwardStart(a: number, b: number, opts: {busyPoll?: boolean, cpu?: number})";
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    return Throw(env, usage), env.Undefined();
  int ha = info[0].As<Napi::Number>().Int32Value(), hb = info[1].As<Napi::Number>().Int32Value();
  auto a = g_ports.find(ha), b = g_ports.find(hb);
  if (a == g_ports.end() || b == g_ports.end() || ha == hb)
    return Throw(env, "memifForwardStart: two distinct open ports are required"), env.Undefined();
  if (a->second.port->attached.load() || b->second.port->attached.load()) {
    Napi::Error::New(env, "memifForwardStart: a port is already cross-connected")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool busy = false;
  int cpu = -1;
  if (info.Length() > 2 && info[2].IsObject()) {
    busy = OptBool(info[2].As<Napi::Object>(), "busyPoll", false);
    cpu = static_cast<int>(OptNum(info[2].As<Napi::Object>(), "cpu", -1));
  }
  for (auto* p : {&a->second, &b->second}) {
    p->port->attached.store(true);
    if (p->memif) p->memif->Wake();  // stop delivering rx events to JS
  }
  int h = g_next++;
  g_fwds.emplace(h, FwdEntry{std::make_unique<Forwarder>(a->second.port, b->second.port, busy, cpu), ha, hb});
  return Napi::Number::New(env, h);
}

Napi::Value FwdStatsObject(Napi::Env env, const memif::ForwardStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("aToB", Napi::Number::New(env, static_cast<double>(s.aToB)));
  o.Set("bToA", Napi::Number::New(env, static_cast<double>(s.bToA)));
  o.Set("drops", Napi::Number::New(env, static_cast<double>(s.drops)));
  o.Set("wakeups", Napi::Number::New(env, static_cast<double>(s.wakeups)));
  return o;
}

Napi::Value ForwardStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    return Throw(env, "memifForwardStats(handle: number)"), env.Undefined();
  auto it = g_fwds.find(info[0].As<Napi::Number>().Int32Value());
  if (it == g_fwds.end()) return env.Null();
  return FwdStatsObject(env, it->second.fwd->Stats());
}

// memifForwardStop(handle) -> final stats, or null if already stopped
Napi::Value ForwardStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    return Throw(env, "memifForwardStop(handle: number)"), env.Undefined();
  auto it = g_fwds.find(info[0].As<Napi::Number>().Int32Value());
  if (it == g_fwds.end()) return env.Null();
  StopForwarder(it);
  Napi::Value s = FwdStatsObject(env, it->second.fwd->Stats());
  g_fwds.erase(it);
  return s;
}

// ---- memifRawPeer: test hook speaking raw control messages ----

struct RawStep {
  std::vector<uint8_t> send;
  bool hasSend = false;
  std::string fdKind;  // "", "memfd", "eventfd"
  uint64_t memfdSize = 0;
  int recv = 0;
  bool waitClose = false;
};

class RawPeerWorker : public Napi::AsyncWorker {
 public:
  RawPeerWorker(Napi::Env env, std::string path, bool server, std::vector<RawStep> steps, int timeoutMs)
      : Napi::AsyncWorker(env, "nsm:memifRawPeer"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        server_(server),
        steps_(std::move(steps)),
        timeoutMs_(timeoutMs) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    using Clock = std::chrono::steady_clock;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs_);
    auto left = [&] {
      return static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    };
    sockaddr_un sun;
    socklen_t len = memif::MemifSockaddr(path_, &sun);
    if (!len) return Fail("socket", ENAMETOOLONG);
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!sock) return Fail("socket", errno);
    UniqueFd conn;
    if (server_) {
      if (path_[0] != '@' && path_.rfind("abstract:", 0) != 0) ::unlink(path_.c_str());
      if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) return Fail("bind", errno);
      if (::listen(sock.get(), 1) != 0) return Fail("listen", errno);
      pollfd p{sock.get(), POLLIN, 0};
      int r = ::poll(&p, 1, left());
      bool unlinkIt = path_[0] != '@' && path_.rfind("abstract:", 0) != 0;
      if (r <= 0) {
        if (unlinkIt) ::unlink(path_.c_str());
        return Fail("accept(timeout)", ETIMEDOUT);
      }
      conn.reset(::accept4(sock.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (unlinkIt) ::unlink(path_.c_str());
      if (!conn) return Fail("accept", errno);
    } else {
      if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) return Fail("connect", errno);
      conn = std::move(sock);
    }
    for (const RawStep& s : steps_) {
      if (closed_) break;
      if (s.hasSend) {
        UniqueFd fd;
        if (s.fdKind == "memfd") {
          fd.reset(::memfd_create("memif_raw", MFD_CLOEXEC | MFD_ALLOW_SEALING));
          if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(s.memfdSize)) != 0)
            return Fail("memfd_create", errno);
        } else if (s.fdKind == "eventfd") {
          fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
          if (!fd) return Fail("eventfd", errno);
        }
        if (memif::SendWithFd(conn.get(), s.send.data(), s.send.size(), fd ? fd.get() : -1, MSG_NOSIGNAL) <
            0) {
          if (errno == EPIPE || errno == ECONNRESET)
            closed_ = true;
          else
            return Fail("sendmsg", errno);
        }
      }
      int want = s.recv;
      while (!closed_ && (want > 0 || s.waitClose)) {
        pollfd p{conn.get(), POLLIN, 0};
        int r = ::poll(&p, 1, left());
        if (r <= 0) break;  // timeout: report what we have
        uint8_t buf[512];
        ssize_t n =
            ::recv(conn.get(), buf, sizeof(buf), 0);  // no control buffer: the kernel drops any passed fd
        if (n <= 0) {
          closed_ = true;
          break;
        }
        received_.emplace_back(buf, buf + n);
        --want;
      }
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    Napi::Array arr = Napi::Array::New(env, received_.size());
    for (uint32_t i = 0; i < received_.size(); ++i)
      arr.Set(i, Napi::Buffer<uint8_t>::Copy(env, received_[i].data(), received_[i].size()));
    o.Set("received", arr);
    o.Set("closed", closed_);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error&) override {
    deferred_.Reject(ToJsError(Env(), SysError{errno_, syscall_, path_, {}}).Value());
  }

 private:
  void Fail(const char* call, int err) {
    syscall_ = call;
    errno_ = err;
    SetError(call);
  }
  Napi::Promise::Deferred deferred_;
  std::string path_;
  bool server_;
  std::vector<RawStep> steps_;
  int timeoutMs_;
  std::vector<std::vector<uint8_t>> received_;
  bool closed_ = false;
  std::string syscall_;
  int errno_ = 0;
};

// memifRawPeer({socket, role: "client"|"server", steps: [{send?, fd?, memfdSize?, recv?, waitClose?}],
// timeoutMs})
Napi::Value RawPeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "memifRawPeer({socket: string, role: 'client'|'server', steps: object[], timeoutMs: number})";
  if (info.Length() < 1 || !info[0].IsObject()) return Throw(env, usage), env.Undefined();
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value st = o.Get("steps");
  if (!st.IsArray() || OptStr(o, "socket").empty()) return Throw(env, usage), env.Undefined();
  std::vector<RawStep> steps;
  Napi::Array arr = st.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) return Throw(env, usage), env.Undefined();
    Napi::Object so = v.As<Napi::Object>();
    RawStep s;
    Napi::Value send = so.Get("send");
    if (send.IsTypedArray()) {
      auto u = send.As<Napi::Uint8Array>();
      s.send.assign(u.Data(), u.Data() + u.ElementLength());
      s.hasSend = true;
    }
    s.fdKind = OptStr(so, "fd");
    s.memfdSize = static_cast<uint64_t>(OptNum(so, "memfdSize", 4096));
    s.recv = static_cast<int>(OptNum(so, "recv", 0));
    s.waitClose = OptBool(so, "waitClose", false);
    steps.push_back(std::move(s));
  }
  auto* w = new RawPeerWorker(env, OptStr(o, "socket"), OptStr(o, "role") == "server", std::move(steps),
                              static_cast<int>(OptNum(o, "timeoutMs", 2000)));
  w->Queue();
  return w->Promise();
}

}  // namespace

void RegisterMemif(Napi::Env env, Napi::Object exports) {
  exports.Set("memifOpen", Napi::Function::New(env, MemifOpen, "memifOpen"));
  exports.Set("memifPortClose", Napi::Function::New(env, PortClose, "memifPortClose"));
  exports.Set("memifUnref", Napi::Function::New(env, MemifUnref, "memifUnref"));
  exports.Set("memifSend", Napi::Function::New(env, MemifSend, "memifSend"));
  exports.Set("memifRecv", Napi::Function::New(env, MemifRecv, "memifRecv"));
  exports.Set("memifPortStats", Napi::Function::New(env, PortStats, "memifPortStats"));
  exports.Set("memifInfo", Napi::Function::New(env, MemifInfo, "memifInfo"));
  exports.Set("memifPacketPortOpen", Napi::Function::New(env, PacketPortOpen, "memifPacketPortOpen"));
  exports.Set("memifForwardStart", Napi::Function::New(env, ForwardStart, "memifForwardStart"));
  exports.Set("memifForwardStats", Napi::Function::New(env, ForwardStats, "memifForwardStats"));
  exports.Set("memifForwardStop", Napi::Function::New(env, ForwardStop, "memifForwardStop"));
  exports.Set("memifRawPeer", Napi::Function::New(env, RawPeer, "memifRawPeer"));
}

}  // namespace nsm

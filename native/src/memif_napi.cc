// JS bindings for memif ports, packet ports and forwarders (typed in src/native.ts, memif block).
// Ports and forwarders live in a handle table per Node environment (main thread and each
// worker_thread have their own); JS holds integer handles and closes them once (closing twice is
// a no-op). Port events reach JS through one ThreadSafeFunction per memif port. When an
// environment ends, cleanup hooks close what JS left open: each memif port's hook runs before
// its ThreadSafeFunction is torn down (hooks run in reverse order of registration).
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
#include <cmath>
#include <map>
#include <mutex>

#include "nsm/js_error.h"
#include "nsm/memif_napi.h"
#include "nsm/netns.h"

namespace nsm {
namespace memif_napi {

namespace {
std::mutex g_envMu;  // guards the map only; each MemifEnv is used on its own JS thread
std::map<napi_env, std::unique_ptr<MemifEnv>> g_envs;
}  // namespace

MemifEnv& State(Napi::Env env) {
  std::lock_guard<std::mutex> g(g_envMu);
  auto& p = g_envs[env];
  if (!p) p = std::make_unique<MemifEnv>();
  return *p;
}

void Throw(Napi::Env env, const std::string& usage) {
  Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
}

int64_t OptInt(const Napi::Object& o, const char* k, int64_t def, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined()) return def;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    throw Napi::RangeError::New(
        o.Env(), std::string(k) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<int64_t>(d);
}

std::string OptStr(const Napi::Object& o, const char* k, const std::string& def) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
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
  o.Set("txErrors", Napi::Number::New(env, static_cast<double>(s.txErrors.load())));
  o.Set("peerErrors", Napi::Number::New(env, static_cast<double>(s.peerErrors.load())));
  o.Set("connects", Napi::Number::New(env, static_cast<double>(s.connects.load())));
  o.Set("disconnects", Napi::Number::New(env, static_cast<double>(s.disconnects.load())));
  return o;
}

PortEntry* FindPort(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Throw(info.Env(), usage);
    return nullptr;
  }
  MemifEnv& st = State(info.Env());
  auto it = st.ports.find(info[0].As<Napi::Number>().Int32Value());
  if (it == st.ports.end()) {
    Napi::Error::New(info.Env(), std::string(usage) + ": port is closed").ThrowAsJavaScriptException();
    return nullptr;
  }
  return &it->second;
}

void StopForwarder(MemifEnv& st, std::map<int, FwdEntry>::iterator it) {
  it->second.fwd->Stop();
  for (int h : {it->second.a, it->second.b}) {
    auto p = st.ports.find(h);
    if (p == st.ports.end()) continue;
    p->second.port->attached.store(false);
    if (p->second.memif) p->second.memif->Wake();  // resume rx events for JS
  }
}

// Stops the forwarders using port `h`, closes it and releases its tsfn; no-op if already closed.
namespace {

void ClosePort(MemifEnv& st, int h) {
  for (auto it = st.fwds.begin(); it != st.fwds.end();) {
    if (it->second.a == h || it->second.b == h) {
      StopForwarder(st, it);
      it = st.fwds.erase(it);
    } else {
      ++it;
    }
  }
  auto it = st.ports.find(h);
  if (it == st.ports.end()) return;
  PortEntry e = std::move(it->second);
  st.ports.erase(it);
  e.port->Close();  // joins the control thread: no event is produced after this
  if (e.hasTsfn) e.tsfn.Release();
}

void ClosePortAtExit(void* arg) {
  auto* hook = static_cast<PortHook*>(arg);
  hook->st->hooks.erase(hook->handle);
  ClosePort(*hook->st, hook->handle);
  delete hook;
}

// Last hook of an environment: stops forwarders, closes the remaining (non-memif) ports.
void DropEnvAtExit(void* arg) {
  auto env = static_cast<napi_env>(arg);
  std::unique_ptr<MemifEnv> st;
  {
    std::lock_guard<std::mutex> g(g_envMu);
    auto it = g_envs.find(env);
    if (it == g_envs.end()) return;
    st = std::move(it->second);
    g_envs.erase(it);
  }
  for (auto it = st->fwds.begin(); it != st->fwds.end(); ++it) it->second.fwd->Stop();
  st->fwds.clear();
  for (auto& [h, e] : st->ports) e.port->Close();
  st->ports.clear();
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
  cfg.id = static_cast<uint32_t>(OptInt(o, "id", 0, 0, UINT32_MAX));
  cfg.log2Ring = static_cast<uint8_t>(OptInt(o, "log2Ring", 10, 1, memif::kMaxLog2Ring));
  cfg.bufferSize = static_cast<uint32_t>(OptInt(o, "bufferSize", 2048, 64, 65535));
  cfg.interrupt = OptBool(o, "interrupt", true);
  cfg.mode = static_cast<uint8_t>(OptInt(o, "mode", 0, 0, 1));
  cfg.secret = OptStr(o, "secret");
  cfg.name = OptStr(o, "name", "nsm-ts");
  cfg.ifName = OptStr(o, "ifName", "memif0");
  cfg.reconnectMs = static_cast<uint32_t>(OptInt(o, "reconnectMs", 1000, 1, 3600000));
  cfg.handshakeTimeoutMs = static_cast<uint32_t>(OptInt(o, "handshakeTimeoutMs", 3000, 1, 3600000));
  if (cfg.socketPath.empty()) return Throw(env, "memifOpen: socket must be set"), env.Undefined();
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
  std::shared_ptr<MemifPort> port;
  try {
    port = MemifPort::Open(std::move(cfg), onEvent, &err);
  } catch (...) {  // std::thread: the binding turns it into a JS error
    tsfn.Release();
    throw;
  }
  if (!port) {
    tsfn.Release();
    return ToJsError(env, err).ThrowAsJavaScriptException(), env.Undefined();
  }
  MemifEnv& st = State(env);
  int h = st.next++;
  PortEntry e;
  e.port = port;
  e.memif = port;
  e.tsfn = tsfn;
  e.hasTsfn = true;
  st.ports.emplace(h, std::move(e));
  // Registered after the tsfn's own hook, so it runs first at environment teardown.
  auto* hook = new PortHook{&st, h};
  napi_add_env_cleanup_hook(env, ClosePortAtExit, hook);
  st.hooks[h] = {env, hook};
  return Napi::Number::New(env, h);
}

// memifPortClose(handle): stops a forwarder using it, closes the port; no-op if already closed.
Napi::Value PortClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    return Throw(env, "memifPortClose(handle: number)"), env.Undefined();
  MemifEnv& st = State(env);
  int h = info[0].As<Napi::Number>().Int32Value();
  auto hk = st.hooks.find(h);
  if (hk != st.hooks.end()) {
    napi_remove_env_cleanup_hook(hk->second.first, ClosePortAtExit, hk->second.second);
    delete hk->second.second;
    st.hooks.erase(hk);
  }
  ClosePort(st, h);
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
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      return Throw(env, "memifSend: packets must be Uint8Arrays"), env.Undefined();
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
  double want = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 256;
  int max = std::isfinite(want) ? static_cast<int>(std::clamp(want, 1.0, 65536.0)) : 256;
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

}  // namespace
}  // namespace memif_napi

void RegisterMemif(Napi::Env env, Napi::Object exports) {
  using namespace memif_napi;
  State(env);
  napi_add_env_cleanup_hook(env, DropEnvAtExit, static_cast<napi_env>(env));
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
}

}  // namespace nsm
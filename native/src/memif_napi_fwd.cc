// JS bindings for packet ports (AF_PACKET, tap, null) and native forwarders (typed in
// src/native.ts, memif block); the handle tables are nsm/memif_napi.h.
#include <sched.h>

#include "nsm/js_error.h"
#include "nsm/memif_napi.h"
#include "nsm/netns.h"

namespace nsm::memif_napi {

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
    port = std::make_shared<memif::NullPort>(static_cast<uint32_t>(OptInt(o, "frameLen", 0, 0, 9216)));
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
  MemifEnv& st = State(env);
  int h = st.next++;
  PortEntry e;
  e.port = port;
  st.ports.emplace(h, std::move(e));
  return Napi::Number::New(env, h);
}

// memifForwardStart(a, b, {busyPoll, cpu}) -> handle
Napi::Value ForwardStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "memifForwardStart(a: number, b: number, opts: {busyPoll?: boolean, cpu?: number})";
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    return Throw(env, usage), env.Undefined();
  int ha = info[0].As<Napi::Number>().Int32Value(), hb = info[1].As<Napi::Number>().Int32Value();
  MemifEnv& st = State(env);
  auto a = st.ports.find(ha), b = st.ports.find(hb);
  if (a == st.ports.end() || b == st.ports.end() || ha == hb)
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
    cpu = static_cast<int>(OptInt(info[2].As<Napi::Object>(), "cpu", -1, -1, CPU_SETSIZE - 1));
  }
  for (auto* p : {&a->second, &b->second}) {
    p->port->attached.store(true);
    if (p->memif) p->memif->Wake();  // stop delivering rx events to JS
  }
  std::unique_ptr<Forwarder> fwd;
  try {
    fwd = std::make_unique<Forwarder>(a->second.port, b->second.port, busy, cpu);
  } catch (...) {  // std::thread: undo the claim, then the binding turns it into a JS error
    for (auto* p : {&a->second, &b->second}) {
      p->port->attached.store(false);
      if (p->memif) p->memif->Wake();
    }
    throw;
  }
  int h = st.next++;
  st.fwds.emplace(h, FwdEntry{std::move(fwd), ha, hb});
  return Napi::Number::New(env, h);
}

namespace {
Napi::Value FwdStatsObject(Napi::Env env, const memif::ForwardStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("aToB", Napi::Number::New(env, static_cast<double>(s.aToB)));
  o.Set("bToA", Napi::Number::New(env, static_cast<double>(s.bToA)));
  o.Set("drops", Napi::Number::New(env, static_cast<double>(s.drops)));
  o.Set("wakeups", Napi::Number::New(env, static_cast<double>(s.wakeups)));
  return o;
}
}  // namespace

Napi::Value ForwardStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    return Throw(env, "memifForwardStats(handle: number)"), env.Undefined();
  MemifEnv& st = State(env);
  auto it = st.fwds.find(info[0].As<Napi::Number>().Int32Value());
  if (it == st.fwds.end()) return env.Null();
  return FwdStatsObject(env, it->second.fwd->Stats());
}

// memifForwardStop(handle) -> final stats, or null if already stopped
Napi::Value ForwardStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    return Throw(env, "memifForwardStop(handle: number)"), env.Undefined();
  MemifEnv& st = State(env);
  auto it = st.fwds.find(info[0].As<Napi::Number>().Int32Value());
  if (it == st.fwds.end()) return env.Null();
  StopForwarder(st, it);
  Napi::Value s = FwdStatsObject(env, it->second.fwd->Stats());
  st.fwds.erase(it);
  return s;
}

}  // namespace nsm::memif_napi

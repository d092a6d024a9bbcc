// Internal to the memif bindings (memif_napi.cc, memif_napi_fwd.cc): the per-environment
// handle tables and the option readers. JS thread only.
#pragma once
#include <napi.h>

#include <map>
#include <memory>
#include <string>

#include "nsm/memif.h"

namespace nsm::memif_napi {

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

// One environment's handles.
struct MemifEnv {
  std::map<int, PortEntry> ports;
  std::map<int, FwdEntry> fwds;
  std::map<int, std::pair<napi_env, struct PortHook*>> hooks;
  int next = 1;
};
struct PortHook {
  MemifEnv* st;
  int handle;
};

// This environment's tables (created on first use; dropped by its cleanup hook).
MemifEnv& State(Napi::Env env);
void Throw(Napi::Env env, const std::string& usage);
// A number option: absent -> def; otherwise an integer in [lo, hi] (RangeError), checked before narrowing.
int64_t OptInt(const Napi::Object& o, const char* k, int64_t def, int64_t lo, int64_t hi);
std::string OptStr(const Napi::Object& o, const char* k, const std::string& def = "");
bool OptBool(const Napi::Object& o, const char* k, bool def);
Napi::Object StatsObject(Napi::Env env, const memif::PortStats& s);
// The port behind info[0], or nullptr with a JS exception pending.
PortEntry* FindPort(const Napi::CallbackInfo& info, const char* usage);
// Stops a forwarder and hands its ports back to JS.
void StopForwarder(MemifEnv& st, std::map<int, FwdEntry>::iterator it);

Napi::Value PacketPortOpen(const Napi::CallbackInfo& info);
Napi::Value ForwardStart(const Napi::CallbackInfo& info);
Napi::Value ForwardStats(const Napi::CallbackInfo& info);
Napi::Value ForwardStop(const Napi::CallbackInfo& info);

}  // namespace nsm::memif_napi

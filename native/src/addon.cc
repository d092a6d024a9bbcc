// nsm_native: the addon's export table. Each export is documented in src/native.ts.
#include <napi.h>

namespace nsm {
Napi::Value NetnsOpen(const Napi::CallbackInfo& info);
Napi::Value FdDup(const Napi::CallbackInfo& info);
Napi::Value FdClose(const Napi::CallbackInfo& info);
Napi::Value FdInode(const Napi::CallbackInfo& info);
Napi::Value LinkList(const Napi::CallbackInfo& info);
Napi::Value IcmpEcho(const Napi::CallbackInfo& info);
Napi::Value NlExec(const Napi::CallbackInfo& info);
Napi::Value FdsockInit(const Napi::CallbackInfo& info);
Napi::Value FdsockAdopt(const Napi::CallbackInfo& info);
Napi::Value FdsockWant(const Napi::CallbackInfo& info);
Napi::Value FdsockSend(const Napi::CallbackInfo& info);
Napi::Value FdsockShutdown(const Napi::CallbackInfo& info);
Napi::Value FdsockClose(const Napi::CallbackInfo& info);
Napi::Value FdOpenPath(const Napi::CallbackInfo& info);
Napi::Value NlWatchOpen(const Napi::CallbackInfo& info);     // nl_watch.cc
void RegisterMemif(Napi::Env env, Napi::Object exports);     // memif_napi.cc
void RegisterVppStats(Napi::Env env, Napi::Object exports);  // vpp_stats.cc
}  // namespace nsm

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsOpen", Napi::Function::New(env, nsm::NetnsOpen, "netnsOpen"));
  exports.Set("fdDup", Napi::Function::New(env, nsm::FdDup, "fdDup"));
  exports.Set("fdClose", Napi::Function::New(env, nsm::FdClose, "fdClose"));
  exports.Set("fdInode", Napi::Function::New(env, nsm::FdInode, "fdInode"));
  exports.Set("linkList", Napi::Function::New(env, nsm::LinkList, "linkList"));
  exports.Set("icmpEcho", Napi::Function::New(env, nsm::IcmpEcho, "icmpEcho"));
  exports.Set("nlExec", Napi::Function::New(env, nsm::NlExec, "nlExec"));
  exports.Set("fdsockInit", Napi::Function::New(env, nsm::FdsockInit, "fdsockInit"));
  exports.Set("fdsockAdopt", Napi::Function::New(env, nsm::FdsockAdopt, "fdsockAdopt"));
  exports.Set("fdsockWant", Napi::Function::New(env, nsm::FdsockWant, "fdsockWant"));
  exports.Set("fdsockSend", Napi::Function::New(env, nsm::FdsockSend, "fdsockSend"));
  exports.Set("fdsockShutdown", Napi::Function::New(env, nsm::FdsockShutdown, "fdsockShutdown"));
  exports.Set("fdsockClose", Napi::Function::New(env, nsm::FdsockClose, "fdsockClose"));
  exports.Set("fdOpenPath", Napi::Function::New(env, nsm::FdOpenPath, "fdOpenPath"));
  exports.Set("nlWatchOpen", Napi::Function::New(env, nsm::NlWatchOpen, "nlWatchOpen"));
  nsm::RegisterMemif(env, exports);
  nsm::RegisterVppStats(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nsm_native, Init)

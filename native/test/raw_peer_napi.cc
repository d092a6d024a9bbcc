// nsm_native_test: test-only addon (never loaded by src/). memifRawPeer speaks raw memif control
// messages over a unix socket so e2e tests can play a peer that breaks the handshake.
// Typed in test/helpers/raw-peer.ts.
#include <errno.h>
#include <napi.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

#include "nsm/js_error.h"
#include "nsm/memif.h"

namespace nsm {
namespace {

void Throw(Napi::Env env, const std::string& usage) {
  Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
}
std::string OptStr(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
}
double OptNum(const Napi::Object& o, const char* k, double def) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}
bool OptBool(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

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
    s.waitClose = OptBool(so, "waitClose");
    steps.push_back(std::move(s));
  }
  auto* w = new RawPeerWorker(env, OptStr(o, "socket"), OptStr(o, "role") == "server", std::move(steps),
                              static_cast<int>(OptNum(o, "timeoutMs", 2000)));
  w->Queue();
  return w->Promise();
}

}  // namespace
}  // namespace nsm

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("memifRawPeer", Napi::Function::New(env, nsm::RawPeer, "memifRawPeer"));
  return exports;
}
}  // namespace

NODE_API_MODULE(nsm_native_test, Init)

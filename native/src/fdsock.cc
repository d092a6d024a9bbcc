// fdsock: unix stream sockets that carry fds (SCM_RIGHTS) beside their bytes, for grpcfd.
//
// One I/O thread per process waits on every adopted socket with epoll (one-shot interest that JS
// re-arms), reads with recvmsg(MSG_CMSG_CLOEXEC) and posts bytes plus received fds to JS through
// one ThreadSafeFunction. Writes are non-blocking sendmsg calls on the JS thread; on EAGAIN JS
// asks for a "writable" event. A socket's fd is owned here from fdsockAdopt until fdsockClose;
// received fds are owned by JS from the moment the event reaches it (closed here if it never
// does). fds given to fdsockSend stay owned by the caller.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "nsm/js_error.h"
#include "nsm/unique_fd.h"

namespace nsm {
namespace {

constexpr uint32_t kWantRead = 1;
constexpr uint32_t kWantWrite = 2;
constexpr uint64_t kWakeId = 0;
constexpr size_t kMaxFdsPerMsg = 64;       // as upstream grpcfd: one cmsg of up to 64 fds per read
constexpr size_t kReadChunk = 64 * 1024;   // one recvmsg
constexpr size_t kReadBatch = 256 * 1024;  // bytes gathered before posting to JS

struct Event {
  uint32_t id = 0;
  std::vector<uint8_t> data;
  std::vector<int> fds;
  bool eof = false;
  bool writable = false;
  int err = 0;
};

struct Sock {
  int fd = -1;
  uint32_t want = 0;
  bool closing = false;
};

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
}

// Set by the env's cleanup hook: from then on no event may touch JS (node is tearing the
// environment down; napi calls fail and node-addon-api turns failures into C++ exceptions).
std::atomic<bool> g_envGone{false};

void Deliver(Napi::Env env, Napi::Function cb, std::nullptr_t*, Event* ev);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Event, Deliver>;

class Loop {
 public:
  static Loop* Get() {
    static Loop* loop = new Loop();  // lives for the process: the thread never stops
    return loop;
  }

  // JS thread. Returns false with errno set when epoll cannot be set up.
  bool Init(Napi::Env env, Napi::Function cb, std::string* what) {
    std::lock_guard<std::mutex> g(mu_);
    if (started_) {
      // a second init (another module instance) just replaces the callback target
      return true;
    }
    ep_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep_) return *what = "epoll_create1", false;
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) return *what = "eventfd", false;
    struct epoll_event e {};
    e.events = EPOLLIN;
    e.data.u64 = kWakeId;
    if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, wake_.get(), &e) != 0)
      return *what = "epoll_ctl(ADD eventfd)", false;
    tsfn_ = Tsfn::New(env, cb, "nsm:fdsock", 0, 1);
    tsfn_.Unref(env);
    napi_add_env_cleanup_hook(
        env, [](void*) { g_envGone.store(true, std::memory_order_release); }, nullptr);
    started_ = true;
    std::thread([this] { Run(); }).detach();
    return true;
  }

  // JS thread: takes ownership of fd. Returns the socket id, or 0 with errno.
  uint32_t Adopt(Napi::Env env, int fd, std::string* what) {
    std::lock_guard<std::mutex> g(mu_);
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return *what = "fcntl(O_NONBLOCK)", 0;
    uint32_t id = next_++;
    struct epoll_event e {};
    e.events = EPOLLONESHOT;
    e.data.u64 = id;
    if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &e) != 0) return *what = "epoll_ctl(ADD)", 0;
    socks_[id] = Sock{fd, 0, false};
    if (live_++ == 0) tsfn_.Ref(env);
    return id;
  }

  // JS thread: arm interest (adds to what is armed already).
  int Want(uint32_t id, uint32_t want) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = socks_.find(id);
    if (it == socks_.end() || it->second.closing) return EBADF;
    it->second.want |= want;
    return Arm(id, it->second);
  }

  int FdOf(uint32_t id) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = socks_.find(id);
    return it == socks_.end() || it->second.closing ? -1 : it->second.fd;
  }

  // JS thread: the I/O thread unregisters and closes the fd (it may be reading it right now).
  void Close(Napi::Env env, uint32_t id) {
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = socks_.find(id);
      if (it == socks_.end() || it->second.closing) return;
      it->second.closing = true;
      closing_.push_back(id);
      if (--live_ == 0) tsfn_.Unref(env);
    }
    uint64_t one = 1;
    ssize_t n = ::write(wake_.get(), &one, sizeof one);
    (void)n;
  }

 private:
  int Arm(uint32_t id, const Sock& s) {
    struct epoll_event e {};
    e.events = EPOLLONESHOT | EPOLLRDHUP;
    if (s.want & kWantRead) e.events |= EPOLLIN;
    if (s.want & kWantWrite) e.events |= EPOLLOUT;
    e.data.u64 = id;
    return ::epoll_ctl(ep_.get(), EPOLL_CTL_MOD, s.fd, &e) == 0 ? 0 : errno;
  }

  void Run() {
    struct epoll_event evs[64];
    std::vector<uint8_t> chunk(kReadChunk);
    for (;;) {
      int n = ::epoll_wait(ep_.get(), evs, 64, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // cannot happen with a valid epoll fd
      }
      for (int i = 0; i < n; ++i) {
        uint64_t id64 = evs[i].data.u64;
        if (id64 == kWakeId) {
          DrainCloses();
          continue;
        }
        uint32_t id = static_cast<uint32_t>(id64);
        uint32_t fired = evs[i].events;
        int fd = -1;
        bool rd = false, wr = false;
        {
          std::lock_guard<std::mutex> g(mu_);
          auto it = socks_.find(id);
          if (it == socks_.end() || it->second.closing) continue;
          Sock& s = it->second;
          bool bad = fired & (EPOLLHUP | EPOLLERR | EPOLLRDHUP);
          rd = (s.want & kWantRead) && (bad || (fired & EPOLLIN));
          wr = (s.want & kWantWrite) && (bad || (fired & EPOLLOUT));
          if (rd) s.want &= ~kWantRead;
          if (wr) s.want &= ~kWantWrite;
          if (s.want) Arm(id, s);  // one-shot: what did not fire stays armed
          fd = s.fd;
        }
        if (wr) {
          auto* ev = new Event();
          ev->id = id;
          ev->writable = true;
          Post(ev);
        }
        if (rd) Read(id, fd, chunk);
      }
    }
  }

  void Read(uint32_t id, int fd, std::vector<uint8_t>& chunk) {
    auto* ev = new Event();
    ev->id = id;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg)];
    while (ev->data.size() < kReadBatch) {
      struct iovec iov {
        chunk.data(), chunk.size()
      };
      struct msghdr msg {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      ssize_t r = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) ev->err = errno;
        break;
      }
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (size_t j = 0; j < k; ++j) {
          int got;
          std::memcpy(&got, p + j, sizeof got);
          ev->fds.push_back(got);
        }
      }
      if (msg.msg_flags & MSG_CTRUNC) ev->err = EMSGSIZE;  // the kernel closed fds that did not fit
      if (r == 0) {
        ev->eof = true;
        break;
      }
      ev->data.insert(ev->data.end(), chunk.data(), chunk.data() + r);
      if (ev->err) break;
    }
    if (ev->data.empty() && ev->fds.empty() && !ev->eof && !ev->err) {
      // woken for nothing (spurious): keep the read armed
      delete ev;
      std::lock_guard<std::mutex> g(mu_);
      auto it = socks_.find(id);
      if (it != socks_.end() && !it->second.closing) {
        it->second.want |= kWantRead;
        Arm(id, it->second);
      }
      return;
    }
    Post(ev);
  }

  void Post(Event* ev) {
    if (tsfn_.NonBlockingCall(ev) != napi_ok) {
      CloseAll(ev->fds);
      delete ev;
    }
  }

  void DrainCloses() {
    uint64_t v;
    while (::read(wake_.get(), &v, sizeof v) > 0) {
    }
    std::lock_guard<std::mutex> g(mu_);
    for (uint32_t id : closing_) {
      auto it = socks_.find(id);
      if (it == socks_.end()) continue;
      ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, it->second.fd, nullptr);
      ::close(it->second.fd);
      socks_.erase(it);
    }
    closing_.clear();
  }

  std::mutex mu_;
  bool started_ = false;
  UniqueFd ep_;
  UniqueFd wake_;
  Tsfn tsfn_;
  std::map<uint32_t, Sock> socks_;
  std::vector<uint32_t> closing_;
  uint32_t next_ = 1;
  uint32_t live_ = 0;
};

// JS thread: (id, data: Buffer | null, fds: number[], eof: boolean, writable: boolean, errno: number)
// Nothing may throw out of here (this runs from a C callback: an escaping exception aborts the
// process), so everything that touches napi sits inside the guard. Received fds belong to JS once
// the callback runs; until then they are closed here.
void Deliver(Napi::Env env, Napi::Function cb, std::nullptr_t*, Event* ev) {
  std::unique_ptr<Event> own(ev);
  if (env == nullptr || cb.IsEmpty() || g_envGone.load(std::memory_order_acquire)) {
    CloseAll(ev->fds);
    return;
  }
  bool handedOver = false;
  try {
    Napi::HandleScope scope(env);
    Napi::Value data = env.Null();
    if (!ev->data.empty()) {
      auto bytes = std::make_unique<std::vector<uint8_t>>(std::move(ev->data));
      uint8_t* p = bytes->data();
      size_t n = bytes->size();
      data = Napi::Buffer<uint8_t>::New(
          env, p, n, [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, bytes.get());
      bytes.release();  // the Buffer's finalizer owns it now
    }
    auto fds = Napi::Array::New(env, ev->fds.size());
    for (uint32_t i = 0; i < ev->fds.size(); ++i) fds[i] = Napi::Number::New(env, ev->fds[i]);
    std::initializer_list<napi_value> args = {Napi::Number::New(env, ev->id),
                                              data,
                                              fds,
                                              Napi::Boolean::New(env, ev->eof),
                                              Napi::Boolean::New(env, ev->writable),
                                              Napi::Number::New(env, ev->err)};
    handedOver = true;
    cb.Call(args);
  } catch (const Napi::Error& e) {
    if (!handedOver) {
      CloseAll(ev->fds);  // the env could not even build the event: it is going away
      return;
    }
    // the dispatcher threw: a bug in JS, surfaced as an uncaught exception unless the env is
    // stopping, in which case there is nobody left to tell
    try {
      if (!g_envGone.load(std::memory_order_acquire)) e.ThrowAsJavaScriptException();
    } catch (...) {
    }
  } catch (...) {
    if (!handedOver) CloseAll(ev->fds);
  }
}

void Throw(Napi::Env env, int err, const std::string& call, const std::string& what) {
  ToJsError(env, SysError{err, call, what, {}}).ThrowAsJavaScriptException();
}

}  // namespace

// fdsockInit(onEvent): starts the I/O thread once per process.
Napi::Value FdsockInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "fdsockInit(onEvent: Function)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string what;
  if (!Loop::Get()->Init(env, info[0].As<Napi::Function>(), &what)) Throw(env, errno, what, "fdsock loop");
  return env.Undefined();
}

// fdsockAdopt(fd) -> id: the socket fd becomes owned by the loop (closed by fdsockClose).
Napi::Value FdsockAdopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fdsockAdopt(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string what;
  uint32_t id = Loop::Get()->Adopt(env, fd, &what);
  if (id == 0) {
    Throw(env, errno, what, "fd " + std::to_string(fd));
    return env.Undefined();
  }
  return Napi::Number::New(env, id);
}

// fdsockWant(id, read, write): one "data"/"writable" event each, then JS re-arms.
Napi::Value FdsockWant(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "fdsockWant(id: number, read: boolean, write: boolean)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t want = (info[1].ToBoolean() ? kWantRead : 0) | (info[2].ToBoolean() ? kWantWrite : 0);
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  int err = Loop::Get()->Want(id, want);
  if (err) Throw(env, err, "epoll_ctl(MOD)", "fdsock " + std::to_string(id));
  return env.Undefined();
}

// fdsockSend(id, bytes, fds) -> bytes written (fds ride on the first byte), or -1 on EAGAIN.
Napi::Value FdsockSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "fdsockSend(id: number, bytes: Uint8Array, fds: number[])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto bytes = info[1].As<Napi::Uint8Array>();
  auto arr = info[2].As<Napi::Array>();
  if (arr.Length() > kMaxFdsPerMsg) {
    Napi::RangeError::New(env, "fdsockSend: at most 64 fds per message").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (arr.Length() > 0 && bytes.ElementLength() == 0) {
    Napi::RangeError::New(env, "fdsockSend: fds need at least one byte to ride on")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = Loop::Get()->FdOf(id);
  if (fd < 0) {
    Throw(env, EBADF, "sendmsg", "fdsock " + std::to_string(id) + " (closed)");
    return env.Undefined();
  }
  std::vector<int> fds(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) fds[i] = arr.Get(i).As<Napi::Number>().Int32Value();
  struct iovec iov {
    bytes.Data(), bytes.ElementLength()
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg)];
  if (!fds.empty()) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    Throw(env, errno, "sendmsg",
          "fdsock " + std::to_string(id) + " with " + std::to_string(fds.size()) + " fd(s)");
    return env.Undefined();
  }
}

// fdsockShutdown(id): no more writes (FIN); reads go on.
Napi::Value FdsockShutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info.Length() > 0 && info[0].IsNumber()
               ? Loop::Get()->FdOf(info[0].As<Napi::Number>().Uint32Value())
               : -1;
  if (fd >= 0 && ::shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN)
    Throw(env, errno, "shutdown(SHUT_WR)", "fd " + std::to_string(fd));
  return env.Undefined();
}

// fdsockClose(id): idempotent; the fd is closed by the I/O thread.
Napi::Value FdsockClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsNumber())
    Loop::Get()->Close(env, info[0].As<Napi::Number>().Uint32Value());
  return env.Undefined();
}

// fdOpenPath(path) -> fd opened O_PATH|O_CLOEXEC (what grpcfd sends for a file); caller owns it.
Napi::Value FdOpenPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "fdOpenPath(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    Throw(env, errno, "open(O_PATH)", path);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace nsm

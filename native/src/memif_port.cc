// MemifPort: one memif interface in either role. A control thread per port runs the control
// channel (handshake: memif_handshake.cc) in lock-step, owns the shared memory while the link is
// up and reconnects (slave) or accepts a new peer (master) after the link goes away. Data-path
// calls (RxBurst/TxBurst, Send/Recv; memif_ring.cc) run on the caller's thread under `mu_`.
// A peer that breaks the protocol, in the handshake or on the rings, is disconnected with the
// reason and counted in stats.peerErrors; the process is unharmed.
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nsm/memif_handshake.h"
#include "nsm/netns.h"

namespace nsm::memif {

namespace {

constexpr uint64_t kTagWake = 1, kTagListen = 2, kTagCtl = 3, kTagRx = 4;

std::string Errno(const char* call, int err) {
  return std::string(call) + ": " + strerror(err);
}

bool SendMsg(int fd, const Msg& m, int passFd = -1) {
  return SendWithFd(fd, m.b, kMsgSize, passFd, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(kMsgSize);
}

void Notify(int efd) {
  uint64_t one = 1;
  ssize_t r = ::write(efd, &one, sizeof(one));
  (void)r;  // EAGAIN: the counter is saturated, the reader is awake anyway
}

void Drain(int efd) {
  uint64_t v;
  ssize_t r = ::read(efd, &v, sizeof(v));
  (void)r;
}

void Watch(int ep, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = tag == kTagCtl ? EPOLLIN | EPOLLRDHUP : EPOLLIN;
  ev.data.u64 = tag;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// Master: a listening socket at `path`, replacing a socket file nobody listens on (a crash).
UniqueFd Listen(const std::string& path, SysError* err) {
  sockaddr_un sun;
  socklen_t len = MemifSockaddr(path, &sun);
  if (!len) return *err = SysError{ENAMETOOLONG, "bind", path, {}}, UniqueFd();
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) return *err = SysError{errno, "socket", path, {}}, UniqueFd();
  auto* sa = reinterpret_cast<sockaddr*>(&sun);
  if (::bind(s.get(), sa, len) != 0) {
    int e = errno;
    bool stale = false;
    if (e == EADDRINUSE && !IsAbstractSocket(path)) {
      UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
      struct stat st;
      stale = probe && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
              ::connect(probe.get(), sa, len) != 0 && errno == ECONNREFUSED;
    }
    if (!stale || ::unlink(path.c_str()) != 0 || ::bind(s.get(), sa, len) != 0)
      return *err = SysError{stale ? errno : e, "bind", path, {}}, UniqueFd();
  }
  if (::listen(s.get(), 8) != 0) return *err = SysError{errno, "listen", path, {}}, UniqueFd();
  return s;
}

}  // namespace

struct MemifPort::Ctl {
  UniqueFd fd;
  Handshake hs;
  Clock::time_point deadline;
  Ctl(UniqueFd f, const MemifConfig& cfg)
      : fd(std::move(f)),
        hs(cfg),
        deadline(Clock::now() + std::chrono::milliseconds(cfg.handshakeTimeoutMs)) {}
};

MemifPort::MemifPort(MemifConfig cfg, EventFn fn) : cfg_(std::move(cfg)), onEvent_(std::move(fn)) {}

MemifPort::~MemifPort() {
  Close();
}

std::shared_ptr<MemifPort> MemifPort::Open(MemifConfig cfg, EventFn onEvent, SysError* err) {
  auto p = std::make_shared<MemifPort>(std::move(cfg), std::move(onEvent));
  p->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!p->wake_) return *err = SysError{errno, "eventfd", {}, {}}, nullptr;
  p->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!p->epoll_) return *err = SysError{errno, "epoll_create1", {}, {}}, nullptr;
  const std::string& path = p->cfg_.socketPath;
  sockaddr_un sun;
  if (!MemifSockaddr(path, &sun)) return *err = SysError{ENAMETOOLONG, "bind", path, {}}, nullptr;
  if (p->cfg_.master) {
    // The socket (abstract names are per netns) is made inside the netns, off this thread.
    SysError inErr, listenErr;
    inErr =
        RunInNetns(p->cfg_.netns ? p->cfg_.netns.get() : -1, [&] { p->listen_ = Listen(path, &listenErr); });
    if (inErr || listenErr) return *err = inErr ? inErr : listenErr, nullptr;
    p->unlinkOnClose_ = !IsAbstractSocket(path);
  }
  Watch(p->epoll_.get(), p->wake_.get(), kTagWake);
  if (p->listen_) Watch(p->epoll_.get(), p->listen_.get(), kTagListen);
  MemifPort* raw = p.get();
  p->thread_ = std::thread([raw] { raw->Run(); });  // std::system_error reaches JS via the binding
  return p;
}

void MemifPort::Close() {
  {
    std::lock_guard<std::mutex> g(closeMu_);
    if (closed_) return;
    closed_ = true;
  }
  stop_.store(true);
  if (wake_) Notify(wake_.get());
  if (thread_.joinable()) thread_.join();
  listen_.reset();
  if (unlinkOnClose_) ::unlink(cfg_.socketPath.c_str());
  epoll_.reset();
  wake_.reset();
}

void MemifPort::Wake() {
  if (wake_) Notify(wake_.get());
}

MemifInfo MemifPort::Info() {
  std::lock_guard<std::mutex> g(infoMu_);
  return info_;
}

// ---------------------------------------------------------------------------------------------
// Control thread.

void MemifPort::Run() {
  // A dedicated thread: the slave enters its netns once and never needs to come back.
  if (!cfg_.master && cfg_.netns && ::setns(cfg_.netns.get(), CLONE_NEWNET) != 0)
    netnsErr_ = SysError{errno, "setns", "memif netns", {}};
  nextConnect_ = Clock::now();
  try {
    Loop();
  } catch (const std::exception& e) {  // bad_alloc and friends: end the link, never abort node
    if (ctl_) Teardown(std::string("internal error: ") + e.what(), true, true);
    SetInfo(false, std::string("control thread stopped: ") + e.what());
    return;
  }
  if (ctl_) Teardown("Device closed", true, false);
}

void MemifPort::Loop() {
  const int ep = epoll_.get();
  while (!stop_.load()) {
    if (!cfg_.master && !ctl_ && Clock::now() >= nextConnect_) TryConnect();
    if (ctl_ && ctl_->hs.state() != Handshake::kUp && Clock::now() >= ctl_->deadline)
      Refuse("Handshake timeout");
    WatchRx();
    epoll_event evs[8];
    int n = ::epoll_wait(ep, evs, 8, PollTimeout());
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n && !stop_.load(); ++i) {
      switch (evs[i].data.u64) {
        case kTagWake:
          Drain(wake_.get());
          CheckViolation();
          break;
        case kTagListen:
          Accept();
          break;
        case kTagCtl:
          if (ctl_) OnCtlReadable(evs[i].events);
          break;
        case kTagRx:
          OnRxEvent();
          break;
      }
    }
  }
}

int MemifPort::PollTimeout() const {
  int timeout = -1;
  auto until = [&](Clock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count() + 1;
    int v = static_cast<int>(std::max<int64_t>(0, ms));
    timeout = timeout < 0 ? v : std::min(timeout, v);
  };
  if (ctl_ && ctl_->hs.state() != Handshake::kUp) until(ctl_->deadline);
  if (!cfg_.master && !ctl_) until(nextConnect_);
  return timeout;
}

void MemifPort::SetInfo(bool up, const std::string& reason) {
  std::lock_guard<std::mutex> g(infoMu_);
  info_.up = up;
  if (!reason.empty()) info_.lastReason = reason;
  if (up && conn_) {
    info_.peerName = conn_->peerName;
    info_.peerIfName = conn_->peerIf;
    info_.ringSize = conn_->ringSize;
    info_.bufferSize = cfg_.bufferSize;
    info_.regions = static_cast<uint32_t>(conn_->regions.size());
  }
}

// Ends the control connection: optional DISCONNECT, unmap, close fds, link down.
void MemifPort::Teardown(const std::string& reason, bool sendDisconnect, bool emit) {
  if (rxWatched_ >= 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, rxWatched_, nullptr);
  rxWatched_ = -1;  // before close: the peer holds the same eventfd, so close alone won't unregister
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, ctl_->fd.get(), nullptr);
  if (sendDisconnect) SendMsg(ctl_->fd.get(), MakeDisconnect(0, reason));
  const bool wasUp = ctl_->hs.state() == Handshake::kUp;
  std::unique_ptr<Conn> old;
  if (wasUp) {
    std::lock_guard<std::mutex> g(mu_);
    old = std::move(conn_);
    gen_.fetch_add(1, std::memory_order_acq_rel);
    stats.disconnects.fetch_add(1, std::memory_order_relaxed);
  }
  ctl_.reset();
  old.reset();
  SetInfo(false, reason);
  if (emit && onEvent_) onEvent_(MemifEvent{MemifEvent::kDown, reason, wasUp, {}, {}, 0, 0, 0});
  if (!cfg_.master) nextConnect_ = Clock::now() + std::chrono::milliseconds(cfg_.reconnectMs);
}

void MemifPort::Refuse(const std::string& reason) {
  stats.peerErrors.fetch_add(1, std::memory_order_relaxed);
  Teardown(reason, true, true);
}

void MemifPort::GoUp() {
  {
    std::lock_guard<std::mutex> g(mu_);
    conn_ = ctl_->hs.TakeConn();
    violationSent_.store(false);
    gen_.fetch_add(1, std::memory_order_acq_rel);
  }
  stats.connects.fetch_add(1, std::memory_order_relaxed);
  SetInfo(true, "");
  if (onEvent_) {
    MemifInfo i = Info();
    onEvent_(
        MemifEvent{MemifEvent::kUp, {}, true, i.peerName, i.peerIfName, i.ringSize, i.bufferSize, i.regions});
  }
}

void MemifPort::TryConnect() {
  nextConnect_ = Clock::now() + std::chrono::milliseconds(cfg_.reconnectMs);
  if (netnsErr_) return SetInfo(false, netnsErr_.Message());
  sockaddr_un sun;
  socklen_t len = MemifSockaddr(cfg_.socketPath, &sun);
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0)
    return SetInfo(false, Errno("connect", errno));
  ctl_ = std::make_unique<Ctl>(std::move(s), cfg_);
  Watch(epoll_.get(), ctl_->fd.get(), kTagCtl);
}

void MemifPort::Accept() {
  for (;;) {
    UniqueFd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!c) return;
    if (ctl_) {
      SendMsg(c.get(), MakeDisconnect(0, "Already connected"));
      continue;
    }
    auto ctl = std::make_unique<Ctl>(std::move(c), cfg_);
    if (!SendMsg(ctl->fd.get(), ctl->hs.Hello())) continue;
    ctl_ = std::move(ctl);
    Watch(epoll_.get(), ctl_->fd.get(), kTagCtl);
  }
}

void MemifPort::OnCtlReadable(uint32_t events) {
  for (;;) {
    Msg m;
    UniqueFd fd;
    bool trunc = false;
    ssize_t n = RecvMsg(ctl_->fd.get(), &m, &fd, &trunc);
    if (n == 0) return Teardown("peer closed the control channel", false, true);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Teardown(Errno("recvmsg", errno), false, true);
    }
    if (n != static_cast<ssize_t>(kMsgSize) || trunc) return Refuse("Invalid message size");
    std::vector<Handshake::Out> out;
    std::string reason;
    Handshake::Verdict v = ctl_->hs.OnMessage(m, std::move(fd), &out, &reason);
    if (v == Handshake::kPeerDisconnect) return Teardown(reason, false, true);
    if (v == Handshake::kRefuse) return Refuse(reason);
    for (const Handshake::Out& o : out)
      if (!SendMsg(ctl_->fd.get(), o.msg, o.fd)) return Teardown(Errno("sendmsg", errno), false, true);
    if (v == Handshake::kLinkUp) GoUp();
  }
  if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) Teardown("peer closed the control channel", false, true);
}

// rx events for JS: only in interrupt mode, and not while a forwarder owns the port.
void MemifPort::WatchRx() {
  int want = -1;
  if (ctl_ && ctl_->hs.state() == Handshake::kUp && cfg_.interrupt && !attached.load()) {
    Conn* c = conn_.get();  // only this thread replaces conn_
    want = (cfg_.master ? c->s2m[0] : c->m2s[0]).efd.get();
  }
  if (want == rxWatched_) return;
  if (rxWatched_ >= 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, rxWatched_, nullptr);
  rxWatched_ = -1;
  if (want >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagRx;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, want, &ev) == 0) rxWatched_ = want;
  }
}

void MemifPort::OnRxEvent() {
  if (rxWatched_ < 0) return;
  Drain(rxWatched_);
  if (!rxPending_.exchange(true) && onEvent_)
    onEvent_(MemifEvent{MemifEvent::kRx, {}, true, {}, {}, 0, 0, 0});
}

// The data path found a ring violation: disconnect the peer with that reason.
void MemifPort::CheckViolation() {
  std::string why;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (conn_) why = conn_->violation;
  }
  if (!why.empty() && ctl_ && ctl_->hs.state() == Handshake::kUp) Refuse(why);
}

// ---------------------------------------------------------------------------------------------
// Data path (caller's thread, under mu_).

void MemifPort::SignalViolation() {
  if (conn_ && !conn_->violation.empty() && !violationSent_.exchange(true)) Notify(wake_.get());
}

int MemifPort::RxLocked(Burst* b, int max) {
  if (!conn_) return b->Clear(), 0;
  int n = RingRx(*conn_, b, max, stats);
  SignalViolation();
  return n;
}

void MemifPort::RxDoneLocked() {
  if (conn_) RingRxDone(*conn_);
}

int MemifPort::TxLocked(const Burst& b) {
  if (!conn_) {
    if (b.n) stats.txDrops.fetch_add(b.n, std::memory_order_relaxed);
    return 0;
  }
  int n = RingTx(*conn_, b, stats);
  SignalViolation();
  return n;
}

}  // namespace nsm::memif

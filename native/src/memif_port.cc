// MemifPort: one memif interface in either role. A control thread per port runs the control
// channel (docs/memif.md) in lock-step, owns the shared memory while the link is up and
// reconnects (slave) or accepts a new peer (master) after the link goes away. Data-path calls
// (RxBurst/TxBurst, Send/Recv) run on the caller's thread under `mu_`.
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <optional>

#include "nsm/memif.h"
#include "nsm/netns.h"

namespace nsm::memif {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kTagWake = 1, kTagListen = 2, kTagCtl = 3, kTagRx = 4;
constexpr uint64_t kMaxRegionSize = uint64_t{1} << 32;  // descriptor offsets are u32

// An mmap'ed range; unmapped once.
class Mapping {
 public:
  Mapping() = default;
  Mapping(uint8_t* base, size_t size) : base_(base), size_(size) {}
  ~Mapping() { reset(); }
  Mapping(Mapping&& o) noexcept : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  void reset() {
    if (base_) ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
  }
  uint8_t* base() const { return base_; }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

std::string Errno(const char* call, int err) {
  return std::string(call) + ": " + strerror(err);
}

bool SendMsg(int fd, const Msg& m, int passFd = -1) {
  return SendWithFd(fd, m.b, kMsgSize, passFd, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(kMsgSize);
}

// One datagram: >0 its size (*trunc if it was longer than 128), 0 EOF, -1 error (errno).
// The first passed fd lands in *fd; any others are closed.
ssize_t RecvMsg(int sock, Msg* m, UniqueFd* fd, bool* trunc) {
  iovec iov{m->b, kMsgSize};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  ssize_t n;
  do n = ::recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int f;
      memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (!*fd)
        fd->reset(f);
      else
        ::close(f);
    }
  }
  *trunc = (mh.msg_flags & MSG_TRUNC) != 0;
  return n;
}

void Notify(int efd) {
  uint64_t one = 1;
  ssize_t r = ::write(efd, &one, sizeof(one));
  (void)r;  // EAGAIN: the counter is saturated, the peer is awake anyway
}

void Drain(int efd) {
  uint64_t v;
  ssize_t r = ::read(efd, &v, sizeof(v));
  (void)r;
}

// Copies a packet's segments out sequentially.
struct SegCursor {
  const Burst& b;
  int seg, end;
  uint32_t off = 0;
  size_t Copy(uint8_t* dst, size_t cap) {
    size_t done = 0;
    while (done < cap && seg < end) {
      const Seg& s = b.segs[seg];
      size_t n = std::min<size_t>(cap - done, s.len - off);
      memcpy(dst + done, s.data + off, n);
      done += n;
      off += n;
      if (off == s.len) {
        ++seg;
        off = 0;
      }
    }
    return done;
  }
};

}  // namespace

ssize_t SendWithFd(int sock, const uint8_t* buf, size_t len, int passFd, int flags) {
  iovec iov{const_cast<uint8_t*>(buf), len};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (passFd >= 0) {
    memset(cbuf, 0, sizeof(cbuf));
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passFd, sizeof(int));
  }
  ssize_t n;
  do n = ::sendmsg(sock, &mh, flags);
  while (n < 0 && errno == EINTR);
  return n;
}

socklen_t MemifSockaddr(const std::string& path, void* out) {
  auto* sun = static_cast<sockaddr_un*>(out);
  memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  std::string name;
  bool abstract = false;
  if (path.rfind("abstract:", 0) == 0)
    name = path.substr(9), abstract = true;
  else if (!path.empty() && path[0] == '@')
    name = path.substr(1), abstract = true;
  else
    name = path;
  if (abstract) {
    // No trailing NUL, no padding: DPDK and VPP use exactly offsetof + 1 + strlen.
    if (name.size() + 1 > sizeof(sun->sun_path)) return 0;
    memcpy(sun->sun_path + 1, name.data(), name.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  }
  if (name.empty() || name.size() + 1 > sizeof(sun->sun_path)) return 0;
  memcpy(sun->sun_path, name.data(), name.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
}

static bool IsAbstract(const std::string& p) {
  return p.rfind("abstract:", 0) == 0 || (!p.empty() && p[0] == '@');
}

// ---------------------------------------------------------------------------------------------
// Shared memory of one connection.

struct Region {
  UniqueFd fd;
  uint64_t size = 0;
  Mapping map;
};

struct Queue {
  uint8_t* ring = nullptr;
  UniqueFd efd;
  uint8_t log2 = 0;
  uint16_t region = 0;
  uint32_t offset = 0;
  uint64_t bufOff = 0;   // slave only: offset of this ring's fixed buffers in region 0
  uint16_t last = 0;     // consumer position (rx)
  uint16_t pending = 0;  // rx: consumed by the current burst, published on RxDone
  uint16_t prod = 0;     // producer position (tx; slave refill head)
};

struct Conn {
  std::vector<Region> regions;
  std::vector<Queue> s2m, m2s;
  std::string peerName, peerIf;
  uint32_t ringSize = 0;
};

struct MemifPort::Ctl {
  enum State { kWaitHello, kWaitAck, kWaitConnected, kWaitInit, kSetup, kUp };
  UniqueFd fd;
  State state;
  std::unique_ptr<Conn> conn = std::make_unique<Conn>();
  std::vector<std::pair<Msg, int>> out;  // slave: queued messages (fd borrowed from conn)
  size_t next = 0;
  Clock::time_point deadline;
  std::string peerName;
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
  socklen_t len = MemifSockaddr(path, &sun);
  if (!len) return *err = SysError{ENAMETOOLONG, "bind", path, {}}, nullptr;
  if (p->cfg_.master) {
    {
      std::optional<NetnsGuard> in;
      if (p->cfg_.netns) {
        in.emplace(p->cfg_.netns.get());
        if (!in->ok()) return *err = in->error(), nullptr;
      }
      p->listen_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    }
    if (!p->listen_) return *err = SysError{errno, "socket", path, {}}, nullptr;
    if (::bind(p->listen_.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) {
      int e = errno;
      // A socket file nobody listens on is left over from a crash: replace it.
      bool stale = false;
      if (e == EADDRINUSE && !IsAbstract(path)) {
        UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        struct stat st;
        stale = probe && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
                ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0 && errno == ECONNREFUSED;
      }
      if (!stale || ::unlink(path.c_str()) != 0 ||
          ::bind(p->listen_.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) {
        return *err = SysError{stale ? errno : e, "bind", path, {}}, nullptr;
      }
    }
    p->unlinkOnClose_ = !IsAbstract(path);
    if (::listen(p->listen_.get(), 8) != 0) return *err = SysError{errno, "listen", path, {}}, nullptr;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagWake;
  ::epoll_ctl(p->epoll_.get(), EPOLL_CTL_ADD, p->wake_.get(), &ev);
  if (p->listen_) {
    ev.data.u64 = kTagListen;
    ::epoll_ctl(p->epoll_.get(), EPOLL_CTL_ADD, p->listen_.get(), &ev);
  }
  MemifPort* raw = p.get();
  p->thread_ = std::thread([raw] { raw->Run(); });
  return p;
}

void MemifPort::Close() {
  {
    std::lock_guard<std::mutex> g(closeMu_);
    if (closed_) return;
    closed_ = true;
  }
  stop_.store(true);
  Notify(wake_.get());
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
  std::unique_ptr<Ctl> ctl;
  int rxWatched = -1;
  int ep = epoll_.get();
  Clock::time_point nextConnect = Clock::now();
  const bool master = cfg_.master;

  auto setInfo = [&](bool up, const std::string& reason) {
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
  };

  auto unwatchRx = [&] {
    if (rxWatched >= 0) ::epoll_ctl(ep, EPOLL_CTL_DEL, rxWatched, nullptr);
    rxWatched = -1;
  };

  // Ends the control connection: optional DISCONNECT, unmap, close fds, link down.
  auto teardown = [&](const std::string& reason, bool sendDisconnect, bool emit) {
    unwatchRx();  // before close: the peer holds the same eventfd, so close alone won't unregister
    ::epoll_ctl(ep, EPOLL_CTL_DEL, ctl->fd.get(), nullptr);
    if (sendDisconnect) SendMsg(ctl->fd.get(), MakeDisconnect(0, reason));
    bool wasUp = ctl->state == Ctl::kUp;
    std::unique_ptr<Conn> old;
    if (wasUp) {
      std::lock_guard<std::mutex> g(mu_);
      old = std::move(conn_);
      gen_.fetch_add(1, std::memory_order_acq_rel);
      stats.disconnects.fetch_add(1, std::memory_order_relaxed);
    }
    ctl.reset();
    old.reset();
    setInfo(false, reason);
    if (emit && onEvent_) {
      MemifEvent e{MemifEvent::kDown, reason, wasUp, {}, {}, 0, 0, 0};
      onEvent_(e);
    }
    if (!master) nextConnect = Clock::now() + std::chrono::milliseconds(cfg_.reconnectMs);
  };
  auto refuse = [&](const std::string& reason) { teardown(reason, true, true); };

  auto goUp = [&] {
    {
      std::lock_guard<std::mutex> g(mu_);
      conn_ = std::move(ctl->conn);
      gen_.fetch_add(1, std::memory_order_acq_rel);
    }
    ctl->state = Ctl::kUp;
    stats.connects.fetch_add(1, std::memory_order_relaxed);
    setInfo(true, "");
    if (onEvent_) {
      MemifInfo i = Info();
      MemifEvent e{MemifEvent::kUp, {}, true, i.peerName, i.peerIfName, i.ringSize, i.bufferSize, i.regions};
      onEvent_(e);
    }
  };

  auto tryConnect = [&] {
    sockaddr_un sun;
    socklen_t len = MemifSockaddr(cfg_.socketPath, &sun);
    UniqueFd s;
    {
      std::optional<NetnsGuard> in;
      if (cfg_.netns) {
        in.emplace(cfg_.netns.get());
        if (!in->ok()) {
          setInfo(false, in->error().Message());
          nextConnect = Clock::now() + std::chrono::milliseconds(cfg_.reconnectMs);
          return;
        }
      }
      s.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    }
    if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) {
      setInfo(false, Errno("connect", errno));
      nextConnect = Clock::now() + std::chrono::milliseconds(cfg_.reconnectMs);
      return;
    }
    ctl = std::make_unique<Ctl>();
    ctl->fd = std::move(s);
    ctl->state = Ctl::kWaitHello;
    ctl->deadline = Clock::now() + std::chrono::milliseconds(cfg_.handshakeTimeoutMs);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = kTagCtl;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, ctl->fd.get(), &ev);
  };

  auto accept = [&] {
    for (;;) {
      UniqueFd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!c) return;
      if (ctl) {
        SendMsg(c.get(), MakeDisconnect(0, "Already connected"));
        continue;
      }
      ctl = std::make_unique<Ctl>();
      ctl->fd = std::move(c);
      ctl->state = Ctl::kWaitInit;
      ctl->deadline = Clock::now() + std::chrono::milliseconds(cfg_.handshakeTimeoutMs);
      // We use one ring per direction: advertise max index 0 so the slave offers exactly one.
      if (!SendMsg(ctl->fd.get(), MakeHello(cfg_.name, 255, 0, 0, kMaxLog2Ring))) {
        ctl.reset();
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = kTagCtl;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, ctl->fd.get(), &ev);
    }
  };

  // Slave: builds region 0 (rings + buffers) and the eventfds; returns "" or why not.
  auto buildSlave = [&](uint8_t log2) -> std::string {
    Conn& c = *ctl->conn;
    const uint64_t R = uint64_t{1} << log2, B = cfg_.bufferSize, ringsz = RingBytes(log2);
    const uint64_t bufOff = 2 * ringsz, size = bufOff + 2 * R * B;
    if (size > kMaxRegionSize) return "Region too large";
    Region rg;
    rg.fd.reset(::memfd_create("memif_region_0", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!rg.fd) return Errno("memfd_create", errno);
    if (::ftruncate(rg.fd.get(), static_cast<off_t>(size)) != 0) return Errno("ftruncate", errno);
    ::fcntl(rg.fd.get(), F_ADD_SEALS, F_SEAL_SHRINK);
    void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, rg.fd.get(), 0);
    if (base == MAP_FAILED) return Errno("mmap", errno);
    rg.map = Mapping(static_cast<uint8_t*>(base), size);
    rg.size = size;
    for (int g = 0; g < 2; ++g) {
      Queue q;
      q.ring = rg.map.base() + g * ringsz;
      q.log2 = log2;
      q.offset = static_cast<uint32_t>(g * ringsz);
      q.bufOff = bufOff + g * R * B;
      q.efd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      if (!q.efd) return Errno("eventfd", errno);
      SetRingCookie(q.ring, kCookie);
      SetRingFlags(q.ring, 0);
      StoreHead(q.ring, 0);
      StoreTail(q.ring, 0);
      Desc* d = Descs(q.ring);
      for (uint64_t j = 0; j < R; ++j)
        d[j] = Desc{0, 0, static_cast<uint32_t>(B), static_cast<uint32_t>(q.bufOff + j * B), 0};
      (g == 0 ? c.s2m : c.m2s).push_back(std::move(q));
    }
    c.regions.push_back(std::move(rg));
    c.ringSize = static_cast<uint32_t>(R);
    return "";
  };

  // Master, on CONNECT: map regions, check rings; returns "" or why not.
  auto mapMaster = [&]() -> std::string {
    Conn& c = *ctl->conn;
    if (c.regions.empty() || c.s2m.empty() || c.m2s.empty()) return "Missing regions or rings";
    for (Region& r : c.regions) {
      void* base = ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd.get(), 0);
      if (base == MAP_FAILED) return Errno("mmap", errno);
      r.map = Mapping(static_cast<uint8_t*>(base), r.size);
    }
    for (auto* list : {&c.s2m, &c.m2s}) {
      for (Queue& q : *list) {
        q.ring = c.regions[q.region].map.base() + q.offset;
        if (RingCookie(q.ring) != kCookie) return "Wrong ring cookie";
        StoreHead(q.ring, 0);  // as DPDK does: both counters restart at 0 on connect
        StoreTail(q.ring, 0);
      }
    }
    SetRingFlags(c.s2m[0].ring, cfg_.interrupt ? 0 : kRingFlagMaskInt);
    c.ringSize = 1u << c.s2m[0].log2;
    return "";
  };

  auto handleMaster = [&](const Msg& m, UniqueFd& fd) {
    uint16_t t = m.Type();
    if (ctl->state == Ctl::kWaitInit) {
      if (t != kMsgInit) return refuse("Unexpected message");
      if (m.U16(2) != kVersion) return refuse("Incompatible memif version");
      if (m.U32(4) != cfg_.id) return refuse("ID not found");
      if (m.U8(8) != cfg_.mode)
        return refuse(cfg_.mode == kModeEthernet ? "Only ethernet mode supported" : "Mode mismatch");
      std::string secret = m.Str(9, kSecretSize);
      if (!cfg_.secret.empty() && secret.empty()) return refuse("Secret required");
      if (!cfg_.secret.empty() && secret != cfg_.secret) return refuse("Incorrect secret");
      ctl->conn->peerName = m.Str(33, kNameSize);
      ctl->state = Ctl::kSetup;
      if (!SendMsg(ctl->fd.get(), MakeAck())) return teardown(Errno("sendmsg", errno), false, true);
      return;
    }
    if (ctl->state != Ctl::kSetup) return refuse("Unexpected message");
    Conn& c = *ctl->conn;
    if (t == kMsgAddRegion) {
      if (!fd) return refuse("Missing region fd");
      uint16_t index = m.U16(2);
      uint64_t size = m.U64(4);
      if (index != c.regions.size() || index > 255) return refuse("Invalid region index");
      if (size == 0 || size > kMaxRegionSize) return refuse("Invalid region size");
      struct stat st;
      if (::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) < size)
        return refuse("Region size exceeds its fd");
      // Mapped memory the peer could shrink would SIGBUS us: insist on (or add) F_SEAL_SHRINK.
      int seals = ::fcntl(fd.get(), F_GET_SEALS);
      if (seals >= 0 && !(seals & F_SEAL_SHRINK) && ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
        return refuse("Region not sealed against shrinking");
      }
      Region r;
      r.fd = std::move(fd);
      r.size = size;
      c.regions.push_back(std::move(r));
    } else if (t == kMsgAddRing) {
      if (!fd) return refuse("Missing interrupt fd");
      uint16_t flags = m.U16(2), index = m.U16(4), region = m.U16(6);
      uint32_t offset = m.U32(8);
      uint8_t log2 = m.U8(12);
      auto& list = (flags & kAddRingFlagS2M) ? c.s2m : c.m2s;
      if (index != list.size() || index >= 1) return refuse("Invalid ring index");
      if (region >= c.regions.size()) return refuse("Invalid ring region");
      if (log2 == 0 || log2 > kMaxLog2Ring) return refuse("Invalid ring size");
      if (m.U16(13) != 0) return refuse("Private header not supported");
      if (offset % 8 != 0 || uint64_t{offset} + RingBytes(log2) > c.regions[region].size)
        return refuse("Ring outside its region");
      Queue q;
      q.efd = std::move(fd);
      q.log2 = log2;
      q.region = region;
      q.offset = offset;
      list.push_back(std::move(q));
    } else if (t == kMsgConnect) {
      c.peerIf = m.Str(2, kNameSize);
      std::string why = mapMaster();
      if (!why.empty()) return refuse(why);
      if (!SendMsg(ctl->fd.get(), MakeConnected(cfg_.ifName)))
        return teardown(Errno("sendmsg", errno), false, true);
      return goUp();
    } else if (t == kMsgNone || t > kMsgDisconnect) {
      return refuse("Unknown message type");
    } else {
      return refuse("Unexpected message");
    }
    if (!SendMsg(ctl->fd.get(), MakeAck())) teardown(Errno("sendmsg", errno), false, true);
  };

  auto sendNext = [&] {
    auto& [msg, passFd] = ctl->out[ctl->next++];
    if (!SendMsg(ctl->fd.get(), msg, passFd)) return teardown(Errno("sendmsg", errno), false, true);
    ctl->state = ctl->next == ctl->out.size() ? Ctl::kWaitConnected : Ctl::kWaitAck;
  };

  auto handleSlave = [&](const Msg& m) {
    uint16_t t = m.Type();
    if (ctl->state == Ctl::kWaitHello) {
      if (t != kMsgHello) return refuse("Unexpected message");
      if (HelloMinVersion(m) > kVersion || HelloMaxVersion(m) < kVersion)
        return refuse("Incompatible memif version");
      uint8_t log2 = std::min(cfg_.log2Ring, HelloMaxLog2(m));
      if (log2 == 0) return refuse("Invalid ring size");
      ctl->conn->peerName = m.Str(2, kNameSize);
      std::string why = buildSlave(log2);
      if (!why.empty()) return refuse(why);
      Conn& c = *ctl->conn;
      ctl->out.emplace_back(MakeInit(cfg_.id, cfg_.mode, cfg_.secret, cfg_.name), -1);
      ctl->out.emplace_back(MakeAddRegion(0, c.regions[0].size), c.regions[0].fd.get());
      ctl->out.emplace_back(MakeAddRing(kAddRingFlagS2M, 0, 0, c.s2m[0].offset, log2), c.s2m[0].efd.get());
      ctl->out.emplace_back(MakeAddRing(0, 0, 0, c.m2s[0].offset, log2), c.m2s[0].efd.get());
      ctl->out.emplace_back(MakeConnect(cfg_.ifName), -1);
      return sendNext();
    }
    if (ctl->state == Ctl::kWaitAck) {
      if (t != kMsgAck) return refuse("Unexpected message");
      return sendNext();
    }
    if (ctl->state == Ctl::kWaitConnected) {
      if (t != kMsgConnected) return refuse("Unexpected message");
      Conn& c = *ctl->conn;
      c.peerIf = m.Str(2, kNameSize);
      // Start the M2S refill only now: a DPDK master resets every ring on CONNECT.
      Queue& rx = c.m2s[0];
      SetRingFlags(rx.ring, cfg_.interrupt ? 0 : kRingFlagMaskInt);
      const uint16_t R = static_cast<uint16_t>(1u << rx.log2);
      Desc* d = Descs(rx.ring);
      for (uint16_t j = 0; j < R; ++j) {
        d[j] =
            Desc{0, 0, cfg_.bufferSize, static_cast<uint32_t>(rx.bufOff + uint64_t{j} * cfg_.bufferSize), 0};
      }
      rx.prod = R;
      StoreHead(rx.ring, R);
      return goUp();
    }
    refuse("Unexpected message");
  };

  auto handleCtl = [&](uint32_t events) {
    for (;;) {
      Msg m;
      UniqueFd fd;
      bool trunc = false;
      ssize_t n = RecvMsg(ctl->fd.get(), &m, &fd, &trunc);
      if (n == 0) return teardown("peer closed the control channel", false, true);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return teardown(Errno("recvmsg", errno), false, true);
      }
      if (n != static_cast<ssize_t>(kMsgSize) || trunc) return refuse("Invalid message size");
      if (m.Type() == kMsgDisconnect) {
        return teardown("peer disconnected: " + m.Str(6, kReasonSize), false, true);
      }
      if (ctl->state == Ctl::kUp) return refuse("Unexpected message");
      if (master)
        handleMaster(m, fd);
      else
        handleSlave(m);
      if (!ctl) return;
    }
    if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) teardown("peer closed the control channel", false, true);
  };

  while (!stop_.load()) {
    Clock::time_point now = Clock::now();
    if (!master && !ctl && now >= nextConnect) tryConnect();
    if (ctl && ctl->state != Ctl::kUp && now >= ctl->deadline) refuse("Handshake timeout");

    // rx events for JS: only in interrupt mode, and not while a forwarder owns the port.
    int want = -1;
    if (ctl && ctl->state == Ctl::kUp && cfg_.interrupt && !attached.load()) {
      Conn* c = conn_.get();  // only this thread replaces conn_
      want = (master ? c->s2m[0] : c->m2s[0]).efd.get();
    }
    if (want != rxWatched) {
      unwatchRx();
      if (want >= 0) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = kTagRx;
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, want, &ev) == 0) rxWatched = want;
      }
    }

    int timeout = -1;
    auto until = [&](Clock::time_point t) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count() + 1;
      int v = static_cast<int>(std::max<int64_t>(0, ms));
      timeout = timeout < 0 ? v : std::min(timeout, v);
    };
    if (ctl && ctl->state != Ctl::kUp) until(ctl->deadline);
    if (!master && !ctl) until(nextConnect);

    epoll_event evs[8];
    int n = ::epoll_wait(ep, evs, 8, timeout);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n && !stop_.load(); ++i) {
      switch (evs[i].data.u64) {
        case kTagWake:
          Drain(wake_.get());
          break;
        case kTagListen:
          accept();
          break;
        case kTagCtl:
          if (ctl) handleCtl(evs[i].events);
          break;
        case kTagRx:
          if (rxWatched >= 0) {
            Drain(rxWatched);
            if (!rxPending_.exchange(true) && onEvent_)
              onEvent_(MemifEvent{MemifEvent::kRx, {}, true, {}, {}, 0, 0, 0});
          }
          break;
      }
    }
  }
  if (ctl) teardown("Device closed", true, false);
}

// ---------------------------------------------------------------------------------------------
// Data path (caller's thread, under mu_).

int MemifPort::RxLocked(Burst* b, int max) {
  b->Clear();
  Conn* c = conn_.get();
  if (!c) return 0;
  const bool master = cfg_.master;
  Queue& q = master ? c->s2m[0] : c->m2s[0];
  uint8_t* r = q.ring;
  const uint16_t mask = static_cast<uint16_t>((1u << q.log2) - 1);
  Desc* d = Descs(r);
  const uint16_t end = master ? LoadHead(r) : LoadTail(r);
  const uint32_t B = cfg_.bufferSize;
  uint8_t* base0 = c->regions[0].map.base();
  uint16_t cur = q.last;
  uint64_t bytes = 0, errors = 0;
  max = std::min(max, Burst::kMaxPkts);
  while (cur != end && b->n < max) {
    const uint16_t start = cur;
    const int segStart = b->nseg;
    uint32_t plen = 0;
    bool ok = true, complete = false, full = false;
    while (cur != end) {
      const uint16_t slot = cur & mask;
      Desc x = ReadDesc(&d[slot]);
      ++cur;
      const uint8_t* p = nullptr;
      uint32_t len = 0;
      if (master) {
        // The slave's descriptors may point into any of its regions: check before touching.
        if (x.region >= c->regions.size() || uint64_t{x.offset} + x.length > c->regions[x.region].size)
          ok = false;
        else
          p = c->regions[x.region].map.base() + x.offset, len = x.length;
      } else {
        p = base0 + q.bufOff + uint64_t{slot} * B;  // our own fixed buffer, whatever the desc says
        len = std::min(x.length, B);
      }
      if (ok) {
        if (b->nseg >= Burst::kMaxSegs) {
          full = true;
          break;
        }
        b->segs[b->nseg++] = Seg{p, len};
        plen += len;
      }
      if (!(x.flags & kDescFlagNext)) {
        complete = true;
        break;
      }
    }
    if (full || !complete) {  // retry this packet in the next burst
      cur = start;
      b->nseg = segStart;
      break;
    }
    if (!ok) {
      b->nseg = segStart;
      ++errors;
      continue;
    }
    b->len[b->n] = plen;
    b->first[++b->n] = static_cast<uint16_t>(b->nseg);
    bytes += plen;
  }
  q.pending = cur;
  if (b->n) {
    stats.rxPackets.fetch_add(b->n, std::memory_order_relaxed);
    stats.rxBytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  if (errors) stats.rxErrors.fetch_add(errors, std::memory_order_relaxed);
  return b->n;
}

void MemifPort::RxDoneLocked() {
  Conn* c = conn_.get();
  if (!c) return;
  if (cfg_.master) {
    Queue& q = c->s2m[0];
    if (q.pending == q.last) return;
    const uint16_t mask = static_cast<uint16_t>((1u << q.log2) - 1);
    Desc* d = Descs(q.ring);
    // DPDK 22.11 never clears a reused first descriptor's NEXT bit: clear it while we own the slot.
    for (uint16_t i = q.last; i != q.pending; ++i) __atomic_store_n(&d[i & mask].flags, 0, __ATOMIC_RELAXED);
    StoreTail(q.ring, q.pending);
    q.last = q.pending;
    return;
  }
  Queue& q = c->m2s[0];
  q.last = q.pending;
  // Refill: hand every consumed slot back to the master with its fixed buffer and full length.
  const uint16_t R = static_cast<uint16_t>(1u << q.log2), mask = R - 1;
  Desc* d = Descs(q.ring);
  uint16_t head = q.prod;
  uint16_t free = static_cast<uint16_t>(R - static_cast<uint16_t>(head - q.last));
  if (!free) return;
  const uint32_t B = cfg_.bufferSize;
  for (uint16_t i = 0; i < free; ++i, ++head) {
    const uint16_t slot = head & mask;
    d[slot] = Desc{0, 0, B, static_cast<uint32_t>(q.bufOff + uint64_t{slot} * B), 0};
  }
  StoreHead(q.ring, head);
  q.prod = head;
}

int MemifPort::TxLocked(const Burst& b) {
  Conn* c = conn_.get();
  if (!c) {
    if (b.n) stats.txDrops.fetch_add(b.n, std::memory_order_relaxed);
    return 0;
  }
  const bool master = cfg_.master;
  Queue& q = master ? c->m2s[0] : c->s2m[0];
  uint8_t* r = q.ring;
  const uint16_t R = static_cast<uint16_t>(1u << q.log2), mask = R - 1;
  Desc* d = Descs(r);
  int sent = 0;
  uint64_t bytes = 0;
  if (!master) {
    const uint32_t B = cfg_.bufferSize;
    uint8_t* base0 = c->regions[0].map.base();
    uint16_t head = q.prod;
    uint16_t free = static_cast<uint16_t>(R - static_cast<uint16_t>(head - LoadTail(r)));
    for (int i = 0; i < b.n; ++i) {
      const uint32_t len = b.len[i];
      const uint32_t need = len == 0 ? 1 : (len + B - 1) / B;
      if (need > free) break;
      SegCursor cur{b, b.first[i], b.first[i + 1]};
      for (uint32_t k = 0; k < need; ++k, ++head) {
        const uint16_t slot = head & mask;
        const uint64_t off = q.bufOff + uint64_t{slot} * B;
        size_t n = cur.Copy(base0 + off, B);
        d[slot] = Desc{static_cast<uint16_t>(k + 1 < need ? kDescFlagNext : 0), 0, static_cast<uint32_t>(n),
                       static_cast<uint32_t>(off), 0};
      }
      free = static_cast<uint16_t>(free - need);
      ++sent;
      bytes += len;
    }
    if (sent) StoreHead(r, head);
    q.prod = head;
  } else {
    uint16_t tail = q.prod;
    uint16_t avail = static_cast<uint16_t>(LoadHead(r) - tail);
    for (int i = 0; i < b.n; ++i) {
      const uint16_t start = tail;
      const uint16_t startAvail = avail;
      uint32_t remaining = b.len[i];
      SegCursor cur{b, b.first[i], b.first[i + 1]};
      bool ok = true;
      do {
        if (!avail) {
          ok = false;
          break;
        }
        const uint16_t slot = tail & mask;
        Desc x = ReadDesc(&d[slot]);
        // Capacity is what the slave posted; it must stay inside the slave's region.
        if (x.region >= c->regions.size() || x.length == 0 ||
            uint64_t{x.offset} + x.length > c->regions[x.region].size) {
          stats.rxErrors.fetch_add(1, std::memory_order_relaxed);
          ok = false;
          break;
        }
        size_t n = cur.Copy(c->regions[x.region].map.base() + x.offset, std::min(remaining, x.length));
        remaining -= static_cast<uint32_t>(n);
        __atomic_store_n(&d[slot].length, static_cast<uint32_t>(n), __ATOMIC_RELAXED);
        __atomic_store_n(&d[slot].flags, static_cast<uint16_t>(remaining ? kDescFlagNext : 0),
                         __ATOMIC_RELAXED);
        ++tail;
        --avail;
      } while (remaining > 0);
      if (!ok) {
        tail = start;
        avail = startAvail;
        break;
      }
      ++sent;
      bytes += b.len[i];
    }
    if (sent) StoreTail(r, tail);
    q.prod = tail;
  }
  if (sent && !(RingFlags(r) & kRingFlagMaskInt)) Notify(q.efd.get());
  if (sent) {
    stats.txPackets.fetch_add(sent, std::memory_order_relaxed);
    stats.txBytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  if (b.n > sent) stats.txDrops.fetch_add(b.n - sent, std::memory_order_relaxed);
  return sent;
}

int MemifPort::RxBurst(Burst* b, int max) {
  rxLock_ = std::unique_lock<std::mutex>(mu_);
  int n = RxLocked(b, max);
  if (!n) {
    RxDoneLocked();
    rxLock_.unlock();
  }
  return n;
}

void MemifPort::RxDone() {
  if (!rxLock_.owns_lock()) return;
  RxDoneLocked();
  rxLock_.unlock();
}

int MemifPort::TxBurst(const Burst& b) {
  std::lock_guard<std::mutex> g(mu_);
  return TxLocked(b);
}

void MemifPort::WaitFds(std::vector<WaitFd>* fds) {
  std::lock_guard<std::mutex> g(mu_);
  if (!conn_ || !cfg_.interrupt) return;
  int fd = (cfg_.master ? conn_->s2m[0] : conn_->m2s[0]).efd.get();
  fds->push_back(WaitFd{UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)), true});
}

int MemifPort::Send(const std::vector<std::pair<const uint8_t*, size_t>>& pkts) {
  auto b = std::make_unique<Burst>();
  int sent = 0;
  size_t i = 0;
  while (i < pkts.size()) {
    b->Clear();
    size_t j = i;
    for (; j < pkts.size() && b->n < Burst::kMaxPkts; ++j) {
      b->segs[b->nseg++] = Seg{pkts[j].first, static_cast<uint32_t>(pkts[j].second)};
      b->len[b->n] = static_cast<uint32_t>(pkts[j].second);
      b->first[++b->n] = static_cast<uint16_t>(b->nseg);
    }
    int n;
    {
      std::lock_guard<std::mutex> g(mu_);
      n = TxLocked(*b);
    }
    sent += n;
    if (n < b->n) {
      // Ring full: the rest of this call is dropped too, and counted.
      if (j < pkts.size()) stats.txDrops.fetch_add(pkts.size() - j, std::memory_order_relaxed);
      break;
    }
    i = j;
  }
  return sent;
}

void MemifPort::Recv(int max, std::vector<std::vector<uint8_t>>* out) {
  rxPending_.store(false);  // before reading: a packet arriving after this raises a new event
  auto b = std::make_unique<Burst>();
  std::lock_guard<std::mutex> g(mu_);
  while (static_cast<int>(out->size()) < max) {
    int n = RxLocked(b.get(), max - static_cast<int>(out->size()));
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> pkt;
      pkt.reserve(b->len[i]);
      for (int s = b->first[i]; s < b->first[i + 1]; ++s)
        pkt.insert(pkt.end(), b->segs[s].data, b->segs[s].data + b->segs[s].len);
      out->push_back(std::move(pkt));
    }
    RxDoneLocked();
    if (n == 0) break;
  }
}

}  // namespace nsm::memif

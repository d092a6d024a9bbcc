// The native forwarding loop (Forwarder) and the non-memif ports it can cross-connect:
// FdPort (AF_PACKET socket on a link, or a tap device) and NullPort (benchmark sink/source).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nsm/memif.h"
#include "nsm/netns.h"

namespace nsm::memif {

namespace {
constexpr size_t kFrame = 9216;  // largest frame an FdPort moves (jumbo)
}

// ---------------------------------------------------------------------------------------------
// FdPort

namespace {
// The socket or tap fd for an FdPort, made in the current thread's netns.
UniqueFd OpenPortFd(FdPort::Kind kind, const std::string& ifname, SysError* err) {
  if (kind == FdPort::kAfPacket) {
    UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
    if (!fd) return *err = SysError{errno, "socket(AF_PACKET)", ifname, {}}, UniqueFd();
    unsigned idx = if_nametoindex(ifname.c_str());
    if (!idx) return *err = SysError{errno, "if_nametoindex", ifname, {}}, UniqueFd();
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(idx);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0)
      return *err = SysError{errno, "bind(AF_PACKET)", ifname, {}}, UniqueFd();
    int one = 1;  // we must not receive what we send
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0)
      return *err = SysError{errno, "setsockopt(PACKET_IGNORE_OUTGOING)", ifname, {}}, UniqueFd();
    return fd;
  }
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return *err = SysError{errno, "open", "/dev/net/tun", {}}, UniqueFd();
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
    return *err = SysError{errno, "TUNSETIFF", ifname, {}}, UniqueFd();
  return fd;
}
}  // namespace

std::shared_ptr<FdPort> FdPort::Open(Kind kind, const std::string& ifname, int nsFd, SysError* err) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    return *err = SysError{EINVAL, "validate", ifname, {}}, nullptr;
  auto p = std::make_shared<FdPort>();
  // Made inside the netns on a thread of its own: the JS thread never changes its netns.
  SysError openErr;
  SysError inErr = RunInNetns(nsFd, [&] { p->fd_ = OpenPortFd(kind, ifname, &openErr); });
  if (inErr || openErr) return *err = inErr ? inErr : openErr, nullptr;
  p->buf_.resize(Burst::kMaxPkts * kFrame);
  p->gather_.resize(kFrame);
  return p;
}

void FdPort::Close() {
  std::lock_guard<std::mutex> g(mu_);
  fd_.reset();
}

int FdPort::RxBurst(Burst* b, int max) {
  b->Clear();
  std::lock_guard<std::mutex> g(mu_);
  if (!fd_) return 0;
  max = std::min(max, Burst::kMaxPkts);
  uint64_t bytes = 0;
  while (b->n < max) {
    uint8_t* dst = buf_.data() + static_cast<size_t>(b->n) * kFrame;
    ssize_t n = ::read(fd_.get(), dst, kFrame);
    if (n <= 0) break;  // EAGAIN: nothing more now
    b->segs[b->nseg++] = Seg{dst, static_cast<uint32_t>(n)};
    b->len[b->n] = static_cast<uint32_t>(n);
    b->first[++b->n] = static_cast<uint16_t>(b->nseg);
    bytes += static_cast<uint64_t>(n);
  }
  if (b->n) {
    stats.rxPackets.fetch_add(b->n, std::memory_order_relaxed);
    stats.rxBytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  return b->n;
}

int FdPort::TxBurst(const Burst& b) {
  std::lock_guard<std::mutex> g(mu_);
  int sent = 0;
  uint64_t bytes = 0;
  for (int i = 0; i < b.n && fd_; ++i) {
    const uint8_t* p;
    size_t len = b.len[i];
    if (b.first[i + 1] - b.first[i] == 1) {
      p = b.segs[b.first[i]].data;
    } else {
      // Each segment is checked against the room left, whatever the burst's total says.
      size_t off = 0;
      bool fits = len <= gather_.size();
      for (int s = b.first[i]; fits && s < b.first[i + 1]; ++s) {
        const size_t n = b.segs[s].len;
        if (n > gather_.size() - off) {
          fits = false;
          break;
        }
        memcpy(gather_.data() + off, b.segs[s].data, n);
        off += n;
      }
      if (!fits || off != len) continue;  // counted in txDrops
      p = gather_.data();
    }
    if (::write(fd_.get(), p, len) == static_cast<ssize_t>(len)) {
      ++sent;
      bytes += len;
    }
  }
  if (sent) {
    stats.txPackets.fetch_add(sent, std::memory_order_relaxed);
    stats.txBytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  if (b.n > sent) stats.txDrops.fetch_add(b.n - sent, std::memory_order_relaxed);
  return sent;
}

void FdPort::WaitFds(std::vector<WaitFd>* fds) {
  std::lock_guard<std::mutex> g(mu_);
  if (fd_) fds->push_back(WaitFd{UniqueFd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 3)), false});
}

// ---------------------------------------------------------------------------------------------
// NullPort

NullPort::NullPort(uint32_t frameLen) {
  if (!frameLen) return;
  frame_.assign(std::max<uint32_t>(frameLen, 60), 0);
  uint8_t* f = frame_.data();
  // Ethernet broadcast from a locally administered MAC, IPv4/UDP 198.18.0.1 -> 198.18.0.2:9.
  static const uint8_t hdr[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
  memcpy(f, hdr, sizeof(hdr));
  uint8_t* ip = f + 14;
  uint16_t ipLen = static_cast<uint16_t>(frame_.size() - 14);
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>(ipLen >> 8), ip[3] = static_cast<uint8_t>(ipLen);
  ip[8] = 64, ip[9] = 17;
  ip[12] = 198, ip[13] = 18, ip[14] = 0, ip[15] = 1;
  ip[16] = 198, ip[17] = 18, ip[18] = 0, ip[19] = 2;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t cs = static_cast<uint16_t>(~sum);
  ip[10] = static_cast<uint8_t>(cs >> 8), ip[11] = static_cast<uint8_t>(cs);
  uint8_t* udp = ip + 20;
  uint16_t udpLen = static_cast<uint16_t>(ipLen - 20);
  udp[0] = 0x04, udp[1] = 0x00, udp[3] = 9;
  udp[4] = static_cast<uint8_t>(udpLen >> 8), udp[5] = static_cast<uint8_t>(udpLen);
}

int NullPort::RxBurst(Burst* b, int max) {
  b->Clear();
  if (frame_.empty()) return 0;
  max = std::min(max, Burst::kMaxPkts);
  for (int i = 0; i < max; ++i) {
    b->segs[b->nseg++] = Seg{frame_.data(), static_cast<uint32_t>(frame_.size())};
    b->len[b->n] = static_cast<uint32_t>(frame_.size());
    b->first[++b->n] = static_cast<uint16_t>(b->nseg);
  }
  stats.rxPackets.fetch_add(b->n, std::memory_order_relaxed);
  stats.rxBytes.fetch_add(uint64_t{frame_.size()} * b->n, std::memory_order_relaxed);
  return b->n;
}

int NullPort::TxBurst(const Burst& b) {
  uint64_t bytes = 0;
  for (int i = 0; i < b.n; ++i) bytes += b.len[i];
  stats.txPackets.fetch_add(b.n, std::memory_order_relaxed);
  stats.txBytes.fetch_add(bytes, std::memory_order_relaxed);
  return b.n;
}

// ---------------------------------------------------------------------------------------------
// Forwarder

Forwarder::Forwarder(std::shared_ptr<PacketPort> a, std::shared_ptr<PacketPort> b, bool busyPoll, int cpu)
    : a_(std::move(a)), b_(std::move(b)), busy_(busyPoll), cpu_(cpu) {
  stopFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this] { Run(); });
}

Forwarder::~Forwarder() {
  Stop();
}

void Forwarder::Stop() {
  if (joined_) return;
  stop_.store(true);
  uint64_t one = 1;
  ssize_t r = ::write(stopFd_.get(), &one, sizeof(one));
  (void)r;
  if (thread_.joinable()) thread_.join();
  joined_ = true;
}

ForwardStats Forwarder::Stats() const {
  return ForwardStats{aToB_.load(), bToA_.load(), drops_.load(), wakeups_.load()};
}

int Forwarder::Step(PacketPort* from, PacketPort* to, Burst* burst, std::atomic<uint64_t>* count) {
  int n = from->RxBurst(burst, Burst::kMaxPkts);
  if (!n) return 0;
  int sent = to->TxBurst(*burst);
  from->RxDone();
  count->fetch_add(n, std::memory_order_relaxed);
  if (sent < n) drops_.fetch_add(n - sent, std::memory_order_relaxed);
  return n;
}

void Forwarder::Run() {
  try {
    Loop();
  } catch (const std::exception&) {  // bad_alloc: stop forwarding rather than abort node
    stopped_.store(true);
  }
}

void Forwarder::Loop() {
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  auto burst = std::make_unique<Burst>();
  UniqueFd ep;
  uint64_t genA = ~uint64_t{0}, genB = ~uint64_t{0};
  std::vector<PacketPort::WaitFd> fds;
  int idle = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    int moved = Step(a_.get(), b_.get(), burst.get(), &aToB_) + Step(b_.get(), a_.get(), burst.get(), &bToA_);
    if (moved || busy_) {
      idle = 0;
      continue;
    }
    if (++idle < 64) continue;  // a short spin catches back-to-back bursts without a syscall
    // Interrupt mode: sleep on the rx eventfds / sockets; rebuild the set after a reconnect.
    if (!ep || genA != a_->Generation() || genB != b_->Generation()) {
      genA = a_->Generation();
      genB = b_->Generation();
      ep.reset();  // before closing the old dups it watches
      fds.clear();
      a_->WaitFds(&fds);
      b_->WaitFds(&fds);
      ep.reset(::epoll_create1(EPOLL_CLOEXEC));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = 0;
      ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, stopFd_.get(), &ev);
      for (size_t i = 0; i < fds.size(); ++i) {
        ev.data.u64 = i + 1;  // 0 = stop
        if (fds[i].fd) ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fds[i].fd.get(), &ev);
      }
    }
    epoll_event evs[8];
    // Bounded wait: a polling-mode peer never signals, and a reconnect changes the fds.
    int n = ::epoll_wait(ep.get(), evs, 8, 20);
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
      uint64_t k = evs[i].data.u64;
      if (k == 0 || k > fds.size() || !fds[k - 1].drain) continue;
      uint64_t v;
      ssize_t r = ::read(fds[k - 1].fd.get(), &v, sizeof(v));
      (void)r;
    }
    idle = 0;
  }
}

}  // namespace nsm::memif

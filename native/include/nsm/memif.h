// memif ports and the native forwarding loop (docs/memif.md). No Napi here: the control
// threads and forwarders below run without JS; memif_napi.cc binds them to JS.
//
// A PacketPort moves bursts of packets: RxBurst() hands out read-only views (valid until RxDone()),
// TxBurst() copies packets in. Implementations: MemifPort (either role), FdPort (AF_PACKET socket
// or tap fd) and NullPort (drop sink / frame generator, for benchmarks).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nsm/memif_proto.h"
#include "nsm/sys_error.h"
#include "nsm/unique_fd.h"

namespace nsm::memif {

// A burst of packet views: packet i is segments [first[i], first[i+1]).
struct Seg {
  const uint8_t* data;
  uint32_t len;
};
struct Burst {
  static constexpr int kMaxPkts = 64;
  static constexpr int kMaxSegs = 256;
  Seg segs[kMaxSegs];
  uint16_t first[kMaxPkts + 1] = {0};
  uint32_t len[kMaxPkts] = {0};
  int n = 0;
  int nseg = 0;
  void Clear() {
    n = 0;
    nseg = 0;
    first[0] = 0;
  }
};

struct PortStats {
  std::atomic<uint64_t> rxPackets{0}, rxBytes{0}, txPackets{0}, txBytes{0};
  std::atomic<uint64_t> txDrops{0};   // ring full or no link when sending
  std::atomic<uint64_t> rxErrors{0};  // descriptors pointing outside the peer's regions
  std::atomic<uint64_t> connects{0}, disconnects{0};
};

class PacketPort {
 public:
  virtual ~PacketPort() = default;
  // Up to `max` packets as views; the caller must call RxDone() before the next RxBurst().
  virtual int RxBurst(Burst* b, int max) = 0;
  virtual void RxDone() = 0;
  // Copies packets; returns how many were accepted (the rest are counted in txDrops).
  virtual int TxBurst(const Burst& b) = 0;
  // fds that become readable when RxBurst() may have work (interrupt mode); may be empty.
  // Each is a dup the caller owns (so a reconnect can't swap the file under it). `drain`: an
  // eventfd the waiter must read to re-arm (memif); otherwise RxBurst consumes the data.
  struct WaitFd {
    UniqueFd fd;
    bool drain;
  };
  virtual void WaitFds(std::vector<WaitFd>* fds) = 0;
  // Changes whenever WaitFds() would change (a memif reconnect).
  virtual uint64_t Generation() const { return 0; }
  virtual void Close() {}
  // Claimed by at most one forwarder; JS burst calls are refused while set.
  std::atomic<bool> attached{false};
  PortStats stats;
};

struct MemifConfig {
  bool master = false;
  std::string socketPath;  // file path, or "@name" / "abstract:name" for the abstract namespace
  uint32_t id = 0;
  uint8_t log2Ring = 10;
  uint32_t bufferSize = 2048;
  bool interrupt = true;  // false: polling (MASK_INT set on our rx ring)
  uint8_t mode = kModeEthernet;
  std::string secret;
  std::string name = "nsm-ts";  // HELLO / INIT name
  std::string ifName = "memif0";
  uint32_t reconnectMs = 1000;         // slave: delay between connection attempts
  uint32_t handshakeTimeoutMs = 3000;  // either side: peer silent mid-handshake
  UniqueFd netns;                      // create the socket in this netns (optional)
};

struct MemifEvent {
  enum Kind { kUp, kDown, kRx } kind;
  std::string reason;  // kDown: why ("peer closed", the peer's DISCONNECT text, our refusal)
  bool wasUp = false;  // kDown: whether the link had reached up
  std::string peerName, peerIfName;
  uint32_t ringSize = 0, bufferSize = 0, regions = 0;
};

struct MemifInfo {
  bool up = false;
  std::string peerName, peerIfName, lastReason;
  uint32_t ringSize = 0, bufferSize = 0, regions = 0;
};

struct Conn;  // one live control connection's shared memory (memif_port.cc)

class MemifPort : public PacketPort, public std::enable_shared_from_this<MemifPort> {
 public:
  using EventFn = std::function<void(const MemifEvent&)>;
  // Master: binds and listens now (errors returned here). Slave: connects in the background.
  static std::shared_ptr<MemifPort> Open(MemifConfig cfg, EventFn onEvent, SysError* err);
  ~MemifPort() override;
  MemifPort(const MemifPort&) = delete;
  MemifPort& operator=(const MemifPort&) = delete;

  // Sends DISCONNECT if connected, tears down, joins the control thread. Idempotent.
  void Close() override;

  int RxBurst(Burst* b, int max) override;
  void RxDone() override;
  int TxBurst(const Burst& b) override;
  void WaitFds(std::vector<WaitFd>* fds) override;
  uint64_t Generation() const override { return gen_.load(std::memory_order_acquire); }

  // JS-thread helpers (take the data lock per call).
  int Send(const std::vector<std::pair<const uint8_t*, size_t>>& pkts);
  void Recv(int max, std::vector<std::vector<uint8_t>>* out);
  MemifInfo Info();
  // Forwarder attach: the control thread stops watching rx eventfds while attached.
  void Wake();

  explicit MemifPort(MemifConfig cfg, EventFn fn);  // use Open()

 private:
  struct Ctl;
  void Run();
  int RxLocked(Burst* b, int max);
  void RxDoneLocked();
  int TxLocked(const Burst& b);

  MemifConfig cfg_;
  EventFn onEvent_;
  UniqueFd listen_;  // master only
  bool unlinkOnClose_ = false;
  UniqueFd wake_;  // eventfd: Close() / Wake()
  UniqueFd epoll_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex closeMu_;
  bool closed_ = false;

  std::mutex mu_;                        // guards conn_ and ring shadows (data path)
  std::unique_ptr<Conn> conn_;           // set while up
  std::unique_lock<std::mutex> rxLock_;  // held between RxBurst and RxDone
  std::atomic<uint64_t> gen_{0};
  std::atomic<bool> rxPending_{false};  // an rx event is queued and not yet consumed by Recv

  std::mutex infoMu_;
  MemifInfo info_;
  friend struct Ctl;
};

// AF_PACKET socket bound to a link, or a tap device (IFF_TAP | IFF_NO_PI), optionally in a netns.
class FdPort : public PacketPort {
 public:
  enum Kind { kAfPacket, kTap };
  static std::shared_ptr<FdPort> Open(Kind kind, const std::string& ifname, int nsFd, SysError* err);
  int RxBurst(Burst* b, int max) override;
  void RxDone() override {}
  int TxBurst(const Burst& b) override;
  void WaitFds(std::vector<WaitFd>* fds) override;
  void Close() override;

 private:
  std::mutex mu_;
  UniqueFd fd_;
  std::vector<uint8_t> buf_;  // Burst::kMaxPkts frames of kFrame bytes
  std::vector<uint8_t> gather_;
};

// Benchmark peer: drops whatever is sent to it; when `frameLen` > 0, RxBurst() yields an endless
// stream of that many-byte Ethernet/IPv4/UDP frames (like testpmd txonly).
class NullPort : public PacketPort {
 public:
  explicit NullPort(uint32_t frameLen);
  int RxBurst(Burst* b, int max) override;
  void RxDone() override {}
  int TxBurst(const Burst& b) override;
  void WaitFds(std::vector<WaitFd>*) override {}

 private:
  std::vector<uint8_t> frame_;
};

struct ForwardStats {
  uint64_t aToB = 0, bToA = 0, drops = 0, wakeups = 0;
};

// Cross-connects two ports on its own thread: a.rx -> b.tx and b.rx -> a.tx, no JS per packet.
// busyPoll: spin forever (one core); otherwise spin briefly then sleep on the ports' rx fds.
class Forwarder {
 public:
  Forwarder(std::shared_ptr<PacketPort> a, std::shared_ptr<PacketPort> b, bool busyPoll, int cpu);
  ~Forwarder();
  void Stop();  // idempotent; joins
  ForwardStats Stats() const;

 private:
  void Run();
  int Step(PacketPort* from, PacketPort* to, Burst* burst, std::atomic<uint64_t>* count);
  std::shared_ptr<PacketPort> a_, b_;
  bool busy_;
  int cpu_;
  UniqueFd stopFd_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> aToB_{0}, bToA_{0}, drops_{0}, wakeups_{0};
  std::thread thread_;
  bool joined_ = false;
};

// Fills sockaddr_un for a memif socket name ("@x"/"abstract:x" = abstract). Returns the length
// to pass to bind/connect, or 0 if the name is too long.
socklen_t MemifSockaddr(const std::string& path, void* sun);

// Sends one datagram of `len` bytes on a SOCK_SEQPACKET socket, with `passFd` as SCM_RIGHTS
// when >= 0 (the caller keeps its fd). Retries EINTR; returns what sendmsg returned (errno set).
ssize_t SendWithFd(int sock, const uint8_t* buf, size_t len, int passFd, int flags);

}  // namespace nsm::memif

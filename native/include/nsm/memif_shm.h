// The shared memory of one memif connection and the checked ring data path over it. Everything
// the peer can write (region sizes, ring indices, descriptors) is untrusted: it is read once,
// checked in 64-bit arithmetic against our region and our destination, and a violation ends
// the connection with a reason (see docs/native.md). No threads, no sockets: the fuzz targets
// drive these functions directly.
#pragma once
#include <sys/mman.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nsm/memif.h"

namespace nsm::memif {

constexpr uint64_t kMaxRegionSize = uint64_t{1} << 32;         // descriptor offsets are u32
constexpr uint64_t kMaxTotalRegionBytes = uint64_t{16} << 30;  // all regions of one peer
constexpr uint64_t kMaxPacketBytes = uint64_t{1} << 20;        // one packet over a whole chain
constexpr int kMaxChain = 256;                                 // descriptors per packet

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

struct Region {
  UniqueFd fd;
  uint64_t size = 0;  // checked against the sealed fd before it is mapped
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
  bool master = false;
  uint32_t bufferSize = 0;
  std::string violation;  // set once the peer broke the ring protocol; the data path stops
};

// Master: takes a region fd the slave sent. Seals it against shrinking *before* reading its
// size, so the size we map can never shrink under us (SIGBUS); an fd that cannot be sealed
// (not a memfd) is refused. Returns "" or the reason to refuse.
std::string AdoptRegion(Conn& c, UniqueFd fd, uint16_t index, uint64_t size);
// Master, on CONNECT: maps the regions and finds the rings; returns "" or why not.
std::string MapMasterRegions(Conn& c, bool interrupt);
// Slave: builds region 0 (two rings + their fixed buffers) and the eventfds; "" or why not.
std::string BuildSlaveRegion(Conn& c, uint8_t log2, uint32_t bufferSize);
// Slave, on CONNECTED: posts every rx buffer to the master.
void StartSlaveRefill(Conn& c, bool interrupt);

// Ring data path (caller holds the port's data lock). A peer violation sets c.violation and
// counts in stats; the functions then move nothing until the connection is replaced.
int RingRx(Conn& c, Burst* b, int max, PortStats& stats);
void RingRxDone(Conn& c);
int RingTx(Conn& c, const Burst& b, PortStats& stats);

}  // namespace nsm::memif

// Shared memory of one memif connection: the slave builds region 0 (rings + fixed buffers); the
// master adopts the slave's region fds, seals them, checks their size and maps them on CONNECT.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsm/memif_shm.h"

namespace nsm::memif {

namespace {
std::string Errno(const char* call, int err) {
  return std::string(call) + ": " + strerror(err);
}
}  // namespace

std::string AdoptRegion(Conn& c, UniqueFd fd, uint16_t index, uint64_t size) {
  if (!fd) return "Missing region fd";
  if (index != c.regions.size() || index > 255) return "Invalid region index";
  if (size == 0 || size > kMaxRegionSize) return "Invalid region size";
  uint64_t total = size;
  for (const Region& r : c.regions) total += r.size;
  if (total > kMaxTotalRegionBytes) return "Regions too large";
  // Seal first, then read the size: a peer shrinking the file between the two would SIGBUS us.
  // Only memfds (and shmem) carry seals; any other fd could shrink at any time: refused.
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0) return "Region fd cannot be sealed (not a memfd)";
  if (!(seals & F_SEAL_SHRINK) && ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0)
    return "Region fd cannot be sealed against shrinking";
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      static_cast<uint64_t>(st.st_size) < size)
    return "Region size exceeds its fd";
  Region r;
  r.fd = std::move(fd);
  r.size = size;
  c.regions.push_back(std::move(r));
  return "";
}

std::string MapMasterRegions(Conn& c, bool interrupt) {
  if (c.regions.empty() || c.s2m.empty() || c.m2s.empty()) return "Missing regions or rings";
  for (Region& r : c.regions) {
    void* base = ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd.get(), 0);
    if (base == MAP_FAILED) return Errno("mmap", errno);
    r.map = Mapping(static_cast<uint8_t*>(base), r.size);
  }
  for (auto* list : {&c.s2m, &c.m2s}) {
    for (Queue& q : *list) {
      q.ring = c.regions[q.region].map.base() + q.offset;  // ADD_RING checked it fits
      if (RingCookie(q.ring) != kCookie) return "Wrong ring cookie";
      StoreHead(q.ring, 0);  // as DPDK does: both counters restart at 0 on connect
      StoreTail(q.ring, 0);
    }
  }
  SetRingFlags(c.s2m[0].ring, interrupt ? 0 : kRingFlagMaskInt);
  c.ringSize = 1u << c.s2m[0].log2;
  return "";
}

std::string BuildSlaveRegion(Conn& c, uint8_t log2, uint32_t bufferSize) {
  const uint64_t R = uint64_t{1} << log2, B = bufferSize, ringsz = RingBytes(log2);
  const uint64_t bufOff = 2 * ringsz, size = bufOff + 2 * R * B;
  if (size > kMaxRegionSize) return "Region too large";
  Region rg;
  rg.fd.reset(::memfd_create("memif_region_0", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!rg.fd) return Errno("memfd_create", errno);
  if (::ftruncate(rg.fd.get(), static_cast<off_t>(size)) != 0) return Errno("ftruncate", errno);
  if (::fcntl(rg.fd.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0) return Errno("fcntl(F_ADD_SEALS)", errno);
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
  c.bufferSize = bufferSize;
  return "";
}

void StartSlaveRefill(Conn& c, bool interrupt) {
  // Start the M2S refill only now: a DPDK master resets every ring on CONNECT.
  Queue& rx = c.m2s[0];
  SetRingFlags(rx.ring, interrupt ? 0 : kRingFlagMaskInt);
  const uint16_t R = static_cast<uint16_t>(1u << rx.log2);
  Desc* d = Descs(rx.ring);
  for (uint16_t j = 0; j < R; ++j)
    d[j] = Desc{0, 0, c.bufferSize, static_cast<uint32_t>(rx.bufOff + uint64_t{j} * c.bufferSize), 0};
  rx.prod = R;
  StoreHead(rx.ring, R);
}

}  // namespace nsm::memif

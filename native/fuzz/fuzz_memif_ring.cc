// libFuzzer target: the memif ring data path (nsm/memif_shm.h) over peer-written rings. The
// input becomes the shared region (ring headers, descriptors, buffers) of a connection in
// either role; we then run rx and tx bursts as the forwarder would. ASan/UBSan catch any access
// outside the region or the burst; the asserts check the limits the data path promises.
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <cstring>

#include "nsm/memif_shm.h"

using namespace nsm;
using namespace nsm::memif;

namespace {
constexpr uint8_t kLog2 = 5;
constexpr uint32_t kR = 1u << kLog2, kBuf = 256;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const bool master = data[0] & 1;
  const uint64_t ringsz = RingBytes(kLog2), bufOff = 2 * ringsz;
  const uint64_t regionSize = bufOff + 2 * uint64_t{kR} * kBuf;
  void* base = ::mmap(nullptr, regionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return 0;
  Conn c;
  c.master = master;
  c.bufferSize = kBuf;
  Region r;
  r.size = regionSize;
  r.map = Mapping(static_cast<uint8_t*>(base), regionSize);
  c.regions.push_back(std::move(r));
  for (int g = 0; g < 2; ++g) {
    Queue q;
    q.ring = c.regions[0].map.base() + g * ringsz;
    q.log2 = kLog2;
    q.offset = static_cast<uint32_t>(g * ringsz);
    q.bufOff = bufOff + g * uint64_t{kR} * kBuf;
    q.efd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    (g == 0 ? c.s2m : c.m2s).push_back(std::move(q));
  }
  if (!master) {
    c.m2s[0].prod = static_cast<uint16_t>(data[1] % (kR + 1));  // buffers we posted
    c.s2m[0].prod = static_cast<uint16_t>(data[2]);
  } else {
    c.m2s[0].prod = static_cast<uint16_t>(data[2]);
  }
  // The peer's view: both rings (headers + descriptors) from the input.
  memcpy(c.regions[0].map.base(), data + 3, std::min<size_t>(size - 3, 2 * ringsz));
  PortStats stats;
  auto b = std::make_unique<Burst>();
  for (int round = 0; round < 4; ++round) {
    int n = RingRx(c, b.get(), Burst::kMaxPkts, stats);
    for (int i = 0; i < n; ++i) {
      uint64_t sum = 0;
      for (int s = b->first[i]; s < b->first[i + 1]; ++s) {
        const Seg& sg = b->segs[s];
        const uint8_t* lo = c.regions[0].map.base();
        if (sg.data < lo || sg.data + sg.len > lo + regionSize) __builtin_trap();
        volatile uint8_t touch = sg.len ? sg.data[sg.len - 1] : 0;  // ASan: must be mapped
        (void)touch;
        sum += sg.len;
      }
      if (sum != b->len[i] || sum > kMaxPacketBytes) __builtin_trap();
    }
    RingRxDone(c);
    // Echo what came in (or a frame of our own) back out.
    if (!n) {
      static uint8_t frame[1500];
      b->Clear();
      b->segs[0] = Seg{frame, static_cast<uint32_t>(60 + round * 400)};
      b->len[0] = b->segs[0].len;
      b->first[1] = 1;
      b->n = 1;
      b->nseg = 1;
    }
    RingTx(c, *b, stats);
    if (!c.violation.empty()) break;
  }
  return 0;
}

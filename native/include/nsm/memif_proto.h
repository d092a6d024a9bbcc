// memif wire format as upstream (vpp/src/plugins/memif/memif.h): 128-byte control messages,
// ring header and descriptor layout in shared memory. Plain data and inline helpers only; no policy, no I/O.
// Every multi-byte field is little-endian (host order on the targets we build for).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace nsm::memif {

constexpr uint32_t kCookie = 0x3E31F20;
constexpr uint16_t kVersion = 0x0200;  // major 2, minor 0
constexpr size_t kMsgSize = 128;       // every control message, both directions
constexpr size_t kNameSize = 32;
constexpr size_t kSecretSize = 24;
constexpr size_t kReasonSize = 96;
constexpr uint8_t kMaxLog2Ring = 14;
constexpr size_t kRingHeaderSize = 128;  // two 64-byte cache lines: {cookie, flags, head}, {tail}
constexpr size_t kDescSize = 16;

enum MsgType : uint16_t {
  kMsgNone = 0,
  kMsgAck = 1,
  kMsgHello = 2,
  kMsgInit = 3,
  kMsgAddRegion = 4,
  kMsgAddRing = 5,
  kMsgConnect = 6,
  kMsgConnected = 7,
  kMsgDisconnect = 8,
};

constexpr uint16_t kRingFlagMaskInt = 1;  // consumer does not want interrupts
constexpr uint16_t kDescFlagNext = 1;     // packet continues in the next descriptor
constexpr uint16_t kAddRingFlagS2M = 1;   // ADD_RING: ring is slave->master (DPDK: C2S)
constexpr uint8_t kModeEthernet = 0;
constexpr uint8_t kModeIp = 1;

// Ring size in bytes for 2^log2 descriptors (header + descriptors, no buffers).
constexpr size_t RingBytes(uint8_t log2) {
  return kRingHeaderSize + kDescSize * (size_t{1} << log2);
}

// ---- ring header over raw shared memory (memif_ring_t) ----
// The peer writes these concurrently: counters use acquire loads / release stores.
inline uint32_t RingCookie(const uint8_t* r) {
  return __atomic_load_n(reinterpret_cast<const uint32_t*>(r), __ATOMIC_RELAXED);
}
inline void SetRingCookie(uint8_t* r, uint32_t v) {
  __atomic_store_n(reinterpret_cast<uint32_t*>(r), v, __ATOMIC_RELAXED);
}
inline uint16_t RingFlags(const uint8_t* r) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(r + 4), __ATOMIC_RELAXED);
}
inline void SetRingFlags(uint8_t* r, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(r + 4), v, __ATOMIC_RELEASE);
}
inline uint16_t LoadHead(const uint8_t* r) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(r + 6), __ATOMIC_ACQUIRE);
}
inline void StoreHead(uint8_t* r, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(r + 6), v, __ATOMIC_RELEASE);
}
inline uint16_t LoadTail(const uint8_t* r) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(r + 64), __ATOMIC_ACQUIRE);
}
inline void StoreTail(uint8_t* r, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(r + 64), v, __ATOMIC_RELEASE);
}

// Descriptor: @0 u16 flags; @2 u16 region; @4 u32 length; @8 u32 offset; @12 u32 metadata.
struct Desc {
  uint16_t flags;
  uint16_t region;
  uint32_t length;
  uint32_t offset;
  uint32_t metadata;
};
static_assert(sizeof(Desc) == kDescSize, "memif descriptor is 16 bytes");

inline Desc* Descs(uint8_t* ring) {
  return reinterpret_cast<Desc*>(ring + kRingHeaderSize);
}
// One snapshot of a descriptor the peer may be rewriting: each field is read once.
inline Desc ReadDesc(const Desc* d) {
  Desc out;
  out.flags = __atomic_load_n(&d->flags, __ATOMIC_RELAXED);
  out.region = __atomic_load_n(&d->region, __ATOMIC_RELAXED);
  out.length = __atomic_load_n(&d->length, __ATOMIC_RELAXED);
  out.offset = __atomic_load_n(&d->offset, __ATOMIC_RELAXED);
  out.metadata = 0;
  return out;
}

// ---- control messages ----
struct Msg {
  uint8_t b[kMsgSize] = {};

  uint16_t Type() const { return U16(0); }
  uint8_t U8(size_t o) const { return b[o]; }
  uint16_t U16(size_t o) const {
    uint16_t v;
    std::memcpy(&v, b + o, 2);
    return v;
  }
  uint32_t U32(size_t o) const {
    uint32_t v;
    std::memcpy(&v, b + o, 4);
    return v;
  }
  uint64_t U64(size_t o) const {
    uint64_t v;
    std::memcpy(&v, b + o, 8);
    return v;
  }
  std::string Str(size_t o, size_t n) const {
    const char* p = reinterpret_cast<const char*>(b + o);
    return std::string(p, strnlen(p, n));
  }
  Msg& Put8(size_t o, uint8_t v) {
    b[o] = v;
    return *this;
  }
  Msg& Put16(size_t o, uint16_t v) {
    std::memcpy(b + o, &v, 2);
    return *this;
  }
  Msg& Put32(size_t o, uint32_t v) {
    std::memcpy(b + o, &v, 4);
    return *this;
  }
  Msg& Put64(size_t o, uint64_t v) {
    std::memcpy(b + o, &v, 8);
    return *this;
  }
  // NUL-padded; at most n-1 bytes of s so the field stays terminated.
  Msg& PutStr(size_t o, size_t n, const std::string& s) {
    std::memcpy(b + o, s.data(), std::min(s.size(), n - 1));
    return *this;
  }
};

inline Msg MakeAck() {
  return Msg().Put16(0, kMsgAck);
}
inline Msg MakeHello(const std::string& name, uint16_t maxRegion, uint16_t maxM2s, uint16_t maxS2m,
                     uint8_t maxLog2) {
  return Msg()
      .Put16(0, kMsgHello)
      .PutStr(2, kNameSize, name)
      .Put16(34, kVersion)
      .Put16(36, kVersion)
      .Put16(38, maxRegion)
      .Put16(40, maxM2s)
      .Put16(42, maxS2m)
      .Put8(44, maxLog2);
}
inline Msg MakeInit(uint32_t id, uint8_t mode, const std::string& secret, const std::string& name) {
  return Msg()
      .Put16(0, kMsgInit)
      .Put16(2, kVersion)
      .Put32(4, id)
      .Put8(8, mode)
      .PutStr(9, kSecretSize, secret)
      .PutStr(33, kNameSize, name);
}
inline Msg MakeAddRegion(uint16_t index, uint64_t size) {
  return Msg().Put16(0, kMsgAddRegion).Put16(2, index).Put64(4, size);
}
inline Msg MakeAddRing(uint16_t flags, uint16_t index, uint16_t region, uint32_t offset, uint8_t log2) {
  return Msg()
      .Put16(0, kMsgAddRing)
      .Put16(2, flags)
      .Put16(4, index)
      .Put16(6, region)
      .Put32(8, offset)
      .Put8(12, log2)
      .Put16(13, 0);
}
inline Msg MakeConnect(const std::string& ifName) {
  return Msg().Put16(0, kMsgConnect).PutStr(2, kNameSize, ifName);
}
inline Msg MakeConnected(const std::string& ifName) {
  return Msg().Put16(0, kMsgConnected).PutStr(2, kNameSize, ifName);
}
inline Msg MakeDisconnect(uint32_t code, const std::string& reason) {
  return Msg().Put16(0, kMsgDisconnect).Put32(2, code).PutStr(6, kReasonSize, reason);
}

// HELLO fields.
inline uint16_t HelloMinVersion(const Msg& m) {
  return m.U16(34);
}
inline uint16_t HelloMaxVersion(const Msg& m) {
  return m.U16(36);
}
inline uint16_t HelloMaxRegion(const Msg& m) {
  return m.U16(38);
}
inline uint16_t HelloMaxM2s(const Msg& m) {
  return m.U16(40);
}
inline uint16_t HelloMaxS2m(const Msg& m) {
  return m.U16(42);
}
inline uint8_t HelloMaxLog2(const Msg& m) {
  return m.U8(44);
}

}  // namespace nsm::memif

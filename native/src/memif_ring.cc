// The memif ring data path over one connection's shared memory (layout: docs/memif.md). The
// peer writes ring indices and descriptors concurrently: each is read once into a local, and
// every index, length and offset is checked in 64-bit arithmetic before memory is touched.
// A violation stops the data path and names the reason in Conn::violation; the port's control
// thread then disconnects the peer (memif_port.cc).
#include <string.h>

#include <algorithm>

#include "nsm/memif_shm.h"

namespace nsm::memif {

namespace {

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
      memmove(dst + done, s.data + off, n);  // peer memory may alias (one memfd, two ports)
      done += n;
      off += static_cast<uint32_t>(n);
      if (off == s.len) {
        ++seg;
        off = 0;
      }
    }
    return done;
  }
};

void Notify(int efd) {
  uint64_t one = 1;
  ssize_t r = ::write(efd, &one, sizeof(one));
  (void)r;  // EAGAIN: the counter is saturated, the peer is awake anyway
}

bool Violate(Conn& c, std::atomic<uint64_t>& counter, const char* why) {
  if (c.violation.empty()) c.violation = why;
  counter.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// A descriptor the slave wrote, as a view into one of its regions (master side).
bool PeerSegment(const Conn& c, const Desc& x, Seg* out) {
  if (x.region >= c.regions.size()) return false;
  const Region& r = c.regions[x.region];
  if (uint64_t{x.offset} + uint64_t{x.length} > r.size) return false;
  *out = Seg{r.map.base() + x.offset, x.length};
  return true;
}

}  // namespace

int RingRx(Conn& c, Burst* b, int max, PortStats& stats) {
  b->Clear();
  if (!c.violation.empty()) return 0;
  Queue& q = c.master ? c.s2m[0] : c.m2s[0];
  uint8_t* r = q.ring;
  const uint32_t R = 1u << q.log2;
  const uint16_t mask = static_cast<uint16_t>(R - 1);
  Desc* d = Descs(r);
  const uint16_t end = c.master ? LoadHead(r) : LoadTail(r);
  // The master may fill at most what we posted; the slave at most one ring of descriptors.
  const uint32_t limit = c.master ? R : static_cast<uint16_t>(q.prod - q.last);
  if (static_cast<uint16_t>(end - q.last) > limit)
    return Violate(c, stats.rxErrors, "Ring index out of range");
  const uint32_t B = c.bufferSize;
  uint8_t* base0 = c.master ? nullptr : c.regions[0].map.base();
  uint16_t cur = q.last;
  uint64_t bytes = 0;
  max = std::min(max, Burst::kMaxPkts);
  while (cur != end && b->n < max) {
    const uint16_t start = cur;
    const int segStart = b->nseg;
    uint64_t plen = 0;
    uint32_t count = 0;
    bool complete = false, full = false;
    while (cur != end) {
      if (count == kMaxChain)
        return b->Clear(), Violate(c, stats.rxErrors, "Descriptor chain longer than 256");
      const uint16_t slot = cur & mask;
      Desc x = ReadDesc(&d[slot]);
      Seg s;
      if (c.master) {
        if (!PeerSegment(c, x, &s))
          return b->Clear(), Violate(c, stats.rxErrors, "Descriptor outside its region");
      } else {
        // Our own fixed buffer, whatever the descriptor's region and offset say.
        if (x.length > B) return b->Clear(), Violate(c, stats.rxErrors, "Descriptor longer than its buffer");
        s = Seg{base0 + q.bufOff + uint64_t{slot} * B, x.length};
      }
      plen += s.len;
      if (plen > kMaxPacketBytes) return b->Clear(), Violate(c, stats.rxErrors, "Packet longer than 1 MiB");
      if (b->nseg >= Burst::kMaxSegs) {  // only when earlier packets used the burst: retry next time
        full = true;
        break;
      }
      ++cur;
      ++count;
      b->segs[b->nseg++] = s;
      if (!(x.flags & kDescFlagNext)) {
        complete = true;
        break;
      }
    }
    if (!complete) {
      // A chain that fills the whole ring can never end: the peer has no slot left to end it.
      if (!full && count >= std::min<uint32_t>(R, kMaxChain))
        return b->Clear(), Violate(c, stats.rxErrors, "Descriptor chain never ends");
      cur = start;  // the rest of this packet is not written yet
      b->nseg = segStart;
      break;
    }
    b->len[b->n] = static_cast<uint32_t>(plen);  // <= kMaxPacketBytes
    b->first[++b->n] = static_cast<uint16_t>(b->nseg);
    bytes += plen;
  }
  q.pending = cur;
  if (b->n) {
    stats.rxPackets.fetch_add(b->n, std::memory_order_relaxed);
    stats.rxBytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  return b->n;
}

void RingRxDone(Conn& c) {
  if (!c.violation.empty()) return;
  if (c.master) {
    Queue& q = c.s2m[0];
    if (q.pending == q.last) return;
    const uint16_t mask = static_cast<uint16_t>((1u << q.log2) - 1);
    Desc* d = Descs(q.ring);
    // DPDK 22.11 never clears a reused first descriptor's NEXT bit: clear it while we own the slot.
    for (uint16_t i = q.last; i != q.pending; ++i) __atomic_store_n(&d[i & mask].flags, 0, __ATOMIC_RELAXED);
    StoreTail(q.ring, q.pending);
    q.last = q.pending;
    return;
  }
  Queue& q = c.m2s[0];
  q.last = q.pending;
  // Refill: hand every consumed slot back to the master with its fixed buffer and full length.
  const uint16_t R = static_cast<uint16_t>(1u << q.log2), mask = R - 1;
  Desc* d = Descs(q.ring);
  uint16_t head = q.prod;
  uint16_t free = static_cast<uint16_t>(R - static_cast<uint16_t>(head - q.last));
  if (!free) return;
  const uint32_t B = c.bufferSize;
  for (uint16_t i = 0; i < free; ++i, ++head) {
    const uint16_t slot = head & mask;
    d[slot] = Desc{0, 0, B, static_cast<uint32_t>(q.bufOff + uint64_t{slot} * B), 0};
  }
  StoreHead(q.ring, head);
  q.prod = head;
}

namespace {

// Slave tx: our own buffers, the master only moves the tail.
int TxSlave(Conn& c, Queue& q, const Burst& b, uint64_t* bytes, PortStats& stats) {
  uint8_t* r = q.ring;
  const uint16_t R = static_cast<uint16_t>(1u << q.log2), mask = R - 1;
  Desc* d = Descs(r);
  const uint32_t B = c.bufferSize;
  uint8_t* base0 = c.regions[0].map.base();
  uint16_t head = q.prod;
  const uint16_t inflight = static_cast<uint16_t>(head - LoadTail(r));
  if (inflight > R) return Violate(c, stats.txErrors, "Ring index out of range");
  uint32_t free = R - inflight;
  int sent = 0;
  for (int i = 0; i < b.n; ++i) {
    const uint64_t len = b.len[i];
    const uint64_t need = len == 0 ? 1 : (len + B - 1) / B;
    if (need > free) break;
    SegCursor cur{b, b.first[i], b.first[i + 1]};
    for (uint64_t k = 0; k < need; ++k, ++head) {
      const uint16_t slot = head & mask;
      const uint64_t off = q.bufOff + uint64_t{slot} * B;
      size_t n = cur.Copy(base0 + off, B);
      d[slot] = Desc{static_cast<uint16_t>(k + 1 < need ? kDescFlagNext : 0), 0, static_cast<uint32_t>(n),
                     static_cast<uint32_t>(off), 0};
    }
    free -= static_cast<uint32_t>(need);
    ++sent;
    *bytes += len;
  }
  if (sent) StoreHead(r, head);
  q.prod = head;
  return sent;
}

// Master tx: into the buffers the slave posted; each must lie inside the slave's regions.
int TxMaster(Conn& c, Queue& q, const Burst& b, uint64_t* bytes, PortStats& stats) {
  uint8_t* r = q.ring;
  const uint16_t R = static_cast<uint16_t>(1u << q.log2), mask = R - 1;
  Desc* d = Descs(r);
  uint16_t tail = q.prod;
  uint16_t avail = static_cast<uint16_t>(LoadHead(r) - tail);
  if (avail > R) return Violate(c, stats.txErrors, "Ring index out of range");
  int sent = 0;
  for (int i = 0; i < b.n; ++i) {
    const uint16_t start = tail, startAvail = avail;
    uint64_t remaining = b.len[i];
    SegCursor cur{b, b.first[i], b.first[i + 1]};
    bool ok = true;
    do {
      if (!avail) {
        ok = false;
        break;
      }
      const uint16_t slot = tail & mask;
      Desc x = ReadDesc(&d[slot]);
      Seg dst;
      if (x.length == 0 || !PeerSegment(c, x, &dst)) {
        Violate(c, stats.txErrors, "Descriptor outside its region");
        return 0;
      }
      size_t n = cur.Copy(const_cast<uint8_t*>(dst.data), std::min<uint64_t>(remaining, x.length));
      remaining -= n;
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
    *bytes += b.len[i];
  }
  if (sent) StoreTail(r, tail);
  q.prod = tail;
  return sent;
}

}  // namespace

int RingTx(Conn& c, const Burst& b, PortStats& stats) {
  int sent = 0;
  uint64_t bytes = 0;
  Queue& q = c.master ? c.m2s[0] : c.s2m[0];
  if (c.violation.empty())
    sent = c.master ? TxMaster(c, q, b, &bytes, stats) : TxSlave(c, q, b, &bytes, stats);
  if (sent && !(RingFlags(q.ring) & kRingFlagMaskInt)) Notify(q.efd.get());
  if (sent) {
    stats.txPackets.fetch_add(sent, std::memory_order_relaxed);
    stats.txBytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  if (b.n > sent) stats.txDrops.fetch_add(b.n - sent, std::memory_order_relaxed);
  return sent;
}

}  // namespace nsm::memif

// MemifPort's data-path entry points: bursts for the native forwarder, Send/Recv for JS. Each
// takes the data lock; the ring work itself is memif_ring.cc.
#include <fcntl.h>

#include "nsm/memif_shm.h"

namespace nsm::memif {

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

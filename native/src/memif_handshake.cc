// The memif handshake without I/O (see nsm/memif_handshake.h). Master: HELLO, then INIT, ADD_REGION,
// ADD_RING, CONNECT from the slave, each answered with ACK (CONNECTED for CONNECT). Slave: waits
// for HELLO, then sends its messages one per ACK. Refusal reasons match what libmemif and DPDK
// send, so a peer's log reads the same whichever implementation it talks to.
#include "nsm/memif_handshake.h"

#include <algorithm>

namespace nsm::memif {

namespace {
Handshake::Verdict Refuse(std::string* reason, const char* why) {
  *reason = why;
  return Handshake::kRefuse;
}
}  // namespace

Handshake::Handshake(const MemifConfig& cfg) : cfg_(cfg), state_(cfg.master ? kWaitInit : kWaitHello) {
  conn_->master = cfg.master;
  conn_->bufferSize = cfg.bufferSize;
}

Msg Handshake::Hello() const {
  // We use one ring per direction: advertise max index 0 so the slave offers exactly one.
  return MakeHello(cfg_.name, 255, 0, 0, kMaxLog2Ring);
}

Handshake::Verdict Handshake::OnMessage(const Msg& m, UniqueFd fd, std::vector<Out>* out,
                                        std::string* reason) {
  if (m.Type() == kMsgDisconnect) {
    *reason = "peer disconnected: " + m.Str(6, kReasonSize);
    return kPeerDisconnect;
  }
  if (state_ == kUp) return Refuse(reason, "Unexpected message");
  if (m.Type() == kMsgNone || m.Type() > kMsgDisconnect) return Refuse(reason, "Unknown message type");
  return cfg_.master ? Master(m, std::move(fd), out, reason) : Slave(m, out, reason);
}

Handshake::Verdict Handshake::Master(const Msg& m, UniqueFd fd, std::vector<Out>* out, std::string* reason) {
  if (state_ == kSetup) return MasterSetup(m, std::move(fd), out, reason);
  if (state_ != kWaitInit || m.Type() != kMsgInit) return Refuse(reason, "Unexpected message");
  if (m.U16(2) != kVersion) return Refuse(reason, "Incompatible memif version");
  if (m.U32(4) != cfg_.id) return Refuse(reason, "ID not found");
  if (m.U8(8) != cfg_.mode)
    return Refuse(reason, cfg_.mode == kModeEthernet ? "Only ethernet mode supported" : "Mode mismatch");
  std::string secret = m.Str(9, kSecretSize);
  if (!cfg_.secret.empty() && secret.empty()) return Refuse(reason, "Secret required");
  if (!cfg_.secret.empty() && secret != cfg_.secret) return Refuse(reason, "Incorrect secret");
  conn_->peerName = m.Str(33, kNameSize);
  state_ = kSetup;
  out->push_back(Out{MakeAck(), -1});
  return kContinue;
}

Handshake::Verdict Handshake::MasterSetup(const Msg& m, UniqueFd fd, std::vector<Out>* out,
                                          std::string* reason) {
  Conn& c = *conn_;
  const uint16_t t = m.Type();
  if (t == kMsgAddRegion) {
    std::string why = AdoptRegion(c, std::move(fd), m.U16(2), m.U64(4));
    if (!why.empty()) return *reason = why, kRefuse;
  } else if (t == kMsgAddRing) {
    if (!fd) return Refuse(reason, "Missing interrupt fd");
    const uint16_t flags = m.U16(2), index = m.U16(4), region = m.U16(6);
    const uint32_t offset = m.U32(8);
    const uint8_t log2 = m.U8(12);
    auto& list = (flags & kAddRingFlagS2M) ? c.s2m : c.m2s;
    if (index != list.size() || index >= 1) return Refuse(reason, "Invalid ring index");
    if (region >= c.regions.size()) return Refuse(reason, "Invalid ring region");
    if (log2 == 0 || log2 > kMaxLog2Ring) return Refuse(reason, "Invalid ring size");
    if (m.U16(13) != 0) return Refuse(reason, "Private header not supported");
    if (offset % 8 != 0 || uint64_t{offset} + RingBytes(log2) > c.regions[region].size)
      return Refuse(reason, "Ring outside its region");
    Queue q;
    q.efd = std::move(fd);
    q.log2 = log2;
    q.region = region;
    q.offset = offset;
    list.push_back(std::move(q));
  } else if (t == kMsgConnect) {
    c.peerIf = m.Str(2, kNameSize);
    std::string why = MapMasterRegions(c, cfg_.interrupt);
    if (!why.empty()) return *reason = why, kRefuse;
    out->push_back(Out{MakeConnected(cfg_.ifName), -1});
    state_ = kUp;
    return kLinkUp;
  } else {
    return Refuse(reason, "Unexpected message");
  }
  out->push_back(Out{MakeAck(), -1});
  return kContinue;
}

Handshake::Verdict Handshake::SendNext(std::vector<Out>* out) {
  out->push_back(queued_[next_++]);
  state_ = next_ == queued_.size() ? kWaitConnected : kWaitAck;
  return kContinue;
}

Handshake::Verdict Handshake::Slave(const Msg& m, std::vector<Out>* out, std::string* reason) {
  const uint16_t t = m.Type();
  Conn& c = *conn_;
  if (state_ == kWaitHello) {
    if (t != kMsgHello) return Refuse(reason, "Unexpected message");
    if (HelloMinVersion(m) > kVersion || HelloMaxVersion(m) < kVersion)
      return Refuse(reason, "Incompatible memif version");
    uint8_t log2 = std::min(cfg_.log2Ring, HelloMaxLog2(m));
    if (log2 == 0) return Refuse(reason, "Invalid ring size");
    c.peerName = m.Str(2, kNameSize);
    std::string why = BuildSlaveRegion(c, log2, cfg_.bufferSize);
    if (!why.empty()) return *reason = why, kRefuse;
    queued_.push_back(Out{MakeInit(cfg_.id, cfg_.mode, cfg_.secret, cfg_.name), -1});
    queued_.push_back(Out{MakeAddRegion(0, c.regions[0].size), c.regions[0].fd.get()});
    queued_.push_back(Out{MakeAddRing(kAddRingFlagS2M, 0, 0, c.s2m[0].offset, log2), c.s2m[0].efd.get()});
    queued_.push_back(Out{MakeAddRing(0, 0, 0, c.m2s[0].offset, log2), c.m2s[0].efd.get()});
    queued_.push_back(Out{MakeConnect(cfg_.ifName), -1});
    return SendNext(out);
  }
  if (state_ == kWaitAck) {
    if (t != kMsgAck) return Refuse(reason, "Unexpected message");
    return SendNext(out);
  }
  if (state_ == kWaitConnected && t == kMsgConnected) {
    c.peerIf = m.Str(2, kNameSize);
    StartSlaveRefill(c, cfg_.interrupt);
    state_ = kUp;
    return kLinkUp;
  }
  return Refuse(reason, "Unexpected message");
}

}  // namespace nsm::memif

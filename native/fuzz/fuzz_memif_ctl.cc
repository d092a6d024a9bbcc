// libFuzzer target: memif control messages into the handshake state machine, as master and as
// slave. Input: byte 0 picks the role; then 128-byte messages. ADD_REGION gets a fresh memfd of
// the size the next 4 input bytes say (capped), ADD_RING an eventfd, so the checks run for real.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "nsm/memif_handshake.h"

using namespace nsm;
using namespace nsm::memif;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  MemifConfig cfg;
  cfg.master = data[0] & 1;
  cfg.log2Ring = 4 + (data[0] >> 1) % 4;  // small rings keep each run fast
  cfg.secret = (data[0] & 0x80) ? "s3cret" : "";
  Handshake hs(cfg);
  size_t off = 1;
  int steps = 0;
  while (off + kMsgSize <= size && steps++ < 64) {
    Msg m;
    memcpy(m.b, data + off, kMsgSize);
    off += kMsgSize;
    UniqueFd fd;
    if (m.Type() == kMsgAddRegion && off + 4 <= size) {
      uint32_t len;
      memcpy(&len, data + off, 4);
      off += 4;
      fd.reset(::memfd_create("fuzz", MFD_CLOEXEC | ((len & 1) ? 0 : MFD_ALLOW_SEALING)));
      if (fd && ::ftruncate(fd.get(), len % (1 << 20)) != 0) fd.reset();
    } else if (m.Type() == kMsgAddRing) {
      fd.reset(::eventfd(0, EFD_CLOEXEC));
    }
    std::vector<Handshake::Out> out;
    std::string reason;
    Handshake::Verdict v = hs.OnMessage(m, std::move(fd), &out, &reason);
    if (v == Handshake::kRefuse || v == Handshake::kPeerDisconnect) {
      if (reason.empty()) __builtin_trap();  // every refusal names a reason
      return 0;
    }
    if (v == Handshake::kLinkUp) {
      std::unique_ptr<Conn> c = hs.TakeConn();
      if (!c || c->s2m.empty() || c->m2s.empty() || c->regions.empty()) __builtin_trap();
      return 0;
    }
  }
  return 0;
}

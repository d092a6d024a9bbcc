// memif_hostile: a memif peer that breaks the protocol on purpose, run as a separate process by
// test/e2e/memif-hostile.test.ts. It completes a handshake as the slave (against our server) or
// the master (against our client), then tries one attack and reports what our side did:
//   stdout "reason: <DISCONNECT text>" when we disconnected it, "closed" on EOF, "timeout".
// usage: memif_hostile <socket> <slave|master> <attack> [timeoutMs]
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "nsm/memif.h"

using namespace nsm;
using namespace nsm::memif;

namespace {

int g_timeoutMs = 5000;
uint8_t g_log2 = 10;  // a 64-slot ring for endless-chain: a full ring ends before 256 descriptors
uint32_t g_ring = 1u << g_log2;
constexpr uint32_t kBuf = 2048;

[[noreturn]] void Die(const char* what) {
  fprintf(stderr, "memif_hostile: %s: %s\n", what, strerror(errno));
  exit(3);
}

// Waits for one message; exits with the report when it is a DISCONNECT or EOF.
Msg Expect(int s, uint16_t type, UniqueFd* fd = nullptr) {
  pollfd p{s, POLLIN, 0};
  if (::poll(&p, 1, g_timeoutMs) <= 0) printf("timeout\n"), exit(0);
  Msg m;
  UniqueFd got;
  bool trunc = false;
  ssize_t n = RecvMsg(s, &m, &got, &trunc);
  // Closing a socket with our flood unread resets it: the error comes first, queued data after.
  if (n < 0 && errno == ECONNRESET) n = RecvMsg(s, &m, &got, &trunc);
  if (n <= 0) printf("closed\n"), exit(0);
  if (m.Type() == kMsgDisconnect) printf("reason: %s\n", m.Str(6, kReasonSize).c_str()), exit(0);
  if (m.Type() != type) fprintf(stderr, "memif_hostile: got type %u, want %u\n", m.Type(), type), exit(3);
  if (fd) *fd = std::move(got);
  return m;
}

void Send(int s, const Msg& m, int fd = -1) {
  if (SendWithFd(s, m.b, kMsgSize, fd, MSG_NOSIGNAL) != static_cast<ssize_t>(kMsgSize)) {
    if (errno == EPIPE || errno == ECONNRESET) printf("closed\n"), exit(0);
    Die("sendmsg");
  }
}

// Waits for our side's verdict after an attack.
[[noreturn]] void Verdict(int s) {
  for (;;) Expect(s, 0xffff);
}

uint8_t* Map(int fd, uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) Die("mmap");
  return static_cast<uint8_t*>(p);
}

void Kick(int efd) {
  uint64_t one = 1;
  if (::write(efd, &one, sizeof(one)) < 0) Die("write(eventfd)");
}

// ---- as the slave, against our server ----

void AttackServer(int s, const std::string& attack) {
  if (attack == "endless-chain") g_log2 = 6, g_ring = 64;
  Expect(s, kMsgHello);
  Send(s, MakeInit(0, kModeEthernet, "", "hostile"));
  Expect(s, kMsgAck);
  const uint64_t ringsz = RingBytes(g_log2), bufOff = 2 * ringsz;
  uint64_t size = bufOff + 2 * uint64_t{g_ring} * kBuf;
  if (attack == "wrap-length") size = uint64_t{1} << 32;  // sparse: costs nothing
  UniqueFd region;
  if (attack == "unsealed-region") {
    region.reset(::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));  // a plain file: no seals
    if (!region) Die("open(O_TMPFILE)");
  } else {
    region.reset(::memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!region) Die("memfd_create");
  }
  if (::ftruncate(region.get(), static_cast<off_t>(size)) != 0) Die("ftruncate");
  if (attack == "huge-region") {
    Send(s, MakeAddRegion(0, uint64_t{1} << 40), region.get());
    Verdict(s);
  }
  if (attack == "region-flood") {  // 255 sparse 4 GiB regions: a terabyte of mappings
    for (uint16_t i = 0; i < 255; ++i) {
      UniqueFd r(::memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING));
      if (!r || ::ftruncate(r.get(), static_cast<off_t>(uint64_t{1} << 32)) != 0) Die("memfd");
      Send(s, MakeAddRegion(i, uint64_t{1} << 32), r.get());
      Expect(s, kMsgAck);
    }
    Verdict(s);
  }
  Send(s, MakeAddRegion(0, size), region.get());
  Expect(s, kMsgAck);
  if (attack == "message-flood") {  // thousands of messages as fast as the socket takes them
    for (int i = 0; i < 20000; ++i) {
      Msg m = MakeAck();
      if (SendWithFd(s, m.b, kMsgSize, -1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) break;
    }
    Verdict(s);
  }
  uint8_t* base = Map(region.get(), 2 * ringsz);
  uint8_t* s2m = base;
  uint8_t* m2s = base + ringsz;
  SetRingCookie(s2m, kCookie);
  SetRingCookie(m2s, kCookie);
  UniqueFd es2m(::eventfd(0, EFD_CLOEXEC)), em2s(::eventfd(0, EFD_CLOEXEC));
  Send(s, MakeAddRing(kAddRingFlagS2M, 0, 0, 0, g_log2), es2m.get());
  Expect(s, kMsgAck);
  Send(s, MakeAddRing(0, 0, 0, static_cast<uint32_t>(ringsz), g_log2), em2s.get());
  Expect(s, kMsgAck);
  Send(s, MakeConnect("hostile0"));
  Expect(s, kMsgConnected);
  if (attack == "unsealed-region") {
    // The file shrinks under the mapping: touching it would SIGBUS the server.
    if (::ftruncate(region.get(), 0) != 0) Die("ftruncate");
    Descs(s2m)[0] = Desc{0, 0, 64, static_cast<uint32_t>(bufOff), 0};
    StoreHead(s2m, 1);
    Kick(es2m.get());
    Verdict(s);
  }
  Desc* d = Descs(s2m);
  uint16_t head = 0;
  if (attack == "wrap-length") {  // two 2 GiB descriptors: a u32 sum wraps to 0
    d[0] = Desc{kDescFlagNext, 0, 0x80000000u, 0, 0};
    d[1] = Desc{0, 0, 0x80000000u, 0, 0};
    head = 2;
  } else if (attack == "out-of-region") {
    d[0] = Desc{0, 0, 4096, static_cast<uint32_t>(size - 100), 0};
    head = 1;
  } else if (attack == "bad-region-index") {
    d[0] = Desc{0, 7, 64, 0, 0};
    head = 1;
  } else if (attack == "endless-chain") {  // every slot says "more follows"
    for (uint32_t i = 0; i < g_ring; ++i) d[i] = Desc{kDescFlagNext, 0, 64, static_cast<uint32_t>(bufOff), 0};
    head = static_cast<uint16_t>(g_ring);
  } else if (attack == "long-chain") {  // 300 descriptors, then an end
    for (uint32_t i = 0; i < 300; ++i)
      d[i] = Desc{static_cast<uint16_t>(i + 1 < 300 ? kDescFlagNext : 0), 0, 64,
                  static_cast<uint32_t>(bufOff), 0};
    head = 300;
  } else if (attack == "ring-index") {
    d[0] = Desc{0, 0, 64, static_cast<uint32_t>(bufOff), 0};
    head = static_cast<uint16_t>(g_ring + 5);
  } else if (attack == "tx-bad-buffer") {  // buffers for our tx that point past the region
    Desc* md = Descs(m2s);
    for (uint32_t i = 0; i < 4; ++i) md[i] = Desc{0, 0, 2048, static_cast<uint32_t>(size - 16), 0};
    StoreHead(m2s, 4);
    printf("ready\n");
    fflush(stdout);
    Verdict(s);
  } else {
    fprintf(stderr, "memif_hostile: unknown attack %s\n", attack.c_str());
    exit(2);
  }
  StoreHead(s2m, head);
  Kick(es2m.get());
  printf("ready\n");
  fflush(stdout);
  Verdict(s);
}

// ---- as the master, against our client ----

void AttackClient(int s, const std::string& attack) {
  Send(s, MakeHello("hostile", 255, 0, 0, g_log2));
  Expect(s, kMsgInit);
  Send(s, MakeAck());
  UniqueFd region;
  Msg ar = Expect(s, kMsgAddRegion, &region);
  const uint64_t size = ar.U64(4);
  Send(s, MakeAck());
  UniqueFd es2m, em2s;
  Msg r1 = Expect(s, kMsgAddRing, &es2m);
  Send(s, MakeAck());
  Msg r2 = Expect(s, kMsgAddRing, &em2s);
  g_log2 = r1.U8(12);
  g_ring = 1u << g_log2;
  Send(s, MakeAck());
  if (!(r1.U16(2) & kAddRingFlagS2M)) std::swap(r1, r2), std::swap(es2m, em2s);
  Expect(s, kMsgConnect);
  Send(s, MakeConnected("hostile0"));
  uint8_t* base = Map(region.get(), size);
  uint8_t* s2m = base + r1.U32(8);
  uint8_t* m2s = base + r2.U32(8);
  if (attack == "message-flood") {
    for (int i = 0; i < 20000; ++i) {
      Msg m = MakeAck();
      if (SendWithFd(s, m.b, kMsgSize, -1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) break;
    }
    Verdict(s);
  }
  // Wait until the client posted its rx buffers.
  for (int i = 0; i < g_timeoutMs && LoadHead(m2s) == 0; ++i) usleep(1000);
  Desc* d = Descs(m2s);
  uint16_t tail = 0;
  if (attack == "ring-index") {
    tail = static_cast<uint16_t>(LoadHead(m2s) + 100);
  } else if (attack == "long-desc") {  // longer than the buffer it was posted with
    d[0].length = 60000;
    tail = 1;
  } else if (attack == "endless-chain") {
    for (uint32_t i = 0; i < g_ring; ++i) d[i].flags = kDescFlagNext;
    tail = static_cast<uint16_t>(g_ring);
  } else if (attack == "tx-ring-index") {  // claims to have consumed what was never sent
    StoreTail(s2m, 1000);
    printf("ready\n");
    fflush(stdout);
    Verdict(s);
  } else {
    fprintf(stderr, "memif_hostile: unknown attack %s\n", attack.c_str());
    exit(2);
  }
  StoreTail(m2s, tail);
  Kick(em2s.get());
  printf("ready\n");
  fflush(stdout);
  Verdict(s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: memif_hostile <socket> <slave|master> <attack> [timeoutMs]\n");
    return 2;
  }
  if (argc > 4) g_timeoutMs = atoi(argv[4]);
  const std::string path = argv[1], role = argv[2], attack = argv[3];
  sockaddr_un sun;
  socklen_t len = MemifSockaddr(path, &sun);
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!len || !sock) Die("socket");
  if (role == "slave") {
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) Die("connect");
    AttackServer(sock.get(), attack);
  } else {
    ::unlink(path.c_str());
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0 || ::listen(sock.get(), 1) != 0)
      Die("bind");
    // the socket file exists from bind(); a client may connect only from here
    printf("listening\n");
    fflush(stdout);
    pollfd p{sock.get(), POLLIN, 0};
    if (::poll(&p, 1, g_timeoutMs) <= 0) printf("timeout\n"), exit(0);
    UniqueFd c(::accept4(sock.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c) Die("accept");
    AttackClient(c.get(), attack);
  }
  return 0;
}

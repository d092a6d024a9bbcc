// Control-socket helpers shared by the memif port and the test peers: one 128-byte datagram
// per message, with at most one fd passed as SCM_RIGHTS.
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nsm/memif.h"

namespace nsm::memif {

// One datagram: >0 its size (*trunc if it was longer than 128), 0 EOF, -1 error (errno).
// The first passed fd lands in *fd; any others are closed.
ssize_t RecvMsg(int sock, Msg* m, UniqueFd* fd, bool* trunc) {
  iovec iov{m->b, kMsgSize};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  ssize_t n;
  do n = ::recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int f;
      memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (!*fd)
        fd->reset(f);
      else
        ::close(f);
    }
  }
  *trunc = (mh.msg_flags & MSG_TRUNC) != 0;
  return n;
}

ssize_t SendWithFd(int sock, const uint8_t* buf, size_t len, int passFd, int flags) {
  iovec iov{const_cast<uint8_t*>(buf), len};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (passFd >= 0) {
    memset(cbuf, 0, sizeof(cbuf));
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passFd, sizeof(int));
  }
  ssize_t n;
  do n = ::sendmsg(sock, &mh, flags);
  while (n < 0 && errno == EINTR);
  return n;
}

socklen_t MemifSockaddr(const std::string& path, void* out) {
  auto* sun = static_cast<sockaddr_un*>(out);
  memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  std::string name;
  bool abstract = false;
  if (path.rfind("abstract:", 0) == 0)
    name = path.substr(9), abstract = true;
  else if (!path.empty() && path[0] == '@')
    name = path.substr(1), abstract = true;
  else
    name = path;
  if (abstract) {
    // No trailing NUL, no padding: DPDK and VPP use exactly offsetof + 1 + strlen.
    if (name.size() + 1 > sizeof(sun->sun_path)) return 0;
    memcpy(sun->sun_path + 1, name.data(), name.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  }
  if (name.empty() || name.size() + 1 > sizeof(sun->sun_path)) return 0;
  memcpy(sun->sun_path, name.data(), name.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
}

bool IsAbstractSocket(const std::string& p) {
  return p.rfind("abstract:", 0) == 0 || (!p.empty() && p[0] == '@');
}

}  // namespace nsm::memif

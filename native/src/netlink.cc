#include "nsm/netlink.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

namespace nsm {
namespace {

constexpr size_t kRecvBuf = 64 * 1024;

// Reads NLMSGERR_ATTR_MSG from an NLMSG_ERROR payload carrying extended-ack TLVs.
std::string ExtackOf(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t off = sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
  const uint8_t* base = static_cast<const uint8_t*>(NLMSG_DATA(h));
  size_t end = h->nlmsg_len - NLMSG_HDRLEN;
  while (off + sizeof(nlattr) <= end) {
    auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < sizeof(nlattr) || off + a->nla_len > end) break;
    if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* s = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
      return std::string(s, strnlen(s, a->nla_len - NLA_HDRLEN));
    }
    off += NLA_ALIGN(a->nla_len);
  }
  return {};
}

}  // namespace

std::string NlTypeName(uint16_t type) {
  switch (type) {
    case RTM_NEWLINK:
      return "RTM_NEWLINK";
    case RTM_DELLINK:
      return "RTM_DELLINK";
    case RTM_GETLINK:
      return "RTM_GETLINK";
    case RTM_SETLINK:
      return "RTM_SETLINK";
    case RTM_NEWADDR:
      return "RTM_NEWADDR";
    case RTM_DELADDR:
      return "RTM_DELADDR";
    case RTM_GETADDR:
      return "RTM_GETADDR";
    case RTM_NEWROUTE:
      return "RTM_NEWROUTE";
    case RTM_DELROUTE:
      return "RTM_DELROUTE";
    case RTM_GETROUTE:
      return "RTM_GETROUTE";
    case RTM_NEWNEIGH:
      return "RTM_NEWNEIGH";
    case RTM_DELNEIGH:
      return "RTM_DELNEIGH";
    case RTM_GETNEIGH:
      return "RTM_GETNEIGH";
    case RTM_NEWRULE:
      return "RTM_NEWRULE";
    case RTM_DELRULE:
      return "RTM_DELRULE";
    case RTM_GETRULE:
      return "RTM_GETRULE";
    default:
      return "nlmsg " + std::to_string(type);
  }
}

SysError NlTransact(int sock, uint8_t* msg, size_t len, uint32_t seq, NlReply* reply) {
  auto* req = reinterpret_cast<nlmsghdr*>(msg);
  if (len < sizeof(nlmsghdr) || req->nlmsg_len != len) {
    return SysError{EINVAL, "sendmsg", "malformed netlink message", {}};
  }
  req->nlmsg_seq = seq;
  req->nlmsg_pid = 0;
  const bool dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  const bool wantsAck = (req->nlmsg_flags & NLM_F_ACK) != 0;

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = ::sendto(sock, msg, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return SysError{errno, "sendmsg", NlTypeName(req->nlmsg_type), {}};
  }
  if (!dump && !wantsAck) return {};

  alignas(nlmsghdr) static thread_local uint8_t buf[kRecvBuf];
  for (;;) {
    ssize_t n = ::recv(sock, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError{errno, "recvmsg", NlTypeName(req->nlmsg_type), {}};
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;  // stale reply to an earlier request
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        reply->kernelErr = -e->error;
        reply->extack = ExtackOf(h);
        return {};  // an ack (error 0) or a refusal ends both plain requests and dumps
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int e;
          memcpy(&e, NLMSG_DATA(h), sizeof(e));
          reply->kernelErr = e < 0 ? -e : 0;
        }
        return {};
      }
      auto* p = reinterpret_cast<uint8_t*>(h);
      reply->dump.insert(reply->dump.end(), p, p + NLMSG_ALIGN(h->nlmsg_len));
      if (!dump && !(h->nlmsg_flags & NLM_F_MULTI) && !wantsAck) return {};
    }
  }
}

}  // namespace nsm

#include "nsm/netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>

namespace nsm {
namespace {

constexpr size_t kRecvBuf = 64 * 1024;

// Reads NLMSGERR_ATTR_MSG from an NLMSG_ERROR payload carrying extended-ack TLVs.
// The caller checked that h holds a whole nlmsgerr.
std::string ExtackOf(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t off = sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
    if (e->msg.nlmsg_len < sizeof(nlmsghdr)) return {};  // the echoed request: at least a header
    off +=
        ((uint64_t{e->msg.nlmsg_len} + NLMSG_ALIGNTO - 1) & ~uint64_t{NLMSG_ALIGNTO - 1}) - sizeof(nlmsghdr);
  }
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

std::string FormatMac(const uint8_t* p, size_t n) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    snprintf(b, sizeof(b), i ? ":%02x" : "%02x", p[i]);
    s += b;
  }
  return s;
}

// Calls fn(h) for each whole message in buf[0, n). Unlike NLMSG_NEXT, the step never runs past
// n: an unaligned last message would make NLMSG_NEXT's unsigned `left` wrap and read beyond.
template <typename Fn>
void ForEachNlMsg(const uint8_t* buf, size_t n, Fn fn) {
  size_t off = 0;
  while (n - off >= sizeof(nlmsghdr)) {
    auto* h = reinterpret_cast<const nlmsghdr*>(buf + off);
    if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > n - off) return;
    if (!fn(h)) return;
    off += std::min<size_t>(NLMSG_ALIGN(h->nlmsg_len), n - off);
  }
}

}  // namespace

void ParseLinks(const std::vector<uint8_t>& dump, std::vector<LinkInfo>* out) {
  ForEachNlMsg(dump.data(), dump.size(), [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return true;
    auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    LinkInfo l;
    l.index = ifi->ifi_index;
    l.flags = ifi->ifi_flags;
    int alen = static_cast<int>(IFLA_PAYLOAD(h));
    for (auto* a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
      const auto* d = static_cast<const uint8_t*>(RTA_DATA(a));
      size_t dl = RTA_PAYLOAD(a);
      switch (a->rta_type) {
        case IFLA_IFNAME:
          l.name.assign(reinterpret_cast<const char*>(d), strnlen(reinterpret_cast<const char*>(d), dl));
          break;
        case IFLA_MTU:
          if (dl >= 4) memcpy(&l.mtu, d, 4);
          break;
        case IFLA_ADDRESS:
          l.mac = FormatMac(d, dl);
          break;
        case IFLA_LINKINFO: {
          int il = static_cast<int>(dl);
          for (auto* in = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(in, il); in = RTA_NEXT(in, il)) {
            if (in->rta_type == IFLA_INFO_KIND) {
              const char* k = static_cast<const char*>(RTA_DATA(in));
              l.kind.assign(k, strnlen(k, RTA_PAYLOAD(in)));
            }
          }
          break;
        }
        default:
          break;
      }
    }
    out->push_back(std::move(l));
    return true;
  });
}

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

bool NlParseReply(const uint8_t* buf, size_t n, uint32_t seq, bool dump, bool wantsAck, NlReply* reply) {
  bool done = false;
  ForEachNlMsg(buf, n, [&](const nlmsghdr* h) {
    if (h->nlmsg_seq != seq) return true;  // stale reply to an earlier request
    if (h->nlmsg_type == NLMSG_ERROR) {
      done = true;  // an ack (error 0) or a refusal ends both plain requests and dumps
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
        reply->kernelErr = EBADMSG;  // truncated error: never read past it
        return false;
      }
      auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      reply->kernelErr = e->error == INT32_MIN ? EBADMSG : -e->error;
      reply->extack = ExtackOf(h);
      return false;
    }
    if (h->nlmsg_type == NLMSG_DONE) {
      done = true;
      if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
        int e;
        memcpy(&e, NLMSG_DATA(h), sizeof(e));
        reply->kernelErr = e < 0 ? (e == INT32_MIN ? EBADMSG : -e) : 0;
      }
      return false;
    }
    auto* p = reinterpret_cast<const uint8_t*>(h);
    reply->dump.insert(reply->dump.end(), p, p + h->nlmsg_len);
    reply->dump.resize(reply->dump.size() + (NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len));  // keep alignment
    if (!dump && !(h->nlmsg_flags & NLM_F_MULTI) && !wantsAck) done = true;
    return !done;
  });
  return done;
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
    if (NlParseReply(buf, static_cast<size_t>(n), seq, dump, wantsAck, reply)) return {};
  }
}

}  // namespace nsm

// icmpEcho(netns, {src, dst, ifname, timeoutMs, count}): ICMP (v4) or ICMPv6 echo from inside a
// netns, for the NSC's data-plane liveness check. On a pool thread: open the netns (path), enter
// it only to create a raw ICMP socket (the socket stays bound to that netns), bind it to `src`
// and `ifname`, send up to `count` echo requests spread over `timeoutMs` and wait for a matching
// echo reply. Resolves {sent, received, rttMs}; rejects with errno/syscall on a syscall failure.
// The pool thread is busy at most timeoutMs (+ the sends).
#include <arpa/inet.h>
#include <errno.h>
#include <napi.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <string>

#include "nsm/js_error.h"
#include "nsm/netns.h"

#ifndef ICMP_FILTER  // linux/icmp.h has it, but clashes with netinet/ip_icmp.h
#define ICMP_FILTER 1
#endif

namespace nsm {
namespace {

constexpr uint8_t kEchoRequest4 = ICMP_ECHO, kEchoReply4 = ICMP_ECHOREPLY;
constexpr uint8_t kEchoRequest6 = ICMP6_ECHO_REQUEST, kEchoReply6 = ICMP6_ECHO_REPLY;

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint16_t Checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

union SockAddr {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};

bool ParseAddr(const std::string& s, SockAddr* out, socklen_t* len) {
  memset(out, 0, sizeof(*out));
  if (inet_pton(AF_INET, s.c_str(), &out->v4.sin_addr) == 1) {
    out->v4.sin_family = AF_INET;
    *len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), &out->v6.sin6_addr) == 1) {
    out->v6.sin6_family = AF_INET6;
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

class IcmpEchoWorker : public Napi::AsyncWorker {
 public:
  IcmpEchoWorker(Napi::Env env, std::string netns, std::string src, std::string dst, std::string ifname,
                 int timeoutMs, int count)
      : Napi::AsyncWorker(env, "nsm:icmpEcho"),
        deferred_(Napi::Promise::Deferred::New(env)),
        netns_(std::move(netns)),
        src_(std::move(src)),
        dst_(std::move(dst)),
        ifname_(std::move(ifname)),
        timeoutMs_(timeoutMs),
        count_(count) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {  // pool thread: syscalls only, no Napi::
    SockAddr dst{}, src{};
    socklen_t dlen = 0, slen = 0;
    if (!ParseAddr(dst_, &dst, &dlen)) return Fail(SysError{EINVAL, "inet_pton", dst_, "not an IP address"});
    if (!src_.empty() && !ParseAddr(src_, &src, &slen))
      return Fail(SysError{EINVAL, "inet_pton", src_, "not an IP address"});
    if (!src_.empty() && src.sa.sa_family != dst.sa.sa_family)
      return Fail(SysError{EINVAL, "bind", src_, "source and destination families differ"});
    const bool v6 = dst.sa.sa_family == AF_INET6;

    SysError err;
    UniqueFd ns = OpenNetns(netns_, &err);
    if (err) return Fail(err);
    UniqueFd sock;
    {
      NetnsGuard in(ns.get());
      if (!in.ok()) return Fail(in.error());
      sock.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP)));
      if (!sock) return Fail(SysError{errno, "socket", v6 ? "ICMPv6" : "ICMP", {}});
    }
    if (!ifname_.empty() &&
        ::setsockopt(sock.get(), SOL_SOCKET, SO_BINDTODEVICE, ifname_.c_str(), ifname_.size()) != 0)
      return Fail(SysError{errno, "setsockopt(SO_BINDTODEVICE)", ifname_, {}});
    if (!src_.empty() && ::bind(sock.get(), &src.sa, slen) != 0)
      return Fail(SysError{errno, "bind", src_, {}});
    if (v6) {  // only echo replies reach us
      icmp6_filter f;
      ICMP6_FILTER_SETBLOCKALL(&f);
      ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
      (void)::setsockopt(sock.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
    } else {
      uint32_t mask = ~(1U << ICMP_ECHOREPLY);
      (void)::setsockopt(sock.get(), SOL_RAW, ICMP_FILTER, &mask, sizeof(mask));
    }

    uint16_t id = 0;
    if (::getrandom(&id, sizeof(id), 0) != sizeof(id)) id = static_cast<uint16_t>(NowMs());
    const int64_t start = NowMs(), end = start + timeoutMs_;
    const int64_t every = count_ > 1 ? timeoutMs_ / count_ : timeoutMs_;
    int64_t nextSend = start;
    int64_t sentAt[64] = {};
    for (;;) {
      int64_t now = NowMs();
      if (now >= end) return;  // no reply in time: received_ stays 0
      if (sent_ < count_ && now >= nextSend) {
        uint8_t pkt[16] = {};
        pkt[0] = v6 ? kEchoRequest6 : kEchoRequest4;
        uint16_t nid = htons(id), nseq = htons(static_cast<uint16_t>(sent_));
        memcpy(pkt + 4, &nid, 2);
        memcpy(pkt + 6, &nseq, 2);
        memcpy(pkt + 8, "nsm-live", 8);
        if (!v6) {  // the kernel fills in the ICMPv6 checksum
          uint16_t c = Checksum(pkt, sizeof(pkt));
          memcpy(pkt + 2, &c, 2);
        }
        ssize_t n = ::sendto(sock.get(), pkt, sizeof(pkt), 0, &dst.sa, dlen);
        // an unreachable neighbour (no ARP/NDP answer) shows as EHOSTUNREACH on a later send: keep trying
        if (n < 0 && errno != EHOSTUNREACH && errno != ENETUNREACH && errno != EAGAIN && errno != EINTR)
          return Fail(SysError{errno, "sendto", dst_, {}});
        sentAt[sent_ % 64] = now;
        ++sent_;
        nextSend = now + every;
      }
      int64_t wait = end - now;
      if (sent_ < count_ && nextSend - now < wait) wait = nextSend - now;
      pollfd p{sock.get(), POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(wait < 0 ? 0 : wait));
      if (r < 0 && errno != EINTR) return Fail(SysError{errno, "poll", dst_, {}});
      if (r <= 0) continue;
      for (;;) {
        uint8_t buf[1500];
        SockAddr from{};
        socklen_t flen = sizeof(from);
        ssize_t n = ::recvfrom(sock.get(), buf, sizeof(buf), 0, &from.sa, &flen);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          return Fail(SysError{errno, "recvfrom", dst_, {}});
        }
        const uint8_t* icmp = buf;
        size_t len = static_cast<size_t>(n);
        if (!v6) {  // raw IPv4 sockets hand us the IP header
          size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
          if (len < ihl + 8) continue;
          icmp += ihl;
          len -= ihl;
        }
        if (len < 8 || icmp[0] != (v6 ? kEchoReply6 : kEchoReply4)) continue;
        uint16_t rid = 0, rseq = 0;
        memcpy(&rid, icmp + 4, 2);
        memcpy(&rseq, icmp + 6, 2);
        rseq = ntohs(rseq);
        if (ntohs(rid) != id || rseq >= sent_) continue;
        bool same = v6 ? memcmp(&from.v6.sin6_addr, &dst.v6.sin6_addr, 16) == 0
                       : from.v4.sin_addr.s_addr == dst.v4.sin_addr.s_addr;
        if (!same) continue;
        ++received_;
        rttMs_ = static_cast<double>(NowMs() - sentAt[rseq % 64]);
        return;  // one answer is enough: the data plane is alive
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto o = Napi::Object::New(env);
    o.Set("sent", sent_);
    o.Set("received", received_);
    if (received_) o.Set("rttMs", rttMs_);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(ToJsError(Env(), err_).Value()); }

 private:
  void Fail(SysError e) {
    err_ = std::move(e);
    if (err_.path.empty()) err_.path = netns_;
    SetError(err_.Message());
  }

  Napi::Promise::Deferred deferred_;
  std::string netns_, src_, dst_, ifname_;
  int timeoutMs_, count_;
  int sent_ = 0, received_ = 0;
  double rttMs_ = 0;
  SysError err_;
};

}  // namespace

Napi::Value IcmpEcho(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    Napi::TypeError::New(env, "icmpEcho(netns: string, {dst, src?, ifname?, timeoutMs, count})")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto o = info[1].As<Napi::Object>();
  auto str = [&](const char* k) {
    Napi::Value v = o.Get(k);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  };
  auto num = [&](const char* k, int def) {
    Napi::Value v = o.Get(k);
    return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : def;
  };
  std::string netns = info[0].As<Napi::String>().Utf8Value(), dst = str("dst");
  int timeoutMs = num("timeoutMs", 1000), count = num("count", 4);
  if (netns.empty() || dst.empty() || timeoutMs < 1 || timeoutMs > 60000 || count < 1 || count > 64) {
    Napi::RangeError::New(env, "icmpEcho: netns and dst required; 1 ≤ timeoutMs ≤ 60000; 1 ≤ count ≤ 64")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w =
      new IcmpEchoWorker(env, std::move(netns), str("src"), std::move(dst), str("ifname"), timeoutMs, count);
  w->Queue();
  return w->Promise();
}

}  // namespace nsm

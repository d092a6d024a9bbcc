// VPP stats segment reader: the memfd VPP hands out on its stats socket (one SCM_RIGHTS fd on a
// SOCK_SEQPACKET connection), mapped read-only, read with VPP's epoch / in-progress protocol
// (vpp/src/vlib/stats/shared.h: shared header, 144-byte directory entries; vppinfra vectors keep
// their u32 length 8 bytes before the data). Everything in the segment is untrusted: every
// pointer is translated against the segment's base and bounds-checked before it is read.
//
//   vppStatsOpen(socketPath) -> handle
//   vppStatsRead(handle, prefix) -> { epoch, entries: [{ name, type, value }] }
//     type 1 scalar: number; 2 simple: number[] per index (summed over threads);
//     3 combined: [packets[], bytes[]]; 4 names: (string|null)[]
//   vppStatsClose(handle)
#include <napi.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nsm/js_error.h"
#include "nsm/sys_error.h"

namespace nsm {
namespace {

constexpr size_t kEntrySize = 144;  // u32 type, pad, 8-byte union, char name[128]
constexpr size_t kNameOff = 16;
constexpr size_t kNameMax = 128;
constexpr uint64_t kMaxElems = 1u << 24;  // sanity cap on any vector length

struct Segment {
  const uint8_t* map = nullptr;
  size_t size = 0;
};

std::map<int, Segment> segments;
int nextHandle = 1;

// A read-only view of the segment; all reads are bounds-checked and fail softly (false).
class View {
 public:
  explicit View(const Segment& s) : s_(s) {}
  uint64_t Base() const { return Load(8); }
  uint64_t Load(size_t off) const {
    if (off + 8 > s_.size) return 0;
    return __atomic_load_n(reinterpret_cast<const uint64_t*>(s_.map + off), __ATOMIC_ACQUIRE);
  }
  // VPP-side pointer -> offset in the mapping with at least `need` bytes behind it
  std::optional<size_t> Off(uint64_t p, uint64_t need) const {
    uint64_t base = Base();
    if (p < base) return std::nullopt;
    uint64_t off = p - base;
    if (off > s_.size || need > s_.size - off) return std::nullopt;
    return static_cast<size_t>(off);
  }
  // a vppinfra vector at VPP pointer p with elements of `elt` bytes: offset of its data and length
  std::optional<std::pair<size_t, uint32_t>> Vec(uint64_t p, size_t elt) const {
    if (p == 0) return std::nullopt;
    auto hdr = Off(p - 8, 8);
    if (!hdr || p < 8) return std::nullopt;
    uint32_t len;
    std::memcpy(&len, s_.map + *hdr, 4);
    if (len > kMaxElems) return std::nullopt;
    auto data = Off(p, static_cast<uint64_t>(len) * elt);
    if (!data) return std::nullopt;
    return std::make_pair(*data, len);
  }
  uint64_t U64(size_t off) const {
    uint64_t v;
    std::memcpy(&v, s_.map + off, 8);
    return v;
  }
  uint32_t U32(size_t off) const {
    uint32_t v;
    std::memcpy(&v, s_.map + off, 4);
    return v;
  }
  const uint8_t* At(size_t off) const { return s_.map + off; }

 private:
  const Segment& s_;
};

struct Entry {
  std::string name;
  uint32_t type = 0;
  double scalar = 0;
  std::vector<double> simple;
  std::vector<double> packets, bytes;
  std::vector<std::optional<std::string>> names;
};

// Sums per-thread counter vectors (simple: 1 u64, combined: 2 u64 per index).
bool ReadCounters(const View& v, uint64_t data, int width, std::vector<double>& a, std::vector<double>& b) {
  auto threads = v.Vec(data, 8);
  if (!threads) return data == 0;
  for (uint32_t t = 0; t < threads->second; t++) {
    auto per = v.Vec(v.U64(threads->first + 8 * t), 8 * width);
    if (!per) continue;
    if (a.size() < per->second) {
      a.resize(per->second, 0);
      if (width == 2) b.resize(per->second, 0);
    }
    for (uint32_t i = 0; i < per->second; i++) {
      a[i] += static_cast<double>(v.U64(per->first + 8 * width * i));
      if (width == 2) b[i] += static_cast<double>(v.U64(per->first + 16 * i + 8));
    }
  }
  return true;
}

bool ReadNames(const View& v, uint64_t data, std::vector<std::optional<std::string>>& out) {
  auto vec = v.Vec(data, 8);
  if (!vec) return data == 0;
  for (uint32_t i = 0; i < vec->second; i++) {
    auto s = v.Vec(v.U64(vec->first + 8 * i), 1);
    if (!s) {
      out.emplace_back(std::nullopt);
      continue;
    }
    const char* c = reinterpret_cast<const char*>(v.At(s->first));
    out.emplace_back(std::string(c, strnlen(c, s->second)));
  }
  return true;
}

// One pass over the directory; false when the segment changed under us or is inconsistent.
bool ReadOnce(const View& v, const std::string& prefix, std::vector<Entry>& out, uint64_t& epoch) {
  epoch = v.Load(16);
  for (int spin = 0; v.Load(24) != 0; spin++) {
    if (spin > 1000) return false;
    sched_yield();
  }
  auto dir = v.Vec(v.Load(32), kEntrySize);
  if (!dir) return false;
  out.clear();
  for (uint32_t i = 0; i < dir->second; i++) {
    size_t e = dir->first + kEntrySize * i;
    const char* nm = reinterpret_cast<const char*>(v.At(e + kNameOff));
    std::string name(nm, strnlen(nm, kNameMax));
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    Entry en;
    en.name = name;
    en.type = v.U32(e);
    uint64_t u = v.U64(e + 8);
    bool ok = true;
    switch (en.type) {
      case 1: {
        std::memcpy(&en.scalar, &u, 8);
        break;
      }
      case 2:
        ok = ReadCounters(v, u, 1, en.simple, en.bytes);
        break;
      case 3:
        ok = ReadCounters(v, u, 2, en.packets, en.bytes);
        break;
      case 4:
        ok = ReadNames(v, u, en.names);
        break;
      default:
        continue;  // empty, symlink, or a type newer than this reader
    }
    if (!ok) return false;
    out.push_back(std::move(en));
  }
  return v.Load(24) == 0 && v.Load(16) == epoch;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "vppStatsOpen(socketPath: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  auto fail = [&](int err, const char* call) {
    ToJsError(env, SysError{err, call, path, {}}).ThrowAsJavaScriptException();
    return env.Undefined();
  };
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) return fail(ENAMETOOLONG, "connect");
  std::memcpy(sa.sun_path, path.data(), path.size());
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(errno, "socket");
  if (::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int err = errno;
    ::close(s);
    return fail(err, "connect");
  }
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  ssize_t n;
  do n = ::recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  int err = errno;
  ::close(s);
  if (n < 0) return fail(err, "recvmsg");
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    return fail(EBADMSG, "recvmsg");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size < 64) {
    err = errno ? errno : EBADMSG;
    ::close(fd);
    return fail(err, "fstat");
  }
  void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  err = errno;
  ::close(fd);
  if (m == MAP_FAILED) return fail(err, "mmap");
  Segment seg{static_cast<const uint8_t*>(m), static_cast<size_t>(st.st_size)};
  int h = nextHandle++;
  segments[h] = seg;
  return Napi::Number::New(env, h);
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    Napi::TypeError::New(env, "vppStatsRead(handle: number, prefix: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto it = segments.find(info[0].As<Napi::Number>().Int32Value());
  if (it == segments.end()) {
    Napi::Error::New(env, "vppStatsRead: handle is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  View v(it->second);
  if (v.Load(0) != 2) {
    ToJsError(env, SysError{EPROTO, "vppStatsRead", "stats segment version " + std::to_string(v.Load(0)), {}})
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string prefix = info[1].As<Napi::String>();
  std::vector<Entry> entries;
  uint64_t epoch = 0;
  bool ok = false;
  for (int tries = 0; tries < 200 && !ok; tries++) ok = ReadOnce(v, prefix, entries, epoch);
  if (!ok) {
    ToJsError(env, SysError{EAGAIN, "vppStatsRead", "stats segment kept changing or is inconsistent", {}})
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto arr = [&](const std::vector<double>& xs) {
    Napi::Array a = Napi::Array::New(env, xs.size());
    for (size_t i = 0; i < xs.size(); i++) a.Set(i, Napi::Number::New(env, xs[i]));
    return a;
  };
  Napi::Array out = Napi::Array::New(env, entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    const Entry& e = entries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", e.name);
    o.Set("type", e.type);
    if (e.type == 1) o.Set("value", e.scalar);
    if (e.type == 2) o.Set("value", arr(e.simple));
    if (e.type == 3) {
      Napi::Array pb = Napi::Array::New(env, 2);
      pb.Set(0u, arr(e.packets));
      pb.Set(1u, arr(e.bytes));
      o.Set("value", pb);
    }
    if (e.type == 4) {
      Napi::Array a = Napi::Array::New(env, e.names.size());
      for (size_t k = 0; k < e.names.size(); k++)
        a.Set(k, e.names[k] ? Napi::Value(Napi::String::New(env, *e.names[k])) : env.Null());
      o.Set("value", a);
    }
    out.Set(i, o);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("epoch", Napi::Number::New(env, static_cast<double>(epoch)));
  r.Set("entries", out);
  return r;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "vppStatsClose(handle: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto it = segments.find(info[0].As<Napi::Number>().Int32Value());
  if (it != segments.end()) {
    ::munmap(const_cast<uint8_t*>(it->second.map), it->second.size);
    segments.erase(it);
  }
  return env.Undefined();
}

}  // namespace

void RegisterVppStats(Napi::Env env, Napi::Object exports) {
  exports.Set("vppStatsOpen", Napi::Function::New(env, Open, "vppStatsOpen"));
  exports.Set("vppStatsRead", Napi::Function::New(env, Read, "vppStatsRead"));
  exports.Set("vppStatsClose", Napi::Function::New(env, Close, "vppStatsClose"));
}

}  // namespace nsm

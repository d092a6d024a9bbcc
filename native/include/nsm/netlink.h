// Minimal rtnetlink transport: send one request and collect its ack or dump. No policy here:
// messages are built by the caller (TS encoder or the link lister) and only sent and read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nsm/sys_error.h"

namespace nsm {

struct NlReply {
  int kernelErr = 0;          // errno from NLMSG_ERROR / NLMSG_DONE (positive), 0 = success
  std::string extack;         // NLMSGERR_ATTR_MSG text, if the kernel sent one
  std::vector<uint8_t> dump;  // concatenated reply messages (dumps, NLM_F_ECHO), NLMSG_DONE excluded
};

// Sends `msg` (one complete nlmsghdr, seq/pid are overwritten with `seq`/0) on `sock` and reads
// until its ack (non-dump) or NLMSG_DONE (dump, detected from NLM_F_DUMP in the header).
// Returns a SysError only for socket-level failures; kernel refusals land in reply->kernelErr.
SysError NlTransact(int sock, uint8_t* msg, size_t len, uint32_t seq, NlReply* reply);

// Parses one received datagram of replies to request `seq` into *reply; true when the request
// is complete (ack, error or NLMSG_DONE). Every length is checked against `n` (fuzzed:
// native/test/fuzz_netlink.cc).
bool NlParseReply(const uint8_t* buf, size_t n, uint32_t seq, bool dump, bool wantsAck, NlReply* reply);

// One RTM_NEWLINK, as linkList reports it.
struct LinkInfo {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;
  uint32_t flags = 0;
  std::string mac;
  std::string kind;
};
// Parses a link dump (concatenated RTM_NEWLINK messages); malformed messages are skipped.
void ParseLinks(const std::vector<uint8_t>& dump, std::vector<LinkInfo>* out);

// Name of an rtnetlink message type for error messages: "RTM_NEWLINK", or "nlmsg 99".
std::string NlTypeName(uint16_t type);

}  // namespace nsm

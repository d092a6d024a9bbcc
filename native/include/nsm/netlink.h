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

// Name of an rtnetlink message type for error messages: "RTM_NEWLINK", or "nlmsg 99".
std::string NlTypeName(uint16_t type);

}  // namespace nsm

// libFuzzer target: rtnetlink replies (acks, errors with extended-ack TLVs, dumps) and the
// link-dump parser, over arbitrary bytes as a misbehaving or compromised netlink peer sends.
#include <cstring>

#include "nsm/netlink.h"

using namespace nsm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // A datagram lives in an aligned buffer of exactly its size (ASan sees any over-read).
  std::vector<uint8_t> buf(data + 1, data + size);
  NlReply reply;
  const bool dump = data[0] & 1, ack = data[0] & 2;
  NlParseReply(buf.data(), buf.size(), 0, dump, ack, &reply);
  NlParseReply(buf.data(), buf.size(), 1, dump, ack, &reply);
  std::vector<LinkInfo> links;
  ParseLinks(buf, &links);
  ParseLinks(reply.dump, &links);
  return 0;
}

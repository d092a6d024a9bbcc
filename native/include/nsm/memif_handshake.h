// The memif control-channel handshake of one connection, as a state machine without I/O: feed
// it each received message (and the fd that came with it); it answers with the messages to
// send and a verdict. The port's control thread (memif_port.cc) does the socket work; the fuzz
// target (native/test/fuzz_memif_ctl.cc) feeds it directly.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nsm/memif_shm.h"

namespace nsm::memif {

class Handshake {
 public:
  enum State { kWaitHello, kWaitAck, kWaitConnected, kWaitInit, kSetup, kUp };
  enum Verdict { kContinue, kLinkUp, kRefuse, kPeerDisconnect };
  struct Out {
    Msg msg;
    int fd;  // borrowed from the connection (region or eventfd), or -1
  };

  explicit Handshake(const MemifConfig& cfg);
  // Master only: the HELLO to send when a slave connects.
  Msg Hello() const;
  // One received message of exactly kMsgSize bytes. On kRefuse/kPeerDisconnect, *reason says why.
  Verdict OnMessage(const Msg& m, UniqueFd fd, std::vector<Out>* out, std::string* reason);
  State state() const { return state_; }
  // After kLinkUp: the connection's shared memory, ready for the data path.
  std::unique_ptr<Conn> TakeConn() { return std::move(conn_); }

 private:
  Verdict Master(const Msg& m, UniqueFd fd, std::vector<Out>* out, std::string* reason);
  Verdict MasterSetup(const Msg& m, UniqueFd fd, std::vector<Out>* out, std::string* reason);
  Verdict Slave(const Msg& m, std::vector<Out>* out, std::string* reason);
  Verdict SendNext(std::vector<Out>* out);

  const MemifConfig& cfg_;
  State state_;
  std::unique_ptr<Conn> conn_ = std::make_unique<Conn>();
  std::vector<Out> queued_;  // slave: INIT .. CONNECT, one per ACK
  size_t next_ = 0;
};

}  // namespace nsm::memif

// InterruptWatcher: while it lives, Ctrl-C (SIGINT) and SIGTERM run a
// callback instead of killing bnctl, so that a command that follows a stream
// (drift --watch) can end its call and exit cleanly. The signal handler only
// writes a byte to a pipe (all a handler may safely do); a thread of the
// watcher reads it and runs the callback. The destructor restores the
// previous handlers. One watcher at a time; the callback must be
// thread-safe (CallCanceller::Cancel is).
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace bnserve::client {

class InterruptWatcher {
 public:
  explicit InterruptWatcher(std::function<void()> on_interrupt);
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  // True once a signal arrived.
  bool interrupted() const { return interrupted_.load(); }

 private:
  void Run();

  std::function<void()> on_interrupt_;
  std::atomic<bool> interrupted_{false};
  int pipe_[2] = {-1, -1};
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
  std::thread thread_;
};

}  // namespace bnserve::client

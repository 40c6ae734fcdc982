#include "client/bnctl/interrupt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace bnserve::client {
namespace {

// The write end of the live watcher's pipe, for the handler.
std::atomic<int> signal_pipe{-1};

constexpr char kSignal = 's';
constexpr char kQuit = 'q';

void OnSignal(int) {
  const int saved_errno = errno;
  const int fd = signal_pipe.load();
  if (fd >= 0) {
    [[maybe_unused]] ssize_t written = write(fd, &kSignal, 1);
  }
  errno = saved_errno;
}

}  // namespace

InterruptWatcher::InterruptWatcher(std::function<void()> on_interrupt) : on_interrupt_(std::move(on_interrupt)) {
  if (pipe2(pipe_, O_CLOEXEC) != 0) return;  // no watcher: signals keep their default effect
  signal_pipe.store(pipe_[1]);
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
  thread_ = std::thread([this] { Run(); });
}

InterruptWatcher::~InterruptWatcher() {
  if (pipe_[0] < 0) return;
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
  signal_pipe.store(-1);
  [[maybe_unused]] ssize_t written = write(pipe_[1], &kQuit, 1);
  thread_.join();
  close(pipe_[0]);
  close(pipe_[1]);
}

void InterruptWatcher::Run() {
  for (;;) {
    char byte = 0;
    const ssize_t got = read(pipe_[0], &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got != 1 || byte == kQuit) return;
    interrupted_.store(true);
    on_interrupt_();
  }
}

}  // namespace bnserve::client

// Test helpers for end-to-end tests that run real binaries: run a command
// and capture its output (long-running servers: live_server.h),
// pick a free loopback port, make a temporary directory. POSIX only; every
// wait is bounded so that a hung child fails the test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bnserve::testing {

// A fresh directory under $TMPDIR (or /tmp); the caller removes it.
inline std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) return "";
  return buffer.data();
}

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A port nobody listens on right now: bind port 0, read it back, close.
// (Another process could take it before our server does; callers retry.)
inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Whether something accepts TCP connections on 127.0.0.1:port right now.
inline bool LoopbackPortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool accepted = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return accepted;
}

// fork + exec with stdout/stderr sent to files; -1 when fork fails.
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int null_in = open("/dev/null", O_RDONLY);
  dup2(null_in, 0);
  dup2(out, 1);
  dup2(err, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

// Waits up to `timeout` for `pid`; returns its exit code, 128 + signal, or
// -1 after killing it when the time ran out.
inline int WaitBounded(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

struct CommandOutput {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (an absolute path) to completion, at most `timeout`.
inline CommandOutput RunCommand(const std::vector<std::string>& argv, const std::string& scratch_dir,
                                std::chrono::seconds timeout = std::chrono::seconds(120)) {
  static int counter = 0;
  const std::string stem = scratch_dir + "/cmd" + std::to_string(counter++);
  CommandOutput result;
  pid_t pid = Spawn(argv, stem + ".out", stem + ".err");
  if (pid < 0) return result;
  result.exit_code = WaitBounded(pid, timeout);
  result.out = ReadWholeFile(stem + ".out");
  result.err = ReadWholeFile(stem + ".err");
  return result;
}

}  // namespace bnserve::testing

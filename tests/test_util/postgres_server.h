// TempPostgres: a real PostgreSQL server for tests, started and stopped by
// the test itself - initdb into a fresh temporary folder, then pg_ctl on a
// free loopback port (no TCP outside 127.0.0.1, its socket in that folder).
// PostgreSQL refuses to run as root, and CI runs as root: then the cluster
// belongs to the unprivileged 'postgres' user (created by Debian's
// postgresql-common), or 'nobody' when that user is missing, and every
// PostgreSQL program runs through runuser. The binaries come from
// $BNSERVE_PG_BIN, else the newest /usr/lib/postgresql/<major>/bin.
// Authentication is 'trust' on loopback: the tests are not about passwords.
// Not thread-safe (one driver thread per object).
#pragma once

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tests/test_util/subprocess_util.h"

namespace bnserve::testing {

class TempPostgres {
 public:
  TempPostgres() = default;
  ~TempPostgres() {
    if (initialized_) Pg({"pg_ctl", "stop", "-D", data_dir(), "-m", "immediate", "-w"});
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }
  TempPostgres(const TempPostgres&) = delete;
  TempPostgres& operator=(const TempPostgres&) = delete;

  // The directory holding initdb and pg_ctl, or "" when none is installed.
  static std::string FindBinDir() {
    if (const char* env = std::getenv("BNSERVE_PG_BIN"); env != nullptr && *env != '\0') return env;
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      if (std::filesystem::exists(entry.path() / "bin" / "pg_ctl")) found.push_back(entry.path().string());
    }
    if (found.empty()) return "";
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
      return std::atoi(std::filesystem::path(a).filename().c_str()) <
             std::atoi(std::filesystem::path(b).filename().c_str());
    });
    return found.back() + "/bin";
  }

  // initdb and start. False (with error() saying why) on any failure.
  bool Start() {
    bin_dir_ = FindBinDir();
    if (bin_dir_.empty()) return Fail("no PostgreSQL found under /usr/lib/postgresql (install postgresql-15)");
    root_ = MakeTempDir("bnserve-pg");
    if (root_.empty()) return Fail("mkdtemp failed");
    // The cluster's own folder: owned by the user the server runs as.
    std::filesystem::create_directory(cluster_dir());
    if (geteuid() == 0) {
      const passwd* user = getpwnam("postgres");
      if (user == nullptr) user = getpwnam("nobody");
      if (user == nullptr) return Fail("running as root and neither 'postgres' nor 'nobody' exists");
      run_as_ = user->pw_name;
      chmod(root_.c_str(), 0755);
      if (chown(cluster_dir().c_str(), user->pw_uid, user->pw_gid) != 0) return Fail("chown of the cluster folder");
    }
    CommandOutput init = Pg(
        {"initdb", "-D", data_dir(), "-U", "bnserve", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"});
    if (init.exit_code != 0) return Fail("initdb failed: " + init.err + init.out);
    initialized_ = true;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreeLoopbackPort();
      if (Resume()) return true;
    }
    return false;
  }

  // Starts the stopped server again on the same port.
  bool Resume() {
    CommandOutput start =
        Pg({"pg_ctl", "start", "-D", data_dir(), "-w", "-t", "60", "-l", cluster_dir() + "/server.log", "-o",
            "-p " + std::to_string(port_) + " -c listen_addresses=127.0.0.1 -k " + cluster_dir()});
    if (start.exit_code != 0) return Fail("pg_ctl start failed: " + start.err + start.out + ReadWholeFile(log_path()));
    return true;
  }
  // Stops the server: "fast" closes connections cleanly, "immediate" is a crash.
  bool Stop(const std::string& mode = "fast") {
    return Pg({"pg_ctl", "stop", "-D", data_dir(), "-m", mode, "-w", "-t", "60"}).exit_code == 0;
  }

  // The libpq URI of the cluster's 'postgres' database as user 'bnserve'.
  std::string uri() const { return "postgresql://bnserve@127.0.0.1:" + std::to_string(port_) + "/postgres"; }
  int port() const { return port_; }
  const std::string& error() const { return error_; }
  std::string log_path() const { return cluster_dir() + "/server.log"; }

  // Runs `sql` through psql; its exit code, output and error text.
  CommandOutput Psql(const std::string& sql) {
    return Pg({"psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", uri(), "-c", sql});
  }

 private:
  std::string cluster_dir() const { return root_ + "/cluster"; }
  std::string data_dir() const { return cluster_dir() + "/data"; }

  // Runs a PostgreSQL program of bin_dir_ (as run_as_ when root).
  CommandOutput Pg(std::vector<std::string> argv) {
    argv[0] = bin_dir_ + "/" + argv[0];
    if (!run_as_.empty()) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", run_as_, "--"});
    return RunCommand(argv, root_, std::chrono::seconds(90));
  }
  bool Fail(const std::string& why) {
    error_ = why;
    return false;
  }

  std::string bin_dir_;
  std::string root_;
  std::string run_as_;
  std::string error_;
  int port_ = 0;
  bool initialized_ = false;
};

}  // namespace bnserve::testing

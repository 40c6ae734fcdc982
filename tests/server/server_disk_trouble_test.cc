// Disk trouble under a real server: a full disk, a repository that is not
// writable, and damaged statistics files at start-up. Each time the server
// must say clearly what is wrong (code, path, OS error), keep serving the
// last good version, never delete or rewrite good data, and recover once the
// disk is fixed.
//
// Mechanisms, real rather than simulated where the machine allows:
//  - disk full: the repository lives on a small tmpfs mounted for the test
//    (root with CAP_SYS_ADMIN, as in CI) and is filled to ENOSPC. Where
//    mount(2) is refused (an unprivileged container) the test says so and
//    uses RLIMIT_FSIZE instead: write(2) then really fails with EFBIG.
//    FileSizeLimit runs that fallback everywhere, so it stays tested.
//  - not writable: the tmpfs is remounted read-only (EROFS; root bypasses
//    permission bits, not a read-only mount). Without mount, the statistics
//    folder is made immutable with FS_IOC_SETFLAGS (chattr +i: EPERM even
//    for root); ImmutableStatisticsFolder runs that fallback everywhere. If
//    neither is possible the test FAILS saying so (never a silent pass).
//  - damaged files: bytes flipped and files cut short on the real disk.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// A tmpfs of `size_bytes` mounted on an existing directory for the object's
// lifetime (lazily unmounted, so a straggling open file cannot keep it).
class ScopedTmpfs {
 public:
  ScopedTmpfs(std::string dir, size_t size_bytes) : dir_(std::move(dir)) {
    const std::string options = "size=" + std::to_string(size_bytes) + ",mode=0755";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      why_not_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
    }
  }
  ~ScopedTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  // Remounts read-only (true) or read-write (false).
  bool SetReadOnly(bool read_only) {
    const unsigned long flags = MS_REMOUNT | (read_only ? MS_RDONLY : 0);
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) == 0;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string why_not_;
};

// chattr +i / -i on a directory: no entry can be created, renamed or removed
// in it, whoever asks (root included). False when the file system or the
// process's capabilities do not allow it.
bool SetImmutable(const std::string& dir, bool immutable) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = immutable ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

// Every regular file under `root` with its bytes, except `skip`.
std::map<std::string, std::string> FilesUnder(const std::string& root, const std::string& skip = "") {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.path().string() == skip) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().string()] = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  return files;
}

// Writes 4 KiB blocks to `path` until the file system refuses one; returns
// the errno of that refusal (ENOSPC expected).
int FillDisk(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  const std::string block(4096, 'f');
  int error = 0;
  while (error == 0) {
    if (::write(fd, block.data(), block.size()) < 0) error = errno;
  }
  ::close(fd);
  return error;
}

// RLIMIT_FSIZE lowered to `bytes` and SIGXFSZ ignored (so write(2) fails
// with EFBIG instead of killing the process) for the object's lifetime.
class ScopedFileSizeLimit {
 public:
  explicit ScopedFileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limited = saved_;
    limited.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &limited) == 0;
  }
  ~ScopedFileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  sighandler_t previous_handler_ = SIG_DFL;
  bool ok_ = false;
};

class DiskTroubleTest : public ::testing::Test {
 protected:
  ~DiskTroubleTest() override {
    server_.reset();
    SetImmutable(StatsDir(), false);  // after a failed immutable test, so the folder can be removed
  }

  // Mounts a tmpfs on the (still empty) repository when possible, then adds
  // the model and starts the server.
  void StartOnTmpfs(size_t size_bytes) {
    tmpfs_ = std::make_unique<ScopedTmpfs>(repo_.path(), size_bytes);
    if (!tmpfs_->mounted()) std::printf("[ NOTE     ] %s\n", tmpfs_->why_not().c_str());
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    StartServer();
  }
  void StartServer() { server_ = std::make_unique<TestServer>(repo_.path()); }
  void StopServer() { server_.reset(); }

  std::string StatsDir() const { return repo_.ModelDir("mlp") + "/stats"; }

  static v1::RecalibrationConfig Config(const std::string& note) {
    v1::RecalibrationConfig config;
    config.set_model("mlp");
    config.set_mode(v1::RECALIBRATION_MODE_EMA);
    config.set_note(note);
    return config;
  }
  RecalibrateResult Recalibrate(const std::string& note, uint32_t seed) {
    return testing::Recalibrate(
        server_->stub(), Config(note),
        {MakeTensor({6, 20}, GridValues(120, seed)), MakeTensor({5, 20}, GridValues(100, seed))});
  }
  grpc::Status Rollback(int64_t to) {
    v1::RollbackRequest request;
    request.set_model("mlp");
    request.set_to_version(to);
    v1::RollbackResponse response;
    return server_->stub().Rollback(NewContext().get(), request, &response);
  }

  // What clients see of the served statistics: version and values.
  std::string Served() {
    v1::GetRunningStatsRequest request;
    request.set_model("mlp");
    v1::GetRunningStatsResponse response;
    const grpc::Status status = server_->stub().GetRunningStats(NewContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.SerializeAsString();
  }
  int64_t ServedVersion() { return ListVersions(server_->stub(), "mlp").current_version(); }
  std::vector<float> PredictOutput() {
    v1::PredictResponse response;
    const grpc::Status status = Predict(server_->stub(), "mlp", MakeTensor({3, 20}, GridValues(60, 99)), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.outputs_size() == 1 ? TensorValues(response.outputs(0)) : std::vector<float>{};
  }

  // The common part of the disk-full scenarios: version 2 committed and
  // served, then `make_full` makes the disk refuse writes; the commit must
  // fail with RESOURCE_EXHAUSTED naming the path and `os_error`, change
  // nothing, and succeed once `make_room` has run.
  void ExpectFullDiskHandled(const std::function<void()>& make_full, const std::function<void()>& make_room,
                             const std::string& os_error, const std::string& skip_file) {
    const RecalibrateResult good = Recalibrate("good", 1);
    ASSERT_TRUE(good.status.ok()) << good.status.error_message();
    ASSERT_EQ(good.response.new_version().version(), 2);
    const std::string served = Served();
    const std::vector<float> predicted = PredictOutput();
    const auto disk = FilesUnder(repo_.path(), skip_file);

    make_full();
    const RecalibrateResult refused = Recalibrate("refused", 2);
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.status.error_message();
    EXPECT_THAT(refused.status.error_message(), HasSubstr("model 'mlp'"));
    EXPECT_THAT(refused.status.error_message(), HasSubstr(StatsDir() + "/v00000003.bnstats.tmp"));
    EXPECT_THAT(refused.status.error_message(), HasSubstr(os_error));
    const grpc::Status rollback = Rollback(1);
    EXPECT_EQ(rollback.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << rollback.error_message();
    EXPECT_EQ(Served(), served) << "the last good version is still served";
    EXPECT_EQ(PredictOutput(), predicted);
    EXPECT_EQ(ServedVersion(), 2);
    make_room();
    EXPECT_EQ(FilesUnder(repo_.path(), skip_file), disk) << "nothing on disk changed, nothing left behind";

    const RecalibrateResult after = Recalibrate("after", 3);
    ASSERT_TRUE(after.status.ok()) << after.status.error_message();
    EXPECT_EQ(after.response.new_version().version(), 3);
    StopServer();
    StartServer();
    EXPECT_EQ(ServedVersion(), 3) << "the commit after the recovery is durable";
  }

  // chattr +i on stats/; the undo, or an empty function (and a skip) when
  // the file system or the process's capabilities refuse.
  std::function<void()> MakeStatsImmutable(std::string* os_error) {
    if (!SetImmutable(StatsDir(), true)) {
      const std::string why = std::strerror(errno);
      ADD_FAILURE_AT(__FILE__, __LINE__)
          << "neither a read-only mount nor chattr +i is possible here (FS_IOC_SETFLAGS: " << why
          << "): the unwritable-repository case is NOT tested";
      return {};
    }
    std::printf("[ NOTE     ] not writable: stats/ made immutable (chattr +i)\n");
    *os_error = "Operation not permitted";
    return [this] { ASSERT_TRUE(SetImmutable(StatsDir(), false)); };
  }

  // Version 2 committed and served, then `make_unwritable` makes the
  // statistics folder refuse writes (returning the undo and the OS error
  // text to expect); commits must fail with FAILED_PRECONDITION naming the
  // path and the error, change nothing, and work again after the undo.
  void ExpectUnwritableHandled(const std::function<std::function<void()>(std::string*)>& make_unwritable) {
    const RecalibrateResult good = Recalibrate("good", 1);
    ASSERT_TRUE(good.status.ok()) << good.status.error_message();
    const std::string served = Served();
    const std::vector<float> predicted = PredictOutput();
    const auto disk = FilesUnder(repo_.path());

    std::string os_error;
    const std::function<void()> make_writable = make_unwritable(&os_error);
    if (!make_writable) return;
    const RecalibrateResult refused = Recalibrate("refused", 2);
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.status.error_message();
    EXPECT_THAT(refused.status.error_message(), HasSubstr(StatsDir() + "/v00000003.bnstats.tmp"));
    EXPECT_THAT(refused.status.error_message(), HasSubstr(os_error));
    const grpc::Status rollback = Rollback(1);
    EXPECT_EQ(rollback.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << rollback.error_message();
    EXPECT_EQ(Served(), served);
    EXPECT_EQ(PredictOutput(), predicted);
    make_writable();
    EXPECT_EQ(FilesUnder(repo_.path()), disk);

    // Version numbers may have been skipped: the failed commits could not
    // even check that their files were gone, so their numbers stay taken.
    const RecalibrateResult after = Recalibrate("after", 3);
    ASSERT_TRUE(after.status.ok()) << after.status.error_message();
    EXPECT_GE(after.response.new_version().version(), 3);
    EXPECT_EQ(after.response.new_version().parent(), 2);
    EXPECT_EQ(ServedVersion(), after.response.new_version().version());
  }

  TempRepository repo_;                 // destroyed last
  std::unique_ptr<ScopedTmpfs> tmpfs_;  // unmounted before the repository is removed
  std::unique_ptr<TestServer> server_;  // stopped first
};

TEST_F(DiskTroubleTest, FullDiskFailsTheCommitClearlyAndChangesNothing) {
  StartOnTmpfs(256 << 10);
  const std::string filler = repo_.path() + "/filler";
  if (tmpfs_->mounted()) {
    std::printf("[ NOTE     ] disk full: a 256 KiB tmpfs filled to ENOSPC\n");
    ExpectFullDiskHandled([&] { ASSERT_EQ(FillDisk(filler), ENOSPC); }, [&] { ASSERT_EQ(::unlink(filler.c_str()), 0); },
                          "No space left on device", filler);
  } else {
    std::printf("[ NOTE     ] disk full: mount not permitted; using RLIMIT_FSIZE (EFBIG) instead\n");
    std::unique_ptr<ScopedFileSizeLimit> limit;
    ExpectFullDiskHandled(
        [&] {
          limit = std::make_unique<ScopedFileSizeLimit>(16);
          ASSERT_TRUE(limit->ok());
        },
        [&] { limit.reset(); }, "File too large", "");
  }
}

TEST_F(DiskTroubleTest, FileSizeLimitFailsTheCommitClearlyAndChangesNothing) {
  // The fallback mechanism of the test above, run everywhere.
  repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
  StartServer();
  std::unique_ptr<ScopedFileSizeLimit> limit;
  ExpectFullDiskHandled(
      [&] {
        limit = std::make_unique<ScopedFileSizeLimit>(16);
        ASSERT_TRUE(limit->ok());
      },
      [&] { limit.reset(); }, "File too large", "");
}

TEST_F(DiskTroubleTest, ReadOnlyRepositoryFailsTheCommitClearlyAndChangesNothing) {
  StartOnTmpfs(1 << 20);
  ExpectUnwritableHandled([&](std::string* os_error) {
    if (tmpfs_->mounted() && tmpfs_->SetReadOnly(true)) {
      std::printf("[ NOTE     ] not writable: the repository's tmpfs remounted read-only\n");
      *os_error = "Read-only file system";
      return std::function<void()>([&] { ASSERT_TRUE(tmpfs_->SetReadOnly(false)); });
    }
    std::printf("[ NOTE     ] read-only remount not possible (%s); using chattr +i instead\n",
                tmpfs_->why_not().c_str());
    return MakeStatsImmutable(os_error);
  });
}

TEST_F(DiskTroubleTest, ImmutableStatisticsFolderFailsTheCommitClearlyAndChangesNothing) {
  // The fallback mechanism of the test above, run wherever chattr works.
  repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
  StartServer();
  ExpectUnwritableHandled([&](std::string* os_error) { return MakeStatsImmutable(os_error); });
}

TEST_F(DiskTroubleTest, DamagedStatisticsAtStartUpAreReportedKeptAndNotServed) {
  repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
  StartServer();
  ASSERT_TRUE(Recalibrate("two", 1).status.ok());
  const std::string served_v2 = Served();
  ASSERT_TRUE(Recalibrate("three", 2).status.ok());
  StopServer();
  const std::string v3_path = StatsDir() + "/v00000003.bnstats";
  std::string v3;
  {
    std::ifstream in(v3_path, std::ios::binary);
    v3.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(v3.size(), 100u);
  std::string flipped = v3;
  flipped[v3.size() / 2] ^= 0x20;
  struct Damage {
    std::string name;
    std::string bytes;
    std::string reported;
  };
  for (const Damage& damage :
       {Damage{"bit flip", flipped, "payload checksum mismatch"},
        Damage{"truncated", v3.substr(0, v3.size() - 13), "payload length"}, Damage{"empty", "", "truncated header"}}) {
    SCOPED_TRACE(damage.name);
    {
      std::ofstream out(v3_path, std::ios::binary | std::ios::trunc);
      out << damage.bytes;
    }
    const auto disk = FilesUnder(repo_.path());
    std::string log;
    {
      LogCapture capture;
      StartServer();
      EXPECT_EQ(ServedVersion(), 2) << "the newest intact version";
      EXPECT_EQ(Served(), served_v2);
      StopServer();
      log = capture.text();
    }
    EXPECT_THAT(log, HasSubstr("event=stats_recovery model=mlp"));
    EXPECT_THAT(log, HasSubstr("corrupt statistics file, left in place and not served: stats file '" + v3_path +
                               "': " + damage.reported));
    EXPECT_THAT(log, HasSubstr("names version 3 whose file is missing, corrupt or unfit; serving version 2"));
    EXPECT_EQ(FilesUnder(repo_.path()), disk) << "start-up deletes and rewrites nothing";
  }

  // A commit after the recovery takes a new number; the damaged file stays.
  StartServer();
  const RecalibrateResult next = Recalibrate("four", 4);
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.response.new_version().version(), 4);
  EXPECT_TRUE(fs::exists(v3_path));
}

}  // namespace
}  // namespace bnserve::testing

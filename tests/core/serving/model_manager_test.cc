// ModelManager without any gRPC: the lifecycle and its state notifications,
// the serving-bundle swap (in-flight holders keep their version), pinned
// versions, and that a commit failing at any I/O step changes nothing.
#include "core/serving/model_manager.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "core/util/file_system.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// The POSIX file system, except that once armed it fails the n-th call of
// the kind chosen, as a disk error would.
class FailingFileSystem final : public FileSystem {
 public:
  enum class Step { kNone, kAppend, kSync, kRename, kSyncDir };
  void FailAt(Step step) { fail_at_ = step; }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override { return posix_.ReadFile(path); }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    BN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, posix_.NewWritableFile(path));
    return std::unique_ptr<WritableFile>(new File(std::move(file), this));
  }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (fail_at_ == Step::kRename) return absl::UnavailableError("injected rename failure");
    return posix_.RenameFile(from, to);
  }
  absl::Status SyncDir(const std::string& dir) override {
    if (fail_at_ == Step::kSyncDir) return absl::UnavailableError("injected directory fsync failure");
    return posix_.SyncDir(dir);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override { return posix_.ListDir(dir); }
  absl::Status RemoveFile(const std::string& path) override { return posix_.RemoveFile(path); }
  bool FileExists(const std::string& path) override { return posix_.FileExists(path); }
  absl::Status CreateDir(const std::string& path) override { return posix_.CreateDir(path); }

 private:
  class File final : public WritableFile {
   public:
    File(std::unique_ptr<WritableFile> file, FailingFileSystem* fs) : file_(std::move(file)), fs_(fs) {}
    absl::Status Append(absl::string_view data) override {
      if (fs_->fail_at_ == Step::kAppend) return absl::UnavailableError("injected write failure");
      return file_->Append(data);
    }
    absl::Status Sync() override {
      if (fs_->fail_at_ == Step::kSync) return absl::UnavailableError("injected fsync failure");
      return file_->Sync();
    }
    absl::Status Close() override { return file_->Close(); }

   private:
    std::unique_ptr<WritableFile> file_;
    FailingFileSystem* fs_;
  };

  PosixFileSystem posix_;
  Step fail_at_ = Step::kNone;
};

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repository_ =
        std::filesystem::temp_directory_path() / ("bnserve_manager_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(repository_ / "mlp");
    std::filesystem::copy_file(testing::FixturePath("torch/mlp_bn1d.onnx"), repository_ / "mlp" / "model.onnx");
    manager_ = NewManager();
  }
  void TearDown() override {
    manager_.reset();
    std::filesystem::remove_all(repository_);
  }

  std::unique_ptr<ModelManager> NewManager(int statistics_threads = 1, int intra_op_threads = 1,
                                           int64_t inline_predict_budget_ns = kInlinePredictBudgetNs) {
    ModelManagerOptions options;
    options.repository = repository_.string();
    options.file_system = &fs_;
    options.statistics_threads = statistics_threads;
    options.intra_op_threads = intra_op_threads;
    options.inline_predict_budget_ns = inline_predict_budget_ns;
    absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(options);
    EXPECT_TRUE(manager.ok()) << manager.status();
    (*manager)->SetStateListener([this](const std::string& name, ModelState state) {
      std::lock_guard<std::mutex> lock(events_mu_);
      events_.emplace_back(name, ModelStateName(state));
    });
    EXPECT_EQ((*manager)->LoadAll(), 1);
    return *std::move(manager);
  }

  // A recalibration of `model` over two deterministic batches.
  absl::StatusOr<RecalibrationOutcome> Recalibrate(ModelManager& manager, int64_t expected_version = 0) {
    RecalibrationRequest request;
    request.options.mode = RecalibrationMode::kExact;
    request.expected_version = expected_version;
    BN_ASSIGN_OR_RETURN(std::unique_ptr<RecalibrationSession> session,
                        manager.StartRecalibration("mlp", std::move(request)));
    for (int b = 0; b < 2; ++b) {
      const std::vector<float> batch = Values(6 * 20, 50 + b);
      BN_RETURN_IF_ERROR(session->AddBatch({TensorView{Shape{6, 20}, batch.data()}}));
    }
    return session->Finish();
  }

  static std::vector<float> Values(size_t count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> grid(-100, 100);
    std::vector<float> values(count);
    for (float& v : values) v = static_cast<float>(grid(rng)) / 32.0f;
    return values;
  }

  std::vector<float> Predict(ModelManager& manager, VersionRequest version, int64_t* served = nullptr) {
    const std::vector<float> x = Values(3 * 20, 7);
    TensorView input{Shape{3, 20}, x.data()};
    absl::StatusOr<Prediction> prediction = manager.Predict("mlp", version, {}, {&input, 1});
    EXPECT_TRUE(prediction.ok()) << prediction.status();
    if (!prediction.ok()) return {};
    if (served != nullptr) *served = prediction->bundle().info.version;
    const TensorView out = prediction->output(0);
    return std::vector<float>(out.data, out.data + out.size());
  }

  std::filesystem::path repository_;
  FailingFileSystem fs_;
  std::mutex events_mu_;
  std::vector<std::pair<std::string, std::string>> events_;
  std::unique_ptr<ModelManager> manager_;
};

// An operator the engine cannot run fails the load naming the operator, the
// node and the opset, before the statistics store is touched.
TEST_F(ModelManagerTest, UnsupportedOperatorFailsTheLoadBeforeTheStoreIsOpened) {
  std::filesystem::create_directories(repository_ / "erf");
  testing::WriteTestFile((repository_ / "erf" / "model.onnx").string(), testing::OnnxBuilder(13)
                                                                            .Input("x", {"batch", 4})
                                                                            .Output("y", {"batch", 4})
                                                                            .Node("Erf", {"x"}, {"y"}, "my_erf")
                                                                            .Bytes());
  absl::StatusOr<ModelStatus> status = manager_->Load("erf");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.status().message()), ::testing::HasSubstr("Erf"));
  EXPECT_THAT(std::string(status.status().message()), ::testing::HasSubstr("my_erf"));
  EXPECT_THAT(std::string(status.status().message()), ::testing::HasSubstr("opset 13"));
  EXPECT_FALSE(std::filesystem::exists(repository_ / "erf" / "stats"));
}

// The batch rows a prediction computed (the inference-samples metric): the
// leading dim of a batch, 1 for a single instance sent without it.
TEST_F(ModelManagerTest, PredictionCountsItsSamples) {
  const std::vector<float> x = Values(3 * 20, 11);
  TensorView batch{Shape{3, 20}, x.data()};
  absl::StatusOr<Prediction> batched = manager_->Predict("mlp", VersionRequest::Current(), {}, {&batch, 1});
  ASSERT_TRUE(batched.ok()) << batched.status();
  EXPECT_EQ(batched->samples(), 3);
  TensorView single{Shape{20}, x.data()};
  absl::StatusOr<Prediction> one = manager_->Predict("mlp", VersionRequest::Current(), {}, {&single, 1});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->form(), BatchForm::kSingleInstance);
  EXPECT_EQ(one->samples(), 1);
}

TEST_F(ModelManagerTest, StateChangesAreReportedInOrder) {
  ASSERT_TRUE(manager_->Unload("mlp").ok());
  ASSERT_TRUE(manager_->Load("mlp").ok());
  std::lock_guard<std::mutex> lock(events_mu_);
  // No model existed when the listener was installed; then load, unload, load.
  EXPECT_THAT(events_, ElementsAre(Pair("mlp", "loading"), Pair("mlp", "available"), Pair("mlp", "unloading"),
                                   Pair("mlp", "unloaded"), Pair("mlp", "loading"), Pair("mlp", "available")));
}

TEST_F(ModelManagerTest, HoldersOfTheOldBundleFinishOnItAfterUnloadAndCommit) {
  absl::StatusOr<RunningStatsView> held = manager_->RunningStats("mlp", VersionRequest::Current(), {});
  ASSERT_TRUE(held.ok());
  const std::vector<float> before = Predict(*manager_, VersionRequest::Current());
  ASSERT_TRUE(Recalibrate(*manager_).ok());
  ASSERT_TRUE(manager_->Unload("mlp").ok());
  // The bundle taken before both still computes version 1's outputs.
  const std::vector<float> x = Values(3 * 20, 7);
  TensorView input{Shape{3, 20}, x.data()};
  absl::StatusOr<Prediction> late = RunPrediction(held->bundle, {}, {&input, 1});
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->bundle().info.version, 1);
  const TensorView out = late->output(0);
  EXPECT_EQ(std::vector<float>(out.data, out.data + out.size()), before);
}

TEST_F(ModelManagerTest, PinnedVersionsAreBuiltOnceAndCached) {
  ASSERT_TRUE(Recalibrate(*manager_).ok());
  ASSERT_TRUE(Recalibrate(*manager_).ok());
  absl::StatusOr<RunningStatsView> first = manager_->RunningStats("mlp", VersionRequest::Specific(2), {});
  absl::StatusOr<RunningStatsView> again = manager_->RunningStats("mlp", VersionRequest::Specific(2), {});
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->bundle, again->bundle);
  EXPECT_EQ(first->bundle->info.version, 2);
  EXPECT_EQ(first->bundle->stats->version, 2);
  int64_t served = 0;
  const std::vector<float> v1 = Predict(*manager_, VersionRequest::Specific(1), &served);
  EXPECT_EQ(served, 1);
  Predict(*manager_, VersionRequest::Current(), &served);
  EXPECT_EQ(served, 3);
  EXPECT_EQ(manager_->RunningStats("mlp", VersionRequest::Specific(4), {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, CommitFailingAtAnyIoStepChangesNothing) {
  using Step = FailingFileSystem::Step;
  const std::vector<float> before = Predict(*manager_, VersionRequest::Current());
  for (Step step : {Step::kAppend, Step::kSync, Step::kRename, Step::kSyncDir}) {
    SCOPED_TRACE(static_cast<int>(step));
    fs_.FailAt(step);
    absl::StatusOr<RecalibrationOutcome> outcome = Recalibrate(*manager_);
    fs_.FailAt(Step::kNone);
    EXPECT_FALSE(outcome.ok());
    int64_t served = 0;
    EXPECT_EQ(Predict(*manager_, VersionRequest::Current(), &served), before);
    EXPECT_EQ(served, 1);
    absl::StatusOr<std::vector<VersionInfo>> history = manager_->History("mlp");
    ASSERT_TRUE(history.ok());
    EXPECT_EQ(history->size(), 1u);
  }
  // ... and a restart still serves version 1, then commits normally.
  manager_ = NewManager();
  int64_t served = 0;
  EXPECT_EQ(Predict(*manager_, VersionRequest::Current(), &served), before);
  EXPECT_EQ(served, 1);
  absl::StatusOr<RecalibrationOutcome> outcome = Recalibrate(*manager_);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->new_version.parent, 1);
}

TEST_F(ModelManagerTest, ReloadPicksUpCommittedStatisticsAndAbortsStaleSessions) {
  RecalibrationRequest request;
  request.options.mode = RecalibrationMode::kExact;
  absl::StatusOr<std::unique_ptr<RecalibrationSession>> stale = manager_->StartRecalibration("mlp", request);
  ASSERT_TRUE(stale.ok());
  const std::vector<float> batch = Values(6 * 20, 9);
  ASSERT_TRUE((*stale)->AddBatch({TensorView{Shape{6, 20}, batch.data()}}).ok());

  ASSERT_TRUE(Recalibrate(*manager_).ok());  // version 2
  ASSERT_TRUE(manager_->Reload("mlp").ok());
  int64_t served = 0;
  Predict(*manager_, VersionRequest::Current(), &served);
  EXPECT_EQ(served, 2);
  // The session started on the model object that was replaced.
  absl::StatusOr<RecalibrationOutcome> outcome = (*stale)->Finish();
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(outcome.status().message()), ::testing::HasSubstr("reloaded"));
}

// The core half of the hot-swap guarantee (the gRPC half is in
// tests/server/server_concurrency_test.cc), small enough for TSan: readers
// predicting and pinning versions while a writer commits, rolls back and
// reloads. Each prediction's outputs must be those of the version it names.
TEST_F(ModelManagerTest, ReadersDuringCommitsSeeWholeVersions) {
  const int kReaders = 3;
  std::atomic<int> started{0};
  std::atomic<bool> done{false};
  std::vector<std::vector<std::pair<int64_t, std::vector<float>>>> seen(kReaders);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      while (!done.load()) {
        int64_t served = 0;
        std::vector<float> output = Predict(*manager_, VersionRequest::Current(), &served);
        seen[r].emplace_back(served, std::move(output));
        if (seen[r].size() == 1) started.fetch_add(1);
        manager_->List();
        (void)manager_->RunningStats("mlp", VersionRequest::Specific(1), {});
      }
    });
  }
  while (started.load() < kReaders) std::this_thread::yield();
  ASSERT_TRUE(Recalibrate(*manager_).ok());           // 2
  ASSERT_TRUE(Recalibrate(*manager_).ok());           // 3
  ASSERT_TRUE(manager_->Rollback("mlp", 1, 3).ok());  // 4 = copy of 1
  ASSERT_TRUE(manager_->Reload("mlp").ok());          // still 4
  ASSERT_TRUE(Recalibrate(*manager_).ok());           // 5
  done.store(true);
  for (std::thread& reader : readers) reader.join();

  std::map<int64_t, std::vector<float>> reference;
  for (int64_t v = 1; v <= 5; ++v) reference[v] = Predict(*manager_, VersionRequest::Specific(v));
  EXPECT_EQ(reference[4], reference[1]);
  EXPECT_NE(reference[2], reference[1]);
  for (int r = 0; r < kReaders; ++r) {
    int64_t previous = 0;
    for (const auto& [version, output] : seen[r]) {
      ASSERT_TRUE(reference.count(version)) << "reader " << r << " saw version " << version;
      EXPECT_GE(version, previous) << "reader " << r;
      previous = version;
      EXPECT_EQ(output, reference[version]) << "reader " << r << " version " << version;
    }
  }
}

// The server sizes the statistics pool from its worker threads: statistics
// passes on it must give what a single thread gives.
TEST_F(ModelManagerTest, StatisticsThreadsChangeNoResult) {
  std::unique_ptr<ModelManager> threaded = NewManager(/*statistics_threads=*/3);
  const std::vector<float> batch = Values(6 * 20, 11);
  const TensorView view{Shape{6, 20}, batch.data()};
  for (ForwardMode mode : {ForwardMode::kTrain, ForwardMode::kEval}) {
    absl::StatusOr<BatchStatsReport> alone =
        manager_->BatchStatistics("mlp", VersionRequest::Current(), {view}, mode, false);
    absl::StatusOr<BatchStatsReport> split =
        threaded->BatchStatistics("mlp", VersionRequest::Current(), {view}, mode, false);
    ASSERT_TRUE(alone.ok()) << alone.status();
    ASSERT_TRUE(split.ok()) << split.status();
    ASSERT_EQ(split->layers.size(), alone->layers.size());
    for (size_t l = 0; l < alone->layers.size(); ++l) {
      ASSERT_EQ(split->layers[l].moments.size(), alone->layers[l].moments.size());
      for (size_t c = 0; c < alone->layers[l].moments.size(); ++c) {
        EXPECT_EQ(split->layers[l].moments[c].mean, alone->layers[l].moments[c].mean)
            << "layer " << l << " channel " << c;
        EXPECT_EQ(split->layers[l].moments[c].m2, alone->layers[l].moments[c].m2) << "layer " << l << " channel " << c;
      }
    }
  }
  absl::StatusOr<RecalibrationOutcome> committed = Recalibrate(*threaded);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->new_version.version, 2);
}

// --intra-op-threads: predictions on the shared pool, through Predict and
// through TryPredictInline (the server's inline path), give what one thread
// gives, bit for bit.
TEST_F(ModelManagerTest, IntraOpThreadsChangeNoResult) {
  std::unique_ptr<ModelManager> threaded =
      NewManager(/*statistics_threads=*/1, /*intra_op_threads=*/2, /*inline_predict_budget_ns=*/1'000'000'000);
  const std::vector<float> alone = Predict(*manager_, VersionRequest::Current());
  ASSERT_FALSE(alone.empty());
  EXPECT_EQ(Predict(*threaded, VersionRequest::Current()), alone);

  const std::vector<float> x = Values(3 * 20, 7);  // Predict's input
  TensorView input{Shape{3, 20}, x.data()};
  std::optional<absl::StatusOr<Prediction>> inline_path = threaded->TryPredictInline("mlp", {}, {&input, 1});
  ASSERT_TRUE(inline_path.has_value());
  ASSERT_TRUE(inline_path->ok()) << inline_path->status();
  const TensorView out = (*inline_path)->output(0);
  EXPECT_EQ(std::vector<float>(out.data, out.data + out.size()), alone);
}

// TryPredictInline runs nothing where it would block or take long: before
// the plan's first timed run, for a model not served, over the budget.
TEST_F(ModelManagerTest, TryPredictInlineRunsOnlyTimedServedCallsWithinTheBudget) {
  std::unique_ptr<ModelManager> generous = NewManager(1, 1, /*inline_predict_budget_ns=*/1'000'000'000);
  std::unique_ptr<ModelManager> strict = NewManager(1, 1, /*inline_predict_budget_ns=*/1);
  const std::vector<float> x = Values(3 * 20, 7);
  for (ModelManager* manager : {generous.get(), strict.get()}) {
    TensorView input{Shape{3, 20}, x.data()};
    EXPECT_FALSE(manager->TryPredictInline("mlp", {}, {&input, 1}).has_value()) << "no run timed yet";
    ASSERT_FALSE(Predict(*manager, VersionRequest::Current()).empty());
  }
  TensorView input{Shape{3, 20}, x.data()};
  EXPECT_TRUE(generous->TryPredictInline("mlp", {}, {&input, 1}).has_value());
  EXPECT_FALSE(strict->TryPredictInline("mlp", {}, {&input, 1}).has_value()) << "over a 1 ns budget";
  EXPECT_FALSE(generous->TryPredictInline("nope", {}, {&input, 1}).has_value());
  ASSERT_TRUE(generous->Unload("mlp").ok());
  EXPECT_FALSE(generous->TryPredictInline("mlp", {}, {&input, 1}).has_value());
}

TEST_F(ModelManagerTest, IntraOpThreadsOutOfRangeAreRefusedByName) {
  for (int threads : {0, -1, kMaxIntraOpThreads + 1}) {
    ModelManagerOptions options;
    options.repository = repository_.string();
    options.intra_op_threads = threads;
    absl::Status status = ModelManager::Create(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << threads;
    EXPECT_NE(status.message().find("intra_op_threads: expected 1 to 64, got " + std::to_string(threads)),
              std::string::npos)
        << status.message();
  }
}

TEST_F(ModelManagerTest, RepositoryMustBeADirectory) {
  ModelManagerOptions options;
  options.repository = (repository_ / "no_such_dir").string();
  EXPECT_EQ(ModelManager::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bnserve

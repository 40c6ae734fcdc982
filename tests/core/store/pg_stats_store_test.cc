// PgStatsStore against a real PostgreSQL started by the test
// (tests/test_util/postgres_server.h). Two PgStatsStoreProviders in one
// process stand for two replicas: each has its own connections and listener
// thread, exactly as two bnserve processes would. The three-process version
// is tests/reliability/pg_replicas.cc.
#include "core/store/pg_stats_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "core/store/file_stats_store.h"
#include "core/store/pg_connection.h"
#include "core/store/pg_schema.h"
#include "gtest/gtest.h"
#include "tests/test_util/postgres_server.h"
#include "tests/test_util/scoped_temp_dir.h"

namespace bnserve {
namespace {

using ::bnserve::testing::ScopedTempDir;
using ::bnserve::testing::TempPostgres;

std::vector<BnLayerInfo> Layers() {
  std::vector<BnLayerInfo> layers(2);
  layers[0].name = "bn1";
  layers[0].channels = 3;
  layers[1].name = "head.bn";
  layers[1].channels = 5;
  for (BnLayerInfo& layer : layers) layer.epsilon = 1e-5;
  return layers;
}

// Statistics whose every value depends on `seed`.
StatsSnapshot MakeStats(int seed, int64_t version = 0) {
  StatsSnapshot s;
  s.version = version;
  for (const BnLayerInfo& layer : Layers()) {
    LayerStats stats;
    for (int64_t c = 0; c < layer.channels; ++c) {
      stats.mean.push_back(std::sin(seed * 7.0 + c) / 3.0);
      stats.var.push_back(1.0 + std::cos(seed * 3.0 + c * 0.5) / 2.0);
    }
    stats.num_batches_tracked = seed * 10;
    stats.sample_count = seed * 100 + layer.channels;
    s.layers.push_back(stats);
  }
  return s;
}

bool SameValues(const StatsSnapshot& a, const StatsSnapshot& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerStats& x = a.layers[l];
    const LayerStats& y = b.layers[l];
    if (x.mean.size() != y.mean.size() || x.var.size() != y.var.size()) return false;
    if (std::memcmp(x.mean.data(), y.mean.data(), x.mean.size() * sizeof(double)) != 0) return false;
    if (std::memcmp(x.var.data(), y.var.data(), x.var.size() * sizeof(double)) != 0) return false;
    if (x.num_batches_tracked != y.num_batches_tracked || x.sample_count != y.sample_count) return false;
  }
  return true;
}

VersionInfo Meta(const std::string& note, const std::string& request_id = "", uint32_t digest = 0) {
  VersionInfo meta;
  meta.mode = "momentum";
  meta.batches = 4;
  meta.samples = 128;
  meta.note = note;
  meta.request_id = request_id;
  meta.request_digest = digest;
  return meta;
}

// Counts a store's change-listener calls and waits for them.
class ChangeCounter {
 public:
  std::function<void()> listener() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      cv_.notify_all();
    };
  }
  // Waits up to 20 s for `store` to reach `version`.
  static bool WaitForVersion(const StatsStore& store, int64_t version) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (store.current_version() != version) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
};

class PgStatsStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    postgres_ = new TempPostgres();
    if (!postgres_->Start()) {
      start_error_ = postgres_->error();
      delete postgres_;
      postgres_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(postgres_, nullptr) << "PostgreSQL did not start: " << start_error_; }

  // A replica: its own provider (connections and listener thread).
  std::unique_ptr<PgStatsStoreProvider> Replica(std::chrono::milliseconds poll = std::chrono::milliseconds(5000)) {
    PgStatsStoreOptions options;
    options.conninfo = postgres_->uri();
    options.poll_interval = poll;
    auto provider = PgStatsStoreProvider::Create(options);
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }

  // The folder of model `name` with a model.onnx of `onnx_bytes` (only its
  // hash matters to the store).
  StatsStoreModel Model(const std::string& name, const std::string& onnx_bytes = "model bytes") {
    const std::string dir = JoinPath(tmp_.path(), name + "-" + std::to_string(next_dir_++));
    EXPECT_TRUE(posix_.CreateDir(dir).ok());
    EXPECT_TRUE(WriteFileAtomically(&posix_, JoinPath(dir, "model.onnx"), onnx_bytes).ok());
    return StatsStoreModel{name, dir, Layers(), std::make_shared<const StatsSnapshot>(MakeStats(0, 1))};
  }

  std::shared_ptr<StatsStore> OpenOrDie(PgStatsStoreProvider& provider, const StatsStoreModel& model) {
    auto store = provider.Open(model);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static TempPostgres* postgres_;
  static std::string start_error_;
  ScopedTempDir tmp_;
  PosixFileSystem posix_;
  int next_dir_ = 0;
};

TempPostgres* PgStatsStoreTest::postgres_ = nullptr;
std::string PgStatsStoreTest::start_error_;

TEST(PgConnectionStringTest, APasswordIsRefusedAndNeverRepeated) {
  auto checked = CheckPgConnectionString("postgresql://alice:s3cret@db.example:5433/stats?sslmode=verify-full");
  ASSERT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(checked.status().message().find("PGPASSWORD"), std::string::npos) << checked.status();
  EXPECT_EQ(checked.status().message().find("s3cret"), std::string::npos) << checked.status();
  auto keyword = CheckPgConnectionString("host=db.example password=s3cret dbname=stats");
  ASSERT_EQ(keyword.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(keyword.status().message().find("s3cret"), std::string::npos) << keyword.status();
}

TEST(PgConnectionStringTest, TheDisplayedAddressKeepsUserHostPortDatabaseAndSslMode) {
  auto checked = CheckPgConnectionString("postgresql://alice@db.example:5433/stats?sslmode=verify-full");
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(*checked, "postgresql://alice@db.example:5433/stats?sslmode=verify-full");
  EXPECT_EQ(CheckPgConnectionString("postgresql://%zz").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PgStatsStoreTest, ACommitThroughOneReplicaIsServedByTheOther) {
  auto a = Replica();
  auto b = Replica();
  const StatsStoreModel model = Model("propagate");
  auto on_a = OpenOrDie(*a, model);
  auto on_b = OpenOrDie(*b, Model("propagate"));
  ASSERT_NE(on_a, nullptr);
  ASSERT_NE(on_b, nullptr);
  ChangeCounter b_changes;
  on_b->SetChangeListener(b_changes.listener());
  EXPECT_EQ(on_a->current_version(), 1);
  EXPECT_EQ(on_b->History().size(), 1u);

  auto committed = on_a->Commit(MakeStats(2), Meta("two", "req-2", 42), 1);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->version, 2);
  EXPECT_EQ(committed->parent, 1);
  EXPECT_EQ(committed->origin, "recalibrate");
  EXPECT_GT(committed->created_unix_ms, 0);
  ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_b, 2));
  EXPECT_GE(b_changes.calls(), 1);
  EXPECT_TRUE(SameValues(*on_b->current(), MakeStats(2)));
  EXPECT_EQ(on_b->current()->version, 2);
  EXPECT_EQ(on_b->History(), on_a->History());
  EXPECT_EQ(on_b->History().back(), *committed);

  // A third replica opening later reads the same history from the database.
  auto c = Replica();
  auto on_c = OpenOrDie(*c, Model("propagate"));
  ASSERT_NE(on_c, nullptr);
  EXPECT_EQ(on_c->History(), on_a->History());
  EXPECT_TRUE(SameValues(*on_c->current(), MakeStats(2)));

  // A rollback through B reaches A as a new version with the old values.
  auto rolled = on_b->Rollback(1, 2);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(rolled->version, 3);
  EXPECT_EQ(rolled->origin, "rollback");
  ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_a, 3));
  EXPECT_TRUE(SameValues(*on_a->current(), MakeStats(0)));
  auto old = on_a->Load(2);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_TRUE(SameValues(**old, MakeStats(2)));
  EXPECT_EQ(on_a->Load(9).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStatsStoreTest, OfTwoReplicasCommittingOnOneVersionExactlyOneWins) {
  auto a = Replica();
  auto b = Replica();
  auto on_a = OpenOrDie(*a, Model("race"));
  auto on_b = OpenOrDie(*b, Model("race"));
  ASSERT_NE(on_a, nullptr);
  ASSERT_NE(on_b, nullptr);
  for (int round = 0; round < 20; ++round) {
    const int64_t parent = 1 + round;
    ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_a, parent));
    ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_b, parent));
    absl::StatusOr<VersionInfo> result_a, result_b;
    std::thread ta([&] { result_a = on_a->Commit(MakeStats(100 + round), Meta("a"), parent); });
    std::thread tb([&] { result_b = on_b->Commit(MakeStats(200 + round), Meta("b"), parent); });
    ta.join();
    tb.join();
    ASSERT_NE(result_a.ok(), result_b.ok())
        << "round " << round << ": " << result_a.status() << " / " << result_b.status();
    const absl::Status& loser = result_a.ok() ? result_b.status() : result_a.status();
    EXPECT_EQ(loser.code(), absl::StatusCode::kAborted) << loser;
    EXPECT_NE(loser.message().find("the current version is " + std::to_string(parent + 1)), std::string::npos) << loser;
    const VersionInfo& winner = result_a.ok() ? *result_a : *result_b;
    EXPECT_EQ(winner.version, parent + 1);
    // The loser learnt the winner's version while answering.
    StatsStore& losing_store = result_a.ok() ? *on_b : *on_a;
    EXPECT_EQ(losing_store.current_version(), parent + 1);
  }
  const std::vector<VersionInfo> history = on_a->History();
  ASSERT_EQ(history.size(), 21u);
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].version, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(history[i].parent, static_cast<int64_t>(i));
  }
  ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_b, 21));
  EXPECT_EQ(on_b->History(), history);
}

TEST_F(PgStatsStoreTest, OneRequestIdSentToTwoReplicasCommitsOnce) {
  auto a = Replica();
  auto b = Replica();
  auto on_a = OpenOrDie(*a, Model("dedupe"));
  auto on_b = OpenOrDie(*b, Model("dedupe"));
  ASSERT_NE(on_a, nullptr);
  ASSERT_NE(on_b, nullptr);
  bool dedup_a = true;
  auto first = on_a->Commit(MakeStats(5), Meta("first", "job-17", 0xabcd), 1, &dedup_a);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(dedup_a);
  // B may not have heard of version 2 yet: the database answers anyway.
  bool dedup_b = false;
  auto retry = on_b->Commit(MakeStats(5), Meta("retry", "job-17", 0xabcd), 1, &dedup_b);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(dedup_b);
  EXPECT_EQ(*retry, *first);
  EXPECT_EQ(on_b->current_version(), 2);
  auto reused = on_b->Commit(MakeStats(6), Meta("other", "job-17", 0x1234), 2);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists) << reused.status();
  EXPECT_EQ(on_a->History().size(), 2u);
  EXPECT_EQ(on_b->History().size(), 2u);
  auto found = on_b->FindCommittedRequest(Meta("", "job-17", 0xabcd));
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->version, 2);
}

TEST_F(PgStatsStoreTest, AReplicaWithADifferentModelFileRefusesTheStatistics) {
  auto a = Replica();
  auto b = Replica();
  ASSERT_NE(OpenOrDie(*a, Model("hashed", "the first model")), nullptr);
  auto refused = b->Open(Model("hashed", "a different model"));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  // Both hashes, hex: sha256("a different model") and sha256("the first model").
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("SHA-256 "), std::string::npos) << message;
  size_t hex_runs = 0;
  for (size_t i = 0; i + 64 <= message.size(); ++i) {
    if (std::all_of(message.begin() + i, message.begin() + i + 64, [](char c) { return std::isxdigit(c); })) {
      ++hex_runs;
      i += 63;
    }
  }
  EXPECT_EQ(hex_runs, 2u) << message;
}

TEST_F(PgStatsStoreTest, WhileTheDatabaseIsDownReplicasServeWhatTheyHoldAndCatchUpAfter) {
  auto a = Replica(std::chrono::milliseconds(500));
  auto b = Replica(std::chrono::milliseconds(500));
  auto on_a = OpenOrDie(*a, Model("outage"));
  auto on_b = OpenOrDie(*b, Model("outage"));
  // C sits idle through the outage: its writer connection dies unnoticed.
  auto c = Replica(std::chrono::milliseconds(500));
  auto on_c = OpenOrDie(*c, Model("outage"));
  ASSERT_NE(on_a, nullptr);
  ASSERT_NE(on_b, nullptr);
  ASSERT_NE(on_c, nullptr);
  ASSERT_TRUE(on_a->Commit(MakeStats(2), Meta("two"), 1).ok());
  ASSERT_TRUE(on_a->Commit(MakeStats(3), Meta("three"), 2).ok());
  ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_b, 3));

  ASSERT_TRUE(postgres_->Stop("fast"));
  auto refused = on_a->Commit(MakeStats(4), Meta("four"), 3);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_NE(refused.status().message().find(postgres_->uri().substr(0, 30)), std::string::npos) << refused.status();
  EXPECT_EQ(on_a->Rollback(2, 3).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(on_b->Load(2).status().code(), absl::StatusCode::kUnavailable);
  // What each replica holds is still served.
  EXPECT_EQ(on_a->current_version(), 3);
  EXPECT_TRUE(SameValues(*on_b->current(), MakeStats(3)));
  EXPECT_EQ(on_b->History().size(), 3u);
  ASSERT_TRUE(on_b->Load(1).ok());

  ASSERT_TRUE(postgres_->Resume()) << postgres_->error();
  // The writer reconnects after its backoff (at most 5 s); nothing was
  // committed while the database was down.
  absl::StatusOr<VersionInfo> after = absl::UnavailableError("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (absl::IsUnavailable(after.status()) && std::chrono::steady_clock::now() < deadline) {
    after = on_a->Commit(MakeStats(4), Meta("four"), 3);
    if (absl::IsUnavailable(after.status())) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 4);
  // B's listener reconnected by itself and receives it.
  ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_b, 4));
  EXPECT_TRUE(SameValues(*on_b->current(), MakeStats(4)));
  EXPECT_EQ(on_b->History(), on_a->History());
  // C's first commit after the restart replaces its dead connection instead
  // of failing.
  ASSERT_TRUE(ChangeCounter::WaitForVersion(*on_c, 4));
  auto from_c = on_c->Commit(MakeStats(5), Meta("five"), 4);
  ASSERT_TRUE(from_c.ok()) << from_c.status();
  EXPECT_EQ(from_c->version, 5);
}

TEST_F(PgStatsStoreTest, ADatabaseWithANewerSchemaIsRefused) {
  auto a = Replica();
  ASSERT_NE(OpenOrDie(*a, Model("schema")), nullptr);  // migrates
  auto version = postgres_->Psql("SELECT version FROM bnserve_schema");
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, std::to_string(kPgSchemaVersion) + "\n");
  ASSERT_EQ(postgres_->Psql("UPDATE bnserve_schema SET version = 99").exit_code, 0);
  auto b = Replica();
  auto refused = b->Open(Model("schema"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("version 99"), std::string::npos) << refused.status();
  ASSERT_EQ(postgres_->Psql("UPDATE bnserve_schema SET version = " + std::to_string(kPgSchemaVersion)).exit_code, 0);
}

// Commit latency of the two stores, side by side (printed, not judged: the
// figures depend on the machine's fsync).
TEST_F(PgStatsStoreTest, CommitLatencyOfFilesAndPostgres) {
  constexpr int kCommits = 60;
  auto percentile = [](std::vector<double> ms, double p) {
    std::sort(ms.begin(), ms.end());
    return ms[static_cast<size_t>(p * (ms.size() - 1))];
  };
  auto measure = [&](StatsStore& store) {
    std::vector<double> ms;
    for (int i = 0; i < kCommits; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto info = store.Commit(MakeStats(i + 2), Meta("latency"), store.current_version());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      EXPECT_TRUE(info.ok()) << info.status();
    }
    return ms;
  };
  const StatsStoreModel model = Model("latency");
  auto files = FileStatsStore::Open(&posix_, model.dir, model.layers, model.onnx_snapshot);
  ASSERT_TRUE(files.ok()) << files.status();
  auto a = Replica();
  auto database = OpenOrDie(*a, model);
  ASSERT_NE(database, nullptr);
  const std::vector<double> file_ms = measure(**files);
  const std::vector<double> pg_ms = measure(*database);
  std::printf(
      "commit latency over %d commits, ms: files p50 %.2f p90 %.2f max %.2f | postgresql p50 %.2f p90 %.2f "
      "max %.2f\n",
      kCommits, percentile(file_ms, 0.5), percentile(file_ms, 0.9), percentile(file_ms, 1.0), percentile(pg_ms, 0.5),
      percentile(pg_ms, 0.9), percentile(pg_ms, 1.0));
  EXPECT_EQ(database->current_version(), kCommits + 1);
}

}  // namespace
}  // namespace bnserve

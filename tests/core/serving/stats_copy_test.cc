// Moving a statistics history from a file store into PostgreSQL and back
// (core/serving/stats_copy.h), against a real PostgreSQL started by the test.
#include "core/serving/stats_copy.h"

#include <cmath>
#include <cstring>

#include "core/store/file_stats_store.h"
#include "core/store/pg_stats_store.h"
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
  layers[0].channels = 4;
  layers[1].name = "bn2";
  layers[1].channels = 2;
  for (BnLayerInfo& layer : layers) layer.epsilon = 1e-5;
  return layers;
}

StatsSnapshot MakeStats(int seed, int64_t version = 0) {
  StatsSnapshot s;
  s.version = version;
  for (const BnLayerInfo& layer : Layers()) {
    LayerStats stats;
    for (int64_t c = 0; c < layer.channels; ++c) {
      stats.mean.push_back(std::sin(seed * 5.0 + c) / 7.0);
      stats.var.push_back(1.5 + std::cos(seed * 2.0 + c) / 3.0);
    }
    stats.num_batches_tracked = seed;
    stats.sample_count = seed * 32;
    s.layers.push_back(stats);
  }
  return s;
}

bool SameValues(const StatsSnapshot& a, const StatsSnapshot& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerStats& x = a.layers[l];
    const LayerStats& y = b.layers[l];
    if (x.mean.size() != y.mean.size() ||
        std::memcmp(x.mean.data(), y.mean.data(), x.mean.size() * sizeof(double)) != 0 ||
        std::memcmp(x.var.data(), y.var.data(), x.var.size() * sizeof(double)) != 0 ||
        x.num_batches_tracked != y.num_batches_tracked || x.sample_count != y.sample_count) {
      return false;
    }
  }
  return true;
}

// Every version of both stores equal, history fields and values.
void ExpectSameHistories(const StatsStore& a, const StatsStore& b) {
  const std::vector<VersionInfo> history = a.History();
  ASSERT_EQ(history, b.History());
  for (const VersionInfo& info : history) {
    auto x = a.Load(info.version);
    auto y = b.Load(info.version);
    ASSERT_TRUE(x.ok() && y.ok()) << x.status() << " " << y.status();
    EXPECT_TRUE(SameValues(**x, **y)) << "version " << info.version;
  }
}

TEST(StatsCopyTest, AFileHistoryMovesIntoPostgresAndBackUnchanged) {
  TempPostgres postgres;
  ASSERT_TRUE(postgres.Start()) << postgres.error();
  ScopedTempDir tmp;
  PosixFileSystem posix;
  auto model_dir = [&](const std::string& name) {
    const std::string dir = JoinPath(tmp.path(), name);
    EXPECT_TRUE(posix.CreateDir(dir).ok());
    EXPECT_TRUE(WriteFileAtomically(&posix, JoinPath(dir, "model.onnx"), "the model").ok());
    return StatsStoreModel{"resnet", dir, Layers(), std::make_shared<const StatsSnapshot>(MakeStats(0, 1))};
  };
  const StatsStoreModel original = model_dir("original");
  FileStatsStoreProvider files(&posix);
  auto source = files.Open(original);
  ASSERT_TRUE(source.ok()) << source.status();
  VersionInfo meta;
  meta.mode = "cumulative";
  meta.batches = 3;
  meta.samples = 96;
  meta.note = "first";
  meta.request_id = "job-1";
  meta.request_digest = 0x5eed;
  ASSERT_TRUE((*source)->Commit(MakeStats(2), meta, 1).ok());
  meta.note = "second";
  meta.request_id.clear();
  meta.request_digest = 0;
  ASSERT_TRUE((*source)->Commit(MakeStats(3), meta, 2).ok());
  ASSERT_TRUE((*source)->Rollback(2, 3).ok());

  PgStatsStoreOptions options;
  options.conninfo = postgres.uri();
  auto database = PgStatsStoreProvider::Create(options);
  ASSERT_TRUE(database.ok()) << database.status();
  auto into_database = (*database)->Open(original);
  ASSERT_TRUE(into_database.ok()) << into_database.status();
  std::vector<std::string> renumbered;
  auto copied = CopyStatsHistory(**source, **into_database, &renumbered);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 3);
  EXPECT_TRUE(renumbered.empty());
  ExpectSameHistories(**source, **into_database);
  // The request id came along: a retry through the database is deduplicated.
  bool deduplicated = false;
  VersionInfo retry;
  retry.request_id = "job-1";
  retry.request_digest = 0x5eed;
  auto answered = (*into_database)->Commit(MakeStats(2), retry, 4, &deduplicated);
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_TRUE(deduplicated);
  EXPECT_EQ(answered->version, 2);

  // A second copy into the now non-empty database is refused.
  EXPECT_EQ(CopyStatsHistory(**source, **into_database).status().code(), absl::StatusCode::kFailedPrecondition);

  // And back into files, in another folder (the same model file).
  auto back = files.Open(model_dir("back"));
  ASSERT_TRUE(back.ok()) << back.status();
  auto copied_back = CopyStatsHistory(**into_database, **back);
  ASSERT_TRUE(copied_back.ok()) << copied_back.status();
  EXPECT_EQ(*copied_back, 3);
  ExpectSameHistories(**into_database, **back);
}

}  // namespace
}  // namespace bnserve

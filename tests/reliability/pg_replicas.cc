// pg_replicas: three bnserve replicas sharing one PostgreSQL statistics
// store (--stats-store postgresql://...), end to end.
//
// Starts PostgreSQL itself (tests/test_util/postgres_server.h) and three
// bnserve processes on loopback, each over its own copy of a one-model
// repository, then checks in turn:
//   copy         a file history made by one bnserve, moved into the database
//                by bnserve --copy-stats-to, is served by every replica;
//   foreign      a replica whose model.onnx differs refuses the statistics:
//                its model is in ERROR naming both SHA-256 hashes;
//   propagation  --commits recalibrations, through the replicas in turn: each
//                is served by all three (GetRunningStats of the current
//                version answers with it); prints the delay from the commit's
//                answer to the last replica serving it, p50/p99/max;
//   race         two replicas recalibrating with the same expected_version:
//                exactly one commits, the other gets ABORTED;
//   request id   one request_id sent to two replicas at once commits once;
//   outage       PostgreSQL stopped while idle and in the middle of a
//                stream: Recalibrate and Rollback get UNAVAILABLE naming the
//                store, Predict and GetRunningStats keep working; after the
//                restart a retry commits once and every replica serves it
//                without being restarted - a replica started during the
//                outage included;
//   crash        a replica killed (SIGKILL, core/util/crash_point.h) before
//                and after its COMMIT: no torn version, the others keep
//                serving, the restarted one serves the database's head, a
//                retry with the request id settles the commit once;
//   bulk         --bulk commits from three concurrent clients spread over the
//                replicas (retrying lost races), with a Predict reader on a
//                replica measuring its p99 during the burst and before it;
//                then contiguous versions and an identical history on every
//                replica.
// Prints its figures; exits 1 on any failure.
//
// --foreign-model is the same network in a different file (another export):
// a replica serving it must refuse the database's statistics.
//
// Usage: pg_replicas --bnserve PATH --model PATH.onnx --foreign-model PATH.onnx [--commits N] [--bulk N]
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util/live_server.h"
#include "tests/test_util/postgres_server.h"

namespace bnserve::reliability {
namespace {

constexpr char kModel[] = "mlp";
constexpr int kReplicas = 3;

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * (values.size() - 1) + 0.5)];
}

struct Run {
  std::vector<int64_t> feature_dims;
  std::atomic<int> failures{0};

  void Fail(const std::string& what) {
    ++failures;
    std::fprintf(stderr, "FAILURE: %s\n", what.c_str());
  }

  // One recalibration: config, two batches from `seed`, half-close. When
  // `between` is set it runs after the first batch (the outage test stops
  // the database there).
  grpc::Status Recalibrate(v1::BnServe::Stub& stub, int64_t expected_version, const std::string& request_id,
                           uint64_t seed, v1::RecalibrateResponse* response,
                           const std::function<void()>& between = nullptr) {
    auto context = ContextWithDeadline(30);
    auto writer = stub.Recalibrate(context.get(), response);
    v1::RecalibrateRequest message;
    v1::RecalibrationConfig* config = message.mutable_config();
    config->set_model(kModel);
    config->set_mode(v1::RECALIBRATION_MODE_EXACT);
    config->set_reset(true);
    config->set_forward_mode(v1::FORWARD_MODE_TRAIN);
    config->set_expected_version(expected_version);
    config->set_request_id(request_id);
    config->set_note("seed=" + std::to_string(seed));
    bool open = writer->Write(message);
    for (int b = 0; b < 2 && open; ++b) {
      message.Clear();
      *message.mutable_batch()->add_inputs() = GridBatch(5, feature_dims, seed * 10 + b);
      open = writer->Write(message);
      if (b == 0 && between) between();
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // The version `stub` serves; -1 when the call fails.
  int64_t Served(v1::BnServe::Stub& stub) {
    v1::GetRunningStatsRequest request;
    request.set_model(kModel);
    v1::GetRunningStatsResponse response;
    if (!stub.GetRunningStats(ContextWithDeadline(5).get(), request, &response).ok()) return -1;
    return response.version().version();
  }

  // Waits up to 20 s until every server serves `version`; the time it took.
  bool WaitAllServe(std::vector<std::unique_ptr<LiveServer>>& servers, int64_t version, Clock::duration* took) {
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(20);
    for (auto& server : servers) {
      while (Served(server->stub()) != version) {
        if (Clock::now() > deadline) return false;
      }
    }
    if (took != nullptr) *took = Clock::now() - start;
    return true;
  }

  bool History(v1::BnServe::Stub& stub, v1::ListVersionsResponse* response) {
    v1::ListVersionsRequest request;
    request.set_model(kModel);
    return stub.ListVersions(ContextWithDeadline(10).get(), request, response).ok();
  }

  grpc::Status Predict(v1::BnServe::Stub& stub, uint64_t seed) {
    v1::PredictRequest request;
    request.set_model(kModel);
    *request.add_inputs() = GridBatch(1, feature_dims, seed);
    v1::PredictResponse response;
    return stub.Predict(ContextWithDeadline(10).get(), request, &response);
  }
};

int Main(int argc, char** argv) {
  std::string bnserve, model_path, foreign_model_path;
  int commits = 200, bulk = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--bnserve")
      bnserve = argv[i + 1];
    else if (flag == "--model")
      model_path = argv[i + 1];
    else if (flag == "--foreign-model")
      foreign_model_path = argv[i + 1];
    else if (flag == "--commits")
      commits = std::atoi(argv[i + 1]);
    else if (flag == "--bulk")
      bulk = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (bnserve.empty() || model_path.empty() || foreign_model_path.empty() || commits < 1 || bulk < 0) {
    std::fprintf(stderr,
                 "usage: pg_replicas --bnserve PATH --model PATH.onnx --foreign-model PATH.onnx [--commits N] "
                 "[--bulk N]\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const std::string scratch = testing::MakeTempDir("bnserve_pg_replicas");
  if (scratch.empty()) return 2;
  testing::TempPostgres postgres;
  if (!postgres.Start()) {
    std::fprintf(stderr, "PostgreSQL did not start: %s\n", postgres.error().c_str());
    return 1;
  }
  Run run;
  for (int r = 0; r < kReplicas; ++r) {
    const std::string repository = scratch + "/replica" + std::to_string(r);
    fs::create_directories(repository + "/" + kModel);
    fs::copy_file(model_path, repository + "/" + kModel + "/model.onnx");
  }

  // --- a single server's file history moved into the database ---
  v1::ListVersionsResponse file_history;
  {
    LiveServer single(bnserve, scratch + "/replica0", scratch + "/files.log");
    if (!single.Start({}, kModel) || !FeatureDims(single.stub(), kModel, &run.feature_dims)) {
      std::fprintf(stderr, "the file-store server did not start; log:\n%s\n",
                   testing::ReadWholeFile(scratch + "/files.log").c_str());
      return 1;
    }
    for (int64_t v = 1; v <= 3; ++v) {
      v1::RecalibrateResponse response;
      const grpc::Status status = run.Recalibrate(single.stub(), v, "file-" + std::to_string(v), 500 + v, &response);
      if (!status.ok()) run.Fail("file-store commit: " + status.error_message());
    }
    if (!run.History(single.stub(), &file_history)) run.Fail("file-store ListVersions failed");
    single.Stop();
  }
  const testing::CommandOutput copied =
      testing::RunCommand({bnserve, "--model-repository", scratch + "/replica0", "--stats-store", "files",
                           "--copy-stats-to", postgres.uri(), "--log-level", "warn"},
                          scratch);
  if (copied.exit_code != 0 || copied.out.find("mlp: 3 versions copied") == std::string::npos) {
    run.Fail("bnserve --copy-stats-to: exit " + std::to_string(copied.exit_code) + ": " + copied.out + copied.err);
  }

  std::vector<std::unique_ptr<LiveServer>> servers;
  for (int r = 0; r < kReplicas; ++r) {
    const std::string repository = scratch + "/replica" + std::to_string(r);
    servers.push_back(std::make_unique<LiveServer>(
        bnserve, repository, scratch + "/replica" + std::to_string(r) + ".log",
        std::vector<std::string>{"--drain-seconds", "0", "--worker-threads", "2", "--log-level", "info",
                                 "--max-recalibration-streams", "8", "--stats-store", postgres.uri()}));
    if (!servers.back()->Start({}, kModel)) {
      std::fprintf(stderr, "replica %d did not start; log:\n%s\n", r,
                   testing::ReadWholeFile(servers.back()->log_path()).c_str());
      return 1;
    }
  }
  // Every replica - replica 0 over the folder the history came from, the
  // others over folders without one - serves the copied history.
  for (int r = 0; r < kReplicas && run.failures == 0; ++r) {
    v1::ListVersionsResponse history;
    if (!run.History(servers[r]->stub(), &history) || history.SerializeAsString() != file_history.SerializeAsString() ||
        file_history.versions_size() != 4) {
      run.Fail("replica " + std::to_string(r) + " does not serve the history copied from the files");
    }
  }
  std::printf("copy: a file store's 3 versions moved into PostgreSQL (bnserve --copy-stats-to), served by all: %s\n",
              run.failures == 0 ? "ok" : "FAILED");

  // --- a replica whose model.onnx differs (the same network exported again) ---
  {
    fs::create_directories(scratch + "/foreign/" + kModel);
    fs::copy_file(foreign_model_path, scratch + "/foreign/" + kModel + "/model.onnx");
    LiveServer foreign(bnserve, scratch + "/foreign", scratch + "/foreign.log",
                       {"--drain-seconds", "0", "--worker-threads", "2", "--stats-store", postgres.uri()});
    v1::ListModelsResponse models;
    const bool started = foreign.Start({}, [&](int) {
      models.Clear();
      return foreign.stub().ListModels(ContextWithDeadline(2).get(), v1::ListModelsRequest(), &models).ok() &&
             models.models_size() == 1 && models.models(0).state() != v1::MODEL_STATE_LOADING;
    });
    const std::string error = started ? models.models(0).error() : "";
    size_t hashes = 0;
    for (size_t i = 0; i + 64 <= error.size(); ++i) {
      if (std::all_of(error.begin() + i, error.begin() + i + 64, [](char c) { return std::isxdigit(c) != 0; })) {
        ++hashes;
        i += 63;
      }
    }
    if (!started || models.models(0).state() != v1::MODEL_STATE_ERROR || hashes != 2 ||
        run.Served(foreign.stub()) != -1) {
      run.Fail("a replica with a different model.onnx: expected the model in ERROR naming both SHA-256 hashes, got " +
               (started ? std::to_string(models.models(0).state()) + " \"" + error + "\"" : "no start"));
    }
    std::printf("foreign model file: refused, model in ERROR naming both hashes: %s\n",
                run.failures == 0 ? "ok" : "FAILED");
  }
  uint64_t seed = 1;

  // --- propagation ---
  std::vector<double> propagation_ms;
  int64_t version = run.Served(servers[0]->stub());
  for (int i = 0; i < commits && run.failures == 0; ++i) {
    v1::RecalibrateResponse response;
    const grpc::Status status = run.Recalibrate(servers[i % kReplicas]->stub(), version, "", seed++, &response);
    if (!status.ok()) {
      run.Fail("propagation commit " + std::to_string(i) + ": " + status.error_message());
      break;
    }
    version = response.new_version().version();
    Clock::duration took;
    if (!run.WaitAllServe(servers, version, &took)) {
      run.Fail("version " + std::to_string(version) + " not served by every replica within 20 s");
      break;
    }
    propagation_ms.push_back(Ms(took));
  }
  std::printf(
      "propagation over %zu commits (commit answered -> last of %d replicas serving), ms: p50 %.2f p99 %.2f "
      "max %.2f\n",
      propagation_ms.size(), kReplicas, Percentile(propagation_ms, 0.5), Percentile(propagation_ms, 0.99),
      Percentile(propagation_ms, 1.0));

  // --- race: one expected_version, two replicas ---
  for (int round = 0; round < 10 && run.failures == 0; ++round) {
    v1::RecalibrateResponse ra, rb;
    grpc::Status sa, sb;
    std::thread ta([&, s = seed] { sa = run.Recalibrate(servers[0]->stub(), version, "", s, &ra); });
    std::thread tb([&, s = seed + 1] { sb = run.Recalibrate(servers[1]->stub(), version, "", s, &rb); });
    ta.join();
    tb.join();
    seed += 2;
    const grpc::Status& loser = sa.ok() ? sb : sa;
    if (sa.ok() == sb.ok() || loser.error_code() != grpc::StatusCode::ABORTED) {
      run.Fail("race round " + std::to_string(round) + ": expected one OK and one ABORTED, got " +
               std::to_string(sa.error_code()) + " and " + std::to_string(sb.error_code()));
      break;
    }
    version = (sa.ok() ? ra : rb).new_version().version();
    if (!run.WaitAllServe(servers, version, nullptr)) run.Fail("race winner not served everywhere");
  }
  std::printf("race: 10 rounds of two replicas on one expected_version, one commit and one ABORTED each: %s\n",
              run.failures == 0 ? "ok" : "FAILED");

  // --- one request_id, two replicas ---
  {
    v1::RecalibrateResponse ra, rb;
    grpc::Status sa, sb;
    const uint64_t s = seed++;
    std::thread ta([&] { sa = run.Recalibrate(servers[1]->stub(), 0, "shared-key-1", s, &ra); });
    std::thread tb([&] { sb = run.Recalibrate(servers[2]->stub(), 0, "shared-key-1", s, &rb); });
    ta.join();
    tb.join();
    // The one that lost the row lock either finds the key (deduplicated) or,
    // having built on a version that moved, is ABORTED; a retry then dedupes.
    for (auto pair : {std::make_pair(&sa, &ra), std::make_pair(&sb, &rb)}) {
      if (pair.first->error_code() == grpc::StatusCode::ABORTED) {
        *pair.first = run.Recalibrate(servers[2]->stub(), 0, "shared-key-1", s, pair.second);
      }
    }
    if (!sa.ok() || !sb.ok() || ra.new_version().version() != rb.new_version().version() ||
        ra.deduplicated() == rb.deduplicated()) {
      run.Fail("one request_id on two replicas: expected one commit and one deduplicated answer, got " +
               std::to_string(sa.error_code()) + "/" + std::to_string(sb.error_code()) + " versions " +
               std::to_string(ra.new_version().version()) + "/" + std::to_string(rb.new_version().version()));
    } else {
      version = ra.new_version().version();
      if (!run.WaitAllServe(servers, version, nullptr)) run.Fail("deduplicated version not served everywhere");
    }
    std::printf("request id: one key on two replicas committed once (version %lld): %s\n",
                static_cast<long long>(version), run.failures == 0 ? "ok" : "FAILED");
  }

  // --- outage: idle, then mid-stream ---
  if (run.failures == 0) {
    if (!postgres.Stop("fast")) run.Fail("pg_ctl stop failed");
    v1::RecalibrateResponse response;
    grpc::Status refused = run.Recalibrate(servers[0]->stub(), version, "outage-1", seed, &response);
    if (refused.error_code() != grpc::StatusCode::UNAVAILABLE ||
        refused.error_message().find("statistics store postgresql://") == std::string::npos) {
      run.Fail("Recalibrate with the database down: expected UNAVAILABLE naming the store, got " +
               std::to_string(refused.error_code()) + " " + refused.error_message());
    }
    v1::RollbackRequest rollback;
    rollback.set_model(kModel);
    rollback.set_to_version(1);
    v1::RollbackResponse rolled;
    const grpc::Status rollback_status = servers[1]->stub().Rollback(ContextWithDeadline(10).get(), rollback, &rolled);
    if (rollback_status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      run.Fail("Rollback with the database down: expected UNAVAILABLE, got " +
               std::to_string(rollback_status.error_code()) + " " + rollback_status.error_message());
    }
    for (int r = 0; r < kReplicas; ++r) {
      if (!run.Predict(servers[r]->stub(), 7).ok() || run.Served(servers[r]->stub()) != version) {
        run.Fail("replica " + std::to_string(r) + " stopped serving while the database was down");
      }
    }
    // A replica starting now cannot load its model (ERROR, the store is
    // unavailable); it must load it by itself once the database is back.
    fs::create_directories(scratch + "/late/" + kModel);
    fs::copy_file(model_path, scratch + "/late/" + kModel + "/model.onnx");
    LiveServer late(
        bnserve, scratch + "/late", scratch + "/late.log",
        {"--drain-seconds", "0", "--worker-threads", "2", "--log-level", "info", "--stats-store", postgres.uri()});
    const bool late_started = late.Start({}, [&](int) {
      v1::ListModelsResponse models;
      return late.stub().ListModels(ContextWithDeadline(2).get(), v1::ListModelsRequest(), &models).ok() &&
             models.models_size() == 1;
    });
    if (!late_started) run.Fail("the replica started during the outage did not come up");
    if (run.Served(late.stub()) != -1) run.Fail("the replica started during the outage serves without its store");
    if (!postgres.Resume()) run.Fail("PostgreSQL did not restart: " + postgres.error());
    // The retry commits once, whatever the replica's reconnection backoff.
    grpc::Status retried;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    do {
      retried = run.Recalibrate(servers[0]->stub(), version, "outage-1", seed, &response);
      if (retried.error_code() == grpc::StatusCode::UNAVAILABLE)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (retried.error_code() == grpc::StatusCode::UNAVAILABLE && Clock::now() < deadline);
    ++seed;
    if (!retried.ok() || response.new_version().version() != version + 1) {
      run.Fail("commit after the restart: " + retried.error_message());
    } else {
      version = response.new_version().version();
      if (!run.WaitAllServe(servers, version, nullptr)) run.Fail("after the restart, not every replica caught up");
      const auto late_deadline = Clock::now() + std::chrono::seconds(30);
      while (run.Served(late.stub()) != version && Clock::now() < late_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (run.Served(late.stub()) != version) {
        run.Fail("the replica started during the outage did not load its model once the database was back");
      }
    }

    // Mid-stream: the database goes away between two batches of a stream.
    grpc::Status cut =
        run.Recalibrate(servers[1]->stub(), version, "outage-2", seed, &response, [&] { postgres.Stop("fast"); });
    if (cut.error_code() != grpc::StatusCode::UNAVAILABLE) {
      run.Fail("stream cut by the outage: expected UNAVAILABLE, got " + std::to_string(cut.error_code()) + " " +
               cut.error_message());
    }
    if (!postgres.Resume()) run.Fail("PostgreSQL did not restart: " + postgres.error());
    const auto deadline2 = Clock::now() + std::chrono::seconds(30);
    do {
      retried = run.Recalibrate(servers[1]->stub(), version, "outage-2", seed, &response);
      if (retried.error_code() == grpc::StatusCode::UNAVAILABLE)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (retried.error_code() == grpc::StatusCode::UNAVAILABLE && Clock::now() < deadline2);
    ++seed;
    if (!retried.ok() || response.new_version().version() != version + 1) {
      run.Fail("retry of the cut stream: " + retried.error_message());
    } else {
      version = response.new_version().version();
      if (!run.WaitAllServe(servers, version, nullptr))
        run.Fail("after the second restart, not every replica caught up");
    }
    std::printf("outage: idle and mid-stream, UNAVAILABLE then caught up without restarts: %s\n",
                run.failures == 0 ? "ok" : "FAILED");
  }

  // --- SIGKILL of a replica at each crash point of its commit ---
  for (const std::string point : {"pg_before_commit", "pg_after_commit"}) {
    if (run.failures > 0) break;
    servers[0]->Kill();
    if (!servers[0]->Start({{"BNSERVE_CRASH_POINT", point}}, kModel)) {
      run.Fail("replica 0 did not restart with " + point);
      break;
    }
    v1::RecalibrateResponse response;
    const grpc::Status died = run.Recalibrate(servers[0]->stub(), version, "crash-" + point, seed, &response);
    if (died.ok() || !servers[0]->WaitExit(std::chrono::seconds(10))) {
      run.Fail(point + ": the replica did not die at its crash point");
      break;
    }
    // Before COMMIT the transaction dies with its connection; after it the
    // version is committed and the others serve it.
    const int64_t expected = point == "pg_before_commit" ? version : version + 1;
    for (int r = 1; r < kReplicas; ++r) {
      const auto deadline = Clock::now() + std::chrono::seconds(20);
      while (run.Served(servers[r]->stub()) != expected && Clock::now() < deadline) {
      }
      if (run.Served(servers[r]->stub()) != expected || !run.Predict(servers[r]->stub(), 3).ok()) {
        run.Fail(point + ": replica " + std::to_string(r) + " does not serve version " + std::to_string(expected));
      }
    }
    if (!servers[0]->Start({}, kModel)) {
      run.Fail(point + ": replica 0 did not restart");
      break;
    }
    if (run.Served(servers[0]->stub()) != expected) {
      run.Fail(point + ": the restarted replica serves " + std::to_string(run.Served(servers[0]->stub())) +
               ", the database's head is " + std::to_string(expected));
    }
    // A retry of the same request (same expected_version: it is part of the
    // request digest) settles it once either way.
    const grpc::Status retried = run.Recalibrate(servers[1]->stub(), version, "crash-" + point, seed, &response);
    ++seed;
    if (!retried.ok() || response.new_version().version() != version + 1 ||
        response.deduplicated() != (point == "pg_after_commit")) {
      run.Fail(point + ": the retry did not settle the commit once: " + retried.error_message());
    } else {
      version = response.new_version().version();
      if (!run.WaitAllServe(servers, version, nullptr)) run.Fail(point + ": not every replica serves the retry");
    }
  }
  std::printf(
      "crash points: SIGKILL at pg_before_commit and pg_after_commit, no torn version, others unaffected, "
      "restarted replica serves the head: %s\n",
      run.failures == 0 ? "ok" : "FAILED");

  // --- bulk: concurrent commits over every replica, a reader on the last ---
  if (run.failures == 0 && bulk > 0) {
    std::atomic<bool> burst{false}, done{false};
    std::vector<double> quiet_ms, burst_ms;
    std::thread reader([&] {
      uint64_t s = 0;
      while (!done) {
        const auto start = Clock::now();
        const grpc::Status status = run.Predict(servers[kReplicas - 1]->stub(), s++);
        (burst ? burst_ms : quiet_ms).push_back(Ms(Clock::now() - start));
        if (!status.ok()) run.Fail("Predict during the bulk commits: " + status.error_message());
        if (!burst && quiet_ms.size() >= 2000) burst = true;
      }
    });
    while (!burst) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::atomic<int> next{0}, aborted{0}, failed{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kReplicas; ++c) {
      clients.emplace_back([&, c] {
        for (int i = next++; i < bulk; i = next++) {
          v1::RecalibrateResponse response;
          for (int attempt = 0;; ++attempt) {
            const grpc::Status status = run.Recalibrate(servers[(c + attempt) % kReplicas]->stub(), 0,
                                                        "bulk-" + std::to_string(i), 100000 + i, &response);
            if (status.ok()) break;
            if (status.error_code() == grpc::StatusCode::ABORTED && attempt < 50) {
              ++aborted;
              continue;
            }
            ++failed;
            std::fprintf(stderr, "bulk commit %d: %s\n", i, status.error_message().c_str());
            break;
          }
        }
      });
    }
    const auto start = Clock::now();
    for (std::thread& t : clients) t.join();
    const double seconds = Ms(Clock::now() - start) / 1000;
    done = true;
    reader.join();
    if (failed > 0) run.Fail(std::to_string(failed.load()) + " bulk commits failed");
    const int64_t expected_head = version + bulk;
    if (!run.WaitAllServe(servers, expected_head, nullptr)) run.Fail("bulk: not every replica serves the head");
    v1::ListVersionsResponse first;
    if (!run.History(servers[0]->stub(), &first)) run.Fail("ListVersions failed");
    for (int i = 0; i < first.versions_size(); ++i) {
      if (first.versions(i).version() != i + 1 || first.versions(i).parent() != i) {
        run.Fail("history entry " + std::to_string(i) + " is version " + std::to_string(first.versions(i).version()) +
                 " with parent " + std::to_string(first.versions(i).parent()));
        break;
      }
    }
    if (first.versions_size() != expected_head) run.Fail("history length " + std::to_string(first.versions_size()));
    for (int r = 1; r < kReplicas; ++r) {
      v1::ListVersionsResponse other;
      if (!run.History(servers[r]->stub(), &other) || other.SerializeAsString() != first.SerializeAsString()) {
        run.Fail("replica " + std::to_string(r) + "'s history differs from replica 0's");
      }
    }
    std::printf(
        "bulk: %d commits from %d clients over %d replicas in %.1f s (%d lost races retried): contiguous "
        "versions 1..%lld, identical history everywhere: %s\n",
        bulk, kReplicas, kReplicas, seconds, aborted.load(), static_cast<long long>(expected_head),
        run.failures == 0 ? "ok" : "FAILED");
    std::printf(
        "reader Predict on replica %d, ms: without commits p50 %.3f p99 %.3f (%zu calls) | during the burst "
        "p50 %.3f p99 %.3f (%zu calls)\n",
        kReplicas - 1, Percentile(quiet_ms, 0.5), Percentile(quiet_ms, 0.99), quiet_ms.size(),
        Percentile(burst_ms, 0.5), Percentile(burst_ms, 0.99), burst_ms.size());
  }

  for (auto& server : servers) server->Stop();
  if (run.failures > 0) {
    for (int r = 0; r < kReplicas; ++r) {
      std::fprintf(stderr, "--- replica %d log (tail) ---\n%s\n", r,
                   testing::ReadWholeFile(servers[r]->log_path()).substr(0).c_str());
    }
  } else {
    std::error_code ec;
    fs::remove_all(scratch, ec);
  }
  std::printf("%s\n", run.failures == 0 ? "PASS" : "FAIL");
  return run.failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace bnserve::reliability

int main(int argc, char** argv) { return bnserve::reliability::Main(argc, argv); }

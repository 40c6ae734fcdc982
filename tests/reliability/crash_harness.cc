// crash_harness: crash consistency of statistics commits, end to end.
//
// Runs the real bnserve binary over a temporary repository holding one
// model, commits recalibrations in a loop and kills the server with SIGKILL
// - from outside at a random moment, or from inside at a named step of the
// commit path (BNSERVE_CRASH_POINT, core/util/crash_point.h). After every crash
// it restarts the server and checks:
//   * the served version is the last one the client saw acknowledged, or
//     the one in flight when the server died (whose parent is the former);
//   * GetRunningStats of the served version - and of every version in the
//     history - equals byte for byte the statistics that version's commit
//     produces (every commit uses reset + EXACT on one of a few fixed batch
//     sets, so its statistics depend only on the set; a reference run with
//     no crashes records them first);
//   * ListVersions extends the history seen before the crash (append-only,
//     each entry's parent is the previous entry).
// Prints trials, crash points hit, commits acknowledged, in-flight commits
// that survived, and failures; exits 1 on any failure.
//
// Usage: crash_harness --bnserve PATH --model PATH.onnx [--trials N] [--seed S]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util/live_server.h"

namespace bnserve::reliability {
namespace {

constexpr char kModel[] = "mlp";
constexpr int kBatchSets = 5;
constexpr int kBatchesPerCommit = 2;
constexpr int kRowsPerBatch = 9;  // odd on purpose
constexpr int kMaxCommitsPerTrial = 40;
const std::vector<std::string> kCrashPoints = {"after_write",  "after_dir_fsync", "after_fsync",
                                               "after_rename", "after_current",   "external"};

std::string Note(int batch_set, int64_t commit_id) {
  return "set=" + std::to_string(batch_set) + " commit=" + std::to_string(commit_id);
}
int BatchSetOfNote(const std::string& note) {
  if (note.rfind("set=", 0) != 0) return -1;
  return std::atoi(note.c_str() + 4);
}

// The identity of a history entry (what must never change once written).
std::string EntryKey(const v1::VersionInfo& v) {
  std::ostringstream out;
  out << v.version() << "/" << v.parent() << "/" << v.origin() << "/" << v.mode() << "/" << v.batches() << "/"
      << v.samples() << "/" << v.created_unix_ms() << "/" << v.note();
  return out.str();
}

// The statistics part of a GetRunningStats answer, serialized.
std::string LayerBytes(const v1::GetRunningStatsResponse& response) {
  v1::GetRunningStatsResponse layers_only;
  *layers_only.mutable_layers() = response.layers();
  std::string bytes;
  layers_only.SerializeToString(&bytes);
  return bytes;
}

struct Harness {
  std::string bnserve;
  std::vector<int64_t> feature_dims;
  std::map<int, std::string> expected_layers;  // batch set (-1 = version 1) -> LayerBytes

  grpc::Status Commit(v1::BnServe::Stub& stub, int batch_set, int64_t commit_id, v1::RecalibrateResponse* response) {
    auto context = ContextWithDeadline(30);
    auto writer = stub.Recalibrate(context.get(), response);
    v1::RecalibrateRequest message;
    v1::RecalibrationConfig* config = message.mutable_config();
    config->set_model(kModel);
    config->set_mode(v1::RECALIBRATION_MODE_EXACT);
    config->set_reset(true);
    config->set_forward_mode(v1::FORWARD_MODE_TRAIN);
    config->set_note(Note(batch_set, commit_id));
    bool open = writer->Write(message);
    for (int b = 0; b < kBatchesPerCommit && open; ++b) {
      message.Clear();
      *message.mutable_batch()->add_inputs() =
          GridBatch(kRowsPerBatch, feature_dims, static_cast<uint64_t>(batch_set) * 1000 + b);
      open = writer->Write(message);
    }
    writer->WritesDone();
    return writer->Finish();
  }

  bool Fetch(v1::BnServe::Stub& stub, int64_t version, v1::GetRunningStatsResponse* response) {
    v1::GetRunningStatsRequest request;
    request.set_model(kModel);
    request.set_statistics_version(version);
    return stub.GetRunningStats(ContextWithDeadline(10).get(), request, response).ok();
  }
};

int Main(int argc, char** argv) {
  Harness h;
  std::string model_path;
  int trials = 100;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--bnserve")
      h.bnserve = argv[i + 1];
    else if (flag == "--model")
      model_path = argv[i + 1];
    else if (flag == "--trials")
      trials = std::atoi(argv[i + 1]);
    else if (flag == "--seed")
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (h.bnserve.empty() || model_path.empty() || trials < 1) {
    std::fprintf(stderr, "usage: crash_harness --bnserve PATH --model PATH.onnx [--trials N] [--seed S]\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const std::string scratch = testing::MakeTempDir("bnserve_crash");
  if (scratch.empty()) return 2;
  auto make_repository = [&](const std::string& name) {
    const std::string repository = scratch + "/" + name;
    fs::create_directories(repository + "/" + kModel);
    fs::copy_file(model_path, repository + "/" + kModel + "/model.onnx");
    return repository;
  };
  int failures = 0;
  auto fail = [&](int trial, const std::string& what) {
    ++failures;
    std::fprintf(stderr, "FAILURE (trial %d): %s\n", trial, what.c_str());
  };

  // Reference run, no crashes: the statistics each batch set commits.
  {
    LiveServer server(h.bnserve, make_repository("reference"), scratch + "/reference.log");
    if (!server.Start({}, kModel) || !FeatureDims(server.stub(), kModel, &h.feature_dims)) {
      std::fprintf(stderr, "reference server did not start; log:\n%s\n",
                   testing::ReadWholeFile(scratch + "/reference.log").c_str());
      return 1;
    }
    v1::GetRunningStatsResponse stats;
    if (!h.Fetch(server.stub(), 0, &stats)) return 1;
    h.expected_layers[-1] = LayerBytes(stats);
    for (int set = 0; set < kBatchSets; ++set) {
      v1::RecalibrateResponse response;
      const grpc::Status status = h.Commit(server.stub(), set, -1, &response);
      if (!status.ok() || !h.Fetch(server.stub(), response.new_version().version(), &stats)) {
        std::fprintf(stderr, "reference commit failed: %s\n", status.error_message().c_str());
        return 1;
      }
      h.expected_layers[set] = LayerBytes(stats);
    }
  }

  const std::string repository = make_repository("repository");
  std::mt19937_64 rng(seed);
  std::vector<v1::VersionInfo> history;  // as last confirmed; empty until the first start
  int64_t last_acked = 1;
  struct {
    bool active = false;
    int set = 0;
    int64_t id = 0;
  } in_flight;  // the commit sent but not acknowledged
  int64_t next_commit_id = 0;
  std::map<std::string, int> points_hit;
  int acked = 0, in_flight_survived = 0, in_flight_lost = 0, trials_run = 0;

  for (int trial = 0; trial <= trials; ++trial) {
    // Trial `trials` only restarts and verifies the last crash.
    const std::string point = kCrashPoints[rng() % kCrashPoints.size()];
    std::map<std::string, std::string> env;
    if (point != "external" && trial < trials) {
      env["BNSERVE_CRASH_POINT"] = point;
      env["BNSERVE_CRASH_PROBABILITY"] = "0.3";
      env["BNSERVE_CRASH_SEED"] = std::to_string(rng());
    }
    const std::string log = scratch + "/trial" + std::to_string(trial) + ".log";
    LiveServer server(h.bnserve, repository, log);
    if (!server.Start(env, kModel)) {
      fail(trial, "server did not restart; log:\n" + testing::ReadWholeFile(log));
      break;
    }

    // --- verify what survived the previous crash ---
    v1::ListVersionsRequest list_request;
    list_request.set_model(kModel);
    v1::ListVersionsResponse listed;
    if (!server.stub().ListVersions(ContextWithDeadline(10).get(), list_request, &listed).ok()) {
      fail(trial, "ListVersions failed after restart");
      break;
    }
    const auto& versions = listed.versions();
    bool history_ok = versions.size() >= 1 && versions[0].version() == 1;
    for (int i = 1; i < versions.size(); ++i) {
      if (versions[i].parent() != versions[i - 1].version() || versions[i].version() <= versions[i - 1].version()) {
        history_ok = false;
      }
    }
    if (!history_ok) fail(trial, "history is not a parent chain starting at version 1");
    if (!history.empty()) {
      if (versions.size() < static_cast<int>(history.size())) {
        fail(trial, "history shrank from " + std::to_string(history.size()) + " to " + std::to_string(versions.size()) +
                        " entries");
      } else {
        for (size_t i = 0; i < history.size(); ++i) {
          if (EntryKey(history[i]) != EntryKey(versions[static_cast<int>(i)])) {
            fail(trial, "history entry " + std::to_string(i) + " changed: " + EntryKey(history[i]) + " -> " +
                            EntryKey(versions[static_cast<int>(i)]));
          }
        }
      }
      const size_t extra = versions.size() - std::min<size_t>(versions.size(), history.size());
      if (listed.current_version() == last_acked) {
        if (extra != 0) fail(trial, "serving the acknowledged version but the history grew");
        if (in_flight.active) ++in_flight_lost;
      } else if (in_flight.active && extra == 1 && versions.rbegin()->version() == listed.current_version() &&
                 versions.rbegin()->parent() == last_acked &&
                 versions.rbegin()->note() == Note(in_flight.set, in_flight.id) &&
                 versions.rbegin()->origin() == "recalibrate") {
        ++in_flight_survived;  // the commit in flight became durable before the crash
      } else {
        fail(trial, "serving version " + std::to_string(listed.current_version()) +
                        ", neither the acknowledged version " + std::to_string(last_acked) +
                        " nor the in-flight commit (history grew by " + std::to_string(extra) + ")");
      }
    }
    // Every version's statistics, byte for byte; the served one via version 0.
    v1::GetRunningStatsResponse served;
    if (!h.Fetch(server.stub(), 0, &served) || served.version().version() != listed.current_version()) {
      fail(trial, "GetRunningStats of the served version failed or names another version");
    } else {
      const int set = versions.rbegin()->version() == 1 ? -1 : BatchSetOfNote(versions.rbegin()->note());
      if (LayerBytes(served) != h.expected_layers[set]) {
        fail(trial, "served statistics of version " + std::to_string(listed.current_version()) +
                        " differ from what its commit produced");
      }
    }
    for (const v1::VersionInfo& v : versions) {
      v1::GetRunningStatsResponse stats;
      const int set = v.version() == 1 ? -1 : BatchSetOfNote(v.note());
      if (!h.Fetch(server.stub(), v.version(), &stats) || LayerBytes(stats) != h.expected_layers[set]) {
        fail(trial, "statistics of history version " + std::to_string(v.version()) + " unreadable or different");
      }
    }
    history.assign(versions.begin(), versions.end());
    last_acked = listed.current_version();
    in_flight.active = false;
    if (trial == trials) break;
    ++trials_run;

    // --- commit until the server dies ---
    std::thread killer;
    if (point == "external") {
      const int delay_ms = static_cast<int>(rng() % 400);
      const pid_t pid = server.pid();
      killer = std::thread([pid, delay_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        kill(pid, SIGKILL);
      });
    }
    for (int c = 0; c < kMaxCommitsPerTrial; ++c) {
      const int set = static_cast<int>((next_commit_id + 1) % kBatchSets);
      in_flight.active = true;
      in_flight.set = set;
      in_flight.id = next_commit_id++;
      v1::RecalibrateResponse response;
      const grpc::Status status = h.Commit(server.stub(), set, in_flight.id, &response);
      if (!status.ok()) {
        if (server.WaitExit(std::chrono::seconds(5))) break;
        fail(trial, "commit failed with the server alive: " + status.error_message());
        in_flight.active = false;
        continue;
      }
      const v1::VersionInfo& v = response.new_version();
      if (v.parent() != last_acked) fail(trial, "acknowledged version's parent is not the previous version");
      history.push_back(v);
      last_acked = v.version();
      in_flight.active = false;
      ++acked;
    }
    if (killer.joinable()) killer.join();
    server.Kill();  // no-op when it is already dead
    const std::string text = testing::ReadWholeFile(log);
    const size_t at = text.find("bnserve: crash point ");
    if (at != std::string::npos) {
      const size_t start = at + std::strlen("bnserve: crash point ");
      ++points_hit[text.substr(start, text.find(' ', start) - start)];
    } else {
      ++points_hit[point == "external" ? "external_sigkill" : "none_hit_sigkill"];
    }
  }

  std::printf("crash_harness: trials %d, commits acknowledged %d, in-flight commits durable %d, lost %d\n", trials_run,
              acked, in_flight_survived, in_flight_lost);
  std::printf("crash points hit:");
  for (const auto& [name, count] : points_hit) std::printf(" %s=%d", name.c_str(), count);
  std::printf("\nfailures %d\n", failures);
  if (failures == 0)
    fs::remove_all(scratch);
  else
    std::printf("scratch kept: %s\n", scratch.c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace bnserve::reliability

int main(int argc, char** argv) { return bnserve::reliability::Main(argc, argv); }

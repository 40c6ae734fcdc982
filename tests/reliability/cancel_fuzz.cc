// cancel_fuzz: randomized recalibration streams cut at random points against
// a live bnserve, then a check that nothing partial was ever committed.
//
// Each stream sends its config (note "stream=<i>") and a random number of
// batches, and is ended one of four ways: normally; by TryCancel after a
// random number of messages; by a deadline of a few milliseconds; or by the
// client process dying (a child re-runs this program with --child, writes
// part of a stream and _exit()s, so the connection is torn down with the
// call open). Two driver threads run streams concurrently.
//
// Every stream carries an idempotency key (request_id "fuzz-<seed>-<i>").
// A stream that did not finish OK is retried - complete, with the same key,
// config and batches - as a client retry loop would, until it finishes OK
// (bounded attempts with backoff). A retry answered deduplicated=true means
// the cut attempt had committed; that is legitimate only when the cut came
// after its half-close (the cancel raced the commit).
//
// Afterwards every version in ListVersions with a "stream=<i>" note must
// belong to a stream whose client half-closed (WritesDone) - a stream cut
// before that committing anything is a PARTIAL COMMIT - and must hold
// exactly the batches and samples that stream sent, and carry its key.
// Every stream must be in the history exactly once: more is a DOUBLE
// COMMIT (a retry applied again), none a LOST COMMIT. Each stream's final
// reply must name that version. Exits 1 on any failure.
//
// Usage: cancel_fuzz --bnserve PATH --model PATH.onnx [--streams N] [--seed S]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util/live_server.h"

namespace bnserve::reliability {
namespace {

constexpr char kModel[] = "mlp";
constexpr int kRowsPerBatch = 7;

enum class Cut { kNone, kCancel, kDeadline, kClientExit };
const char* CutName(Cut cut) {
  switch (cut) {
    case Cut::kNone:
      return "complete";
    case Cut::kCancel:
      return "cancel";
    case Cut::kDeadline:
      return "deadline";
    case Cut::kClientExit:
      return "client_exit";
  }
  return "?";
}

struct Outcome {
  Cut cut = Cut::kNone;
  int batches_planned = 0;
  bool half_closed = false;  // WritesDone was called on the first attempt
  bool finish_ok = false;    // the first attempt's Finish
  grpc::StatusCode code = grpc::StatusCode::OK;
  int retries = 0;                                     // attempts after the first
  bool retried_ok = false;                             // a retry finished OK
  bool deduplicated = false;                           // ... answered with the first attempt's commit
  int64_t acknowledged_version = 0;                    // new_version of the OK reply
  grpc::StatusCode retry_code = grpc::StatusCode::OK;  // the last retry's
};

uint64_t g_seed = 1;  // for the keys; set once in Main

std::string RequestId(int stream) { return "fuzz-" + std::to_string(g_seed) + "-" + std::to_string(stream); }

v1::RecalibrateRequest ConfigMessage(int stream) {
  v1::RecalibrateRequest message;
  v1::RecalibrationConfig* config = message.mutable_config();
  config->set_model(kModel);
  config->set_mode(v1::RECALIBRATION_MODE_CUMULATIVE);
  config->set_note("stream=" + std::to_string(stream));
  config->set_request_id(RequestId(stream));
  return message;
}

v1::RecalibrateRequest BatchMessage(const std::vector<int64_t>& dims, int stream, int b) {
  v1::RecalibrateRequest message;
  *message.mutable_batch()->add_inputs() = GridBatch(kRowsPerBatch, dims, static_cast<uint64_t>(stream) * 100 + b);
  return message;
}

// --child ADDRESS STREAM BATCHES_BEFORE_EXIT: open a stream, send the config
// and that many batches, wait a moment for them to leave, and die.
// A complete stream (config, every batch, half-close), as a client retry
// sends it.
grpc::Status SendWholeStream(v1::BnServe::Stub& stub, const std::vector<int64_t>& dims, int stream, int batches,
                             v1::RecalibrateResponse* response) {
  auto context = ContextWithDeadline(30);
  auto writer = stub.Recalibrate(context.get(), response);
  bool open = writer->Write(ConfigMessage(stream));
  for (int b = 0; b < batches && open; ++b) open = writer->Write(BatchMessage(dims, stream, b));
  if (open) writer->WritesDone();
  return writer->Finish();
}

// Codes a retry loop retries: the outcome is unknown (UNAVAILABLE,
// DEADLINE_EXCEEDED, CANCELLED) or the server is busy (RESOURCE_EXHAUSTED:
// the model's stream limit, while cut streams still hold their slots).
bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

int ChildMain(const std::string& address, int stream, int batches) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::BnServe::NewStub(channel);
  std::vector<int64_t> dims;
  if (!FeatureDims(*stub, kModel, &dims)) _exit(3);
  auto context = ContextWithDeadline(30);
  v1::RecalibrateResponse response;
  auto writer = stub->Recalibrate(context.get(), &response);
  writer->Write(ConfigMessage(stream));
  for (int b = 0; b < batches; ++b) writer->Write(BatchMessage(dims, stream, b));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  _exit(0);  // no WritesDone, no Finish: the connection just goes away
}

int Main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--child") {
    return ChildMain(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  std::string bnserve, model_path;
  int streams = 1000;
  uint64_t seed = 1;
  int max_retries = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--bnserve")
      bnserve = argv[i + 1];
    else if (flag == "--model")
      model_path = argv[i + 1];
    else if (flag == "--streams")
      streams = std::atoi(argv[i + 1]);
    else if (flag == "--seed")
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--retries")
      max_retries = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (bnserve.empty() || model_path.empty() || streams < 1 || max_retries < 1) {
    std::fprintf(stderr,
                 "usage: cancel_fuzz --bnserve PATH --model PATH.onnx [--streams N] [--seed S] [--retries R]\n");
    return 2;
  }
  g_seed = seed;
  namespace fs = std::filesystem;
  const std::string scratch = testing::MakeTempDir("bnserve_cancel");
  if (scratch.empty()) return 2;
  const std::string repository = scratch + "/repository";
  fs::create_directories(repository + "/" + kModel);
  fs::copy_file(model_path, repository + "/" + kModel + "/model.onnx");
  LiveServer server(bnserve, repository, scratch + "/bnserve.log");
  std::vector<int64_t> dims;
  if (!server.Start({}, kModel) || !FeatureDims(server.stub(), kModel, &dims)) {
    std::fprintf(stderr, "server did not start; log:\n%s\n", testing::ReadWholeFile(scratch + "/bnserve.log").c_str());
    return 1;
  }
  char self[4096];
  const ssize_t self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (self_len <= 0) return 2;
  self[self_len] = '\0';
  const std::string address = "127.0.0.1:" + std::to_string(server.port());

  std::vector<Outcome> outcomes(static_cast<size_t>(streams));
  std::atomic<int> next{0};
  std::atomic<int> first_attempt_deduplicated{0};
  // The client's retry loop: the whole stream again with the same key.
  auto Retry = [&](Outcome& out, int i, std::mt19937_64& rng) {
    int backoff_ms = 20;
    for (int attempt = 0; attempt < max_retries; ++attempt) {
      ++out.retries;
      v1::RecalibrateResponse response;
      const grpc::Status status = SendWholeStream(server.stub(), dims, i, out.batches_planned, &response);
      out.retry_code = status.error_code();
      if (status.ok()) {
        out.retried_ok = true;
        out.deduplicated = response.deduplicated();
        out.acknowledged_version = response.new_version().version();
        return;
      }
      if (!Retryable(status.error_code())) {
        std::fprintf(stderr, "stream %d: retry %d failed for good: %d %s\n", i, attempt + 1,
                     static_cast<int>(status.error_code()), status.error_message().c_str());
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms / 2 + static_cast<int>(rng() % backoff_ms)));
      backoff_ms = std::min(backoff_ms * 2, 1000);
    }
  };
  auto drive = [&](uint64_t thread_seed) {
    std::mt19937_64 rng(thread_seed);
    for (int i = next++; i < streams; i = next++) {
      Outcome& out = outcomes[static_cast<size_t>(i)];
      out.cut = static_cast<Cut>(rng() % 4);
      out.batches_planned = 1 + static_cast<int>(rng() % 4);
      // Messages sent before the cut: 1 (config only) .. all + 1 (after WritesDone).
      const int cut_after = 1 + static_cast<int>(rng() % (out.batches_planned + 2));
      if (out.cut == Cut::kClientExit) {
        const int batches = std::min(cut_after - 1, out.batches_planned);
        const pid_t pid = testing::Spawn({self, "--child", address, std::to_string(i), std::to_string(batches)},
                                         "/dev/null", "/dev/null");
        testing::WaitBounded(pid, std::chrono::seconds(30));
        out.code = grpc::StatusCode::UNAVAILABLE;  // the connection went away
        Retry(out, i, rng);
        continue;
      }
      const double deadline_s = out.cut == Cut::kDeadline ? (1 + rng() % 30) / 1000.0 : 30.0;
      auto context = ContextWithDeadline(deadline_s);
      v1::RecalibrateResponse response;
      auto writer = server.stub().Recalibrate(context.get(), &response);
      // kCancel: cut_after <= all messages cancels mid-stream; one more
      // half-closes first and then cancels, racing the commit.
      const int messages = out.batches_planned + 1;
      const int to_send = out.cut == Cut::kCancel ? std::min(cut_after, messages) : messages;
      bool open = writer->Write(ConfigMessage(i));
      for (int b = 0; b + 1 < to_send && open; ++b) open = writer->Write(BatchMessage(dims, i, b));
      if (open && (out.cut != Cut::kCancel || cut_after > messages)) {
        writer->WritesDone();
        out.half_closed = true;
      }
      if (out.cut == Cut::kCancel) {
        if (out.half_closed && rng() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
        context->TryCancel();
      }
      const grpc::Status status = writer->Finish();
      out.finish_ok = status.ok();
      out.code = status.error_code();
      if (out.finish_ok) {
        out.acknowledged_version = response.new_version().version();
        if (response.deduplicated()) {
          std::fprintf(stderr, "FAILURE: stream %d's first attempt was answered deduplicated\n", i);
          ++first_attempt_deduplicated;
        }
      } else {
        Retry(out, i, rng);
      }
    }
  };
  std::thread a(drive, seed * 2 + 1), b(drive, seed * 2 + 2);
  a.join();
  b.join();

  // Streams cut on the client may still be finishing on the server: wait
  // until the history has stopped changing.
  int failures = 0;
  v1::ListVersionsRequest list_request;
  list_request.set_model(kModel);
  v1::ListVersionsResponse listed;
  std::string previous;
  for (int poll = 0; poll < 100; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    listed.Clear();
    if (!server.stub().ListVersions(ContextWithDeadline(10).get(), list_request, &listed).ok()) {
      std::fprintf(stderr, "ListVersions failed\n");
      return 1;
    }
    if (listed.SerializeAsString() == previous) break;
    previous = listed.SerializeAsString();
  }
  std::map<int, int> committed;  // stream -> versions
  std::map<int, int64_t> version_of;
  int partial = 0;
  for (const v1::VersionInfo& v : listed.versions()) {
    if (v.version() == 1) continue;
    if (v.note().rfind("stream=", 0) != 0) {
      std::fprintf(stderr, "FAILURE: version %lld has an unexpected note '%s'\n", static_cast<long long>(v.version()),
                   v.note().c_str());
      ++failures;
      continue;
    }
    const int stream = std::atoi(v.note().c_str() + 7);
    const Outcome& out = outcomes[static_cast<size_t>(stream)];
    ++committed[stream];
    version_of[stream] = v.version();
    if (v.request_id() != RequestId(stream)) {
      ++failures;
      std::fprintf(stderr, "FAILURE: version %lld of stream %d carries request_id '%s'\n",
                   static_cast<long long>(v.version()), stream, v.request_id().c_str());
    }
    if (v.batches() != out.batches_planned || v.samples() != out.batches_planned * kRowsPerBatch) {
      ++partial;
      ++failures;
      std::fprintf(stderr,
                   "FAILURE: PARTIAL COMMIT: version %lld of stream %d holds %lld batches/%lld samples, "
                   "sent %d/%d\n",
                   static_cast<long long>(v.version()), stream, static_cast<long long>(v.batches()),
                   static_cast<long long>(v.samples()), out.batches_planned, out.batches_planned * kRowsPerBatch);
    }
  }
  std::map<std::string, int> by_cut, ok_by_cut, raced_by_cut;
  std::map<std::string, std::map<int, int>> codes_by_cut;
  int ok_streams = 0, cut_after_half_close = 0, retried_streams = 0, retries = 0, retried_ok = 0;
  int raced_commits = 0, double_commits = 0, lost_commits = 0, unfinished = 0;
  for (int i = 0; i < streams; ++i) {
    const Outcome& out = outcomes[static_cast<size_t>(i)];
    ++by_cut[CutName(out.cut)];
    if (out.cut != Cut::kClientExit) ++codes_by_cut[CutName(out.cut)][static_cast<int>(out.code)];
    if (out.cut != Cut::kNone && out.half_closed) ++cut_after_half_close;
    if (out.finish_ok) {
      ++ok_streams;
      ++ok_by_cut[CutName(out.cut)];
    }
    if (out.retries > 0) ++retried_streams;
    retries += out.retries;
    if (out.retried_ok) ++retried_ok;
    if (out.deduplicated) {
      ++raced_commits;
      ++raced_by_cut[CutName(out.cut)];
      if (!out.half_closed) {
        ++partial;
        ++failures;
        std::fprintf(stderr,
                     "FAILURE: PARTIAL COMMIT: stream %d (%s) committed by an attempt that never "
                     "half-closed (its retry was deduplicated)\n",
                     i, CutName(out.cut));
      }
    }
    const bool acknowledged = out.finish_ok || out.retried_ok;
    if (!acknowledged) {
      ++unfinished;
      ++failures;
      std::fprintf(stderr, "FAILURE: stream %d (%s) never finished OK in %d retries (last code %d)\n", i,
                   CutName(out.cut), out.retries, static_cast<int>(out.retry_code));
    }
    if (committed[i] > 1) {
      ++double_commits;
      ++failures;
      std::fprintf(stderr, "FAILURE: DOUBLE COMMIT: stream %d (%s) is in the history %d times\n", i, CutName(out.cut),
                   committed[i]);
    } else if (committed[i] == 0 && acknowledged) {
      ++lost_commits;
      ++failures;
      std::fprintf(stderr, "FAILURE: LOST COMMIT: stream %d (%s) was acknowledged but is not in the history\n", i,
                   CutName(out.cut));
    } else if (committed[i] == 1 && acknowledged && out.acknowledged_version != version_of[i]) {
      ++failures;
      std::fprintf(stderr, "FAILURE: stream %d was acknowledged with version %lld, the history has it as %lld\n", i,
                   static_cast<long long>(out.acknowledged_version), static_cast<long long>(version_of[i]));
    }
  }
  if (first_attempt_deduplicated > 0) failures += first_attempt_deduplicated;
  v1::GetRunningStatsRequest stats_request;
  stats_request.set_model(kModel);
  v1::GetRunningStatsResponse served;
  if (!server.stub().GetRunningStats(ContextWithDeadline(10).get(), stats_request, &served).ok() ||
      served.version().version() != listed.current_version() ||
      listed.current_version() != listed.versions().rbegin()->version()) {
    ++failures;
    std::fprintf(stderr, "FAILURE: the served version is not the history's last\n");
  }
  if (!server.Running()) {
    ++failures;
    std::fprintf(stderr, "FAILURE: the server died; log:\n%s\n",
                 testing::ReadWholeFile(scratch + "/bnserve.log").c_str());
  }
  std::printf("cancel_fuzz: streams %d (", streams);
  for (const auto& [name, count] : by_cut) std::printf(" %s=%d ok=%d", name.c_str(), count, ok_by_cut[name]);
  std::printf(" ), first attempt OK %d, versions committed %d\n", ok_streams, listed.versions_size() - 1);
  std::printf("First-attempt status codes by cut:");
  for (const auto& [name, codes] : codes_by_cut) {
    std::printf(" %s{", name.c_str());
    for (const auto& [code, count] : codes) std::printf(" %d:%d", code, count);
    std::printf(" }");
  }
  std::printf("\ncut after half-close %d; streams retried %d, retries %d, retried to OK %d\n", cut_after_half_close,
              retried_streams, retries, retried_ok);
  std::printf("committed by the cut attempt (retry answered deduplicated) %d, by cut:", raced_commits);
  for (const auto& [name, count] : raced_by_cut) std::printf(" %s=%d", name.c_str(), count);
  std::printf("\npartial commits %d, double commits %d, lost commits %d, never finished %d\nfailures %d\n", partial,
              double_commits, lost_commits, unfinished, failures);
  server.Kill();
  if (failures == 0)
    fs::remove_all(scratch);
  else
    std::printf("scratch kept: %s\n", scratch.c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace bnserve::reliability

int main(int argc, char** argv) { return bnserve::reliability::Main(argc, argv); }

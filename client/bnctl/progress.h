// ProgressBar: one status line redrawn in place ("\r") on a terminal, e.g.
//   recalibrate digits  [██████████▌         ]  5/10 batches  160/300 samples
// Disabled (draws nothing) when its stream is not a terminal, so logs,
// pipes and test captures stay clean. Not thread-safe (one owner).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace bnserve::client {

class ProgressBar {
 public:
  // Enabled only when `out` is a terminal.
  ProgressBar(std::string label, FILE* out);
  ~ProgressBar() { Finish(); }

  bool enabled() const { return enabled_; }
  // Redraws with `done` of `total` filled and `detail` after the bar.
  void Update(int64_t done, int64_t total, const std::string& detail);
  // Erases the line; later Updates draw again.
  void Finish();

 private:
  std::string label_;
  FILE* out_;
  bool enabled_;
  bool drawn_ = false;
};

}  // namespace bnserve::client

#include "client/bnctl/progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/bnctl/format.h"
#include "client/bnctl/plot.h"

namespace bnserve::client {
namespace {

constexpr int kBarCells = 24;

}  // namespace

ProgressBar::ProgressBar(std::string label, FILE* out)
    : label_(std::move(label)), out_(out), enabled_(isatty(fileno(out)) != 0) {}

void ProgressBar::Update(int64_t done, int64_t total, const std::string& detail) {
  if (!enabled_) return;
  const double fraction = total > 0 ? std::clamp(static_cast<double>(done) / total, 0.0, 1.0) : 1.0;
  std::string bar = Bar(fraction * kBarCells);
  bar.append(kBarCells - std::min<size_t>(kBarCells, DisplayWidth(bar)), ' ');
  // \x1b[K clears what a longer previous line left behind.
  const std::string line = absl::StrCat("\r", label_, "  [", bar, "]  ", detail, "\x1b[K");
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!drawn_) return;
  std::fputs("\r\x1b[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace bnserve::client

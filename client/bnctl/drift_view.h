// The terminal view of a model's drift report (GetDrift / WatchDrift):
//
//   digits: drift of statistics version 1 (policy monitoring, auto-adapt off)
//   alarm      ON   alarm: 2 consecutive windows above the threshold; ...
//   threshold  5.153 on the window score, for 1% false alarms per window; ...
//   samples    4200 offered, 4200 sampled (rate 1), 0 dropped, 4200 processed; ...
//
//   layer                    score (window 131)  mean |shift|  mean KL  last 32 windows
//   window (max of layers)                204.7                         ▂▂▁▁▂▁▂▄▁▂▂▃▂▇█████
//   /bn1/BatchNormalization               107.6        0.2214   0.2651  ▂▁▁▁▂▁▁▄▁▁▂▂▂▇█████
//
// then the staged candidates with their shadow evaluation and the recent
// events. The sparklines are ThresholdSparkline (plot.h) on one scale for
// every row. Stateless; thread-safe.
#pragma once

#include <string>

#include "bnserve/v1/drift.pb.h"

namespace bnserve::client {

// Events shown in the text view (--json has all the server kept).
inline constexpr int kDriftEventsShown = 10;

std::string DriftText(const v1::GetDriftResponse& drift);

}  // namespace bnserve::client

// Shared helpers for the GoogleTest suite: fixture paths and JSON tensors.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace bnserve::testing {

inline std::string FixturePath(const std::string& relative) {
  return std::string(BNSERVE_FIXTURES_DIR) + "/" + relative;
}

inline nlohmann::json LoadJsonFixture(const std::string& relative) {
  std::ifstream in(FixturePath(relative));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

// Reads {"shape": [...], "data": [...]} into shape and row-major data.
inline void ReadJsonTensor(const nlohmann::json& j, std::vector<int64_t>* shape, std::vector<double>* data) {
  *shape = j.at("shape").get<std::vector<int64_t>>();
  *data = j.at("data").get<std::vector<double>>();
}

}  // namespace bnserve::testing

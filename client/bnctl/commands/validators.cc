#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "client/bnctl/commands/command.h"

namespace bnserve::client {

CLI::Validator PositiveInteger() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        int64_t n = 0;
        if (absl::SimpleAtoi(value, &n) && n > 0) return "";
        return "expected a positive integer, got '" + value + "'";
      },
      "POSITIVE");
}

CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        double seconds = 0;
        if (absl::SimpleAtod(value, &seconds) && seconds > 0 && seconds < 1e9) return "";
        return "expected a positive number of seconds, got '" + value + "'";
      },
      "SECONDS");
}

}  // namespace bnserve::client

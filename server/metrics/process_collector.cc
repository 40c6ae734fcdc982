#include "server/metrics/process_collector.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "server/metrics/metric_family_util.h"

namespace bnserve {
namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // since boot
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

// /proc/self/stat: fields after the parenthesised command name (which may
// itself hold spaces), numbered as in proc(5).
bool ReadProcStat(ProcStat* out) {
  std::ifstream file("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0, starttime = 0, vsize = 0, rss_pages = 0;
  for (int number = 3; fields >> field; ++number) {
    if (number == 14) utime = std::stod(field);
    if (number == 15) stime = std::stod(field);
    if (number == 22) starttime = std::stod(field);
    if (number == 23) vsize = std::stod(field);
    if (number == 24) {
      rss_pages = std::stod(field);
      break;
    }
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  out->cpu_seconds = (utime + stime) / ticks;
  out->start_time_seconds = starttime / ticks;
  out->virtual_bytes = vsize;
  out->resident_bytes = rss_pages * static_cast<double>(sysconf(_SC_PAGESIZE));
  return true;
}

// Boot time from /proc/stat's btime line, to make the start time absolute.
double BootTimeSeconds() {
  std::ifstream file("/proc/stat");
  std::string key;
  double value = 0;
  while (file >> key) {
    if (key == "btime" && file >> value) return value;
    file.ignore(1 << 20, '\n');
  }
  return 0;
}

int OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  ProcStat stat;
  if (ReadProcStat(&stat)) {
    families.push_back(CounterFamily("process_cpu_seconds_total", "User and system CPU time spent, in seconds"));
    AddSample(families.back(), {}, stat.cpu_seconds);
    families.push_back(GaugeFamily("process_resident_memory_bytes", "Resident memory size in bytes"));
    AddSample(families.back(), {}, stat.resident_bytes);
    families.push_back(GaugeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes"));
    AddSample(families.back(), {}, stat.virtual_bytes);
    families.push_back(
        GaugeFamily("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds"));
    AddSample(families.back(), {}, BootTimeSeconds() + stat.start_time_seconds);
  }
  if (const int fds = OpenFds(); fds >= 0) {
    families.push_back(GaugeFamily("process_open_fds", "Open file descriptors"));
    AddSample(families.back(), {}, fds);
  }
  return families;
}

}  // namespace bnserve

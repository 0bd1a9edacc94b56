// A progress line for long work: done/total, rate, elapsed time and ETA, plus a caller-supplied
// status (the current loss). On a terminal it redraws one line; otherwise (logs, CI) it prints a
// line at most every `log_every_s` seconds, so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace v3d {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::FILE* out = stderr, double log_every_s = 5.0);
  // Reports that `done` of `total` units are complete.
  void update(int64_t done, const std::string& status = "");
  // Whether update() would print now: a caller whose status costs something (a device
  // synchronisation) computes it only then.
  bool due() const;
  // Prints the final line (always).
  void finish(const std::string& status = "");

  // "1:02:03" or "2:03"
  static std::string format_duration(double seconds);

 private:
  void print(int64_t done, const std::string& status, bool final);
  std::string label_;
  int64_t total_;
  std::FILE* out_;
  double log_every_s_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  double last_print_s_ = -1e9;
  int64_t last_done_ = 0;
};

}  // namespace v3d

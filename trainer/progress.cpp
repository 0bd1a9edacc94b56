// Progress.
#include "trainer/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace v3d {

Progress::Progress(std::string label, int64_t total, std::FILE* out, double log_every_s)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      out_(out),
      log_every_s_(log_every_s),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()) {}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

bool Progress::due() const {
  const double now =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return now - last_print_s_ >= (tty_ ? 0.1 : log_every_s_);
}

void Progress::update(int64_t done, const std::string& status) {
  last_done_ = done;
  if (!due()) return;
  last_print_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  print(done, status, false);
}

void Progress::finish(const std::string& status) { print(total_, status, true); }

void Progress::print(int64_t done, const std::string& status, bool final) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  const int width = 24;
  const int filled = static_cast<int>(width * std::min<double>(1.0, double(done) / double(total_)));
  std::string bar(static_cast<size_t>(filled), '=');
  bar.resize(static_cast<size_t>(width), ' ');
  std::fprintf(out_, "%s%s %lld/%lld [%s] %5.1f%% %.1f/s elapsed %s ETA %s%s%s%s",
               tty_ ? "\r\033[K" : "", label_.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), bar.c_str(), 100.0 * double(done) / double(total_),
               rate, format_duration(elapsed).c_str(),
               final ? "0:00" : format_duration(eta).c_str(), status.empty() ? "" : "  ",
               status.c_str(), (tty_ && !final) ? "" : "\n");
  std::fflush(out_);
}

}  // namespace v3d

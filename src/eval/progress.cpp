#include "eval/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "core/error.h"

namespace spf::eval {

Progress::Progress(std::ostream* out, ProgressStyle style, int64_t total, int64_t already,
                   double interval_s)
    : out_(out), style_(style), total_(total), already_(already), interval_s_(interval_s) {
  if (out_ == nullptr) style_ = ProgressStyle::none;
  if (style_ == ProgressStyle::automatic)
    style_ =
        (out_ == &std::cerr && ::isatty(STDERR_FILENO)) ? ProgressStyle::bar : ProgressStyle::lines;
  if (style_ == ProgressStyle::lines)
    *out_ << "sweep: " << total_ << " samples, " << already_ << " already done, "
          << total_ - already_ << " to run\n"
          << std::flush;
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = int64_t(std::llround(seconds));
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600),
                  (long long)(s / 60 % 60), (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

void Progress::tick() {
  ++ran_;
  draw(false);
}

void Progress::finish() {
  draw(true);
}

void Progress::draw(bool final) {
  if (style_ == ProgressStyle::none) return;
  const double t = clock_.seconds();
  if (style_ == ProgressStyle::lines && !final && t - last_print_ < interval_s_) return;
  last_print_ = t;
  const int64_t done = already_ + ran_;
  const double rate = t > 0 ? double(ran_) / t : 0.0;
  const double eta = rate > 0 ? double(total_ - done) / rate : NAN;
  char stats[128];
  std::snprintf(stats, sizeof stats, "%lld/%lld  %.2f samples/s  ETA %s", (long long)done,
                (long long)total_, rate, format_duration(eta).c_str());
  if (style_ == ProgressStyle::bar) {
    constexpr int kWidth = 30;
    const int filled = total_ > 0 ? int(kWidth * done / total_) : kWidth;
    std::string bar(size_t(filled), '=');
    bar.resize(kWidth, ' ');
    *out_ << "\r[" << bar << "] " << stats << "\033[K";
    if (final) *out_ << "\n";
    *out_ << std::flush;
  } else {
    *out_ << "sweep: " << stats << (final ? " (finished)" : "") << "\n" << std::flush;
  }
}

}  // namespace spf::eval

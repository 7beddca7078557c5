// Sweep progress on a stream (stderr by default): on a terminal a bar redrawn in place with
// done/total, rate and ETA; otherwise (logs, CI) a plain line at most every `interval_s` seconds
// and at the end.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "core/timer.h"

namespace spf::eval {

enum class ProgressStyle { automatic, bar, lines, none };

class Progress {
 public:
  // `already` of `total` were done before this run (resumed); rate and ETA count only this run's.
  Progress(std::ostream* out, ProgressStyle style, int64_t total, int64_t already,
           double interval_s = 10);
  void tick();                                         // one more sample done
  void finish();                                       // final line
  static std::string format_duration(double seconds);  // "1:02:03", "2:03"

 private:
  void draw(bool final);

  std::ostream* out_;
  ProgressStyle style_;
  int64_t total_, already_, ran_ = 0;
  double interval_s_, last_print_ = -1e300;
  Stopwatch clock_;
};

}  // namespace spf::eval

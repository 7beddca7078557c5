// Sweep configs: strict JSON, then the grid (methods, budgets, lengths, tasks) and its validation.
#include "core/error.h"
#include "eval/sweep_config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".sweep.json");
  try {
    const spf::eval::SweepConfig cfg = spf::eval::load_sweep_config(path);
    spf::eval::validate_sweep_config(cfg, [](const std::string&) { return int64_t(8192); });
    (void)spf::eval::enumerate_cells(cfg);
  } catch (const spf::Error&) {
  }
  return 0;
}

// Whole-file writes that never leave a half-written result: data goes to "<path>.tmp.<pid>", is
// flushed, then renamed over <path>. Appends to a JSONL log use append_line_durable instead.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace spf {

void write_file_atomic(const std::string& path, std::string_view bytes);

// Appends one complete line (a '\n' is added) with a single write() and fsync, so a kill leaves
// either the whole line or, at worst, a torn last line that readers must skip.
void append_line_durable(const std::string& path, std::string_view line);

std::string read_file(const std::string& path);

}  // namespace spf

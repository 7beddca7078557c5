// Whole-file writes that never leave a half-written result: data goes to "<path>.tmp.<pid>", is
// flushed, then renamed over <path>. Appends to a JSONL log use append_line_durable instead.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace spf {

// Errors name `path`, never the temporary file. An existing path that is not a regular file (a
// device such as /dev/full, a FIFO, a directory) is refused, not replaced; a symlink is written
// through (its target is replaced, the link kept).
void write_file_atomic(const std::string& path, std::string_view bytes);
// The file write_file_atomic(path) would replace (the symlink's target, or path itself); throws
// its refusal for an empty path or a non-regular file. Callers that write elsewhere first (a
// long job) call it up front to fail before any work.
std::string atomic_target(const std::string& path);

// Appends one complete line (a '\n' is added) with a single write() and fsync, so a kill leaves
// either the whole line or, at worst, a torn last line that readers must skip.
void append_line_durable(const std::string& path, std::string_view line);

// Throws the error append_line_durable(path) would meet, without writing anything: an empty path,
// a non-regular file, a missing or unwritable folder. Long jobs call it before their first sample.
void check_appendable(const std::string& path);

std::string read_file(const std::string& path);

}  // namespace spf

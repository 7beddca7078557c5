// Text from untrusted files (prompts, task files, id lists, tensor names) ends up in error messages
// and logs. printable() makes it safe to print: control characters (escape sequences among them)
// become \xNN, and an overlong text is cut with a note of how much was left out, so one error stays
// one short line whatever the input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spf {

std::string printable(std::string_view text, size_t max_bytes = 400);

}  // namespace spf

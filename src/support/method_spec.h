// MethodSpec: the one spelling of a support method, parsed here and nowhere else. Every command
// (spf logits / oracle / eval / sweep) and every config file names a method with a spec string:
//
//   SPEC  = NAME [":" FILE] { ":" ARG }          FILE only for methods that take one (indexer)
//   ARG   = GRAN | GROUPS | KEY "=" VALUE
//   GRAN  = "token" | "block" N                  canonical; "block:N" (two parts) is accepted too
//   GROUPS= "groups=" ("shared" | "kv" | "head") canonical; the positional "shared",
//                                                "per_kv_group", "per_head" are accepted too
//   KEY   = an option of that method (sink, window, probe, stride, seed; see method_catalog())
//   N, VALUE = decimal integers in the option's range
//
// Arguments may come in any order; each may appear once. The budget is NOT part of a spec: it is
// the separate axis of every command and sweep (method x budget). A spec's sink/window and a
// budget's sink/window may not disagree (producer_options() in producer.h throws).
//
// The canonical form (to_string) is NAME[:FILE], then the granularity, groups and options in
// catalog order, each only when it differs from the method's default; parse(to_string(s)) == s.
// Results files and reports label runs with it, so old spellings ("oracle:token",
// "antidiagonal:block64", "oracle:block:64:per_head") map onto the same label as new ones.
//
// Errors are one spf::Error line naming the spec, the bad part and what is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spf {

// How many supports a call gets: one shared by all heads, one per KV group, or one per head.
enum class GroupMode { shared, per_kv_group, per_head };

// Accepts the spec spellings ("shared", "kv", "head") and the older ones ("per_kv_group",
// "per_head"); throws listing them.
GroupMode parse_group_mode(std::string_view text);
const char* group_mode_name(GroupMode mode);      // "shared" | "per_kv_group" | "per_head"
const char* group_mode_spelling(GroupMode mode);  // "shared" | "kv" | "head" (specs)

// "token" -> 1; "blockN", "block:N" or "N" -> N. Throws for 0, negatives and anything else.
int parse_granularity(std::string_view text);

struct MethodOption {
  std::string_view key;
  int64_t default_value = 0;
  int64_t min = 0, max = 0;  // inclusive range of valid values
  std::string_view help;
};

struct MethodInfo {
  std::string_view name;
  std::string_view summary;  // one line, for `spf methods`
  std::vector<std::string_view> aliases;
  bool available = true;    // false: the name is reserved, make_producer refuses it
  bool takes_path = false;  // NAME:FILE
  bool uses_budget = true;  // false: the budget is ignored (dense)
  bool grouped = false;     // groups=kv|head allowed; otherwise head-independent (shared only)
  int default_block = 1;    // granularity when the spec names none
  // An option the block size must be a positive multiple of (antidiagonal: "stride"), or empty.
  std::string_view block_multiple_of;
  std::vector<MethodOption> options;
  const MethodOption* find_option(std::string_view key) const;
};

// Every method, in the order `spf methods` lists them.
const std::vector<MethodInfo>& method_catalog();
// By name or alias; nullptr when unknown.
const MethodInfo* find_method_info(std::string_view name);
// "dense, oracle, ..." (every catalog name).
std::string method_names();

struct MethodSpec {
  std::string method;  // canonical name (aliases resolved)
  std::string path;    // FILE of takes_path methods, else empty
  int block = 1;       // 1: token granularity
  GroupMode groups = GroupMode::shared;
  // Every option of the method in catalog order, defaults filled in.
  std::vector<std::pair<std::string, int64_t>> options;

  const MethodInfo& info() const;
  // The value of an option of this method; throws for a key the method does not take.
  int64_t option(std::string_view key) const;
  bool operator==(const MethodSpec&) const = default;
};

// Throws spf::Error (one line: the spec, the bad part, what is allowed).
MethodSpec parse_method_spec(std::string_view text);
// nullopt where parse_method_spec would throw.
std::optional<MethodSpec> try_parse_method_spec(std::string_view text);
std::string to_string(const MethodSpec& spec);
// to_string(parse_method_spec(text)).
std::string canonical_method(std::string_view text);
// The spec with every default: what `spf methods` shows and what a bare NAME means.
MethodSpec default_method_spec(std::string_view name);

}  // namespace spf

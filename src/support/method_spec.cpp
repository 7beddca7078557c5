#include "support/method_spec.h"

#include <charconv>
#include <limits>

#include "core/error.h"

namespace spf {

namespace {

constexpr int64_t kMaxBlock = int64_t(1) << 20;
constexpr int64_t kMaxKeys = int64_t(1) << 40;  // sink / window: far beyond any context

constexpr MethodOption kSink{"sink", 0, 0, kMaxKeys,
                             "always keep the first N keys (inside the budget)"};
constexpr MethodOption kWindow{"window", 0, 0, kMaxKeys,
                               "always keep the last N keys of each query (inside the budget)"};

MethodInfo method(std::string_view name, std::string_view summary,
                  std::vector<MethodOption> options = {}) {
  MethodInfo m;
  m.name = name;
  m.summary = summary;
  m.options = std::move(options);
  return m;
}

std::vector<MethodInfo> build_catalog() {
  std::vector<MethodInfo> c;
  c.push_back(method("dense",
                     "the full causal support (budget ignored): the baseline, and a check of the "
                     "sparse path at block granularity"));
  c.back().uses_budget = false;

  c.push_back(method("oracle",
                     "top keys (or key blocks) by the true attention mass, from the dense "
                     "statistics (an upper bound, not a deployable method)",
                     {kSink, kWindow}));
  c.back().grouped = true;

  // StreamingLLM keeps 4 attention-sink tokens; its producer needs at least one.
  c.push_back(
      method("streaming", "sink tokens + the most recent keys (StreamingLLM)",
             {{"sink", 4, 1, kMaxKeys, "attention-sink tokens always kept (inside the budget)"},
              kWindow}));

  c.push_back(
      method("vertical_slash",
             "columns and diagonals ranked by the attention of the last probe queries "
             "(MInference-style)",
             {kSink,
              kWindow,
              {"probe", 64, 1, int64_t(1) << 30, "the last N queries whose attention is probed"}}));
  c.back().grouped = true;

  // Token granularity cannot work (the block must be a multiple of the stride): block64 by default.
  c.push_back(method("antidiagonal",
                     "key blocks ranked by strided antidiagonal q.k sums, softmax-normalized per "
                     "row (XAttention-style)",
                     {kSink,
                      kWindow,
                      {"stride", 8, 1, kMaxBlock,
                       "antidiagonal sampling stride (the block must be a multiple)"}}));
  c.back().aliases = {"xattention"};
  c.back().grouped = true;
  c.back().default_block = 64;
  c.back().block_multiple_of = "stride";

  c.push_back(
      method("random", "uniformly random columns at the same budget (seeded; a floor)",
             {kSink,
              kWindow,
              {"seed", 0, 0, std::numeric_limits<int64_t>::max(), "seed of the random columns"}}));

  // The learned indexer lives above this library: src/indexer registers its factory
  // (register_producer_factory in producer.h); make_producer refuses it until then.
  c.push_back(method("indexer",
                     "keys (token) or key blocks (blockN: pooled queries per block) by a learned "
                     "indexer file FILE (spf train-indexer); groups=kv for per-KV-group scorers",
                     {kSink, kWindow}));
  c.back().takes_path = true;
  c.back().grouped = true;
  return c;
}

// Decimal digits only (no sign, no spaces); false on overflow.
bool parse_uint(std::string_view s, int64_t& v) {
  if (s.empty()) return false;
  for (const char ch : s)
    if (ch < '0' || ch > '9') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string groups_allowed(const MethodInfo& m) {
  return m.grouped ? "groups=shared|kv|head" : "groups=shared";
}

// What a spec of this method may hold, for error messages.
std::string allowed_args(const MethodInfo& m) {
  std::string s = cat("token, blockN, ", groups_allowed(m));
  for (const MethodOption& o : m.options) s += cat(", ", o.key, "=N");
  return s;
}

const MethodInfo& info_of(std::string_view name) {
  const MethodInfo* m = find_method_info(name);
  SPF_CHECK(m != nullptr, "unknown support method '", name, "' (methods: ", method_names(), ")");
  return *m;
}

class SpecParser {
 public:
  explicit SpecParser(std::string_view text) : text_(text) {}

  MethodSpec parse() {
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
      const size_t end = text_.find(':', start);
      parts.push_back(text_.substr(start, end == std::string_view::npos ? end : end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    if (text_.empty())
      bad("empty method spec (expected NAME[:ARG...]; methods: ", method_names(), ")");
    for (size_t i = 0; i < parts.size(); ++i)
      if (parts[i].empty())
        bad(i == 0 ? "no method name" : "empty argument",
            " (expected NAME[:ARG...], arguments separated by single ':')");

    const MethodInfo* m = find_method_info(parts[0]);
    if (m == nullptr) bad("unknown method '", parts[0], "' (methods: ", method_names(), ")");
    info_ = m;
    spec_ = default_method_spec(m->name);
    size_t i = 1;
    if (m->takes_path) {
      if (parts.size() < 2)
        bad(m->name, " needs a file: ", m->name, ":FILE[:ARG...] (", allowed_args(*m), ")");
      spec_.path = std::string(parts[1]);
      i = 2;
    }
    for (; i < parts.size(); ++i) {
      const std::string_view p = parts[i];
      int64_t size = 0;
      if (p == "block" && i + 1 < parts.size() && parse_uint(parts[i + 1], size)) {
        // The older "block:N" spelling: two parts.
        set_block(cat("block:", parts[i + 1]), parts[i + 1]);
        ++i;
      } else if (p == "token") {
        set_block(p, "1");
      } else if (p.starts_with("block") && p.find('=') == std::string_view::npos) {
        if (p == "block") bad("granularity 'block' needs a size: blockN, e.g. block64");
        set_block(p, p.substr(5));
      } else if (p == "shared" || p == "per_kv_group" || p == "per_head") {
        set_groups(p, p);
      } else if (const size_t eq = p.find('='); eq != std::string_view::npos) {
        set_option(p, p.substr(0, eq), p.substr(eq + 1));
      } else {
        bad("unknown argument '", p, "' (", m->name, " takes: ", allowed_args(*m), ")");
      }
    }
    check_combination();
    return spec_;
  }

 private:
  template <class... Args>
  [[noreturn]] void bad(Args&&... args) const {
    fail("method spec '", text_, "': ", std::forward<Args>(args)...);
  }

  void set_block(std::string_view part, std::string_view number) {
    if (!granularity_.empty())
      bad("duplicate granularity '", part, "' (already '", granularity_, "')");
    int64_t v = 0;
    if (!parse_uint(number, v) || v < 1 || v > kMaxBlock)
      bad("bad granularity '", part, "' (token, or blockN with N in [1, ", kMaxBlock, "])");
    granularity_ = std::string(part);
    spec_.block = int(v);
  }

  void set_groups(std::string_view part, std::string_view value) {
    if (!groups_.empty()) bad("duplicate group mode '", part, "' (already '", groups_, "')");
    if (value == "shared") {
      spec_.groups = GroupMode::shared;
    } else if (value == "kv" || value == "per_kv_group") {
      spec_.groups = GroupMode::per_kv_group;
    } else if (value == "head" || value == "per_head") {
      spec_.groups = GroupMode::per_head;
    } else {
      bad("bad value '", value, "' for groups (allowed: ", groups_allowed(*info_), ")");
    }
    groups_ = std::string(part);
  }

  void set_option(std::string_view part, std::string_view key, std::string_view value) {
    if (key == "groups") return set_groups(part, value);
    const MethodOption* o = info_->find_option(key);
    if (o == nullptr) {
      if (key == "block") bad("the granularity is written blockN (e.g. block64), not '", part, "'");
      for (const MethodInfo& other : method_catalog())
        if (other.find_option(key) != nullptr)
          bad("option '", key, "' is not valid for ", info_->name, " (", other.name, " takes it; ",
              info_->name, " takes: ", allowed_args(*info_), ")");
      bad("unknown option '", key, "' (", info_->name, " takes: ", allowed_args(*info_), ")");
    }
    for (const std::string& seen : seen_)
      if (seen == key) bad("duplicate option '", key, "'");
    seen_.emplace_back(key);
    int64_t v = 0;
    if (!parse_uint(value, v) || v < o->min || v > o->max)
      bad("bad value '", value, "' for ", key, " (an integer in [", o->min, ", ", o->max, "])");
    for (auto& [k, val] : spec_.options)
      if (k == key) val = v;
  }

  void check_combination() const {
    if (spec_.groups != GroupMode::shared && !info_->grouped)
      bad(info_->name, " is head-independent: groups=", group_mode_spelling(spec_.groups),
          " is not valid (allowed: groups=shared)");
    if (!info_->block_multiple_of.empty()) {
      const int64_t m = spec_.option(info_->block_multiple_of);
      if (spec_.block < m || spec_.block % m != 0)
        bad("block size ", spec_.block, " is not a multiple of ", info_->block_multiple_of, "=", m,
            " (", info_->name, " needs blockN with N a multiple of the ", info_->block_multiple_of,
            ", e.g. block", m * 8, ")");
    }
  }

  std::string_view text_;
  const MethodInfo* info_ = nullptr;
  MethodSpec spec_;
  std::string granularity_, groups_;  // as written, for duplicate errors
  std::vector<std::string> seen_;     // option keys given
};

}  // namespace

GroupMode parse_group_mode(std::string_view text) {
  if (text == "shared") return GroupMode::shared;
  if (text == "kv" || text == "per_kv_group") return GroupMode::per_kv_group;
  if (text == "head" || text == "per_head") return GroupMode::per_head;
  fail("unknown support group mode '", text,
       "' (known: shared, kv, head; or per_kv_group, per_head)");
}

const char* group_mode_name(GroupMode mode) {
  switch (mode) {
    case GroupMode::shared:
      return "shared";
    case GroupMode::per_kv_group:
      return "per_kv_group";
    case GroupMode::per_head:
      return "per_head";
  }
  return "?";
}

const char* group_mode_spelling(GroupMode mode) {
  switch (mode) {
    case GroupMode::shared:
      return "shared";
    case GroupMode::per_kv_group:
      return "kv";
    case GroupMode::per_head:
      return "head";
  }
  return "?";
}

int parse_granularity(std::string_view text) {
  if (text == "token") return 1;
  std::string_view num = text;
  if (num.starts_with("block:")) {
    num.remove_prefix(6);
  } else if (num.starts_with("block")) {
    num.remove_prefix(5);
  }
  int64_t v = 0;
  SPF_CHECK(parse_uint(num, v), "granularity '", text, "' (expected token, blockN, block:N or N)");
  SPF_CHECK(v >= 1 && v <= kMaxBlock, "granularity '", text, "': block size ", v,
            " (must be >= 1 and <= ", kMaxBlock, ")");
  return int(v);
}

const MethodOption* MethodInfo::find_option(std::string_view key) const {
  for (const MethodOption& o : options)
    if (o.key == key) return &o;
  return nullptr;
}

const std::vector<MethodInfo>& method_catalog() {
  static const std::vector<MethodInfo> catalog = build_catalog();
  return catalog;
}

const MethodInfo* find_method_info(std::string_view name) {
  for (const MethodInfo& m : method_catalog()) {
    if (m.name == name) return &m;
    for (const std::string_view a : m.aliases)
      if (a == name) return &m;
  }
  return nullptr;
}

std::string method_names() {
  std::string s;
  for (const MethodInfo& m : method_catalog()) s += cat(s.empty() ? "" : ", ", m.name);
  return s;
}

const MethodInfo& MethodSpec::info() const {
  return info_of(method);
}

int64_t MethodSpec::option(std::string_view key) const {
  for (const auto& [k, v] : options)
    if (k == key) return v;
  fail("support method ", method, " has no option '", key, "'");
}

MethodSpec default_method_spec(std::string_view name) {
  const MethodInfo& m = info_of(name);
  MethodSpec s;
  s.method = std::string(m.name);
  s.block = m.default_block;
  for (const MethodOption& o : m.options) s.options.emplace_back(o.key, o.default_value);
  return s;
}

MethodSpec parse_method_spec(std::string_view text) {
  return SpecParser(text).parse();
}

std::optional<MethodSpec> try_parse_method_spec(std::string_view text) {
  try {
    return parse_method_spec(text);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string to_string(const MethodSpec& spec) {
  const MethodInfo& m = spec.info();
  std::string s(m.name);
  if (m.takes_path) s += ":" + spec.path;
  if (spec.block != m.default_block)
    s += spec.block == 1 ? std::string(":token") : cat(":block", spec.block);
  if (spec.groups != GroupMode::shared) s += cat(":groups=", group_mode_spelling(spec.groups));
  for (const MethodOption& o : m.options) {
    const int64_t v = spec.option(o.key);
    if (v != o.default_value) s += cat(":", o.key, "=", v);
  }
  return s;
}

std::string canonical_method(std::string_view text) {
  return to_string(parse_method_spec(text));
}

}  // namespace spf

#include "indexer/corpus.h"

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace spf {

namespace {

namespace fs = std::filesystem;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : s) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return h;
}

bool is_text_name(const std::string& name) {
  return name.starts_with("README") ? !name.ends_with(".gz") && !name.ends_with(".html")
                                    : name.ends_with(".txt") || name.ends_with(".md");
}

bool excluded(const std::string& path, const CorpusOptions& o) {
  // The RULER-style haystack of the evaluation (eval/text_sources.h).
  if (path.find("common-licenses") != std::string::npos) return true;
  for (const std::string& e : o.excludes)
    if (!e.empty() && path.find(e) != std::string::npos) return true;
  return false;
}

// Mostly printable ASCII/UTF-8 text (skips binary files that happen to end in .txt).
bool looks_like_text(const std::string& s) {
  if (s.empty()) return false;
  size_t bad = 0;
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u == 0) return false;
    if (u < 32 && c != '\n' && c != '\t' && c != '\r') ++bad;
  }
  return bad * 100 < s.size();
}

}  // namespace

std::string Corpus::describe() const {
  return cat("train ", train_files.size(), " files ", train_text.size(), " bytes hash ",
             fnv1a(train_text), "; heldout ", heldout_files.size(), " files ", heldout_text.size(),
             " bytes hash ", fnv1a(heldout_text));
}

Corpus load_corpus(const CorpusOptions& o) {
  SPF_CHECK(!o.roots.empty(), "indexer corpus: no text files or folders given (--text)");
  SPF_CHECK(o.heldout_every >= 2, "indexer corpus: heldout_every = ", o.heldout_every,
            " (must be >= 2)");
  SPF_CHECK(o.max_bytes >= 1, "indexer corpus: max_bytes must be >= 1");
  std::vector<std::string> files;
  for (const std::string& root : o.roots) {
    SPF_CHECK(fs::exists(root), "indexer corpus: ", root, " does not exist");
    if (fs::is_regular_file(root)) {
      if (!excluded(root, o)) files.push_back(root);
      continue;
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(
             root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (!it->is_regular_file(ec)) continue;
      const std::string p = it->path().string();
      if (is_text_name(it->path().filename().string()) && !excluded(p, o)) files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  Corpus c;
  for (const std::string& f : files) {
    const bool held = fnv1a(f) % uint64_t(o.heldout_every) == 0;
    std::string& text = held ? c.heldout_text : c.train_text;
    if (int64_t(text.size()) >= o.max_bytes) continue;
    std::string body = read_file(f);
    if (!looks_like_text(body)) continue;
    text += body;
    text += "\n\n";
    (held ? c.heldout_files : c.train_files).push_back(f);
  }
  SPF_CHECK(!c.train_files.empty(), "indexer corpus: no training text files found under the given",
            " paths (README*, *.txt, *.md)");
  return c;
}

std::vector<int32_t> corpus_tokens(const Tokenizer& tok, const std::string& text) {
  return tok.encode(text, false, false);
}

}  // namespace spf

// Training and held-out text for the indexer: plain-text files (README*, *.txt, *.md, uncompressed)
// found under the given files or folders — the documentation Debian packages install — split
// between training and held-out by a hash of each path, so the split is the same on every run and
// no file is in both. The evaluation haystack (the license texts under common-licenses) is never
// taken: an indexer must not be trained on the text it is evaluated on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spf {

class Tokenizer;

struct CorpusOptions {
  std::vector<std::string> roots;        // files or folders
  std::vector<std::string> excludes;     // paths containing any of these substrings are skipped
  int heldout_every = 10;                // path hash % heldout_every == 0 -> held-out
  int64_t max_bytes = int64_t(4) << 20;  // per split: files are taken in sorted order until this
};

struct Corpus {
  std::vector<std::string> train_files, heldout_files;
  std::string train_text, heldout_text;  // files joined by blank lines
  // "N files, B bytes, hash H" per split: recorded in the training config.
  std::string describe() const;
};

// Throws spf::Error when a root does not exist or a split ends up empty.
Corpus load_corpus(const CorpusOptions& options);

// Token ids of a text (no special tokens added or parsed: text is data).
std::vector<int32_t> corpus_tokens(const Tokenizer& tok, const std::string& text);

}  // namespace spf

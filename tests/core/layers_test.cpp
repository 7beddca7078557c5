// The layering rule of docs/ARCHITECTURE.md, checked on the sources: a folder of src/ includes
// only headers of its own or lower layers, and the support layer reaches executors through
// attention/executor.h only, never attention/cpu/.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Lowest first; a layer may include itself and anything before it.
const std::vector<std::string> kLayers = {"core",  "formats", "tokenizer", "attention", "support",
                                          "model", "indexer", "eval",      "serve",     "cli"};

int rank_of(const std::string& layer) {
  for (size_t i = 0; i < kLayers.size(); ++i)
    if (kLayers[i] == layer) return int(i);
  return -1;
}

// The quoted target of a `#include "layer/..."` line, or "" (std::regex trips GCC 12
// -Wmaybe-uninitialized under the sanitizer build, so this is parsed by hand).
std::string quoted_include(const std::string& line) {
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string::npos || line[i] != '#') return "";
  i = line.find_first_not_of(" \t", i + 1);
  if (i == std::string::npos || line.compare(i, 7, "include") != 0) return "";
  i = line.find_first_not_of(" \t", i + 7);
  if (i == std::string::npos || line[i] != '"') return "";
  const size_t end = line.find('"', i + 1);
  if (end == std::string::npos) return "";
  const std::string target = line.substr(i + 1, end - i - 1);
  const size_t slash = target.find('/');
  if (slash == std::string::npos || slash == 0) return "";
  for (size_t c = 0; c < slash; ++c)
    if (!(std::islower(static_cast<unsigned char>(target[c])) || target[c] == '_')) return "";
  return target;
}

struct Include {
  std::string file, header;
};

std::vector<Include> project_includes(const std::string& layer) {
  std::vector<Include> out;
  const fs::path dir = fs::path(SPF_SOURCE_DIR) / "src" / layer;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      std::string header = quoted_include(line);
      if (!header.empty()) out.push_back({e.path().string(), std::move(header)});
    }
  }
  return out;
}

TEST(Layers, NoLayerIncludesAHigherOne) {
  for (const std::string& layer : kLayers) {
    for (const Include& i : project_includes(layer)) {
      const std::string target = i.header.substr(0, i.header.find('/'));
      const int r = rank_of(target);
      if (r < 0) continue;  // not a layer folder (e.g. nlohmann/json.hpp)
      EXPECT_LE(r, rank_of(layer)) << i.file << " includes " << i.header;
    }
  }
}

TEST(Layers, SupportReachesExecutorsOnlyThroughTheInterface) {
  const std::vector<Include> incs = project_includes("support");
  ASSERT_FALSE(incs.empty());
  for (const Include& i : incs)
    EXPECT_NE(i.header.rfind("attention/cpu/", 0), 0u) << i.file << " includes " << i.header;
}

TEST(Layers, ExecutorsKnowNoModelAndNoProducer) {
  for (const Include& i : project_includes("attention")) {
    EXPECT_NE(i.header.rfind("support/", 0), 0u) << i.file << " includes " << i.header;
    EXPECT_NE(i.header.rfind("model/", 0), 0u) << i.file << " includes " << i.header;
  }
}

}  // namespace

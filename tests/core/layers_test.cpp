// The layering rule of docs/ARCHITECTURE.md, checked on the sources: a folder of src/ includes
// only headers of its own or lower layers, and the support layer reaches executors through
// attention/executor.h only, never attention/cpu/.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
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

struct Include {
  std::string file, header;
};

std::vector<Include> project_includes(const std::string& layer) {
  std::vector<Include> out;
  const fs::path dir = fs::path(SPF_SOURCE_DIR) / "src" / layer;
  if (!fs::exists(dir)) return out;
  const std::regex inc(R"re(^\s*#\s*include\s+"([a-z_]+/[^"]+)")re");
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
      if (std::regex_search(line, m, inc)) out.push_back({e.path().string(), m[1]});
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

// Indexer files: round trip, and every bad file fails with one line naming the file and the fault:
// truncated, corrupt header, not an indexer, a tensor shape that contradicts the metadata (d_idx),
// another model's layer count, hidden size or content hash.
#include "indexer/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/atomic_file.h"
#include "model/model.h"
#include "test_util.h"

namespace spf {
namespace {

IndexerFile tiny_file(const ModelConfig& mc, const std::string& model_path, int heads = 1) {
  IndexerFile f;
  f.weights = random_indexer(indexer_config_for(mc, 16, 8, heads, false), 3);
  f.meta.model = model_identity(model_path, mc);
  f.meta.train_config = R"({"note":"test"})";
  f.meta.step = 12;
  f.meta.tokens_seen = 1200;
  return f;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  const std::string e = error_of(fn);
  for (const std::string& p : parts) EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(IndexerCheckpoint, RoundTripKeepsWeightsMetadataAndOptimizer) {
  const std::string mp = test::fixture("hf/llama");
  auto model = load_model(mp);
  test::TempDir t;
  IndexerFile f = tiny_file(model->config(), mp, 2);
  f.adam_m.assign(f.weights.params.size(), 0.5f);
  f.adam_v.assign(f.weights.params.size(), 0.25f);
  f.meta.extra["note"] = "kept";
  save_indexer(t.file("a.safetensors"), f);
  const IndexerFile g = load_indexer(t.file("a.safetensors"));
  EXPECT_EQ(g.weights.config, f.weights.config);
  EXPECT_TRUE(g.weights.params == f.weights.params);
  EXPECT_TRUE(g.adam_m == f.adam_m && g.adam_v == f.adam_v);
  EXPECT_EQ(g.meta.step, 12);
  EXPECT_EQ(g.meta.tokens_seen, 1200);
  EXPECT_EQ(g.meta.train_config, f.meta.train_config);
  EXPECT_EQ(g.meta.model.hash, f.meta.model.hash);
  EXPECT_EQ(g.meta.extra.at("note"), "kept");
  EXPECT_NO_THROW(check_indexer_for_model(g, "a", model->config(), mp));
}

TEST(IndexerCheckpoint, BadFilesFailWithOneLine) {
  const std::string mp = test::fixture("hf/llama");
  auto model = load_model(mp);
  test::TempDir t;
  const IndexerFile f = tiny_file(model->config(), mp);
  const std::string good = t.file("good.safetensors");
  save_indexer(good, f);
  const std::string bytes = read_file(good);

  expect_error([&] { load_indexer(t.file("absent.safetensors")); }, {"no such indexer file"});
  const std::string trunc = t.file("trunc.safetensors");
  write_file_atomic(trunc, bytes.substr(0, bytes.size() - 100));
  expect_error([&] { load_indexer(trunc); }, {"trunc.safetensors"});
  const std::string tiny = t.file("tiny.safetensors");
  write_file_atomic(tiny, bytes.substr(0, 5));
  expect_error([&] { load_indexer(tiny); }, {"tiny.safetensors"});
  std::string corrupt = bytes;
  corrupt[12] = '#';  // inside the JSON header
  const std::string bad = t.file("corrupt.safetensors");
  write_file_atomic(bad, corrupt);
  expect_error([&] { load_indexer(bad); }, {"corrupt.safetensors"});

  // The metadata says d_idx 8, the tensors are of d_idx 16.
  std::string wrong_d = bytes;
  const size_t at = wrong_d.find("\"d_idx\":\"16\"");
  ASSERT_NE(at, std::string::npos);
  wrong_d.replace(at, 12, "\"d_idx\":\"08\"");
  const std::string wd = t.file("wrong_d.safetensors");
  write_file_atomic(wd, wrong_d);
  expect_error([&] { load_indexer(wd); }, {"wrong_d.safetensors", "d_idx=8", "needs [8, 64]"});

  // Another model's file: layer count, hidden size, identity / hash.
  const IndexerFile g = load_indexer(good);
  ModelConfig more = model->config();
  more.n_layers = 5;
  more.layer_types.assign(5, LayerType::full_attention);
  expect_error([&] { check_indexer_for_model(g, "good", more, ""); },
               {"good", "3 layers", "5 attention layers"});
  ModelConfig wider = model->config();
  wider.hidden = 128;
  expect_error([&] { check_indexer_for_model(g, "good", wider, ""); }, {"hidden size 64"});
  IndexerFile other = g;
  other.meta.model.hash = "0123456789abcdef";
  expect_error([&] { check_indexer_for_model(other, "x.safetensors", model->config(), mp); },
               {"x.safetensors", "hash 0123456789abcdef"});
  // Not an indexer file at all: the fixture model's own weights.
  expect_error([&] { load_indexer(mp + "/model.safetensors"); }, {"not an spf indexer file"});
}

}  // namespace
}  // namespace spf

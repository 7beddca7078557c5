#include "model/trace.h"

#include <charconv>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/npy.h"

namespace spf {

bool TraceRecorder::wants(int layer, std::string_view) const {
  return layers_.count(layer) != 0;
}

void TraceRecorder::capture(int layer, std::string_view name, int64_t pos0, const TensorView& t) {
  const std::string key(name);
  SPF_CHECK(t.device == Device::cpu && t.dtype == DType::f32 && t.contiguous() && t.ndim >= 1,
            "trace: ", key, " of layer ", layer, " is not packed f32 host memory: ", t.str());
  Array& a = arrays_[{layer, key}];
  if (a.shape.empty()) {
    a.shape.assign(t.shape.begin(), t.shape.begin() + t.ndim);
    a.shape[0] = 0;
    a.pos0 = pos0;
  }
  bool same_rows = int(a.shape.size()) == t.ndim;
  for (int i = 1; same_rows && i < t.ndim; ++i) same_rows = a.shape[size_t(i)] == t.dim(i);
  SPF_CHECK(same_rows && pos0 == a.pos0 + a.shape[0], "trace: ", key, " of layer ", layer,
            " captured as ", t.str(), " at position ", pos0, " does not continue the ", a.shape[0],
            " rows from position ", a.pos0);
  const float* p = t.data<const float>();
  a.data.insert(a.data.end(), p, p + t.numel());
  a.shape[0] += t.dim(0);
}

const TraceRecorder::Array& TraceRecorder::get(int layer, const std::string& name) const {
  auto it = arrays_.find({layer, name});
  SPF_CHECK(it != arrays_.end(), "trace: nothing captured for ", name, " of layer ", layer);
  return it->second;
}

std::string TraceRecorder::file_name(int layer, std::string_view name) {
  char head[16];
  std::snprintf(head, sizeof head, "L%02d.", layer);
  return std::string(head) + std::string(name) + ".npy";
}

int TraceRecorder::write_npy(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SPF_CHECK(std::filesystem::is_directory(dir), dir, ": cannot create the dump directory",
            ec ? cat(" (", ec.message(), ")") : std::string());
  int files = 0;
  for (const auto& [key, a] : arrays_) {
    write_npy_f32((std::filesystem::path(dir) / file_name(key.first, key.second)).string(), a.data,
                  a.shape);
    ++files;
  }
  return files;
}

std::set<int> parse_layer_list(std::string_view text, int n_layers, std::string_view where) {
  std::set<int> layers;
  if (text == "all") {
    for (int i = 0; i < n_layers; ++i) layers.insert(i);
    return layers;
  }
  SPF_CHECK(!text.empty(), where, ": empty layer list (give e.g. 0,5 or all)");
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int v = 0;
    const auto [end, err] = std::from_chars(item.data(), item.data() + item.size(), v);
    SPF_CHECK(!item.empty() && err == std::errc() && end == item.data() + item.size(), where, ": '",
              item, "' is not a layer number");
    SPF_CHECK(v >= 0 && v < n_layers, where, ": layer ", v, " is outside 0..", n_layers - 1,
              " (the model has ", n_layers, " layers)");
    layers.insert(v);
    start = comma + 1;
  }
  return layers;
}

}  // namespace spf

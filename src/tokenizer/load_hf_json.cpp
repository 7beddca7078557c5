// Tokenizer::from_hf_json: HF tokenizer.json (byte-level BPE only) plus, when they sit next to it,
// tokenizer_config.json (bos/eos/pad/unk, add_bos_token, chat_template), chat_template.jinja and
// generation_config.json (extra eos ids).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "formats/json_text.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace spf {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SPF_CHECK(f.good(), path, ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json parse_json(const std::string& path) {
  const std::string text = read_text(path);
  return parse_json_text<json>(text, path);
}

// What the steps of a pre_tokenizer tree do, flattened; matched against the layouts we implement.
struct PreSteps {
  std::vector<std::string> names;  // "digits", "bytelevel+regex", "bytelevel", "split:<regex>"
};

void collect_pre(const std::string& where, const json& node, PreSteps& steps) {
  SPF_CHECK(node.is_object(), where, ": pre_tokenizer entry is not an object");
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const json& p : node.at("pretokenizers")) collect_pre(where, p, steps);
  } else if (type == "ByteLevel") {
    SPF_CHECK(!node.value("add_prefix_space", false), where,
              ": ByteLevel pre-tokenizer with add_prefix_space=true is not supported");
    steps.names.push_back(node.value("use_regex", true) ? "bytelevel+regex" : "bytelevel");
  } else if (type == "Split") {
    const json& pat = node.at("pattern");
    SPF_CHECK(pat.contains("Regex"), where,
              ": Split pre-tokenizer with a literal string pattern is not supported");
    const std::string behavior = node.value("behavior", "");
    SPF_CHECK(behavior == "Isolated", where, ": Split pre-tokenizer behavior \"", behavior,
              "\" is not supported (only Isolated)");
    SPF_CHECK(!node.value("invert", false), where,
              ": inverted Split pre-tokenizer is not supported");
    steps.names.push_back("split:" + pat.at("Regex").get<std::string>());
  } else if (type == "Digits") {
    SPF_CHECK(node.value("individual_digits", false), where,
              ": Digits pre-tokenizer without individual_digits is not supported");
    steps.names.push_back("digits");
  } else {
    fail(where, ": unsupported pre-tokenizer type \"", type, "\"");
  }
}

PreTokenizer detect_pre(const std::string& where, const json& node) {
  SPF_CHECK(!node.is_null(), where,
            ": no pre_tokenizer (byte-level BPE needs a ByteLevel pre-tokenizer)");
  PreSteps s;
  collect_pre(where, node, s);
  const auto& n = s.names;
  if (n.size() == 1 && n[0] == "bytelevel+regex") return PreTokenizer::gpt2;
  if (n.size() == 2 && n[0] == "digits" && n[1] == "bytelevel+regex") return PreTokenizer::smollm;
  if (n.size() == 2 && n[0].rfind("split:", 0) == 0 && n[1] == "bytelevel") {
    const std::string re = n[0].substr(6);
    if (auto k = pretokenizer_from_regex(re)) return *k;
    fail(where, ": unsupported pre-tokenizer split regex ", json(re).dump());
  }
  std::string desc;
  for (const auto& x : n) desc += (desc.empty() ? "" : ", ") + x.substr(0, 40);
  fail(where, ": unsupported pre-tokenizer layout [", desc, "]");
}

bool detect_nfc(const std::string& where, const json& node) {
  if (node.is_null()) return false;
  const std::string type = node.value("type", "");
  if (type == "NFC") return true;
  if (type == "Sequence") {
    bool nfc = false;
    for (const json& x : node.at("normalizers")) nfc = detect_nfc(where, x) || nfc;
    return nfc;
  }
  fail(where, ": unsupported normalizer \"", type, "\" (only NFC is implemented)");
}

// A token named in tokenizer_config.json: a string or an AddedToken object with "content".
std::optional<std::string> token_name(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

std::optional<int32_t> find_id(const VocabSpec& spec, const std::string& s) {
  for (const AddedToken& a : spec.added) {
    if (a.content == s) return a.id;
  }
  for (const auto& [t, id] : spec.vocab) {
    if (t == s) return id;
  }
  return std::nullopt;
}

void read_model(const std::string& where, const json& model, VocabSpec& spec) {
  SPF_CHECK(model.is_object(), where, ": \"model\" is missing or not an object");
  std::string type = model.value("type", "");
  if (type.empty() && model.contains("merges")) type = "BPE";  // very old files omit the type
  SPF_CHECK(type == "BPE", where, ": unsupported tokenizer model type \"", type,
            "\" (only byte-level BPE is supported)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    SPF_CHECK(!model.contains(k) || model[k].is_null() || model[k] == "", where, ": BPE ", k,
              " is not supported");
  }
  SPF_CHECK(!model.contains("dropout") || model["dropout"].is_null(), where,
            ": BPE dropout is not supported");
  spec.ignore_merges = model.value("ignore_merges", false);
  spec.fuse_unk = model.value("fuse_unk", false);

  const json& vocab = model.at("vocab");
  SPF_CHECK(vocab.is_object(), where, ": model.vocab is not an object");
  spec.vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    spec.vocab.emplace_back(it.key(), it.value().get<int32_t>());

  const json& merges = model.at("merges");
  SPF_CHECK(merges.is_array(), where, ": model.merges is not an array");
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      SPF_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, where,
                ": merge ", i, " ", json(s).dump(), " is not two tokens separated by one space");
      spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      SPF_CHECK(m.is_array() && m.size() == 2, where, ": merge ", i,
                " is neither \"a b\" nor [a, b]");
      spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
}

void read_added(const json& added, VocabSpec& spec) {
  if (added.is_null()) return;
  for (const json& a : added) {
    AddedToken t;
    t.id = a.at("id").get<int32_t>();
    t.content = a.at("content").get<std::string>();
    t.special = a.value("special", false);
    t.lstrip = a.value("lstrip", false);
    t.rstrip = a.value("rstrip", false);
    spec.added.push_back(std::move(t));
  }
}

// TemplateProcessing whose single-sequence template starts with a special token adds that token
// (BOS).
void read_post_processor(const json& pp, VocabSpec& spec) {
  if (!pp.is_object() || pp.value("type", "") != "TemplateProcessing") return;
  const json& single = pp.at("single");
  if (!single.is_array() || single.empty() || !single[0].contains("SpecialToken")) return;
  const std::string name = single[0]["SpecialToken"].at("id").get<std::string>();
  std::optional<int32_t> id;
  if (pp.contains("special_tokens") && pp["special_tokens"].contains(name)) {
    const json& ids = pp["special_tokens"][name].at("ids");
    if (ids.is_array() && !ids.empty()) id = ids[0].get<int32_t>();
  }
  if (!id) id = find_id(spec, name);
  if (id) {
    spec.special.bos = id;
    spec.special.add_bos = true;
  }
}

void read_siblings(const fs::path& dir, VocabSpec& spec) {
  const fs::path cfg = dir / "tokenizer_config.json";
  std::error_code ec;
  if (fs::is_regular_file(cfg, ec)) {
    const std::string where = cfg.string();
    const json c = parse_json(where);
    SPF_CHECK(c.is_object(), where, ": not a JSON object");
    auto resolve = [&](const char* key, std::optional<int32_t>& slot) {
      if (!c.contains(key)) return;
      const auto name = token_name(c[key]);
      if (!name) return;  // null: no such token
      const auto id = find_id(spec, *name);
      SPF_CHECK(id.has_value(), where, ": ", key, " ", json(*name).dump(),
                " is not in the vocabulary");
      slot = id;
    };
    resolve("bos_token", spec.special.bos);
    resolve("eos_token", spec.special.eos);
    resolve("pad_token", spec.special.pad);
    resolve("unk_token", spec.special.unk);
    if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) {
      spec.special.add_bos = c["add_bos_token"].get<bool>() && spec.special.bos.has_value();
    }
    if (c.contains("chat_template")) {
      const json& t = c["chat_template"];
      if (t.is_string()) spec.chat_template = t.get<std::string>();
      if (t.is_array()) {  // [{name, template}]: the "default" one
        for (const json& e : t) {
          if (e.value("name", "") == "default") spec.chat_template = e.value("template", "");
        }
      }
    }
  }
  const fs::path jinja = dir / "chat_template.jinja";
  if (spec.chat_template.empty() && fs::is_regular_file(jinja, ec))
    spec.chat_template = read_text(jinja.string());
  const fs::path gen = dir / "generation_config.json";
  if (fs::is_regular_file(gen, ec)) {
    const json g = parse_json(gen.string());
    if (g.is_object() && g.contains("eos_token_id")) {
      const json& e = g["eos_token_id"];
      if (e.is_number_integer()) spec.extra_eos.push_back(e.get<int32_t>());
      if (e.is_array()) {
        for (const json& x : e) spec.extra_eos.push_back(x.get<int32_t>());
      }
    }
  }
}

}  // namespace

Tokenizer Tokenizer::from_hf_json(const std::string& path) {
  std::error_code ec;
  SPF_CHECK(fs::is_regular_file(path, ec), path, ": tokenizer.json not found");
  const json j = parse_json(path);
  SPF_CHECK(j.is_object(), path, ": not a tokenizer.json (top level is not an object)");
  VocabSpec spec;
  spec.where = path;
  try {
    read_model(path, j.contains("model") ? j["model"] : json(), spec);
    read_added(j.value("added_tokens", json()), spec);
    spec.nfc = detect_nfc(path, j.value("normalizer", json()));
    spec.pre = detect_pre(path, j.value("pre_tokenizer", json()));
    read_post_processor(j.value("post_processor", json()), spec);
    if (const json& m = j.at("model"); m.contains("unk_token") && m["unk_token"].is_string()) {
      spec.special.unk = find_id(spec, m["unk_token"].get<std::string>());
    }
  } catch (const json::exception& e) {
    // Wrong JSON shapes (a string where an id belongs, a missing key) end up here.
    fail(path, ": malformed tokenizer.json: ", e.what());
  }
  const fs::path dir = fs::path(path).parent_path();
  try {
    read_siblings(dir, spec);
  } catch (const json::exception& e) {
    fail((dir / "tokenizer_config.json").string(),
         " or generation_config.json: unexpected content: ", e.what());
  }
  return from_data(build_tokenizer_data(std::move(spec)));
}

}  // namespace spf

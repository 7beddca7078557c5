// Byte-level BPE model: merges one pre-token piece (raw bytes) into vocab ids by repeatedly
// applying the lowest-ranked merge among adjacent symbols (leftmost first on ties), as HF's BPE
// does. Results are cached per piece, so repeated words cost one hash lookup. encode() is safe to
// call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spf {

class Bpe {
 public:
  // byte_ids[b]: id of the vocab entry for the single byte b (-1: absent; such bytes map to unk_id,
  // or are dropped when there is no unk, as HF's BPE does; fuse_unk turns a run of them into one
  // unk).
  Bpe(std::array<int32_t, 256> byte_ids, std::optional<int32_t> unk_id, bool fuse_unk);

  // Merge of two vocab ids into a third; rank = order of the calls.
  void add_merge(int32_t left, int32_t right, int32_t merged);
  size_t merge_count() const { return merges_.size(); }
  // HF's ignore_merges: a piece that is itself a vocab entry (raw bytes -> id) is emitted whole.
  void set_whole_pieces(std::unordered_map<std::string, int32_t> bytes_to_id);

  void encode(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    uint32_t rank;
    int32_t merged;
  };
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void merge_piece(std::string_view piece, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_ids_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  std::unordered_map<uint64_t, Merge> merges_;
  std::unordered_map<std::string, int32_t> whole_;  // empty unless ignore_merges

  static constexpr size_t kCacheMax = 200000;  // entries; later pieces are merged uncached
  static constexpr size_t kCacheMaxPiece =
      256;  // bytes; long whitespace/symbol runs are rare repeats
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace spf

#include "tokenizer/bpe.h"

#include <queue>

namespace spf {

Bpe::Bpe(std::array<int32_t, 256> byte_ids, std::optional<int32_t> unk_id, bool fuse_unk)
    : byte_ids_(byte_ids), unk_id_(unk_id), fuse_unk_(fuse_unk) {}

void Bpe::add_merge(int32_t left, int32_t right, int32_t merged) {
  // A repeated pair keeps its first (best) rank, as HF's rank map does.
  merges_.try_emplace(key(left, right), Merge{static_cast<uint32_t>(merges_.size()), merged});
}

void Bpe::set_whole_pieces(std::unordered_map<std::string, int32_t> bytes_to_id) {
  whole_ = std::move(bytes_to_id);
}

void Bpe::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (!whole_.empty()) {
    if (auto it = whole_.find(std::string(piece)); it != whole_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (piece.size() == 1) {
    const int32_t id = byte_ids_[static_cast<unsigned char>(piece[0])];
    if (id >= 0)
      out.push_back(id);
    else if (unk_id_)
      out.push_back(*unk_id_);
    return;
  }
  std::string key_str(piece);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (auto it = cache_.find(key_str); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_piece(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() < kCacheMax && piece.size() <= kCacheMaxPiece)
    cache_.emplace(std::move(key_str), std::move(ids));
}

void Bpe::merge_piece(std::string_view piece, std::vector<int32_t>& out) const {
  // Symbols form a doubly linked list over the piece; merged-away symbols get id -2.
  struct Sym {
    int32_t id;
    int32_t prev, next;
  };
  std::vector<Sym> syms;
  syms.reserve(piece.size());
  bool prev_unknown = false;
  for (const char c : piece) {
    int32_t id = byte_ids_[static_cast<unsigned char>(c)];
    const bool unknown = id < 0;
    if (unknown) {
      if (!unk_id_) continue;  // HF drops unknown symbols when the model has no unk token
      if (fuse_unk_ && prev_unknown) continue;
      id = *unk_id_;
    }
    prev_unknown = unknown;
    const auto n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, n + 1});
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  struct Cand {
    uint32_t rank;
    int32_t pos;
    int32_t merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> pq;
  auto push_pair = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t nx = syms[pos].next;
    if (nx < 0) return;
    if (auto it = merges_.find(key(syms[pos].id, syms[nx].id)); it != merges_.end())
      pq.push({it->second.rank, pos, it->second.merged});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i) push_pair(i);

  while (!pq.empty()) {
    const Cand c = pq.top();
    pq.pop();
    Sym& left = syms[c.pos];
    if (left.id == -2 || left.next < 0) continue;
    const Sym& right = syms[left.next];
    // Stale candidate: one side has been merged into something else since it was queued.
    auto it = merges_.find(key(left.id, right.id));
    if (it == merges_.end() || it->second.merged != c.merged || it->second.rank != c.rank) continue;
    const int32_t gone = left.next;
    left.id = c.merged;
    left.next = syms[gone].next;
    if (left.next >= 0) syms[left.next].prev = c.pos;
    syms[gone].id = -2;
    push_pair(left.prev);
    push_pair(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

}  // namespace spf

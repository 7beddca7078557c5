#include "support/producers/oracle.h"

#include "attention/cpu/block_mass.h"
#include "support/select.h"

namespace spf {

namespace {

class SelectByMass : public BlockMassVisitor {
 public:
  SelectByMass(const Support& layout, const AttentionShape& shape, const Budget& budget,
               std::vector<std::vector<int32_t>>& rows)
      : BlockMassVisitor(shape, layout.q_block, layout.k_block, layout.n_groups),
        layout_(layout),
        budget_(budget),
        rows_(rows) {}

 protected:
  void on_rows(const BlockMassRows& m) override {
    for (int g = 0; g < m.n_groups; ++g) {
      for (int64_t r = 0; r < m.n_rows; ++r) {
        const int64_t row = m.row0 + r;
        const RowGeometry geo = row_geometry(layout_, row);
        select_columns(budget_, geo, m.row(g, r).first(size_t(geo.avail)),
                       rows_[size_t(g * layout_.n_rows() + row)]);
      }
    }
  }

 private:
  const Support& layout_;
  const Budget& budget_;
  std::vector<std::vector<int32_t>>& rows_;
};

}  // namespace

OracleProducer::OracleProducer(ProducerOptions options) : options_(options) {
  options_.validate();
}

Support OracleProducer::produce(const AttentionCall& call) {
  call.shape.validate();
  const Support layout = support_layout(call.shape, options_.block, options_.block,
                                        n_groups_for(options_.groups, call.shape));
  std::vector<std::vector<int32_t>> rows(size_t(layout.n_groups) * size_t(layout.n_rows()));
  SelectByMass visitor(layout, call.shape, options_.budget, rows);
  visitor.run(call, row_stats(call));
  return support_from_rows(layout, std::move(rows));
}

}  // namespace spf

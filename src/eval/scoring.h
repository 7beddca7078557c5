// RULER's scoring: post-process the prediction (strip; every char in \x00-\x1f becomes '\n';
// strip), then case-insensitive substring tests against the references. Scores are on RULER's
// 0..100 scale.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eval/sample.h"

namespace spf::eval {

std::string postprocess_prediction(std::string_view prediction);
// Fraction (0..1) of references contained in the prediction; 0 for no references.
double string_match_all(std::string_view prediction, const std::vector<std::string>& references);
// 1 if any reference is contained, else 0.
double string_match_part(std::string_view prediction, const std::vector<std::string>& references);
// Post-processes, applies the metric and scales to 0..100.
double score_prediction(std::string_view prediction, const std::vector<std::string>& references,
                        Metric metric);

}  // namespace spf::eval

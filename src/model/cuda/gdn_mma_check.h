// A device self-check of the chunked Gated DeltaNet kernels' fragment loaders (gdn_mma.cuh): each
// ldmatrix form against the plain-load form it replaces, on tiles of distinct 16-bit patterns, for
// every lane and for tile origins and row pitches of the kernels. A wrong address or register order
// in an ldmatrix form shows here as a count rather than as a large error in the delta rule's
// output.
#pragma once

#include <cstdint>

namespace spf::cuda::gdn {

// The number of fragment registers (over all loaders, origins, pitches and lanes) where the two
// forms differ: 0 when they agree. Runs on the current device and synchronises it.
int64_t fragment_loader_mismatches();

}  // namespace spf::cuda::gdn

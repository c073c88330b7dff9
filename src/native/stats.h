// Column sums of row-major float32 data at memory speed: the kernel behind columnStats and
// partialColumnStats for float32 (src/jobs/stats-math.ts keeps the same algorithm in JS for the
// other dtypes). No V8 here; addon.cc validates the view and the row range, then calls it.
#pragma once

#include <cstdint>

namespace shmarray {
namespace stats {

// Over `rows` rows of `columns` float32 at `data`, per column c with shift k_c = data[c] (the
// first row), or 0 where that value is not finite (an infinite shift would turn every x − k_c of
// the column into NaN, where the mean is ±inf as numpy says): out[4c] = Σ(x − k_c), out[4c + 1] = Σ(x − k_c)², out[4c + 2] = min, out[4c + 3] =
// max, in float64. Sums are taken per block of about 4096 rows and then added to the totals
// (float64 error ~ (B + n/B)·ε, not n·ε), as the JS kernel does. A NaN makes its column's sums
// NaN; min and max pass over NaN (JS's `x < min` is false for it). rows == 0: sums 0, min +inf,
// max -inf.
void ColumnSums(const float* data, uint64_t rows, uint64_t columns, double* out);

}  // namespace stats
}  // namespace shmarray

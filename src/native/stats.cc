// See stats.h. Four floats at a time with GCC/Clang vector extensions (SSE2 on x64, NEON on
// arm64: both are the architectures' baseline, so no CPU check is needed). A row-major row of C
// columns maps onto 4-float vectors by taking L = lcm(C, 4) floats (G = L/4 vectors, L/C rows)
// as one group: lane l of the group is always column l mod C, so each lane keeps its own sums and
// the lanes of one column are added at the end. G up to 8 (C = 1–8, 12, 16, …) runs with G known
// at compile time (accumulators in registers); other column counts run a scalar loop.
#include "stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace shmarray {
namespace stats {

namespace {

typedef float f4 __attribute__((vector_size(16)));
typedef double d2 __attribute__((vector_size(16)));

// The low and the high two floats of a vector, widened to doubles: one instruction each where
// the architecture has it (GCC's generic __builtin_convertvector goes through scalars here).
#if defined(__SSE2__)
inline d2 Low(f4 x) { return reinterpret_cast<d2>(_mm_cvtps_pd(reinterpret_cast<__m128>(x))); }
inline d2 High(f4 x) { return reinterpret_cast<d2>(_mm_cvtps_pd(_mm_movehl_ps(reinterpret_cast<__m128>(x), reinterpret_cast<__m128>(x)))); }
#elif defined(__aarch64__)
inline d2 Low(f4 x) { return reinterpret_cast<d2>(vcvt_f64_f32(vget_low_f32(reinterpret_cast<float32x4_t>(x)))); }
inline d2 High(f4 x) { return reinterpret_cast<d2>(vcvt_high_f64_f32(reinterpret_cast<float32x4_t>(x))); }
#else
inline d2 Low(f4 x) { return d2{x[0], x[1]}; }
inline d2 High(f4 x) { return d2{x[2], x[3]}; }
#endif

// Rows per block before a block's sums join the totals (the JS kernel's BLOCK_ROWS).
constexpr uint64_t kBlockRows = 4096;

inline f4 Load(const float* p) {
  f4 v;
  memcpy(&v, p, sizeof v);  // unaligned: a view may start at any 4-byte offset
  return v;
}

// G vectors per group, `per` rows per group; `groups` whole groups at `data`. U groups are taken
// per step into U sets of sums: an addition's latency (4 cycles) would otherwise bound the loop.
template <int G, int U = (G >= 4 ? 1 : 4 / G)>
void Vectors(const float* data, uint64_t groups, uint64_t per, const float* shift_lanes, double* lane_sum, double* lane_sq, float* lane_min, float* lane_max) {
  f4 mn[G], mx[G];
  d2 klo[G], khi[G];
  d2 total_s[2 * G], total_q[2 * G];
  for (int j = 0; j < G; j++) {
    f4 k = Load(shift_lanes + 4 * j);
    klo[j] = Low(k);
    khi[j] = High(k);
    mn[j] = Load(lane_min + 4 * j);
    mx[j] = Load(lane_max + 4 * j);
  }
  for (int j = 0; j < 2 * G; j++) total_s[j] = total_q[j] = d2{0, 0};
  // Blocks of whole steps of about kBlockRows rows.
  const uint64_t block = std::max<uint64_t>(U, kBlockRows / per / U * U);
  for (uint64_t first = 0; first < groups; first += block) {
    const uint64_t last = std::min(groups, first + block);
    d2 s[U][2 * G], q[U][2 * G];
    for (int u = 0; u < U; u++) {
      for (int j = 0; j < 2 * G; j++) s[u][j] = q[u][j] = d2{0, 0};
    }
    uint64_t g = first;
    // One group into sums set u (min and max are shared: they do not add up latency).
#define SHMARRAY_STEP(u, p)                                                                   \
    _Pragma("GCC unroll 8") for (int j = 0; j < G; j++) {                                     \
      f4 x = Load((p) + 4 * j);                                                               \
      mn[j] = x < mn[j] ? x : mn[j];                                                          \
      mx[j] = x > mx[j] ? x : mx[j];                                                          \
      d2 lo = Low(x) - klo[j];      \
      d2 hi = High(x) - khi[j];      \
      s[u][2 * j] += lo;                                                                      \
      s[u][2 * j + 1] += hi;                                                                  \
      q[u][2 * j] += lo * lo;                                                                 \
      q[u][2 * j + 1] += hi * hi;                                                             \
    }
    for (; g + U <= last; g += U) {
      _Pragma("GCC unroll 4") for (int u = 0; u < U; u++) { SHMARRAY_STEP(u, data + (g + u) * 4 * G) }
    }
    for (; g < last; g++) { SHMARRAY_STEP(0, data + g * 4 * G) }
#undef SHMARRAY_STEP
    for (int u = 0; u < U; u++) {
      for (int j = 0; j < 2 * G; j++) {
        total_s[j] += s[u][j];
        total_q[j] += q[u][j];
      }
    }
  }
  for (int j = 0; j < G; j++) {
    for (int i = 0; i < 4; i++) {
      lane_sum[4 * j + i] = total_s[2 * j + i / 2][i % 2];
      lane_sq[4 * j + i] = total_q[2 * j + i / 2][i % 2];
      lane_min[4 * j + i] = mn[j][i];
      lane_max[4 * j + i] = mx[j][i];
    }
  }
}

// Any column count, one value at a time, rows [first, first + n) of `data`, into per-column sums.
void Scalar(const float* data, uint64_t first, uint64_t n, uint64_t columns, const float* shift, double* sum, double* sq, float* mn, float* mx) {
  std::vector<double> s(columns), q(columns);
  for (uint64_t start = first; start < first + n; start += kBlockRows) {
    const uint64_t end = std::min(first + n, start + kBlockRows);
    std::fill(s.begin(), s.end(), 0.0);
    std::fill(q.begin(), q.end(), 0.0);
    for (uint64_t r = start; r < end; r++) {
      const float* row = data + r * columns;
      for (uint64_t c = 0; c < columns; c++) {
        float x = row[c];
        double d = static_cast<double>(x) - static_cast<double>(shift[c]);
        s[c] += d;
        q[c] += d * d;
        if (x < mn[c]) mn[c] = x;
        if (x > mx[c]) mx[c] = x;
      }
    }
    for (uint64_t c = 0; c < columns; c++) {
      sum[c] += s[c];
      sq[c] += q[c];
    }
  }
}

}  // namespace

void ColumnSums(const float* data, uint64_t rows, uint64_t columns, double* out) {
  std::vector<double> sum(columns, 0.0), sq(columns, 0.0);
  std::vector<float> mn(columns, std::numeric_limits<float>::infinity()), mx(columns, -std::numeric_limits<float>::infinity());
  std::vector<float> shift(columns, 0.0f);
  // The first row, but never an infinite or NaN shift (see stats.h); stats-math.ts's shiftOf agrees.
  if (rows > 0) std::transform(data, data + columns, shift.begin(), [](float x) { return std::isfinite(x) ? x : 0.0f; });
  const uint64_t lanes = std::lcm<uint64_t>(columns, 4);
  const uint64_t per = lanes / columns;  // rows per group
  const uint64_t vectors = lanes / 4;
  uint64_t done = 0;
  if (vectors <= 8 && rows >= per) {
    const uint64_t groups = rows / per;
    std::vector<float> k(lanes), lmin(lanes, std::numeric_limits<float>::infinity()), lmax(lanes, -std::numeric_limits<float>::infinity());
    std::vector<double> lsum(lanes), lsq(lanes);
    for (uint64_t l = 0; l < lanes; l++) k[l] = shift[l % columns];
    switch (vectors) {
      case 1: Vectors<1>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      case 2: Vectors<2>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      case 3: Vectors<3>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      case 4: Vectors<4>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      case 5: Vectors<5>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      case 6: Vectors<6>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      case 7: Vectors<7>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
      default: Vectors<8>(data, groups, per, k.data(), lsum.data(), lsq.data(), lmin.data(), lmax.data()); break;
    }
    for (uint64_t l = 0; l < lanes; l++) {
      const uint64_t c = l % columns;
      sum[c] += lsum[l];
      sq[c] += lsq[l];
      mn[c] = lmin[l] < mn[c] ? lmin[l] : mn[c];
      mx[c] = lmax[l] > mx[c] ? lmax[l] : mx[c];
    }
    done = groups * per;
  }
  Scalar(data, done, rows - done, columns, shift.data(), sum.data(), sq.data(), mn.data(), mx.data());
  for (uint64_t c = 0; c < columns; c++) {
    out[4 * c] = sum[c];
    out[4 * c + 1] = sq[c];
    out[4 * c + 2] = mn[c];
    out[4 * c + 3] = mx[c];
  }
}

}  // namespace stats
}  // namespace shmarray

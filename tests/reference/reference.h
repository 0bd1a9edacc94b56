// Naive double-precision references for every op, written for clarity, not speed. Both the CPU
// and the CUDA backends are checked against these (STYLE.md point 4).
#pragma once

#include <cstdint>
#include <vector>

namespace v3d::ref {

using Vec = std::vector<double>;

Vec add(const Vec& a, const Vec& b);
Vec mul(const Vec& a, const Vec& b);
Vec scale(const Vec& x, double alpha);
Vec relu(const Vec& x);
Vec relu_bwd(const Vec& x, const Vec& d_y);
// The keep mask of kernels/dropout.h, recomputed independently of kernels/dropout_mask.h.
std::vector<bool> dropout_keep(int64_t n, float p, uint64_t seed, uint64_t offset);
Vec dropout(const Vec& x, float p, uint64_t seed, uint64_t offset);
// c (m, n) = alpha * op(a) * op(b) + beta * c, row-major with tight leading dimensions.
Vec matmul(const Vec& a, const Vec& b, const Vec& c, int64_t m, int64_t n, int64_t k, bool trans_a,
           bool trans_b, double alpha, double beta);
double sum(const Vec& x);

// Philox4x32-10, written from the paper's definition (multiply, swap, key schedule).
void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

}  // namespace v3d::ref

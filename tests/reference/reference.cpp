// Double-precision references.
#include "tests/reference/reference.h"

#include <cstddef>

namespace v3d::ref {

Vec add(const Vec& a, const Vec& b) {
  Vec y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
  return y;
}

Vec mul(const Vec& a, const Vec& b) {
  Vec y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = a[i] * b[i];
  return y;
}

Vec scale(const Vec& x, double alpha) {
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = alpha * x[i];
  return y;
}

Vec relu(const Vec& x) {
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0 ? x[i] : 0.0;
  return y;
}

Vec relu_bwd(const Vec& x, const Vec& d_y) {
  Vec d(x.size());
  for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] > 0 ? d_y[i] : 0.0;
  return d;
}

void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]};
  uint32_t k[2] = {key[0], key[1]};
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    const uint64_t p0 = uint64_t{0xD2511F53u} * c[0];
    const uint64_t p1 = uint64_t{0xCD9E8D57u} * c[2];
    const uint32_t next[4] = {
        static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
        static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
    for (int j = 0; j < 4; ++j) c[j] = next[j];
  }
  for (int j = 0; j < 4; ++j) out[j] = c[j];
}

std::vector<bool> dropout_keep(int64_t n, float p, uint64_t seed, uint64_t offset) {
  std::vector<bool> keep(static_cast<size_t>(n));
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  for (int64_t g = 0; 4 * g < n; ++g) {
    const uint32_t ctr[4] = {static_cast<uint32_t>(g), static_cast<uint32_t>(uint64_t(g) >> 32),
                             static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)};
    uint32_t r[4];
    philox4x32_10(ctr, key, r);
    for (int j = 0; j < 4 && 4 * g + j < n; ++j) {
      // The top 24 bits as a fraction of 2^24.
      const double u = static_cast<double>(r[j] >> 8) / 16777216.0;
      keep[static_cast<size_t>(4 * g + j)] = u >= static_cast<double>(p);
    }
  }
  return keep;
}

Vec dropout(const Vec& x, float p, uint64_t seed, uint64_t offset) {
  const std::vector<bool> keep = dropout_keep(static_cast<int64_t>(x.size()), p, seed, offset);
  const double s = 1.0 / (1.0 - static_cast<double>(p));
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = keep[i] ? x[i] * s : 0.0;
  return y;
}

Vec matmul(const Vec& a, const Vec& b, const Vec& c, int64_t m, int64_t n, int64_t k, bool trans_a,
           bool trans_b, double alpha, double beta) {
  Vec y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t l = 0; l < k; ++l) {
        const double av =
            trans_a ? a[static_cast<size_t>(l * m + i)] : a[static_cast<size_t>(i * k + l)];
        const double bv =
            trans_b ? b[static_cast<size_t>(j * k + l)] : b[static_cast<size_t>(l * n + j)];
        acc += av * bv;
      }
      const size_t o = static_cast<size_t>(i * n + j);
      y[o] = alpha * acc + (beta == 0.0 ? 0.0 : beta * c[o]);
    }
  }
  return y;
}

double sum(const Vec& x) {
  double s = 0.0;
  for (double v : x) s += v;
  return s;
}

}  // namespace v3d::ref

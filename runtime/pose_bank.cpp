// Shape-checked entry points of kernels/pose_bank.h. The small int32 inputs that decide where
// kernels read (offsets, parents, bank rows, gather rows and maps) are copied to the host and
// checked before any kernel runs, so a bad index is a one-line error naming the op and the
// argument rather than an out-of-bounds read on a GPU.
#include "runtime/pose_bank.h"

#include <string>
#include <vector>

#include "runtime/dispatch.h"

namespace v3d::ops {

namespace {

using kernels::StreamHandle;

constexpr int64_t kMaxFrames = 0x7fffffff;  // frame indices are int32

std::string describe(const Tensor& t) {
  return t.defined() ? t.str() : std::string("an undefined tensor");
}

// poses: (total, J, 2) f32 with 1 <= J <= kPoseBankMaxJoints; returns J.
int check_poses(const char* op, const char* name, const Tensor& poses) {
  V3D_CHECK(
      poses.defined() && poses.dtype() == DType::kF32 && poses.ndim() == 3 && poses.size(2) == 2,
      op << ": " << name << " must be f32 (frames, J, 2), got " << describe(poses));
  V3D_CHECK(poses.size(1) >= 1 && poses.size(1) <= kernels::kPoseBankMaxJoints,
            op << ": " << name << " must have 1 to " << kernels::kPoseBankMaxJoints
               << " joints, got " << poses.str());
  V3D_CHECK(poses.size(0) <= kMaxFrames,
            op << ": " << name << " has more than 2^31 - 1 frames: " << poses.str());
  return static_cast<int>(poses.size(1));
}

// An int32 vector of `numel` elements (any numel when numel < 0) on `device`.
void check_i32_vector(const char* op, const char* name, const Tensor& t, Device device,
                      int64_t numel) {
  V3D_CHECK(t.defined() && t.dtype() == DType::kI32 && t.ndim() == 1 && t.device() == device &&
                (numel < 0 || t.numel() == numel),
            op << ": " << name << " must be i32 ("
               << (numel < 0 ? std::string("n") : std::to_string(numel)) << ") on " << device.str()
               << ", got " << describe(t));
}

// parents: (J) i32, each -1 or another joint.
kernels::PoseSkeleton check_skeleton(const char* op, const Tensor& parents, int joints,
                                     Device device, kernels::PoseCenter center) {
  check_i32_vector(op, "parents", parents, device, joints);
  const std::vector<int32_t> p = parents.to_vector_i32();
  for (int j = 0; j < joints; ++j)
    V3D_CHECK(p[static_cast<size_t>(j)] >= -1 && p[static_cast<size_t>(j)] < joints &&
                  p[static_cast<size_t>(j)] != j,
              op << ": parents[" << j << "] = " << p[static_cast<size_t>(j)]
                 << " is not -1 or another joint in [0, " << joints << ")");
  V3D_CHECK(center == kernels::PoseCenter::kCentroid || center == kernels::PoseCenter::kRoot,
            op << ": unknown center " << static_cast<int>(center));
  kernels::PoseSkeleton sk;
  sk.joints = joints;
  sk.parents = parents.i32();
  sk.center = center;
  return sk;
}

// offsets: (num_seq + 1) i32 on the poses' device, 0 = offsets[0] <= ... <= offsets[num_seq] =
// total. Returns the offsets on the host.
std::vector<int32_t> check_offsets(const char* op, const Tensor& offsets, const Tensor& poses) {
  check_i32_vector(op, "offsets", offsets, poses.device(), -1);
  V3D_CHECK(offsets.numel() >= 1,
            op << ": offsets must hold num_seq + 1 >= 1 entries, got " << offsets.str());
  const std::vector<int32_t> o = offsets.to_vector_i32();
  V3D_CHECK(o[0] == 0, op << ": offsets[0] must be 0, got " << o[0]);
  for (size_t k = 1; k < o.size(); ++k)
    V3D_CHECK(o[k] >= o[k - 1], op << ": offsets must be non-decreasing, offsets[" << k << "] = "
                                   << o[k] << " < offsets[" << k - 1 << "] = " << o[k - 1]);
  V3D_CHECK(o.back() == poses.size(0), op << ": offsets end at " << o.back() << " but poses has "
                                          << poses.size(0) << " frames");
  return o;
}

void check_capacity(const char* op, int capacity) {
  V3D_CHECK(
      capacity >= 1 && capacity <= kernels::kPoseBankMaxCapacity,
      op << ": capacity must be in [1, " << kernels::kPoseBankMaxCapacity << "], got " << capacity);
}

}  // namespace

Tensor pose_similarity(const Tensor& a, const Tensor& b, const Tensor& parents,
                       kernels::PoseCenter center) {
  const int joints = check_poses("pose_similarity", "a", a);
  check_poses("pose_similarity", "b", b);
  V3D_CHECK(b.device() == a.device(),
            "pose_similarity: b is on " << b.device().str() << ", a on " << a.device().str());
  V3D_CHECK(b.size(1) == joints, "pose_similarity: a has " << joints << " joints, b has "
                                                           << b.size(1) << " (a " << a.str()
                                                           << ", b " << b.str() << ")");
  const kernels::PoseSkeleton sk =
      check_skeleton("pose_similarity", parents, joints, a.device(), center);
  const int64_t n = a.size(0), m = b.size(0);
  Tensor s = Tensor::empty({n, m}, DType::kF32, a.device());
  dispatch(
      a.device(), [&] { kernels::cpu::pose_similarity(a.f32(), n, b.f32(), m, sk, s.f32()); },
      [&](auto kind, StreamHandle st) {
        kernels::launch::pose_similarity<decltype(kind)::value>(a.f32(), n, b.f32(), m, sk, s.f32(),
                                                                st);
      });
  return s;
}

PoseBankOutput pose_bank(const Tensor& poses, const Tensor& offsets, const Tensor& parents,
                         kernels::PoseCenter center, const kernels::PoseBankSettings& settings,
                         bool with_history) {
  const int joints = check_poses("pose_bank", "poses", poses);
  const Device dev = poses.device();
  const kernels::PoseSkeleton sk = check_skeleton("pose_bank", parents, joints, dev, center);
  check_offsets("pose_bank", offsets, poses);
  check_capacity("pose_bank", settings.capacity);
  const int64_t num_seq = offsets.numel() - 1, cap = settings.capacity, total = poses.size(0);
  PoseBankOutput out;
  out.frames = Tensor::empty({num_seq, cap}, DType::kI32, dev);
  out.as = Tensor::empty({num_seq, cap}, DType::kF32, dev);
  out.size = Tensor::empty({num_seq}, DType::kI32, dev);
  if (with_history) out.history = Tensor::empty({total, cap}, DType::kI32, dev);
  int32_t* history = with_history ? out.history.i32() : nullptr;
  dispatch(
      dev,
      [&] {
        kernels::cpu::pose_bank(poses.f32(), offsets.i32(), num_seq, sk, settings, out.frames.i32(),
                                out.as.f32(), out.size.i32(), history);
      },
      [&](auto kind, StreamHandle st) {
        const int64_t floats = kernels::pose_bank_workspace_floats(num_seq, settings.capacity);
        Tensor workspace = floats > 0 ? Tensor::empty({floats}, DType::kF32, dev) : Tensor();
        kernels::launch::pose_bank<decltype(kind)::value>(
            poses.f32(), offsets.i32(), num_seq, sk, settings, out.frames.i32(), out.as.f32(),
            out.size.i32(), history, floats > 0 ? workspace.f32() : nullptr, st);
      });
  return out;
}

Tensor pose_bank_fuse(const Tensor& poses, const Tensor& offsets, const Tensor& parents,
                      kernels::PoseCenter center, const kernels::PoseFuseSettings& settings,
                      const Tensor& banks, const Tensor& bank_row, const Tensor& fused) {
  const char* op = "pose_bank_fuse";
  const int joints = check_poses(op, "poses", poses);
  const Device dev = poses.device();
  const kernels::PoseSkeleton sk = check_skeleton(op, parents, joints, dev, center);
  check_offsets(op, offsets, poses);
  check_capacity(op, settings.capacity);
  V3D_CHECK(settings.radius >= 0 && settings.radius < (1 << 24),
            op << ": radius must be in [0, 2^24), got " << settings.radius);
  V3D_CHECK(banks.defined() && banks.dtype() == DType::kI32 && banks.ndim() == 2 &&
                banks.device() == dev && banks.size(1) == settings.capacity,
            op << ": banks must be i32 (rows, capacity = " << settings.capacity << ") on "
               << dev.str() << ", got " << describe(banks));
  const int64_t total = poses.size(0), rows = banks.size(0);
  check_i32_vector(op, "bank_row", bank_row, dev, total);
  const std::vector<int32_t> row = bank_row.to_vector_i32();
  for (size_t g = 0; g < row.size(); ++g)
    V3D_CHECK(row[g] >= 0 && row[g] < rows, op << ": bank_row[" << g << "] = " << row[g]
                                               << " is not a row of banks " << banks.str());
  if (fused.defined()) check_i32_vector(op, "fused", fused, dev, total);
  const int64_t num_seq = offsets.numel() - 1, window = 2 * int64_t{settings.radius} + 1;
  Tensor map = Tensor::empty({total, window}, DType::kI32, dev);
  int32_t* fused_ptr = fused.defined() ? fused.i32() : nullptr;
  dispatch(
      dev,
      [&] {
        kernels::cpu::pose_bank_fuse(poses.f32(), offsets.i32(), num_seq, sk, settings, banks.i32(),
                                     bank_row.i32(), map.i32(), fused_ptr);
      },
      [&](auto kind, StreamHandle st) {
        kernels::launch::pose_bank_fuse<decltype(kind)::value>(
            poses.f32(), offsets.i32(), num_seq, total, sk, settings, banks.i32(), bank_row.i32(),
            map.i32(), fused_ptr, st);
      });
  return map;
}

Tensor window_gather(const Tensor& src, const Tensor& index_map, const Tensor& rows,
                     const Tensor& row_base) {
  const char* op = "window_gather";
  V3D_CHECK(src.defined() && src.dtype() == DType::kF32 && (src.ndim() == 2 || src.ndim() == 3),
            op << ": src must be f32 (frames, C) or (frames, J, 2), got " << describe(src));
  const Device dev = src.device();
  V3D_CHECK(index_map.defined() && index_map.dtype() == DType::kI32 && index_map.ndim() == 2 &&
                index_map.device() == dev && index_map.size(1) >= 1,
            op << ": index_map must be i32 (frames, W >= 1) on " << dev.str() << ", got "
               << describe(index_map));
  check_i32_vector(op, "rows", rows, dev, -1);
  check_i32_vector(op, "row_base", row_base, dev, rows.numel());
  const int64_t n = rows.numel(), window = index_map.size(1), frames = src.size(0);
  V3D_CHECK(window <= 0x7fffffff, op << ": window too large: " << index_map.str());
  // Every source row the gather reads must exist.
  const std::vector<int32_t> r = rows.to_vector_i32(), base = row_base.to_vector_i32(),
                             map = index_map.to_vector_i32();
  for (int64_t k = 0; k < n; ++k) {
    const int32_t rk = r[static_cast<size_t>(k)];
    V3D_CHECK(rk >= 0 && rk < index_map.size(0), op << ": rows[" << k << "] = " << rk
                                                    << " is not a row of index_map "
                                                    << index_map.str());
    for (int64_t w = 0; w < window; ++w) {
      const int64_t from =
          int64_t{base[static_cast<size_t>(k)]} + map[static_cast<size_t>(rk * window + w)];
      V3D_CHECK(from >= 0 && from < frames, op << ": row_base[" << k << "] + index_map[" << rk
                                               << ", " << w << "] = " << from
                                               << " is not a frame of src " << src.str());
    }
  }
  const int64_t channels = src.ndim() == 2 ? src.size(1) : src.size(1) * src.size(2);
  Tensor out = src.ndim() == 2
                   ? Tensor::empty({n, window, channels}, DType::kF32, dev)
                   : Tensor::empty({n, window, src.size(1), src.size(2)}, DType::kF32, dev);
  dispatch(
      dev,
      [&] {
        kernels::cpu::window_gather(src.f32(), channels, index_map.i32(), static_cast<int>(window),
                                    rows.i32(), row_base.i32(), n, out.f32());
      },
      [&](auto kind, StreamHandle st) {
        kernels::launch::window_gather<decltype(kind)::value>(src.f32(), channels, index_map.i32(),
                                                              static_cast<int>(window), rows.i32(),
                                                              row_base.i32(), n, out.f32(), st);
      });
  return out;
}

}  // namespace v3d::ops

// Shape-checked entry points of kernels/pose_bank.h. Only shapes, dtypes and devices are checked
// here: the int32 contents that decide where kernels read (offsets, parents, bank rows, gather
// rows and maps) are the caller's to validate where it builds them, and the kernels check them as
// they read them (the CPU ones throw, the GPU ones raise a device error reported at the next
// synchronisation, runtime/device_error.h), so no call copies an index tensor to the host.
#include "runtime/pose_bank.h"

#include <string>

#include "runtime/op_run.h"

namespace v3d::ops {

namespace {

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

// parents: (J) i32 on `device`; its values are checked by the kernels.
kernels::PoseSkeleton skeleton_of(const char* op, const Tensor& parents, int joints, Device device,
                                  kernels::PoseCenter center) {
  check_i32_vector(op, "parents", parents, device, joints);
  V3D_CHECK(center == kernels::PoseCenter::kCentroid || center == kernels::PoseCenter::kRoot,
            op << ": unknown center " << static_cast<int>(center));
  kernels::PoseSkeleton sk;
  sk.joints = joints;
  sk.parents = parents.i32();
  sk.center = center;
  return sk;
}

// offsets: (num_seq + 1 >= 1) i32 on the poses' device; its values are checked by the kernels.
void check_offsets(const char* op, const Tensor& offsets, const Tensor& poses) {
  check_i32_vector(op, "offsets", offsets, poses.device(), -1);
  V3D_CHECK(offsets.numel() >= 1,
            op << ": offsets must hold num_seq + 1 >= 1 entries, got " << offsets.str());
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
  kernels::PoseSimilarityArgs args;
  args.skeleton = skeleton_of("pose_similarity", parents, joints, a.device(), center);
  args.n = a.size(0);
  args.m = b.size(0);
  Tensor s = Tensor::empty({args.n, args.m}, DType::kF32, a.device());
  run_op<op_entry::pose_similarity>(a.device(), args, a.f32(), b.f32(), s.f32());
  return s;
}

PoseBankOutput pose_bank(const Tensor& poses, const Tensor& offsets, const Tensor& parents,
                         kernels::PoseCenter center, const kernels::PoseBankSettings& settings,
                         bool with_history) {
  const int joints = check_poses("pose_bank", "poses", poses);
  const Device dev = poses.device();
  check_offsets("pose_bank", offsets, poses);
  kernels::PoseBankArgs args;
  args.skeleton = skeleton_of("pose_bank", parents, joints, dev, center);
  args.settings = settings;
  args.num_seq = offsets.numel() - 1;
  args.total = poses.size(0);
  args.validate("pose_bank");
  const int64_t cap = settings.capacity;
  PoseBankOutput out;
  out.frames = Tensor::empty({args.num_seq, cap}, DType::kI32, dev);
  out.as = Tensor::empty({args.num_seq, cap}, DType::kF32, dev);
  out.size = Tensor::empty({args.num_seq}, DType::kI32, dev);
  if (with_history) out.history = Tensor::empty({args.total, cap}, DType::kI32, dev);
  int32_t* history = with_history ? out.history.i32() : nullptr;
  run_op<op_entry::pose_bank>(dev, args, poses.f32(), offsets.i32(), out.frames.i32(), out.as.f32(),
                              out.size.i32(), history);
  return out;
}

Tensor pose_bank_fuse(const Tensor& poses, const Tensor& offsets, const Tensor& parents,
                      kernels::PoseCenter center, const kernels::PoseFuseSettings& settings,
                      const Tensor& banks, const Tensor& bank_row, const Tensor& fused) {
  const char* op = "pose_bank_fuse";
  const int joints = check_poses(op, "poses", poses);
  const Device dev = poses.device();
  check_offsets(op, offsets, poses);
  kernels::PoseFuseArgs args;
  args.skeleton = skeleton_of(op, parents, joints, dev, center);
  args.settings = settings;
  args.num_seq = offsets.numel() - 1;
  args.total = poses.size(0);
  args.validate(op);
  V3D_CHECK(banks.defined() && banks.dtype() == DType::kI32 && banks.ndim() == 2 &&
                banks.device() == dev && banks.size(1) == settings.capacity,
            op << ": banks must be i32 (rows, capacity = " << settings.capacity << ") on "
               << dev.str() << ", got " << describe(banks));
  args.bank_rows = banks.size(0);
  check_i32_vector(op, "bank_row", bank_row, dev, args.total);
  if (fused.defined()) check_i32_vector(op, "fused", fused, dev, args.total);
  Tensor map = Tensor::empty({args.total, args.window()}, DType::kI32, dev);
  int32_t* fused_ptr = fused.defined() ? fused.i32() : nullptr;
  run_op<op_entry::pose_bank_fuse>(dev, args, poses.f32(), offsets.i32(), banks.i32(),
                                   bank_row.i32(), map.i32(), fused_ptr);
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
  kernels::WindowGatherArgs args;
  args.n = rows.numel();
  args.window = index_map.size(1);
  args.channels = src.ndim() == 2 ? src.size(1) : src.size(1) * src.size(2);
  args.src_frames = src.size(0);
  args.map_rows = index_map.size(0);
  args.validate(op);
  Tensor out =
      src.ndim() == 2
          ? Tensor::empty({args.n, args.window, args.channels}, DType::kF32, dev)
          : Tensor::empty({args.n, args.window, src.size(1), src.size(2)}, DType::kF32, dev);
  run_op<op_entry::window_gather>(dev, args, src.f32(), index_map.i32(), rows.i32(), row_base.i32(),
                                  out.f32());
  return out;
}

}  // namespace v3d::ops

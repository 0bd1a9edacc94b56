// Long-term Pose Bank inference (trainer/ltb.h).
#include "trainer/ltb.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "data/h5_util.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/pose_bank.h"

namespace v3d {

namespace {

// Windows per strided forward: large enough to keep sgemm busy, small enough for a GPU's memory
// at 1024 channels and 243 frames.
constexpr int64_t kFusedBatch = 512;

}  // namespace

LtbOptions ltb_options(const LtbConfig& config) {
  LtbOptions o;
  o.capacity = config.capacity;
  o.threshold = static_cast<float>(config.threshold);
  o.fusion_threshold = static_cast<float>(config.fusion_threshold);
  o.max_insert = config.max_insert;
  o.online = config.mode == "online";
  o.center = config.center == "root" ? kernels::PoseCenter::kRoot : kernels::PoseCenter::kCentroid;
  validate_ltb_options(o);
  return o;
}

void validate_ltb_options(const LtbOptions& o) {
  V3D_CHECK(
      o.capacity >= 1 && o.capacity <= kernels::kPoseBankMaxCapacity,
      "ltb.capacity: must be in [1, " << kernels::kPoseBankMaxCapacity << "], got " << o.capacity);
  V3D_CHECK(std::isfinite(o.threshold), "ltb.threshold: must be finite");
  V3D_CHECK(std::isfinite(o.fusion_threshold), "ltb.fusion_threshold: must be finite");
  V3D_CHECK(o.max_insert >= -1,
            "ltb.max_insert: must be >= -1 (-1 = the window radius), got " << o.max_insert);
}

std::vector<int32_t> ltb_parents(const data::Skeleton& keypoints) {
  if (!keypoints.parents.empty())
    return std::vector<int32_t>(keypoints.parents.begin(), keypoints.parents.end());
  if (keypoints.name == "coco17") {
    // COCO-17 keypoints have no tree; the similarity's bones follow the usual limb drawing, rooted
    // at the nose: eyes from the nose, ears from the eyes, shoulders from the nose, arms from the
    // shoulders, hips from the shoulders, legs from the hips (16 bones, as H36M-17).
    return {-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14};
  }
  throw Error("ltb: the keypoint layout " + keypoints.name +
              " has no bone tree for the pose similarity");
}

LtbPlan plan_ltb(const std::vector<std::span<const float>>& sequences, int joints,
                 const std::vector<int32_t>& parents, int64_t radius, const LtbOptions& options,
                 Device device, bool with_history) {
  validate_ltb_options(options);
  V3D_CHECK(
      joints >= 1 && joints <= kernels::kPoseBankMaxJoints,
      "ltb: " << joints << " keypoints; the bank supports 1 to " << kernels::kPoseBankMaxJoints);
  V3D_CHECK(static_cast<int>(parents.size()) == joints,
            "ltb: " << parents.size() << " parents for " << joints << " keypoints");
  V3D_CHECK(radius >= 0, "ltb: negative window radius " << radius);
  LtbPlan plan;
  plan.radius = radius;
  plan.window = 2 * radius + 1;
  plan.capacity = options.capacity;
  const int64_t pose = static_cast<int64_t>(joints) * 2;
  int64_t total = 0;
  plan.offsets.push_back(0);
  for (const auto& s : sequences) {
    V3D_CHECK(static_cast<int64_t>(s.size()) % pose == 0,
              "ltb: a sequence of " << s.size() << " values is not (frames, " << joints << ", 2)");
    total += static_cast<int64_t>(s.size()) / pose;
    V3D_CHECK(total < std::numeric_limits<int32_t>::max(),
              "ltb: more than 2^31 frames in one batch");
    plan.offsets.push_back(static_cast<int32_t>(total));
  }
  const int64_t num_seq = static_cast<int64_t>(sequences.size());
  if (num_seq == 0) return plan;

  std::vector<float> packed(static_cast<size_t>(total * pose));
  for (size_t k = 0; k < sequences.size(); ++k)
    std::copy(sequences[k].begin(), sequences[k].end(),
              packed.begin() + static_cast<int64_t>(plan.offsets[k]) * pose);
  const Tensor poses = Tensor::from_vector(packed, {total, joints, 2}, device);
  const Tensor offsets = Tensor::from_vector_i32(plan.offsets, {num_seq + 1}, device);
  const Tensor par = Tensor::from_vector_i32(parents, {joints}, device);

  kernels::PoseBankSettings bs;
  bs.capacity = options.capacity;
  bs.threshold = options.threshold;
  const bool history = with_history || options.online;
  const ops::PoseBankOutput bank = ops::pose_bank(poses, offsets, par, options.center, bs, history);

  kernels::PoseFuseSettings fs;
  fs.radius = static_cast<int>(radius);
  fs.fusion_threshold = options.fusion_threshold;
  fs.max_insert = options.max_insert < 0 ? static_cast<int>(radius) : options.max_insert;
  fs.capacity = options.capacity;
  // Offline: frame g fuses with its sequence's final bank (row k); online: with the bank after
  // frame g (history row g).
  std::vector<int32_t> rows(static_cast<size_t>(total));
  for (int64_t k = 0; k < num_seq; ++k)
    for (int32_t g = plan.offsets[static_cast<size_t>(k)];
         g < plan.offsets[static_cast<size_t>(k) + 1]; ++g)
      rows[static_cast<size_t>(g)] = options.online ? g : static_cast<int32_t>(k);
  const Tensor bank_row = Tensor::from_vector_i32(rows, {total}, device);
  const Tensor fused = Tensor::zeros({total}, DType::kI32, device);
  const Tensor map =
      ops::pose_bank_fuse(poses, offsets, par, options.center, fs,
                          options.online ? bank.history : bank.frames, bank_row, fused);
  plan.index_map = map.to_vector_i32();
  plan.fused = fused.to_vector_i32();
  plan.bank_frames = bank.frames.to_vector_i32();
  plan.bank_as = bank.as.to_vector();
  plan.bank_size = bank.size.to_vector_i32();
  if (with_history) plan.history = bank.history.to_vector_i32();
  for (int32_t f : plan.fused) plan.fused_frames += f != 0;
  return plan;
}

std::vector<std::vector<float>> predict_with_ltb(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences,
    const std::vector<std::vector<float>>& plain, const LtbPlan& plan,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta, LtbStats* stats) {
  const TemporalModelConfig& mc = model.config();
  V3D_CHECK(!mc.causal, "ltb: the long-term bank fuses centred windows; the model is causal");
  V3D_CHECK(plan.radius == (model.receptive_field() - 1) / 2,
            "ltb: the plan's window radius " << plan.radius << " is not the model's "
                                             << (model.receptive_field() - 1) / 2);
  V3D_CHECK(sequences.size() == plain.size() && plan.offsets.size() == sequences.size() + 1,
            "ltb: " << sequences.size() << " sequences, " << plain.size() << " predictions and a "
                    << "plan of " << plan.offsets.size() - 1 << " sequences");
  const int64_t jin = keypoints.num_joints(), jo = joints.num_joints();
  const int64_t row = jin * 2, out_row = jo * 3, window = plan.window;
  const int64_t total = plan.offsets.back();

  std::vector<std::vector<float>> result = plain;
  if (stats != nullptr) {
    stats->sequences += static_cast<int64_t>(sequences.size());
    stats->frames += total;
    stats->fused_frames += plan.fused_frames;
    for (int32_t s : plan.bank_size) stats->bank_entries += s;
  }
  if (plan.fused_frames == 0) return result;  // nothing fused: plain inference, bit for bit

  // The packed 2D rows (and their mirror image for TTA) on the device; the fused frames with the
  // start of their sequence.
  std::vector<float> src(static_cast<size_t>(total * row));
  std::vector<int32_t> fused_rows, fused_base;
  std::vector<int64_t> fused_seq;
  for (size_t k = 0; k < sequences.size(); ++k) {
    const data::Sequence& s = *sequences[k];
    const int32_t base = plan.offsets[k];
    V3D_CHECK(s.frames == plan.offsets[k + 1] - base &&
                  static_cast<int64_t>(s.poses_2d.size()) == s.frames * row,
              "ltb: sequence " << k << " does not match the plan");
    V3D_CHECK(
        static_cast<int64_t>(plain[k].size()) == s.frames * out_row,
        "ltb: the plain prediction of sequence " << k << " has " << plain[k].size() << " values");
    std::copy(s.poses_2d.begin(), s.poses_2d.end(), src.begin() + base * row);
    for (int32_t g = base; g < plan.offsets[k + 1]; ++g) {
      if (plan.fused[static_cast<size_t>(g)] == 0) continue;
      fused_rows.push_back(g);
      fused_base.push_back(base);
      fused_seq.push_back(static_cast<int64_t>(k));
    }
  }
  const Device dev = model.device();
  const Tensor map = Tensor::from_vector_i32(plan.index_map, {total, window}, dev);
  const Tensor src_t = Tensor::from_vector(src, {total, row}, dev);
  Tensor src_flip;
  if (flip_tta) {
    std::vector<float> flipped = src;
    data::flip_poses(flipped, total, keypoints, 2);
    src_flip = Tensor::from_vector(flipped, {total, row}, dev);
  }
  const std::vector<int> perm = joints.flip_permutation();

  NoGradGuard no_grad;
  PhiloxState rng{};  // unused: no dropout in eval mode
  const int64_t n = static_cast<int64_t>(fused_rows.size());
  for (int64_t b0 = 0; b0 < n; b0 += kFusedBatch) {
    const int64_t bn = std::min(kFusedBatch, n - b0);
    const std::vector<int32_t> r(fused_rows.begin() + b0, fused_rows.begin() + b0 + bn);
    const std::vector<int32_t> base(fused_base.begin() + b0, fused_base.begin() + b0 + bn);
    const Tensor rows_t = Tensor::from_vector_i32(r, {bn}, dev);
    const Tensor base_t = Tensor::from_vector_i32(base, {bn}, dev);
    const Tensor x = ops::window_gather(src_t, map, rows_t, base_t);  // (bn, window, row)
    const std::vector<float> y = model.forward_train(x, rng, false).value().to_vector();
    std::vector<float> yf;
    if (flip_tta) {
      const Tensor xf = ops::window_gather(src_flip, map, rows_t, base_t);
      yf = model.forward_train(xf, rng, false).value().to_vector();
    }
    for (int64_t i = 0; i < bn; ++i) {
      const int64_t k = fused_seq[static_cast<size_t>(b0 + i)];
      const int64_t t = r[static_cast<size_t>(i)] - base[static_cast<size_t>(i)];
      float* dst = result[static_cast<size_t>(k)].data() + t * out_row;
      const float* a = y.data() + i * out_row;
      if (!flip_tta) {
        std::copy(a, a + out_row, dst);
        continue;
      }
      // As predict_sequence: the flipped prediction un-flipped (x negated, joint j from its
      // mirror) and averaged.
      const float* f = yf.data() + i * out_row;
      for (int64_t j = 0; j < jo; ++j) {
        const float* s = f + perm[static_cast<size_t>(j)] * 3;
        dst[j * 3 + 0] = 0.5f * (a[j * 3 + 0] - s[0]);
        dst[j * 3 + 1] = 0.5f * (a[j * 3 + 1] + s[1]);
        dst[j * 3 + 2] = 0.5f * (a[j * 3 + 2] + s[2]);
      }
    }
  }
  return result;
}

namespace {

template <class T>
void write_dataset(H5::H5File& file, const std::string& object, const T* data,
                   const std::vector<hsize_t>& dims, const H5::PredType& file_type,
                   const H5::PredType& mem_type) {
  H5::LinkCreatPropList lcpl;
  lcpl.setCreateIntermediateGroup(true);
  H5::DataSet ds = file.createDataSet(object, file_type,
                                      H5::DataSpace(static_cast<int>(dims.size()), dims.data()),
                                      H5::DSetCreatPropList(), H5::DSetAccPropList(), lcpl);
  ds.write(data, mem_type);
}

template <class T>
void scalar_attr(H5::H5Object& obj, const std::string& name, T value, const H5::PredType& file_type,
                 const H5::PredType& mem_type) {
  H5::Attribute a = obj.createAttribute(name, file_type, H5::DataSpace(H5S_SCALAR));
  a.write(mem_type, &value);
}

}  // namespace

void write_ltb_h5(const std::string& path, const std::vector<std::string>& names,
                  const LtbPlan& plan, const LtbOptions& options) {
  const size_t num_seq = plan.offsets.empty() ? 0 : plan.offsets.size() - 1;
  V3D_CHECK(names.size() == num_seq,
            path << ": " << names.size() << " names for " << num_seq << " sequences");
  const int64_t total = num_seq == 0 ? 0 : plan.offsets.back();
  const int64_t cap = plan.capacity;
  V3D_CHECK(static_cast<int64_t>(plan.history.size()) == total * cap,
            path << ": the plan has no bank history (plan_ltb with_history)");
  for (size_t i = 0; i < names.size(); ++i) {
    V3D_CHECK(!names[i].empty() && names[i].front() != '/',
              path << ": sequence " << i << " has an empty or absolute name '" << names[i] << "'");
    for (size_t j = 0; j < i; ++j)
      V3D_CHECK(names[i] != names[j], path << ": two sequences are named '" << names[i] << "'");
  }
  data::h5::silence_hdf5();
  data::h5::write_file_atomically(path, [&](H5::H5File& file) {
    H5::Group root = file.openGroup("/");
    data::h5::write_string_attr(root, "format", "v3d-ltb");
    scalar_attr(root, "version", int32_t{1}, H5::PredType::STD_I32LE, H5::PredType::NATIVE_INT32);
    scalar_attr(root, "capacity", int32_t{options.capacity}, H5::PredType::STD_I32LE,
                H5::PredType::NATIVE_INT32);
    scalar_attr(root, "threshold", options.threshold, H5::PredType::IEEE_F32LE,
                H5::PredType::NATIVE_FLOAT);
    scalar_attr(root, "fusion_threshold", options.fusion_threshold, H5::PredType::IEEE_F32LE,
                H5::PredType::NATIVE_FLOAT);
    const int32_t max_insert =
        options.max_insert < 0 ? static_cast<int32_t>(plan.radius) : options.max_insert;
    scalar_attr(root, "max_insert", max_insert, H5::PredType::STD_I32LE,
                H5::PredType::NATIVE_INT32);
    scalar_attr(root, "radius", static_cast<int32_t>(plan.radius), H5::PredType::STD_I32LE,
                H5::PredType::NATIVE_INT32);
    data::h5::write_string_attr(root, "mode", options.online ? "online" : "offline");
    data::h5::write_string_attr(root, "center",
                                options.center == kernels::PoseCenter::kRoot ? "root" : "centroid");
    const hsize_t w = static_cast<hsize_t>(plan.window), c = static_cast<hsize_t>(cap);
    for (size_t k = 0; k < num_seq; ++k) {
      const std::string g = "/" + names[k];
      const int64_t b = plan.offsets[k];
      const hsize_t t = static_cast<hsize_t>(plan.offsets[k + 1] - b);
      const auto i32 = H5::PredType::STD_I32LE;
      const auto ni32 = H5::PredType::NATIVE_INT32;
      write_dataset(file, g + "/history", plan.history.data() + b * cap, {t, c}, i32, ni32);
      write_dataset(file, g + "/bank_frames", plan.bank_frames.data() + k * c, {c}, i32, ni32);
      write_dataset(file, g + "/bank_as", plan.bank_as.data() + k * c, {c},
                    H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT);
      write_dataset(file, g + "/index_map", plan.index_map.data() + b * plan.window, {t, w}, i32,
                    ni32);
      write_dataset(file, g + "/fused", plan.fused.data() + b, {t}, i32, ni32);
      H5::Group grp = file.openGroup(g);
      scalar_attr(grp, "bank_size", plan.bank_size[k], i32, ni32);
    }
  });
}

}  // namespace v3d

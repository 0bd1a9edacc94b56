// Long-term Pose Bank inference (trainer/ltb.h).
#include "trainer/ltb.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "data/h5_util.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/pose_bank.h"
#include "trainer/evaluate.h"

namespace v3d {

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

namespace {

// The tree of the strided form over one window of W = RF slots: block i has W / rf_i nodes, node u
// covering slots [u * rf_i, (u + 1) * rf_i). `reuse_row` finds, for the window's slot contents
// (local frames, clamped), the row q0 of the dilated pass's block-i output that computed exactly
// these inputs: the edge-padded sequence rows q0 .. q0 + rf_i - 1 (row q holds frame
// clamp(q - r)); -1 when none does (the node sees an inserted pose or a broken run).
int64_t reuse_row(const int32_t* slots, int64_t rf_i, int64_t r, int64_t frames, int64_t rows) {
  auto holds = [&](int64_t q0) {
    if (q0 < 0 || q0 >= rows) return false;
    for (int64_t k = 0; k < rf_i; ++k) {
      const int64_t f = std::clamp<int64_t>(q0 + k - r, 0, frames - 1);
      if (f != slots[k]) return false;
    }
    return true;
  };
  // An interior frame fixes q0; otherwise try the runs that end or start at the edges.
  for (int64_t k = 0; k < rf_i; ++k)
    if (slots[k] > 0 && slots[k] < frames - 1)
      return holds(slots[k] + r - k) ? slots[k] + r - k : -1;
  for (const int64_t q0 : {int64_t{slots[0]} + r, int64_t{slots[rf_i - 1]} + r - (rf_i - 1)})
    if (holds(q0)) return q0;
  return -1;
}

// Fused frames per batch of the tree evaluation.
constexpr int64_t kTreeBatch = 512;

}  // namespace

std::vector<std::vector<float>> predict_with_ltb(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences, const LtbPlan& plan,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta, LtbStats* stats,
    std::vector<std::vector<float>>* plain_out, const TemporalModel::FoldedWeights* folded_in) {
  const TemporalModelConfig& mc = model.config();
  V3D_CHECK(!mc.causal, "ltb: the long-term bank fuses centred windows; the model is causal");
  const int64_t rf = model.receptive_field(), r = (rf - 1) / 2;
  V3D_CHECK(plan.radius == r,
            "ltb: the plan's window radius " << plan.radius << " is not the model's " << r);
  V3D_CHECK(plan.offsets.size() == sequences.size() + 1,
            "ltb: " << sequences.size() << " sequences and a plan of " << plan.offsets.size() - 1);
  const int64_t jin = keypoints.num_joints(), jo = joints.num_joints();
  const int64_t row = jin * 2, out_row = jo * 3, window = plan.window, c = mc.channels;
  const auto& fw = mc.filter_widths;
  const size_t layers = fw.size();
  std::vector<int64_t> rf_of(layers);  // rf_i
  for (size_t i = 0; i < layers; ++i) rf_of[i] = (i == 0 ? 1 : rf_of[i - 1]) * fw[i];
  const int64_t copies = flip_tta ? 2 : 1;
  const std::vector<int> perm = joints.flip_permutation();
  const Device dev = model.device();

  std::vector<std::vector<float>> result;
  if (plain_out != nullptr) plain_out->clear();
  NoGradGuard no_grad;
  TemporalModel::FoldedWeights own;  // folded once for every sequence unless given
  if (folded_in == nullptr) own = model.fold_weights();
  const TemporalModel::FoldedWeights& folded = folded_in != nullptr ? *folded_in : own;
  for (size_t k = 0; k < sequences.size(); ++k) {
    const data::Sequence& s = *sequences[k];
    const int32_t base = plan.offsets[k];
    const int64_t frames = s.frames;
    V3D_CHECK(frames == plan.offsets[k + 1] - base &&
                  static_cast<int64_t>(s.poses_2d.size()) == frames * row,
              "ltb: sequence " << k << " does not match the plan");
    std::vector<int32_t> fused_t;
    for (int64_t t = 0; t < frames; ++t)
      if (plan.fused[static_cast<size_t>(base + t)] != 0)
        fused_t.push_back(static_cast<int32_t>(t));
    std::vector<Tensor> blocks;
    std::vector<float> pred = predict_sequence(model, s, keypoints, joints, flip_tta,
                                               fused_t.empty() ? nullptr : &blocks, &folded);
    if (plain_out != nullptr) plain_out->push_back(pred);
    if (stats != nullptr) {
      stats->sequences += 1;
      stats->frames += frames;
      stats->fused_frames += static_cast<int64_t>(fused_t.size());
      stats->bank_entries += plan.bank_size[k];
    }
    if (fused_t.empty()) {  // nothing fused: plain inference, bit for bit
      result.push_back(std::move(pred));
      continue;
    }
    // The sequence's 2D rows and their mirror image on the device.
    const Tensor src = Tensor::from_vector(s.poses_2d, {frames, row}, dev);
    Tensor src_flip;
    if (flip_tta) {
      std::vector<float> flipped = s.poses_2d;
      data::flip_poses(flipped, frames, keypoints, 2);
      src_flip = Tensor::from_vector(flipped, {frames, row}, dev);
    }
    const std::vector<int32_t> local_map(plan.index_map.begin() + base * window,
                                         plan.index_map.begin() + (base + frames) * window);
    // Block outputs stay on the device. out[i][static_cast<size_t>(cp)] (rows, C) is what block i's
    // children are gathered from (window_gather) for copy cp: for the blocks whose outputs can be
    // reused (0 < i < layers - 1), the dilated pass's rows_i rows followed by room for the nodes a
    // batch computes (trace[i] = rows_i, made once per sequence); for the others, just the batch's
    // computed nodes (trace[i] = 0).
    std::vector<int64_t> rows_of(layers), trace(layers, 0);
    std::vector<std::vector<Tensor>> out(layers, std::vector<Tensor>(copies));
    const int64_t batch = std::min<int64_t>(kTreeBatch, static_cast<int64_t>(fused_t.size()));
    for (size_t i = 0; i < layers; ++i) {
      rows_of[i] = blocks[i].size(1);
      if (i == 0 || i + 1 == layers) continue;
      trace[i] = rows_of[i];
      for (int64_t cp = 0; cp < copies; ++cp) {
        out[i][static_cast<size_t>(cp)] =
            Tensor::empty({rows_of[i] + batch * (window / rf_of[i]), c}, DType::kF32, dev);
        out[i][static_cast<size_t>(cp)].narrow(0, rows_of[i]).copy_from(blocks[i].narrow(cp, 1));
      }
    }
    blocks.clear();
    // rows[k] = k and row_base = 0: window_gather then reads node k's inputs at map row k.
    auto gather = [&](const Tensor& from, const std::vector<int32_t>& map, int64_t width) {
      const int64_t m = static_cast<int64_t>(map.size()) / width;
      std::vector<int32_t> iota(static_cast<size_t>(m));
      for (int64_t q = 0; q < m; ++q) iota[static_cast<size_t>(q)] = static_cast<int32_t>(q);
      return ops::window_gather(from, Tensor::from_vector_i32(map, {m, width}, dev),
                                Tensor::from_vector_i32(iota, {m}, dev),
                                Tensor::zeros({m}, DType::kI32, dev));
    };

    for (size_t b0 = 0; b0 < fused_t.size(); b0 += kTreeBatch) {
      const int64_t n = std::min<int64_t>(kTreeBatch, static_cast<int64_t>(fused_t.size() - b0));
      const std::vector<int32_t> ts(fused_t.begin() + static_cast<int64_t>(b0),
                                    fused_t.begin() + static_cast<int64_t>(b0) + n);
      // index[i][(j, u)]: the node's place among the batch's computed nodes of block i, or -1.
      std::vector<std::vector<int64_t>> index(layers);
      const int64_t nodes0 = window / rf_of[0];
      // Blocks 1 .. layers-1: reuse where the inputs are consecutive sequence rows, else compute
      // from the children. need[i][(j, u)]: the node is an input of a computed parent.
      std::vector<std::vector<char>> need(layers);
      for (size_t i = 0; i < layers; ++i)
        need[i].assign(static_cast<size_t>(n * (window / rf_of[i])), 0);
      std::vector<std::vector<int64_t>> reuse(layers);
      for (size_t i = 0; i < layers; ++i) {
        const int64_t nodes = window / rf_of[i];
        reuse[i].assign(static_cast<size_t>(n * nodes), -1);
        if (i == 0 || i + 1 == layers) continue;  // block 0 is computed; the root never reused
        for (int64_t j = 0; j < n; ++j)
          for (int64_t u = 0; u < nodes; ++u)
            reuse[i][static_cast<size_t>(j * nodes + u)] =
                reuse_row(local_map.data() + ts[static_cast<size_t>(j)] * window + u * rf_of[i],
                          rf_of[i], r, frames, rows_of[i]);
      }
      for (int64_t j = 0; j < n; ++j) need[layers - 1][static_cast<size_t>(j)] = 1;
      for (size_t i = layers - 1; i >= 1; --i) {
        const int64_t nodes = window / rf_of[i];
        for (int64_t e = 0; e < n * nodes; ++e) {
          if (!need[i][static_cast<size_t>(e)] || reuse[i][static_cast<size_t>(e)] >= 0) continue;
          const int64_t j = e / nodes, u = e % nodes;
          for (int64_t ch = 0; ch < fw[i]; ++ch)
            need[i - 1][static_cast<size_t>(j * (nodes * fw[i]) + u * fw[i] + ch)] = 1;
        }
      }
      // Evaluates block i on `inputs` of copy cp into out[i][static_cast<size_t>(cp)], after its
      // dilated rows.
      auto eval_into = [&](size_t i, int64_t cp, const Tensor& inputs) {
        const Tensor y = model.eval_block(i, inputs, &folded);
        const int64_t m = y.size(0);
        if (trace[i] == 0) {
          out[i][static_cast<size_t>(cp)] = y.view({m, c});
        } else {
          out[i][static_cast<size_t>(cp)].narrow(trace[i], m).copy_from(y);
        }
      };
      // Block 0 on the nodes a computed parent reads: their 2D rows gathered through a
      // (nodes, filter_widths[0]) map of local frames.
      {
        std::vector<int32_t> node_map;
        index[0].assign(static_cast<size_t>(n * nodes0), -1);
        int64_t m0 = 0;
        for (int64_t e = 0; e < n * nodes0; ++e) {
          if (!need[0][static_cast<size_t>(e)]) continue;
          const int64_t j = e / nodes0, u = e % nodes0;
          index[0][static_cast<size_t>(e)] = m0++;
          const int32_t* slots =
              local_map.data() + ts[static_cast<size_t>(j)] * window + u * rf_of[0];
          node_map.insert(node_map.end(), slots, slots + fw[0]);
        }
        for (int64_t cp = 0; cp < copies; ++cp)
          eval_into(0, cp, gather(cp == 0 ? src : src_flip, node_map, fw[0]));
        if (stats != nullptr) stats->blocks_computed += m0;
      }
      for (size_t i = 1; i < layers; ++i) {
        const int64_t nodes = window / rf_of[i], child_nodes = nodes * fw[i];
        std::vector<int64_t> todo;
        for (int64_t e = 0; e < n * nodes; ++e)
          if (need[i][static_cast<size_t>(e)] && reuse[i][static_cast<size_t>(e)] < 0)
            todo.push_back(e);
        index[i].assign(static_cast<size_t>(n * nodes), -1);
        if (stats != nullptr) {
          stats->blocks_computed += static_cast<int64_t>(todo.size());
          for (int64_t e = 0; e < n * nodes; ++e)
            stats->blocks_reused +=
                need[i][static_cast<size_t>(e)] && reuse[i][static_cast<size_t>(e)] >= 0;
        }
        for (size_t q = 0; q < todo.size(); ++q) index[i][static_cast<size_t>(todo[q])] = q;
        if (todo.empty()) continue;
        for (int64_t cp = 0; cp < copies; ++cp) {
          // Each child's row in out[i - 1][static_cast<size_t>(cp)]: the dilated pass's, or this
          // batch's computed one.
          std::vector<int32_t> child_rows;
          for (const int64_t e : todo) {
            const int64_t j = e / nodes, u = e % nodes;
            for (int64_t ch = 0; ch < fw[i]; ++ch) {
              const int64_t child = j * child_nodes + u * fw[i] + ch;
              const int64_t rr = reuse[i - 1][static_cast<size_t>(child)];
              child_rows.push_back(static_cast<int32_t>(
                  rr >= 0 ? rr : trace[i - 1] + index[i - 1][static_cast<size_t>(child)]));
            }
          }
          eval_into(i, cp, gather(out[i - 1][static_cast<size_t>(cp)], child_rows, fw[i]));
        }
      }
      // The roots through the head; un-flip and average under TTA, as predict_sequence.
      std::vector<std::vector<float>> y(static_cast<size_t>(copies));
      for (int64_t cp = 0; cp < copies; ++cp)
        y[static_cast<size_t>(cp)] =
            model.eval_head(out[layers - 1][static_cast<size_t>(cp)].view({n, 1, c})).to_vector();
      for (int64_t j = 0; j < n; ++j) {
        float* dst = pred.data() + ts[static_cast<size_t>(j)] * out_row;
        const float* a = y[0].data() + j * out_row;
        if (!flip_tta) {
          std::copy(a, a + out_row, dst);
          continue;
        }
        const float* f = y[1].data() + j * out_row;
        for (int64_t jj = 0; jj < jo; ++jj) {
          const float* mirror = f + perm[static_cast<size_t>(jj)] * 3;
          dst[jj * 3 + 0] = 0.5f * (a[jj * 3 + 0] - mirror[0]);
          dst[jj * 3 + 1] = 0.5f * (a[jj * 3 + 1] + mirror[1]);
          dst[jj * 3 + 2] = 0.5f * (a[jj * 3 + 2] + mirror[2]);
        }
      }
    }
    result.push_back(std::move(pred));
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

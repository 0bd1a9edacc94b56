// Inference readers, the whole-sequence forward and the writers (trainer/infer.h).
#include "trainer/infer.h"

#include <unistd.h>

#include <H5Cpp.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "data/batches.h"
#include "data/camera.h"
#include "data/dataset.h"
#include "data/h5_util.h"
#include "kernels/common.h"
#include "trainer/predict.h"

namespace v3d {

namespace {

constexpr int kCocoKeypoints = 17;
constexpr const char* kInferFormat = "v3d-infer";
constexpr int kInferVersion = 1;

std::string temp_path(const std::string& path) {
  return path + ".tmp-" + std::to_string(static_cast<long long>(::getpid()));
}

// Renames `tmp` over `path`, removing `tmp` on failure.
void commit(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(path + ": cannot rename the temporary file into place");
  }
}

void validate_result(const InferResult& r, const std::string& path) {
  if (r.name.empty()) throw Error(path + ": a result has an empty name");
  std::stringstream parts(r.name);
  std::string part;
  if (r.name.front() == '/' || r.name.back() == '/')
    throw Error(path + ": result name '" + r.name + "' starts or ends with '/'");
  while (std::getline(parts, part, '/')) {
    if (part.empty() || part == "." || part == "..")
      throw Error(path + ": result name '" + r.name + "' has an empty, '.' or '..' component");
  }
  if (r.frames < 1 || r.joints < 1)
    throw Error(path + ": " + r.name + ": frames " + std::to_string(r.frames) + " and joints " +
                std::to_string(r.joints) + " must be >= 1");
  if (static_cast<int64_t>(r.positions_3d.size()) != r.frames * r.joints * 3)
    throw Error(path + ": " + r.name + ": positions_3d has " +
                std::to_string(r.positions_3d.size()) + " values, expected (" +
                std::to_string(r.frames) + ", " + std::to_string(r.joints) + ", 3)");
}

void validate_results(const std::vector<InferResult>& results, const std::string& path) {
  if (results.empty()) throw Error(path + ": no results to write");
  std::set<std::string> names;
  for (const auto& r : results) {
    validate_result(r, path);
    if (!names.insert(r.name).second) throw Error(path + ": result name '" + r.name + "' twice");
  }
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A JSON member as an int64 frame number >= 0; throws naming the entry.
int64_t frame_number(const nlohmann::json& v, const std::string& where, const char* field) {
  if (!v.is_number_integer())
    throw Error(where + ": \"" + field + "\" must be an integer, got " + v.dump());
  const int64_t f = v.get<int64_t>();
  if (f < 0) throw Error(where + ": \"" + field + "\" must be >= 0, got " + std::to_string(f));
  return f;
}

}  // namespace

void validate_infer_input(const InferInput& in, const std::string& origin) {
  const std::string where = origin + ": " + (in.name.empty() ? std::string("input") : in.name);
  if (in.name.empty()) throw Error(origin + ": an input has an empty name");
  if (in.frames < 1)
    throw Error(where + ": frames is " + std::to_string(in.frames) + ", expected >= 1");
  if (in.joints < 1)
    throw Error(where + ": joints is " + std::to_string(in.joints) + ", expected >= 1");
  if (in.res_w <= 0 || in.res_h <= 0)
    throw Error(where + ": resolution " + std::to_string(in.res_w) + "x" +
                std::to_string(in.res_h) + " must be positive");
  if (static_cast<int64_t>(in.keypoints_px.size()) != in.frames * in.joints * 2)
    throw Error(where + ": keypoints has " + std::to_string(in.keypoints_px.size()) +
                " values, expected (" + std::to_string(in.frames) + ", " +
                std::to_string(in.joints) + ", 2)");
  const data::Skeleton& layout = data::Skeleton::by_name(in.keypoints);
  if (layout.num_joints() != in.joints)
    throw Error(where + ": " + std::to_string(in.joints) + " keypoints but layout " + in.keypoints +
                " has " + std::to_string(layout.num_joints()));
  for (size_t i = 0; i < in.keypoints_px.size(); ++i) {
    if (!std::isfinite(in.keypoints_px[i])) {
      const int64_t per_frame = int64_t{in.joints} * 2;
      const int64_t f = static_cast<int64_t>(i) / per_frame;
      const int64_t j = static_cast<int64_t>(i) % per_frame / 2;
      throw Error(where + ": keypoints frame " + std::to_string(in.first_frame + f) + " keypoint " +
                  std::to_string(j) + " is not finite");
    }
  }
}

std::vector<InferInput> read_infer_input_h5(const std::string& path, int camera, bool pseudo_coco) {
  const data::Dataset ds = data::read_dataset(path);
  data::PrepareSpec spec;
  spec.subjects.clear();
  for (const auto& [subject, sd] : ds.subjects) {
    if (sd.cameras.count(camera) != 0) spec.subjects.push_back(subject);
  }
  if (spec.subjects.empty())
    throw Error(path + ": /subjects/*/cameras/" + std::to_string(camera) +
                ": no subject has camera " + std::to_string(camera));
  spec.cameras = {camera};
  spec.pseudo_coco = pseudo_coco;
  std::vector<data::Sequence> seqs;
  try {
    seqs = data::prepare_sequences(ds, spec);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  const int joints = ds.skeleton.num_joints();
  std::vector<InferInput> out;
  for (auto& seq : seqs) {
    const data::Camera& cam = ds.subjects.at(seq.subject).cameras.at(camera);
    InferInput in;
    in.name = seq.subject + "/" + seq.action;
    in.frames = seq.frames;
    in.joints = joints;
    in.res_w = cam.res_w;
    in.res_h = cam.res_h;
    in.keypoints = pseudo_coco ? "coco17" : ds.skeleton.name;
    if (in.res_w <= 0 || in.res_h <= 0)
      throw Error(path + ": /subjects/" + seq.subject + "/cameras/" + std::to_string(camera) +
                  ": no resolution (res_w " + std::to_string(cam.res_w) + ", res_h " +
                  std::to_string(cam.res_h) + ")");
    // prepare_sequences normalised (stored) or projected (normalised already); back to pixels.
    in.keypoints_px = data::image_coordinates(seq.poses_2d, cam.res_w, cam.res_h);
    validate_infer_input(in, path);
    out.push_back(std::move(in));
  }
  if (out.empty())
    throw Error(path + ": no sequence has 2D or projectable 3D for camera " +
                std::to_string(camera));
  return out;
}

std::vector<InferInput> read_infer_input_coco_json(const std::string& path, int res_w, int res_h) {
  if (res_w <= 0 || res_h <= 0)
    throw Error(path + ": resolution " + std::to_string(res_w) + "x" + std::to_string(res_h) +
                " must be positive");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  const nlohmann::json* entries = &doc;
  if (doc.is_object()) {
    if (!doc.contains("annotations"))
      throw Error(path +
                  ": expected an array of per-frame objects or an object with "
                  "\"annotations\"");
    entries = &doc["annotations"];
  }
  if (!entries->is_array())
    throw Error(path + ": expected an array of per-frame objects, got " +
                std::string(entries->type_name()));
  if (entries->empty()) throw Error(path + ": no keypoint entries (empty file)");

  std::map<int64_t, std::vector<float>> frames;  // frame number -> (17, 2) pixels
  for (size_t i = 0; i < entries->size(); ++i) {
    const nlohmann::json& e = (*entries)[i];
    std::string where = path + ": entry " + std::to_string(i);
    if (!e.is_object()) throw Error(where + ": expected an object, got " + e.type_name());
    int64_t frame = 0;
    if (e.contains("frame")) {
      frame = frame_number(e["frame"], where, "frame");
    } else if (e.contains("image_id")) {
      frame = frame_number(e["image_id"], where, "image_id");
    } else {
      throw Error(where + ": no \"frame\" or \"image_id\"");
    }
    where += " (frame " + std::to_string(frame) + ")";
    if (!e.contains("keypoints")) throw Error(where + ": no \"keypoints\"");
    const nlohmann::json& kp = e["keypoints"];
    if (!kp.is_array()) throw Error(where + ": \"keypoints\" must be an array");
    if (kp.size() != 3 * kCocoKeypoints)
      throw Error(where + ": \"keypoints\" has " + std::to_string(kp.size()) +
                  " values, expected 51 (x, y, v for 17 COCO keypoints)");
    std::vector<float> xy(2 * kCocoKeypoints);
    for (int j = 0; j < kCocoKeypoints; ++j) {
      for (int c = 0; c < 2; ++c) {
        const nlohmann::json& v = kp[static_cast<size_t>(3 * j + c)];
        const double x = v.is_number() ? v.get<double>() : NAN;
        if (!std::isfinite(x))
          throw Error(where + ": \"keypoints\"[" + std::to_string(3 * j + c) +
                      "] must be a finite number, got " + v.dump());
        xy[static_cast<size_t>(2 * j + c)] = static_cast<float>(x);
      }
    }
    if (!frames.emplace(frame, std::move(xy)).second)
      throw Error(where + ": a second person for frame " + std::to_string(frame) +
                  " (one person per frame)");
  }

  InferInput in;
  in.name = std::filesystem::path(path).stem().string();
  if (in.name.empty()) in.name = "input";
  in.first_frame = frames.begin()->first;
  in.frames = frames.rbegin()->first - in.first_frame + 1;
  in.joints = kCocoKeypoints;
  in.res_w = res_w;
  in.res_h = res_h;
  in.keypoints = "coco17";
  in.keypoints_px.reserve(static_cast<size_t>(in.frames * 2 * kCocoKeypoints));
  const std::vector<float>* last = nullptr;
  for (int64_t t = 0; t < in.frames; ++t) {
    const auto it = frames.find(in.first_frame + t);
    if (it != frames.end()) last = &it->second;  // the first frame is always present
    in.keypoints_px.insert(in.keypoints_px.end(), last->begin(), last->end());
  }
  validate_infer_input(in, path);
  return {std::move(in)};
}

std::vector<float> infer_3d(TemporalModel& model, const InferInput& input, bool flip_tta,
                            const LtbOptions* ltb, LtbStats* stats,
                            const TemporalModel::FoldedWeights* folded) {
  return std::move(
      infer_3d(model, std::vector<InferInput>{input}, flip_tta, ltb, stats, folded).front());
}

std::vector<std::vector<float>> infer_3d(TemporalModel& model,
                                         const std::vector<InferInput>& inputs, bool flip_tta,
                                         const LtbOptions* ltb, LtbStats* stats,
                                         const TemporalModel::FoldedWeights* folded) {
  if (inputs.empty()) return {};
  for (const InferInput& in : inputs) validate_infer_input(in, "infer");
  const data::Skeleton& keypoints = data::Skeleton::by_name(inputs.front().keypoints);
  for (const InferInput& in : inputs)
    V3D_CHECK(in.keypoints == inputs.front().keypoints,
              "infer: " << in.name << " has " << in.keypoints << " keypoints, "
                        << inputs.front().name << " " << inputs.front().keypoints);
  const data::Skeleton& joints = data::Skeleton::h36m17();
  std::vector<data::Sequence> seqs(inputs.size());
  std::vector<const data::Sequence*> ptrs;
  std::vector<std::span<const float>> views;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const InferInput& in = inputs[k];
    data::Sequence& seq = seqs[k];
    seq.subject = in.name;
    seq.action = in.name;
    seq.frames = in.frames;
    seq.poses_2d = data::normalize_screen_coordinates(in.keypoints_px, in.res_w, in.res_h);
    ptrs.push_back(&seq);
    views.emplace_back(seq.poses_2d);
  }
  if (ltb == nullptr) return predict_sequences(model, ptrs, keypoints, joints, flip_tta, folded);
  const LtbPlan plan = plan_ltb(views, keypoints.num_joints(), ltb_parents(keypoints),
                                (model.receptive_field() - 1) / 2, *ltb, model.device());
  return predict_with_ltb(model, ptrs, plan, keypoints, joints, flip_tta, stats, nullptr, folded);
}

void check_infer_layout(const RestoredModel& model, const InferInput& input,
                        const std::string& origin) {
  if (input.keypoints == model.keypoints->name) return;
  if (input.keypoints == "coco17")
    throw Error(origin +
                ": COCO-17 keypoints need a checkpoint trained on them (config "
                "data.keypoints: pseudo_coco); this checkpoint was trained on " +
                model.keypoints->name +
                " keypoints (data.keypoints: " + model.config.data.keypoints + ")");
  throw Error(origin + ": the input's keypoints are " + input.keypoints +
              " but the checkpoint was trained on " + model.keypoints->name +
              " (data.keypoints: " + model.config.data.keypoints + ")");
}

void write_infer_h5(const std::string& path, const std::vector<InferResult>& results) {
  validate_results(results, path);
  data::h5::write_file_atomically(path, [&](H5::H5File& file) {
    H5::Group root = file.openGroup("/");
    data::h5::write_string_attr(root, "format", kInferFormat);
    H5::Attribute ver =
        root.createAttribute("version", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR));
    const int version = kInferVersion;
    ver.write(H5::PredType::NATIVE_INT, &version);
    H5::LinkCreatPropList lcpl;
    lcpl.setCreateIntermediateGroup(true);
    for (const auto& r : results) {
      const std::string object = "/" + r.name + "/positions_3d";
      const hsize_t dims[3] = {static_cast<hsize_t>(r.frames), static_cast<hsize_t>(r.joints), 3};
      H5::DataSet ds = file.createDataSet(object, H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims),
                                          H5::DSetCreatPropList(), H5::DSetAccPropList(), lcpl);
      ds.write(r.positions_3d.data(), H5::PredType::NATIVE_FLOAT);
      H5::Attribute first =
          ds.createAttribute("first_frame", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR));
      const int64_t ff = r.first_frame;
      first.write(H5::PredType::NATIVE_INT64, &ff);
    }
  });
}

void write_infer_csv(const std::string& path, const std::vector<InferResult>& results) {
  validate_results(results, path);
  const std::string tmp = temp_path(path);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << "name,frame,joint,x,y,z\n";
    char buf[96];
    for (const auto& r : results) {
      const std::string name = csv_field(r.name);
      for (int64_t t = 0; t < r.frames; ++t) {
        for (int j = 0; j < r.joints; ++j) {
          const float* p = r.positions_3d.data() + (t * r.joints + j) * 3;
          std::snprintf(buf, sizeof(buf), ",%lld,%d,%.9g,%.9g,%.9g\n",
                        static_cast<long long>(r.first_frame + t), j, static_cast<double>(p[0]),
                        static_cast<double>(p[1]), static_cast<double>(p[2]));
          f << name << buf;
        }
      }
    }
    f.close();
    if (!f) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(path + ": cannot write");
    }
  }
  commit(tmp, path);
}

}  // namespace v3d

// Readers of inference inputs (data/infer_input.h).
#include "data/infer_input.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "data/batches.h"
#include "data/camera.h"
#include "data/dataset.h"
#include "data/skeleton.h"
#include "kernels/common.h"
#include "kernels/text.h"

namespace v3d::data {

namespace {

constexpr int kCocoKeypoints = 17;

// A JSON value as a message shows it: a scalar as a short excerpt of its text, a container by its
// size, so that neither a deeply nested value (dump() recurses once per level) nor a huge one is
// printed.
std::string describe(const nlohmann::json& v) {
  if (v.is_array()) return "an array of " + std::to_string(v.size()) + " element(s)";
  if (v.is_object()) return "an object of " + std::to_string(v.size()) + " member(s)";
  return excerpt(v.dump(), 40);
}

// A JSON member as an int64 frame number >= 0; throws naming the entry.
int64_t frame_number(const nlohmann::json& v, const std::string& where, const char* field) {
  const std::string name = std::string("\"") + field + "\"";
  if (!v.is_number_integer())
    throw Error(where + ": " + name + " must be an integer, got " + describe(v));
  // Unsigned values beyond int64 would wrap to negative numbers.
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw Error(where + ": " + name + " is " + v.dump() + " (expected an integer in [0, " +
                std::to_string(std::numeric_limits<int64_t>::max()) + "])");
  const int64_t f = v.get<int64_t>();
  if (f < 0) throw Error(where + ": " + name + " must be >= 0, got " + std::to_string(f));
  return f;
}

// `joints` keypoints (x, y) from a JSON array of joints * stride numbers, x and y the first two of
// each joint's `stride` values, as pixels; throws naming `where` and the element.
std::vector<float> keypoint_pixels(const nlohmann::json& kp, int joints, int stride,
                                   const std::string& where) {
  std::vector<float> xy(static_cast<size_t>(2 * joints));
  for (int j = 0; j < joints; ++j) {
    for (int c = 0; c < 2; ++c) {
      const nlohmann::json& v = kp[static_cast<size_t>(stride * j + c)];
      const double x = v.is_number() ? v.get<double>() : NAN;
      // Beyond float's range a finite double would turn into infinity.
      if (!std::isfinite(x) || std::fabs(x) > std::numeric_limits<float>::max())
        throw Error(where + ": \"keypoints\"[" + std::to_string(stride * j + c) +
                    "] must be a finite number, got " + describe(v));
      xy[static_cast<size_t>(2 * j + c)] = static_cast<float>(x);
    }
  }
  return xy;
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
  const Skeleton& layout = Skeleton::by_name(in.keypoints);
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
  const Dataset ds = read_dataset(path);
  PrepareSpec spec;
  spec.subjects.clear();
  for (const auto& [subject, sd] : ds.subjects) {
    if (sd.cameras.count(camera) != 0) spec.subjects.push_back(subject);
  }
  if (spec.subjects.empty())
    throw Error(path + ": /subjects/*/cameras/" + std::to_string(camera) +
                ": no subject has camera " + std::to_string(camera));
  spec.cameras = {camera};
  spec.pseudo_coco = pseudo_coco;
  std::vector<Sequence> seqs;
  try {
    seqs = prepare_sequences(ds, spec);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  const int joints = ds.skeleton.num_joints();
  std::vector<InferInput> out;
  for (auto& seq : seqs) {
    const Camera& cam = ds.subjects.at(seq.subject).cameras.at(camera);
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
    in.keypoints_px = image_coordinates(seq.poses_2d, cam.res_w, cam.res_h);
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
    throw Error(path + ": invalid JSON: " + excerpt(e.what(), 200));
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
    if (!e.is_object()) throw Error(where + ": expected an object, got " + describe(e));
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
    std::vector<float> xy = keypoint_pixels(kp, kCocoKeypoints, 3, where);
    if (!frames.emplace(frame, std::move(xy)).second)
      throw Error(where + ": a second person for frame " + std::to_string(frame) +
                  " (one person per frame)");
  }

  InferInput in;
  in.name = std::filesystem::path(path).stem().string();
  if (in.name.empty()) in.name = "input";
  in.first_frame = frames.begin()->first;
  // Missing frames repeat the previous one, so a gap costs memory: the span is bounded first.
  const int64_t last_frame = frames.rbegin()->first;
  if (last_frame - in.first_frame >= kMaxFrames)
    throw Error(path + ": frames " + std::to_string(in.first_frame) + " to " +
                std::to_string(last_frame) + " (expected at most " + std::to_string(kMaxFrames) +
                " frames from the first to the last)");
  in.frames = last_frame - in.first_frame + 1;
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

StreamFrame parse_stream_frame(std::string_view line, int joints) {
  V3D_CHECK(joints >= 1, "stream: " << joints << " keypoints");
  nlohmann::json e;
  try {
    e = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& ex) {
    throw Error("invalid JSON: " + excerpt(ex.what(), 200));
  }
  if (!e.is_object()) throw Error("expected an object, got " + describe(e));
  if (!e.contains("track")) throw Error("no \"track\"");
  const nlohmann::json& track = e["track"];
  StreamFrame f;
  if (track.is_string()) {
    if (track.get<std::string>().empty() || track.get<std::string>().size() > kMaxTrackChars)
      throw Error("\"track\" must be a string of 1 to " + std::to_string(kMaxTrackChars) +
                  " characters, got " + describe(track));
  } else if (!track.is_number_unsigned() &&
             !(track.is_number_integer() && track.get<int64_t>() >= 0)) {
    throw Error("\"track\" must be a string or an integer >= 0, got " + describe(track));
  }
  f.track = track.dump();
  const std::string where = "track " + excerpt(f.track, 40);
  if (!e.contains("keypoints")) throw Error(where + ": no \"keypoints\"");
  const nlohmann::json& kp = e["keypoints"];
  if (!kp.is_array()) throw Error(where + ": \"keypoints\" must be an array, got " + describe(kp));
  const size_t n = kp.size(), j = static_cast<size_t>(joints);
  if (n != 2 * j && n != 3 * j)
    throw Error(where + ": \"keypoints\" has " + std::to_string(n) + " values, expected " +
                std::to_string(2 * j) + " (x, y per keypoint) or " + std::to_string(3 * j) +
                " (x, y, score)");
  f.keypoints_px = keypoint_pixels(kp, joints, n == 2 * j ? 2 : 3, where);
  if (e.contains("scores")) {
    const nlohmann::json& sc = e["scores"];
    if (!sc.is_array() || sc.size() != j)
      throw Error(where + ": \"scores\" must be an array of " + std::to_string(j) +
                  " numbers, got " + describe(sc));
    for (size_t i = 0; i < j; ++i)
      if (!sc[i].is_number() || !std::isfinite(sc[i].get<double>()))
        throw Error(where + ": \"scores\"[" + std::to_string(i) +
                    "] must be a finite number, got " + describe(sc[i]));
  }
  return f;
}

}  // namespace v3d::data

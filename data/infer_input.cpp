// Readers of inference inputs (data/infer_input.h).
#include "data/infer_input.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "data/batches.h"
#include "data/camera.h"
#include "data/dataset.h"
#include "data/h36m_archive.h"
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

// `joints` keypoints (x, y, score) from a JSON array of joints * 3 numbers; throws naming `where`
// and the element.
std::vector<float> keypoint_values(const nlohmann::json& kp, int joints, const std::string& where) {
  const std::vector<float> xy = keypoint_pixels(kp, joints, 3, where);
  std::vector<float> out(static_cast<size_t>(3 * joints));
  for (int j = 0; j < joints; ++j) {
    const size_t s = static_cast<size_t>(3 * j + 2);
    const nlohmann::json& v = kp[s];
    const double score = v.is_number() ? v.get<double>() : NAN;
    if (!std::isfinite(score) || std::fabs(score) > std::numeric_limits<float>::max())
      throw Error(where + ": \"keypoints\"[" + std::to_string(s) +
                  "] (a score) must be a finite number, got " + describe(v));
    out[s - 2] = xy[static_cast<size_t>(2 * j)];
    out[s - 1] = xy[static_cast<size_t>(2 * j + 1)];
    out[s] = static_cast<float>(score);
  }
  return out;
}

// A "track_id" as the text of an output name; throws naming `where`.
std::string track_id(const nlohmann::json& v, const std::string& where) {
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) return v.dump();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (!s.empty() && s.size() <= kMaxTrackChars && s.find('/') == std::string::npos && s != "." &&
        s != "..")
      return s;
  }
  throw Error(where + ": \"track_id\" must be an integer >= 0 or a string of 1 to " +
              std::to_string(kMaxTrackChars) +
              " characters without '/' (not \".\" or \"..\"), got " + describe(v));
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
  // A file with a detector's keypoints (keypoints_2d) gives them as stored; else the skeleton's
  // 2D, or COCO-17 made from it.
  spec.keypoints_2d = ds.keypoints_2d;
  spec.pseudo_coco = pseudo_coco && ds.keypoints_2d.empty();
  std::vector<Sequence> seqs;
  try {
    seqs = prepare_sequences(ds, spec);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  const int joints = spec.pseudo_coco ? 17 : ds.skeleton_2d().num_joints();
  std::vector<InferInput> out;
  for (auto& seq : seqs) {
    const Camera& cam = ds.subjects.at(seq.subject).cameras.at(camera);
    InferInput in;
    in.name = seq.subject + "/" + seq.action;
    in.frames = seq.frames;
    in.joints = joints;
    in.res_w = cam.res_w;
    in.res_h = cam.res_h;
    in.keypoints = spec.pseudo_coco ? "coco17" : ds.skeleton_2d().name;
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

std::vector<InferInput> read_infer_input_coco_json(const std::string& path, int res_w, int res_h,
                                                   const CocoJsonOptions& options) {
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

  std::vector<Detection> detections;
  std::vector<std::string> ids;  // the entries' "track_id" as text, when the file has them
  for (size_t i = 0; i < entries->size(); ++i) {
    const nlohmann::json& e = (*entries)[i];
    std::string where = path + ": entry " + std::to_string(i);
    if (!e.is_object()) throw Error(where + ": expected an object, got " + describe(e));
    Detection d;
    if (e.contains("frame")) {
      d.frame = frame_number(e["frame"], where, "frame");
    } else if (e.contains("image_id")) {
      d.frame = frame_number(e["image_id"], where, "image_id");
    } else {
      throw Error(where + ": no \"frame\" or \"image_id\"");
    }
    where += " (frame " + std::to_string(d.frame) + ")";
    const bool has_id = e.contains("track_id");
    if (i > 0 && has_id == ids.empty())
      throw Error(where + ": \"track_id\" " +
                  (ids.empty() ? "present, but entry 0 has none" : "missing, but entry 0 has one") +
                  " (every entry or none)");
    if (has_id) ids.push_back(track_id(e["track_id"], where));
    if (!e.contains("keypoints")) throw Error(where + ": no \"keypoints\"");
    const nlohmann::json& kp = e["keypoints"];
    if (!kp.is_array()) throw Error(where + ": \"keypoints\" must be an array");
    if (kp.size() != 3 * kCocoKeypoints)
      throw Error(where + ": \"keypoints\" has " + std::to_string(kp.size()) +
                  " values, expected 51 (x, y, score for 17 COCO keypoints)");
    d.keypoints = keypoint_values(kp, kCocoKeypoints, where);
    detections.push_back(std::move(d));
  }

  // The tracker compares the people of a frame with those of the frames before: bounded first.
  std::map<int64_t, int> per_frame;
  for (size_t i = 0; i < detections.size(); ++i)
    if (++per_frame[detections[i].frame] > kMaxPeoplePerFrame)
      throw Error(path + ": entry " + std::to_string(i) + " (frame " +
                  std::to_string(detections[i].frame) + "): more than " +
                  std::to_string(kMaxPeoplePerFrame) + " people in one frame");

  // Each track's entries, tracks in order of first appearance (first frame, then entry).
  std::vector<std::string> names;  // track -> its id
  std::vector<int> track(detections.size());
  const bool one_person =
      std::all_of(per_frame.begin(), per_frame.end(), [](const auto& n) { return n.second == 1; });
  if (ids.empty() && one_person) {
    names = {"0"};  // one track, whatever its motion between frames
  } else if (ids.empty()) {
    track = assign_tracks(detections, kCocoKeypoints, options.tracker);
    for (int t : track) names.resize(std::max(names.size(), static_cast<size_t>(t) + 1));
    for (size_t k = 0; k < names.size(); ++k) names[k] = std::to_string(k);
  } else {
    std::map<std::string, int> index;
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto [it, added] = index.emplace(ids[i], static_cast<int>(names.size()));
      if (added) names.push_back(ids[i]);
      track[i] = it->second;
    }
  }
  std::vector<std::vector<size_t>> members(names.size());
  for (size_t i = 0; i < detections.size(); ++i)
    members[static_cast<size_t>(track[i])].push_back(i);
  for (auto& m : members)
    std::stable_sort(m.begin(), m.end(),
                     [&](size_t a, size_t b) { return detections[a].frame < detections[b].frame; });
  std::vector<size_t> order(names.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const size_t ea = members[a].front(), eb = members[b].front();
    const int64_t fa = detections[ea].frame, fb = detections[eb].frame;
    return fa != fb ? fa < fb : ea < eb;
  });

  std::string stem = std::filesystem::path(path).stem().string();
  if (stem.empty()) stem = "input";
  // Every track's span is bounded, alone and together, before any is filled.
  std::vector<InferInput> out;
  std::vector<std::vector<const Detection*>> track_detections;
  int64_t total_frames = 0;
  for (size_t k : order) {
    const std::vector<size_t>& m = members[k];
    std::vector<const Detection*> dets;
    for (size_t i = 0; i < m.size(); ++i) {
      if (i > 0 && detections[m[i]].frame == detections[m[i - 1]].frame)
        throw Error(path + ": entry " + std::to_string(m[i]) + " (frame " +
                    std::to_string(detections[m[i]].frame) + "): a second entry of track " +
                    names[k] + " in frame " + std::to_string(detections[m[i]].frame) + " (entry " +
                    std::to_string(m[i - 1]) + ")");
      dets.push_back(&detections[m[i]]);
    }
    InferInput in;
    in.track = names[k];
    in.name = stem + "/" + in.track;
    in.first_frame = dets.front()->frame;
    // A track spans its first to its last frame, gaps included.
    const int64_t last_frame = dets.back()->frame;
    if (last_frame - in.first_frame >= kMaxFrames)
      throw Error(path + ": track " + in.track + ": frames " + std::to_string(in.first_frame) +
                  " to " + std::to_string(last_frame) + " (expected at most " +
                  std::to_string(kMaxFrames) + " frames from the first to the last)");
    in.frames = last_frame - in.first_frame + 1;
    total_frames += in.frames;
    if (total_frames > kMaxFrames)
      throw Error(path + ": track " + in.track + ": the tracks up to it span " +
                  std::to_string(total_frames) + " frames together (expected at most " +
                  std::to_string(kMaxFrames) + ")");
    in.joints = kCocoKeypoints;
    in.res_w = res_w;
    in.res_h = res_h;
    in.keypoints = "coco17";
    out.push_back(std::move(in));
    track_detections.push_back(std::move(dets));
  }
  for (size_t k = 0; k < out.size(); ++k) {
    out[k].keypoints_px =
        fill_track(track_detections[k], kCocoKeypoints, options.tracker.min_score);
    validate_infer_input(out[k], path);
  }
  return out;
}

std::vector<InferInput> read_infer_input_vp3d_npz(const std::string& path,
                                                  const std::string& script) {
  static std::atomic<int> calls{0};
  const std::filesystem::path tmp =
      std::filesystem::temp_directory_path() /
      ("v3d-custom-2d-" + std::to_string(static_cast<long>(getpid())) + "-" +
       std::to_string(calls++) + ".json");
  struct Remove {
    std::filesystem::path p;
    ~Remove() {
      std::error_code ignored;
      std::filesystem::remove(p, ignored);
    }
  } remove_tmp{tmp};
  run_convert_npz({"custom-2d", "--npz", path, "--out", tmp.string()}, script);

  // The script checked the file; what it wrote is checked again as any input is.
  std::ifstream f(tmp, std::ios::binary);
  V3D_CHECK(f.good(), path << ": convert_npz.py custom-2d wrote no " << tmp.string());
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": convert_npz.py custom-2d: invalid JSON: " + excerpt(e.what(), 200));
  }
  const std::string where = path + ": convert_npz.py custom-2d";
  if (!doc.is_object() || !doc.contains("layout") || !doc["layout"].is_string() ||
      !doc.contains("videos") || !doc["videos"].is_array())
    throw Error(where + ": expected {\"layout\", \"videos\"}");
  const std::string layout = doc["layout"].get<std::string>();
  const int joints = Skeleton::by_name(layout).num_joints();
  std::vector<InferInput> out;
  for (const nlohmann::json& v : doc["videos"]) {
    if (!v.is_object() || !v.contains("name") || !v["name"].is_string() ||
        !v.contains("keypoints") || !v["keypoints"].is_array() || !v.contains("res_w") ||
        !v["res_w"].is_number_integer() || !v.contains("res_h") || !v["res_h"].is_number_integer())
      throw Error(where + ": video " + std::to_string(out.size()) +
                  ": expected {\"name\", \"res_w\", \"res_h\", \"keypoints\"}");
    InferInput in;
    in.name = v["name"].get<std::string>();
    const std::string at = path + ": positions_2d[" + excerpt(in.name, 80) + "]";
    const nlohmann::json& rows = v["keypoints"];
    if (static_cast<int64_t>(rows.size()) > kMaxFrames)
      throw Error(at + ": " + std::to_string(rows.size()) + " frames (expected at most " +
                  std::to_string(kMaxFrames) + ")");
    const int64_t w = v["res_w"].get<int64_t>(), h = v["res_h"].get<int64_t>();
    if (w < 1 || h < 1 || w > std::numeric_limits<int>::max() ||
        h > std::numeric_limits<int>::max())
      throw Error(path + ": metadata: video_metadata[" + excerpt(in.name, 80) + "]: size " +
                  std::to_string(w) + "x" + std::to_string(h) + " must be positive");
    in.res_w = static_cast<int>(w);
    in.res_h = static_cast<int>(h);
    in.frames = static_cast<int64_t>(rows.size());
    in.joints = joints;
    in.keypoints = layout;
    in.keypoints_px.reserve(rows.size() * static_cast<size_t>(2 * joints));
    for (size_t t = 0; t < rows.size(); ++t) {
      const std::string row = at + ": frame " + std::to_string(t);
      if (!rows[t].is_array() || rows[t].size() != static_cast<size_t>(2 * joints))
        throw Error(row + ": expected " + std::to_string(2 * joints) + " numbers, got " +
                    describe(rows[t]));
      const std::vector<float> xy = keypoint_pixels(rows[t], joints, 2, row);
      in.keypoints_px.insert(in.keypoints_px.end(), xy.begin(), xy.end());
    }
    validate_infer_input(in, path);
    out.push_back(std::move(in));
  }
  if (out.empty()) throw Error(path + ": positions_2d: no videos");
  return out;
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

// Writes the seed corpus of every fuzz target: OUT/<target>/ holds small valid inputs of each
// reader, made by v3d's own writers (a pose file with 3D and 2D poses, one with confidences and
// no 3D, checkpoints with and without optimizer state, every shipped config and the defaults,
// COCO JSON in both spellings), each read back by its reader. Usage: v3d_fuzz_seeds OUT
// [CONFIG_DIR] (the shipped configs, configs/).
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/infer_input.h"
#include "data/skeleton.h"
#include "runtime/tensor.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace {

namespace fs = std::filesystem;
using namespace v3d;

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f.flush()) throw Error(path.string() + ": cannot write");
}

data::Camera camera(const std::string& id) {
  data::Camera c;
  c.id = id;
  c.res_w = 1000;
  c.res_h = 1002;
  c.focal = {1145.0f, 1143.8f};
  c.center = {512.5f, 515.5f};
  c.orientation = {0.5f, -0.5f, -0.5f, 0.5f};
  c.translation = {1.84f, 4.96f, 1.56f};
  c.has_extrinsics = true;
  return c;
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(i % 97);
  return v;
}

void pose_files(const fs::path& dir) {
  data::Dataset d;
  d.skeleton = data::Skeleton::h36m17();
  d.subjects["S1"].cameras[0] = camera("54138969");
  d.subjects["S1"].cameras[1] = camera("55011271");
  for (const char* action : {"Walking", "Directions 1"}) {
    data::ActionData& a = d.subjects["S1"].actions[action];
    a.frames = 4;
    a.positions_3d = ramp(4 * 17 * 3, 0.01f);
    a.positions_2d[0] = ramp(4 * 17 * 2, 5.0f);
    a.positions_2d[1] = ramp(4 * 17 * 2, 4.0f);
  }
  data::write_dataset(d, (dir / "h36m17.h5").string());

  data::Dataset detections;
  detections.skeleton = data::Skeleton::coco17();
  detections.fps = 30.0f;
  data::Camera c = camera("0");
  c.has_extrinsics = false;
  detections.subjects["video"].cameras[0] = c;
  data::ActionData& a = detections.subjects["video"].actions["clip"];
  a.frames = 3;
  a.positions_2d[0] = ramp(3 * 17 * 2, 3.0f);
  a.confidence_2d[0] = ramp(3 * 17, 0.01f);
  data::write_dataset(detections, (dir / "coco17_2d.h5").string());
}

void checkpoints(const fs::path& dir) {
  ExperimentConfig config;
  config.model.filter_widths = {3, 3};
  config.model.channels = 8;
  TemporalModel model(temporal_model_config(config.model, 17, 2, 17), Device::cpu(), 1);
  Checkpoint ckpt;
  ckpt.tensors = model.state_dict();
  ckpt.architecture = "3,3";
  ckpt.config_yaml = to_yaml(config);
  ckpt.epoch = 2;
  ckpt.lr = 0.001f;
  ckpt.metadata["created_by"] = "v3d_fuzz_seeds";
  save_checkpoint(ckpt, (dir / "weights_only.ckpt").string());

  const int64_t n = model.parameters().flat_values().numel();
  ckpt.optimizer.steps = 3;
  ckpt.optimizer.exp_avg = Tensor::from_vector(ramp(static_cast<size_t>(n), 1e-3f), Shape{n});
  ckpt.optimizer.exp_avg_sq = Tensor::from_vector(ramp(static_cast<size_t>(n), 1e-6f), Shape{n});
  ckpt.optimizer.max_exp_avg_sq = ckpt.optimizer.exp_avg_sq;
  ckpt.generator_state = "seed 1";
  ckpt.dropout_seed = 7;
  ckpt.dropout_offset = 96;
  save_checkpoint(ckpt, (dir / "training.ckpt").string());
}

void configs(const fs::path& dir, const fs::path& shipped) {
  write_file(dir / "defaults.yaml", to_yaml(ExperimentConfig{}));
  write_file(dir / "overrides.yaml",
             "model:\n  filter_widths: [3, 3]\n  channels: 64\ntrain:\n  epochs: 2\n"
             "  lr: 0.0005\n");
  if (!shipped.empty())
    for (const auto& e : fs::directory_iterator(shipped))
      if (e.path().extension() == ".yaml") fs::copy_file(e.path(), dir / e.path().filename());
}

// One person in one frame, `x0` pixels to the right, with `extra` members ("" or ", ...").
std::string coco_entry(const char* id_key, int frame, int x0 = 0, const std::string& extra = "") {
  std::string s =
      std::string("{\"") + id_key + "\": " + std::to_string(frame) + extra + ", \"keypoints\": [";
  for (int i = 0; i < 51; ++i) {
    if (i > 0) s += ", ";
    s += i % 3 == 2 ? (i == 5 ? "0.1" : "0.9") : std::to_string(100 + x0 + frame * 7 + i);
  }
  return s + "], \"score\": 0.98}";
}

void coco_json(const fs::path& dir) {
  write_file(dir / "list.json", "[" + coco_entry("frame", 0) + ", " + coco_entry("frame", 1) +
                                    ", " + coco_entry("frame", 3) + "]");
  write_file(dir / "annotations.json", "{\"annotations\": [" + coco_entry("image_id", 12) + ", " +
                                           coco_entry("image_id", 11) + "], \"images\": []}");
  // Two people per frame, one missed in frame 2: tracked by IoU, then with track ids.
  write_file(dir / "people.json",
             "[" + coco_entry("frame", 0) + ", " + coco_entry("frame", 0, 400) + ", " +
                 coco_entry("frame", 1, 400) + ", " + coco_entry("frame", 1) + ", " +
                 coco_entry("frame", 2, 400) + ", " + coco_entry("frame", 3) + "]");
  write_file(dir / "tracks.json", "[" + coco_entry("frame", 0, 0, ", \"track_id\": 1") + ", " +
                                      coco_entry("frame", 0, 400, ", \"track_id\": \"b\"") + ", " +
                                      coco_entry("frame", 2, 0, ", \"track_id\": 1") + "]");
}

// `v3d stream` lines: a string track with x, y pairs and scores, an integer track with x, y, score
// triples.
void stream_lines(const fs::path& dir) {
  std::string pairs, triples, scores;
  for (int j = 0; j < 17; ++j) {
    const std::string x = std::to_string(300 + 11 * j), y = std::to_string(200 + 7 * j);
    pairs += (j > 0 ? ", " : "") + x + ", " + y;
    triples += (j > 0 ? ", " : "") + x + ", " + y + ", 0.8";
    scores += (j > 0 ? ", 0." : "0.") + std::to_string(5 + j % 4);
  }
  write_file(dir / "pairs.json",
             "{\"track\": \"cam0\", \"keypoints\": [" + pairs + "], \"scores\": [" + scores + "]}");
  write_file(dir / "triples.json", "{\"track\": 7, \"keypoints\": [" + triples + "]}");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s OUT [CONFIG_DIR]\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out = argv[1];
    for (const char* target : {"pose_file", "checkpoint", "config", "coco_json", "stream_line"}) {
      fs::remove_all(out / target);
      fs::create_directories(out / target);
    }
    pose_files(out / "pose_file");
    checkpoints(out / "checkpoint");
    configs(out / "config", argc == 3 ? fs::path(argv[2]) : fs::path());
    coco_json(out / "coco_json");
    stream_lines(out / "stream_line");
    // Every seed is valid: its reader accepts it (so the fuzz targets start from inputs that
    // reach past the first check, and a reader that refuses a valid file fails here).
    for (const auto& e : fs::directory_iterator(out / "pose_file")) {
      data::read_dataset(e.path().string());
      data::read_infer_input_h5(e.path().string(), 0);
    }
    for (const auto& e : fs::directory_iterator(out / "checkpoint")) {
      const Checkpoint ckpt = load_checkpoint(e.path().string());
      check_checkpoint_values(ckpt, e.path().string());
      parse_config(ckpt.config_yaml, e.path().string());
    }
    for (const auto& e : fs::directory_iterator(out / "config")) load_config(e.path().string());
    for (const auto& e : fs::directory_iterator(out / "coco_json"))
      data::read_infer_input_coco_json(e.path().string(), 1000, 1000);
    for (const auto& e : fs::directory_iterator(out / "stream_line")) {
      std::ifstream f(e.path(), std::ios::binary);
      const std::string line((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      data::parse_stream_frame(line, 17);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}

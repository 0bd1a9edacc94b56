// Helpers shared by the subcommands (apps/app_util.h).
#include "apps/app_util.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <filesystem>

#include "data/atomic_file.h"
#include "kernels/common.h"
#include "kernels/gemm_kernel.h"
#include "runtime/communicator.h"
#include "runtime/device.h"
#include "runtime/temporal_conv.h"
#include "trainer/train.h"

namespace v3d::apps {

void remove_stale_temporaries_beside(const std::string& file) {
  data::remove_stale_temporaries_in(std::filesystem::path(file).parent_path().string());
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::pair<int, int> parse_res(const std::string& text) {
  const size_t x = text.find_first_of("xX");
  try {
    if (x != std::string::npos) {
      size_t used_w = 0, used_h = 0;
      const int w = std::stoi(text.substr(0, x), &used_w);
      const int h = std::stoi(text.substr(x + 1), &used_h);
      if (used_w == x && used_h == text.size() - x - 1 && w > 0 && h > 0) return {w, h};
    }
  } catch (const std::exception&) {
  }
  throw Error("--res: '" + text + "' is not WIDTHxHEIGHT in pixels (e.g. 1000x1002)");
}

std::string input_format(const std::string& path, const std::string& format) {
  const std::string ext = lower_extension(path);
  const std::string f = !format.empty()  ? format
                        : ext == ".json" ? "coco-json"
                        : ext == ".npz"  ? "vp3d-npz"
                                         : "h5";
  if (f != "h5" && f != "coco-json" && f != "vp3d-npz")
    throw Error("--format: '" + f + "' is not one of h5, coco-json, vp3d-npz");
  return f;
}

std::vector<data::InferInput> read_inputs(const std::string& path, const std::string& format,
                                          int camera, const std::string& res, bool pseudo_coco,
                                          const data::CocoJsonOptions& coco) {
  if (format == "h5") return data::read_infer_input_h5(path, camera, pseudo_coco);
  if (format == "vp3d-npz") return data::read_infer_input_vp3d_npz(path);
  const auto [w, h] = parse_res(res);
  return data::read_infer_input_coco_json(path, w, h, coco);
}

void add_coco_options(CLI::App& cmd, data::CocoJsonOptions& coco) {
  cmd.add_option("--min-score", coco.tracker.min_score,
                 "COCO JSON: keypoints scored below this are filled from the same track's "
                 "nearest valid frames (linear interpolation, held at the ends)")
      ->capture_default_str();
  cmd.add_option("--track-iou", coco.tracker.min_iou,
                 "COCO JSON without track_id: the least IoU of keypoint boxes that continues a "
                 "track")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--track-gap", coco.tracker.max_gap,
                 "COCO JSON without track_id: frames a person may go undetected and keep their "
                 "track")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

void add_blas_option(CLI::App& cmd, std::string& blas) {
  cmd.add_option("--blas", blas,
                 "CPU GEMM kernel: " + kernels::gemm_kernel_choices() +
                     " (default: OPENBLAS_CORETYPE when set, else auto: the best for this CPU's "
                     "features; docs/cpu-gemm.md)");
}

std::string apply_blas(const std::string& blas, const std::string& config_value) {
  if (!blas.empty())
    kernels::set_gemm_setting({blas, "--blas"});
  else if (!config_value.empty())
    kernels::set_gemm_setting({config_value, "config key 'blas'"});
  return kernels::gemm_kernel().summary();
}

void add_precision_option(CLI::App& cmd, std::string& precision) {
  cmd.add_option("--precision", precision,
                 "Products of the convolutions: fp32; tf32 or bf16 (operands rounded to TF32 or "
                 "bfloat16, float32 sums): on a GPU the tensor cores; on the CPU bf16 is the bf16 "
                 "GEMM (about 2x faster with AVX512_BF16) and tf32 only previews a GPU's accuracy "
                 "(docs/cli.md)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
}

PrecisionScope::PrecisionScope(const std::string& precision, TemporalModel& model)
    : name_(precision), model_(&model), saved_(model.eval_math()) {
  V3D_REQUIRE(precision == "fp32" || precision == "tf32" || precision == "bf16",
              "--precision: '" << precision << "' is not fp32, tf32 or bf16");
  if (precision == "fp32") return;
  if (precision == "bf16" && model.device().is_cpu()) {
    std::string why;
    V3D_REQUIRE(kernels::bf16_gemm_available(&why), "--precision bf16: not available: " << why);
    guard_ = std::make_unique<kernels::cpu::ConvPrecisionGuard>(kernels::cpu::ConvPrecision::kBf16);
    return;
  }
  model.set_eval_math(parse_precision(precision));
}

PrecisionScope::~PrecisionScope() { model_->set_eval_math(saved_); }

std::string PrecisionScope::summary() const {
  if (name_ == "fp32") return "";
  const char* how = guard_ != nullptr           ? "the CPU's bf16 GEMM"
                    : model_->device().is_cpu() ? "float32 GEMMs on rounded operands"
                                                : "the tensor cores";
  return name_ + " products, " + how + " (--precision " + name_ + ")";
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "cpu, cuda, cuda:N, emu or emu:N (default: the config's device, docs/config.md)");
}

Device rank_device(const Device& device) {
  if (!device.is_gpu()) return device;
  const LaunchInfo info = launch_info_from_env();
  return info.world_size > 1 ? Device{device.type, info.local_rank} : device;
}

Device restore_device(const std::string& checkpoint, const std::vector<std::string>& overrides,
                      const std::string& config_path) {
  const ExperimentConfig config = config_path.empty() ? checkpoint_config(checkpoint, overrides)
                                                      : load_config(config_path, overrides);
  ops::set_conv_backend(config.model.conv_backend);
  ops::set_conv_tile(config.model.conv_tile);
  return rank_device(parse_device(config.device));
}

std::vector<std::string> with_device(std::vector<std::string> overrides,
                                     const std::string& device) {
  if (device.empty()) return overrides;
  // Checked here so that a bad value is reported against --device, where the user typed it.
  try {
    parse_device(device);
  } catch (const Error& e) {
    throw Error(std::string("--device: ") + e.what());
  }
  overrides.push_back("device=" + device);
  return overrides;
}

}  // namespace v3d::apps

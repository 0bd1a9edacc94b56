// Small helpers shared by the subcommands: file extensions, image sizes and the 2D inputs of
// `v3d infer` and `v3d ltb`.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/infer_input.h"
#include "kernels/temporal_conv.h"
#include "runtime/device.h"
#include "trainer/model.h"

namespace CLI {
class App;
}

namespace v3d::apps {

// The extension of `path`, lower-cased, with its dot (".json"); "" when none.
std::string lower_extension(const std::string& path);

// "WxH" -> (W, H), both >= 1; throws v3d::Error naming --res otherwise.
std::pair<int, int> parse_res(const std::string& text);

// --format of a 2D input: "h5", "coco-json" or "vp3d-npz"; "" picks coco-json for a .json file,
// vp3d-npz for a .npz file, else h5.
// Throws v3d::Error naming --format on another value.
std::string input_format(const std::string& path, const std::string& format);

// The 2D inputs in `format` (input_format's): a v3d pose file seen by `camera` (pseudo_coco: its
// H36M-17 2D mapped to COCO-17), COCO-style JSON in pixels of a `res` ("WxH") image, one input
// per person track (`coco`: the tracker and the keypoint score threshold), or VideoPose3D's
// custom-dataset npz, one input per video at its own size.
std::vector<data::InferInput> read_inputs(const std::string& path, const std::string& format,
                                          int camera, const std::string& res, bool pseudo_coco,
                                          const data::CocoJsonOptions& coco);

// --min-score, --track-iou and --track-gap: how COCO JSON input is tracked and filled.
void add_coco_options(CLI::App& cmd, data::CocoJsonOptions& coco);

// Before a command writes `file`: removes the temporary files that killed runs left beside it
// (data::remove_stale_temporaries_in on its directory), of any name.
void remove_stale_temporaries_beside(const std::string& file);

// Under a data-parallel launcher (mpirun, srun) with several ranks, a GPU device becomes the
// rank's local index (one GPU per rank on each node); otherwise `device` itself.
Device rank_device(const Device& device);
// The device a checkpoint's model is restored on by eval and ltb-sweep: the config's (after
// `overrides`, or `config_path`'s when given), moved to the rank's GPU under a launcher. Also sets
// that config's model.conv_backend for the process (runtime/temporal_conv.h).
Device restore_device(const std::string& checkpoint, const std::vector<std::string>& overrides,
                      const std::string& config_path = "");

// The device policy of every subcommand (docs/cli.md, "Devices"): the config's top-level `device`,
// and `--device D` as the override device=D, applied after the --set ones so that it wins.
// add_device_option adds --device to `cmd` storing into `device`; with_device appends the
// override when `device` is given, after checking it (an error names --device).
void add_device_option(CLI::App& cmd, std::string& device);
std::vector<std::string> with_device(std::vector<std::string> overrides, const std::string& device);

// The CPU GEMM kernel (kernels/gemm_kernel.h, docs/cpu-gemm.md): add_blas_option adds --blas to
// `cmd`; apply_blas sets the process's choice before any GEMM runs, from --blas when given, else
// from `config_value` (a config's `blas` key; "" = none), and returns the one-line summary of the
// kernel in use ("GEMM: openblas:Cooperlake (...): ...").
void add_blas_option(CLI::App& cmd, std::string& blas);

// --precision fp32|tf32|bf16 of eval and infer: the products of the model's convolutions.
// PrecisionScope applies it to `model` for the command's lifetime (restored after). On a GPU
// (cuda, emu) tf32 and bf16 run the dilated form on the tensor cores (operands rounded to TF32 /
// BF16, float32 sums: TemporalModel::set_eval_math). On the CPU bf16 is the CPU's bf16 GEMM
// (kernels/temporal_conv.h, ConvPrecision; an error names --precision where the CPU has none), and
// tf32 the GPU's rounding on float32 GEMMs: the accuracy a GPU run in tf32 gives, no faster than
// fp32. Throws naming --precision on another value.
void add_precision_option(CLI::App& cmd, std::string& precision);
class PrecisionScope {
 public:
  PrecisionScope(const std::string& precision, TemporalModel& model);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;
  const std::string& name() const { return name_; }  // "fp32", "tf32" or "bf16"
  // How the products are computed, for the command's output: "" for fp32, else e.g. "bf16
  // products on the tensor cores (--precision bf16)".
  std::string summary() const;

 private:
  std::string name_;
  TemporalModel* model_;
  kernels::ConvMath saved_;
  std::unique_ptr<kernels::cpu::ConvPrecisionGuard> guard_;
};
std::string apply_blas(const std::string& blas, const std::string& config_value = "");

}  // namespace v3d::apps

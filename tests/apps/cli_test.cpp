// The v3d command line: a word in a subcommand's place that names none is a one-line error with
// exit status 1, even with --help after it; --help and --version still succeed; a bad --device
// is an error naming --device; so are a bad --blas, config key `blas` and --precision; `v3d
// info` names the CPU and the GEMM kernel with the reason.
#include "apps/cli.h"

#include <gtest/gtest.h>

#include <H5Cpp.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "apps/app_util.h"
#include "data/dataset.h"
#include "kernels/common.h"
#include "kernels/gemm_kernel.h"
#include "tests/apps/cli_run.h"
#include "tests/apps/tiny_model.h"
#include "tests/test_util.h"
#include "trainer/config.h"

namespace v3d::apps {
namespace {

TEST(Cli, UnknownSubcommandIsAnError) {
  expect_one_line_error(run({"rendr", "--help"}), "unknown subcommand 'rendr'");
  expect_one_line_error(run({"rendr"}), "unknown subcommand 'rendr'");
  expect_one_line_error(run({"--help", "rendr"}), "unknown subcommand 'rendr'");
  const CliRun nested = run({"convert", "bogus", "--help"});
  expect_one_line_error(nested, "convert: unknown subcommand 'bogus'");
  EXPECT_NE(nested.err.find("h36m-archive"), std::string::npos) << nested.err;
}

TEST(Cli, HelpAndVersionSucceed) {
  EXPECT_EQ(run({"--help"}).status, 0);
  EXPECT_EQ(run({"eval", "--help"}).status, 0);
  EXPECT_EQ(run({"convert", "check", "--help"}).status, 0);
  EXPECT_EQ(run({"--version"}).status, 0);
}

TEST(Cli, DeviceOptionIsCheckedAndNamed) {
  EXPECT_EQ(with_device({"eval.flip_tta=false"}, "emu"),
            (std::vector<std::string>{"eval.flip_tta=false", "device=emu"}));
  EXPECT_EQ(with_device({"a.b=1"}, ""), std::vector<std::string>{"a.b=1"});
  std::string msg;
  try {
    with_device({}, "tpu");
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_EQ(msg, "--device: invalid device 'tpu': expected cpu, cuda, cuda:N, emu or emu:N");
}

// Whatever a file holds, a message is one line that names the file and the object, and in a
// release build nothing of v3d's sources (a V3D_CHECK's file and line).
TEST(Cli, HostileFilesGiveOneLineWithoutSourcePaths) {
  set_debug_messages(false);
  const test_util::TempDir dir("v3d-cli");
  expect_one_line_error(run({"convert", "check", dir.path().c_str()}),
                        dir.path() + ": is a directory (expected a file)");

  data::Dataset d;
  d.skeleton = data::Skeleton::h36m17();
  data::ActionData a;
  a.frames = 2;
  a.positions_3d.assign(2 * 17 * 3, 0.5f);
  d.subjects["S1"].actions["Walking"] = a;
  const std::string file = dir / "data.h5";
  data::write_dataset(d, file);
  {
    // A NaN, which a V3D_CHECK reports.
    H5::H5File f(file, H5F_ACC_RDWR);
    a.positions_3d[7] = std::nanf("");
    f.openDataSet("/subjects/S1/actions/Walking/positions_3d")
        .write(a.positions_3d.data(), H5::PredType::NATIVE_FLOAT);
  }
  const CliRun r = run({"convert", "check", file.c_str()});
  expect_one_line_error(r, file + ": /subjects/S1/actions/Walking/positions_3d: 1 NaN or Inf");
  EXPECT_EQ(r.err.find(".cpp"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("[check"), std::string::npos) << r.err;
  set_debug_messages(std::nullopt);
}

// `v3d convert h36m-archive` says which cameras it attached and warns, per camera, with the
// fraction of projected keypoints outside the image; the import itself succeeds.
TEST(Cli, ArchiveImportPrintsCamerasAndWarnsOnKeypointsOutsideTheImage) {
  const test_util::TempDir dir("v3d-cli");
  const std::string takes = dir / "h36m/S1/MyPoses/3D_positions";
  std::filesystem::create_directories(takes);
  // (96, 2) mm: frame 0 1 m above the floor in the middle of the volume, frame 1 100 m up.
  std::vector<double> raw(96 * 2);
  for (int r = 0; r < 96; ++r) {
    raw[static_cast<size_t>(r * 2)] = r % 3 == 2 ? 1000.0 + r : r;
    raw[static_cast<size_t>(r * 2 + 1)] = r % 3 == 2 ? 100000.0 + r : r;
  }
  {
    H5::H5File f(takes + "/Walking 1.h5", H5F_ACC_TRUNC);
    const hsize_t dims[2] = {96, 2};
    f.createDataSet("3D_positions", H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims))
        .write(raw.data(), H5::PredType::NATIVE_DOUBLE);
  }
  const std::string root = dir / "h36m", out = dir / "out.h5";
  const CliRun r = run({"convert", "h36m-archive", "--root", root.c_str(), "--out", out.c_str()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Attached the shipped Human3.6M cameras:"), std::string::npos) << r.out;
  for (const char* cam : {"S1 camera 0 (54138969): 34 keypoints projected, 17 outside the "
                          "1000x1002 image or behind it (50.0%)",
                          "S1 camera 3 (60457274)"})
    EXPECT_NE(r.out.find(cam), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("v3d convert: warning: S1 camera 2 (58860488): 50.0% of the projected 2D "
                       "keypoints (17 of 34) fall outside its 1000x1000 image or behind it"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(std::filesystem::exists(out));
}

TEST(Cli, InfoNamesTheCpuTheKernelAndWhy) {
  const CliRun r = run({"info"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* part : {"CPU: ", "ISA features: ", "GEMM kernel: ", "library: ", "why: ",
                           "bf16 GEMM (--precision bf16): "})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " missing from\n" << r.out;
  // The kernel line names the chosen kernel, which is the one in use.
  EXPECT_NE(r.out.find("GEMM kernel: " + kernels::gemm_kernel().spec.name()), std::string::npos)
      << r.out;
}

TEST(Cli, BlasOptionAndConfigKeyAreChecked) {
  const CliRun r = run({"info", "--blas", "mkl"});
  expect_one_line_error(r, "--blas: unknown GEMM kernel 'mkl'");
  EXPECT_NE(r.err.find("openblas:Haswell"), std::string::npos) << r.err;  // the accepted values
  std::string msg;
  try {
    parse_config("blas: mkl\n", "exp.yaml");
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("exp.yaml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blas"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'mkl'"), std::string::npos) << msg;
  EXPECT_EQ(parse_config("blas: openblas:haswell\n", "exp.yaml").blas, "openblas:haswell");
  EXPECT_EQ(parse_config("", "exp.yaml").blas, "");
}

// --precision: tf32 and bf16 set the model's eval math for the scope (the tensor cores on a GPU;
// the rounding on float32 GEMMs for tf32 on the CPU), except bf16 on the CPU, which is the CPU's
// bf16 GEMM (an error where there is none); the model's setting comes back after.
TEST(Cli, PrecisionSetsTheArithmeticOfEvaluation) {
  TemporalModelConfig config;
  config.filter_widths = {3};
  config.channels = 8;
  for (const Device device : {Device::emu(), Device::cpu()}) {
    SCOPED_TRACE(device.str());
    TemporalModel model(config, device);
    {
      const PrecisionScope fp32("fp32", model);
      EXPECT_EQ(model.eval_math(), kernels::ConvMath::kFp32);
      EXPECT_EQ(fp32.summary(), "");
    }
    {
      const PrecisionScope tf32("tf32", model);
      EXPECT_EQ(model.eval_math(), kernels::ConvMath::kTf32);
      EXPECT_EQ(model.fold_weights().math, kernels::ConvMath::kTf32);
      EXPECT_EQ(tf32.summary(), device.is_cpu()
                                    ? "tf32 products, float32 GEMMs on rounded operands "
                                      "(--precision tf32)"
                                    : "tf32 products, the tensor cores (--precision tf32)");
    }
    EXPECT_EQ(model.eval_math(), kernels::ConvMath::kFp32);
    if (!device.is_cpu()) {
      const PrecisionScope bf16("bf16", model);
      EXPECT_EQ(model.eval_math(), kernels::ConvMath::kBf16);
      EXPECT_EQ(kernels::cpu::conv_fwd_precision(), kernels::cpu::ConvPrecision::kFp32);
      continue;
    }
    std::string why;
    if (kernels::bf16_gemm_available(&why)) {
      {
        const PrecisionScope bf16("bf16", model);
        EXPECT_EQ(model.eval_math(), kernels::ConvMath::kFp32);
        EXPECT_EQ(kernels::cpu::conv_fwd_precision(), kernels::cpu::ConvPrecision::kBf16);
        EXPECT_EQ(bf16.summary(), "bf16 products, the CPU's bf16 GEMM (--precision bf16)");
      }
      EXPECT_EQ(kernels::cpu::conv_fwd_precision(), kernels::cpu::ConvPrecision::kFp32);
    } else {
      try {
        PrecisionScope scope("bf16", model);
        ADD_FAILURE() << "bf16 accepted without a bf16 GEMM";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not available"), std::string::npos) << e.what();
      }
    }
    try {
      PrecisionScope scope("fp16", model);
      ADD_FAILURE() << "fp16 accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "--precision: 'fp16' is not fp32, tf32 or bf16");
    }
  }
}

// v3d export: the ONNX file of a causal checkpoint in both forms (its contents are checked in
// tests/report/onnx_export_test.cpp), and an unwritable output as one error line.
// `v3d eval --precision tf32` on the CPU: the GPU's rounding on float32 GEMMs, said on stdout and
// in the report's title; the MPJPE moves by far less than a millimetre (16 channels, random
// weights: errors of metres).
TEST(EvalCli, PrecisionTf32PreviewsTheGpusArithmetic) {
  const test_util::TempDir dir("v3d-eval-precision");
  save_tiny_model(dir.file("tiny.ckpt"), false);
  auto eval = [&](const std::string& precision) {
    const CliRun r =
        run({"eval", "--checkpoint", dir.file("tiny.ckpt"), "--intervals", "1", "--set",
             "data.test_subjects=S9", "--precision", precision, "--out", dir.file(precision)});
    EXPECT_EQ(r.status, 0) << r.err;
    std::ifstream f(dir.file(precision) + "/eval.md");
    return std::make_pair(r.out, std::string(std::istreambuf_iterator<char>(f), {}));
  };
  const auto [fp32_out, fp32_md] = eval("fp32");
  const auto [tf32_out, tf32_md] = eval("tf32");
  EXPECT_EQ(fp32_out.find("Precision:"), std::string::npos) << fp32_out;
  EXPECT_NE(tf32_out.find("Precision: tf32 products, float32 GEMMs on rounded operands "
                          "(--precision tf32)"),
            std::string::npos)
      << tf32_out;
  EXPECT_EQ(fp32_md.find("--precision"), std::string::npos) << fp32_md;
  EXPECT_NE(tf32_md.find("Evaluation of tiny.ckpt (--precision tf32)"), std::string::npos)
      << tf32_md;
  EXPECT_NE(fp32_md, tf32_md.substr(0, fp32_md.size()));
}

TEST(ExportCli, WritesOnnxFilesAndFailsInOneLine) {
  const test_util::TempDir dir("v3d-export");
  save_tiny_model(dir.file("causal.h5"), true);
  for (const std::string form : {"sequence", "window"}) {
    const CliRun r = run({"export", "--checkpoint", dir.file("causal.h5"), "--onnx",
                          dir.file(form + ".onnx"), "--form", form});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(form + " form, receptive field 9 frames (causal)"), std::string::npos)
        << r.out;
    EXPECT_GT(std::filesystem::file_size(dir.file(form + ".onnx")), 1000u);
  }
  expect_one_line_error(run({"export", "--checkpoint", dir.file("causal.h5"), "--onnx",
                             dir.file("no/such/dir/m.onnx")}),
                        "m.onnx");
}

}  // namespace
}  // namespace v3d::apps
